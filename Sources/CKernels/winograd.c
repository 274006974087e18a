#include "ckernels.h"
#include <string.h>

/* Winograd's minimal filtering F(4x4, 5x5): each 4x4 block ("tile") of a stride-1 5x5
   convolution's output is computed from the 8x8 input patch under it as

       Y = A^T [ (G g G^T) (.) (B^T d B) ] A          ((.) = element-wise product)

   with the Toom-Cook matrices below (derived and checked exactly by scripts/winograd-matrices).
   Summed over input channels, the 64 element-wise products become 64 independent matrix
   products, one per point xi of the 8x8 tile, each [out x in] x [in x tiles]: 4 multiplies per
   output pixel and channel pair instead of 25. The backward pass is the transpose of the same
   bilinear map: with Mhat = A dY A^T per tile,

       dU = sum over tiles of Mhat (.) (B^T d B)     then  dW = G^T dU G
       dV = U^T Mhat  (per xi, U = G g G^T)          then  dX += B dV B^T  (tiles overlap)

   so backward reuses the forward's transformed input and weights.

   Vectors hold eight samples: lane l of every vector below belongs to sample 8b + l of a block
   b of eight, at the same tile and channel. Then every tile, whatever the image size, is 64
   plain vector loads from the input kept as [block][channel][row][column][8 lanes] ("padded",
   with the zero padding written out), every transform step is one AVX instruction for eight
   tiles, and the transforms' results are whole vectors in the [xi][channel][tile] matrices the
   products read, with tile t = ((b * tilesY + ty) * tilesX + tx) * 8 + l. A last block with
   fewer than eight samples has zeros in the missing lanes: zero input gives zero V, zero dY
   gives zero Mhat, so they add nothing to the weight gradient and are never written out.

   The transforms loop over constant tables; after full unrolling the compiler drops the zero
   entries, and multiplies by 1 and -1 become plain adds and subtracts. */

/* F(4, 5), points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity (scripts/winograd-matrices). */
static const float AT[4][8] = {
    {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.0f},
    {0.0f, 1.0f, -1.0f, 2.0f, -2.0f, (1.0f / 2.0f), (-1.0f / 2.0f), 0.0f},
    {0.0f, 1.0f, 1.0f, 4.0f, 4.0f, (1.0f / 4.0f), (1.0f / 4.0f), 0.0f},
    {0.0f, 1.0f, -1.0f, 8.0f, -8.0f, (1.0f / 8.0f), (-1.0f / 8.0f), 1.0f}};
static const float G[8][5] = {
    {-1.0f, 0.0f, 0.0f, 0.0f, 0.0f},
    {(-2.0f / 9.0f), (-2.0f / 9.0f), (-2.0f / 9.0f), (-2.0f / 9.0f), (-2.0f / 9.0f)},
    {(-2.0f / 9.0f), (2.0f / 9.0f), (-2.0f / 9.0f), (2.0f / 9.0f), (-2.0f / 9.0f)},
    {(1.0f / 90.0f), (1.0f / 45.0f), (2.0f / 45.0f), (4.0f / 45.0f), (8.0f / 45.0f)},
    {(1.0f / 90.0f), (-1.0f / 45.0f), (2.0f / 45.0f), (-4.0f / 45.0f), (8.0f / 45.0f)},
    {(32.0f / 45.0f), (16.0f / 45.0f), (8.0f / 45.0f), (4.0f / 45.0f), (2.0f / 45.0f)},
    {(32.0f / 45.0f), (-16.0f / 45.0f), (8.0f / 45.0f), (-4.0f / 45.0f), (2.0f / 45.0f)},
    {0.0f, 0.0f, 0.0f, 0.0f, 1.0f}};
