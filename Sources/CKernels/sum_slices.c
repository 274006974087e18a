#include "ckernels.h"
#include <string.h>

/* Eight floats at a time with the compiler's vector types, so the loop is vectorised whatever
   the aliasing between `dest` and the sources (which may coincide). Squares are summed in
   double: a float square overflows near 1.8e19, and a finite gradient must never read as
   non-finite. */
typedef float v8f __attribute__((vector_size(32)));
typedef double v4d __attribute__((vector_size(32)));

double tandem_sum_slices(float *dest, const float *const *sources, int source_count, size_t count) {
    v4d low = {0, 0, 0, 0}, high = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        v8f sum, next;
        memcpy(&sum, sources[0] + i, sizeof sum);
        for (int r = 1; r < source_count; r++) {
            memcpy(&next, sources[r] + i, sizeof next);
            sum += next;
        }
        memcpy(dest + i, &sum, sizeof sum);
        v4d a = __builtin_convertvector(__builtin_shufflevector(sum, sum, 0, 1, 2, 3), v4d);
        v4d b = __builtin_convertvector(__builtin_shufflevector(sum, sum, 4, 5, 6, 7), v4d);
        low += a * a;
        high += b * b;
    }
    double squares = 0;
    for (int k = 0; k < 4; k++) squares += low[k] + high[k];
    for (; i < count; i++) {
        float sum = sources[0][i];
        for (int r = 1; r < source_count; r++) sum += sources[r][i];
        dest[i] = sum;
        squares += (double)sum * sum;
    }
    return squares;
}
