#ifndef TANDEM_CKERNELS_H
#define TANDEM_CKERNELS_H
#include <stddef.h>

/* One Adam/AdamW step over a contiguous arena (see Optimizers/Adam.swift for the rule).
   It lives in C for one reason: Swift lowers Float.squareRoot() to an errno-preserving
   call to sqrtf, which blocks vectorisation; C compiled with -fno-math-errno gets a
   vsqrtps per eight parameters, making this loop about 4x faster. */
void tandem_adam_update(float *theta, const float *grad, float *m, float *v, size_t count,
                        float grad_scale, float beta1, float beta2, float eps, float l2, float shrink,
                        float step_size, float correction2);

/* dest[i] = sources[0][i] + sources[1][i] + ... (in that order), returning the sum of the
   squares of the results in double. This is the reduction of ranks that share a host: each
   rank sums its slice of every rank's gradient straight from shared memory, and measures
   its part of the global norm in the same pass. `dest` may be one of the sources. */
double tandem_sum_slices(float *dest, const float *const *sources, int source_count, size_t count);

/* out[i][j] = data[rows[i]][j] * scale for `count` rows of `features` bytes: a batch of images
   gathered from a data set held as bytes, the next rows prefetched while one is converted. */
void tandem_gather_bytes(const unsigned char *data, const long *rows, long count, long features, float scale,
                         float *out);

/* The rows of a stride-2 im2col (stride2.c): out[j] = in[2j], and out[2j] += in[j], for j < n. */
void tandem_copy_even(const float *in, float *out, long n);
void tandem_add_to_even(const float *in, float *out, long n);

/* Batch normalisation over one row of n values (a sample's channel; see batchnorm.c), with
   x-hat = x * scale + shift. sums: *sum += Σ a and *dot += Σ a * (b * scale + shift) in double.
   normalise: y = x-hat * gamma + beta, plus residual when given (then max(., 0) when relu).
   input_gradient: dx = k * (dy - meanDy - x-hat * meanProjected). When `gated` (a fused ReLU),
   a and dy are taken as zero wherever x-hat * gamma + beta (of b and x) is not positive: where
   the ReLU's output was zero. */
void tandem_batchnorm_sums(const float *a, const float *b, float scale, float shift, int gated, float gamma, float beta,
                           long n, double *sum, double *dot);
/* moments: *sum += Σ x and *squares += Σ x² in double, as sums(x, x, 1, 0, 0, ...) but faster. */
void tandem_batchnorm_moments(const float *x, long n, double *sum, double *squares);
void tandem_batchnorm_normalise(const float *x, long n, float scale, float shift, float gamma, float beta, int relu,
                                const float *residual, float *y);
void tandem_batchnorm_input_gradient(const float *dy, const float *x, long n, float scale, float shift, int gated,
                                     float gamma, float beta, float k, float meanDy, float meanProjected, float *dx);

/* Winograd F(4x4, r x r) for a stride-1 convolution with r = 5 or 3, the first argument `r` of
   the kernels below (see winograd.c for the algebra and the layouts,
   Layers/WinogradConvolution.swift for the shapes). With P = 64 points for r = 5 and 36 for
   r = 3, U and dU are [P][K][C]; V, M and Mhat are P matrices [C or K][ld],
   tandem_winograd_matrix_stride apart, with one column per (4x4 output tile, sample), ld = the
   number of such columns, samples rounded up to a multiple of 8; `padded` holds the zero-padded
   input with eight samples interleaved, tandem_winograd_padded_size floats. */
