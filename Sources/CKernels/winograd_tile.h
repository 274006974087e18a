/* The Winograd kernels of one tile shape, written once for both: winograd.c includes this file
   once per shape, after defining

     KERNEL            the kernel size r (5 or 3)
     TILE              the input patch of a 4x4 output tile, OUT + KERNEL - 1 (8 or 6)
     POINTS            TILE * TILE, the points of the transform domain (64 or 36)
     W_AT, W_G, W_BT   the Toom-Cook matrices of F(4, r)
     W_NAME(f)         the name of function f for this shape (f_5x5 or f_3x3)

   and undefines them at its end, ready for the next shape. The code is winograd.c's: see its
   notes for the algebra and the layouts. */

/* B^T d, its transpose B v, A^T m (eight values to four) and its transpose A e. */
static inline void W_NAME(input_1d)(const v8 *d, int s, v8 *out, int os) { line(&W_BT[0][0], TILE, TILE, 0, d, s, out, os); }
static inline void W_NAME(input_gradient_1d)(const v8 *v, int s, v8 *out, int os) { line(&W_BT[0][0], TILE, TILE, 1, v, s, out, os); }
static inline void W_NAME(output_1d)(const v8 *m, int s, v8 *out, int os) { line(&W_AT[0][0], OUT, TILE, 0, m, s, out, os); }
static inline void W_NAME(output_gradient_1d)(const v8 *e, int s, v8 *out, int os) { line(&W_AT[0][0], OUT, TILE, 1, e, s, out, os); }


/* The transforms visit the POINTS matrices of a point each in turn, 32 bytes at a time: more
   streams than the hardware prefetchers follow, so the loops ask for the cache line four
   tiles ahead themselves (`rw` 1 for lines about to be written). */
#define AHEAD (4 * LANES)
static inline void W_NAME(prefetch_points)(const float *p, long stride, int rw) {
    for (int xi = 0; xi < POINTS; xi++) {
        if (rw) __builtin_prefetch(p + xi * stride + AHEAD, 1, 3);
        else __builtin_prefetch(p + xi * stride + AHEAD, 0, 3);
    }
}


static void W_NAME(weights)(const float *w, int K, int C, float *U, long xiStride) {
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
                for (int a = 0; a < KERNEL; a++) sum += W_G[i][a] * g[a * KERNEL + b];
                t[i][b] = sum;
            }
        for (int i = 0; i < TILE; i++)          /* U = t G^T */
            for (int j = 0; j < TILE; j++) {
                v8 sum = zero_sum();
                for (int b = 0; b < KERNEL; b++) sum += t[i][b] * W_G[j][b];
                float *out = U + (i * TILE + j) * xiStride + kc;
                if (lanes == LANES) store8(out, sum);
                else for (int l = 0; l < lanes; l++) out[l] = sum[l];
            }
    }
}

static void W_NAME(weight_gradient)(const float *dU, int K, int C, float *dw, long xiStride) {
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
                for (int i = 0; i < TILE; i++) sum += W_G[i][a] * u[i * TILE + j];
                t[a][j] = sum;
            }
        for (int a = 0; a < KERNEL; a++)        /* dW = t G */
            for (int b = 0; b < KERNEL; b++) {
                v8 sum = zero_sum();
                for (int j = 0; j < TILE; j++) sum += t[a][j] * W_G[j][b];
                for (int l = 0; l < lanes; l++) dw[(kc + l) * KERNEL * KERNEL + a * KERNEL + b] = sum[l];
            }
    }
}

static void W_NAME(input)(const float *P, int N, int C, int tilesY, int tilesX, float *V, long ld) {
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
                    for (int j = 0; j < TILE; j++) W_NAME(input_1d)(d + j, TILE, t + j, TILE);          /* columns: B^T d */
                    for (int i = 0; i < TILE; i++) W_NAME(input_1d)(t + i * TILE, 1, d + i * TILE, 1);  /* rows: (B^T d) B */
                    float *out = V + c * ld + ((b * tilesY + ty) * tilesX + tx) * LANES;
                    W_NAME(prefetch_points)(out, xiStride, 1);
                    for (int xi = 0; xi < POINTS; xi++) store8(out + xi * xiStride, d[xi]);
                }
        }
}