static const float BT[8][8] = {
    {-1.0f, 0.0f, (21.0f / 4.0f), 0.0f, (-21.0f / 4.0f), 0.0f, 1.0f, 0.0f},
    {0.0f, 1.0f, 1.0f, (-17.0f / 4.0f), (-17.0f / 4.0f), 1.0f, 1.0f, 0.0f},
    {0.0f, -1.0f, 1.0f, (17.0f / 4.0f), (-17.0f / 4.0f), -1.0f, 1.0f, 0.0f},
    {0.0f, (1.0f / 2.0f), (1.0f / 4.0f), (-5.0f / 2.0f), (-5.0f / 4.0f), 2.0f, 1.0f, 0.0f},
    {0.0f, (-1.0f / 2.0f), (1.0f / 4.0f), (5.0f / 2.0f), (-5.0f / 4.0f), -2.0f, 1.0f, 0.0f},
    {0.0f, 2.0f, 4.0f, (-5.0f / 2.0f), -5.0f, (1.0f / 2.0f), 1.0f, 0.0f},
    {0.0f, -2.0f, 4.0f, (5.0f / 2.0f), -5.0f, (-1.0f / 2.0f), 1.0f, 0.0f},
    {0.0f, -1.0f, 0.0f, (21.0f / 4.0f), 0.0f, (-21.0f / 4.0f), 0.0f, 1.0f}};

typedef float v8 __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
#define LANES 8
#define TILE 8     /* input patch: OUT + KERNEL - 1 */
#define OUT 4
#define KERNEL 5
#define POINTS (TILE * TILE)

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

/* B^T d, its transpose B v, A^T m (eight values to four) and its transpose A e. */
static inline void input_1d(const v8 *d, int s, v8 *out, int os) { line(&BT[0][0], TILE, TILE, 0, d, s, out, os); }
static inline void input_gradient_1d(const v8 *v, int s, v8 *out, int os) { line(&BT[0][0], TILE, TILE, 1, v, s, out, os); }
static inline void output_1d(const v8 *m, int s, v8 *out, int os) { line(&AT[0][0], OUT, TILE, 0, m, s, out, os); }
static inline void output_gradient_1d(const v8 *e, int s, v8 *out, int os) { line(&AT[0][0], OUT, TILE, 1, e, s, out, os); }

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

/* Rows of the padded layout: 4 * tilesY + 4 rows of 4 * tilesX + 4 pixels of eight lanes. */
static inline long padded_rows(int tilesY) { return 4L * tilesY + 4; }
static inline long padded_columns(int tilesX) { return 4L * tilesX + 4; }
/* The transforms visit the 64 matrices of a point each in turn, 32 bytes at a time: more
   streams than the hardware prefetchers follow, so the loops ask for the cache line four
   tiles ahead themselves (`rw` 1 for lines about to be written). */
#define AHEAD (4 * LANES)
static inline void prefetch_points(const float *p, long stride, int rw) {
    for (int xi = 0; xi < POINTS; xi++) {
        if (rw) __builtin_prefetch(p + xi * stride + AHEAD, 1, 3);
        else __builtin_prefetch(p + xi * stride + AHEAD, 0, 3);
    }
}

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

/* Where sample n's channel c, input row i, column 0 lies in the padded layout: its lane of the
   pixel (i + padding, padding) of its block's plane. Successive columns are LANES floats apart. */
static inline long padded_offset(int n, int C, int c, int i, int padding, long rows, long columns) {
    long plane = ((long)(n / LANES) * C + c) * rows;
    return ((plane + i + padding) * columns + padding) * LANES + n % LANES;
}

void tandem_winograd_pad(const float *x, int N, int C, int H, int W, int padding, int tilesY, int tilesX, float *P) {
    long rows = padded_rows(tilesY), columns = padded_columns(tilesX);
    memset(P, 0, sizeof(float) * (size_t)tandem_winograd_padded_size(N, C, tilesY, tilesX));
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H; i++) {
                const float *source = x + (((long)n * C + c) * H + i) * W;
                float *row = P + padded_offset(n, C, c, i, padding, rows, columns);
                for (int j = 0; j < W; j++) row[j * LANES] = source[j];
            }
}

