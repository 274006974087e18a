#ifndef TANDEM_TRANSCENDENTAL_H
#define TANDEM_TRANSCENDENTAL_H
/* exp and erf as polynomials the compiler vectorises (gelu.c, softmax.c). */
#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp(x) = 2^n exp(r), n = round(x / ln 2), |r| <= ln 2 / 2; exp(r) by Cephes' polynomial, ln 2
   split in two so that r keeps its low bits. Below -87, where exp(x) is under the smallest
   normal float, the result is 0 (a softmax's far tail, as libm's expf gives after flushing
   denormals); above 88 it stays at exp(88); NaN gives NaN. */
static inline float exp_poly(float input) {
    /* Comparisons, not fminf/fmaxf, so that a NaN stays NaN (fmaxf would return -87). */
    float x = input > 88.0f ? 88.0f : (input < -87.0f ? -87.0f : input);
    float n = rintf(x * 1.44269504088896341f);
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r + 1.0f);
    /* n is within [-126, 127] for every x above; the clamp only keeps a NaN's n defined. */
    int32_t bits = ((int32_t)fminf(fmaxf(n, -126.0f), 127.0f) + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return input < -87.0f ? 0.0f : p * scale;
}

/* erf(x) = 1 - t (a1 + t (a2 + ...)) exp(-x^2), t = 1 / (1 + p |x|), odd in x. `gaussian` gets
   the exp(-x^2) it used, which GELU's derivative needs too. */
static inline float erf_poly_with_gaussian(float x, float *gaussian) {
    float a = fabsf(x);
    float t = 1.0f / fmaf(0.3275911f, a, 1.0f);
    float q = fmaf(t, 1.061405429f, -1.453152027f);
    q = fmaf(q, t, 1.421413741f);
    q = fmaf(q, t, -0.284496736f);
    q = fmaf(q, t, 0.254829592f);
    float g = exp_poly(-a * a);
    *gaussian = g;
    float e = 1.0f - q * t * g;
    return copysignf(e, x);
}

static inline float erf_poly(float x) {
    float unused;
    return erf_poly_with_gaussian(x, &unused);
}

#endif
