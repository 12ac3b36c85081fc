/*
 * test-time.c — time, timers, blocking system calls and preemption:
 *
 *   time_*     gort_nanotime and gort_sleep (never early, <= 0 returns at
 *              once, sub-millisecond sleeps, plain threads, 100,000
 *              goroutines sleeping ten times each), gort_after in select
 *              timeout loops (no stale value, no goroutine leak), and
 *              deadlock detection around sleeping goroutines;
 *   timer_*    gort_timer_new / ticker / after_func, stop and reset with
 *              Go 1.23's rule (after stop or reset returns, no value from
 *              before can be received), and stress in the spirit of Go's
 *              TestTimerStopStress and the Reset races, on 1, 2, 4, 8 Ps;
 *   preempt_*  asynchronous preemption of call-free loops on 1 P (progress,
 *              latency, errno, defers and FP registers surviving it), the
 *              cooperative gort_preempt_point with asyncpreemptoff=1;
 *   syscall_*  GORT_BLOCKING and unwrapped blocking calls on 1 P (others
 *              keep running, no data lost, errno right), the thread cap,
 *              gort_syscall_enter/exit on plain threads.
 *
 * Every test starts the runtime itself, in its own forked child; fatal
 * errors are checked in a grandchild (test_expect_child).  Time bounds are
 * lower bounds that the API promises (a sleep or a timer is never early)
 * and upper bounds loose enough for a loaded 2-vCPU VM or qemu-user: they
 * catch hangs and gross misbehaviour, not slowness.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "task.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

#define start test_start
#define expect_child(fn, arg, code, needle, forbidden, tmo) \
    ((void)test_expect_child(fn, arg, code, needle, forbidden, tmo))

#define LONG_D (3600 * GORT_SEC)

static int64_t now(void)
{
    return gort_nanotime();
}

#define go_or_die test_go

#define mkchan test_chan_make

static gort_timer *mktimer(int64_t d)
{
    gort_timer *t = gort_timer_new(d);
    ASSERT(t != NULL);
    ASSERT(gort_timer_chan(t) != NULL);
    return t;
}

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* A little CPU work with no call in it. */
static void spin(uint64_t n)
{
    for (volatile uint64_t i = 0; i < n; i++) {
    }
}

/* Receives from c, giving up after timeout (a timer of its own).  True if
 * a value came. */
static bool recv_within(gort_chan *c, void *elem, int64_t timeout)
{
    gort_timer *to = mktimer(timeout);
    gort_case cs[2] = {
        {c, GORT_RECV, elem, false},
        {gort_timer_chan(to), GORT_RECV, NULL, false},
    };
    int k = gort_select(cs, 2, 0);
    ASSERT(k == 0 || k == 1);
    gort_timer_free(to);
    return k == 0;
}

/* Sleeps 1 ms at a time until c holds n values; fails after 10 s. */
static void wait_len(gort_chan *c, size_t n)
{
    int64_t deadline = now() + 10 * GORT_SEC;
    while (gort_chan_len(c) != n) {
        if (now() > deadline)
            TEST_FAIL_("channel len %zu, waited 10 s for %zu",
                       gort_chan_len(c), n);
        gort_sleep(GORT_MS);
    }
}

/* Waits (sleeping) until at most n goroutines exist; fails after 10 s. */
static void wait_num_goroutine(int64_t n)
{
    int64_t deadline = now() + 10 * GORT_SEC;
    while (gort_num_goroutine() > n) {
        if (now() > deadline)
            TEST_FAIL_("%" PRId64 " goroutines, waited 10 s for %" PRId64,
                       gort_num_goroutine(), n);
        gort_sleep(GORT_MS);
    }
}

/* Sleeps 1 ms at a time until *v >= want; fails after limit. */
static void wait_atomic(_Atomic int64_t *v, int64_t want, int64_t limit)
{
    int64_t deadline = now() + limit;
    while (atomic_load(v) < want) {
        if (now() > deadline)
            TEST_FAIL_("counter %" PRId64 ", waited %" PRId64
                       " ms for %" PRId64,
                       atomic_load(v), limit / GORT_MS, want);
        gort_sleep(GORT_MS);
    }
}

/* Sleeps d and checks it was not early (nor absurdly late). */
static int64_t checked_sleep(int64_t d)
{
    int64_t t0 = now();
    gort_sleep(d);
    int64_t dt = now() - t0;
    if (dt < d)
        TEST_FAIL_("gort_sleep(%" PRId64 ") returned after %" PRId64 " ns",
                   d, dt);
    ASSERT_LT(dt, d + 10 * GORT_SEC);
    return dt;
}

/* Stress tests for 1, 2, 4 and 8 Ps from one function. */
#define PROCS_TESTS(name)                                                  \
    TEST_IMPL(name##_1p) { start(1, name##_main, NULL); return 0; }        \
    TEST_IMPL(name##_2p) { start(2, name##_main, NULL); return 0; }        \
    TEST_IMPL(name##_4p) { start(4, name##_main, NULL); return 0; }        \
    TEST_IMPL(name##_8p) { start(8, name##_main, NULL); return 0; }

/* ------------------------------------------------------------------------ */
/* gort_nanotime, gort_sleep                                                */
/* ------------------------------------------------------------------------ */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * GORT_SEC + ts.tv_nsec;
}

static void sleep_basic_main(void *arg)
{
    (void)arg;
    /* gort_nanotime is CLOCK_MONOTONIC. */
    for (int i = 0; i < 1000; i++) {
        int64_t m0 = mono_ns();
        int64_t a = now();
        int64_t b = now();
        int64_t m1 = mono_ns();
        ASSERT_LE(m0, a);
        ASSERT_LE(a, b);
        ASSERT_LE(b, m1);
    }
    static const int64_t ds[] = {
        1, GORT_US, 10 * GORT_US, 100 * GORT_US, GORT_MS, 5 * GORT_MS,
        20 * GORT_MS, 50 * GORT_MS,
    };
    for (int r = 0; r < 3; r++)
        for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++)
            checked_sleep(ds[i]);
}

TEST_IMPL(time_sleep_basic)
{
    start(2, sleep_basic_main, NULL);
    return 0;
}

static void sleep_nonpos_main(void *arg)
{
    (void)arg;
    int64_t t0 = now();
    for (int i = 0; i < 1000; i++) {
        gort_sleep(0);
        gort_sleep(-1);
        gort_sleep(INT64_MIN);
    }
    /* 3000 calls that return at once: nowhere near a millisecond each. */
    ASSERT_LT(now() - t0, 2 * GORT_SEC);
}

TEST_IMPL(time_sleep_nonpositive)
{
    start(1, sleep_nonpos_main, NULL);
    start(2, sleep_nonpos_main, NULL);
    return 0;
}

/* Sub-millisecond sleeps are honoured: never early, and not rounded up to
 * a millisecond (Go's idle wait would be): of 50 sleeps of 100 us, at
 * least one takes well under 1 ms even on a loaded machine. */
static void sleep_submilli_main(void *arg)
{
    (void)arg;
    int64_t best = INT64_MAX;
    for (int i = 0; i < 50; i++) {
        int64_t dt = checked_sleep(100 * GORT_US);
        if (dt < best)
            best = dt;
    }
    printf("best 100 us sleep: %" PRId64 " ns\n", best);
    ASSERT_GE(best, 100 * GORT_US);
    ASSERT_LT(best, 900 * GORT_US);
}

TEST_IMPL(time_sleep_submillisecond)
{
    start(1, sleep_submilli_main, NULL);
    start(2, sleep_submilli_main, NULL);
    return 0;
}

/* While the only P's goroutine sleeps, its thread runs the others. */
static _Atomic int so_stop;
static _Atomic int64_t so_count;
static gort_waitgroup so_wg;

static void so_worker(void *arg)
{
    (void)arg;
    while (!atomic_load(&so_stop)) {
        atomic_fetch_add(&so_count, 1);
        gort_yield();
    }
    gort_waitgroup_done(&so_wg);
}

static void sleep_others_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&so_wg, 1);
    go_or_die(so_worker, NULL);
    int64_t before = atomic_load(&so_count);
    checked_sleep(50 * GORT_MS);
    int64_t after = atomic_load(&so_count);
    ASSERT_GT(after, before);
    atomic_store(&so_stop, 1);
    gort_waitgroup_wait(&so_wg);
}

TEST_IMPL(time_sleep_runs_others_1p)
{
    start(1, sleep_others_main, NULL);
    return 0;
}

/* On a plain thread gort_sleep is nanosleep: before gort_run, and from a
 * pthread while the runtime runs. */
/* A plain thread counts for deadlock detection from its first channel
 * operation on: each thread below makes one (a tryrecv) and says so before
 * the goroutine waiting for it blocks. */
static _Atomic int64_t thread_hello;

static void wait_thread_hello(void)
{
    wait_atomic(&thread_hello, 1, 10 * GORT_SEC);
    atomic_store(&thread_hello, 0);
}

static void *sp_thread(void *arg)
{
    gort_chan *done = arg;
    ASSERT_EQ(gort_chan_tryrecv(done, NULL), 0);
    atomic_store(&thread_hello, 1);
    ASSERT_EQ(gort_self(), 0);
    for (int i = 0; i < 5; i++)
        checked_sleep(20 * GORT_MS);
    gort_sleep(0);
    gort_sleep(-5);
    gort_chan_send(done, NULL);
    return NULL;
}

static void sleep_pthread_main(void *arg)
{
    (void)arg;
    gort_chan *done = mkchan(0, 0);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, sp_thread, done), 0);
    wait_thread_hello();
    ASSERT(gort_chan_recv(done, NULL));
    ASSERT_EQ(pthread_join(th, NULL), 0);
    gort_chan_free(done);
}

TEST_IMPL(time_sleep_pthread)
{
    ASSERT_EQ(gort_self(), 0);
    checked_sleep(20 * GORT_MS);
    checked_sleep(100 * GORT_US);
    int64_t t0 = now();
    gort_sleep(0);
    gort_sleep(-1);
    ASSERT_LT(now() - t0, GORT_SEC);
    start(2, sleep_pthread_main, NULL);
    /* And after gort_run returned. */
    checked_sleep(5 * GORT_MS);
    return 0;
}

/* The headline: 100,000 goroutines each sleep 10 ms ten times on 2 Ps.
 * None ever wakes early, all finish. */
#define SL_N 100000
#define SL_ROUNDS 10
static gort_waitgroup sl_wg;
static _Atomic int64_t sl_early, sl_done, sl_maxlate, sl_minlate = INT64_MAX;