void tandem_winograd_unpad(const float *P, int N, int C, int H, int W, int padding, int tilesY, int tilesX, float *x) {
    long rows = padded_rows(tilesY), columns = padded_columns(tilesX);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H; i++) {
                float *target = x + (((long)n * C + c) * H + i) * W;
                const float *row = P + padded_offset(n, C, c, i, padding, rows, columns);
                for (int j = 0; j < W; j++) target[j] = row[j * LANES];
            }
}

/* The weight transforms take eight filters at a time, one per lane, like the samples elsewhere:
   every filter goes through the same small matrix sandwich, so lanes over filters make it
   vector arithmetic for any channel counts. The 64 [K x C] matrices of U and dU are xiStride
   apart (K C plus a cache line, as the other transform-domain matrices): K C is often a
   multiple of 1024, and 64 accesses 4 KiB apart all fall into one L1 set. (One filter at a
   time and unpadded, these two passes took about 1.7 ms of the cnn's step, on every rank.) A
   last group of fewer than eight has zero filters in the missing lanes, never written out. */

void tandem_winograd_weights(const float *w, int K, int C, float *U, long xiStride) {
    long plane = (long)K * C;
    for (long kc = 0; kc < plane; kc += LANES) {
        int lanes = plane - kc < LANES ? (int)(plane - kc) : LANES;
        v8 g[KERNEL * KERNEL];
        for (int e = 0; e < KERNEL * KERNEL; e++)
            for (int l = 0; l < LANES; l++) g[e][l] = l < lanes ? w[(kc + l) * KERNEL * KERNEL + e] : 0;
        v8 t[TILE][KERNEL];
        for (int i = 0; i < TILE; i++)          /* t = G g */
            for (int b = 0; b < KERNEL; b++) {
                v8 sum = zero_sum();
                for (int a = 0; a < KERNEL; a++) sum += G[i][a] * g[a * KERNEL + b];
                t[i][b] = sum;
            }
        for (int i = 0; i < TILE; i++)          /* U = t G^T */
            for (int j = 0; j < TILE; j++) {
                v8 sum = zero_sum();
                for (int b = 0; b < KERNEL; b++) sum += t[i][b] * G[j][b];
                float *out = U + (i * TILE + j) * xiStride + kc;
                if (lanes == LANES) store8(out, sum);
                else for (int l = 0; l < lanes; l++) out[l] = sum[l];
            }
    }
}

void tandem_winograd_weight_gradient(const float *dU, int K, int C, float *dw, long xiStride) {
    long plane = (long)K * C;
    for (long kc = 0; kc < plane; kc += LANES) {
        int lanes = plane - kc < LANES ? (int)(plane - kc) : LANES;
        v8 u[POINTS];
        for (int p = 0; p < POINTS; p++) {
            const float *in = dU + p * xiStride + kc;
            if (lanes == LANES) u[p] = load8(in);
            else for (int l = 0; l < LANES; l++) u[p][l] = l < lanes ? in[l] : 0;
        }
        v8 t[KERNEL][TILE];
        for (int a = 0; a < KERNEL; a++)        /* t = G^T dU */
            for (int j = 0; j < TILE; j++) {
                v8 sum = zero_sum();
                for (int i = 0; i < TILE; i++) sum += G[i][a] * u[i * TILE + j];
                t[a][j] = sum;
            }
        for (int a = 0; a < KERNEL; a++)        /* dW = t G */
            for (int b = 0; b < KERNEL; b++) {
                v8 sum = zero_sum();
                for (int j = 0; j < TILE; j++) sum += t[a][j] * G[j][b];
                for (int l = 0; l < lanes; l++) dw[(kc + l) * KERNEL * KERNEL + a * KERNEL + b] = sum[l];
            }
    }
}

