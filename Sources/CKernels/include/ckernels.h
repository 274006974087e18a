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

/* Winograd F(2x2, 5x5) for a stride-1 5x5 convolution (see winograd.c for the algebra and
   Layers/WinogradConvolution.swift for the shapes). U and dU are [36][K][C]; V, M and Mhat are
   [36][C or K][ld] with one column per 2x2 output tile; `padded` holds [N*C] planes of
   tandem_winograd_padded_plane floats: the zero-padded input with even and odd columns split. */
long tandem_winograd_padded_plane(int tilesY, int tilesX);
void tandem_winograd_pad(const float *x, long planes, int H, int W, int padding, int tilesY, int tilesX, float *padded);
void tandem_winograd_unpad(const float *padded, long planes, int H, int W, int padding, int tilesY, int tilesX, float *x);
void tandem_winograd_weights(const float *w, int K, int C, float *U);
void tandem_winograd_weight_gradient(const float *dU, int K, int C, float *dw);
void tandem_winograd_input(const float *padded, int N, int C, int tilesY, int tilesX, float *V, long ld);
void tandem_winograd_output(const float *M, int N, int K, int tilesY, int tilesX, int Ho, int Wo,
                            const float *bias, int relu, float *y, long ld);
void tandem_winograd_output_gradient(const float *dy, const float *y, int N, int K, int tilesY, int tilesX,
                                     int Ho, int Wo, float *Mhat, long ld, float *biasGradient, int accumulate);
void tandem_winograd_input_gradient(const float *dV, int N, int C, int tilesY, int tilesX, float *dpadded, long ld);

#endif