static void sl_fn(void *arg)
{
    (void)arg;
    int64_t maxlate = 0, minlate = INT64_MAX;
    for (int i = 0; i < SL_ROUNDS; i++) {
        int64_t t0 = gort_nanotime();
        gort_sleep(10 * GORT_MS);
        int64_t late = gort_nanotime() - t0 - 10 * GORT_MS;
        if (late < 0)
            atomic_fetch_add(&sl_early, 1);
        if (late > maxlate)
            maxlate = late;
        if (late < minlate)
            minlate = late;
    }
    int64_t m = atomic_load(&sl_maxlate);
    while (maxlate > m && !atomic_compare_exchange_weak(&sl_maxlate, &m,
                                                         maxlate)) {
    }
    m = atomic_load(&sl_minlate);
    while (minlate < m && !atomic_compare_exchange_weak(&sl_minlate, &m,
                                                         minlate)) {
    }
    atomic_fetch_add(&sl_done, 1);
    gort_waitgroup_done(&sl_wg);
}

static void sleep_100k_main(void *arg)
{
    (void)arg;
    int64_t t0 = now();
    gort_waitgroup_add(&sl_wg, SL_N);
    for (int i = 0; i < SL_N; i++) {
        int64_t id = gort_go(sl_fn, NULL);
        if (id <= 0)
            TEST_FAIL_("gort_go #%d failed: %s", i, strerror(errno));
    }
    gort_waitgroup_wait(&sl_wg);
    int64_t dt = now() - t0;
    printf("100k x 10 x 10 ms: %.3f s; lateness min %.3f ms max %.3f ms\n",
           (double)dt / 1e9, (double)sl_minlate / 1e6,
           (double)sl_maxlate / 1e6);
    ASSERT_EQ(sl_early, 0);
    ASSERT_EQ(sl_done, SL_N);
    ASSERT_GE(dt, SL_ROUNDS * 10 * GORT_MS);
    wait_num_goroutine(1);
    ASSERT_EQ(gort_num_goroutine(), 1);
}

TEST_IMPL(time_sleep_100k)
{
    start(2, sleep_100k_main, NULL);
    return 0;
}

/* Many goroutines on 4 Ps, random short durations, none early. */
#define SM_N 2000
static gort_waitgroup sm_wg;
static _Atomic int64_t sm_early;

static void sm_fn(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
    for (int i = 0; i < 5; i++) {
        int64_t d = (int64_t)(rnd(&s) % (3 * GORT_MS));
        int64_t t0 = gort_nanotime();
        gort_sleep(d);
        if (gort_nanotime() - t0 < d)
            atomic_fetch_add(&sm_early, 1);
    }
    gort_waitgroup_done(&sm_wg);
}

static void sleep_mixed_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&sm_wg, SM_N);
    for (int i = 0; i < SM_N; i++)
        go_or_die(sm_fn, (void *)(uintptr_t)(i + 1));
    gort_waitgroup_wait(&sm_wg);
    ASSERT_EQ(sm_early, 0);
}

