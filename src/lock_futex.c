/*
 * lock_futex.c — the runtime's own blocking primitives on Linux futexes:
 * gort__mutex (Go's lock_futex.go mutex: spin, then sleep), and notes
 * (one-shot events an M sleeps on while idle).
 *
 * These block the OS thread.  They are for the runtime's short critical
 * sections and for parking idle Ms; goroutines block through gopark.
 *
 * Mutex states: 0 unlocked, 1 locked, 2 locked and someone may sleep on the
 * futex.  A locker that has to sleep swaps in 2 so that the unlocker knows
 * to issue a FUTEX_WAKE; an unlocker that sees 1 makes no syscall.
 */
#include "runtime.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __asm__ __volatile__("pause" ::: "memory")
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

enum { MUTEX_UNLOCKED = 0, MUTEX_LOCKED = 1, MUTEX_SLEEPING = 2 };
enum { ACTIVE_SPIN = 4, ACTIVE_SPIN_CNT = 30, PASSIVE_SPIN = 1 };

void gort__procyield(int cycles)
{
    for (int i = 0; i < cycles; i++)
        cpu_relax();
}

void gort__osyield(void)
{
    sched_yield();
}

void gort__usleep(int64_t us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Sleeps while *addr == val, at most ns (ns < 0: no limit).  Spurious
 * wake-ups are allowed; callers re-check. */
void gort__futexsleep(_Atomic uint32_t *addr, uint32_t val, int64_t ns)
{
    struct timespec ts, *tsp = NULL;
    if (ns >= 0) {
        ts.tv_sec = ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        tsp = &ts;
    }
    int saved = errno;
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
    errno = saved;
}

void gort__futexwakeup(_Atomic uint32_t *addr, int cnt)
{
    int saved = errno;
    long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, cnt,
                     NULL, NULL, 0);
    if (r < 0)
        gort__throw("futexwakeup failed");
    errno = saved;
}

/* Takes the lock, leaving state `wait` behind, while it looks free. */
static inline bool try_take(gort__mutex *l, uint32_t wait)
{
    while (atomic_load_explicit(&l->key, memory_order_relaxed) ==
           MUTEX_UNLOCKED) {
        uint32_t v = MUTEX_UNLOCKED;
        if (atomic_compare_exchange_weak_explicit(&l->key, &v, wait,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

void gort__lock(gort__mutex *l)
{
    uint32_t v = MUTEX_UNLOCKED;
    if (likely(atomic_compare_exchange_strong_explicit(
            &l->key, &v, MUTEX_LOCKED, memory_order_acquire,
            memory_order_relaxed)))
        return;

    /* wait is the state we leave behind when we get the lock: once we
     * have slept, others may be sleeping too, so we must keep 2. */
    uint32_t wait = atomic_exchange_explicit(&l->key, MUTEX_LOCKED,
                                             memory_order_acquire);
    if (wait == MUTEX_UNLOCKED)
        return;
    for (;;) {
        for (int i = 0; i < ACTIVE_SPIN; i++) {
            if (try_take(l, wait))
                return;
            gort__procyield(ACTIVE_SPIN_CNT);
        }
        for (int i = 0; i < PASSIVE_SPIN; i++) {
            if (try_take(l, wait))
                return;
            gort__osyield();
        }
        v = atomic_exchange_explicit(&l->key, MUTEX_SLEEPING,
                                     memory_order_acquire);
        if (v == MUTEX_UNLOCKED)
            return;
        wait = MUTEX_SLEEPING;
        gort__futexsleep(&l->key, MUTEX_SLEEPING, -1);
    }
}

void gort__unlock(gort__mutex *l)
{
    uint32_t v = atomic_exchange_explicit(&l->key, MUTEX_UNLOCKED,
                                          memory_order_release);
    if (unlikely(v == MUTEX_UNLOCKED))
        gort__throw("unlock of unlocked lock");
    if (v == MUTEX_SLEEPING)
        gort__futexwakeup(&l->key, 1);
}

/* Notes: key 0 = not yet signalled, 1 = signalled. */
void gort__noteclear(gort__note *n)
{
    atomic_store_explicit(&n->key, 0, memory_order_relaxed);
}

void gort__notewakeup(gort__note *n)
{
    uint32_t old = atomic_exchange_explicit(&n->key, 1, memory_order_release);
    if (old != 0)
        gort__throw("notewakeup - double wakeup");
    gort__futexwakeup(&n->key, 1);
}

void gort__notesleep(gort__note *n)
{
    while (atomic_load_explicit(&n->key, memory_order_acquire) == 0)
        gort__futexsleep(&n->key, 0, -1);
}