void tandem_winograd_input(const float *P, int N, int C, int tilesY, int tilesX, float *V, long ld) {
    long rows = padded_rows(tilesY), columns = padded_columns(tilesX), blocks = blocks_of(N);
    long xiStride = tandem_winograd_matrix_stride(C, ld);
    for (int c = 0; c < C; c++)
        for (long b = 0; b < blocks; b++) {
            const float *plane = P + ((b * C + c) * rows) * columns * LANES;
            for (int ty = 0; ty < tilesY; ty++)
                for (int tx = 0; tx < tilesX; tx++) {
                    const float *patch = plane + ((long)(OUT * ty) * columns + OUT * tx) * LANES;
                    v8 d[POINTS], t[POINTS];
                    for (int i = 0; i < TILE; i++)
                        for (int j = 0; j < TILE; j++) d[i * TILE + j] = load8(patch + ((long)i * columns + j) * LANES);
                    for (int j = 0; j < TILE; j++) input_1d(d + j, TILE, t + j, TILE);          /* columns: B^T d */
                    for (int i = 0; i < TILE; i++) input_1d(t + i * TILE, 1, d + i * TILE, 1);  /* rows: (B^T d) B */
                    float *out = V + c * ld + ((b * tilesY + ty) * tilesX + tx) * LANES;
                    prefetch_points(out, xiStride, 1);
                    for (int xi = 0; xi < POINTS; xi++) store8(out + xi * xiStride, d[xi]);
                }
        }
}

void tandem_winograd_input_gradient(const float *dV, int N, int C, int tilesY, int tilesX, float *dP, long ld) {
    long rows = padded_rows(tilesY), columns = padded_columns(tilesX), blocks = blocks_of(N);
    long xiStride = tandem_winograd_matrix_stride(C, ld);
    for (int c = 0; c < C; c++)
        for (long b = 0; b < blocks; b++) {
            float *plane = dP + ((b * C + c) * rows) * columns * LANES;
            for (int ty = 0; ty < tilesY; ty++)
                for (int tx = 0; tx < tilesX; tx++) {
                    const float *in = dV + c * ld + ((b * tilesY + ty) * tilesX + tx) * LANES;
                    prefetch_points(in, xiStride, 0);
                    v8 v[POINTS], t[POINTS];
                    for (int xi = 0; xi < POINTS; xi++) v[xi] = load8(in + xi * xiStride);
                    for (int j = 0; j < TILE; j++) input_gradient_1d(v + j, TILE, t + j, TILE);          /* columns */
                    for (int i = 0; i < TILE; i++) input_gradient_1d(t + i * TILE, 1, v + i * TILE, 1);  /* rows */
                    float *patch = plane + ((long)(OUT * ty) * columns + OUT * tx) * LANES;
                    for (int i = 0; i < TILE; i++)          /* neighbouring patches overlap: add */
                        for (int j = 0; j < TILE; j++) {
                            float *p = patch + ((long)i * columns + j) * LANES;
                            store8(p, load8(p) + v[i * TILE + j]);
                        }
                }
        }
}

void tandem_winograd_output(const float *M, int N, int K, int tilesY, int tilesX, int Ho, int Wo,
                            const float *bias, int relu, float *y, long ld) {
    long blocks = blocks_of(N), xiStride = tandem_winograd_matrix_stride(K, ld), plane = (long)Ho * Wo;
    for (int k = 0; k < K; k++)
        for (long b = 0; b < blocks; b++) {
            int lanes = N - b * LANES < LANES ? (int)(N - b * LANES) : LANES;
            for (int ty = 0; ty < tilesY; ty++)
                for (int tx = 0; tx < tilesX; tx++) {
                    const float *in = M + k * ld + ((b * tilesY + ty) * tilesX + tx) * LANES;
                    prefetch_points(in, xiStride, 0);
                    v8 m[POINTS], t[OUT * TILE], out[OUT * OUT];
                    for (int xi = 0; xi < POINTS; xi++) m[xi] = load8(in + xi * xiStride);
                    for (int j = 0; j < TILE; j++) output_1d(m + j, TILE, t + j, TILE);        /* columns: A^T m */
                    for (int a = 0; a < OUT; a++) output_1d(t + a * TILE, 1, out + a * OUT, 1);  /* rows: (A^T m) A */
                    v8 bk = splat(bias[k]);
                    for (int q = 0; q < OUT * OUT; q++) {
                        out[q] += bk;
                        if (relu) out[q] = keep_where_positive(out[q], out[q]);
                    }
                    int oy = OUT * ty, ox = OUT * tx;
                    int height = Ho - oy < OUT ? Ho - oy : OUT, width = Wo - ox < OUT ? Wo - ox : OUT;
                    for (int a = 0; a < height; a++) {
                        v8 rows[4];
                        transpose_lanes(out + a * OUT, rows);   /* rows[l] = [lane l | lane l + 4] */
                        for (int l = 0; l < lanes; l++) {
                            v8 r = rows[l % 4];
                            v4 row = l < 4 ? __builtin_shufflevector(r, r, 0, 1, 2, 3) : __builtin_shufflevector(r, r, 4, 5, 6, 7);
                            store_row(y + ((b * LANES + l) * K + k) * plane + (long)(oy + a) * Wo + ox, row, width);
                        }
                    }
                }
        }
}