TEST_IMPL(time_sleep_mixed_4p)
{
    start(4, sleep_mixed_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Timers                                                                   */
/* ------------------------------------------------------------------------ */

static void timer_fires_main(void *arg)
{
    (void)arg;
    int64_t t0 = now();
    gort_timer *t = mktimer(20 * GORT_MS);
    gort_chan *c = gort_timer_chan(t);
    ASSERT_EQ(gort_chan_cap(c), 1);
    int64_t v = 0;
    ASSERT(gort_chan_recv(c, &v));
    int64_t t1 = now();
    ASSERT_GE(t1 - t0, 20 * GORT_MS);
    ASSERT_GE(v, t0 + 20 * GORT_MS);
    ASSERT_LE(v, t1);
    /* Once only. */
    gort_sleep(50 * GORT_MS);
    ASSERT_EQ(gort_chan_len(c), 0);
    ASSERT_EQ(gort_chan_tryrecv(c, &v), 0);
    /* Fired and received: stop says false, again and again. */
    ASSERT(!gort_timer_stop(t));
    ASSERT(!gort_timer_stop(t));
    gort_timer_free(t);

    /* d <= 0: at once. */
    static const int64_t ds[] = {0, -1, -GORT_SEC, INT64_MIN};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        t0 = now();
        t = mktimer(ds[i]);
        v = 0;
        ASSERT(recv_within(gort_timer_chan(t), &v, 10 * GORT_SEC));
        ASSERT_GE(v, t0);
        ASSERT_LE(v, now());
        gort_timer_free(t);
    }

    /* Many at once, in any order of their durations: each on time. */
    enum { NT = 64 };
    gort_timer *ts[NT];
    int64_t when[NT];
    uint64_t s = 12345;
    for (int i = 0; i < NT; i++) {
        int64_t d = (int64_t)(rnd(&s) % (20 * GORT_MS));
        when[i] = now() + d;
        ts[i] = mktimer(d);
    }
    for (int i = 0; i < NT; i++) {
        ASSERT(gort_chan_recv(gort_timer_chan(ts[i]), &v));
        ASSERT_GE(v, when[i]);
        ASSERT_GE(now(), when[i]);
    }
    for (int i = 0; i < NT; i++)
        gort_timer_free(ts[i]);
}

TEST_IMPL(timer_fires_once)
{
    start(1, timer_fires_main, NULL);
    start(4, timer_fires_main, NULL);
    return 0;
}

static void timer_stop_main(void *arg)
{
    (void)arg;
    /* Stopped before it fired: true, and nothing ever arrives. */
    gort_timer *t = mktimer(50 * GORT_MS);
    ASSERT(gort_timer_stop(t));
    int64_t v = 0;
    gort_case cs[2] = {
        {gort_timer_chan(t), GORT_RECV, &v, false},
        {gort_after(200 * GORT_MS), GORT_RECV, NULL, false},
    };
    ASSERT_EQ(gort_select(cs, 2, 0), 1);
    ASSERT_EQ(gort_chan_tryrecv(gort_timer_chan(t), &v), 0);
    ASSERT(!gort_timer_stop(t));        /* already stopped */
    gort_timer_free(t);

    /* The same with a second timer as the timeout. */
    t = mktimer(30 * GORT_MS);
    gort_timer *to = mktimer(150 * GORT_MS);
    ASSERT(gort_timer_stop(t));
    gort_case cs2[2] = {
        {gort_timer_chan(t), GORT_RECV, &v, false},
        {gort_timer_chan(to), GORT_RECV, &v, false},
    };
    ASSERT_EQ(gort_select(cs2, 2, 0), 1);
    gort_timer_free(t);
    gort_timer_free(to);

    /* Stopped after its value was received: false. */
    t = mktimer(GORT_MS);
    ASSERT(gort_chan_recv(gort_timer_chan(t), &v));
    ASSERT(!gort_timer_stop(t));
    gort_timer_free(t);

    /* Fired but not received: true, and the value is taken out. */
    t = mktimer(GORT_MS);
    wait_len(gort_timer_chan(t), 1);
    ASSERT(gort_timer_stop(t));
    ASSERT_EQ(gort_chan_len(gort_timer_chan(t)), 0);
    ASSERT_EQ(gort_chan_tryrecv(gort_timer_chan(t), &v), 0);
    gort_sleep(20 * GORT_MS);
    ASSERT_EQ(gort_chan_len(gort_timer_chan(t)), 0);
    ASSERT(!gort_timer_stop(t));
    gort_timer_free(t);

    /* d = 0 stopped at once: true whether or not it already fired. */
    for (int i = 0; i < 200; i++) {
        t = mktimer(0);
        if (i % 2)
            gort_yield();
        ASSERT(gort_timer_stop(t));
        ASSERT_EQ(gort_chan_len(gort_timer_chan(t)), 0);
        gort_timer_free(t);
    }

    /* Freed while pending: nothing breaks when its time comes. */
    for (int i = 0; i < 100; i++)
        gort_timer_free(mktimer((i % 10) * 100 * GORT_US));
    gort_sleep(5 * GORT_MS);
}

TEST_IMPL(timer_stop)
{
    start(1, timer_stop_main, NULL);
    start(2, timer_stop_main, NULL);
    return 0;
}

static void timer_reset_main(void *arg)
{
    (void)arg;
    int64_t v = 0;
    gort_timer *t = mktimer(LONG_D);
    gort_chan *c = gort_timer_chan(t);

    /* Pending: reset says true and re-arms. */
    int64_t t0 = now();
    ASSERT(gort_timer_reset(t, 20 * GORT_MS));
    ASSERT(gort_chan_recv(c, &v));
    ASSERT_GE(v, t0 + 20 * GORT_MS);
    ASSERT_GE(now() - t0, 20 * GORT_MS);

    /* Fired and received: false, and it fires again. */
    t0 = now();
    ASSERT(!gort_timer_reset(t, 10 * GORT_MS));
    ASSERT(gort_chan_recv(c, &v));
    ASSERT_GE(v, t0 + 10 * GORT_MS);

    /* Fired, not received: true, the old value is gone, a new one comes
     * after the new duration. */
    ASSERT(!gort_timer_reset(t, GORT_MS));
    wait_len(c, 1);
    t0 = now();
    ASSERT(gort_timer_reset(t, 30 * GORT_MS));
    ASSERT_EQ(gort_chan_len(c), 0);
    ASSERT(gort_chan_recv(c, &v));
    ASSERT_GE(v, t0 + 30 * GORT_MS);
    ASSERT_GE(now() - t0, 30 * GORT_MS);

    /* Short pending reset to long: nothing arrives. */
    ASSERT(!gort_timer_reset(t, 5 * GORT_MS));
    ASSERT(gort_timer_reset(t, LONG_D));
    gort_sleep(50 * GORT_MS);
    ASSERT_EQ(gort_chan_len(c), 0);

    /* Stopped, then reset: false, and it fires. */
    ASSERT(gort_timer_stop(t));
    ASSERT(!gort_timer_reset(t, 5 * GORT_MS));
    ASSERT(recv_within(c, &v, 10 * GORT_SEC));
    gort_sleep(20 * GORT_MS);
    ASSERT_EQ(gort_chan_len(c), 0);     /* once */

    /* Reset many times while pending: fires once, after the last.  (It
     * fired and was received above: the first reset says false.) */
    ASSERT(!gort_timer_reset(t, 3 * GORT_MS));
    for (int i = 1; i < 1000; i++)
        ASSERT(gort_timer_reset(t, (i % 2 ? 1 : 3) * GORT_MS));
    t0 = now();
    ASSERT(gort_timer_reset(t, 10 * GORT_MS));
    ASSERT(gort_chan_recv(c, &v));
    ASSERT_GE(v, t0 + 10 * GORT_MS);
    gort_sleep(20 * GORT_MS);
    ASSERT_EQ(gort_chan_len(c), 0);
    gort_timer_free(t);
}

TEST_IMPL(timer_reset)
{
    start(1, timer_reset_main, NULL);
    start(2, timer_reset_main, NULL);
    return 0;
}

static void ticker_main(void *arg)
{
    (void)arg;
    const int64_t P = 10 * GORT_MS;
    int64_t t0 = now();
    gort_timer *tk = gort_ticker_new(P);
    ASSERT(tk != NULL);
    gort_chan *c = gort_timer_chan(tk);
    ASSERT(c != NULL);
    ASSERT_EQ(gort_chan_cap(c), 1);
    /* The k-th tick received is at least k periods after the start (ticks
     * are due every period; a dropped one only widens a gap), and ticks
     * increase.  Consecutive values are not compared with the period: a
     * value is the time due plus however long delivery took, so two ticks
     * may lie a little less than a period apart. */
    int64_t prev = 0, v = 0;
    for (int k = 1; k <= 6; k++) {
        ASSERT(gort_chan_recv(c, &v));
        ASSERT_GE(v, t0 + k * P);
        ASSERT_LE(v, now());
        ASSERT_GT(v, prev);
        prev = v;
    }
    /* A slow reader: one tick waits, the others are dropped (no burst of
     * old ticks follows), and the next one received is a fresh one. */
    gort_sleep(30 * P);
    ASSERT_EQ(gort_chan_len(c), 1);
    ASSERT(gort_chan_recv(c, &v));
    ASSERT_GT(v, prev);
    int64_t tr = now();
    ASSERT(gort_chan_recv(c, &v));
    ASSERT_GT(v, tr - 10 * P);

    /* Stop: true (it was running), the channel is emptied, no more
     * ticks. */
    ASSERT(gort_timer_stop(tk));
    ASSERT_EQ(gort_chan_len(c), 0);
    gort_sleep(5 * P);
    ASSERT_EQ(gort_chan_len(c), 0);
    ASSERT(!gort_timer_stop(tk));

    /* Reset re-arms it with the new period. */
    t0 = now();
    ASSERT(!gort_timer_reset(tk, 2 * P));
    for (int k = 1; k <= 3; k++) {
        ASSERT(gort_chan_recv(c, &v));
        ASSERT_GE(v, t0 + k * 2 * P);
    }
    ASSERT(gort_timer_stop(tk));
    gort_timer_free(tk);

    /* A fast ticker is stopped while ticks race in. */
    for (int i = 0; i < 50; i++) {
        tk = gort_ticker_new(20 * GORT_US);
        ASSERT(tk != NULL);
        gort_sleep((i % 5) * 50 * GORT_US);
        ASSERT(gort_timer_stop(tk));
        ASSERT_EQ(gort_chan_len(gort_timer_chan(tk)), 0);
        gort_sleep(200 * GORT_US);
        ASSERT_EQ(gort_chan_len(gort_timer_chan(tk)), 0);
        gort_timer_free(tk);
    }
}

TEST_IMPL(timer_ticker)
{
    start(1, ticker_main, NULL);
    start(2, ticker_main, NULL);
    return 0;
}

static gort_chan *af_c;
static _Atomic int af_runs;
static int af_marker;

static void af_fn(void *arg)
{
    ASSERT(arg == &af_marker);
    int64_t msg[2] = {gort_self(), now()};
    atomic_fetch_add(&af_runs, 1);
    gort_chan_send(af_c, msg);
}

static void af_never(void *arg)
{
    (void)arg;
    atomic_fetch_add(&af_runs, 1000);
}

static void after_func_main(void *arg)
{
    (void)arg;
    af_c = mkchan(2 * sizeof(int64_t), 4);
    atomic_store(&af_runs, 0);
    int64_t me = gort_self();
    int64_t t0 = now();
    gort_timer *t = gort_timer_after_func(10 * GORT_MS, af_fn, &af_marker);
    ASSERT(t != NULL);
    ASSERT(gort_timer_chan(t) == NULL);
    int64_t msg[2];
    ASSERT(gort_chan_recv(af_c, msg));
    ASSERT_GT(msg[0], 0);
    ASSERT_NE(msg[0], me);
    ASSERT_GE(msg[1], t0 + 10 * GORT_MS);
    int64_t first_id = msg[0];
    gort_sleep(30 * GORT_MS);
    ASSERT_EQ(af_runs, 1);
    ASSERT(!gort_timer_stop(t));        /* it already ran */

    /* Reset after it ran: false, runs again (in a new goroutine). */
    t0 = now();
    ASSERT(!gort_timer_reset(t, 5 * GORT_MS));
    ASSERT(gort_chan_recv(af_c, msg));
    ASSERT_GE(msg[1], t0 + 5 * GORT_MS);
    ASSERT_GT(msg[0], 0);
    ASSERT_NE(msg[0], me);
    ASSERT_NE(msg[0], first_id);
    gort_sleep(20 * GORT_MS);
    ASSERT_EQ(af_runs, 2);
    gort_timer_free(t);

    /* Stopped before it ran: true, never runs. */
    gort_timer *t2 = gort_timer_after_func(30 * GORT_MS, af_never, NULL);
    ASSERT(t2 != NULL);
    ASSERT(gort_timer_stop(t2));
    /* Freed while pending: never runs. */
    gort_timer *t3 = gort_timer_after_func(20 * GORT_MS, af_never, NULL);
    ASSERT(t3 != NULL);
    gort_timer_free(t3);
    gort_sleep(80 * GORT_MS);
    ASSERT_EQ(af_runs, 2);
    ASSERT(!gort_timer_stop(t2));
    gort_timer_free(t2);

    /* d = 0: runs at once, in a goroutine of its own. */
    t = gort_timer_after_func(0, af_fn, &af_marker);
    ASSERT(t != NULL);
    ASSERT(recv_within(af_c, msg, 10 * GORT_SEC));
    ASSERT_GT(msg[0], 0);
    ASSERT_NE(msg[0], me);
    gort_timer_free(t);
    wait_num_goroutine(1);
    gort_chan_free(af_c);
}

TEST_IMPL(timer_after_func)
{
    start(1, after_func_main, NULL);
    start(4, after_func_main, NULL);
    return 0;
}

static void timer_edge_main(void *arg)
{
    (void)arg;
    errno = 0;
    ASSERT(gort_ticker_new(0) == NULL);
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT(gort_ticker_new(-GORT_SEC) == NULL);
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT(gort_ticker_new(INT64_MIN) == NULL);
    ASSERT_EQ(errno, EINVAL);
    gort_timer_free(NULL);

    /* Durations so long that now + d overflows must not fire at once. */
    gort_timer *t = mktimer(INT64_MAX);
    gort_timer *tk = gort_ticker_new(INT64_MAX);
    ASSERT(tk != NULL);
    gort_chan *a = gort_after(INT64_MAX);
    ASSERT(a != NULL);
    gort_sleep(30 * GORT_MS);
    ASSERT_EQ(gort_chan_len(gort_timer_chan(t)), 0);
    ASSERT_EQ(gort_chan_len(gort_timer_chan(tk)), 0);
    ASSERT_EQ(gort_chan_len(a), 0);
    ASSERT(gort_timer_reset(t, GORT_MS));         /* was pending */
    ASSERT(recv_within(gort_timer_chan(t), NULL, 10 * GORT_SEC));
    ASSERT(!gort_timer_reset(t, INT64_MAX));
    gort_sleep(10 * GORT_MS);
    ASSERT_EQ(gort_chan_len(gort_timer_chan(t)), 0);
    ASSERT(gort_timer_stop(t));
    ASSERT(gort_timer_stop(tk));
    gort_timer_free(t);
    gort_timer_free(tk);
}

TEST_IMPL(timer_edge_cases)
{
    start(2, timer_edge_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Stop/reset stress                                                        */
/* ------------------------------------------------------------------------ */

/* Each worker, round after round: makes TS_K timers of 0-50 us, races a
 * stop, a tryrecv-then-stop or a tryrecv-then-reset-to-long against their
 * firing, checks the return values (a timer whose value was never received
 * is always stopped "before it delivered"), checks that no stale value
 * turns up while it sleeps 2 ms, then resets every timer short again and
 * checks each fires exactly once, no earlier than asked. */
#define TS_G 12
#define TS_ROUNDS 25
#define TS_K 16
static gort_waitgroup ts_wg;
static _Atomic int64_t ts_fired, ts_got_early;

static void ts_worker(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg * 0x2545f4914f6cdd1dULL + 7;
    gort_timer *t[TS_K];
    int mode[TS_K];
    int64_t when[TS_K];
    for (int r = 0; r < TS_ROUNDS; r++) {
        for (int i = 0; i < TS_K; i++)
            t[i] = mktimer((int64_t)(rnd(&s) % (50 * GORT_US)));
        for (int i = 0; i < TS_K; i++) {
            gort_chan *c = gort_timer_chan(t[i]);
            uint64_t x = rnd(&s);
            if (x % 4 == 0)
                gort_yield();
            else if (x % 4 == 1)
                spin(x % 2000);
            mode[i] = (int)((x >> 8) % 3);
            int64_t v = 0;
            int got;
            switch (mode[i]) {
            case 0:
                ASSERT(gort_timer_stop(t[i]));
                break;
            case 1:
                got = gort_chan_tryrecv(c, &v);
                ASSERT(got == 0 || got == 1);
                ASSERT_EQ(gort_timer_stop(t[i]), got == 0);
                if (got)
                    ASSERT_LE(v, now());
                break;
            default:
                got = gort_chan_tryrecv(c, &v);
                ASSERT(got == 0 || got == 1);
                ASSERT_EQ(gort_timer_reset(t[i], LONG_D), got == 0);
                break;
            }
            ASSERT_EQ(gort_chan_len(c), 0);
        }
        gort_sleep(2 * GORT_MS);
        for (int i = 0; i < TS_K; i++)
            if (gort_chan_len(gort_timer_chan(t[i])) != 0)
                TEST_FAIL_("stale value after %s (round %d timer %d)",
                           mode[i] == 2 ? "reset" : "stop", r, i);
        /* Re-arm short: stopped ones report false, the long-pending ones
         * true; each fires exactly once. */
        for (int i = 0; i < TS_K; i++) {
            int64_t d = (int64_t)(rnd(&s) % (50 * GORT_US));
            when[i] = now() + d;
            ASSERT_EQ(gort_timer_reset(t[i], d), mode[i] == 2);
        }
        for (int i = 0; i < TS_K; i++) {
            int64_t v = 0;
            if (!recv_within(gort_timer_chan(t[i]), &v, 10 * GORT_SEC))
                TEST_FAIL_("timer lost: reset to <50 us, nothing in 10 s "
                           "(round %d timer %d)", r, i);
            if (v < when[i])
                atomic_fetch_add(&ts_got_early, 1);
            atomic_fetch_add(&ts_fired, 1);
        }
        gort_sleep(GORT_MS);
        for (int i = 0; i < TS_K; i++) {
            ASSERT_EQ(gort_chan_len(gort_timer_chan(t[i])), 0);
            ASSERT(!gort_timer_stop(t[i]));
            gort_timer_free(t[i]);
        }
    }
    gort_waitgroup_done(&ts_wg);
}

/* A stopper and a receiver share a timer of 0-30 us: the receiver selects
 * on its channel and a quit channel, the stopper stops it then sends quit.
 * Exactly one of "stop returned true" and "the receiver got the value"
 * holds, every time. */
#define TSP_PAIRS 4
#define TSP_ITERS 300
typedef struct tsp_pair {
    gort_chan *timers;  /* gort_timer * to the receiver */
    gort_chan *quit;    /* cap 1 */
    gort_chan *result;  /* int: 1 if the value was received */
    uint64_t seed;
} tsp_pair;
static tsp_pair tsp[TSP_PAIRS];

static void tsp_receiver(void *arg)
{
    tsp_pair *p = arg;
    gort_timer *t;
    while (gort_chan_recv(p->timers, &t)) {
        int64_t v = 0;
        gort_case cs[2] = {
            {gort_timer_chan(t), GORT_RECV, &v, false},
            {p->quit, GORT_RECV, NULL, false},
        };
        int k = gort_select(cs, 2, 0);
        ASSERT(k == 0 || k == 1);
        int got = k == 0;
        gort_chan_send(p->result, &got);
    }
    gort_waitgroup_done(&ts_wg);
}

static void tsp_stopper(void *arg)
{
    tsp_pair *p = arg;
    for (int i = 0; i < TSP_ITERS; i++) {
        gort_timer *t = mktimer((int64_t)(rnd(&p->seed) % (30 * GORT_US)));
        gort_chan_send(p->timers, &t);
        uint64_t x = rnd(&p->seed);
        if (x % 3 == 0)
            gort_yield();
        else
            spin(x % 3000);
        bool stopped = gort_timer_stop(t);
        ASSERT(gort_chan_trysend(p->quit, NULL));
        int got;
        ASSERT(gort_chan_recv(p->result, &got));
        if (got == (int)stopped)
            TEST_FAIL_("iteration %d: stop returned %d, receiver got "
                       "value %d", i, (int)stopped, got);
        (void)gort_chan_tryrecv(p->quit, NULL);   /* left if got */
        ASSERT_EQ(gort_chan_len(gort_timer_chan(t)), 0);
        gort_timer_free(t);
    }
    gort_chan_close(p->timers);
    gort_waitgroup_done(&ts_wg);
}

static void timer_stress_main(void *arg)
{
    (void)arg;
    atomic_store(&ts_fired, 0);
    gort_waitgroup_add(&ts_wg, TS_G + 2 * TSP_PAIRS);
    for (int i = 0; i < TSP_PAIRS; i++) {
        tsp[i].timers = mkchan(sizeof(gort_timer *), 0);
        tsp[i].quit = mkchan(0, 1);
        tsp[i].result = mkchan(sizeof(int), 0);
        tsp[i].seed = 0x1234567ULL * (uint64_t)(i + 1);
        go_or_die(tsp_receiver, &tsp[i]);
        go_or_die(tsp_stopper, &tsp[i]);
    }
    for (int i = 0; i < TS_G; i++)
        go_or_die(ts_worker, (void *)(uintptr_t)(i + 1));
    gort_waitgroup_wait(&ts_wg);
    ASSERT_EQ(ts_fired, (int64_t)TS_G * TS_ROUNDS * TS_K);
    ASSERT_EQ(ts_got_early, 0);
    for (int i = 0; i < TSP_PAIRS; i++) {
        gort_chan_free(tsp[i].timers);
        gort_chan_free(tsp[i].quit);
        gort_chan_free(tsp[i].result);
    }
}

PROCS_TESTS(timer_stress)

/* Go's TestConcurrentTimerReset / ResetStop: many goroutines reset and
 * stop one timer at once.  Nothing fires (every duration is an hour), and
 * afterwards the timer still works: reset short, it fires exactly once. */
#define CR_G 8
#define CR_TRIES 2000
static gort_timer *cr_t;
static gort_waitgroup cr_wg;

static void cr_fn(void *arg)
{
    int i = (int)(intptr_t)arg;
    for (int j = 0; j < CR_TRIES; j++) {
        if ((i + j) % 3 == 0)
            (void)gort_timer_stop(cr_t);
        else
            (void)gort_timer_reset(cr_t, LONG_D + (int64_t)i * j);
    }
    gort_waitgroup_done(&cr_wg);
}

static void concurrent_reset_main(void *arg)
{
    (void)arg;
    cr_t = mktimer(LONG_D);
    gort_waitgroup_add(&cr_wg, CR_G);
    for (int i = 0; i < CR_G; i++)
        go_or_die(cr_fn, (void *)(intptr_t)i);
    gort_waitgroup_wait(&cr_wg);
    gort_chan *c = gort_timer_chan(cr_t);
    ASSERT_EQ(gort_chan_len(c), 0);
    (void)gort_timer_stop(cr_t);
    ASSERT(!gort_timer_stop(cr_t));
    int64_t t0 = now(), v = 0;
    ASSERT(!gort_timer_reset(cr_t, GORT_MS));
    ASSERT(recv_within(c, &v, 10 * GORT_SEC));
    ASSERT_GE(v, t0 + GORT_MS);
    gort_sleep(10 * GORT_MS);
    ASSERT_EQ(gort_chan_len(c), 0);
    gort_timer_free(cr_t);
}

TEST_IMPL(timer_concurrent_reset_4p)
{
    start(4, concurrent_reset_main, NULL);
    return 0;
}

/* Go's TestTimerStopStress, racing: 2000 after_func timers of 0-2 ms, each
 * stopped by its goroutine after a sleep of 0-2 ms.  A callback runs
 * exactly when its stop returned false, and at most once. */
#define AS_G 50
#define AS_PER 40
static _Atomic int as_ran[AS_G * AS_PER];
static bool as_stopped[AS_G * AS_PER];
static _Atomic int64_t as_should_run, as_did_run;
static gort_waitgroup as_wg;

static void as_cb(void *arg)
{
    int k = (int)(intptr_t)arg;
    atomic_fetch_add(&as_ran[k], 1);
    atomic_fetch_add(&as_did_run, 1);
}

static void as_fn(void *arg)
{
    int g = (int)(intptr_t)arg;
    uint64_t s = (uint64_t)(g + 1) * 0x9e3779b97f4a7c15ULL;
    gort_timer *t[AS_PER];
    for (int j = 0; j < AS_PER; j++) {
        int k = g * AS_PER + j;
        t[j] = gort_timer_after_func((int64_t)(rnd(&s) % (2 * GORT_MS)),
                                     as_cb, (void *)(intptr_t)k);
        ASSERT(t[j] != NULL);
        gort_sleep((int64_t)(rnd(&s) % (2 * GORT_MS)));
        as_stopped[k] = gort_timer_stop(t[j]);
        if (!as_stopped[k])
            atomic_fetch_add(&as_should_run, 1);
    }
    for (int j = 0; j < AS_PER; j++)
        gort_timer_free(t[j]);
    gort_waitgroup_done(&as_wg);
}

static void afstress_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&as_wg, AS_G);
    for (int g = 0; g < AS_G; g++)
        go_or_die(as_fn, (void *)(intptr_t)g);
    gort_waitgroup_wait(&as_wg);
    /* Callbacks whose stop said false have run or are about to. */
    wait_atomic(&as_did_run, as_should_run, 10 * GORT_SEC);
    gort_sleep(20 * GORT_MS);
    int nstopped = 0;
    for (int k = 0; k < AS_G * AS_PER; k++) {
        int ran = atomic_load(&as_ran[k]);
        if (as_stopped[k] ? ran != 0 : ran != 1)
            TEST_FAIL_("after_func %d: stop returned %d, ran %d times", k,
                       (int)as_stopped[k], ran);
        nstopped += as_stopped[k];
    }
    printf("%d of %d stopped in time\n", nstopped, AS_G * AS_PER);
    ASSERT_EQ(as_did_run, as_should_run);

    /* The plain TestTimerStopStress: long timers stopped halfway. */
    for (int k = 0; k < AS_G * AS_PER; k++)
        atomic_store(&as_ran[k], 0);
    gort_timer *t[100];
    for (int i = 0; i < 100; i++) {
        t[i] = gort_timer_after_func(GORT_SEC, as_cb, (void *)(intptr_t)i);
        ASSERT(t[i] != NULL);
    }
    gort_sleep(100 * GORT_MS);
    for (int i = 0; i < 100; i++)
        ASSERT(gort_timer_stop(t[i]));
    gort_sleep(GORT_SEC + 200 * GORT_MS);
    for (int i = 0; i < 100; i++) {
        ASSERT_EQ(as_ran[i], 0);
        gort_timer_free(t[i]);
    }
}

TEST_IMPL(timer_after_func_stop_stress_4p)
{
    start(4, afstress_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* gort_after                                                               */
/* ------------------------------------------------------------------------ */

static void after_basic_main(void *arg)
{
    (void)arg;
    int64_t t0 = now(), v = 0;
    gort_chan *a = gort_after(10 * GORT_MS);
    ASSERT(a != NULL);
    ASSERT(gort_chan_recv(a, &v));
    ASSERT_GE(v, t0 + 10 * GORT_MS);
    ASSERT_GE(now() - t0, 10 * GORT_MS);

    /* Re-armed: the same channel, and a value sitting in it from the
     * previous arm is gone. */
    gort_chan *b = gort_after(0);
    ASSERT(b == a);
    wait_len(a, 1);
    b = gort_after(LONG_D);
    ASSERT(b == a);
    ASSERT_EQ(gort_chan_len(a), 0);
    ASSERT_EQ(gort_chan_tryrecv(a, &v), 0);
    /* A pending arm cancelled by the next. */
    gort_after(5 * GORT_MS);
    t0 = now();
    b = gort_after(40 * GORT_MS);
    ASSERT(gort_chan_recv(b, &v));
    ASSERT_GE(v, t0 + 40 * GORT_MS);
    ASSERT_GE(now() - t0, 40 * GORT_MS);
}

static void *after_thread(void *arg)
{
    gort_chan *done = arg;
    ASSERT_EQ(gort_chan_tryrecv(done, NULL), 0);
    atomic_store(&thread_hello, 1);
    int64_t t0 = now(), v = 0;
    gort_chan *a = gort_after(10 * GORT_MS);
    ASSERT(a != NULL);
    ASSERT(gort_chan_recv(a, &v));
    ASSERT_GE(v, t0 + 10 * GORT_MS);
    ASSERT_GE(now() - t0, 10 * GORT_MS);
    ASSERT(gort_after(GORT_MS) == a);
    ASSERT(gort_chan_recv(a, &v));
    gort_chan_send(done, NULL);
    return NULL;
}

static void after_pthread_main(void *arg)
{
    (void)arg;
    after_basic_main(NULL);
    /* A plain thread has one too; the runtime's Ps are all idle while it
     * waits (main is blocked on done). */
    gort_chan *done = mkchan(0, 0);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, after_thread, done), 0);
    wait_thread_hello();
    ASSERT(gort_chan_recv(done, NULL));
    ASSERT_EQ(pthread_join(th, NULL), 0);
    gort_chan_free(done);
}

TEST_IMPL(time_after_basic)
{
    start(1, after_pthread_main, NULL);
    start(2, after_pthread_main, NULL);
    return 0;
}

/* select { case <-never: case <-gort_after(1..50 us): } n times.  With
 * `ready`, a buffered channel sometimes holds a value too.  The timeout's
 * value is never stale (at least this iteration's start + d). */
static void after_loop(int n, gort_chan *ready, uint64_t seed)
{
    gort_chan *never = mkchan(sizeof(int64_t), 0);
    gort_chan *prev = NULL;
    int64_t sent = 0, got_ready = 0, timeouts = 0;
    for (int i = 0; i < n; i++) {
        uint64_t x = rnd(&seed);
        int64_t d = GORT_US + (int64_t)(x % (50 * GORT_US));
        if (ready != NULL && (x >> 20) % 3 == 0) {
            int64_t iv = i;
            if (gort_chan_trysend(ready, &iv))
                sent++;
        }
        int64_t t0 = now();
        gort_chan *a = gort_after(d);
        ASSERT(a != NULL);
        if (prev != NULL)
            ASSERT(a == prev);
        prev = a;
        int64_t v = 0, rv = 0;
        gort_case cs[3] = {
            {never, GORT_RECV, &rv, false},
            {a, GORT_RECV, &v, false},
            {ready, GORT_RECV, &rv, false},
        };
        int k = gort_select(cs, 3, 0);
        if (k == 1) {
            if (v < t0 + d)
                TEST_FAIL_("iteration %d: stale or early timeout value "
                           "(%" PRId64 " ns before due)", i, t0 + d - v);
            ASSERT(cs[1].ok);
            timeouts++;
        } else {
            ASSERT_EQ(k, 2);
            ASSERT(ready != NULL);
            got_ready++;
        }
    }
    if (ready != NULL) {
        while (gort_chan_tryrecv(ready, NULL) == 1)
            got_ready++;
        ASSERT_EQ(got_ready, sent);
        ASSERT_GT(sent, 0);
        ASSERT_GT(timeouts, 0);
    } else {
        ASSERT_EQ(timeouts, n);
    }
    gort_chan_free(never);
}

static void after_loop_main(void *arg)
{
    (void)arg;
    int64_t base = gort_num_goroutine();
    after_loop(10000, NULL, 99);
    wait_num_goroutine(base);
    ASSERT_EQ(gort_num_goroutine(), base);
    gort_chan *ready = mkchan(sizeof(int64_t), 1);
    after_loop(10000, ready, 1234);
    gort_chan_free(ready);
    wait_num_goroutine(base);
    ASSERT_EQ(gort_num_goroutine(), base);
}

TEST_IMPL(time_after_select_loop)
{
    start(1, after_loop_main, NULL);
    start(2, after_loop_main, NULL);
    return 0;
}

/* The same in 8 goroutines at once on 4 Ps, and gort_after in goroutines
 * that end with their timer pending: the count goes back to where it was. */
#define AL_G 8
static gort_waitgroup al_wg;

static void al_fn(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    gort_chan *ready = NULL;
    if (seed % 2)
        ready = mkchan(sizeof(int64_t), 1);
    after_loop(2000, ready, seed * 77 + 1);
    if (ready)
        gort_chan_free(ready);
    gort_waitgroup_done(&al_wg);
}

static void al_pending(void *arg)
{
    ASSERT(gort_after((int64_t)(uintptr_t)arg * GORT_US) != NULL);
    gort_waitgroup_done(&al_wg);
}

static void after_many_main(void *arg)
{
    (void)arg;
    int64_t base = gort_num_goroutine();
    gort_waitgroup_add(&al_wg, AL_G);
    for (int i = 0; i < AL_G; i++)
        go_or_die(al_fn, (void *)(uintptr_t)(i + 1));
    gort_waitgroup_wait(&al_wg);
    gort_waitgroup_add(&al_wg, 1000);
    for (int i = 0; i < 1000; i++)
        go_or_die(al_pending, (void *)(uintptr_t)(i % 2 ? 1 : 1000000));
    gort_waitgroup_wait(&al_wg);
    wait_num_goroutine(base);
    gort_sleep(5 * GORT_MS);    /* the short ones' time has come */
    ASSERT_EQ(gort_num_goroutine(), base);
}

TEST_IMPL(time_after_many_4p)
{
    start(4, after_many_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Deadlock detection with timers                                           */
/* ------------------------------------------------------------------------ */

static void dl_block_forever(void *arg)
{
    gort_chan_recv(arg, NULL);
    printf("block_forever returned\n");
}

/* Main sleeps while every other goroutine is blocked for good: not a
 * deadlock, the sleep ends and gort_run returns. */
static void dl_sleep_main(void *arg)
{
    (void)arg;
    gort_chan *never = mkchan(0, 0);
    go_or_die(dl_block_forever, never);
    go_or_die(dl_block_forever, never);
    checked_sleep(50 * GORT_MS);
    printf("main woke\n");
}

static void dl_sleep_child(void *arg)
{
    start((int)(intptr_t)arg, dl_sleep_main, NULL);
    printf("gort_run returned\n");
}

TEST_IMPL(time_deadlock_none_sleeping_main)
{
    expect_child(dl_sleep_child, (void *)1, 0, "gort_run returned",
                 "deadlock", 30);
    expect_child(dl_sleep_child, (void *)2, 0, "gort_run returned",
                 "deadlock", 30);
    return 0;
}

/* A goroutine blocked on a channel that another feeds after a sleep. */
static gort_waitgroup dlf_wg;

static void dlf_recv(void *arg)
{
    int v = 0;
    ASSERT(gort_chan_recv(arg, &v));
    ASSERT_EQ(v, 42);
    gort_waitgroup_done(&dlf_wg);
}

static void dlf_send(void *arg)
{
    gort_sleep(50 * GORT_MS);
    int v = 42;
    gort_chan_send(arg, &v);
    gort_waitgroup_done(&dlf_wg);
}

static void dlf_main(void *arg)
{
    (void)arg;
    gort_chan *c = mkchan(sizeof(int), 0);
    gort_waitgroup_add(&dlf_wg, 2);
    go_or_die(dlf_recv, c);
    go_or_die(dlf_send, c);
    gort_waitgroup_wait(&dlf_wg);
    printf("fed\n");
}

static void dlf_child(void *arg)
{
    start((int)(intptr_t)arg, dlf_main, NULL);
    printf("gort_run returned\n");
}

TEST_IMPL(time_deadlock_none_fed_after_sleep)
{
    expect_child(dlf_child, (void *)1, 0, "fed", "deadlock", 30);
    expect_child(dlf_child, (void *)2, 0, "fed", "deadlock", 30);
    return 0;
}

/* Timers that fired and were received, then main blocks for good: with no
 * timer pending, that is still a deadlock. */
static void dls_main(void *arg)
{
    (void)arg;
    gort_sleep(10 * GORT_MS);
    gort_timer *t = mktimer(GORT_MS);
    ASSERT(gort_chan_recv(gort_timer_chan(t), NULL));
    gort_timer_free(t);
    ASSERT(gort_chan_recv(gort_after(GORT_MS), NULL));
    gort_chan *never = mkchan(sizeof(int), 0);
    int v;
    gort_chan_recv(never, &v);
    printf("recv returned\n");
}

static void dls_child(void *arg)
{
    start((int)(intptr_t)arg, dls_main, NULL);
    printf("gort_run returned\n");
}

TEST_IMPL(time_deadlock_still_detected)
{
    expect_child(dls_child, (void *)1, 2,
                 "fatal error: all goroutines are asleep - deadlock!",
                 "returned", 30);
    expect_child(dls_child, (void *)2, 2,
                 "fatal error: all goroutines are asleep - deadlock!",
                 "returned", 30);
    return 0;
}

/* A sleeper is not asleep for the detector; once it has ended, main
 * blocked for good is a deadlock. */
static void dla_sleeper(void *arg)
{
    (void)arg;
    gort_sleep(100 * GORT_MS);
    printf("sleeper done\n");
}

static void dla_main(void *arg)
{
    (void)arg;
    go_or_die(dla_sleeper, NULL);
    gort_chan *never = mkchan(0, 0);
    gort_chan_recv(never, NULL);
    printf("recv returned\n");
}

static void dla_child(void *arg)
{
    (void)arg;
    start(2, dla_main, NULL);
    printf("gort_run returned\n");
}

TEST_IMPL(time_deadlock_after_sleeper)
{
    const char *out = test_expect_child(
        dla_child, NULL, 2,
        "fatal error: all goroutines are asleep - deadlock!", "returned", 30);
    const char *a = strstr(out, "sleeper done");
    const char *b = strstr(out, "fatal error");
    ASSERT(a != NULL);
    ASSERT(b != NULL && a < b);
    return 0;
}

/* A goroutine in a blocking call (wrapped or not) while main waits on the
 * channel it will send on after: not a deadlock. */
static void dlb_blocker(void *arg)
{
    gort_chan *c = arg;
    (void)GORT_BLOCKING(usleep(100000));
    gort_chan_send(c, NULL);
}

static void dlb_blocker_plain(void *arg)
{
    gort_chan *c = arg;
    usleep(100000);
    gort_chan_send(c, NULL);
}

static void dlb_main(void *arg)
{
    gort_chan *c = mkchan(0, 0);
    go_or_die(arg ? dlb_blocker_plain : dlb_blocker, c);
    ASSERT(gort_chan_recv(c, NULL));
    printf("main got it\n");
}

static void dlb_child(void *arg)
{
    int mode = (int)(intptr_t)arg;
    start(mode & 1 ? 1 : 2, dlb_main, (mode & 2) ? (void *)1 : NULL);
    printf("gort_run returned\n");
}

TEST_IMPL(syscall_no_deadlock_while_blocked)
{
    for (intptr_t mode = 0; mode < 4; mode++)
        expect_child(dlb_child, (void *)mode, 0, "main got it", "deadlock",
                     30);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Preemption                                                               */
/* ------------------------------------------------------------------------ */

static atomic_int hog_stop;
static _Atomic int64_t hogs_started, hog_t0;
static _Atomic uint64_t hog_spins;
static gort_waitgroup hog_wg;

/* A loop with no call in it: only an asynchronous preemption gets its
 * thread back. */
static void hog(void *arg)
{
    (void)arg;
    volatile uint64_t x = 0;
    atomic_store(&hog_t0, gort_nanotime());
    atomic_fetch_add(&hogs_started, 1);
    while (!atomic_load_explicit(&hog_stop, memory_order_relaxed))
        x++;
    atomic_fetch_add(&hog_spins, x);
    gort_waitgroup_done(&hog_wg);
}

static void hogs_reset(void)
{
    atomic_store(&hog_stop, 0);
    atomic_store(&hogs_started, 0);
    atomic_store(&hog_spins, 0);
}

/* Waits (sleeping 1 ms at a time) until n hogs run; each 1-ms sleep needs
 * a preemption once all Ps are hogged. */
static void wait_hogs(int64_t n)
{
    wait_atomic(&hogs_started, n, 30 * GORT_SEC);
}

static void preempt_async_main(void *arg)
{
    (void)arg;
    hogs_reset();
    gort_waitgroup_add(&hog_wg, 1);
    go_or_die(hog, NULL);
    while (atomic_load(&hogs_started) == 0)
        gort_yield();
    /* We run again: the hog was preempted. */
    for (int i = 0; i < 20; i++)
        checked_sleep(GORT_MS);
    atomic_store(&hog_stop, 1);
    gort_waitgroup_wait(&hog_wg);
    ASSERT_GT(hog_spins, 0);
}

TEST_IMPL(preempt_async_1p)
{
    start(1, preempt_async_main, NULL);
    return 0;
}

/* Two hogs on one P: both get to run (one must be preempted for the other
 * to start), and main too. */
static void preempt_two_main(void *arg)
{
    (void)arg;
    hogs_reset();
    gort_waitgroup_add(&hog_wg, 2);
    go_or_die(hog, NULL);
    go_or_die(hog, NULL);
    wait_hogs(2);
    for (int i = 0; i < 10; i++)
        checked_sleep(GORT_MS);
    atomic_store(&hog_stop, 1);
    gort_waitgroup_wait(&hog_wg);
}

TEST_IMPL(preempt_two_hogs_1p)
{
    start(1, preempt_two_main, NULL);
    return 0;
}

/* A goroutine that sleeps on an otherwise idle runtime and then computes
 * for 4 ms must not be preempted: its slice starts when it wakes.  (Its
 * P's schedtick is unchanged across the sleep when the timer readies it
 * into runnext, and a sysmon that kept the P's old "running since" would
 * preempt it within a round, ~1 ms: checked by breaking sysmon that way,
 * which fails this test in every run.)  A round is judged only when the
 * goroutine held its P for under 9 ms, counted from the sleep's deadline
 * (it cannot run before) to the end of its computation: on a loaded
 * machine (qemu-user in CI) its thread may lose the CPU for several ms,
 * and a slice that really lasted 10 ms is rightly preempted.  Every
 * preemption in a judged round is counted; 5 judged rounds are needed,
 * within 40. */
static void slice_after_idle_main(void *arg)
{
    (void)arg;
    int judged = 0, excused = 0;
    for (int round = 0; round < 40 && judged < 5; round++) {
        gort_stats s0, s1;
        ASSERT_EQ(gort_read_stats(&s0), 0);
        int64_t deadline = gort_nanotime() + 20 * GORT_MS;
        gort_sleep(20 * GORT_MS);
        /* Computes in call-free stretches, so that a preemption signal
         * lands at a safe point (a loop around gort_nanotime spends its
         * time in the vDSO, where it would not). */
        int64_t t0 = gort_nanotime();
        volatile uint64_t x = 0;
        while (gort_nanotime() - t0 < 4 * GORT_MS)
            for (int i = 0; i < 20000; i++)
                x++;
        int64_t held = gort_nanotime() - deadline;
        ASSERT_EQ(gort_read_stats(&s1), 0);
        uint64_t coop = s1.preempt_coop - s0.preempt_coop;
        uint64_t async = s1.preempt_async - s0.preempt_async;
        if (held >= 9 * GORT_MS) {
            excused++;
            printf("round %d: held its P %.1f ms (%" PRIu64 " preemptions): "
                   "not judged\n", round, (double)held / 1e6, coop + async);
            continue;
        }
        judged++;
        if (coop + async != 0)
            printf("round %d: held its P %.1f ms and was preempted: "
                   "%" PRIu64 " cooperative, %" PRIu64 " by signal\n",
                   round, (double)held / 1e6, coop, async);
        ASSERT_EQ(coop, 0);
        ASSERT_EQ(async, 0);
    }
    printf("%d rounds judged, %d not (the machine too slow to tell)\n",
           judged, excused);
    ASSERT_EQ(judged, 5);
}

TEST_IMPL(preempt_slice_after_idle_1p)
{
    start(1, slice_after_idle_main, NULL);
    return 0;
}

TEST_IMPL(preempt_slice_after_idle_2p)
{
    start(2, slice_after_idle_main, NULL);
    return 0;
}

/* From a hog's start until main runs again on the same (only) P: Go takes
 * 10-20 ms; the median of 5 must be under a second. */
static void preempt_latency_main(void *arg)
{
    (void)arg;
    int64_t lat[5];
    for (int trial = 0; trial < 5; trial++) {
        hogs_reset();
        gort_waitgroup_add(&hog_wg, 1);
        go_or_die(hog, NULL);
        while (atomic_load(&hogs_started) == 0)
            gort_yield();
        lat[trial] = now() - atomic_load(&hog_t0);
        atomic_store(&hog_stop, 1);
        gort_waitgroup_wait(&hog_wg);
    }
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (lat[j] < lat[i]) {
                int64_t x = lat[i];
                lat[i] = lat[j];
                lat[j] = x;
            }
    printf("preemption latency: min %.2f ms median %.2f ms max %.2f ms\n",
           (double)lat[0] / 1e6, (double)lat[2] / 1e6, (double)lat[4] / 1e6);
    ASSERT_GE(lat[0], 0);
    ASSERT_LE(lat[2], GORT_SEC);
}

TEST_IMPL(preempt_latency_1p)
{
    start(1, preempt_latency_main, NULL);
    return 0;
}

/* asyncpreemptoff=1: a hog that calls gort_preempt_point() each iteration
 * still yields (cooperatively). */
static void hog_coop(void *arg)
{
    (void)arg;
    volatile uint64_t x = 0;
    atomic_fetch_add(&hogs_started, 1);
    while (!atomic_load_explicit(&hog_stop, memory_order_relaxed)) {
        x++;
        gort_preempt_point();
    }
    atomic_fetch_add(&hog_spins, x);
    gort_waitgroup_done(&hog_wg);
}

static void coop_main(void *arg)
{
    (void)arg;
    hogs_reset();
    gort_waitgroup_add(&hog_wg, 2);
    go_or_die(hog_coop, NULL);
    go_or_die(hog_coop, NULL);
    wait_hogs(2);
    for (int i = 0; i < 20; i++)
        checked_sleep(GORT_MS);
    atomic_store(&hog_stop, 1);
    gort_waitgroup_wait(&hog_wg);
    ASSERT_GT(hog_spins, 0);
}

TEST_IMPL(preempt_coop_asyncpreemptoff_1p)
{
    TEST_SETENV("GORTDEBUG", "asyncpreemptoff=1");
    start(1, coop_main, NULL);
    return 0;
}

/* And with asyncpreemptoff=1 a call-free loop is indeed not preempted (so
 * the test above exercised the cooperative path): while it spins for
 * 300 ms (until a plain thread says stop), main on the same P does not
 * run.  With async preemption on (preempt_async_spin_1p), main does. */
static _Atomic int64_t nc_ticks, nc_during;
static _Atomic int nc_done;

static void *nc_timer_thread(void *arg)
{
    (void)arg;
    usleep(300000);
    atomic_store(&hog_stop, 1);
    return NULL;
}

static void nc_hog(void *arg)
{
    (void)arg;
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, nc_timer_thread, NULL), 0);
    int64_t before = atomic_load(&nc_ticks);
    volatile uint64_t x = 0;
    while (!atomic_load_explicit(&hog_stop, memory_order_relaxed))
        x++;
    atomic_store(&nc_during, atomic_load(&nc_ticks) - before);
    atomic_store(&nc_done, 1);
    pthread_detach(th);
}

/* Main's side: start the hog (arg: a struct hogfn, or NULL for nc_hog),
 * then tick every 1 ms until it says it is done. */
struct hogfn {
    void (*fn)(void *);
};

static void nc_main(void *arg)
{
    const struct hogfn *h = arg;
    hogs_reset();
    go_or_die(h ? h->fn : nc_hog, NULL);
    while (!atomic_load(&nc_done)) {
        gort_sleep(GORT_MS);
        atomic_fetch_add(&nc_ticks, 1);
    }
}

TEST_IMPL(preempt_asyncpreemptoff_no_signal_1p)
{
    TEST_SETENV("GORTDEBUG", "asyncpreemptoff=1");
    start(1, nc_main, NULL);
    printf("asyncpreemptoff: main ticked %" PRId64 " times during the spin\n",
           nc_during);
    ASSERT_EQ(nc_during, 0);
    return 0;
}

/* The same program with async preemption on (GORTDEBUG is read once per
 * process, hence a test of its own): main does run during the spin. */
TEST_IMPL(preempt_async_spin_1p)
{
    start(1, nc_main, NULL);
    printf("async preemption: main ticked %" PRId64 " times during the "
           "spin\n", nc_during);
    ASSERT_GT(nc_during, 0);
    return 0;
}

/* A busy-wait on the clock: a goroutine that spins on gort_nanotime()
 * alone spends its time in gort and the vDSO, where no preemption signal
 * lands (preempt.c: only the program's own text is a safe point), so only
 * the cooperative check in gort_nanotime can let main, on the same P, run
 * its 1 ms sleeps meanwhile.  With asyncpreemptoff=1, so that only that
 * path is taken.  The hog waits until main has ticked 3 times (~30 ms:
 * one tick per 10 ms slice), for at most 5 s (under Valgrind, sysmon's
 * rounds come ~150 ms apart); without the check main never ticks. */
static void clock_hog(void *arg)
{
    (void)arg;
    int64_t before = atomic_load(&nc_ticks);
    int64_t t0 = gort_nanotime();
    while (gort_nanotime() - t0 < 5 * GORT_SEC &&
           atomic_load_explicit(&nc_ticks, memory_order_relaxed) - before < 3) {
    }
    atomic_store(&nc_during, atomic_load(&nc_ticks) - before);
    atomic_store(&nc_done, 1);
}

TEST_IMPL(preempt_nanotime_loop_1p)
{
    static const struct hogfn h = {clock_hog};
    TEST_SETENV("GORTDEBUG", "asyncpreemptoff=1");
    start(1, nc_main, (void *)&h);
    printf("main ticked %" PRId64 " times while a goroutine spun on "
           "gort_nanotime()\n", nc_during);
    ASSERT_GE(nc_during, 3);
    return 0;
}

/* Hogs on every P, each doing `body` (one of the variants below), while
 * main sleeps 30 x 1 ms; then stop. */
static _Atomic int64_t main_sleeps;
static _Atomic int hog_fail;

static void hog_main_common(void (*fn)(void *))
{
    int procs = gort_maxprocs(0);
    hogs_reset();
    atomic_store(&main_sleeps, 0);
    gort_waitgroup_add(&hog_wg, procs);
    for (int i = 0; i < procs; i++)
        go_or_die(fn, (void *)(intptr_t)(i + 1));
    wait_hogs(procs);
    for (int i = 0; i < 30; i++) {
        checked_sleep(GORT_MS);
        atomic_fetch_add(&main_sleeps, 1);
    }
    atomic_store(&hog_stop, 1);
    gort_waitgroup_wait(&hog_wg);
    ASSERT_EQ(hog_fail, 0);
}

/* errno survives preemption (and migration on 2 Ps). */
static void hog_errno(void *arg)
{
    int id = (int)(intptr_t)arg;
    volatile uint64_t x = 0;
    errno = 1234 + id;
    atomic_fetch_add(&hogs_started, 1);
    while (!atomic_load_explicit(&hog_stop, memory_order_relaxed))
        x++;
    int e = errno;
    if (e != 1234 + id) {
        printf("hog %d: errno %d, expected %d\n", id, e, 1234 + id);
        atomic_store(&hog_fail, 1);
    }
    gort_waitgroup_done(&hog_wg);
}

static void preempt_errno_main(void *arg)
{
    (void)arg;
    hog_main_common(hog_errno);
}

TEST_IMPL(preempt_errno_1p)
{
    start(1, preempt_errno_main, NULL);
    return 0;
}

TEST_IMPL(preempt_errno_2p)
{
    start(2, preempt_errno_main, NULL);
    return 0;
}

/* Defers across preemption: the hog's scope chain (thread-local, swapped
 * per goroutine) survives, its defers run once each in LIFO order, and
 * main's scope, active on the same thread meanwhile, is not mixed up. */
#define DF_MAX 16
static _Atomic int df_log[3][DF_MAX];   /* [hog id] (0 = main) */
static _Atomic int df_n[3];

static void df_rec(void *arg)
{
    int v = (int)(intptr_t)arg;
    int who = v / 100;
    int k = atomic_fetch_add(&df_n[who], 1);
    if (k < DF_MAX)
        atomic_store(&df_log[who][k], v % 100);
}

static void hog_defer(void *arg)
{
    int id = (int)(intptr_t)arg;
    volatile uint64_t x = 0;
    gort_scope {
        gort_defer(df_rec, (intptr_t)id * 100 + 1);
        gort_defer(df_rec, (intptr_t)id * 100 + 2);
        atomic_fetch_add(&hogs_started, 1);
        while (atomic_load_explicit(&main_sleeps, memory_order_relaxed) < 10)
            x++;
        gort_scope {
            gort_defer(df_rec, (intptr_t)id * 100 + 3);
            gort_defer(df_rec, (intptr_t)id * 100 + 4);
            while (!atomic_load_explicit(&hog_stop, memory_order_relaxed))
                x++;
        }
        gort_defer(df_rec, (intptr_t)id * 100 + 5);
    }
    gort_waitgroup_done(&hog_wg);
}

static void preempt_defer_main(void *arg)
{
    (void)arg;
    int procs = gort_maxprocs(0);
    ASSERT_LE(procs, 2);
    for (int i = 0; i < 3; i++)
        atomic_store(&df_n[i], 0);
    gort_scope {
        gort_defer(df_rec, (intptr_t)7);
        hog_main_common(hog_defer);
        ASSERT_EQ(df_n[0], 0);
    }
    ASSERT_EQ(df_n[0], 1);
    ASSERT_EQ(df_log[0][0], 7);
    static const int want[] = {4, 3, 5, 2, 1};
    for (int id = 1; id <= procs; id++) {
        ASSERT_EQ(df_n[id], 5);
        for (int k = 0; k < 5; k++)
            ASSERT_EQ(df_log[id][k], want[k]);
    }
}

TEST_IMPL(preempt_defer_1p)
{
    start(1, preempt_defer_main, NULL);
    return 0;
}

TEST_IMPL(preempt_defer_2p)
{
    start(2, preempt_defer_main, NULL);
    return 0;
}

/* FP registers survive asynchronous preemption: eight double accumulators
 * and a float, exact integer sums (below 2^53) checked at the end; each hog
 * adds its own multiples, so registers leaking between goroutines show. */
static void hog_fpu(void *arg)
{
    int id = (int)(intptr_t)arg;
    double m = (double)id;
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    float f = 0;
    uint64_t n = 0;
    atomic_fetch_add(&hogs_started, 1);
    while (!atomic_load_explicit(&hog_stop, memory_order_relaxed)) {
        a0 += 1.0 * m;
        a1 += 2.0 * m;
        a2 += 3.0 * m;
        a3 += 4.0 * m;
        a4 += 5.0 * m;
        a5 += 6.0 * m;
        a6 += 7.0 * m;
        a7 += 8.0 * m;
        f = f * 0.5f + 1.0f;        /* converges to exactly 2 */
        n++;
    }
    double acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
    for (int k = 0; k < 8; k++) {
        double want = (double)(n * (uint64_t)(k + 1) * (uint64_t)id);
        if (acc[k] != want) {
            printf("hog %d: a%d = %.1f after %" PRIu64 " rounds, want %.1f\n",
                   id, k, acc[k], n, want);
            atomic_store(&hog_fail, 1);
        }
    }
    if (n > 100 && f != 2.0f) {
        printf("hog %d: f = %.9g, want 2\n", id, (double)f);
        atomic_store(&hog_fail, 1);
    }
    gort_waitgroup_done(&hog_wg);
}

static void preempt_fpu_main(void *arg)
{
    (void)arg;
    /* Main keeps FP values live across its own switches too. */
    volatile double seed = 0.25;
    double y = seed * 3.0;
    hog_main_common(hog_fpu);
    ASSERT(y == 0.75);
}

TEST_IMPL(preempt_fpu_1p)
{
    start(1, preempt_fpu_main, NULL);
    return 0;
}

TEST_IMPL(preempt_fpu_2p)
{
    start(2, preempt_fpu_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Blocking system calls (1 P)                                              */
/* ------------------------------------------------------------------------ */

/* Main counts finished 1-ms sleeps until `want` blockers are done; each
 * blocker notes how many main finished while it was blocked. */
static _Atomic int64_t sc_ticks, sc_done;
static _Atomic int64_t sc_min_progress = INT64_MAX;

static void sc_note(int64_t before)
{
    int64_t d = atomic_load(&sc_ticks) - before;
    int64_t m = atomic_load(&sc_min_progress);
    while (d < m && !atomic_compare_exchange_weak(&sc_min_progress, &m, d)) {
    }
    atomic_fetch_add(&sc_done, 1);
}

static void sc_tick_until(int64_t want)
{
    int64_t deadline = now() + 30 * GORT_SEC;
    while (atomic_load(&sc_done) < want) {
        if (now() > deadline)
            TEST_FAIL_("blocked goroutines: %" PRId64 " of %" PRId64
                       " done after 30 s", atomic_load(&sc_done), want);
        gort_sleep(GORT_MS);
        atomic_fetch_add(&sc_ticks, 1);
    }
}

static void sc_reset(void)
{
    atomic_store(&sc_ticks, 0);
    atomic_store(&sc_done, 0);
    atomic_store(&sc_min_progress, INT64_MAX);
}

/* A plain thread that writes "hello" to a pipe after 300 ms. */
static void *sc_writer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    usleep(300000);
    ASSERT_EQ(write(fd, "hello", 5), 5);
    return NULL;
}

static bool sc_check_progress = true;

static int sc_kind;     /* 0 usleep, 1 pipe read, 2 timed-out recv */
static int sc_fds[2];

static void sc_blocker(void *arg)
{
    bool wrapped = arg != NULL;
    int64_t before = atomic_load(&sc_ticks);
    int64_t t0 = now();
    if (sc_kind == 0) {
        int r = wrapped ? GORT_BLOCKING(usleep(300000)) : usleep(300000);
        ASSERT_EQ(r, 0);
    } else if (sc_kind == 1) {
        char buf[16] = {0};
        ssize_t n = wrapped ? GORT_BLOCKING(read(sc_fds[0], buf, sizeof buf))
                            : read(sc_fds[0], buf, sizeof buf);
        ASSERT_EQ(n, 5);
        ASSERT(memcmp(buf, "hello", 5) == 0);
    } else {
        char buf[16];
        errno = 0;
        ssize_t n = wrapped ? GORT_BLOCKING(recv(sc_fds[0], buf, 1, 0))
                            : recv(sc_fds[0], buf, 1, 0);
        int e = errno;
        ASSERT_EQ(n, -1);
        ASSERT(e == EAGAIN || e == EWOULDBLOCK);
    }
    ASSERT_GE(now() - t0, 250 * GORT_MS);
    sc_note(before);
}

static void sc_main(void *arg)
{
    sc_reset();
    pthread_t th;
    if (sc_kind == 1) {
        ASSERT_EQ(pipe(sc_fds), 0);
        ASSERT_EQ(pthread_create(&th, NULL, sc_writer,
                                 (void *)(intptr_t)sc_fds[1]), 0);
    } else if (sc_kind == 2) {
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sc_fds), 0);
        struct timeval tv = {0, 300000};
        ASSERT_EQ(setsockopt(sc_fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv,
                             sizeof tv), 0);
    }
    go_or_die(sc_blocker, arg);
    sc_tick_until(1);
    printf("main finished %" PRId64 " 1-ms sleeps while the call blocked\n",
           sc_min_progress);
    if (sc_check_progress)
        ASSERT_GE(sc_min_progress, 10);
    if (sc_kind == 1)
        ASSERT_EQ(pthread_join(th, NULL), 0);
    if (sc_kind != 0) {
        close(sc_fds[0]);
        close(sc_fds[1]);
    }
}

#define SC_TEST(name, kind, wrapped)                                       \
    TEST_IMPL(name)                                                        \
    {                                                                      \
        sc_kind = (kind);                                                  \
        start(1, sc_main, (wrapped) ? (void *)1 : NULL);                   \
        return 0;                                                          \
    }

SC_TEST(syscall_wrapped_usleep_1p, 0, 1)
SC_TEST(syscall_wrapped_pipe_read_1p, 1, 1)
SC_TEST(syscall_wrapped_recv_timeout_1p, 2, 1)
SC_TEST(syscall_unwrapped_usleep_1p, 0, 0)
SC_TEST(syscall_unwrapped_pipe_read_1p, 1, 0)
SC_TEST(syscall_unwrapped_recv_timeout_1p, 2, 0)

/* Eight goroutines blocked at once on one P (wrapped, then not): they
 * block side by side (well under the 2.4 s they would take in turn) and
 * main keeps going. */
static void sc_many_main(void *arg)
{
    sc_kind = 0;
    sc_reset();
    int64_t t0 = now();
    for (int i = 0; i < 8; i++)
        go_or_die(sc_blocker, arg);
    sc_tick_until(8);
    int64_t dt = now() - t0;
    printf("8 x 300 ms blocked in %.3f s, main progress >= %" PRId64 "\n",
           (double)dt / 1e9, sc_min_progress);
    if (sc_check_progress) {
        ASSERT_LT(dt, 1500 * GORT_MS);
        ASSERT_GE(sc_min_progress, 10);
    }
}

TEST_IMPL(syscall_many_blocked_1p)
{
    start(1, sc_many_main, (void *)1);
    return 0;
}

/* The same, unwrapped: sysmon rescues each call. */
TEST_IMPL(syscall_many_unwrapped_1p)
{
    start(1, sc_many_main, NULL);
    return 0;
}

/* errno after GORT_BLOCKING is the call's; enter/exit keep errno. */
static void sc_errno_main(void *arg)
{
    (void)arg;
    char c;
    errno = 0;
    ssize_t r = GORT_BLOCKING(read(-1, &c, 1));
    ASSERT_EQ(r, -1);
    ASSERT_EQ(errno, EBADF);
    errno = 4321;
    (void)GORT_BLOCKING(getpid());
    ASSERT_EQ(errno, 4321);
    errno = 555;
    gort_syscall_enter();
    gort_syscall_exit();
    ASSERT_EQ(errno, 555);
    (void)GORT_BLOCKING((usleep(1000), 0));
    /* exit without enter: nothing. */
    errno = 556;
    gort_syscall_exit();
    ASSERT_EQ(errno, 556);
    /* Many quick pairs. */
    for (int i = 0; i < 10000; i++) {
        errno = i;
        r = GORT_BLOCKING(read(-1, &c, 1));
        ASSERT_EQ(r, -1);
        ASSERT_EQ(errno, EBADF);
    }
    gort_chan *ch = mkchan(sizeof(int), 1);
    int v = 5;
    gort_chan_send(ch, &v);
    ASSERT(gort_chan_recv(ch, &v));
    ASSERT_EQ(v, 5);
    gort_chan_free(ch);
}

TEST_IMPL(syscall_errno)
{
    start(1, sc_errno_main, NULL);
    start(2, sc_errno_main, NULL);
    return 0;
}

/* On a plain thread (no runtime, or beside it) enter/exit do nothing. */
static void *sc_plain_thread(void *arg)
{
    (void)arg;
    errno = 31337;
    gort_syscall_enter();
    ASSERT_EQ(*__errno_location(), 31337);
    gort_syscall_exit();
    ASSERT_EQ(errno, 31337);
    gort_syscall_exit();
    gort_syscall_enter();
    gort_syscall_enter();
    gort_syscall_exit();
    ASSERT_EQ(errno, 31337);
    char c;
    ASSERT_EQ(GORT_BLOCKING(read(-1, &c, 1)), -1);
    ASSERT_EQ(errno, EBADF);
    ASSERT_EQ(GORT_BLOCKING(usleep(1000)), 0);
    return NULL;
}

static void sc_plain_main(void *arg)
{
    (void)arg;
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, sc_plain_thread, NULL), 0);
    ASSERT_EQ(GORT_BLOCKING(pthread_join(th, NULL)), 0);
}

