#include "ckernels.h"

/* Batch normalisation's passes over one (sample, channel) row of `n` values. The sums run in
   double: a channel's statistics add up to hundreds of thousands of values, and the variance
   is a difference of two such sums. Written here rather than in Swift because a double sum in
   one accumulator is a chain of dependent adds (four cycles each); four vectors of four
   independent partial sums keep the adder busy, and the order of the adds is fixed, so a rank
   gets the same sums every time. The normalised values x-hat are never stored: backward
   recomputes them from the layer's input (x-hat = x * scale + shift, the forward's own float
   operations), which saves writing and reading a tensor the size of the activations.

   The same goes for a fused ReLU's gate in backward: the forward's output was positive exactly
   where x-hat * gamma + beta, computed by the same float operations, is positive, so the gate
   comes from x, which backward reads anyway, and not from the output. These passes run at the
   speed of the cache that holds a batch's activations (about 30 GB/s on one core here), so
   every array they do not read counts: read from the output, the gate made the two backward
   passes about a fifth slower (0.75 against 0.62 ms for 64 x 16 rows of 784). */

typedef double v4d __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));
typedef int v4i __attribute__((vector_size(16)));

static inline v4 load4(const float *p) { v4 v; __builtin_memcpy(&v, p, sizeof v); return v; }
static inline v4d widen(v4 v) { return __builtin_convertvector(v, v4d); }
/* a where mask > 0, else 0 (a fused ReLU's gradient mask, from its output). */
static inline v4 masked(v4 a, v4 mask) { return (v4)((v4i)a & (mask > 0)); }

/* x-hat from x, as the forward pass computed it (the same float operations, so the same bits). */
static inline v4 affine4(v4 x, float scale, float shift) { return x * scale + shift; }

/* Zero where the fused ReLU's output was zero: x-hat * gamma + beta not positive (`gated`). */
static inline v4 gate4(v4 a, v4 xhat, float gamma, float beta) { return masked(a, xhat * gamma + beta); }

void tandem_batchnorm_sums(const float *a, const float *b, float scale, float shift, int gated, float gamma, float beta,
                           long n, double *sum, double *dot) {
    v4d s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0, d0 = s0, d1 = s0, d2 = s0, d3 = s0;
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        v4 a0 = load4(a + i), a1 = load4(a + i + 4), a2 = load4(a + i + 8), a3 = load4(a + i + 12);
        v4 b0 = affine4(load4(b + i), scale, shift), b1 = affine4(load4(b + i + 4), scale, shift);
        v4 b2 = affine4(load4(b + i + 8), scale, shift), b3 = affine4(load4(b + i + 12), scale, shift);
        if (gated) {
            a0 = gate4(a0, b0, gamma, beta); a1 = gate4(a1, b1, gamma, beta);
            a2 = gate4(a2, b2, gamma, beta); a3 = gate4(a3, b3, gamma, beta);
        }
        v4d w0 = widen(a0), w1 = widen(a1), w2 = widen(a2), w3 = widen(a3);
        s0 += w0; s1 += w1; s2 += w2; s3 += w3;
        d0 += w0 * widen(b0); d1 += w1 * widen(b1); d2 += w2 * widen(b2); d3 += w3 * widen(b3);
    }
    v4d s = (s0 + s1) + (s2 + s3), d = (d0 + d1) + (d2 + d3);
    double total = (s[0] + s[1]) + (s[2] + s[3]), products = (d[0] + d[1]) + (d[2] + d[3]);
    for (; i < n; i++) {
        float xhat = b[i] * scale + shift;
        double v = (gated && !(xhat * gamma + beta > 0)) ? 0 : a[i];
        total += v;
        products += v * (double)xhat;
    }
    *sum += total;
    *dot += products;
}

/* Σ x and Σ x² of one row, the forward's statistics: the sums above with a = b and x-hat = x,
   converting each value to double once instead of twice (the conversions are most of this
   pass's work). The same adds in the same order, so the same sums. */
void tandem_batchnorm_moments(const float *x, long n, double *sum, double *squares) {
    v4d s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0, d0 = s0, d1 = s0, d2 = s0, d3 = s0;
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        v4d w0 = widen(load4(x + i)), w1 = widen(load4(x + i + 4)), w2 = widen(load4(x + i + 8)), w3 = widen(load4(x + i + 12));
        s0 += w0; s1 += w1; s2 += w2; s3 += w3;
        d0 += w0 * w0; d1 += w1 * w1; d2 += w2 * w2; d3 += w3 * w3;
    }
    v4d s = (s0 + s1) + (s2 + s3), d = (d0 + d1) + (d2 + d3);
    double total = (s[0] + s[1]) + (s[2] + s[3]), products = (d[0] + d[1]) + (d[2] + d[3]);
    for (; i < n; i++) {
        double v = x[i];
        total += v;
        products += v * v;
    }
    *sum += total;
    *squares += products;
}

void tandem_batchnorm_normalise(const float *x, long n, float scale, float shift, float gamma, float beta, int relu,
                                const float *residual, float *y) {
    if (residual) {
        /* A residual block's sum, in the pass that normalises (the same float operations as
           normalising, storing, and adding in a pass of its own). */
        for (long i = 0; i < n; i++) {
            float v = (x[i] * scale + shift) * gamma + beta;
            v = v + residual[i];
            y[i] = relu ? (v > 0 ? v : 0) : v;
        }
    } else if (relu) {
        for (long i = 0; i < n; i++) {
            float v = (x[i] * scale + shift) * gamma + beta;
            y[i] = v > 0 ? v : 0;
        }
    } else {
        for (long i = 0; i < n; i++) y[i] = (x[i] * scale + shift) * gamma + beta;
    }
}

void tandem_batchnorm_input_gradient(const float *dy, const float *x, long n, float scale, float shift, int gated,
                                     float gamma, float beta, float k, float meanDy, float meanProjected, float *dx) {
    if (gated) {
        for (long i = 0; i < n; i++) {
            float xhat = x[i] * scale + shift;
            float g = xhat * gamma + beta > 0 ? dy[i] : 0;
            dx[i] = k * (g - meanDy - xhat * meanProjected);
        }
    } else {
        for (long i = 0; i < n; i++) dx[i] = k * (dy[i] - meanDy - (x[i] * scale + shift) * meanProjected);
    }
}
