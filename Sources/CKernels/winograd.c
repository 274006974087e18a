#include "ckernels.h"
#include <string.h>

/* Winograd's minimal filtering F(2x2, 5x5): each 2x2 block of a stride-1 5x5 convolution's
   output is computed from the 6x6 input tile under it as

       Y = A^T [ (G g G^T) (.) (B^T d B) ] A          ((.) = element-wise product)

   with the Toom-Cook matrices for the points 0, 1, -1, 2, -2 and infinity:

       B^T = [ 4  0 -5  0  1  0 ]     G = [  1/4     0     0     0    0  ]    A^T = [ 1 1  1 1  1 0 ]
             [ 0 -4 -4  1  1  0 ]         [ -1/6  -1/6  -1/6  -1/6 -1/6 ]          [ 0 1 -1 2 -2 1 ]
             [ 0  4 -4 -1  1  0 ]         [ -1/6   1/6  -1/6   1/6 -1/6 ]
             [ 0 -2 -1  2  1  0 ]         [ 1/24  1/12   1/6   1/3  2/3 ]
             [ 0  2 -1 -2  1  0 ]         [ 1/24 -1/12   1/6  -1/3  2/3 ]
             [ 0  4  0 -5  0  1 ]         [    0     0     0     0    1 ]

   Summed over input channels, the 36 element-wise products become 36 independent matrix
   products (one per position xi of the 6x6 tile), each [out x in] x [in x tiles]: 9 multiplies
   per output pixel and channel pair instead of 25. The backward pass is the transpose of the
   same bilinear map: with Mhat = A dY A^T per tile,

       dG = sum over tiles of Mhat (.) (B^T d B)     then  dW = G^T dG G
       dD = U^T Mhat  (per xi, U = G g G^T)          then  dX += B dD B^T  (tiles overlap)

   so backward reuses the forward's transformed input and weights.

   The transforms are written out by hand (a generic matrix loop would multiply by the zeros
   and could not fold them under IEEE rules) and run eight horizontally adjacent tiles at a
   time, one per lane of a vector: every operation is one AVX instruction for eight tiles.
   Neighbouring tiles start two columns apart, so the input is kept with its even and odd
   columns split ("deinterleaved"): then column 2*tx + j of eight tiles tx0..tx0+7 is one
   contiguous load from the even or odd half at offset tx0 + j/2, with no gathering.
   Tiles are numbered t = (n * tilesY + ty) * tilesX + tx; a row of tiles whose width is not a
   multiple of eight ends in a group with fewer valid lanes (see store_tiles and load_lanes for
   what happens to the others). */

typedef float v8 __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
#define LANES 8

static inline v8 load8(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
static inline void store8(float *p, v8 v) { memcpy(p, &v, sizeof v); }
static inline v8 splat(float x) { return (v8){x, x, x, x, x, x, x, x}; }

/* The first `valid` lanes from p, the rest zero, never touching memory past them (masked
   loads do not fault). */
#if defined(__AVX__)
#include <immintrin.h>
static inline v8 load_lanes(const float *p, int valid) {
    if (valid >= LANES) return load8(p);
    if (valid <= 0) return splat(0);
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return (v8)_mm256_maskload_ps(p, mask);
}
#else
static inline v8 load_lanes(const float *p, int valid) {
    if (valid >= LANES) return load8(p);
    v8 v = splat(0);
    for (int l = 0; l < valid; l++) v[l] = p[l];
    return v;
}
#endif

/* Stores of a group of tiles into V or Mhat write all eight lanes, also when fewer are valid:
   the extra lanes land on the first tiles of the next row of tiles, which the next group (the
   loops run in tile order) overwrites, or, after the last row, in the slack that `ld` keeps
   past the last tile. A masked store would avoid that, but AVX's is microcoded on this
   machine's Zen 3 cores and cost more than the whole transform. */
static inline void store_tiles(float *p, v8 v) { store8(p, v); }

/* The first `count` of eight values, where the rest must not be written (output rows). */
static inline void store_first(float *p, v8 v, int count) {
    if (count >= LANES) { store8(p, v); return; }
    for (int l = 0; l < count; l++) p[l] = v[l];
}

/* Zero where `mask` is not positive: a ReLU's mask, from its output. */
static inline v8 keep_where_positive(v8 v, v8 mask) { return (v8)((v8i)v & (mask > 0)); }

/* The layout of a padded, deinterleaved plane: Hp = 2 * tilesY + 4 rows (every tile's 6 rows),
   each row its even columns then its odd columns, `half` floats each: enough for the last
   group's loads at offset tx0 + 7 + 2. */
static inline int half_width(int tilesX) { return (tilesX + 7) / 8 * 8 + 2; }
long tandem_winograd_padded_plane(int tilesY, int tilesX) { return (long)(2 * tilesY + 4) * 2 * half_width(tilesX); }

/* out = B^T d for one column of six (strided by `s` in the arrays). */
static inline void input_1d(const v8 *d, int s, v8 *out, int os) {
    v8 d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
    v8 four = splat(4), five = splat(5), two = splat(2);
    out[0] = four * d0 - five * d2 + d4;
    out[os] = d3 + d4 - four * (d1 + d2);
    out[2 * os] = d4 - d3 + four * (d1 - d2);
    out[3 * os] = d4 - d2 + two * (d3 - d1);
    out[4 * os] = d4 - d2 - two * (d3 - d1);
    out[5 * os] = four * d1 - five * d3 + d5;
}

/* out = B v: the transpose of input_1d. */
static inline void input_gradient_1d(const v8 *v, int s, v8 *out, int os) {
    v8 v0 = v[0], v1 = v[s], v2 = v[2 * s], v3 = v[3 * s], v4 = v[4 * s], v5 = v[5 * s];
    v8 four = splat(4), five = splat(5), two = splat(2);
    out[0] = four * v0;
    out[os] = four * (v2 - v1 + v5) + two * (v4 - v3);
    out[2 * os] = -five * v0 - four * (v1 + v2) - v3 - v4;
    out[3 * os] = v1 - v2 + two * (v3 - v4) - five * v5;
    out[4 * os] = v0 + v1 + v2 + v3 + v4;
    out[5 * os] = v5;
}

/* (y0, y1) = A^T m for a column of six. */
static inline void output_1d(const v8 *m, int s, v8 *out, int os) {
    v8 m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s];
    v8 two = splat(2);
    out[0] = m[0] + m1 + m2 + m3 + m4;
    out[os] = m1 - m2 + two * (m3 - m4) + m[5 * s];
}

