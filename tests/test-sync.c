/*
 * test-sync.c — the sync package and the semaphores under it: mutual
 * exclusion, reader/writer sharing and exclusion, WaitGroup release and
 * misuse, Once under contention, Cond FIFO signalling, plain threads mixing
 * with goroutines, and sema's per-address queues.
 *
 * Every test starts the runtime itself (tests run in forked children).
 * Exclusion is checked with plain, non-atomic data and yields inside the
 * critical sections, so a broken lock shows up as a wrong count even on one
 * P.  Orderings that depend on who is queued are made deterministic by
 * waiting for the observable sign of queueing (a ticket taken, a waiter
 * counted in the state word) before acting; nothing asserts on time.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime.h"
#include "task.h"

/* Runs main_fn under gort_run with n Ps and checks it returned 0. */
static void run_procs(int n, void (*main_fn)(void *), void *arg)
{
    ASSERT(gort_maxprocs(n) >= 0);
    ASSERT_EQ(gort_run(main_fn, arg), 0);
}

#define go_or_die test_go

/* Atomic views of public fields, for tests that wait on internal state. */
static int32_t load_i32(int32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static uint32_t load_u32(uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static uint64_t load_u64(uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Lets others run: other goroutines (gort_yield) and, for plain threads
 * and Ms, the OS scheduler. */
static void pause_a_little(void)
{
    gort_yield();
    sched_yield();
}

/* ------------------------------------------------------------------------ */
/* Mutex                                                                    */
/* ------------------------------------------------------------------------ */

enum { MU_GOROUTINES = 16, MU_ITERS = 20000 };

typedef struct {
    gort_mutex mu;
    gort_waitgroup wg;
    int64_t counter;        /* guarded by mu; deliberately not atomic */
    int inside;             /* goroutines inside the critical section */
} mutex_stress;

static void mutex_worker(void *arg)
{
    mutex_stress *s = arg;
    for (int i = 0; i < MU_ITERS; i++) {
        if (i % 7 == 3) {
            /* Mix in trylock: it must never let a second one in. */
            while (!gort_mutex_trylock(&s->mu))
                gort_yield();
        } else {
            gort_mutex_lock(&s->mu);
        }
        ASSERT_EQ(s->inside, 0);
        s->inside = 1;
        int64_t v = s->counter;
        /* Yield while holding the lock now and then, so that others
         * queue on the semaphore and the read-modify-write spans a
         * switch: without exclusion increments would be lost. */
        if (i % 64 == 0)
            gort_yield();
        /* A long hold now and then makes waiters wait > 1 ms and drives
         * the mutex into starvation mode and back. */
        if (i % 5000 == 4999) {
            int64_t t0 = gort_nanotime();
            while (gort_nanotime() - t0 < 2 * GORT_MS)
                ;
        }
        s->counter = v + 1;
        s->inside = 0;
        gort_mutex_unlock(&s->mu);
        /* And yield outside it, so that others get the mutex while we
         * are away and we have to queue for it when we come back. */
        if (i % 16 == 8)
            gort_yield();
    }
    gort_waitgroup_done(&s->wg);
}

static void mutex_stress_main(void *arg)
{
    mutex_stress *s = arg;
    gort_waitgroup_add(&s->wg, MU_GOROUTINES);
    for (int i = 0; i < MU_GOROUTINES; i++)
        go_or_die(mutex_worker, s);
    gort_waitgroup_wait(&s->wg);
    gort_mutex_lock(&s->mu);
    ASSERT_EQ(s->counter, (int64_t)MU_GOROUTINES * MU_ITERS);
    gort_mutex_unlock(&s->mu);
    ASSERT_EQ(load_i32(&s->mu.state), 0);
}

static int mutex_stress_run(int procs)
{
    static mutex_stress s;
    memset(&s, 0, sizeof s);
    run_procs(procs, mutex_stress_main, &s);
    ASSERT_EQ(s.counter, (int64_t)MU_GOROUTINES * MU_ITERS);
    return 0;
}

TEST_IMPL(sync_mutex_1p) { return mutex_stress_run(1); }
TEST_IMPL(sync_mutex_2p) { return mutex_stress_run(2); }
TEST_IMPL(sync_mutex_4p) { return mutex_stress_run(4); }
TEST_IMPL(sync_mutex_8p) { return mutex_stress_run(8); }

typedef struct {
    gort_mutex mu;
    gort_waitgroup wg;
    int tried;
    bool got;
} trylock_ctx;

static void trylock_other(void *arg)
{
    trylock_ctx *c = arg;
    c->got = gort_mutex_trylock(&c->mu);
    c->tried = 1;
    gort_waitgroup_done(&c->wg);
}

static void trylock_main(void *arg)
{
    trylock_ctx *c = arg;
    ASSERT(gort_mutex_trylock(&c->mu));
    ASSERT(!gort_mutex_trylock(&c->mu));
    gort_mutex_unlock(&c->mu);
    ASSERT(gort_mutex_trylock(&c->mu));
    gort_mutex_unlock(&c->mu);

    /* Held by us: another goroutine's trylock fails without blocking. */
    gort_mutex_lock(&c->mu);
    gort_waitgroup_add(&c->wg, 1);
    go_or_die(trylock_other, c);
    gort_waitgroup_wait(&c->wg);
    ASSERT_EQ(c->tried, 1);
    ASSERT(!c->got);
    gort_mutex_unlock(&c->mu);

    /* Free: it succeeds, and then we cannot take it. */
    gort_waitgroup_add(&c->wg, 1);
    go_or_die(trylock_other, c);
    gort_waitgroup_wait(&c->wg);
    ASSERT(c->got);
    ASSERT(!gort_mutex_trylock(&c->mu));
    gort_mutex_unlock(&c->mu);      /* any goroutine may unlock, as in Go */
    ASSERT_EQ(load_i32(&c->mu.state), 0);
}

TEST_IMPL(sync_mutex_trylock)
{
    static trylock_ctx c;
    run_procs(2, trylock_main, &c);
    return 0;
}

/* Runs child_fn in a forked child and checks it died with status 2 and
 * printed want. */
static void expect_exit2(void (*child_fn)(void *), const char *want)
{
    char out[8192];
    int st = test_run_child(child_fn, NULL, out, sizeof out, 30);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 2)
        fprintf(stderr, "child output:\n%s\n", out);
    ASSERT(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 2);
    ASSERT_STR_CONTAINS(out, want);
}

static void unlock_unlocked_main(void *arg)
{
    (void)arg;
    static gort_mutex mu;
    gort_mutex_lock(&mu);
    gort_mutex_unlock(&mu);
    gort_mutex_unlock(&mu);
    printf("survived a double unlock\n");
}

static void unlock_unlocked_child(void *arg)
{
    (void)arg;
    gort_run(unlock_unlocked_main, NULL);
}

TEST_IMPL(sync_mutex_unlock_unlocked)
{
    expect_exit2(unlock_unlocked_child,
                 "fatal error: sync: unlock of unlocked mutex");
    return 0;
}

/* A plain thread (not a goroutine) contends with goroutines: first it
 * blocks on a mutex a goroutine holds, then a goroutine blocks on the mutex
 * while the thread holds it. */
typedef struct {
    gort_mutex mu;
    int value;                  /* guarded by mu */
    _Atomic int thread_holds;
    _Atomic int release;
    int seen;
} plain_mutex_ctx;

static void *plain_mutex_thread(void *arg)
{
    plain_mutex_ctx *c = arg;
    ASSERT_EQ(gort_self(), 0);
    /* Phase 1: the main goroutine holds mu; we block until it unlocks. */
    gort_mutex_lock(&c->mu);
    c->seen = c->value;         /* the goroutine wrote 1 before unlocking */
    c->value = 2;
    gort_mutex_unlock(&c->mu);

    /* Phase 2: we hold it (fast path: nothing contends yet) while a
     * goroutine blocks on it, then let go. */
    gort_mutex_lock(&c->mu);
    atomic_store(&c->thread_holds, 1);
    while (atomic_load(&c->release) == 0)
        sched_yield();
    /* Give the goroutine time to park: it must find the mutex held. */
    usleep(20000);
    c->value = 3;
    gort_mutex_unlock(&c->mu);
    return NULL;
}

static void plain_mutex_main(void *arg)
{
    plain_mutex_ctx *c = arg;
    pthread_t th;
    gort_mutex_lock(&c->mu);
    ASSERT_EQ(pthread_create(&th, NULL, plain_mutex_thread, c), 0);
    /* Wait until the thread has announced itself as a waiter. */
    while ((load_i32(&c->mu.state) >> 3) == 0)
        pause_a_little();
    c->value = 1;
    gort_mutex_unlock(&c->mu);

    while (atomic_load(&c->thread_holds) == 0)
        pause_a_little();
    atomic_store(&c->release, 1);
    /* Parks this goroutine (every M may go idle: the deadlock detector
     * must know a plain thread holds the mutex). */
    gort_mutex_lock(&c->mu);
    ASSERT_EQ(c->seen, 1);
    ASSERT_EQ(c->value, 3);
    gort_mutex_unlock(&c->mu);
    ASSERT_EQ(pthread_join(th, NULL), 0);
}

TEST_IMPL(sync_mutex_plain_thread)
{
    static plain_mutex_ctx c;
    run_procs(1, plain_mutex_main, &c);
    memset(&c, 0, sizeof c);
    run_procs(4, plain_mutex_main, &c);
    return 0;
}

/* A plain thread that only ever takes the mutex on the fast path holds it
 * while the only goroutine blocks on it: every M goes idle, and the deadlock
 * detector must not call that a deadlock (the thread will unlock). */
typedef struct {
    gort_mutex mu;
    _Atomic int holds;
    int value;                  /* mu */
} holder_ctx;

static void *holder_thread(void *arg)
{
    holder_ctx *c = arg;
    gort_mutex_lock(&c->mu);
    atomic_store(&c->holds, 1);
    usleep(50000);              /* the goroutine parks meanwhile */
    c->value = 7;
    gort_mutex_unlock(&c->mu);
    return NULL;
}

static void holder_main(void *arg)
{
    holder_ctx *c = arg;
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, holder_thread, c), 0);
    while (atomic_load(&c->holds) == 0)
        pause_a_little();
    gort_mutex_lock(&c->mu);
    ASSERT_EQ(c->value, 7);
    gort_mutex_unlock(&c->mu);
    ASSERT_EQ(pthread_join(th, NULL), 0);
}

