#include "ckernels.h"

/* The rows of a batch lie at random places in a data set of tens of megabytes, so copying them
   one after the other waits on memory for every row (about 1 ns a byte measured on the 2-core
   target, nearly all of the step's data phase). Asking for the rows a dozen ahead while converting
   this one keeps several rows in flight at once. */
enum { rows_ahead = 12, line = 64 };

void tandem_gather_bytes(const unsigned char *data, const long *rows, long count, long features, float scale,
                         float *out) {
    for (long i = 0; i < count; i++) {
        if (i + rows_ahead < count) {
            const unsigned char *next = data + rows[i + rows_ahead] * features;
            for (long b = 0; b < features; b += line) __builtin_prefetch(next + b);
            __builtin_prefetch(next + features - 1);
        }
        const unsigned char *src = data + rows[i] * features;
        float *dst = out + i * features;
        for (long j = 0; j < features; j++) dst[j] = (float)src[j] * scale;
    }
}