/* The six values A e for a column of two: the transpose of output_1d. */
static inline void output_gradient_1d(v8 e0, v8 e1, v8 *out, int os) {
    v8 twice = e1 + e1;
    out[0] = e0;
    out[os] = e0 + e1;
    out[2 * os] = e0 - e1;
    out[3 * os] = e0 + twice;
    out[4 * os] = e0 - twice;
    out[5 * os] = e1;
}

void tandem_winograd_weights(const float *w, int K, int C, float *U) {
    long plane = (long)K * C;
    for (long kc = 0; kc < plane; kc++) {
        const float *g = w + kc * 25;
        float t[6][5], u[6][6];
        for (int j = 0; j < 5; j++) {
            float g0 = g[j], g1 = g[5 + j], g2 = g[10 + j], g3 = g[15 + j], g4 = g[20 + j];
            t[0][j] = g0 / 4;
            t[1][j] = -(g0 + g1 + g2 + g3 + g4) / 6;
            t[2][j] = -(g0 - g1 + g2 - g3 + g4) / 6;
            t[3][j] = (g0 + 2 * g1 + 4 * g2 + 8 * g3 + 16 * g4) / 24;
            t[4][j] = (g0 - 2 * g1 + 4 * g2 - 8 * g3 + 16 * g4) / 24;
            t[5][j] = g4;
        }
        for (int i = 0; i < 6; i++) {
            float g0 = t[i][0], g1 = t[i][1], g2 = t[i][2], g3 = t[i][3], g4 = t[i][4];
            u[i][0] = g0 / 4;
            u[i][1] = -(g0 + g1 + g2 + g3 + g4) / 6;
            u[i][2] = -(g0 - g1 + g2 - g3 + g4) / 6;
            u[i][3] = (g0 + 2 * g1 + 4 * g2 + 8 * g3 + 16 * g4) / 24;
            u[i][4] = (g0 - 2 * g1 + 4 * g2 - 8 * g3 + 16 * g4) / 24;
            u[i][5] = g4;
        }
        for (int xi = 0; xi < 36; xi++) U[xi * plane + kc] = u[xi / 6][xi % 6];
    }
}

void tandem_winograd_weight_gradient(const float *dU, int K, int C, float *dw) {
    long plane = (long)K * C;
    for (long kc = 0; kc < plane; kc++) {
        float u[6][6], t[5][6];
        for (int xi = 0; xi < 36; xi++) u[xi / 6][xi % 6] = dU[xi * plane + kc];
        /* t = G^T u (rows), then dw = t G (columns). */
        for (int j = 0; j < 6; j++) {
            float u0 = u[0][j], u1 = u[1][j], u2 = u[2][j], u3 = u[3][j], u4 = u[4][j], u5 = u[5][j];
            t[0][j] = u0 / 4 - (u1 + u2) / 6 + (u3 + u4) / 24;
            t[1][j] = (u2 - u1) / 6 + (u3 - u4) / 12;
            t[2][j] = (u3 + u4 - u1 - u2) / 6;
            t[3][j] = (u2 - u1) / 6 + (u3 - u4) / 3;
            t[4][j] = -(u1 + u2) / 6 + 2 * (u3 + u4) / 3 + u5;
        }
        float *g = dw + kc * 25;
        for (int i = 0; i < 5; i++) {
            float u0 = t[i][0], u1 = t[i][1], u2 = t[i][2], u3 = t[i][3], u4 = t[i][4], u5 = t[i][5];
            g[i * 5 + 0] = u0 / 4 - (u1 + u2) / 6 + (u3 + u4) / 24;
            g[i * 5 + 1] = (u2 - u1) / 6 + (u3 - u4) / 12;
            g[i * 5 + 2] = (u3 + u4 - u1 - u2) / 6;
            g[i * 5 + 3] = (u2 - u1) / 6 + (u3 - u4) / 3;
            g[i * 5 + 4] = -(u1 + u2) / 6 + 2 * (u3 + u4) / 3 + u5;
        }
    }
}