TEST_IMPL(syscall_plain_thread)
{
    (void)sc_plain_thread(NULL);
    start(2, sc_plain_main, NULL);
    (void)sc_plain_thread(NULL);
    return 0;
}

/* gort_set_max_threads: previous limit (default 10000), n < 1 EINVAL. */
static void mt_api_main(void *arg)
{
    (void)arg;
    ASSERT_EQ(gort_set_max_threads(5000), 10000);
    errno = 0;
    ASSERT_EQ(gort_set_max_threads(0), -1);
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT_EQ(gort_set_max_threads(-3), -1);
    ASSERT_EQ(errno, EINVAL);
    ASSERT_EQ(gort_set_max_threads(10000), 5000);
}

TEST_IMPL(syscall_max_threads_api)
{
    start(2, mt_api_main, NULL);
    return 0;
}

/* Past the cap: "fatal error: thread exhaustion", exit 2. */
static gort_waitgroup exh_wg;

static void exh_blocker(void *arg)
{
    (void)arg;
    (void)GORT_BLOCKING(usleep(2000000));
    gort_waitgroup_done(&exh_wg);
}

static void exh_main(void *arg)
{
    (void)arg;
    ASSERT_EQ(gort_set_max_threads(4), 10000);
    gort_waitgroup_add(&exh_wg, 10);
    for (int i = 0; i < 10; i++)
        go_or_die(exh_blocker, NULL);
    gort_waitgroup_wait(&exh_wg);
    printf("all blockers returned\n");
}

