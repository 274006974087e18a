#include "ckernels.h"
#include <string.h>

/* Winograd's minimal filtering F(4x4, 5x5) and F(4x4, 3x3): each 4x4 block ("tile") of a
   stride-1 5x5 (3x3) convolution's output is computed from the 8x8 (6x6) input patch under it as

       Y = A^T [ (G g G^T) (.) (B^T d B) ] A          ((.) = element-wise product)

   with the Toom-Cook matrices below (derived and checked exactly by scripts/winograd-matrices).
   Summed over input channels, the 64 (36) element-wise products become as many independent
   matrix products, one per point xi of the tile, each [out x in] x [in x tiles]: 4 (2.25)
   multiplies per output pixel and channel pair instead of 25 (9). The backward pass is the
   transpose of the same bilinear map: with Mhat = A dY A^T per tile,

       dU = sum over tiles of Mhat (.) (B^T d B)     then  dW = G^T dU G
       dV = U^T Mhat  (per xi, U = G g G^T)          then  dX += B dV B^T  (tiles overlap)

   so backward reuses the forward's transformed input and weights.

   Vectors hold eight samples: lane l of every vector below belongs to sample 8b + l of a block
   b of eight, at the same tile and channel. Then every tile, whatever the image size, is 64 (36)
   plain vector loads from the input kept as [block][channel][row][column][8 lanes] ("padded",
   with the zero padding written out), every transform step is one AVX instruction for eight
   tiles, and the transforms' results are whole vectors in the [xi][channel][tile] matrices the
   products read, with tile t = ((b * tilesY + ty) * tilesX + tx) * 8 + l. A last block with
   fewer than eight samples has zeros in the missing lanes: zero input gives zero V, zero dY
   gives zero Mhat, so they add nothing to the weight gradient and are never written out.

   Both shapes share the output tile of 4x4, so the lane shuffles, the padded layout and the
   public functions are common; the kernels of each shape are winograd_tile.h, included once per
   shape below with its tables and sizes. The transforms loop over constant tables; after full
   unrolling the compiler drops the zero entries, and multiplies by 1 and -1 become plain adds
   and subtracts. */

/* F(4, 5), points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity (scripts/winograd-matrices). */
static const float AT_4_5[4][8] = {
    {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.0f},
    {0.0f, 1.0f, -1.0f, 2.0f, -2.0f, (1.0f / 2.0f), (-1.0f / 2.0f), 0.0f},
    {0.0f, 1.0f, 1.0f, 4.0f, 4.0f, (1.0f / 4.0f), (1.0f / 4.0f), 0.0f},
    {0.0f, 1.0f, -1.0f, 8.0f, -8.0f, (1.0f / 8.0f), (-1.0f / 8.0f), 1.0f}};
static const float G_4_5[8][5] = {
    {-1.0f, 0.0f, 0.0f, 0.0f, 0.0f},
    {(-2.0f / 9.0f), (-2.0f / 9.0f), (-2.0f / 9.0f), (-2.0f / 9.0f), (-2.0f / 9.0f)},
    {(-2.0f / 9.0f), (2.0f / 9.0f), (-2.0f / 9.0f), (2.0f / 9.0f), (-2.0f / 9.0f)},
    {(1.0f / 90.0f), (1.0f / 45.0f), (2.0f / 45.0f), (4.0f / 45.0f), (8.0f / 45.0f)},
    {(1.0f / 90.0f), (-1.0f / 45.0f), (2.0f / 45.0f), (-4.0f / 45.0f), (8.0f / 45.0f)},
    {(32.0f / 45.0f), (16.0f / 45.0f), (8.0f / 45.0f), (4.0f / 45.0f), (2.0f / 45.0f)},
    {(32.0f / 45.0f), (-16.0f / 45.0f), (8.0f / 45.0f), (-4.0f / 45.0f), (2.0f / 45.0f)},
    {0.0f, 0.0f, 0.0f, 0.0f, 1.0f}};
