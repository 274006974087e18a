#include "ckernels.h"
#include "transcendental.h"

/* The row loops of causal self-attention (CausalSelfAttention.swift). Sums run in eight partial
   sums, so that they vectorise without reassociating one sum (no fast-math); the order is fixed,
   so results are reproducible. */

float tandem_exp_shifted(float *row, long count, float shift) {
    /* Eight partial sums, so the loop vectorises without reordering one sum (no fast-math). */
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

void tandem_causal_softmax(float *row, long visible, long width) {
    /* The largest value, eight lanes at a time: a maximum is the same in any order. */
    float lanes[8];
    for (int l = 0; l < 8; l++) lanes[l] = row[0];
    long j = 0;
    for (; j + 8 <= visible; j += 8)
        for (int l = 0; l < 8; l++) lanes[l] = fmaxf(lanes[l], row[j + l]);
    float largest = row[0];
    for (; j < visible; j++) largest = fmaxf(largest, row[j]);
    for (int l = 0; l < 8; l++) largest = fmaxf(largest, lanes[l]);
    float inverse = 1.0f / tandem_exp_shifted(row, visible, largest);
    for (j = 0; j < visible; j++) row[j] *= inverse;
    for (j = visible; j < width; j++) row[j] = 0.0f;
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