static void exh_child(void *arg)
{
    (void)arg;
    start(4, exh_main, NULL);
    printf("gort_run returned\n");
}

TEST_IMPL(syscall_thread_exhaustion)
{
    expect_child(exh_child, NULL, 2, "fatal error: thread exhaustion",
                 "returned", 30);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* sysmon's schedtrace                                                      */
/* ------------------------------------------------------------------------ */

/* GORTDEBUG=schedtrace=50: sysmon prints Go 1.19's SCHED line every 50 ms;
 * on 3 Ps with two goroutines spinning, the lines say gomaxprocs=3 and
 * give three per-P queue lengths in brackets, the ms stamps grow, and the
 * thread count covers the Ms running the spinners. */
static _Atomic int st_stop;

static void st_spin(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&st_stop, memory_order_relaxed))
        gort_preempt_point();
}

static void st_main(void *arg)
{
    (void)arg;
    go_or_die(st_spin, NULL);
    go_or_die(st_spin, NULL);
    gort_sleep(300 * GORT_MS);
    atomic_store(&st_stop, 1);
}

static void st_child(void *arg)
{
    (void)arg;
    TEST_SETENV("GORTDEBUG", "schedtrace=50");
    start(3, st_main, NULL);
}

TEST_IMPL(sysmon_schedtrace)
{
    const char *out = test_expect_child(st_child, NULL, 0, "SCHED ", NULL, 30);
    int lines = 0;
    long last_ms = -1;
    for (const char *p = strstr(out, "SCHED "); p; p = strstr(p + 1, "SCHED ")) {
        long ms, threads, idlethreads, runq, q[3];
        int procs, idle, spinning;
        int k = sscanf(p, "SCHED %ldms: gomaxprocs=%d idleprocs=%d threads=%ld "
                          "spinningthreads=%d idlethreads=%ld runqueue=%ld "
                          "[%ld %ld %ld]",
                       &ms, &procs, &idle, &threads, &spinning, &idlethreads,
                       &runq, &q[0], &q[1], &q[2]);
        ASSERT_EQ(k, 10);
        ASSERT_EQ(procs, 3);
        ASSERT(idle >= 0 && idle <= 3);
        ASSERT_GE(threads, 3);      /* two spinners' Ms and sysmon */
        ASSERT_GE(ms, last_ms);
        ASSERT(runq >= 0 && q[0] >= 0 && q[1] >= 0 && q[2] >= 0);
        last_ms = ms;
        lines++;
    }
    ASSERT_GE(lines, 3);
    ASSERT_GE(last_ms, 100);
    return 0;
}

