#include "ckernels.h"
#include <math.h>

/* Sums over a row in eight partial sums, so that the loops vectorise without reassociating
   one sum (no fast-math); the same order every time, so results are reproducible. */
static inline float row_sum(const float *x, long c) {
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    long j = 0;
    for (; j + 8 <= c; j += 8)
        for (int l = 0; l < 8; l++) lanes[l] += x[j + l];
    float s = 0.0f;
    for (; j < c; j++) s += x[j];
    for (int l = 0; l < 8; l++) s += lanes[l];
    return s;
}

/* Every array is its own (restrict): without that promise the compiler must assume that a
   store into x̂, dγ or dβ may change a value the loop reads next, and the eight-lane loops
   stayed scalar. On Zen 3 the backward of the GPT's nine layer norms took 3.7 ms of a 178 ms
   step that way. */
void tandem_layernorm_forward(const float *restrict x, const float *restrict gamma, const float *restrict beta,
                              float *restrict xhat, float *restrict rstd, float *restrict y, long rows, long c, float eps) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * c;
        float *hr = xhat + r * c, *yr = y + r * c;
        float mean = row_sum(xr, c) / (float)c;
        for (long j = 0; j < c; j++) hr[j] = xr[j] - mean;
        float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0}, squares = 0.0f;
        long j = 0;
        for (; j + 8 <= c; j += 8)
            for (int l = 0; l < 8; l++) lanes[l] += hr[j + l] * hr[j + l];
        for (; j < c; j++) squares += hr[j] * hr[j];
        for (int l = 0; l < 8; l++) squares += lanes[l];
        float s = 1.0f / sqrtf(squares / (float)c + eps);
        rstd[r] = s;
        for (long k = 0; k < c; k++) {
            hr[k] *= s;
            yr[k] = hr[k] * gamma[k] + beta[k];
        }
    }
}

void tandem_layernorm_backward(const float *restrict dy, const float *restrict xhat, const float *restrict rstd,
                               const float *restrict gamma, float *restrict dx, float *restrict dgamma,
                               float *restrict dbeta, long rows, long c) {
    for (long r = 0; r < rows; r++) {
        const float *dr = dy + r * c, *hr = xhat + r * c;
        float g_lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0}, gh_lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        float mean_g = 0.0f, mean_gh = 0.0f;
        long j = 0;
        for (; j + 8 <= c; j += 8) {
            for (int l = 0; l < 8; l++) {
                float d = dr[j + l], h = hr[j + l], g = d * gamma[j + l];
                dgamma[j + l] += d * h;
                dbeta[j + l] += d;
                g_lanes[l] += g;
                gh_lanes[l] += g * h;
            }
        }
        for (; j < c; j++) {
            float d = dr[j], h = hr[j], g = d * gamma[j];
            dgamma[j] += d * h;
            dbeta[j] += d;
            mean_g += g;
            mean_gh += g * h;
        }
        if (!dx) continue;
        for (int l = 0; l < 8; l++) { mean_g += g_lanes[l]; mean_gh += gh_lanes[l]; }
        mean_g /= (float)c;
        mean_gh /= (float)c;
        float s = rstd[r], *out = dx + r * c;
        for (long k = 0; k < c; k++) out[k] = (dr[k] * gamma[k] - mean_g - hr[k] * mean_gh) * s;
    }
}