TEST_IMPL(sync_mutex_plain_thread_holder)
{
    static holder_ctx c;
    run_procs(1, holder_main, &c);
    return 0;
}

/* Plain threads and goroutines hammer one mutex together. */
enum { MIX_THREADS = 3, MIX_GOROUTINES = 6, MIX_ITERS = 20000 };

typedef struct {
    gort_mutex mu;
    int64_t counter;            /* guarded by mu */
    gort_waitgroup wg;
} mix_ctx;

static void mix_step(mix_ctx *c, int i)
{
    gort_mutex_lock(&c->mu);
    int64_t v = c->counter;
    if (i % 128 == 0) {
        gort_yield();
        sched_yield();
    }
    c->counter = v + 1;
    gort_mutex_unlock(&c->mu);
}

static void *mix_thread(void *arg)
{
    for (int i = 0; i < MIX_ITERS; i++)
        mix_step(arg, i);
    return NULL;
}

static void mix_goroutine(void *arg)
{
    mix_ctx *c = arg;
    for (int i = 0; i < MIX_ITERS; i++)
        mix_step(c, i);
    gort_waitgroup_done(&c->wg);
}

static void mix_main(void *arg)
{
    mix_ctx *c = arg;
    pthread_t th[MIX_THREADS];
    gort_waitgroup_add(&c->wg, MIX_GOROUTINES);
    for (int i = 0; i < MIX_THREADS; i++)
        ASSERT_EQ(pthread_create(&th[i], NULL, mix_thread, c), 0);
    for (int i = 0; i < MIX_GOROUTINES; i++)
        go_or_die(mix_goroutine, c);
    gort_waitgroup_wait(&c->wg);
    for (int i = 0; i < MIX_THREADS; i++)
        ASSERT_EQ(pthread_join(th[i], NULL), 0);
    ASSERT_EQ(c->counter, (int64_t)(MIX_THREADS + MIX_GOROUTINES) * MIX_ITERS);
}