/* A timer never waits behind a busy P: on 2 Ps, main arms a 1 ms sleep on
 * its P and the hog it just spawned takes that P over; the idle P's M,
 * asleep until the earliest timer of all Ps, runs it when due (or a steal
 * round does, or sysmon starts an M for a late one), so main wakes long
 * before the hog's 10 ms slice ends and it is preempted. */
static _Atomic int ts2_stop;

static void ts2_hog(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&ts2_stop, memory_order_relaxed))
        ;
}

static void ts2_main(void *arg)
{
    (void)arg;
    int fast = 0;
    for (int r = 0; r < 5; r++) {
        atomic_store(&ts2_stop, 0);
        go_or_die(ts2_hog, NULL);
        int64_t t0 = now();
        gort_sleep(GORT_MS);
        int64_t dt = now() - t0;
        printf("round %d: 1 ms sleep took %.2f ms\n", r, (double)dt / 1e6);
        if (dt < 6 * GORT_MS)
            fast++;
        atomic_store(&ts2_stop, 1);
        wait_num_goroutine(1);
    }
    ASSERT_GE(fast, 3);
}

TEST_IMPL(timer_not_behind_busy_p_2p)
{
    start(2, ts2_main, NULL);
    return 0;
}

/* Blocking in gort inside a syscall pair is the documented fatal error,
 * not a crash. */
