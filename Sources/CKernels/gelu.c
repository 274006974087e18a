#include "ckernels.h"
#include "transcendental.h"

/* Each loop computes two elements' vectors side by side (interleave_count(2)): one vector's
   erf and exp form a chain of some seventy dependent instructions, longer than the processor's
   reorder window can overlap with the next; two independent chains per iteration fill it.
   Measured on Zen 3 (a C microbenchmark of the forward keeping the slope): 1.3–1.7 against
   0.92 ns per value in cache, 5.5–6.1 against 4.1 ms for the GPT's four 2048 × 512 layers. */

void tandem_gelu_forward(const float *x, float *y, long count) {
    _Pragma("clang loop interleave_count(2)")
    for (long i = 0; i < count; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + erf_poly(v * 0.70710678118654752f));
    }
}

void tandem_gelu_forward_keeping_slope(const float *x, float *y, float *slope, long count) {
    _Pragma("clang loop interleave_count(2)")
    for (long i = 0; i < count; i++) {
        float v = x[i], gaussian;
        float e = erf_poly_with_gaussian(v * 0.70710678118654752f, &gaussian);
        y[i] = 0.5f * v * (1.0f + e);   /* the same operations as tandem_gelu_forward */
        /* exp(-(v / sqrt 2)^2) = exp(-v^2 / 2) = sqrt(2 pi) phi(v) */
        slope[i] = fmaf(v, 0.39894228040143268f * gaussian, 0.5f * (1.0f + e));
    }
}

void tandem_gelu_backward(const float *x, const float *dy, float *dx, long count) {
    _Pragma("clang loop interleave_count(2)")
    for (long i = 0; i < count; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erf_poly(v * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * exp_poly(-0.5f * v * v);
        dx[i] = dy[i] * fmaf(v, pdf, cdf);
    }
}
