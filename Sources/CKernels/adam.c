#include "ckernels.h"
#include <math.h>

void tandem_adam_update(float *restrict theta, const float *restrict grad, float *restrict m,
                        float *restrict v, size_t count, float grad_scale, float beta1, float beta2,
                        float eps, float l2, float shrink, float step_size, float correction2) {
    for (size_t i = 0; i < count; i++) {
        float g = grad[i] * grad_scale + l2 * theta[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        theta[i] = theta[i] * shrink - step_size * mi / (sqrtf(vi) / correction2 + eps);
    }
}
