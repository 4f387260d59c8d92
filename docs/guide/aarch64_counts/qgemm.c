#include <stdlib.h>
#include <stdio.h>
#include "scipix_qgemm.h"
/* One INT8 product, m x k by k x n (argv: m n k), through scipix_qgemm.h:
 * two runs differing in m give the instructions of the extra rows. */
int main(int argc, char **argv){
  ptrdiff_t m=atol(argv[1]), n=atol(argv[2]), k=atol(argv[3]);
  ptrdiff_t lda=(k+3)/4*4, groups=(k+3)/4, panels=(n+31)/32;
  uint8_t *a=calloc(m*lda,1); int8_t *w=calloc(n*k,1); int8_t *packed=malloc(panels*groups*128);
  int32_t *cs=malloc(n*4), *az=calloc(m,4), *corr=calloc(m,4); float *as=malloc(m*4), *ws=malloc(n*4), *out=malloc(m*n*4);
  for (ptrdiff_t i=0;i<m*lda;i++) a[i]=i*7; for (ptrdiff_t i=0;i<n*k;i++) w[i]=i*13;
  for (ptrdiff_t i=0;i<m;i++) as[i]=1; for (ptrdiff_t j=0;j<n;j++) ws[j]=1;
  scipix_qpack_weights(w,k,1,n,k,packed,cs);
  scipix_qgemm_job job={a,lda,m,n,groups,packed,out,n,az,as,corr,0,cs,ws,NULL,0};
  for (ptrdiff_t p=0;p<panels;p++) scipix_qgemm_panel(&job,p,0,m);
  printf("%f\n", out[m*n-1]); return 0;
}
