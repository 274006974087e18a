#include "ckernels.h"
#include <dnnl.h>
#include <signal.h>
#include <pthread.h>

/* oneDNN runs its products on OpenMP threads, and an OpenMP thread count belongs to the thread
   that sets it. Tandem calls oneDNN only where products run on one thread (`ProductLibrary`),
   so every thread that multiplies (a rank's main thread, each simulated rank's thread) sets one
   for itself, once: otherwise a rank would start one OpenMP thread per core, and two ranks on a
   host would compete for the cores. */
void omp_set_num_threads(int);

static _Thread_local int single_threaded_here = 0;

int tandem_onednn_sgemm(int transpose_a, int transpose_b, long m, long n, long k, float alpha,
                        const float *a, long lda, const float *b, long ldb, float beta, float *c, long ldc) {
    if (!single_threaded_here) {
        omp_set_num_threads(1);
        single_threaded_here = 1;
    }
    /* Tandem's stop signals (CRuntime/stop_signals.c) are held back while oneDNN multiplies:
       a handler that ran on this thread inside oneDNN's generated code corrupted the heap
       (measured: a burst of SIGUSR1 during training crashed 2 of 5 runs with "corrupted size
       vs. prev_size", none of 8 with the signals held; GracefulStopTests). A held signal is
       delivered when the product ends, microseconds later. */
    sigset_t stop, previous;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &stop, &previous);
    dnnl_status_t status = dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha,
                                      a, lda, b, ldb, beta, c, ldc);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    return status == dnnl_success ? 0 : (int)status;
}
