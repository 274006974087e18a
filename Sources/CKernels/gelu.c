#include "ckernels.h"
#include "transcendental.h"

void tandem_gelu_forward(const float *x, float *y, long count) {
    for (long i = 0; i < count; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + erf_poly(v * 0.70710678118654752f));
    }
}

void tandem_gelu_forward_keeping_slope(const float *x, float *y, float *slope, long count) {
    for (long i = 0; i < count; i++) {
        float v = x[i], gaussian;
        float e = erf_poly_with_gaussian(v * 0.70710678118654752f, &gaussian);
        y[i] = 0.5f * v * (1.0f + e);   /* the same operations as tandem_gelu_forward */
        /* exp(-(v / sqrt 2)^2) = exp(-v^2 / 2) = sqrt(2 pi) phi(v) */
        slope[i] = fmaf(v, 0.39894228040143268f * gaussian, 0.5f * (1.0f + e));
    }
}

void tandem_gelu_backward(const float *x, const float *dy, float *dx, long count) {
    for (long i = 0; i < count; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erf_poly(v * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * exp_poly(-0.5f * v * v);
        dx[i] = dy[i] * fmaf(v, pdf, cdf);
    }
}
