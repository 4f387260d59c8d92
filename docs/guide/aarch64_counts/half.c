/* argv: how many times 4096 floats are converted to float16, in calls of
 * SCIPIX_BLOB_RUN values as scipix_blob.h makes them. */
#include <stdio.h>
#include <stdlib.h>
#include "scipix_blob.h"

enum { N = 4096 };

int main(int argc, char **argv)
{
    static float x[N];
    static uint16_t half[N];
    int repeats = atoi(argv[1]), r, i;
    unsigned sum = 0;
    for (i = 0; i < N; i++)
        x[i] = (float)(i % 1000) * 0.37f - 100.f;
    for (r = 0; r < repeats; r++)
        for (i = 0; i < N; i += SCIPIX_BLOB_RUN)
            scipix_to_half(x + i, half + i, SCIPIX_BLOB_RUN);
    for (i = 0; i < N; i++)
        sum += half[i];
    printf("%u\n", sum);
    return 0;
}
