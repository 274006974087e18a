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

#endif
