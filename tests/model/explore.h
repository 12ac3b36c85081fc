/*
 * explore.h — a small exhaustive interleaving explorer (the idea of Tokio's
 * loom and of CHESS), for model-checking gort's lock-free code as it is
 * (src/runq.h compiled against these hooks).  See explore.c for how it
 * works and docs/model.md for what it checks.
 *
 * A scenario has up to MC_MAXT threads (mc_spawn from its setup function).
 * Every shared-memory operation of the code under test is an MC_* macro:
 * a scheduling point (the explorer may switch threads there), then the
 * operation, then the happens-before bookkeeping of its memory order.
 */
#ifndef GORT_MODEL_EXPLORE_H
#define GORT_MODEL_EXPLORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define MC_MAXT 4

/* Scheduling point: label names the operation (for failure traces). */
void mc_point(const char *label, int line);
/* Blocks the calling thread until another thread stores or does an RMW
 * (a spin-wait, explored as one blocked step instead of a loop). */
void mc_wait_store(void);

/* Happens-before bookkeeping of an atomic access to loc with order mo. */
void mc_hb_load(const volatile void *loc, memory_order mo);
void mc_hb_store(const volatile void *loc, memory_order mo);
void mc_hb_rmw(const volatile void *loc, memory_order mo);

/* Plain (non-atomic) data: a write by one thread, and a read by another
 * that must happen after it (else: reported as a race). */
void mc_write(const void *loc);
void mc_read(const void *loc, const char *what);

/* A mutex (the global run queue's sched.lock, a channel's lock): a thread
 * that finds it held is not runnable until it is released. */
typedef struct mc_mutex {
    int owner;                  /* -1: free */
} mc_mutex;
void mc_lock(mc_mutex *mu);
void mc_unlock(mc_mutex *mu);

/* Threads of the current execution. */
void mc_spawn(void (*fn)(void *), void *arg);
int mc_self(void);

/* Reports a violated invariant with the interleaving that led to it, and
 * exits 1. */
_Noreturn void mc_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
#define MC_ASSERT(cond, ...) \
    do {                     \
        if (!(cond))         \
            mc_fail(__VA_ARGS__); \
    } while (0)

/* One scenario: setup() spawns the threads of one execution (it runs
 * again before every execution, so it must reset all state); check() runs
 * after all threads finished.  bound: the most preemptions an
 * interleaving may contain (-1: none, explore all). */
typedef struct mc_scenario {
    const char *name;
    void (*setup)(void);
    void (*check)(void);
    int bound;
} mc_scenario;

/* Explores every interleaving of sc within its bound; returns the number
 * of executions (complete interleavings) explored.  Exits on a failure. */
uint64_t mc_explore(const mc_scenario *sc);

#define MC_LOAD(obj, mo)                                           \
    __extension__({                                                \
        mc_point("load " #obj, __LINE__);                          \
        __typeof__(atomic_load_explicit(obj, memory_order_relaxed)) \
            mc_v_ = atomic_load_explicit(obj, memory_order_relaxed); \
        mc_hb_load(obj, mo);                                       \
        mc_v_;                                                     \
    })
#define MC_STORE(obj, v, mo)                                       \
    __extension__({                                                \
        mc_point("store " #obj, __LINE__);                         \
        atomic_store_explicit(obj, v, memory_order_relaxed);       \
        mc_hb_store(obj, mo);                                      \
    })
/* CAS: success is a read-modify-write with order s, failure a load with
 * order f.  The weak form never fails spuriously here. */
#define MC_CAS(obj, exp, des, s, f)                                \
    __extension__({                                                \
        mc_point("cas " #obj, __LINE__);                           \
        bool mc_ok_ = atomic_compare_exchange_strong_explicit(     \
            obj, exp, des, memory_order_relaxed, memory_order_relaxed); \
        if (mc_ok_)                                                \
            mc_hb_rmw(obj, s);                                     \
        else                                                       \
            mc_hb_load(obj, f);                                    \
        mc_ok_;                                                    \
    })
#define MC_FETCH_ADD(obj, v, mo)                                   \
    __extension__({                                                \
        mc_point("fetch_add " #obj, __LINE__);                     \
        __typeof__(atomic_load_explicit(obj, memory_order_relaxed)) \
            mc_v_ = atomic_fetch_add_explicit(obj, v, memory_order_relaxed); \
        mc_hb_rmw(obj, mo);                                        \
        mc_v_;                                                     \
    })

#endif /* GORT_MODEL_EXPLORE_H */
