#include "ckernels.h"
#include <string.h>

/* The rows of a stride-2 convolution's im2col: every other value of an input row becomes a
   column row (unfold), and col2im adds a column row back onto every other value (fold). In a
   scalar loop these two passes were most of the time of the resnet's 16 → 32 stride-2
   convolution; here eight values move at a time, two vectors of sixteen input values split into
   their even and odd lanes. The vector loops stop where a load of sixteen values would read past
   the row's last used value (2n - 2), and scalar code finishes the row. */

typedef float v8 __attribute__((vector_size(32)));

static inline v8 load8(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
static inline void store8(float *p, v8 v) { memcpy(p, &v, sizeof v); }

void tandem_copy_even(const float *in, float *out, long n) {
    long j = 0;
    for (; j + 8 < n; j += 8) {
        v8 a = load8(in + 2 * j), b = load8(in + 2 * j + 8);
        store8(out + j, __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14));
    }
    for (; j < n; j++) out[j] = in[2 * j];
}

void tandem_add_to_even(const float *in, float *out, long n) {
    long j = 0;
    for (; j + 8 < n; j += 8) {
        v8 v = load8(in + j), a = load8(out + 2 * j), b = load8(out + 2 * j + 8);
        v8 zero = {0, 0, 0, 0, 0, 0, 0, 0};
        /* the sums in the even lanes, the odd lanes kept as they were (not + 0, which turns -0 into 0) */
        v8 low = a + __builtin_shufflevector(v, zero, 0, 8, 1, 8, 2, 8, 3, 8);
        v8 high = b + __builtin_shufflevector(v, zero, 4, 8, 5, 8, 6, 8, 7, 8);
        store8(out + 2 * j, __builtin_shufflevector(low, a, 0, 9, 2, 11, 4, 13, 6, 15));
        store8(out + 2 * j + 8, __builtin_shufflevector(high, b, 0, 9, 2, 11, 4, 13, 6, 15));
    }
    for (; j < n; j++) out[2 * j] += in[j];
}
