/* One INT8 product, m x k by k x n (argv: m n k), through scipix_qgemm.h:
 * two runs differing in m give the instructions of the extra rows. */
#include <stdio.h>
#include <stdlib.h>
#include "scipix_qgemm.h"

int main(int argc, char **argv)
{
    ptrdiff_t m = atol(argv[1]), n = atol(argv[2]), k = atol(argv[3]);
    ptrdiff_t lda = (k + 3) / 4 * 4, groups = (k + 3) / 4, panels = (n + 31) / 32, i;
    uint8_t *a = calloc(m * lda, 1);
    int8_t *w = calloc(n * k, 1), *packed = malloc(panels * groups * 4 * SCIPIX_QGEMM_NR);
    int32_t *col_sums = malloc(n * 4), *a_zeros = calloc(m, 4), *a_corr = calloc(m, 4);
    float *a_scales = malloc(m * 4), *w_scales = malloc(n * 4), *out = malloc(m * n * 4);
    for (i = 0; i < m * lda; i++)
        a[i] = (uint8_t)(i * 7);
    for (i = 0; i < n * k; i++)
        w[i] = (int8_t)(i * 13);
    for (i = 0; i < m; i++)
        a_scales[i] = 1;
    for (i = 0; i < n; i++)
        w_scales[i] = 1;
    scipix_qpack_weights(w, k, 1, n, k, packed, col_sums);
    scipix_qgemm_job job = {a, lda, m, n, groups, packed, out, n, a_zeros, a_scales, a_corr,
                            0, col_sums, w_scales, NULL, 0};
    for (i = 0; i < panels; i++)
        scipix_qgemm_panel(&job, i, 0, m);
    printf("%f\n", out[m * n - 1]);
    return 0;
}