static void sc_misuse_main(void *arg)
{
    (void)arg;
    gort_syscall_enter();
    gort_sleep(GORT_MS);
    gort_syscall_exit();
}

static void sc_misuse_child(void *arg)
{
    (void)arg;
    start(1, sc_misuse_main, NULL);
}

TEST_IMPL(syscall_misuse_fatal)
{
    expect_child(sc_misuse_child, NULL, 2,
                 "fatal error: goroutine blocked in gort while inside "
                 "gort_syscall_enter/gort_syscall_exit", NULL, 30);
    return 0;
}

/* A SIGURG handler the program installed before gort starts is chained:
 * it gets the SIGURGs gort did not send (here a kill(2) of our own), and
 * gort's preemption by SIGURG still works beside it. */
static _Atomic int urg_user_calls;

static void urg_user_handler(int sig)
{
    (void)sig;
    atomic_fetch_add(&urg_user_calls, 1);
}

static _Atomic int urg_stop;

static void urg_hog(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&urg_stop, memory_order_relaxed))
        ;
}

static void urg_main(void *arg)
{
    (void)arg;
    ASSERT_EQ(kill(getpid(), SIGURG), 0);
    int64_t deadline = now() + 5 * GORT_SEC;
    while (atomic_load(&urg_user_calls) == 0 && now() < deadline)
        gort_sleep(GORT_MS);
    ASSERT_EQ(atomic_load(&urg_user_calls), 1);
    /* Async preemption still works (1 P: main's sleep needs the hog
     * preempted), and its signals do not reach the user's handler. */
    go_or_die(urg_hog, NULL);
    gort_sleep(GORT_MS);
    atomic_store(&urg_stop, 1);
    ASSERT_EQ(atomic_load(&urg_user_calls), 1);
}

static void urg_child(void *arg)
{
    (void)arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = urg_user_handler;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(sigaction(SIGURG, &sa, NULL), 0);
    start(1, urg_main, NULL);
}

TEST_IMPL(preempt_user_sigurg_chained)
{
    expect_child(urg_child, NULL, 0, NULL, "Assertion failed", 60);
    return 0;
}