static const float BT_4_5[8][8] = {
    {-1.0f, 0.0f, (21.0f / 4.0f), 0.0f, (-21.0f / 4.0f), 0.0f, 1.0f, 0.0f},
    {0.0f, 1.0f, 1.0f, (-17.0f / 4.0f), (-17.0f / 4.0f), 1.0f, 1.0f, 0.0f},
    {0.0f, -1.0f, 1.0f, (17.0f / 4.0f), (-17.0f / 4.0f), -1.0f, 1.0f, 0.0f},
    {0.0f, (1.0f / 2.0f), (1.0f / 4.0f), (-5.0f / 2.0f), (-5.0f / 4.0f), 2.0f, 1.0f, 0.0f},
    {0.0f, (-1.0f / 2.0f), (1.0f / 4.0f), (5.0f / 2.0f), (-5.0f / 4.0f), -2.0f, 1.0f, 0.0f},
    {0.0f, 2.0f, 4.0f, (-5.0f / 2.0f), -5.0f, (1.0f / 2.0f), 1.0f, 0.0f},
    {0.0f, -2.0f, 4.0f, (5.0f / 2.0f), -5.0f, (-1.0f / 2.0f), 1.0f, 0.0f},
    {0.0f, -1.0f, 0.0f, (21.0f / 4.0f), 0.0f, (-21.0f / 4.0f), 0.0f, 1.0f}};
/* F(4, 3), points 0, 1, -1, 2, -2 and infinity (scripts/winograd-matrices). */
static const float AT_4_3[4][6] = {
    {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.0f},
    {0.0f, 1.0f, -1.0f, 2.0f, -2.0f, 0.0f},
    {0.0f, 1.0f, 1.0f, 4.0f, 4.0f, 0.0f},
    {0.0f, 1.0f, -1.0f, 8.0f, -8.0f, 1.0f}};
static const float G_4_3[6][3] = {
    {(1.0f / 4.0f), 0.0f, 0.0f},
    {(-1.0f / 6.0f), (-1.0f / 6.0f), (-1.0f / 6.0f)},
    {(-1.0f / 6.0f), (1.0f / 6.0f), (-1.0f / 6.0f)},
    {(1.0f / 24.0f), (1.0f / 12.0f), (1.0f / 6.0f)},
    {(1.0f / 24.0f), (-1.0f / 12.0f), (1.0f / 6.0f)},
    {0.0f, 0.0f, 1.0f}};
static const float BT_4_3[6][6] = {
    {4.0f, 0.0f, -5.0f, 0.0f, 1.0f, 0.0f},
    {0.0f, -4.0f, -4.0f, 1.0f, 1.0f, 0.0f},
    {0.0f, 4.0f, -4.0f, -1.0f, 1.0f, 0.0f},
    {0.0f, -2.0f, -1.0f, 2.0f, 1.0f, 0.0f},
    {0.0f, 2.0f, -1.0f, -2.0f, 1.0f, 0.0f},
    {0.0f, 4.0f, 0.0f, -5.0f, 0.0f, 1.0f}};

typedef float v8 __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
#define LANES 8
#define OUT 4      /* output tile of both shapes */