TEST_IMPL(sync_mutex_threads_and_goroutines)
{
    static mix_ctx c;
    run_procs(2, mix_main, &c);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* RWMutex                                                                  */
/* ------------------------------------------------------------------------ */

enum { RW_READERS = 6 };

typedef struct {
    gort_rwmutex rw;
    gort_waitgroup wg;
    _Atomic int inside;
    _Atomic int max_inside;
} rw_share_ctx;

/* Every reader holds the read lock until all of them hold it at once: if
 * readers excluded each other this would never finish. */
static void rw_share_reader(void *arg)
{
    rw_share_ctx *c = arg;
    gort_rwmutex_rlock(&c->rw);
    int n = atomic_fetch_add(&c->inside, 1) + 1;
    int m = atomic_load(&c->max_inside);
    while (n > m && !atomic_compare_exchange_weak(&c->max_inside, &m, n))
        ;
    while (atomic_load(&c->max_inside) < RW_READERS)
        pause_a_little();
    atomic_fetch_sub(&c->inside, 1);
    gort_rwmutex_runlock(&c->rw);
    gort_waitgroup_done(&c->wg);
}

static void rw_share_main(void *arg)
{
    rw_share_ctx *c = arg;
    gort_waitgroup_add(&c->wg, RW_READERS);
    for (int i = 0; i < RW_READERS; i++)
        go_or_die(rw_share_reader, c);
    gort_waitgroup_wait(&c->wg);
    ASSERT_EQ(atomic_load(&c->max_inside), RW_READERS);
    ASSERT_EQ(atomic_load(&c->inside), 0);
    /* All gone: a writer gets in at once. */
    ASSERT(gort_rwmutex_trylock(&c->rw));
    gort_rwmutex_unlock(&c->rw);
}

TEST_IMPL(sync_rwmutex_readers_share)
{
    static rw_share_ctx c;
    run_procs(1, rw_share_main, &c);
    memset(&c, 0, sizeof c);
    run_procs(4, rw_share_main, &c);
    return 0;
}

enum { RWX_READERS = 8, RWX_WRITERS = 4, RWX_ITERS = 3000 };

typedef struct {
    gort_rwmutex rw;
    gort_waitgroup wg;
    _Atomic int readers;        /* readers inside */
    _Atomic int writers;        /* writers inside */
    _Atomic int max_readers;
    int64_t data;               /* written only under the write lock */
    _Atomic int violations;
} rwx_ctx;

static void rwx_reader(void *arg)
{
    rwx_ctx *c = arg;
    for (int i = 0; i < RWX_ITERS; i++) {
        if (i % 5 == 0) {
            while (!gort_rwmutex_tryrlock(&c->rw))
                gort_yield();
        } else {
            gort_rwmutex_rlock(&c->rw);
        }
        int n = atomic_fetch_add(&c->readers, 1) + 1;
        int m = atomic_load(&c->max_readers);
        while (n > m && !atomic_compare_exchange_weak(&c->max_readers, &m, n))
            ;
        if (atomic_load(&c->writers) != 0)
            atomic_fetch_add(&c->violations, 1);
        int64_t d = c->data;
        if (i % 16 == 0)
            gort_yield();
        /* Now and then hold the read lock while parked, so that readers
         * queued on this P surely join us (a yield returns at once when
         * nobody else is queued here, and readers on other Ps may never
         * overlap in time on a slow emulator). */
        if (i % 64 == 1)
            gort_sleep(20 * GORT_US);
        /* No writer may change data while we hold the read lock. */
        if (c->data != d || atomic_load(&c->writers) != 0)
            atomic_fetch_add(&c->violations, 1);
        atomic_fetch_sub(&c->readers, 1);
        gort_rwmutex_runlock(&c->rw);
    }
    gort_waitgroup_done(&c->wg);
}

static void rwx_writer(void *arg)
{
    rwx_ctx *c = arg;
    for (int i = 0; i < RWX_ITERS / 4; i++) {
        if (i % 5 == 0) {
            while (!gort_rwmutex_trylock(&c->rw))
                gort_yield();
        } else {
            gort_rwmutex_lock(&c->rw);
        }
        if (atomic_fetch_add(&c->writers, 1) != 0 ||
            atomic_load(&c->readers) != 0)
            atomic_fetch_add(&c->violations, 1);
        int64_t d = c->data;
        if (i % 8 == 0)
            gort_yield();
        c->data = d + 1;
        if (atomic_load(&c->readers) != 0)
            atomic_fetch_add(&c->violations, 1);
        atomic_fetch_sub(&c->writers, 1);
        gort_rwmutex_unlock(&c->rw);
    }
    gort_waitgroup_done(&c->wg);
}

static void rwx_main(void *arg)
{
    rwx_ctx *c = arg;
    gort_waitgroup_add(&c->wg, RWX_READERS + RWX_WRITERS);
    for (int i = 0; i < RWX_READERS + RWX_WRITERS; i++)
        go_or_die(i % 3 == 2 ? rwx_writer : rwx_reader, c);
    gort_waitgroup_wait(&c->wg);
}

static int rwx_run(int procs)
{
    static rwx_ctx c;
    memset(&c, 0, sizeof c);
    run_procs(procs, rwx_main, &c);
    ASSERT_EQ(atomic_load(&c.violations), 0);
    ASSERT_EQ(c.data, (int64_t)RWX_WRITERS * (RWX_ITERS / 4));
    /* Readers yield while holding the read lock, so others join them. */
    ASSERT_GT(atomic_load(&c.max_readers), 1);
    ASSERT_EQ(load_i32(&c.rw.reader_count), 0);
    ASSERT_EQ(load_i32(&c.rw.w.state), 0);
    return 0;
}

TEST_IMPL(sync_rwmutex_1p) { return rwx_run(1); }
TEST_IMPL(sync_rwmutex_2p) { return rwx_run(2); }
TEST_IMPL(sync_rwmutex_4p) { return rwx_run(4); }
TEST_IMPL(sync_rwmutex_8p) { return rwx_run(8); }

/* A writer waiting for readers keeps new readers out (no writer
 * starvation), and they all get in once it is done. */
typedef struct {
    gort_rwmutex rw;
    gort_waitgroup wg;
    _Atomic int writer_done;
    _Atomic int late_reader_in;
    int late_saw_writer;
} rwpref_ctx;

static void rwpref_writer(void *arg)
{
    rwpref_ctx *c = arg;
    gort_rwmutex_lock(&c->rw);
    ASSERT_EQ(atomic_load(&c->late_reader_in), 0);
    atomic_store(&c->writer_done, 1);
    gort_rwmutex_unlock(&c->rw);
    gort_waitgroup_done(&c->wg);
}

static void rwpref_late_reader(void *arg)
{
    rwpref_ctx *c = arg;
    gort_rwmutex_rlock(&c->rw);     /* queues behind the writer */
    c->late_saw_writer = atomic_load(&c->writer_done);
    atomic_store(&c->late_reader_in, 1);
    gort_rwmutex_runlock(&c->rw);
    gort_waitgroup_done(&c->wg);
}

static void rwpref_main(void *arg)
{
    rwpref_ctx *c = arg;
    gort_rwmutex_rlock(&c->rw);
    gort_waitgroup_add(&c->wg, 2);
    go_or_die(rwpref_writer, c);
    /* The writer has announced itself once reader_count goes negative. */
    while (load_i32(&c->rw.reader_count) >= 0)
        pause_a_little();
    ASSERT(!gort_rwmutex_tryrlock(&c->rw));
    ASSERT(!gort_rwmutex_trylock(&c->rw));
    go_or_die(rwpref_late_reader, c);
    /* Let the late reader run and queue (it cannot get in). */
    for (int i = 0; i < 100; i++)
        pause_a_little();
    ASSERT_EQ(atomic_load(&c->late_reader_in), 0);
    ASSERT_EQ(atomic_load(&c->writer_done), 0);
    gort_rwmutex_runlock(&c->rw);   /* last reader: the writer goes */
    gort_waitgroup_wait(&c->wg);
    ASSERT_EQ(c->late_saw_writer, 1);
    ASSERT(gort_rwmutex_tryrlock(&c->rw));
    ASSERT(gort_rwmutex_tryrlock(&c->rw));
    ASSERT(!gort_rwmutex_trylock(&c->rw));
    gort_rwmutex_runlock(&c->rw);
    gort_rwmutex_runlock(&c->rw);
    ASSERT(gort_rwmutex_trylock(&c->rw));
    ASSERT(!gort_rwmutex_tryrlock(&c->rw));
    gort_rwmutex_unlock(&c->rw);
}

TEST_IMPL(sync_rwmutex_writer_blocks_readers)
{
    static rwpref_ctx c;
    run_procs(1, rwpref_main, &c);
    memset(&c, 0, sizeof c);
    run_procs(4, rwpref_main, &c);
    return 0;
}

static void runlock_unlocked_main(void *arg)
{
    (void)arg;
    static gort_rwmutex rw;
    gort_rwmutex_runlock(&rw);
    printf("survived RUnlock of an unlocked RWMutex\n");
}

static void runlock_unlocked_child(void *arg)
{
    (void)arg;
    gort_run(runlock_unlocked_main, NULL);
}

static void rw_unlock_unlocked_main(void *arg)
{
    (void)arg;
    static gort_rwmutex rw;
    gort_rwmutex_lock(&rw);
    gort_rwmutex_unlock(&rw);
    gort_rwmutex_unlock(&rw);
    printf("survived Unlock of an unlocked RWMutex\n");
}

static void rw_unlock_unlocked_child(void *arg)
{
    (void)arg;
    gort_run(rw_unlock_unlocked_main, NULL);
}

TEST_IMPL(sync_rwmutex_misuse)
{
    expect_exit2(runlock_unlocked_child,
                 "fatal error: sync: RUnlock of unlocked RWMutex");
    expect_exit2(rw_unlock_unlocked_child,
                 "fatal error: sync: Unlock of unlocked RWMutex");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* WaitGroup                                                                */
/* ------------------------------------------------------------------------ */

enum { WG_WORKERS = 24, WG_WAITERS = 3, WG_ROUNDS = 30 };

typedef struct {
    gort_waitgroup wg;          /* the group under test */
    gort_waitgroup waiters;     /* the extra waiters have returned */
    _Atomic int round;
    int flags[WG_WORKERS];      /* written by workers before Done */
    _Atomic int checked;
    _Atomic int bad;
} wg_ctx;

typedef struct {
    wg_ctx *c;
    int i;
} wg_worker_arg;

static void wg_worker(void *arg)
{
    wg_worker_arg *a = arg;
    wg_ctx *c = a->c;
    for (int k = 0; k < a->i % 4; k++)
        gort_yield();
    c->flags[a->i] = atomic_load(&c->round);
    gort_waitgroup_done(&c->wg);
}

static void wg_check(wg_ctx *c)
{
    int r = atomic_load(&c->round);
    for (int i = 0; i < WG_WORKERS; i++)
        if (c->flags[i] != r)
            atomic_fetch_add(&c->bad, 1);
}

static void wg_waiter(void *arg)
{
    wg_ctx *c = arg;
    gort_waitgroup_wait(&c->wg);
    wg_check(c);
    atomic_fetch_add(&c->checked, 1);
    gort_waitgroup_done(&c->waiters);
}

static void wg_main(void *arg)
{
    wg_ctx *c = arg;
    static wg_worker_arg wa[WG_WORKERS];
    /* Zero counter: Wait returns at once. */
    gort_waitgroup_wait(&c->wg);
    gort_waitgroup_add(&c->wg, 0);
    gort_waitgroup_wait(&c->wg);

    for (int r = 1; r <= WG_ROUNDS; r++) {
        atomic_store(&c->round, r);
        gort_waitgroup_add(&c->wg, WG_WORKERS);
        gort_waitgroup_add(&c->waiters, WG_WAITERS);
        for (int i = 0; i < WG_WAITERS; i++)
            go_or_die(wg_waiter, c);
        for (int i = 0; i < WG_WORKERS; i++) {
            wa[i] = (wg_worker_arg){c, i};
            go_or_die(wg_worker, &wa[i]);
        }
        gort_waitgroup_wait(&c->wg);
        wg_check(c);
        /* Reuse only after every Wait of this round has returned. */
        gort_waitgroup_wait(&c->waiters);
        ASSERT_EQ(load_u64(&c->wg.state), 0);
    }
}

static int wg_run(int procs)
{
    static wg_ctx c;
    memset(&c, 0, sizeof c);
    run_procs(procs, wg_main, &c);
    ASSERT_EQ(atomic_load(&c.bad), 0);
    ASSERT_EQ(atomic_load(&c.checked), WG_WAITERS * WG_ROUNDS);
    return 0;
}

TEST_IMPL(sync_waitgroup_1p) { return wg_run(1); }
TEST_IMPL(sync_waitgroup_2p) { return wg_run(2); }
TEST_IMPL(sync_waitgroup_4p) { return wg_run(4); }
TEST_IMPL(sync_waitgroup_8p) { return wg_run(8); }

static void wg_negative_main(void *arg)
{
    (void)arg;
    static gort_waitgroup wg;
    gort_waitgroup_add(&wg, 1);
    gort_waitgroup_done(&wg);
    gort_waitgroup_done(&wg);
    printf("survived a negative WaitGroup counter\n");
}

static void wg_negative_child(void *arg)
{
    (void)arg;
    gort_run(wg_negative_main, NULL);
}

TEST_IMPL(sync_waitgroup_negative)
{
    expect_exit2(wg_negative_child, "panic: sync: negative WaitGroup counter");
    return 0;
}

/* A plain thread waits on a WaitGroup that goroutines complete. */
enum { WGT_WORKERS = 8 };

typedef struct {
    gort_waitgroup wg;          /* the thread waits on this */
    gort_waitgroup all;         /* the main goroutine waits on this */
    int flags[WGT_WORKERS];
    int thread_saw;
} wgt_ctx;

typedef struct {
    wgt_ctx *c;
    int i;
} wgt_arg;

static void *wgt_thread(void *arg)
{
    wgt_ctx *c = arg;
    ASSERT_EQ(gort_self(), 0);
    gort_waitgroup_wait(&c->wg);
    int n = 0;
    for (int i = 0; i < WGT_WORKERS; i++)
        n += c->flags[i];
    c->thread_saw = n;
    return NULL;
}

static void wgt_worker(void *arg)
{
    wgt_arg *a = arg;
    wgt_ctx *c = a->c;
    /* Finish only once the thread is counted as a waiter, so that it
     * really sleeps and is woken (the futex path, not the fast one). */
    while ((uint32_t)load_u64(&c->wg.state) == 0)
        pause_a_little();
    c->flags[a->i] = 1;
    gort_waitgroup_done(&c->wg);
    gort_waitgroup_done(&c->all);
}

static void wgt_main(void *arg)
{
    wgt_ctx *c = arg;
    static wgt_arg wa[WGT_WORKERS];
    pthread_t th;
    gort_waitgroup_add(&c->wg, WGT_WORKERS);
    gort_waitgroup_add(&c->all, WGT_WORKERS);
    ASSERT_EQ(pthread_create(&th, NULL, wgt_thread, c), 0);
    for (int i = 0; i < WGT_WORKERS; i++) {
        wa[i] = (wgt_arg){c, i};
        go_or_die(wgt_worker, &wa[i]);
    }
    gort_waitgroup_wait(&c->all);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_EQ(c->thread_saw, WGT_WORKERS);
}

TEST_IMPL(sync_waitgroup_plain_thread)
{
    static wgt_ctx c;
    run_procs(1, wgt_main, &c);
    memset(&c, 0, sizeof c);
    run_procs(4, wgt_main, &c);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Once                                                                     */
/* ------------------------------------------------------------------------ */

enum { ONCE_CALLERS = 32 };

typedef struct {
    gort_once once;
    gort_waitgroup wg;
    int calls;                  /* written only by the once function */
    int value;
    _Atomic int bad;
} once_ctx;

static void once_fn(void *arg)
{
    once_ctx *c = arg;
    c->calls++;
    /* Take a while, so that the other callers pile up on the slow path. */
    for (int i = 0; i < 20; i++)
        pause_a_little();
    c->value = 42;
}

static void once_caller(void *arg)
{
    once_ctx *c = arg;
    gort_once_do(&c->once, once_fn, c);
    /* Every caller returns only after fn finished. */
    if (c->value != 42)
        atomic_fetch_add(&c->bad, 1);
    gort_waitgroup_done(&c->wg);
}

static void once_main(void *arg)
{
    once_ctx *c = arg;
    gort_waitgroup_add(&c->wg, ONCE_CALLERS);
    for (int i = 0; i < ONCE_CALLERS; i++)
        go_or_die(once_caller, c);
    gort_waitgroup_wait(&c->wg);
    gort_once_do(&c->once, once_fn, c);
    ASSERT_EQ(c->calls, 1);
    ASSERT_EQ(load_u32(&c->once.done), 1);
}

static int once_run(int procs)
{
    static once_ctx c;
    memset(&c, 0, sizeof c);
    run_procs(procs, once_main, &c);
    ASSERT_EQ(c.calls, 1);
    ASSERT_EQ(c.value, 42);
    ASSERT_EQ(atomic_load(&c.bad), 0);
    return 0;
}

TEST_IMPL(sync_once_1p) { return once_run(1); }
TEST_IMPL(sync_once_2p) { return once_run(2); }
TEST_IMPL(sync_once_4p) { return once_run(4); }
TEST_IMPL(sync_once_8p) { return once_run(8); }

/* ------------------------------------------------------------------------ */
/* Cond                                                                     */
/* ------------------------------------------------------------------------ */

enum { COND_WAITERS = 6 };

typedef struct {
    gort_mutex mu;
    gort_cond c;
    gort_waitgroup wg;
    int tokens;                 /* mu */
    int order[COND_WAITERS];    /* mu: ids in the order they woke */
    int norder;                 /* mu */
    bool open;                  /* mu: broadcast predicate */
    int woke;                   /* mu */
} cond_ctx;

typedef struct {
    cond_ctx *c;
    int id;
} cond_arg;

/* Waits (while holding mu) until this waiter's ticket is taken. */
static void cond_wait_tickets(cond_ctx *c, uint32_t n)
{
    for (;;) {
        gort_mutex_lock(&c->mu);
        uint32_t t = load_u32(&c->c.wait_ticket);
        gort_mutex_unlock(&c->mu);
        if (t >= n)
            return;
        pause_a_little();
    }
}

static void cond_token_waiter(void *arg)
{
    cond_arg *a = arg;
    cond_ctx *c = a->c;
    gort_mutex_lock(&c->mu);
    while (c->tokens == 0)
        gort_cond_wait(&c->c, &c->mu);
    c->tokens--;
    c->order[c->norder++] = a->id;
    gort_mutex_unlock(&c->mu);
    gort_waitgroup_done(&c->wg);
}

static void cond_fifo_main(void *arg)
{
    cond_ctx *c = arg;
    static cond_arg ca[COND_WAITERS];
    /* Signal with nobody waiting is a no-op, not remembered. */
    gort_cond_signal(&c->c);
    gort_cond_broadcast(&c->c);
    ASSERT_EQ(load_u32(&c->c.wait_ticket), load_u32(&c->c.notify_ticket));

    gort_waitgroup_add(&c->wg, COND_WAITERS);
    for (int i = 0; i < COND_WAITERS; i++) {
        ca[i] = (cond_arg){c, i};
        go_or_die(cond_token_waiter, &ca[i]);
        /* Waiter i's ticket is taken before waiter i+1 starts. */
        cond_wait_tickets(c, (uint32_t)i + 1);
    }
    for (int i = 0; i < COND_WAITERS; i++) {
        gort_mutex_lock(&c->mu);
        c->tokens++;
        gort_cond_signal(&c->c);
        gort_mutex_unlock(&c->mu);
        /* Wait for the woken one to take the token before the next
         * signal, so that wake order is observable as token order. */
        for (;;) {
            gort_mutex_lock(&c->mu);
            int n = c->norder;
            gort_mutex_unlock(&c->mu);
            if (n == i + 1)
                break;
            pause_a_little();
        }
    }
    gort_waitgroup_wait(&c->wg);
    for (int i = 0; i < COND_WAITERS; i++)
        ASSERT_EQ(c->order[i], i);
}

TEST_IMPL(sync_cond_signal_fifo)
{
    static cond_ctx c;
    run_procs(1, cond_fifo_main, &c);
    memset(&c, 0, sizeof c);
    run_procs(4, cond_fifo_main, &c);
    return 0;
}

static void cond_open_waiter(void *arg)
{
    cond_ctx *c = arg;
    gort_mutex_lock(&c->mu);
    while (!c->open)
        gort_cond_wait(&c->c, &c->mu);
    c->woke++;
    gort_mutex_unlock(&c->mu);
    gort_waitgroup_done(&c->wg);
}

static void cond_broadcast_main(void *arg)
{
    cond_ctx *c = arg;
    gort_waitgroup_add(&c->wg, COND_WAITERS);
    for (int i = 0; i < COND_WAITERS; i++)
        go_or_die(cond_open_waiter, c);
    cond_wait_tickets(c, COND_WAITERS);     /* all of them are waiting */
    gort_mutex_lock(&c->mu);
    ASSERT_EQ(c->woke, 0);
    c->open = true;
    gort_cond_broadcast(&c->c);
    gort_mutex_unlock(&c->mu);
    gort_waitgroup_wait(&c->wg);
    ASSERT_EQ(c->woke, COND_WAITERS);
    ASSERT_EQ(load_u32(&c->c.wait_ticket), load_u32(&c->c.notify_ticket));
    ASSERT(c->c.head == NULL && c->c.tail == NULL);
}

TEST_IMPL(sync_cond_broadcast)
{
    static cond_ctx c;
    run_procs(1, cond_broadcast_main, &c);
    memset(&c, 0, sizeof c);
    run_procs(4, cond_broadcast_main, &c);
    return 0;
}

/* A bounded queue with two conds: a lost wake-up hangs (the timeout
 * catches it); a broken exclusion corrupts the sum. */
enum { PC_PRODUCERS = 4, PC_CONSUMERS = 4, PC_ITEMS = 5000, PC_CAP = 4 };

typedef struct {
    gort_mutex mu;
    gort_cond not_full, not_empty;
    gort_waitgroup wg;
    int64_t buf[PC_CAP];        /* mu */
    int head, len;              /* mu */
    int produced_done;          /* mu: producers finished */
    int64_t sum;                /* mu */
    int64_t taken;              /* mu */
} pc_ctx;

static void pc_producer(void *arg)
{
    pc_ctx *c = arg;
    for (int i = 1; i <= PC_ITEMS; i++) {
        gort_mutex_lock(&c->mu);
        while (c->len == PC_CAP)
            gort_cond_wait(&c->not_full, &c->mu);
        c->buf[(c->head + c->len) % PC_CAP] = i;
        c->len++;
        gort_cond_signal(&c->not_empty);
        gort_mutex_unlock(&c->mu);
    }
    gort_mutex_lock(&c->mu);
    if (++c->produced_done == PC_PRODUCERS)
        gort_cond_broadcast(&c->not_empty);
    gort_mutex_unlock(&c->mu);
    gort_waitgroup_done(&c->wg);
}

static void pc_consumer(void *arg)
{
    pc_ctx *c = arg;
    gort_mutex_lock(&c->mu);
    for (;;) {
        while (c->len == 0 && c->produced_done < PC_PRODUCERS)
            gort_cond_wait(&c->not_empty, &c->mu);
        if (c->len == 0)
            break;
        c->sum += c->buf[c->head];
        c->head = (c->head + 1) % PC_CAP;
        c->len--;
        c->taken++;
        gort_cond_signal(&c->not_full);
    }
    gort_mutex_unlock(&c->mu);
    gort_waitgroup_done(&c->wg);
}

static void pc_main(void *arg)
{
    pc_ctx *c = arg;
    gort_waitgroup_add(&c->wg, PC_PRODUCERS + PC_CONSUMERS);
    for (int i = 0; i < PC_CONSUMERS; i++)
        go_or_die(pc_consumer, c);
    for (int i = 0; i < PC_PRODUCERS; i++)
        go_or_die(pc_producer, c);
    gort_waitgroup_wait(&c->wg);
}

static int pc_run(int procs)
{
    static pc_ctx c;
    memset(&c, 0, sizeof c);
    run_procs(procs, pc_main, &c);
    ASSERT_EQ(c.taken, (int64_t)PC_PRODUCERS * PC_ITEMS);
    ASSERT_EQ(c.sum,
              (int64_t)PC_PRODUCERS * PC_ITEMS * (PC_ITEMS + 1) / 2);
    return 0;
}

TEST_IMPL(sync_cond_queue_1p) { return pc_run(1); }
TEST_IMPL(sync_cond_queue_4p) { return pc_run(4); }

/* A signal that lands between a waiter's ticket and its park must not be
 * lost.  On one P we can put the waiter exactly there: if the mutex passed
 * to cond_wait is in starvation mode with a waiter queued, cond_wait's
 * unlock hands the mutex over and yields (Go's hand-off) after the ticket
 * is taken and before the waiter queues; the goroutine that gets the mutex
 * then signals.  If that signal were lost the waiter would sleep forever
 * (the deadlock detector ends the test). */
typedef struct {
    gort_mutex mu;
    gort_cond c;
    gort_waitgroup wg;
    int waiting;                /* mu */
    int go;                     /* mu */
    int signalled_early;        /* mu: the signal found nobody queued */
} race_ctx;

static void race_signaller(void *arg)
{
    race_ctx *c = arg;
    gort_mutex_lock(&c->mu);    /* parks twice: see race_main */
    ASSERT_EQ(c->waiting, 1);
    c->go = 1;
    c->signalled_early = c->c.head == NULL;
    gort_cond_signal(&c->c);
    gort_mutex_unlock(&c->mu);
    gort_waitgroup_done(&c->wg);
}

static void race_main(void *arg)
{
    race_ctx *c = arg;
    gort_mutex_lock(&c->mu);
    gort_waitgroup_add(&c->wg, 1);
    go_or_die(race_signaller, c);
    while ((load_i32(&c->mu.state) >> 3) == 0)
        gort_yield();           /* the signaller queues on mu */
    /* Hold mu for over 1 ms: the signaller, once woken, is starving. */
    int64_t t0 = gort_nanotime();
    while (gort_nanotime() - t0 < 3 * GORT_MS)
        ;
    /* Unlock wakes it; we take mu back before it runs (one P), and let
     * it run: it finds mu held and queues again, in starvation mode. */
    gort_mutex_unlock(&c->mu);
    gort_mutex_lock(&c->mu);
    gort_yield();
    ASSERT_NE(load_i32(&c->mu.state) & 4, 0);   /* mutexStarving */
    c->waiting = 1;
    while (c->go == 0)
        gort_cond_wait(&c->c, &c->mu);
    ASSERT_EQ(c->signalled_early, 1);
    gort_mutex_unlock(&c->mu);
    gort_waitgroup_wait(&c->wg);
    ASSERT_EQ(load_u32(&c->c.wait_ticket), 1);
    ASSERT_EQ(load_u32(&c->c.notify_ticket), 1);
}

TEST_IMPL(sync_cond_signal_race)
{
    static race_ctx c;
    run_procs(1, race_main, &c);
    ASSERT_EQ(c.go, 1);
    return 0;
}

/* A plain thread waits on a Cond; a goroutine signals it. */
typedef struct {
    gort_mutex mu;
    gort_cond c;
    bool ready;                 /* mu */
    int woke;                   /* mu */
} condt_ctx;

static void *condt_thread(void *arg)
{
    condt_ctx *c = arg;
    gort_mutex_lock(&c->mu);
    while (!c->ready)
        gort_cond_wait(&c->c, &c->mu);
    c->woke = 1;
    gort_mutex_unlock(&c->mu);
    return NULL;
}

static void condt_main(void *arg)
{
    condt_ctx *c = arg;
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, condt_thread, c), 0);
    for (;;) {
        gort_mutex_lock(&c->mu);
        uint32_t t = load_u32(&c->c.wait_ticket);
        gort_mutex_unlock(&c->mu);
        if (t == 1)
            break;
        pause_a_little();
    }
    gort_mutex_lock(&c->mu);
    c->ready = true;
    gort_cond_signal(&c->c);
    gort_mutex_unlock(&c->mu);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_EQ(c->woke, 1);
}

TEST_IMPL(sync_cond_plain_thread)
{
    static condt_ctx c;
    run_procs(2, condt_main, &c);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Semaphores                                                               */
/* ------------------------------------------------------------------------ */

/* Addresses 251*8 bytes apart share a sema bucket; each must keep its own
 * FIFO queue, and a lifo waiter goes first on its own address only. */
enum { SQ_ADDRS = 4, SQ_WAITERS = 5, SQ_STRIDE = 251 * 2 };

typedef struct {
    uint32_t words[SQ_ADDRS * SQ_STRIDE + 1];
    _Atomic int started;
    int log_addr[SQ_ADDRS * (SQ_WAITERS + 1)];
    int log_id[SQ_ADDRS * (SQ_WAITERS + 1)];
    _Atomic int nlog;
} semq_ctx;

typedef struct {
    semq_ctx *c;
    int addr, id;
    bool lifo;
} semq_arg;

static uint32_t *semq_word(semq_ctx *c, int k)
{
    return &c->words[k * SQ_STRIDE];
}

static void semq_waiter(void *arg)
{
    semq_arg *a = arg;
    semq_ctx *c = a->c;
    atomic_fetch_add(&c->started, 1);
    gort__semacquire(semq_word(c, a->addr), a->lifo, waitReasonSemacquire);
    int n = atomic_fetch_add(&c->nlog, 1);
    c->log_addr[n] = a->addr;
    c->log_id[n] = a->id;
}

static void semq_main(void *arg)
{
    semq_ctx *c = arg;
    static semq_arg sa[SQ_ADDRS * (SQ_WAITERS + 1)];
    int ns = 0;
    /* One P: a started waiter runs until it parks in semacquire before
     * this goroutine runs again, so start order is queue order. */
    for (int id = 0; id < SQ_WAITERS; id++) {
        for (int k = 0; k < SQ_ADDRS; k++) {
            sa[ns] = (semq_arg){c, k, id, false};
            go_or_die(semq_waiter, &sa[ns]);
            ns++;
            while (atomic_load(&c->started) < ns)
                gort_yield();
        }
    }
    /* A lifo waiter on address 1 jumps its queue. */
    sa[ns] = (semq_arg){c, 1, 99, true};
    go_or_die(semq_waiter, &sa[ns]);
    ns++;
    while (atomic_load(&c->started) < ns)
        gort_yield();
    gort_yield();

    /* Expected wake order per address: FIFO by id, the lifo waiter on
     * address 1 first. */
    static const int want1[] = {99, 0, 1, 2, 3, 4};
    int pos[SQ_ADDRS] = {0};
    static const int order[] = {2, 1, 1, 0, 3, 2, 2, 0, 1, 3, 3, 3,
                                0, 1, 2, 0, 1, 3, 2, 0, 1};
    _Static_assert(sizeof order / sizeof order[0] ==
                       SQ_ADDRS * SQ_WAITERS + 1,
                   "one release per waiter");
    for (int r = 0; r < (int)(sizeof order / sizeof order[0]); r++) {
        int k = order[r];
        gort__semrelease(semq_word(c, k), false);
        while (atomic_load(&c->nlog) < r + 1)
            gort_yield();
        ASSERT_EQ(c->log_addr[r], k);
        int want = k == 1 ? want1[pos[k]] : pos[k];
        pos[k]++;
        ASSERT_EQ(c->log_id[r], want);
    }
    for (int k = 0; k < SQ_ADDRS; k++)
        ASSERT_EQ(load_u32(semq_word(c, k)), 0);
}

TEST_IMPL(sema_bucket_queues)
{
    static semq_ctx c;
    run_procs(1, semq_main, &c);
    ASSERT_EQ(atomic_load(&c.nlog), SQ_ADDRS * SQ_WAITERS + 1);
    return 0;
}

/* Goroutines abandoned (parked) by an earlier gort_run stay queued in the
 * sema table; a later run using other objects in the same buckets must
 * not trip over them. */
typedef struct {
    gort_mutex mu;
    int parked;
} abandon_ctx;

static abandon_ctx *abandon_ctxp;
static gort_waitgroup *abandon_wg_old, *abandon_wg_new;

static void abandon_waiter(void *arg)
{
    (void)arg;
    __atomic_store_n(&abandon_ctxp->parked, 1, __ATOMIC_RELEASE);
    gort_waitgroup_wait(abandon_wg_old);   /* never released */
}

static void abandon_locker(void *arg)
{
    (void)arg;
    gort_mutex_lock(&abandon_ctxp->mu);     /* held by main: parks */
}

static void abandon_run1(void *arg)
{
    (void)arg;
    gort_waitgroup_add(abandon_wg_old, 1);
    gort_mutex_lock(&abandon_ctxp->mu);
    go_or_die(abandon_waiter, NULL);
    go_or_die(abandon_locker, NULL);
    while (__atomic_load_n(&abandon_ctxp->parked, __ATOMIC_ACQUIRE) == 0 ||
           (load_i32(&abandon_ctxp->mu.state) >> 3) == 0)
        gort_yield();
    /* Return with both still parked. */
}

static void abandon_worker(void *arg)
{
    (void)arg;
    gort_yield();
    gort_waitgroup_done(abandon_wg_new);
}

static void abandon_run2(void *arg)
{
    (void)arg;
    for (int r = 0; r < 50; r++) {
        gort_waitgroup_add(abandon_wg_new, 4);
        for (int i = 0; i < 4; i++)
            go_or_die(abandon_worker, NULL);
        gort_waitgroup_wait(abandon_wg_new);
    }
}

TEST_IMPL(sync_abandoned_waiters)
{
    /* Two WaitGroups whose sema words are 251*8 bytes apart share a
     * bucket. */
    static _Alignas(gort_waitgroup) char mem[251 * 8 + sizeof(gort_waitgroup)];
    static abandon_ctx ctx;
    abandon_ctxp = &ctx;
    abandon_wg_old = (gort_waitgroup *)(void *)mem;
    abandon_wg_new = (gort_waitgroup *)(void *)(mem + 251 * 8);
    ASSERT_EQ(((uintptr_t)&abandon_wg_old->sema >> 3) % 251,
              ((uintptr_t)&abandon_wg_new->sema >> 3) % 251);
    run_procs(2, abandon_run1, NULL);
    run_procs(2, abandon_run2, NULL);
    ASSERT_EQ(load_u64(&abandon_wg_new->state), 0);
    ASSERT_EQ(load_u64(&abandon_wg_old->state) >> 32, 1);
    return 0;
}