static void W_NAME(input_gradient)(const float *dV, int N, int C, int tilesY, int tilesX, float *dP, long ld) {
    long rows = padded_rows(tilesY), columns = padded_columns(tilesX), blocks = blocks_of(N);
    long xiStride = tandem_winograd_matrix_stride(C, ld);
    for (int c = 0; c < C; c++)
        for (long b = 0; b < blocks; b++) {
            float *plane = dP + ((b * C + c) * rows) * columns * LANES;
            for (int ty = 0; ty < tilesY; ty++)
                for (int tx = 0; tx < tilesX; tx++) {
                    const float *in = dV + c * ld + ((b * tilesY + ty) * tilesX + tx) * LANES;
                    W_NAME(prefetch_points)(in, xiStride, 0);
                    v8 v[POINTS], t[POINTS];
                    for (int xi = 0; xi < POINTS; xi++) v[xi] = load8(in + xi * xiStride);
                    for (int j = 0; j < TILE; j++) W_NAME(input_gradient_1d)(v + j, TILE, t + j, TILE);          /* columns */
                    for (int i = 0; i < TILE; i++) W_NAME(input_gradient_1d)(t + i * TILE, 1, v + i * TILE, 1);  /* rows */
                    float *patch = plane + ((long)(OUT * ty) * columns + OUT * tx) * LANES;
                    for (int i = 0; i < TILE; i++)          /* neighbouring patches overlap: add */
                        for (int j = 0; j < TILE; j++) {
                            float *p = patch + ((long)i * columns + j) * LANES;
                            store8(p, load8(p) + v[i * TILE + j]);
                        }
                }
        }
}

static void W_NAME(output)(const float *M, int N, int K, int tilesY, int tilesX, int Ho, int Wo,
                            const float *bias, int relu, float *y, long ld) {
    long blocks = blocks_of(N), xiStride = tandem_winograd_matrix_stride(K, ld), plane = (long)Ho * Wo;
    for (int k = 0; k < K; k++)
        for (long b = 0; b < blocks; b++) {
            int lanes = N - b * LANES < LANES ? (int)(N - b * LANES) : LANES;
            for (int ty = 0; ty < tilesY; ty++)
                for (int tx = 0; tx < tilesX; tx++) {
                    const float *in = M + k * ld + ((b * tilesY + ty) * tilesX + tx) * LANES;
                    W_NAME(prefetch_points)(in, xiStride, 0);
                    v8 m[POINTS], t[OUT * TILE], out[OUT * OUT];
                    for (int xi = 0; xi < POINTS; xi++) m[xi] = load8(in + xi * xiStride);
                    for (int j = 0; j < TILE; j++) W_NAME(output_1d)(m + j, TILE, t + j, TILE);        /* columns: A^T m */
                    for (int a = 0; a < OUT; a++) W_NAME(output_1d)(t + a * TILE, 1, out + a * OUT, 1);  /* rows: (A^T m) A */
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

static void W_NAME(output_gradient)(const float *dy, const float *y, int N, int K, int tilesY, int tilesX,
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
                    for (int bb = 0; bb < OUT; bb++) W_NAME(output_gradient_1d)(e + bb, OUT, t + bb, OUT);      /* columns: A e */
                    for (int i = 0; i < TILE; i++) W_NAME(output_gradient_1d)(t + i * OUT, 1, m + i * TILE, 1); /* rows: (A e) A^T */
                    float *out = Mhat + k * ld + ((b * tilesY + ty) * tilesX + tx) * LANES;
                    W_NAME(prefetch_points)(out, xiStride, 1);
                    for (int xi = 0; xi < POINTS; xi++) store8(out + xi * xiStride, m[xi]);
                }
        }
        float total = 0;
        for (int l = 0; l < LANES; l++) total += biasSum[l];
        biasGradient[k] = accumulate ? biasGradient[k] + total : total;
    }
}

#undef KERNEL
#undef TILE
#undef POINTS
#undef W_AT
#undef W_G
#undef W_BT
#undef W_NAME