void tandem_winograd_pad(const float *x, long planes, int H, int W, int padding, int tilesY, int tilesX, float *out) {
    int half = half_width(tilesX);
    long plane = tandem_winograd_padded_plane(tilesY, tilesX);
    for (long p = 0; p < planes; p++) {
        const float *src = x + p * H * W;
        float *dst = out + p * plane;
        memset(dst, 0, sizeof(float) * plane);
        for (int i = 0; i < H; i++) {
            float *row = dst + (long)(i + padding) * 2 * half;
            for (int j = 0; j < W; j++) {
                int column = j + padding;
                row[(column & 1) * half + column / 2] = src[i * W + j];
            }
        }
    }
}

void tandem_winograd_unpad(const float *padded, long planes, int H, int W, int padding, int tilesY, int tilesX, float *x) {
    int half = half_width(tilesX);
    long plane = tandem_winograd_padded_plane(tilesY, tilesX);
    for (long p = 0; p < planes; p++) {
        const float *src = padded + p * plane;
        float *dst = x + p * H * W;
        for (int i = 0; i < H; i++) {
            const float *row = src + (long)(i + padding) * 2 * half;
            for (int j = 0; j < W; j++) {
                int column = j + padding;
                dst[i * W + j] = row[(column & 1) * half + column / 2];
            }
        }
    }
}

void tandem_winograd_input(const float *padded, int N, int C, int tilesY, int tilesX, float *V, long ld) {
    int half = half_width(tilesX);
    long plane = tandem_winograd_padded_plane(tilesY, tilesX), xiStride = (long)C * ld;
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++) {
            const float *source = padded + ((long)n * C + c) * plane;
            for (int ty = 0; ty < tilesY; ty++)
                for (int tx0 = 0; tx0 < tilesX; tx0 += LANES) {
                    v8 r[36], v[36];
                    for (int i = 0; i < 6; i++) {   /* rows: r = d B (column 2*tx + j from the even/odd half) */
                        const float *even = source + (long)(2 * ty + i) * 2 * half + tx0, *odd = even + half;
                        v8 d[6] = {load8(even), load8(odd), load8(even + 1), load8(odd + 1), load8(even + 2), load8(odd + 2)};
                        input_1d(d, 1, r + i * 6, 1);
                    }
                    for (int j = 0; j < 6; j++) input_1d(r + j, 6, v + j, 6);   /* columns: V = B^T r */
                    float *out = V + c * ld + ((long)n * tilesY + ty) * tilesX + tx0;
                    for (int xi = 0; xi < 36; xi++) store_tiles(out + xi * xiStride, v[xi]);
                }
        }
}

void tandem_winograd_input_gradient(const float *dV, int N, int C, int tilesY, int tilesX, float *dpadded, long ld) {
    int half = half_width(tilesX);
    long plane = tandem_winograd_padded_plane(tilesY, tilesX), xiStride = (long)C * ld;
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++) {
            float *target = dpadded + ((long)n * C + c) * plane;
            for (int ty = 0; ty < tilesY; ty++)
                for (int tx0 = 0; tx0 < tilesX; tx0 += LANES) {
                    int valid = tilesX - tx0 < LANES ? tilesX - tx0 : LANES;
                    const float *in = dV + c * ld + ((long)n * tilesY + ty) * tilesX + tx0;
                    v8 v[36], r[36];
                    for (int xi = 0; xi < 36; xi++) v[xi] = load_lanes(in + xi * xiStride, valid);
                    for (int j = 0; j < 6; j++) input_gradient_1d(v + j, 6, r + j, 6);   /* columns: B dV */
                    for (int i = 0; i < 6; i++) {   /* rows: (B dV) B^T, added onto the overlapping tiles */
                        v8 d[6];
                        input_gradient_1d(r + i * 6, 1, d, 1);
                        float *even = target + (long)(2 * ty + i) * 2 * half + tx0, *odd = even + half;
                        /* Lanes past the row's last tile are zero: adding them changes nothing. */
                        store8(even, load8(even) + d[0]);
                        store8(odd, load8(odd) + d[1]);
                        store8(even + 1, load8(even + 1) + d[2]);
                        store8(odd + 1, load8(odd + 1) + d[3]);
                        store8(even + 2, load8(even + 2) + d[4]);
                        store8(odd + 2, load8(odd + 2) + d[5]);
                    }
                }
        }
}