long tandem_winograd_padded_size(int N, int C, int tilesY, int tilesX);
/* Floats from the start of one point's [rows][ld] matrix to the next (rows * ld plus padding). */
long tandem_winograd_matrix_stride(int rows, long ld);
void tandem_winograd_pad(const float *x, int N, int C, int H, int W, int padding, int tilesY, int tilesX, float *padded);
void tandem_winograd_unpad(const float *padded, int N, int C, int H, int W, int padding, int tilesY, int tilesX, float *x);
void tandem_winograd_weights(int r, const float *w, int K, int C, float *U, long xiStride);
void tandem_winograd_weight_gradient(int r, const float *dU, int K, int C, float *dw, long xiStride);
void tandem_winograd_input(int r, const float *padded, int N, int C, int tilesY, int tilesX, float *V, long ld);
void tandem_winograd_output(int r, const float *M, int N, int K, int tilesY, int tilesX, int Ho, int Wo,
                            const float *bias, int relu, float *y, long ld);
void tandem_winograd_output_gradient(int r, const float *dy, const float *y, int N, int K, int tilesY, int tilesX,
                                     int Ho, int Wo, float *Mhat, float *biasGradient, int accumulate, long ld);
void tandem_winograd_input_gradient(int r, const float *dV, int N, int C, int tilesY, int tilesX, float *dpadded, long ld);

/* Nanoseconds per round trip of one cache line between a thread
   pinned to core `first` and one pinned to core `second`, over `rounds` round trips; -1 when
   the threads cannot be pinned there. */
double tandem_core_round_trip_ns(int first, int second, long rounds);

/* Transcendental element-wise kernels (gelu.c): exp and erf as polynomials the compiler
   vectorises, eight lanes at a time; libm's expf and erff are scalar calls, which made GELU a
   fifth of a GPT's step. exp is Cephes' expf (relative error about 2e-7), erf Abramowitz &
   Stegun 7.1.26 (absolute error under 1.5e-7). */
/* y = 0.5 x (1 + erf(x / sqrt 2)), PyTorch's exact GELU. */
void tandem_gelu_forward(const float *x, float *y, long count);
/* The same y, and slope = Phi(x) + x phi(x), its derivative, from the same exponential: in
   training the backward pass is then one product, dx = dy * slope. */
void tandem_gelu_forward_keeping_slope(const float *x, float *y, float *slope, long count);
/* dx = dy (Phi(x) + x phi(x)), its derivative, recomputed from x. */
void tandem_gelu_backward(const float *x, const float *dy, float *dx, long count);
/* Softmax rows (softmax.c), for the classifiers' losses and causal self-attention.
   softmax: row = softmax(row) in place; returns log Σ exp of the values it was given.
   causal_softmax: softmax over the first `visible` values of a row, zero for the rest up to `width`.
   softmax_backward: ds = p (ds - Σ p ds), the gradient of the scores from that of the probabilities.
   causal_softmax_backward: the same over the first `visible` values (p is zero after them up to
   `width`, as causal_softmax left it), zero for the rest up to `width`. */
float tandem_softmax(float *row, long count);
void tandem_causal_softmax(float *row, long visible, long width);
void tandem_softmax_backward(const float *p, float *ds, long count);
void tandem_causal_softmax_backward(const float *p, float *ds, long visible, long width);
/* Layer normalisation over rows of c values (layernorm.c): y = x̂ γ + β with x̂ = (x − mean) / σ,
   keeping x̂ and 1/σ per row for the backward pass, which adds into dγ and dβ and writes dx
   (unless dx is NULL). No two arrays may overlap. */
void tandem_layernorm_forward(const float *x, const float *gamma, const float *beta, float *xhat, float *rstd,
                              float *y, long rows, long c, float eps);
void tandem_layernorm_backward(const float *dy, const float *xhat, const float *rstd, const float *gamma, float *dx,
                               float *dgamma, float *dbeta, long rows, long c);
/* C[m x n] = alpha op(A) op(B) + beta C, row-major, by oneDNN's sgemm (onednn_gemm.c), on the
   calling thread alone. Returns 0, or oneDNN's status when it refused the arguments. */
int tandem_onednn_sgemm(int transpose_a, int transpose_b, long m, long n, long k, float alpha,
                        const float *a, long lda, const float *b, long ldb, float beta, float *c, long ldc);
#endif