void tandem_winograd_output_gradient(const float *dy, const float *y, int N, int K, int tilesY, int tilesX,
                                     int Ho, int Wo, float *Mhat, float *biasGradient, int accumulate, long ld) {
    long blocks = blocks_of(N), xiStride = tandem_winograd_matrix_stride(K, ld), plane = (long)Ho * Wo;
    for (int k = 0; k < K; k++) {
        v8 biasSum = splat(0);
        for (long b = 0; b < blocks; b++) {
            int lanes = N - b * LANES < LANES ? (int)(N - b * LANES) : LANES;
            for (int ty = 0; ty < tilesY; ty++)
                for (int tx = 0; tx < tilesX; tx++) {
                    int oy = OUT * ty, ox = OUT * tx;
                    int height = Ho - oy < OUT ? Ho - oy : OUT, width = Wo - ox < OUT ? Wo - ox : OUT;
                    v8 e[OUT * OUT], t[TILE * OUT], m[POINTS];
                    for (int a = 0; a < OUT; a++) {
                        v4 rows[LANES], masks[LANES];
                        for (int l = 0; l < LANES; l++) {
                            if (a >= height || l >= lanes) { rows[l] = masks[l] = (v4){0, 0, 0, 0}; continue; }
                            long at = ((b * LANES + l) * K + k) * plane + (long)(oy + a) * Wo + ox;
                            rows[l] = load_row(dy + at, width);
                            masks[l] = y ? load_row(y + at, width) : (v4){1, 1, 1, 1};
                        }
                        v8 joined[4], masked[4];
                        for (int l = 0; l < 4; l++) {
                            /* the fused ReLU's mask: no gradient where its output was zero */
                            masked[l] = keep_where_positive(join(rows[l], rows[l + 4]), join(masks[l], masks[l + 4]));
                        }
                        transpose_lanes(masked, joined);
                        for (int bb = 0; bb < OUT; bb++) e[a * OUT + bb] = joined[bb];
                    }
                    for (int q = 0; q < OUT * OUT; q++) biasSum += e[q];
                    for (int bb = 0; bb < OUT; bb++) output_gradient_1d(e + bb, OUT, t + bb, OUT);      /* columns: A e */
                    for (int i = 0; i < TILE; i++) output_gradient_1d(t + i * OUT, 1, m + i * TILE, 1); /* rows: (A e) A^T */
                    float *out = Mhat + k * ld + ((b * tilesY + ty) * tilesX + tx) * LANES;
                    prefetch_points(out, xiStride, 1);
                    for (int xi = 0; xi < POINTS; xi++) store8(out + xi * xiStride, m[xi]);
                }
        }
        float total = 0;
        for (int l = 0; l < LANES; l++) total += biasSum[l];
        biasGradient[k] = accumulate ? biasGradient[k] + total : total;
    }
}
