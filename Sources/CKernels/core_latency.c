#define _GNU_SOURCE
#include "ckernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

/* Two threads pinned to two cores hand one cache line back and forth: each round trip is two
   transfers of the line between the cores' caches. On a virtual machine this time is not a
   constant: where the hypervisor places the two virtual cores decides it (seen on the 2-core
   target: 80-200 ns at some moments, 420-1,000 ns at others), and a data-parallel step on one
   host pays it for every weight one rank updates and the other reads. */

typedef struct {
    _Alignas(64) _Atomic long turn;
    _Alignas(64) int core;
    long rounds;
    /* The partner's answer before any spinning: 1 pinned, -1 could not pin; 0 not yet. */
    _Atomic int pinned;
} rally;

static int pin_to(int core) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

static void *answer(void *argument) {
    rally *r = argument;
    int pinned = pin_to(r->core);
    atomic_store_explicit(&r->pinned, pinned ? 1 : -1, memory_order_release);
    /* Unpinned, both threads could share one core, where spinning on each other takes a time
       slice per turn: give up before the rally starts. */
    if (!pinned) return NULL;
    for (long i = 0; i < r->rounds; i++) {
        while (atomic_load_explicit(&r->turn, memory_order_acquire) != 2 * i + 1) {}
        atomic_store_explicit(&r->turn, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

double tandem_core_round_trip_ns(int first, int second, long rounds) {
    rally r = {.core = second, .rounds = rounds};
    atomic_init(&r.turn, 0);
    atomic_init(&r.pinned, 0);
    cpu_set_t before;
    if (pthread_getaffinity_np(pthread_self(), sizeof before, &before) != 0) return -1;
    if (!pin_to(first)) return -1;
    double result = -1;
    pthread_t partner;
    if (pthread_create(&partner, NULL, answer, &r) == 0) {
        int pinned;
        while ((pinned = atomic_load_explicit(&r.pinned, memory_order_acquire)) == 0) sched_yield();
        if (pinned > 0) {
            struct timespec start, end;
            clock_gettime(CLOCK_MONOTONIC, &start);
            for (long i = 0; i < rounds; i++) {
                atomic_store_explicit(&r.turn, 2 * i + 1, memory_order_release);
                while (atomic_load_explicit(&r.turn, memory_order_acquire) != 2 * i + 2) {}
            }
            clock_gettime(CLOCK_MONOTONIC, &end);
            double seconds = (double)(end.tv_sec - start.tv_sec) + 1e-9 * (double)(end.tv_nsec - start.tv_nsec);
            result = seconds / (double)rounds * 1e9;
        }
        pthread_join(partner, NULL);
    }
    pthread_setaffinity_np(pthread_self(), sizeof before, &before);
    return result;
}