static inline v8 load8(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
static inline void store8(float *p, v8 v) { memcpy(p, &v, sizeof v); }
/* -0 is the identity of IEEE addition (0 is not: 0 + -0 = 0), so a sum started from it
   compiles to just the terms. */
static inline v8 zero_sum(void) { float z = -0.0f; return (v8){z, z, z, z, z, z, z, z}; }
static inline v8 splat(float x) { return (v8){x, x, x, x, x, x, x, x}; }
/* Zero where `mask` is not positive: a ReLU's mask, from its output. */
static inline v8 keep_where_positive(v8 v, v8 mask) { return (v8)((v8i)v & (mask > 0)); }

/* out = M in along one line, for a rows x columns table M, or out = M^T in when `transposed`
   (in at stride s, out at stride os). Called with constant tables and sizes and inlined, so the
   loops unroll and the zero entries vanish. */
static inline __attribute__((always_inline))
void line(const float *M, const int rows, const int columns, const int transposed,
          const v8 *in, int s, v8 *out, int os) {
    const int outputs = transposed ? columns : rows, inputs = transposed ? rows : columns;
    _Pragma("clang loop unroll(full)") for (int i = 0; i < outputs; i++) {
        v8 sum = zero_sum();
        _Pragma("clang loop unroll(full)") for (int j = 0; j < inputs; j++) {
            float coefficient = transposed ? M[j * columns + i] : M[i * columns + j];
            if (coefficient != 0) sum += coefficient * in[j * s];
        }
        out[i * os] = sum;
    }
}


/* Output rows and the lanes: the output is NCHW, so a 4x4 tile of eight samples is eight
   separate rows of four floats per tile row, while the transforms want one vector per pixel with
   a sample in each lane. Eight rows [x_l(0..3)] become four vectors [x_0(c) .. x_7(c)] by a 4x4
   transpose in each 128-bit half, applied to r_l = [x_l | x_{l+4}]; the same shuffles turn the
   four vectors back into eight rows. */
typedef float v4 __attribute__((vector_size(16)));
static inline void transpose_lanes(const v8 r[4], v8 out[4]) {
    v8 t0 = __builtin_shufflevector(r[0], r[1], 0, 8, 1, 9, 4, 12, 5, 13);
    v8 t1 = __builtin_shufflevector(r[0], r[1], 2, 10, 3, 11, 6, 14, 7, 15);
    v8 t2 = __builtin_shufflevector(r[2], r[3], 0, 8, 1, 9, 4, 12, 5, 13);
    v8 t3 = __builtin_shufflevector(r[2], r[3], 2, 10, 3, 11, 6, 14, 7, 15);
    out[0] = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
    out[1] = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
    out[2] = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
    out[3] = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
}

/* The first `width` (<= 4) floats of an output row, zeros after them, and their store. */
static inline v4 load_row(const float *p, int width) {
    v4 v;
    if (width == 4) { memcpy(&v, p, sizeof v); return v; }
    v = (v4){0, 0, 0, 0};
    for (int i = 0; i < width; i++) v[i] = p[i];
    return v;
}
static inline void store_row(float *p, v4 v, int width) {
    if (width == 4) { memcpy(p, &v, sizeof v); return; }
    for (int i = 0; i < width; i++) p[i] = v[i];
}
static inline v8 join(v4 low, v4 high) { return __builtin_shufflevector(low, high, 0, 1, 2, 3, 4, 5, 6, 7); }

/* Rows of the padded layout: 4 * tilesY + 4 rows of 4 * tilesX + 4 pixels of eight lanes, room
   for the last 8x8 patch (a 6x6 patch leaves the last two rows and columns unread, zero). */
static inline long padded_rows(int tilesY) { return 4L * tilesY + 4; }
static inline long padded_columns(int tilesX) { return 4L * tilesX + 4; }
static inline long blocks_of(int samples) { return (samples + LANES - 1) / LANES; }

/* Floats from one point's matrix to the next. Each transform writes (or reads) one vector in
   each of the 64 matrices in turn; were they a multiple of 4 KiB apart (C * ld often is), all
   64 accesses would fall into the same set of the 8-way L1 cache and evict each other on every
   tile. One cache line of padding per matrix spreads them over 64 sets; measured, it made the
   transforms several times faster. */
long tandem_winograd_matrix_stride(int rows, long ld) { return rows * ld + 16; }

long tandem_winograd_padded_size(int N, int C, int tilesY, int tilesX) {
    return blocks_of(N) * C * padded_rows(tilesY) * padded_columns(tilesX) * LANES;
}

/* Eight rows r[l] (one per sample) of eight floats become eight vectors out[k] = [r[0][k] ..
   r[7][k]] (one per pixel, a sample in each lane), and back: an 8x8 transpose, its own inverse. */
static inline void transpose8(const v8 r[8], v8 out[8]) {
    v8 t[8], u[8];
    for (int q = 0; q < 8; q += 2) {
        t[q] = __builtin_shufflevector(r[q], r[q + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[q + 1] = __builtin_shufflevector(r[q], r[q + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int q = 0; q < 8; q += 4) {
        u[q] = __builtin_shufflevector(t[q], t[q + 2], 0, 1, 8, 9, 4, 5, 12, 13);
        u[q + 1] = __builtin_shufflevector(t[q], t[q + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        u[q + 2] = __builtin_shufflevector(t[q + 1], t[q + 3], 0, 1, 8, 9, 4, 5, 12, 13);
        u[q + 3] = __builtin_shufflevector(t[q + 1], t[q + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
    for (int k = 0; k < 4; k++) {
        out[k] = __builtin_shufflevector(u[k], u[k + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        out[k + 4] = __builtin_shufflevector(u[k], u[k + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

/* The first `count` (<= 8) floats at p, zeros after them, and their store. */
static inline v8 load_partial(const float *p, int count) {
    if (count == LANES) return load8(p);
    v8 v = splat(0);
    for (int i = 0; i < count; i++) v[i] = p[i];
    return v;
}
static inline void store_partial(float *p, v8 v, int count) {
    if (count == LANES) { store8(p, v); return; }
    for (int i = 0; i < count; i++) p[i] = v[i];
}

/* Each padded row is written whole, in order — zeros, eight samples' pixels turned into lanes
   eight at a time by a transpose, zeros — so the buffer needs no clearing beforehand and every
   store is a full vector. (A scalar scatter after a memset of the whole buffer took 9 % of the
   resnet's step.) Lanes of samples past N are zero. */
void tandem_winograd_pad(const float *x, int N, int C, int H, int W, int padding, int tilesY, int tilesX, float *P) {
    long rows = padded_rows(tilesY), columns = padded_columns(tilesX), plane = (long)H * W;
    for (long b = 0; b < blocks_of(N); b++) {
        int lanes = N - b * LANES < LANES ? (int)(N - b * LANES) : LANES;
        for (int c = 0; c < C; c++) {
            float *out = P + (b * C + c) * rows * columns * LANES;
            for (long r = 0; r < rows; r++, out += columns * LANES) {
                long i = r - padding;
                if (i < 0 || i >= H) { memset(out, 0, sizeof(float) * (size_t)(columns * LANES)); continue; }
                memset(out, 0, sizeof(float) * (size_t)(padding * LANES));
                const float *source[LANES];
                for (int l = 0; l < LANES; l++) source[l] = l < lanes ? x + ((b * LANES + l) * C + c) * plane + i * W : 0;
                for (int j = 0; j < W; j += LANES) {
                    int width = W - j < LANES ? W - j : LANES;
                    v8 r8[LANES], pixels[LANES];
                    for (int l = 0; l < LANES; l++) r8[l] = l < lanes ? load_partial(source[l] + j, width) : splat(0);
                    transpose8(r8, pixels);
                    for (int k = 0; k < width; k++) store8(out + (padding + j + k) * LANES, pixels[k]);
                }
                memset(out + (padding + W) * LANES, 0, sizeof(float) * (size_t)((columns - padding - W) * LANES));
            }
        }
    }
}

void tandem_winograd_unpad(const float *P, int N, int C, int H, int W, int padding, int tilesY, int tilesX, float *x) {
    long rows = padded_rows(tilesY), columns = padded_columns(tilesX), plane = (long)H * W;
    for (long b = 0; b < blocks_of(N); b++) {
        int lanes = N - b * LANES < LANES ? (int)(N - b * LANES) : LANES;
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H; i++) {
                const float *in = P + (((b * C + c) * rows + i + padding) * columns + padding) * LANES;
                for (int j = 0; j < W; j += LANES) {
                    int width = W - j < LANES ? W - j : LANES;
                    v8 pixels[LANES], r8[LANES];
                    for (int k = 0; k < LANES; k++) pixels[k] = k < width ? load8(in + (j + k) * LANES) : splat(0);
                    transpose8(pixels, r8);
                    for (int l = 0; l < lanes; l++) store_partial(x + ((b * LANES + l) * C + c) * plane + i * W + j, r8[l], width);
                }
            }
    }
}

/* The weight transforms take eight filters at a time, one per lane, like the samples elsewhere:
   every filter goes through the same small matrix sandwich, so lanes over filters make it
   vector arithmetic for any channel counts. The [K x C] matrices, one per point, of U and dU are xiStride
   apart (K C plus a cache line, as the other transform-domain matrices): K C is often a
   multiple of 1024, and 64 or 36 accesses 4 KiB apart all fall into one L1 set. (One filter at a
   time and unpadded, these two passes took about 1.7 ms of the cnn's step, on every rank.) A
   last group of fewer than eight has zero filters in the missing lanes, never written out. */


#define KERNEL 5
#define TILE 8
#define POINTS (TILE * TILE)
#define W_AT AT_4_5
#define W_G G_4_5
#define W_BT BT_4_5
#define W_NAME(f) f##_5x5
#include "winograd_tile.h"

#define KERNEL 3
#define TILE 6
#define POINTS (TILE * TILE)
#define W_AT AT_4_3
#define W_G G_4_3
#define W_BT BT_4_3
#define W_NAME(f) f##_3x3
#include "winograd_tile.h"

/* The public kernels: the shape is the kernel size, 5 or 3 (WinogradConvolution checks it). */
void tandem_winograd_weights(int r, const float *w, int K, int C, float *U, long xiStride) {
    if (r == 3) weights_3x3(w, K, C, U, xiStride); else weights_5x5(w, K, C, U, xiStride);
}
void tandem_winograd_weight_gradient(int r, const float *dU, int K, int C, float *dw, long xiStride) {
    if (r == 3) weight_gradient_3x3(dU, K, C, dw, xiStride); else weight_gradient_5x5(dU, K, C, dw, xiStride);
}
void tandem_winograd_input(int r, const float *P, int N, int C, int tilesY, int tilesX, float *V, long ld) {
    if (r == 3) input_3x3(P, N, C, tilesY, tilesX, V, ld); else input_5x5(P, N, C, tilesY, tilesX, V, ld);
}
void tandem_winograd_input_gradient(int r, const float *dV, int N, int C, int tilesY, int tilesX, float *dP, long ld) {
    if (r == 3) input_gradient_3x3(dV, N, C, tilesY, tilesX, dP, ld);
    else input_gradient_5x5(dV, N, C, tilesY, tilesX, dP, ld);
}
void tandem_winograd_output(int r, const float *M, int N, int K, int tilesY, int tilesX, int Ho, int Wo,
                            const float *bias, int relu, float *y, long ld) {
    if (r == 3) output_3x3(M, N, K, tilesY, tilesX, Ho, Wo, bias, relu, y, ld);
    else output_5x5(M, N, K, tilesY, tilesX, Ho, Wo, bias, relu, y, ld);
}
void tandem_winograd_output_gradient(int r, const float *dy, const float *y, int N, int K, int tilesY, int tilesX,
                                     int Ho, int Wo, float *Mhat, float *biasGradient, int accumulate, long ld) {
    if (r == 3) output_gradient_3x3(dy, y, N, K, tilesY, tilesX, Ho, Wo, Mhat, biasGradient, accumulate, ld);
    else output_gradient_5x5(dy, y, N, K, tilesY, tilesX, Ho, Wo, Mhat, biasGradient, accumulate, ld);
}
