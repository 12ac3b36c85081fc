/*
 * gort.h — Go's runtime, for C.
 *
 * The one public header of gort.  Everything it declares is named gort_ or
 * GORT_.  The names and meanings below are a contract: they are extended,
 * never renamed.  See docs/ for one page per subsystem.
 *
 * Threads and goroutines
 *   gort multiplexes goroutines (cheap, each with its own stack) over a few
 *   OS threads (Ms) with an M:N work-stealing scheduler modelled on Go's GMP.
 *   A goroutine may resume on a different OS thread after any call that can
 *   block or yield.  Two consequences for C code:
 *     - errno: glibc lets compilers cache errno's address across calls, which
 *       would read the old thread's errno after a move.  This header
 *       redefines errno through gort_errno_location(), which is not declared
 *       const, so code that includes gort.h re-reads the address each time;
 *       the runtime also saves and restores errno per goroutine on every
 *       switch.  Include gort.h after <errno.h>.
 *     - _Thread_local / __thread data belongs to the OS thread, not to the
 *       goroutine.  A goroutine that needs thread-local state to stay put
 *       calls gort_lock_os_thread().
 */
#ifndef GORT_H
#define GORT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GORT_EXPORT __attribute__((visibility("default")))
#else
#define GORT_EXPORT
#endif

#if defined(__cplusplus)
#define GORT_NORETURN [[noreturn]]
#else
#define GORT_NORETURN _Noreturn
#endif

/* ------------------------------------------------------------------------ */
/* errno                                                                    */
/* ------------------------------------------------------------------------ */

/* The calling thread's errno, read without the const attribute glibc gives
 * __errno_location, so that a compiler re-reads it after a call that may
 * have moved the goroutine to another thread. */
GORT_EXPORT int *gort_errno_location(void);
#undef errno
#define errno (*gort_errno_location())

/* ------------------------------------------------------------------------ */
/* Runtime and goroutines                                                   */
/* ------------------------------------------------------------------------ */

/* Starts the runtime with GORTMAXPROCS (or the CPU count) Ps, runs
 * main_fn(arg) as goroutine 1 and returns 0 when it returns.  Other
 * goroutines are abandoned, as in Go: they never run again and their
 * defers do not run.  gort_run may be called again after it returned.
 * Returns -1 with errno set if the runtime cannot start: EINVAL for a NULL
 * main_fn, EBUSY when called from a goroutine or while another gort_run is
 * in progress, EAGAIN or ENOMEM when threads or memory are missing. */
GORT_EXPORT int gort_run(void (*main_fn)(void *), void *arg);

typedef struct gort_attr {
    size_t stack_size;  /* bytes; 0 = default (GORTSTACK or 256 KiB).
                           Rounded up to whole pages; must be between
                           GORT_STACK_MIN and GORT_STACK_MAX. */
    const char *name;   /* shown in goroutine dumps; copied; NULL = none */
} gort_attr;

#define GORT_STACK_MIN ((size_t)16 * 1024)
#define GORT_STACK_MAX ((size_t)1024 * 1024 * 1024)

/* Starts fn(arg) in a new goroutine and returns its id (> 0).  Returns -1
 * with errno = EINVAL (NULL fn, bad attribute), ENOMEM (no memory for the
 * goroutine or its stack) or EAGAIN.  Never aborts on exhaustion.  May be
 * called from any thread; goroutines created before gort_run start when it
 * starts. */
GORT_EXPORT int64_t gort_go(void (*fn)(void *), void *arg);
GORT_EXPORT int64_t gort_go_ex(void (*fn)(void *), void *arg,
                               const gort_attr *attr);

/* Go's runtime.Gosched: lets other goroutines run; the caller stays
 * runnable and resumes later, possibly on another thread. */
GORT_EXPORT void gort_yield(void);

/* Go's runtime.Goexit: runs the calling goroutine's pending deferred calls,
 * then ends it.  Goexit from goroutine 1 ends it without gort_run returning;
 * once every other goroutine has finished, that is the fatal error
 * "no goroutines (main called runtime.Goexit) - deadlock!".  Called outside
 * a goroutine it is a fatal error. */
GORT_EXPORT GORT_NORETURN void gort_goexit(void);

/* The current goroutine's id; 0 on a thread that is not running a
 * goroutine. */
GORT_EXPORT int64_t gort_self(void);

/* GOMAXPROCS: n > 0 sets the number of Ps (at most GORT_MAXPROCS_MAX) and
 * returns the previous value; n == 0 returns the current value and changes
 * nothing; n < 0 or n > GORT_MAXPROCS_MAX returns -1 with errno = EINVAL.
 * Before gort_run it sets the value the next gort_run starts with. */
#define GORT_MAXPROCS_MAX 1024
GORT_EXPORT int gort_maxprocs(int n);

