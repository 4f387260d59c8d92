#include <stdlib.h>
#include <stdio.h>
#include "scipix_blob.h"
/* argv: how many times 4096 floats are converted to float16, in calls of
 * SCIPIX_BLOB_RUN values as scipix_blob.h makes them. */
int main(int argc, char **argv){
  int r=atoi(argv[1]); enum {N=4096}; static float x[N]; static uint16_t o[N]; unsigned s=0;
  for (int i=0;i<N;i++) x[i]=(float)(i%1000)*0.37f-100.f;
  for (int k=0;k<r;k++) for (int i=0;i<N;i+=SCIPIX_BLOB_RUN) scipix_to_half(x+i,o+i,SCIPIX_BLOB_RUN);
  for (int i=0;i<N;i++) s+=o[i]; printf("%u\n",s); return 0;
}
