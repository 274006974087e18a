#include "ckernels.h"
#include "transcendental.h"

/* Softmax rows: the classifiers' losses (Softmax.swift) and causal self-attention
   (CausalSelfAttention.swift). Sums run in eight partial sums, so that they vectorise without
   reassociating one sum (no fast-math); the order is fixed, so results are reproducible. */

/* row[j] = exp(row[j] - shift); returns their sum, a softmax's denominator. */
static float exp_shifted(float *row, long count, float shift) {
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    long i = 0;
    for (; i + 8 <= count; i += 8) {
        for (int l = 0; l < 8; l++) {
            float e = exp_poly(row[i + l] - shift);
            row[i + l] = e;
            lanes[l] += e;
        }
    }
    float sum = 0.0f;
    for (; i < count; i++) {
        float e = exp_poly(row[i] - shift);
        row[i] = e;
        sum += e;
    }
    for (int l = 0; l < 8; l++) sum += lanes[l];
    return sum;
}

/* row = softmax(row) in place; returns the sum of exponentials, and the largest value (the
   shift) through `largest`. */
static float softmax_in_place(float *row, long count, float *largest) {
    /* The largest value, eight lanes at a time: a maximum is the same in any order. */
    float lanes[8];
    for (int l = 0; l < 8; l++) lanes[l] = row[0];
    long j = 0;
    for (; j + 8 <= count; j += 8)
        for (int l = 0; l < 8; l++) lanes[l] = fmaxf(lanes[l], row[j + l]);
    float shift = row[0];
    for (; j < count; j++) shift = fmaxf(shift, row[j]);
    for (int l = 0; l < 8; l++) shift = fmaxf(shift, lanes[l]);
    float total = exp_shifted(row, count, shift);
    float inverse = 1.0f / total;
    for (j = 0; j < count; j++) row[j] *= inverse;
    *largest = shift;
    return total;
}

float tandem_softmax(float *row, long count) {
    if (count <= 0) return -INFINITY;   /* log of an empty sum */
    float largest;
    float total = softmax_in_place(row, count, &largest);
    return largest + logf(total);
}

/* A causal row's visible values rounded up to whole vectors of eight, within its width: the
   masked values up to there join the vector loops (as -inf in forward, whose exponential is 0;
   with p = 0 in backward) instead of a scalar tail. Causal rows have every length from 1 to T,
   so the tails were half of all rows' work: the GPT's attention softmax took 3.2 ms of a
   180 ms step on Zen 3 with them. */
static long whole_vectors(long visible, long width) {
    long padded = (visible + 7) & ~7L;
    return padded < width ? padded : width;
}

void tandem_causal_softmax(float *row, long visible, long width) {
    long padded = whole_vectors(visible, width);
    for (long j = visible; j < padded; j++) row[j] = -INFINITY;
    float largest;
    softmax_in_place(row, padded, &largest);
    for (long j = padded; j < width; j++) row[j] = 0.0f;
}

void tandem_causal_softmax_backward(const float *p, float *ds, long visible, long width) {
    tandem_softmax_backward(p, ds, whole_vectors(visible, width));
    for (long j = visible; j < width; j++) ds[j] = 0.0f;
}

void tandem_softmax_backward(const float *p, float *ds, long count) {
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    long j = 0;
    for (; j + 8 <= count; j += 8)
        for (int l = 0; l < 8; l++) lanes[l] += p[j + l] * ds[j + l];
    float dot = 0.0f;
    for (; j < count; j++) dot += p[j] * ds[j];
    for (int l = 0; l < 8; l++) dot += lanes[l];
    for (j = 0; j < count; j++) ds[j] = p[j] * (ds[j] - dot);
}