/* Number of goroutines that exist (running, runnable or blocked). */
GORT_EXPORT int64_t gort_num_goroutine(void);

/* Wires the calling goroutine to its current OS thread: it runs only
 * there, and no other goroutine runs there, until as many
 * gort_unlock_os_thread calls as lock calls were made.  A goroutine that
 * ends while locked takes its thread with it (the thread exits), as in Go.
 * Outside a goroutine both calls do nothing. */
GORT_EXPORT void gort_lock_os_thread(void);
GORT_EXPORT void gort_unlock_os_thread(void);

/* Per-P counters, for tests and tools.  gort_proc_stats fills up to n
 * entries of out (one per P, index = P id) and returns how many Ps exist. */
typedef struct gort_proc_stat {
    uint64_t schedtick;     /* goroutines started from the run queues */
    uint64_t steals;        /* successful steals by this P */
} gort_proc_stat;
GORT_EXPORT int gort_proc_stats(gort_proc_stat *out, int n);

/* ------------------------------------------------------------------------ */
/* Time (the part the scheduler needs now; timers come with sysmon)         */
/* ------------------------------------------------------------------------ */

#define GORT_NS  ((int64_t)1)
#define GORT_US  ((int64_t)1000)
#define GORT_MS  ((int64_t)1000 * 1000)
#define GORT_SEC ((int64_t)1000 * 1000 * 1000)

/* Monotonic clock in nanoseconds. */
GORT_EXPORT int64_t gort_nanotime(void);

/* ------------------------------------------------------------------------ */
/* sync: zero-initialised, blocking parks the goroutine (a plain thread     */
/* that is not a goroutine blocks on a futex instead).                      */
/* ------------------------------------------------------------------------ */

/* Go's sync.Mutex.  Unlocking an unlocked mutex is the fatal error
 * "sync: unlock of unlocked mutex".  Not recursive; any goroutine may
 * unlock it (as in Go). */
typedef struct gort_mutex {
    int32_t state;
    uint32_t sema;
} gort_mutex;
#define GORT_MUTEX_INIT {0, 0}
GORT_EXPORT void gort_mutex_lock(gort_mutex *m);
GORT_EXPORT void gort_mutex_unlock(gort_mutex *m);
GORT_EXPORT bool gort_mutex_trylock(gort_mutex *m);

/* Go's sync.RWMutex: writers exclude readers and each other; a blocked
 * writer keeps new readers out.  Misuse is fatal with Go's words
 * ("sync: RUnlock of unlocked RWMutex", "sync: Unlock of unlocked
 * RWMutex"). */
typedef struct gort_rwmutex {
    gort_mutex w;
    uint32_t writer_sem;
    uint32_t reader_sem;
    int32_t reader_count;
    int32_t reader_wait;
} gort_rwmutex;
GORT_EXPORT void gort_rwmutex_lock(gort_rwmutex *rw);
GORT_EXPORT void gort_rwmutex_unlock(gort_rwmutex *rw);
GORT_EXPORT void gort_rwmutex_rlock(gort_rwmutex *rw);
GORT_EXPORT void gort_rwmutex_runlock(gort_rwmutex *rw);
GORT_EXPORT bool gort_rwmutex_trylock(gort_rwmutex *rw);
GORT_EXPORT bool gort_rwmutex_tryrlock(gort_rwmutex *rw);

/* Go's sync.WaitGroup.  A negative counter is the panic
 * "sync: negative WaitGroup counter". */
typedef struct gort_waitgroup {
    uint64_t state;         /* counter in the high 32 bits, waiters low */
    uint32_t sema;
} gort_waitgroup;
GORT_EXPORT void gort_waitgroup_add(gort_waitgroup *wg, int64_t delta);
GORT_EXPORT void gort_waitgroup_done(gort_waitgroup *wg);
GORT_EXPORT void gort_waitgroup_wait(gort_waitgroup *wg);

/* Go's sync.Once: fn(arg) runs exactly once; every caller returns after
 * it has finished. */
typedef struct gort_once {
    uint32_t done;
    gort_mutex m;
} gort_once;
GORT_EXPORT void gort_once_do(gort_once *o, void (*fn)(void *), void *arg);

/* Go's sync.Cond, with the lock passed to wait (as pthread_cond_wait):
 * wait unlocks mu, parks until signal/broadcast, then relocks mu.
 * Waiters are woken in FIFO order. */
typedef struct gort_cond {
    uint32_t lock;
    uint32_t wait_ticket;
    uint32_t notify_ticket;
    void *head, *tail;
} gort_cond;
GORT_EXPORT void gort_cond_wait(gort_cond *c, gort_mutex *mu);
GORT_EXPORT void gort_cond_signal(gort_cond *c);
GORT_EXPORT void gort_cond_broadcast(gort_cond *c);

#ifdef __cplusplus
}
#endif
#endif /* GORT_H */
