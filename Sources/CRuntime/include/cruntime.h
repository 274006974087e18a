#ifndef TANDEM_CRUNTIME_H
#define TANDEM_CRUNTIME_H
/* What Tandem needs from the operating system below Swift: signal handlers (which must be
   async-signal-safe, so they are C) and a few atomics shared between the training thread and
   the collective watchdog's thread. */
#include <stdint.h>
#include <time.h>

/* ---- Graceful stop ----------------------------------------------------------------------
   SIGTERM, SIGINT and SIGUSR1 ask the job to stop at the next step boundary (mpirun forwards
   SIGUSR1 at once; SIGTERM to mpirun reaches the ranks a second later). A second request,
   more than two seconds after the first, ends the process at once with 128 + signal. */
void tandem_install_stop_signals(void);
/* The first stop signal received, or 0. */
int tandem_stop_signal(void);
/* Test hook: behave as if `signal` had arrived. */
void tandem_request_stop(int signal);

/* ---- What the training thread is doing, for the watchdog -------------------------------- */
typedef struct {
    int64_t sequence;      /* collectives entered so far; the one in progress when inside */
    int64_t inside;        /* 1 while inside a collective */
    int64_t kind;          /* which collective (TandemCollectiveKind) */
    int64_t count;         /* its element count */
    int64_t entered_ns;    /* CLOCK_MONOTONIC when it was entered */
    int64_t step;          /* the training step, -1 before the first */
    int64_t phase;         /* what the rank does between collectives (TandemRankPhase) */
    int64_t phase_ns;      /* since when */
} tandem_watch_state;

static inline int64_t tandem_monotonic_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void tandem_atomic_store(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline int64_t tandem_atomic_load(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

static inline void tandem_watch_enter(tandem_watch_state *s, int64_t kind, int64_t count) {
    tandem_atomic_store(&s->kind, kind);
    tandem_atomic_store(&s->count, count);
    tandem_atomic_store(&s->entered_ns, tandem_monotonic_ns());
    tandem_atomic_store(&s->sequence, s->sequence + 1);
    tandem_atomic_store(&s->inside, 1);
}

static inline void tandem_watch_leave(tandem_watch_state *s) { tandem_atomic_store(&s->inside, 0); }

static inline void tandem_watch_phase(tandem_watch_state *s, int64_t step, int64_t phase) {
    tandem_atomic_store(&s->phase_ns, tandem_monotonic_ns());
    tandem_atomic_store(&s->step, step);
    tandem_atomic_store(&s->phase, phase);
}

/* The watchdog's thread reads the training thread's state field by field; `inside` first, so
   that the collective it describes is the one that was entered. */
static inline tandem_watch_state tandem_watch_snapshot(tandem_watch_state *s) {
    tandem_watch_state copy;
    copy.inside = tandem_atomic_load(&s->inside);
    copy.sequence = tandem_atomic_load(&s->sequence);
    copy.kind = tandem_atomic_load(&s->kind);
    copy.count = tandem_atomic_load(&s->count);
    copy.entered_ns = tandem_atomic_load(&s->entered_ns);
    copy.step = tandem_atomic_load(&s->step);
    copy.phase = tandem_atomic_load(&s->phase);
    copy.phase_ns = tandem_atomic_load(&s->phase_ns);
    return copy;
}

/* Ends the process at once, after writing `line` to stderr: for the watchdog's thread, which
   must not wait for the training thread (stuck in a collective) to unwind. */
void tandem_write_and_exit(const char *line, int code);

/* ---- The processor's vector units ---------------------------------------------------------
   Whether the CPU and the operating system support AVX2 with FMA, and AVX-512 (F, DQ, BW, VL:
   what OpenBLAS's SkylakeX kernels use); 1 or 0. For choosing OpenBLAS's kernels (BLASCore). */
int tandem_cpu_has_avx2_fma(void);
int tandem_cpu_has_avx512(void);

#endif
