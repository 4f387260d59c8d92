/* argv: channels, repeats: the horizontal bilinear pass of a 1024-value row
 * to 3/4 of its width, with taps made as _image.pyx's linear_taps makes
 * them.  Prints a checksum and the output values per pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "scipix_resize.h"

#define COEF_ONE 2048

int main(int argc, char **argv)
{
    int channels = atoi(argv[1]), repeats = atoi(argv[2]), r, c;
    ptrdiff_t n_in = 1024 / channels, n_out = n_in * 3 / 4, n = n_out * channels, i, x;
    double step = (double)n_in / n_out;
    uint8_t *row = malloc(n_in * channels);
    uint8_t *windows = channels == 1 ? malloc((n_out / 8) * SCIPIX_WINDOW_BYTES + 1) : NULL;
    int32_t *first = malloc(n * 4), *second = malloc(n * 4), *w_first = malloc(n * 4);
    int32_t *w_second = malloc(n * 4), *w_pair = malloc(n * 4), *out = malloc((n + 1) * 4);
    long sum = 0;
    for (i = 0; i < n_in * channels; i++)
        row[i] = (uint8_t)(i * 31);
    for (x = 0; x < n_out; x++) {
        float f = (float)((x + 0.5) * step - 0.5);
        ptrdiff_t s = (ptrdiff_t)floor(f);
        f -= s;
        if (s < 0) {
            s = 0;
            f = 0;
        }
        if (s >= n_in - 1) {
            s = n_in - 1;
            f = 0;
        }
        for (c = 0; c < channels; c++) {
            ptrdiff_t v = x * channels + c;
            first[v] = (int32_t)(s * channels + c);
            second[v] = (int32_t)((s + 1 < n_in ? s + 1 : n_in - 1) * channels + c);
            w_second[v] = (int32_t)floor(f * COEF_ONE + 0.5);
            w_first[v] = COEF_ONE - w_second[v];
            w_pair[v] = w_first[v] | (w_second[v] << 16);
        }
    }
    if (windows != NULL)
        scipix_linear_windows(first, n_out, n_in, windows);
    for (r = 0; r < repeats; r++) {
        scipix_linear_hrow(row, n_in * channels, out, first, second, w_first, w_second, w_pair,
                           windows, n, channels);
        sum += out[r % n];
    }
    printf("%ld %ld\n", sum, (long)n);
    return 0;
}