void tandem_winograd_output(const float *M, int N, int K, int tilesY, int tilesX, int Ho, int Wo,
                            const float *bias, int relu, float *y, long ld) {
    long xiStride = (long)K * ld, plane = (long)Ho * Wo;
    for (int k = 0; k < K; k++) {
        v8 b = splat(bias[k]);
        for (int n = 0; n < N; n++)
            for (int ty = 0; ty < tilesY; ty++)
                for (int tx0 = 0; tx0 < tilesX; tx0 += LANES) {
                    const float *in = M + k * ld + ((long)n * tilesY + ty) * tilesX + tx0;
                    v8 m[36], t[12], out[4];
                    for (int xi = 0; xi < 36; xi++) m[xi] = load8(in + xi * xiStride);   /* extra lanes: not stored */
                    for (int j = 0; j < 6; j++) output_1d(m + j, 6, t + j, 6);      /* columns: 2 x 6 */
                    for (int a = 0; a < 2; a++) output_1d(t + a * 6, 1, out + a * 2, 1);
                    int columns = Wo - 2 * tx0 < 2 * LANES ? Wo - 2 * tx0 : 2 * LANES;
                    for (int a = 0; a < 2 && 2 * ty + a < Ho; a++) {
                        v8 even = out[a * 2] + b, odd = out[a * 2 + 1] + b;
                        if (relu) { even = keep_where_positive(even, even); odd = keep_where_positive(odd, odd); }
                        /* Output columns 2*tx and 2*tx + 1 interleave the two vectors. */
                        v8 low = __builtin_shufflevector(even, odd, 0, 8, 1, 9, 2, 10, 3, 11);
                        v8 high = __builtin_shufflevector(even, odd, 4, 12, 5, 13, 6, 14, 7, 15);
                        float *row = y + (n * K + k) * plane + (long)(2 * ty + a) * Wo + 2 * tx0;
                        store_first(row, low, columns);
                        store_first(row + LANES, high, columns - LANES);
                    }
                }
    }
}

void tandem_winograd_output_gradient(const float *dy, const float *y, int N, int K, int tilesY, int tilesX,
                                     int Ho, int Wo, float *Mhat, long ld, float *biasGradient, int accumulate) {
    long xiStride = (long)K * ld, plane = (long)Ho * Wo;
    for (int k = 0; k < K; k++) {
        v8 biasSum = splat(0);
        for (int n = 0; n < N; n++)
            for (int ty = 0; ty < tilesY; ty++)
                for (int tx0 = 0; tx0 < tilesX; tx0 += LANES) {
                    int columns = Wo - 2 * tx0 < 2 * LANES ? Wo - 2 * tx0 : 2 * LANES;
                    v8 e[4] = {splat(0), splat(0), splat(0), splat(0)}, t[12], m[36];
                    for (int a = 0; a < 2 && 2 * ty + a < Ho; a++) {
                        long offset = (n * K + k) * plane + (long)(2 * ty + a) * Wo + 2 * tx0;
                        v8 low = load_lanes(dy + offset, columns), high = load_lanes(dy + offset + LANES, columns - LANES);
                        if (y) {   /* the fused ReLU's mask */
                            low = keep_where_positive(low, load_lanes(y + offset, columns));
                            high = keep_where_positive(high, load_lanes(y + offset + LANES, columns - LANES));
                        }
                        e[a * 2] = __builtin_shufflevector(low, high, 0, 2, 4, 6, 8, 10, 12, 14);
                        e[a * 2 + 1] = __builtin_shufflevector(low, high, 1, 3, 5, 7, 9, 11, 13, 15);
                    }
                    biasSum += e[0] + e[1] + e[2] + e[3];
                    for (int bb = 0; bb < 2; bb++) output_gradient_1d(e[bb], e[2 + bb], t + bb, 2);   /* columns: 6 x 2 */
                    for (int i = 0; i < 6; i++) output_gradient_1d(t[i * 2], t[i * 2 + 1], m + i * 6, 1);
                    float *out = Mhat + k * ld + ((long)n * tilesY + ty) * tilesX + tx0;
                    for (int xi = 0; xi < 36; xi++) store_tiles(out + xi * xiStride, m[xi]);
                }
        float total = 0;
        for (int l = 0; l < LANES; l++) total += biasSum[l];
        biasGradient[k] = accumulate ? biasGradient[k] + total : total;
    }
}
