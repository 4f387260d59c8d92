#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include "scipix_resize.h"
#define COEF_ONE 2048
/* argv: channels, repeats: the horizontal bilinear pass of a 1024-value row
 * to 3/4 of its width, with taps made as _image.pyx makes them. */
int main(int argc, char **argv){
  int ch=atoi(argv[1]), r=atoi(argv[2]); ptrdiff_t n_in=1024/ch*ch/ch, n_out=n_in*3/4, n=n_out*ch;
  uint8_t *row=malloc(n_in*ch); for (ptrdiff_t i=0;i<n_in*ch;i++) row[i]=i*31;
  int32_t *f=malloc(n*4),*s=malloc(n*4),*wf=malloc(n*4),*ws=malloc(n*4),*wp=malloc(n*4),*o=malloc((n+1)*4);
  uint8_t *win = ch==1 ? malloc((n_out/8)*32+1) : NULL;
  double scale=1.0/((double)n_in/n_out);
  for (ptrdiff_t q=0;q<n_out;q++){ float fr=(float)((q+0.5)*(1.0/scale)-0.5); ptrdiff_t s0=(ptrdiff_t)floor(fr); fr-=s0;
    if (s0<0){s0=0;fr=0;} if (s0>=n_in-1){s0=n_in-1;fr=0;}
    for (int c=0;c<ch;c++){ ptrdiff_t v=q*ch+c; f[v]=s0*ch+c; s[v]=(s0+1>n_in-1?n_in-1:s0+1)*ch+c; ws[v]=(int32_t)floor(fr*COEF_ONE+0.5); wf[v]=COEF_ONE-ws[v]; wp[v]=wf[v]|(ws[v]<<16);} }
  if (win) scipix_linear_windows(f,n_out,n_in,win);
  long sum=0; for (int k=0;k<r;k++){ scipix_linear_hrow(row,n_in*ch,o,f,s,wf,ws,wp,win,n,ch); sum+=o[k%n]; }
  printf("%ld %ld\n", sum, (long)n); return 0;
}
