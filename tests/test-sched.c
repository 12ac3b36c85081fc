/*
 * test-sched.c — the foundation layer: gort_run and its generations,
 * gort_go and stacks, the GMP scheduler (spreading, stealing, maxprocs),
 * errno across migration, gort_lock_os_thread, deadlock detection,
 * gort_goexit, stack guards and overflow, exhaustion of address space.
 *
 * Every test starts the runtime itself (each runs in its own forked child,
 * so each gets a fresh runtime).  Tests that expect the process to die (a
 * fatal error, exit 2) run that part in a grandchild through
 * test_run_child.  Nothing here asserts on time; hangs are caught by the
 * runner's timeouts.  Shared counters are atomics.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"
#include "runtime.h" /* gort__getm (current P), gort__stack_guard_mode */

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* Starts the runtime on `procs` Ps (set both ways, so the result does not
 * depend on which one wins or on the caller's environment) and checks that
 * gort_run returns 0. */
#define start test_start

static pid_t gettid_(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* The P the calling goroutine runs on. */
static int cur_p(void)
{
    m_t *mp = gort__getm();
    ASSERT(mp != NULL && mp->p != NULL);
    return mp->p->id;
}

/* CPU work the compiler cannot drop. */
static _Atomic uint64_t burn_sink;
static void burn(uint64_t n)
{
    uint64_t x = 88172645463325252ULL ^ n;
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    atomic_fetch_add_explicit(&burn_sink, x, memory_order_relaxed);
}

/* Yields until at most n goroutines exist (goroutines that called
 * waitgroup_done may still be on their way out). */
static void wait_num_goroutine(int64_t n)
{
    while (gort_num_goroutine() > n)
        gort_yield();
}

/* Uses about `bytes` of stack in 4 KiB frames, records the lowest address
 * reached in *low, returns a value that depends on every frame. */
__attribute__((noinline)) static uint64_t eat_stack(size_t bytes,
                                                    uintptr_t *low)
{
    volatile char buf[4096];
    for (size_t i = 0; i < sizeof buf; i += 512)
        buf[i] = (char)(i >> 9);
    if ((uintptr_t)buf < *low)
        *low = (uintptr_t)buf;
    if (bytes <= sizeof buf)
        return (uint64_t)buf[512] + 1;
    uint64_t r = eat_stack(bytes - sizeof buf, low);
    return r + (uint64_t)buf[1024]; /* not a tail call */
}

/* Uses `bytes` of stack and checks that it really went that deep. */
__attribute__((noinline)) static void use_stack(size_t bytes)
{
    volatile char top = 0;
    uintptr_t low = UINTPTR_MAX;
    uint64_t r = eat_stack(bytes, &low);
    ASSERT_GT(r, 0);
    ASSERT_GE((uintptr_t)&top - low, bytes - 4096);
    (void)top;
}

#define expect_child(fn, arg, code, needle, forbidden, timeout_s) \
    ((void)test_expect_child(fn, arg, code, needle, forbidden, timeout_s))

/* ------------------------------------------------------------------------ */
/* gort_run                                                                 */
/* ------------------------------------------------------------------------ */

static _Atomic int basic_ran;
static _Atomic int64_t basic_self, basic_child_self, basic_thread_self;
static void *basic_arg;
static gort_waitgroup basic_wg;

static void basic_child(void *arg)
{
    (void)arg;
    basic_child_self = gort_self();
    gort_waitgroup_done(&basic_wg);
}

static void *basic_thread(void *arg)
{
    (void)arg;
    basic_thread_self = gort_self();
    return NULL;
}

static void basic_main(void *arg)
{
    basic_arg = arg;
    basic_self = gort_self();
    ASSERT_EQ(gort_num_goroutine(), 1);

    gort_waitgroup_add(&basic_wg, 1);
    int64_t id = gort_go(basic_child, NULL);
    ASSERT_GT(id, 1);
    gort_waitgroup_wait(&basic_wg);
    ASSERT_EQ(basic_child_self, id);

    /* A plain thread is not a goroutine, even while the runtime runs. */
    basic_thread_self = -1;
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, basic_thread, NULL), 0);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    ASSERT_EQ(basic_thread_self, 0);

    basic_ran = 1;
}

TEST_IMPL(run_returns_zero)
{
    int x;
    ASSERT_EQ(gort_self(), 0);
    start(2, basic_main, &x);
    ASSERT_EQ(basic_ran, 1);
    ASSERT_EQ(basic_self, 1);
    ASSERT(basic_arg == &x);
    ASSERT_EQ(gort_self(), 0);
    return 0;
}

static _Atomic int einval_ran;
static void einval_main(void *arg)
{
    (void)arg;
    einval_ran = 1;
}

TEST_IMPL(run_einval)
{
    errno = 0;
    ASSERT_EQ(gort_run(NULL, NULL), -1);
    ASSERT_EQ(errno, EINVAL);
    /* The failed call leaves nothing behind. */
    start(2, einval_main, NULL);
    ASSERT_EQ(einval_ran, 1);
    errno = 0;
    ASSERT_EQ(gort_run(NULL, NULL), -1);
    ASSERT_EQ(errno, EINVAL);
    return 0;
}

static _Atomic int nested_ran, nested_inner_ran, nested_child_done;
static _Atomic int nested_thread_rc, nested_thread_errno;
static gort_waitgroup nested_wg;

static void nested_inner(void *arg)
{
    (void)arg;
    nested_inner_ran = 1;
}

static void nested_child(void *arg)
{
    (void)arg;
    errno = 0;
    ASSERT_EQ(gort_run(nested_inner, NULL), -1);
    ASSERT_EQ(errno, EBUSY);
    nested_child_done = 1;
    gort_waitgroup_done(&nested_wg);
}

static void *nested_thread(void *arg)
{
    (void)arg;
    errno = 0;
    nested_thread_rc = gort_run(nested_inner, NULL);
    nested_thread_errno = errno;
    return NULL;
}

static void nested_main(void *arg)
{
    (void)arg;
    errno = 0;
    ASSERT_EQ(gort_run(nested_inner, NULL), -1);
    ASSERT_EQ(errno, EBUSY);

    gort_waitgroup_add(&nested_wg, 1);
    ASSERT_GT(gort_go(nested_child, NULL), 0);
    gort_waitgroup_wait(&nested_wg);
    ASSERT_EQ(nested_child_done, 1);

    /* From a plain thread while this gort_run is in progress. */
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, nested_thread, NULL), 0);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    ASSERT_EQ(nested_thread_rc, -1);
    ASSERT_EQ(nested_thread_errno, EBUSY);

    ASSERT_EQ(nested_inner_ran, 0);
    nested_ran = 1;
}

TEST_IMPL(run_nested_ebusy)
{
    start(2, nested_main, NULL);
    ASSERT_EQ(nested_ran, 1);
    ASSERT_EQ(nested_inner_ran, 0);
    return 0;
}

/* Two runs in a row.  The first (on 1 P, so nothing runs beside main)
 * leaves 100 goroutines parked on a gate and 1000 runnable ones queued;
 * none of them may ever run again. */
#define TW_BLOCKED 100
/* Fewer than gort_go's backpressure point (7/8 of a 256-slot run queue),
 * so that they are all still queued when main returns. */
#define TW_RUNNABLE 200
static gort_waitgroup tw_started, tw_gate, tw_wg2;
static _Atomic int tw_stale, tw_fresh, tw_release_gate;

static void tw_blocked(void *arg)
{
    (void)arg;
    gort_waitgroup_done(&tw_started);
    gort_waitgroup_wait(&tw_gate);
    atomic_fetch_add(&tw_stale, 1);
}

static void tw_runnable(void *arg)
{
    (void)arg;
    atomic_fetch_add(&tw_stale, 1);
}

static void tw_main1(void *arg)
{
    (void)arg;
    ASSERT_EQ(gort_maxprocs(0), 1);
    gort_waitgroup_add(&tw_gate, 1);
    gort_waitgroup_add(&tw_started, TW_BLOCKED);
    for (int i = 0; i < TW_BLOCKED; i++)
        ASSERT_GT(gort_go(tw_blocked, NULL), 0);
    gort_waitgroup_wait(&tw_started);
    for (int i = 0; i < TW_RUNNABLE; i++)
        ASSERT_GT(gort_go(tw_runnable, NULL), 0);
    ASSERT_EQ(gort_num_goroutine(), 1 + TW_BLOCKED + TW_RUNNABLE);
    ASSERT_EQ(tw_stale, 0);
    /* Return with all of them still there. */
}

static void tw_fresh_fn(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++)
        gort_yield();
    atomic_fetch_add(&tw_fresh, 1);
    gort_waitgroup_done(&tw_wg2);
}

static void tw_main2(void *arg)
{
    (void)arg;
    ASSERT_EQ(gort_self(), 1);
    ASSERT_EQ(tw_stale, 0);
    /* Abandoned goroutines do not exist any more. */
    ASSERT_EQ(gort_num_goroutine(), 1);
    if (tw_release_gate) {
        /* Waking the abandoned waiters must not run them. */
        tw_release_gate = 0;
        gort_waitgroup_done(&tw_gate);
    }
    for (int round = 0; round < 5; round++) {
        gort_waitgroup_add(&tw_wg2, 200);
        for (int i = 0; i < 200; i++)
            ASSERT_GT(gort_go(tw_fresh_fn, NULL), 0);
        gort_waitgroup_wait(&tw_wg2);
        for (int i = 0; i < 1000; i++)
            gort_yield();
    }
    wait_num_goroutine(1);
    ASSERT_EQ(tw_fresh, 5 * 200);
    ASSERT_EQ(tw_stale, 0);
}

static void run_twice(bool release)
{
    tw_release_gate = release;
    start(1, tw_main1, NULL);
    ASSERT_EQ(tw_stale, 0);
    start(2, tw_main2, NULL);
    ASSERT_EQ(tw_stale, 0);
    /* And a third time, for good measure. */
    tw_fresh = 0;
    start(4, tw_main2, NULL);
    ASSERT_EQ(tw_stale, 0);
}

TEST_IMPL(run_twice)
{
    run_twice(false);
    return 0;
}

TEST_IMPL(run_twice_release_old_gate)
{
    run_twice(true);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* gort_go, gort_go_ex, stacks                                              */
/* ------------------------------------------------------------------------ */

static _Atomic int go_count;
static gort_waitgroup go_wg;

static void go_count_fn(void *arg)
{
    (void)arg;
    atomic_fetch_add(&go_count, 1);
    gort_waitgroup_done(&go_wg);
}

static void go_einval_main(void *arg)
{
    (void)arg;
    gort_attr a;

    errno = 0;
    ASSERT_EQ(gort_go(NULL, NULL), -1);
    ASSERT_EQ(errno, EINVAL);

    errno = 0;
    ASSERT_EQ(gort_go_ex(NULL, NULL, NULL), -1);
    ASSERT_EQ(errno, EINVAL);

    memset(&a, 0, sizeof a);
    a.stack_size = 1;
    errno = 0;
    ASSERT_EQ(gort_go_ex(go_count_fn, NULL, &a), -1);
    ASSERT_EQ(errno, EINVAL);

    a.stack_size = GORT_STACK_MIN - 1;
    errno = 0;
    ASSERT_EQ(gort_go_ex(go_count_fn, NULL, &a), -1);
    ASSERT_EQ(errno, EINVAL);

    a.stack_size = GORT_STACK_MAX + 1;
    errno = 0;
    ASSERT_EQ(gort_go_ex(go_count_fn, NULL, &a), -1);
    ASSERT_EQ(errno, EINVAL);

    a.stack_size = SIZE_MAX;
    errno = 0;
    ASSERT_EQ(gort_go_ex(go_count_fn, NULL, &a), -1);
    ASSERT_EQ(errno, EINVAL);

    /* Nothing was created by the failures. */
    ASSERT_EQ(gort_num_goroutine(), 1);
    ASSERT_EQ(go_count, 0);

    /* The bounds themselves, a NULL attr and a zero attr are fine. */
    gort_waitgroup_add(&go_wg, 4);
    a.stack_size = GORT_STACK_MIN;
    ASSERT_GT(gort_go_ex(go_count_fn, NULL, &a), 0);
    a.stack_size = GORT_STACK_MAX;
    ASSERT_GT(gort_go_ex(go_count_fn, NULL, &a), 0);
    ASSERT_GT(gort_go_ex(go_count_fn, NULL, NULL), 0);
    memset(&a, 0, sizeof a);
    ASSERT_GT(gort_go_ex(go_count_fn, NULL, &a), 0);
    gort_waitgroup_wait(&go_wg);
    ASSERT_EQ(go_count, 4);
}

TEST_IMPL(go_einval)
{
    /* Before gort_run too. */
    errno = 0;
    ASSERT_EQ(gort_go(NULL, NULL), -1);
    ASSERT_EQ(errno, EINVAL);
    start(2, go_einval_main, NULL);
    return 0;
}

static _Atomic int stk_done;

static void stk_64k(void *arg)
{
    (void)arg;
    use_stack(40 * 1024);
    atomic_fetch_add(&stk_done, 1);
    gort_waitgroup_done(&go_wg);
}

static void stk_8m(void *arg)
{
    (void)arg;
    use_stack(6 * 1024 * 1024);
    gort_yield();
    use_stack(6 * 1024 * 1024); /* again, maybe on another thread */
    atomic_fetch_add(&stk_done, 1);
    gort_waitgroup_done(&go_wg);
}

static void go_stack_sizes_main(void *arg)
{
    (void)arg;
    gort_attr a = {0};
    gort_waitgroup_add(&go_wg, 8);
    for (int i = 0; i < 4; i++) {
        a.stack_size = 64 * 1024;
        ASSERT_GT(gort_go_ex(stk_64k, NULL, &a), 0);
        a.stack_size = 8 * 1024 * 1024;
        ASSERT_GT(gort_go_ex(stk_8m, NULL, &a), 0);
    }
    gort_waitgroup_wait(&go_wg);
    ASSERT_EQ(stk_done, 8);
}

TEST_IMPL(go_stack_sizes)
{
    start(2, go_stack_sizes_main, NULL);
    return 0;
}

static void stk_900k(void *arg)
{
    (void)arg;
    use_stack(900 * 1024);
    atomic_fetch_add(&stk_done, 1);
    gort_waitgroup_done(&go_wg);
}

static void go_gortstack_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&go_wg, 16);
    for (int i = 0; i < 16; i++)
        ASSERT_GT(gort_go(stk_900k, NULL), 0);
    gort_waitgroup_wait(&go_wg);
    ASSERT_EQ(stk_done, 16);
}

TEST_IMPL(go_gortstack_env)
{
    TEST_SETENV("GORTSTACK", "1m");
    start(2, go_gortstack_main, NULL);
    return 0;
}

static _Atomic int64_t name_self;
static void name_fn(void *arg)
{
    (void)arg;
    name_self = gort_self();
    gort_waitgroup_done(&go_wg);
}

static void go_attr_name_main(void *arg)
{
    (void)arg;
    char name[2048];
    gort_attr a = {0};

    snprintf(name, sizeof name, "worker-%d", 1);
    a.name = name;
    gort_waitgroup_add(&go_wg, 1);
    int64_t id = gort_go_ex(name_fn, NULL, &a);
    ASSERT_GT(id, 0);
    memset(name, 'x', sizeof name - 1); /* the name was copied */
    name[sizeof name - 1] = '\0';
    gort_waitgroup_wait(&go_wg);
    ASSERT_EQ(name_self, id);

    /* A long one, with a custom stack size. */
    a.stack_size = 128 * 1024;
    gort_waitgroup_add(&go_wg, 1);
    id = gort_go_ex(name_fn, NULL, &a);
    ASSERT_GT(id, 0);
    gort_waitgroup_wait(&go_wg);
    ASSERT_EQ(name_self, id);
}

TEST_IMPL(go_attr_name)
{
    start(2, go_attr_name_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* A million goroutines                                                     */
/* ------------------------------------------------------------------------ */

#define MILLION 1000000
static gort_waitgroup mil_started, mil_gate, mil_done;
static _Atomic int64_t mil_finished;

static void mil_fn(void *arg)
{
    (void)arg;
    gort_waitgroup_done(&mil_started);
    gort_waitgroup_wait(&mil_gate);
    atomic_fetch_add_explicit(&mil_finished, 1, memory_order_relaxed);
    gort_waitgroup_done(&mil_done);
}

static void mil_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&mil_started, MILLION);
    gort_waitgroup_add(&mil_gate, 1);
    gort_waitgroup_add(&mil_done, MILLION);
    for (int i = 0; i < MILLION; i++) {
        int64_t id = gort_go(mil_fn, NULL);
        if (id <= 0)
            TEST_FAIL_("gort_go #%d failed: %s", i, strerror(errno));
    }
    gort_waitgroup_wait(&mil_started);
    ASSERT_EQ(gort_num_goroutine(), MILLION + 1);
    ASSERT_EQ(mil_finished, 0);
    gort_waitgroup_done(&mil_gate);
    gort_waitgroup_wait(&mil_done);
    ASSERT_EQ(mil_finished, MILLION);
    wait_num_goroutine(1);
    ASSERT_EQ(gort_num_goroutine(), 1);
}

TEST_IMPL(goroutines_million)
{
    start(2, mil_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Work spreads over every P                                                */
/* ------------------------------------------------------------------------ */

#define SPREAD_N 2000
static gort_waitgroup spread_wg;
static _Atomic int spread_done;

static void spread_fn(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++) {
        burn(20000);
        gort_yield();
    }
    atomic_fetch_add(&spread_done, 1);
    gort_waitgroup_done(&spread_wg);
}

static void spread_main(void *arg)
{
    (void)arg;
    gort_proc_stat st[8];
    memset(st, 0, sizeof st);
    ASSERT_EQ(gort_maxprocs(0), 4);
    gort_waitgroup_add(&spread_wg, SPREAD_N);
    for (int i = 0; i < SPREAD_N; i++)
        ASSERT_GT(gort_go(spread_fn, NULL), 0);
    gort_waitgroup_wait(&spread_wg);
    ASSERT_EQ(spread_done, SPREAD_N);
    ASSERT_EQ(gort_proc_stats(st, 8), 4);
    uint64_t total = 0, steals = 0;
    for (int i = 0; i < 4; i++) {
        printf("P%d: schedtick %" PRIu64 " steals %" PRIu64 "\n", i,
               st[i].schedtick, st[i].steals);
        total += st[i].schedtick;
        steals += st[i].steals;
    }
    for (int i = 0; i < 4; i++)
        ASSERT_GT(st[i].schedtick, 0);
    /* Everything started on P0's queue: the others got theirs by
     * stealing (or from the global queue). */
    ASSERT_GE(total, SPREAD_N);
    (void)steals;
}

TEST_IMPL(sched_spread)
{
    start(4, spread_main, NULL);
    return 0;
}

/* Two goroutines yielding in loops on 2 Ps: a yield that queues the
 * yielder behind another G wakes an idle P, which takes one of them, and
 * from then on each has a P to itself, where a yield finds nobody to
 * switch to.  Had they stayed on one P, every yield would switch: about
 * 2 * YP_N switches in all. */
#define YP_N 2000000
static gort_waitgroup yp_wg;

static void yp_fn(void *arg)
{
    (void)arg;
    for (int i = 0; i < YP_N; i++)
        gort_yield();
    gort_waitgroup_done(&yp_wg);
}

static void yp_main(void *arg)
{
    (void)arg;
    gort_stats s0, s1;
    ASSERT_EQ(gort_read_stats(&s0), 0);
    gort_waitgroup_add(&yp_wg, 2);
    ASSERT_GT(gort_go(yp_fn, NULL), 0);
    ASSERT_GT(gort_go(yp_fn, NULL), 0);
    gort_waitgroup_wait(&yp_wg);
    ASSERT_EQ(gort_read_stats(&s1), 0);
    uint64_t sw = s1.context_switches - s0.context_switches;
    printf("%" PRIu64 " switches for 2 x %d yields\n", sw, YP_N);
    ASSERT_LT(sw, (uint64_t)YP_N / 2);
}

TEST_IMPL(yield_pair_spreads_2p)
{
    start(2, yp_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Lazy wake-up: a goroutine readied by one that keeps running              */
/* ------------------------------------------------------------------------ */

/* The readier sends to a parked receiver (which lands in its P's runnext
 * without an idle P being woken, proc.c "lazy wake-up") and then spins in
 * a loop that calls nothing in gort, until the receiver has run.  The
 * receiver must get the idle P, on another thread, while the readier
 * still spins: sysmon makes the wake-up the readier skipped.  Async
 * preemption is off, so the readier is never taken off its thread (with
 * it on, a preemption after 10 ms would run the receiver on the
 * readier's thread instead). */
static gort_chan *lazy_ch;
static _Atomic int lazy_parked, lazy_ran;
static _Atomic pid_t lazy_tid;

static void lazy_receiver(void *arg)
{
    (void)arg;
    int v = 0;
    atomic_store(&lazy_parked, 1);
    ASSERT(gort_chan_recv(lazy_ch, &v));
    ASSERT_EQ(v, 7);
    atomic_store(&lazy_tid, gettid_());
    atomic_store(&lazy_ran, 1);
}

static void lazy_main(void *arg)
{
    (void)arg;
    lazy_ch = test_chan_make(sizeof(int), 0);
    ASSERT_GT(gort_go(lazy_receiver, NULL), 0);
    while (!atomic_load(&lazy_parked))
        gort_sleep(GORT_MS);
    gort_sleep(20 * GORT_MS);   /* well into its receive by now */
    /* An M woken for our own wake-up from the sleep may still be looking
     * for work; give it 2 ms to go back to sleep. */
    int64_t t0 = gort_nanotime();
    while (gort_nanotime() - t0 < 2 * GORT_MS)
        burn(100);
    int v = 7;
    pid_t me = gettid_();
    t0 = gort_nanotime();
    gort_chan_send(lazy_ch, &v);
    /* No gort call in here: only another P can run the receiver. */
    while (!atomic_load(&lazy_ran) && gort_nanotime() - t0 < 5 * GORT_SEC)
        burn(100);
    int64_t waited = gort_nanotime() - t0;
    ASSERT(atomic_load(&lazy_ran));
    ASSERT_EQ(gettid_(), me);
    ASSERT_NE(atomic_load(&lazy_tid), me);
    printf("receiver ran on another thread %.3f ms after the send\n",
           (double)waited / 1e6);
    gort_chan_free(lazy_ch);
}

TEST_IMPL(lazy_wake_readier_spins)
{
    TEST_SETENV("GORTDEBUG", "asyncpreemptoff=1");
    start(2, lazy_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* errno                                                                    */
/* ------------------------------------------------------------------------ */

#define ERRNO_N 64
static gort_waitgroup errno_wg, errno_gate, errno_started;
static _Atomic int errno_moved, errno_checked;

static void errno_yield_fn(void *arg)
{
    int base = 10000 + 100 * (int)(intptr_t)arg;
    /* Not pthread_self(): glibc declares it const, so the compiler may
     * read it once for the whole loop (the very hazard of errno). */
    pid_t t0 = gettid_();
    bool moved = false;
    for (int i = 0; i < 2000; i++) {
        int v = base + (i % 100);
        errno = v;
        if ((i & 7) == 0)
            burn(500);
        gort_yield();
        if (errno != v)
            TEST_FAIL_("goroutine %" PRId64 ": errno %d after yield %d, "
                       "expected %d",
                       gort_self(), errno, i, v);
        if (gettid_() != t0)
            moved = true;
        atomic_fetch_add_explicit(&errno_checked, 1, memory_order_relaxed);
    }
    if (moved)
        atomic_fetch_add(&errno_moved, 1);
    gort_waitgroup_done(&errno_wg);
}

static void errno_yield_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&errno_wg, ERRNO_N);
    for (int i = 0; i < ERRNO_N; i++)
        ASSERT_GT(gort_go(errno_yield_fn, (void *)(intptr_t)i), 0);
    errno = 4242;
    gort_waitgroup_wait(&errno_wg);
    ASSERT_EQ(errno, 4242);
    ASSERT_EQ(errno_checked, ERRNO_N * 2000);
    printf("%d of %d goroutines changed threads\n", (int)errno_moved,
           ERRNO_N);
    ASSERT_GT(errno_moved, 0);
}

TEST_IMPL(errno_yield_migration)
{
    start(4, errno_yield_main, NULL);
    return 0;
}

static void errno_wait_fn(void *arg)
{
    int v = 20000 + (int)(intptr_t)arg;
    errno = v;
    gort_waitgroup_done(&errno_started);
    ASSERT_EQ(errno, v);
    gort_waitgroup_wait(&errno_gate);
    if (errno != v)
        TEST_FAIL_("errno %d after waitgroup wait, expected %d", errno, v);
    errno = v + 1;
    gort_yield();
    ASSERT_EQ(errno, v + 1);
    atomic_fetch_add(&errno_checked, 1);
    gort_waitgroup_done(&errno_wg);
}

static void errno_wait_main(void *arg)
{
    (void)arg;
    for (int round = 0; round < 20; round++) {
        errno_checked = 0;
        gort_waitgroup_add(&errno_gate, 1);
        gort_waitgroup_add(&errno_started, ERRNO_N);
        gort_waitgroup_add(&errno_wg, ERRNO_N);
        for (int i = 0; i < ERRNO_N; i++)
            ASSERT_GT(gort_go(errno_wait_fn, (void *)(intptr_t)i), 0);
        errno = 31337;
        gort_waitgroup_wait(&errno_started);
        ASSERT_EQ(errno, 31337);
        errno = 7; /* the waker's errno is its own */
        gort_waitgroup_done(&errno_gate);
        gort_waitgroup_wait(&errno_wg);
        ASSERT_EQ(errno, 7);
        ASSERT_EQ(errno_checked, ERRNO_N);
    }
}

TEST_IMPL(errno_waitgroup)
{
    start(4, errno_wait_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Goroutines spawning goroutines: a binary tree                            */
/* ------------------------------------------------------------------------ */

#define TREE_DEPTH 14
static gort_waitgroup tree_wg;
static _Atomic int64_t tree_count;
static _Atomic uint32_t tree_pmask;

static void tree_fn(void *arg)
{
    int d = (int)(intptr_t)arg;
    burn(500);
    if (d > 0) {
        atomic_fetch_or(&tree_pmask, 1u << (cur_p() & 31));
        gort_waitgroup_add(&tree_wg, 2);
        ASSERT_GT(gort_go(tree_fn, (void *)(intptr_t)(d - 1)), 0);
        ASSERT_GT(gort_go(tree_fn, (void *)(intptr_t)(d - 1)), 0);
    }
    atomic_fetch_add_explicit(&tree_count, 1, memory_order_relaxed);
    gort_waitgroup_done(&tree_wg);
}

static void tree_main(void *arg)
{
    int procs = (int)(intptr_t)arg;
    uint32_t all = (procs >= 32) ? UINT32_MAX : ((1u << procs) - 1);
    uint32_t seen = 0;
    ASSERT_EQ(gort_maxprocs(0), procs);
    /* Repeat until goroutines on every P have spawned (at most 10 trees);
     * every tree must count exactly. */
    for (int round = 0; round < 10 && seen != all; round++) {
        tree_count = 0;
        tree_pmask = 0;
        gort_waitgroup_add(&tree_wg, 1);
        ASSERT_GT(gort_go(tree_fn, (void *)(intptr_t)TREE_DEPTH), 0);
        gort_waitgroup_wait(&tree_wg);
        ASSERT_EQ(tree_count, (INT64_C(1) << (TREE_DEPTH + 1)) - 1);
        seen |= tree_pmask;
    }
    printf("Ps that spawned: 0x%x of 0x%x\n", seen, all);
    /* Which Ps take part depends on how the OS schedules the Ms (8 Ps
     * on a 2-CPU machine may not all get a turn in a short tree): insist
     * only on more than one.  sched_spread checks every P gets work. */
    ASSERT_GE(__builtin_popcount(seen), procs < 2 ? procs : 2);
    wait_num_goroutine(1);
}

static void tree_test(int procs)
{
    start(procs, tree_main, (void *)(intptr_t)procs);
}

TEST_IMPL(tree_spawn_1p)
{
    tree_test(1);
    return 0;
}
TEST_IMPL(tree_spawn_2p)
{
    tree_test(2);
    return 0;
}
TEST_IMPL(tree_spawn_4p)
{
    tree_test(4);
    return 0;
}
TEST_IMPL(tree_spawn_8p)
{
    tree_test(8);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Stress: groups of leaves with yields and waitgroups                      */
/* ------------------------------------------------------------------------ */

#define ST_GROUPS 64
#define ST_ROUNDS 5
#define ST_LEAVES 32
#define ST_YIELDS 10

typedef struct st_group {
    gort_waitgroup wg;
    int index;
} st_group;

static st_group st_groups[ST_GROUPS];
static gort_waitgroup st_all, st_gate;
static _Atomic int64_t st_ops, st_leaves, st_rounds;

static void st_leaf(void *arg)
{
    st_group *g = arg;
    for (int i = 0; i < ST_YIELDS; i++) {
        if ((i + g->index) % 3 == 0)
            burn(200);
        gort_yield();
        atomic_fetch_add_explicit(&st_ops, 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&st_leaves, 1, memory_order_relaxed);
    gort_waitgroup_done(&g->wg);
}

static void st_group_fn(void *arg)
{
    st_group *g = arg;
    gort_waitgroup_wait(&st_gate);
    for (int r = 0; r < ST_ROUNDS; r++) {
        gort_waitgroup_add(&g->wg, ST_LEAVES);
        for (int i = 0; i < ST_LEAVES; i++)
            ASSERT_GT(gort_go(st_leaf, g), 0);
        gort_waitgroup_wait(&g->wg);
        atomic_fetch_add(&st_rounds, 1);
    }
    gort_waitgroup_done(&st_all);
}

static void st_main(void *arg)
{
    int procs = (int)(intptr_t)arg;
    ASSERT_EQ(gort_maxprocs(0), procs);
    for (int rep = 0; rep < 3; rep++) {
        st_ops = st_leaves = st_rounds = 0;
        gort_waitgroup_add(&st_gate, 1);
        gort_waitgroup_add(&st_all, ST_GROUPS);
        for (int i = 0; i < ST_GROUPS; i++) {
            st_groups[i].index = i;
            ASSERT_GT(gort_go(st_group_fn, &st_groups[i]), 0);
        }
        gort_waitgroup_done(&st_gate);
        gort_waitgroup_wait(&st_all);
        ASSERT_EQ(st_rounds, ST_GROUPS * ST_ROUNDS);
        ASSERT_EQ(st_leaves, ST_GROUPS * ST_ROUNDS * ST_LEAVES);
        ASSERT_EQ(st_ops, ST_GROUPS * ST_ROUNDS * ST_LEAVES * ST_YIELDS);
        wait_num_goroutine(1);
    }
}

static void stress_test(int procs)
{
    start(procs, st_main, (void *)(intptr_t)procs);
}

TEST_IMPL(stress_1p)
{
    stress_test(1);
    return 0;
}
TEST_IMPL(stress_2p)
{
    stress_test(2);
    return 0;
}
TEST_IMPL(stress_4p)
{
    stress_test(4);
    return 0;
}
TEST_IMPL(stress_8p)
{
    stress_test(8);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* gort_maxprocs                                                            */
/* ------------------------------------------------------------------------ */

static void maxprocs_bad_values(void)
{
    int cur = gort_maxprocs(0);
    errno = 0;
    ASSERT_EQ(gort_maxprocs(-1), -1);
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT_EQ(gort_maxprocs(GORT_MAXPROCS_MAX + 1), -1);
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT_EQ(gort_maxprocs(INT32_MIN), -1);
    ASSERT_EQ(errno, EINVAL);
    ASSERT_EQ(gort_maxprocs(0), cur);
}

static _Atomic int mp_ran;
static void maxprocs_api_main(void *arg)
{
    (void)arg;
    gort_proc_stat st[16];
    ASSERT_EQ(gort_maxprocs(0), 3);
    ASSERT_EQ(gort_proc_stats(st, 16), 3);
    maxprocs_bad_values();
    ASSERT_EQ(gort_maxprocs(2), 3);
    ASSERT_EQ(gort_maxprocs(0), 2);
    ASSERT_EQ(gort_proc_stats(st, 16), 2);
    ASSERT_EQ(gort_maxprocs(2), 2);
    /* Fewer entries than Ps: still returns the P count. */
    ASSERT_EQ(gort_proc_stats(st, 1), 2);
    mp_ran = 1;
}

TEST_IMPL(maxprocs_api)
{
    unsetenv("GORTMAXPROCS");
    int def = gort_maxprocs(0);
    ASSERT_GT(def, 0);
    maxprocs_bad_values();
    ASSERT_EQ(gort_maxprocs(3), def);
    ASSERT_EQ(gort_maxprocs(0), 3);
    ASSERT_EQ(gort_run(maxprocs_api_main, NULL), 0);
    ASSERT_EQ(mp_ran, 1);
    return 0;
}

static void maxprocs_env_main(void *arg)
{
    (void)arg;
    gort_proc_stat st[16];
    ASSERT_EQ(gort_maxprocs(0), 3);
    ASSERT_EQ(gort_proc_stats(st, 16), 3);
    mp_ran = 1;
}

TEST_IMPL(maxprocs_env)
{
    TEST_SETENV("GORTMAXPROCS", "3");
    ASSERT_EQ(gort_run(maxprocs_env_main, NULL), 0);
    ASSERT_EQ(mp_ran, 1);
    return 0;
}

#define MPC_WORKERS 200
#define MPC_ITERS 300
static gort_waitgroup mpc_wg;
static _Atomic int64_t mpc_ops;
static _Atomic int mpc_done;

static void mpc_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < MPC_ITERS; i++) {
        burn(300);
        gort_yield();
        atomic_fetch_add_explicit(&mpc_ops, 1, memory_order_relaxed);
    }
    atomic_fetch_add(&mpc_done, 1);
    gort_waitgroup_done(&mpc_wg);
}

/* Yields until the workers made some progress (or all finished). */
static void mpc_progress(void)
{
    int64_t before = mpc_ops;
    while (mpc_ops < before + 500 && mpc_done < MPC_WORKERS)
        gort_yield();
}

static void mpc_set(int n, int expect_prev)
{
    gort_proc_stat st[16];
    ASSERT_EQ(gort_maxprocs(n), expect_prev);
    ASSERT_EQ(gort_maxprocs(0), n);
    ASSERT_EQ(gort_proc_stats(st, 16), n);
    mpc_progress();
}

static void mpc_main(void *arg)
{
    (void)arg;
    ASSERT_EQ(gort_maxprocs(0), 4);
    gort_waitgroup_add(&mpc_wg, MPC_WORKERS);
    for (int i = 0; i < MPC_WORKERS; i++)
        ASSERT_GT(gort_go(mpc_worker, NULL), 0);
    mpc_progress();
    int cur = 4;
    static const int seq[] = {1, 3, 2, 4, 1, 8, 3};
    for (int rep = 0; rep < 3; rep++) {
        for (size_t k = 0; k < sizeof seq / sizeof seq[0]; k++) {
            mpc_set(seq[k], cur);
            cur = seq[k];
        }
    }
    gort_waitgroup_wait(&mpc_wg);
    ASSERT_EQ(mpc_done, MPC_WORKERS);
    ASSERT_EQ(mpc_ops, (int64_t)MPC_WORKERS * MPC_ITERS);
    ASSERT_EQ(gort_maxprocs(0), cur);

    /* Work still spreads over the final Ps. */
    gort_proc_stat before[16], after[16];
    ASSERT_EQ(gort_proc_stats(before, 16), cur);
    mpc_ops = 0;
    mpc_done = 0;
    gort_waitgroup_add(&mpc_wg, MPC_WORKERS);
    for (int i = 0; i < MPC_WORKERS; i++)
        ASSERT_GT(gort_go(mpc_worker, NULL), 0);
    gort_waitgroup_wait(&mpc_wg);
    ASSERT_EQ(mpc_ops, (int64_t)MPC_WORKERS * MPC_ITERS);
    ASSERT_EQ(gort_proc_stats(after, 16), cur);
    for (int i = 0; i < cur; i++)
        ASSERT_GT(after[i].schedtick, before[i].schedtick);
}

TEST_IMPL(maxprocs_change_running)
{
    start(4, mpc_main, NULL);
    return 0;
}

/* Many quick changes between 1 and 4 Ps while goroutines yield without
 * pause, finish and exit: counts exact. */
#define MPF_WORKERS 64
#define MPF_ITERS 2000
static _Atomic int mpf_done;
static _Atomic int64_t mpf_ops;

static void mpf_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < MPF_ITERS; i++) {
        if ((i & 7) == 0)
            burn(500);
        gort_yield();
        (void)gettid_();
        atomic_fetch_add_explicit(&mpf_ops, 1, memory_order_relaxed);
    }
    atomic_fetch_add(&mpf_done, 1);
    gort_waitgroup_done(&mpc_wg);
}

static void mpf_main(void *arg)
{
    (void)arg;
    int cur = gort_maxprocs(0);
    gort_proc_stat st[8];
    for (int round = 0; round < 10; round++) {
        mpf_done = 0;
        mpf_ops = 0;
        gort_waitgroup_add(&mpc_wg, MPF_WORKERS);
        for (int i = 0; i < MPF_WORKERS; i++)
            ASSERT_GT(gort_go(mpf_worker, NULL), 0);
        for (int k = 0; mpf_done < MPF_WORKERS; k++) {
            int n = (k & 1) ? 4 : 1;
            ASSERT_EQ(gort_maxprocs(n), cur);
            cur = n;
            ASSERT_EQ(gort_proc_stats(st, 8), n);
            for (int i = 0; i < 20; i++)
                gort_yield();
        }
        gort_waitgroup_wait(&mpc_wg);
        ASSERT_EQ(mpf_ops, (int64_t)MPF_WORKERS * MPF_ITERS);
        wait_num_goroutine(1);
    }
}

TEST_IMPL(maxprocs_flip_running)
{
    start(4, mpf_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* gort_yield                                                               */
/* ------------------------------------------------------------------------ */

static _Atomic int yield_ran;
static void yield_alone_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10000; i++)
        gort_yield();
    yield_ran = 1;
}

TEST_IMPL(yield_alone)
{
    start(1, yield_alone_main, NULL);
    ASSERT_EQ(yield_ran, 1);
    yield_ran = 0;
    start(4, yield_alone_main, NULL);
    ASSERT_EQ(yield_ran, 1);
    return 0;
}

#define FAIR_N 10000
static _Atomic int64_t fair_cnt[2];
static _Atomic int64_t fair_maxdiff;
static _Atomic int fair_flag[2];
static gort_waitgroup fair_wg;

static void fair_fn(void *arg)
{
    int me = (int)(intptr_t)arg, other = 1 - me;
    for (int i = 0; i < FAIR_N; i++) {
        int64_t d = atomic_fetch_add(&fair_cnt[me], 1) + 1 -
                    atomic_load(&fair_cnt[other]);
        if (d < 0)
            d = -d;
        if (atomic_load(&fair_cnt[other]) < FAIR_N && d > fair_maxdiff)
            fair_maxdiff = d;
        gort_yield();
    }
    /* Ping-pong on flags: only the other goroutine can end this loop. */
    fair_flag[me] = 1;
    while (!fair_flag[other])
        gort_yield();
    gort_waitgroup_done(&fair_wg);
}

static void fair_main(void *arg)
{
    (void)arg;
    ASSERT_EQ(gort_maxprocs(0), 1);
    gort_waitgroup_add(&fair_wg, 2);
    ASSERT_GT(gort_go(fair_fn, (void *)(intptr_t)0), 0);
    ASSERT_GT(gort_go(fair_fn, (void *)(intptr_t)1), 0);
    gort_waitgroup_wait(&fair_wg);
    ASSERT_EQ(fair_cnt[0], FAIR_N);
    ASSERT_EQ(fair_cnt[1], FAIR_N);
    printf("largest lead of one goroutine over the other: %" PRId64 "\n",
           (int64_t)fair_maxdiff);
    /* On one P a yield lets the other run: they alternate. */
    ASSERT_LE(fair_maxdiff, 8);
}

TEST_IMPL(yield_fairness)
{
    start(1, fair_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* gort_lock_os_thread                                                      */
/* ------------------------------------------------------------------------ */

#define LK_OTHERS 8
static _Atomic pid_t lk_tid;
static _Atomic int lk_phase, lk_finished;
static _Atomic int64_t lk_other_ops, lk_helper_runs;
static gort_waitgroup lk_wg, lk_req;

/* Others run around the locked goroutine; none may ever run on its
 * thread while it is locked. */
static void lk_other(void *arg)
{
    (void)arg;
    while (!lk_finished) {
        int p1 = lk_phase;
        pid_t me = gettid_();
        int p2 = lk_phase;
        if (p1 && p2 && me == lk_tid)
            TEST_FAIL_("goroutine %" PRId64 " ran on the locked thread %d",
                       gort_self(), (int)me);
        burn(200);
        atomic_fetch_add_explicit(&lk_other_ops, 1, memory_order_relaxed);
        gort_yield();
    }
    gort_waitgroup_done(&lk_wg);
}

static void lk_helper(void *arg)
{
    (void)arg;
    burn(1000);
    gort_yield();
    atomic_fetch_add(&lk_helper_runs, 1);
    gort_waitgroup_done(&lk_req);
}

/* Checks `iters` yields and a waitgroup wait every 100 on thread t. */
static void lk_hold(pid_t t, int iters)
{
    for (int i = 0; i < iters; i++) {
        gort_yield();
        if (gettid_() != t)
            TEST_FAIL_("locked goroutine moved from thread %d to %d after "
                       "yield %d",
                       (int)t, (int)gettid_(), i);
        if (i % 100 == 99) {
            gort_waitgroup_add(&lk_req, 1);
            ASSERT_GT(gort_go(lk_helper, NULL), 0);
            gort_waitgroup_wait(&lk_req);
            if (gettid_() != t)
                TEST_FAIL_("locked goroutine moved from thread %d to %d "
                           "after a waitgroup wait",
                           (int)t, (int)gettid_());
        }
    }
}

static void lk_locked(void *arg)
{
    int nested = (int)(intptr_t)arg;
    gort_lock_os_thread();
    if (nested) {
        gort_lock_os_thread();
        gort_lock_os_thread();
        gort_unlock_os_thread();
        gort_unlock_os_thread(); /* one lock still held */
    }
    pid_t t = gettid_();
    lk_tid = t;
    lk_phase = 1;
    int64_t ops0 = lk_other_ops;
    lk_hold(t, 1000);
    lk_phase = 0;
    gort_unlock_os_thread();
    /* The others kept running meanwhile. */
    ASSERT_GT(lk_other_ops, ops0);
    ASSERT_EQ(lk_helper_runs, 10);
    if (nested) {
        /* Unlocked now: an extra unlock is harmless. */
        gort_unlock_os_thread();
        for (int i = 0; i < 100; i++)
            gort_yield();
    }
    lk_finished = 1;
    gort_waitgroup_done(&lk_wg);
}

static void lk_main(void *arg)
{
    ASSERT_EQ(gort_maxprocs(0), 2);
    gort_waitgroup_add(&lk_wg, LK_OTHERS + 1);
    for (int i = 0; i < LK_OTHERS; i++)
        ASSERT_GT(gort_go(lk_other, NULL), 0);
    ASSERT_GT(gort_go(lk_locked, arg), 0);
    gort_waitgroup_wait(&lk_wg);
    ASSERT_EQ(lk_finished, 1);
    wait_num_goroutine(1);
}

TEST_IMPL(lock_os_thread)
{
    start(2, lk_main, (void *)(intptr_t)0);
    return 0;
}

TEST_IMPL(lock_os_thread_nested)
{
    start(2, lk_main, (void *)(intptr_t)1);
    return 0;
}

static _Atomic pid_t lkx_tid;
static gort_waitgroup lkx_wg;
static _Atomic int lkx_count;

static void lkx_exit_locked(void *arg)
{
    (void)arg;
    gort_lock_os_thread();
    lkx_tid = gettid_();
    gort_yield();
    ASSERT_EQ(gettid_(), lkx_tid);
    gort_waitgroup_done(&lkx_wg);
    /* Returns still locked: the thread goes with it. */
}

static void lkx_count_fn(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++)
        gort_yield();
    atomic_fetch_add(&lkx_count, 1);
    gort_waitgroup_done(&lkx_wg);
}

static bool thread_exists(pid_t tid)
{
    char path[64];
    struct stat sb;
    snprintf(path, sizeof path, "/proc/self/task/%d", (int)tid);
    return stat(path, &sb) == 0;
}

/* Starts n goroutines of fn, each ending with a done on lkx_wg, and
 * waits for them. */
static void lkx_run(void (*fn)(void *), int n)
{
    gort_waitgroup_add(&lkx_wg, n);
    for (int i = 0; i < n; i++)
        ASSERT_GT(gort_go(fn, NULL), 0);
    gort_waitgroup_wait(&lkx_wg);
}

static void lkx_main(void *arg)
{
    (void)arg;
    for (int round = 0; round < 5; round++) {
        lkx_run(lkx_exit_locked, 1);
        wait_num_goroutine(1);
        pid_t t = lkx_tid;
        ASSERT_NE(t, gettid_());
        /* The thread exits (soon after the goroutine ends). */
        while (thread_exists(t))
            gort_yield();

        /* And the program still works, on both Ps. */
        lkx_count = 0;
        lkx_run(lkx_count_fn, 1000);
        ASSERT_EQ(lkx_count, 1000);
    }
    wait_num_goroutine(1);
}

TEST_IMPL(lock_os_thread_exit_locked)
{
    start(2, lkx_main, NULL);
    return 0;
}

/* Many rounds of a locked goroutine that readies main (into its own P's
 * runnext) and ends locked, its thread exiting: while that thread hands
 * its P (with main in it) on, another M going idle must not conclude
 * that nothing can run (it did, about once in 750 runs of the test
 * above, reporting a deadlock with main runnable). */
static void lkxs_main(void *arg)
{
    (void)arg;
    for (int round = 0; round < 2000; round++) {
        lkx_run(lkx_exit_locked, 1);
        /* Short-lived goroutines, so that Ms spin and go idle about the
         * time the next locked one's thread exits. */
        lkx_run(lkx_count_fn, 8);
    }
    wait_num_goroutine(1);
}

TEST_IMPL(lock_os_thread_exit_stress)
{
    start(2, lkxs_main, NULL);
    return 0;
}

static _Atomic int lkm_ran;
static void lkm_main(void *arg)
{
    (void)arg;
    gort_lock_os_thread();
    pid_t t = gettid_();
    gort_waitgroup_add(&lk_wg, LK_OTHERS);
    lk_tid = t;
    lk_phase = 1;
    for (int i = 0; i < LK_OTHERS; i++)
        ASSERT_GT(gort_go(lk_other, NULL), 0);
    lk_hold(t, 500);
    lk_phase = 0;
    gort_unlock_os_thread();
    lk_finished = 1;
    gort_waitgroup_wait(&lk_wg);
    lkm_ran = 1;
}

TEST_IMPL(lock_os_thread_main)
{
    /* Outside a goroutine both calls do nothing. */
    gort_lock_os_thread();
    gort_unlock_os_thread();
    gort_unlock_os_thread();
    start(2, lkm_main, NULL);
    ASSERT_EQ(lkm_ran, 1);
    gort_lock_os_thread();
    gort_unlock_os_thread();
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Deadlock detection                                                       */
/* ------------------------------------------------------------------------ */

static gort_waitgroup dl_wg;

static void dl_waiter(void *arg)
{
    (void)arg;
    gort_waitgroup_wait(&dl_wg);
}

static void dl_wg_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&dl_wg, 1);
    for (int i = 0; i < 3; i++)
        ASSERT_GT(gort_go(dl_waiter, NULL), 0);
    for (int i = 0; i < 100; i++)
        gort_yield();
    gort_waitgroup_wait(&dl_wg); /* nobody will call done */
}

/* Runs main_fn as the main goroutine on 2 Ps in a child process, which
 * must report a deadlock (Go's words, exit 2) and not return. */
typedef void (*dl_mainfn)(void *);

static void dl_child(void *arg)
{
    start(2, *(dl_mainfn *)arg, NULL);
    printf("gort_run returned\n");
}

static void expect_deadlock(dl_mainfn main_fn)
{
    expect_child(dl_child, &main_fn, 2,
                 "fatal error: all goroutines are asleep - deadlock!",
                 "gort_run returned", 20);
}

TEST_IMPL(deadlock_waitgroup)
{
    expect_deadlock(dl_wg_main);
    return 0;
}

/* The last goroutine that could run is locked to its thread and ends
 * locked (its thread exits with it) while main waits for good: the
 * deadlock is still reported.  The goroutine sleeps first so that main is
 * asleep before it ends. */
static void dlle_locked(void *arg)
{
    (void)arg;
    gort_lock_os_thread();
    gort_sleep(50 * GORT_MS);
}

static void dlle_main(void *arg)
{
    (void)arg;
    ASSERT_GT(gort_go(dlle_locked, NULL), 0);
    gort_chan_recv(NULL, NULL);     /* a NULL channel: forever */
}

TEST_IMPL(deadlock_after_locked_exit)
{
    expect_deadlock(dlle_main);
    return 0;
}

static _Atomic int dlx_worker_done;

static void dlx_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) {
        burn(10000);
        gort_yield();
    }
    dlx_worker_done = 1;
    printf("worker finished\n");
}

static void dlx_main(void *arg)
{
    if (arg != NULL)
        ASSERT_GT(gort_go(dlx_worker, NULL), 0);
    gort_goexit();
}

static void dlx_child(void *arg)
{
    start(2, dlx_main, arg);
    printf("gort_run returned\n");
}

TEST_IMPL(deadlock_main_goexit)
{
    static const char msg[] =
        "fatal error: no goroutines (main called runtime.Goexit) - deadlock!";
    expect_child(dlx_child, (void *)1, 2, msg, "gort_run returned", 20);
    /* The other goroutine ran to its end first. */
    expect_child(dlx_child, (void *)1, 2, "worker finished", NULL, 20);
    return 0;
}

TEST_IMPL(deadlock_main_goexit_alone)
{
    static const char msg[] =
        "fatal error: no goroutines (main called runtime.Goexit) - deadlock!";
    expect_child(dlx_child, NULL, 2, msg, "gort_run returned", 20);
    return 0;
}

/* Many rounds in which main waits while a few goroutines compute (some
 * without any runtime call for a while, so the other Ms go idle and look
 * for deadlock while one M is busy): never a deadlock report. */
static gort_waitgroup dln_wg;
static _Atomic int64_t dln_done;

static void dln_worker(void *arg)
{
    int k = (int)(intptr_t)arg;
    if (k % 4 == 0) {
        burn(2000000); /* a stretch with no runtime call */
    } else {
        for (int i = 0; i < k % 7 + 1; i++) {
            burn(20000);
            gort_yield();
        }
    }
    atomic_fetch_add(&dln_done, 1);
    gort_waitgroup_done(&dln_wg);
}

static void dln_spinner(void *arg)
{
    (void)arg;
    for (;;) {
        burn(20000);
        gort_yield();
    }
}

static void dln_main(void *arg)
{
    (void)arg;
    int64_t expect = 0;
    dln_done = 0;
    for (int round = 0; round < 200; round++) {
        int n = round % 3 + 1;
        gort_waitgroup_add(&dln_wg, n);
        for (int i = 0; i < n; i++)
            ASSERT_GT(gort_go(dln_worker, (void *)(intptr_t)(round + i)), 0);
        expect += n;
        gort_waitgroup_wait(&dln_wg);
        ASSERT_EQ(dln_done, expect);
    }
    /* Goroutines still running when main returns: no report either.
     * (They touch nothing shared: an abandoned goroutine caught in the
     * middle of its work may finish that stretch after gort_run
     * returned.) */
    for (int i = 0; i < 4; i++)
        ASSERT_GT(gort_go(dln_spinner, NULL), 0);
    for (int i = 0; i < 10; i++)
        gort_yield();
}

static void dln_child(void *arg)
{
    (void)arg;
    start(4, dln_main, NULL);
    start(1, dln_main, NULL);
    printf("no deadlock\n");
}

TEST_IMPL(deadlock_none_while_running)
{
    expect_child(dln_child, NULL, 0, "no deadlock", "deadlock!", 50);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* gort_goexit                                                              */
/* ------------------------------------------------------------------------ */

static _Atomic int gx_reached, gx_after, gx_normal;
static gort_waitgroup gx_wg;

__attribute__((noinline)) static void gx_deep(int n)
{
    volatile char pad[64];
    pad[0] = (char)n;
    if (n < 0)
        return; /* never */
    if (n == 0) {
        atomic_fetch_add(&gx_reached, 1);
        gort_goexit();
    }
    gx_deep(n - 1);
    atomic_fetch_add(&gx_after, 1); /* never reached */
    (void)pad[0];
}

static void gx_exiter(void *arg)
{
    (void)arg;
    gort_yield();
    gx_deep(50);
    atomic_fetch_add(&gx_after, 1);
}

static void gx_other(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++)
        gort_yield();
    atomic_fetch_add(&gx_normal, 1);
    gort_waitgroup_done(&gx_wg);
}

static void gx_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&gx_wg, 20);
    for (int i = 0; i < 20; i++) {
        ASSERT_GT(gort_go(gx_exiter, NULL), 0);
        ASSERT_GT(gort_go(gx_other, NULL), 0);
    }
    gort_waitgroup_wait(&gx_wg);
    wait_num_goroutine(1);
    ASSERT_EQ(gx_reached, 20);
    ASSERT_EQ(gx_after, 0);
    ASSERT_EQ(gx_normal, 20);
    /* Ended goroutines are reusable: do it again. */
    gort_waitgroup_add(&gx_wg, 20);
    for (int i = 0; i < 20; i++) {
        ASSERT_GT(gort_go(gx_exiter, NULL), 0);
        ASSERT_GT(gort_go(gx_other, NULL), 0);
    }
    gort_waitgroup_wait(&gx_wg);
    wait_num_goroutine(1);
    ASSERT_EQ(gx_reached, 40);
    ASSERT_EQ(gx_after, 0);
    ASSERT_EQ(gx_normal, 40);
}

TEST_IMPL(goexit_deep)
{
    start(2, gx_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Stack guards                                                             */
/* ------------------------------------------------------------------------ */

#define SG_N 50000
static gort_waitgroup sg_started, sg_gate, sg_done;
static _Atomic int sg_finished;

static void sg_fn(void *arg)
{
    (void)arg;
    use_stack(8 * 1024);
    gort_waitgroup_done(&sg_started);
    gort_waitgroup_wait(&sg_gate);
    use_stack(16 * 1024);
    atomic_fetch_add(&sg_finished, 1);
    gort_waitgroup_done(&sg_done);
}

static void sg_main(void *arg)
{
    const char *mode = arg;
    const char *m0 = gort__stack_guard_mode();
    printf("guard mode at start: %s\n", m0);
    ASSERT(strcmp(m0, mode) == 0);
    gort_waitgroup_add(&sg_started, SG_N);
    gort_waitgroup_add(&sg_gate, 1);
    gort_waitgroup_add(&sg_done, SG_N);
    for (int i = 0; i < SG_N; i++) {
        if (gort_go(sg_fn, NULL) <= 0)
            TEST_FAIL_("gort_go #%d failed: %s (guard mode %s)", i,
                       strerror(errno), gort__stack_guard_mode());
    }
    gort_waitgroup_wait(&sg_started);
    ASSERT_EQ(gort_num_goroutine(), SG_N + 1);
    const char *m1 = gort__stack_guard_mode();
    printf("guard mode with %d goroutines: %s\n", SG_N, m1);
    if (strcmp(mode, "canary") == 0)
        ASSERT(strcmp(m1, "canary") == 0);
    else
        ASSERT(strcmp(m1, "mprotect") == 0 || strcmp(m1, "canary") == 0);
    gort_waitgroup_done(&sg_gate);
    gort_waitgroup_wait(&sg_done);
    ASSERT_EQ(sg_finished, SG_N);
    wait_num_goroutine(1);
}

TEST_IMPL(stackguard_mprotect_50k)
{
    TEST_SETENV("GORTDEBUG", "stackguard=mprotect");
    start(2, sg_main, "mprotect");
    return 0;
}

TEST_IMPL(stackguard_canary_50k)
{
    TEST_SETENV("GORTDEBUG", "stackguard=canary");
    start(2, sg_main, "canary");
    return 0;
}

/* Unbounded recursion.  With `yield_every`, yields every so many frames
 * (the canary is checked at switches). */
static _Atomic int ov_yield_every;
static _Atomic uint64_t ov_depth;

__attribute__((noinline)) static uint64_t ov_recurse(uint64_t n)
{
    volatile char buf[512];
    buf[0] = (char)n;
    buf[511] = (char)(n >> 8);
    ov_depth = n;
    if (n == UINT64_MAX) /* never; keeps compilers from calling this an
                            infinite recursion */
        return 0;
    int every = ov_yield_every;
    if (every > 0 && n % (uint64_t)every == 0)
        gort_yield();
    return ov_recurse(n + 1) + (uint64_t)buf[0] + (uint64_t)buf[511];
}

static void ov_fn(void *arg)
{
    (void)arg;
    printf("recursing\n");
    ov_recurse(1);
}

/* Goroutines started (and left asleep) before the one that recurses, so
 * that its stack comes from the middle of a batch readied at once
 * (stack.c, prepare_batch). */
static int ov_parked;

static void ov_sleep_fn(void *arg)
{
    (void)arg;
    gort_sleep(3600 * GORT_SEC);
}

static void ov_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < ov_parked; i++)
        ASSERT_GT(gort_go(ov_sleep_fn, NULL), 0);
    ASSERT_GT(gort_go(ov_fn, NULL), 0);
    for (;;)
        gort_yield();
}

static void ov_child(void *arg)
{
    const char *mode = arg;
    if (mode != NULL) {
        char buf[64];
        snprintf(buf, sizeof buf, "stackguard=%s", mode);
        TEST_SETENV("GORTDEBUG", buf);
        /* canary stacks are checked at switches: switch often enough that
         * the overrun stays within the page below the stack */
        ov_yield_every = strcmp(mode, "canary") == 0 ? 4 : 0;
    }
    start(2, ov_main, NULL);
    printf("gort_run returned\n");
}

/* The child dies of the overflow with Go's words and exit status 2. */
static void expect_overflow(void (*child)(void *), void *arg)
{
    expect_child(child, arg, 2, "fatal error: stack overflow",
                 "gort_run returned", 20);
}

TEST_IMPL(stack_overflow_default)
{
    expect_overflow(ov_child, NULL);
    return 0;
}

static void ov_batch_child(void *arg)
{
    if (arg != NULL)
        TEST_SETENV("GORTDEBUG", arg);
    ov_parked = 40;
    start(2, ov_main, NULL);
    printf("gort_run returned\n");
}

TEST_IMPL(stack_overflow_batch)
{
    expect_overflow(ov_batch_child, NULL);
    return 0;
}

/* The same with every stack readied by itself, as on kernels without
 * process_madvise(PIDFD_SELF). */
TEST_IMPL(stack_overflow_nobatch)
{
    expect_overflow(ov_batch_child, "stackbatch=0");
    return 0;
}

/* Every goroutine finds the page below its stack unreadable: stacks
 * readied a batch at a time get their guards as surely as stacks readied
 * one by one.  A read of the byte below the stack is made under the
 * signal handler's probe (the goroutine dumper's way of reading memory
 * that may fault), so a missing guard shows as a read that succeeds. */
#define GP_N 100
static _Atomic int gp_guarded, gp_open;
static gort_waitgroup gp_wg;

static void gp_fn(void *arg)
{
    (void)arg;
    uintptr_t below = gort__getg()->stack.lo - 1;
    sigjmp_buf jb;
    if (sigsetjmp(jb, 1) == 0) {
        gort__probe_jmp = &jb;
        (void)*(volatile char *)below;
        gort__probe_jmp = NULL;
        atomic_fetch_add(&gp_open, 1);
    } else {
        atomic_fetch_add(&gp_guarded, 1);
    }
    gort_waitgroup_done(&gp_wg);
    gort_waitgroup_wait(&gp_wg);    /* all alive at once: fresh stacks */
}

static void gp_main(void *arg)
{
    (void)arg;
    gp_guarded = gp_open = 0;
    gort_waitgroup_add(&gp_wg, GP_N);
    for (int i = 0; i < GP_N; i++)
        ASSERT_GT(gort_go(gp_fn, NULL), 0);
    gort_waitgroup_wait(&gp_wg);
    printf("guarded %d, open %d (guard mode %s)\n", (int)gp_guarded,
           (int)gp_open, gort__stack_guard_mode());
    ASSERT_EQ(gp_open, 0);
    ASSERT_EQ(gp_guarded, GP_N);
}

TEST_IMPL(stack_guard_every_stack)
{
    start(2, gp_main, NULL);
    return 0;
}

TEST_IMPL(stack_guard_every_stack_nobatch)
{
    TEST_SETENV("GORTDEBUG", "stackbatch=0");
    start(2, gp_main, NULL);
    return 0;
}

/* A canary stack (no guard page) overflows while the stack below it is a
 * live goroutine's (the main one, switching all the while on the other
 * P): the report must not run on past the overflowing stack's guard slot
 * into that goroutine's saved context (it once did: reliability.md).
 * Goroutines are started one at a time until one of them lands in the
 * slot right above the main goroutine's; that one recurses. */
static uintptr_t nb_main_hi;
static _Atomic int nb_found, nb_go;
static gort_waitgroup nb_started;

static void nb_fn(void *arg)
{
    (void)arg;
    struct g *gp = gort__getg();
    bool above = gp->stack.lo - (uintptr_t)sysconf(_SC_PAGESIZE) == nb_main_hi;
    if (above)
        atomic_store(&nb_found, 1);
    gort_waitgroup_done(&nb_started);
    if (above) {
        while (!atomic_load(&nb_go))
            gort_yield();
        printf("recursing\n");
        ov_recurse(1);
    }
    gort_sleep(3600 * GORT_SEC);
}

static void nb_main(void *arg)
{
    (void)arg;
    nb_main_hi = gort__getg()->stack.hi;
    for (int i = 0; i < 2000 && !atomic_load(&nb_found); i++) {
        gort_waitgroup_add(&nb_started, 1);
        ASSERT_GT(gort_go(nb_fn, NULL), 0);
        gort_waitgroup_wait(&nb_started);
    }
    if (!atomic_load(&nb_found)) {
        printf("no goroutine got the stack above the main one's\n");
        exit(3);
    }
    /* The search ran on one P, so that no slot could hide in a second
     * P's stack cache; the overflow runs with two. */
    ASSERT_EQ(gort_maxprocs(2), 1);
    atomic_store(&nb_go, 1);
    /* Frames of ours near the top of our stack, watched while the report
     * is made on the other P: a report that runs on into our stack
     * overwrites them (or our saved context, and we crash). */
    volatile uint64_t watch[256];
    for (int i = 0; i < 256; i++)
        watch[i] = 0x5a5a5a5a00000000ull + (uint64_t)i;
    for (;;) {
        for (int i = 0; i < 256; i++)
            if (watch[i] != 0x5a5a5a5a00000000ull + (uint64_t)i) {
                printf("the main goroutine's frames were overwritten\n");
                exit(4);
            }
        gort_yield();
    }
}

static void nb_child(void *arg)
{
    (void)arg;
    TEST_SETENV("GORTDEBUG", "stackguard=canary");
    /* A switch at every frame: the overrun is caught within one frame
     * (frames are larger under ASan), so that what reaches the stack
     * below, if anything, is the report's. */
    ov_yield_every = 1;
    start(1, nb_main, NULL);
    printf("gort_run returned\n");
}

TEST_IMPL(stack_overflow_canary_live_below)
{
    expect_overflow(nb_child, NULL);
    return 0;
}

TEST_IMPL(stack_overflow_mprotect)
{
    expect_overflow(ov_child, "mprotect");
    return 0;
}

TEST_IMPL(stack_overflow_canary)
{
    expect_overflow(ov_child, "canary");
    return 0;
}


/* ------------------------------------------------------------------------ */
/* Running out of address space                                             */
/* ------------------------------------------------------------------------ */

static gort_waitgroup mx_gate, mx_done;
static _Atomic int64_t mx_finished;

static void mx_fn(void *arg)
{
    (void)arg;
    gort_waitgroup_wait(&mx_gate);
    use_stack(8 * 1024);
    atomic_fetch_add(&mx_finished, 1);
    gort_waitgroup_done(&mx_done);
}

static long vm_size_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    ASSERT(f != NULL);
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmSize: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static void mx_main(void *arg)
{
    (void)arg;
    /* Warm up so that every M exists before the limit. */
    gort_waitgroup_add(&mx_done, 200);
    gort_waitgroup_add(&mx_gate, 1);
    for (int i = 0; i < 200; i++)
        ASSERT_GT(gort_go(mx_fn, NULL), 0);
    for (int i = 0; i < 100; i++)
        gort_yield();
    gort_waitgroup_done(&mx_gate);
    gort_waitgroup_wait(&mx_done);
    wait_num_goroutine(1);
    mx_finished = 0;

    long kb = vm_size_kb();
    ASSERT_GT(kb, 0);
    struct rlimit rl;
    ASSERT_EQ(getrlimit(RLIMIT_AS, &rl), 0);
    rl.rlim_cur = (rlim_t)kb * 1024 + (rlim_t)256 * 1024 * 1024;
    ASSERT_EQ(setrlimit(RLIMIT_AS, &rl), 0);

    gort_waitgroup_add(&mx_gate, 1);
    int64_t n = 0;
    int err = 0;
    for (;;) {
        gort_waitgroup_add(&mx_done, 1);
        errno = 0;
        int64_t id = gort_go(mx_fn, NULL);
        if (id < 0) {
            err = errno;
            gort_waitgroup_add(&mx_done, -1);
            break;
        }
        n++;
        ASSERT_LT(n, 10 * 1000 * 1000);
        if (n % 64 == 0)
            gort_yield(); /* let some of them start and take stacks */
    }
    printf("gort_go failed after %" PRId64 " goroutines: %s\n", n,
           strerror(err));
    ASSERT(err == ENOMEM || err == EAGAIN);
    ASSERT_GT(n, 100);
    ASSERT_EQ(gort_num_goroutine(), n + 1);

    /* The ones created run normally when released. */
    gort_waitgroup_done(&mx_gate);
    gort_waitgroup_wait(&mx_done);
    ASSERT_EQ(mx_finished, n);
    wait_num_goroutine(1);

    /* And gort_go works again, under the same limit. */
    mx_finished = 0;
    gort_waitgroup_add(&mx_done, 100);
    for (int i = 0; i < 100; i++) {
        errno = 0;
        int64_t id = gort_go(mx_fn, NULL);
        if (id <= 0)
            TEST_FAIL_("gort_go after recovery #%d: %s", i, strerror(errno));
    }
    gort_waitgroup_wait(&mx_done);
    ASSERT_EQ(mx_finished, 100);
    printf("mmap-exhaustion-ok\n");
}

static void mx_child(void *arg)
{
    (void)arg;
    start(2, mx_main, NULL);
}

TEST_IMPL(mmap_exhaustion)
{
    expect_child(mx_child, NULL, 0, "mmap-exhaustion-ok", NULL, 50);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Stack pages go back to the kernel after a burst                          */
/* ------------------------------------------------------------------------ */

/* 4000 goroutines each dirty 64 KiB of stack and wait; then all end.  The
 * pages of the emptied slabs must go back (sysmon gives them back once a
 * slab has sat free a while; at once when every P is idle), down to the
 * pool's resident reserve of ~1024 stacks.  burst_busy keeps one goroutine
 * running meanwhile, so only the aged path can do it. */
#define BURST_N 4000
#define BURST_TOUCH (64 * 1024)
static gort_waitgroup burst_started, burst_done;
static gort_chan *burst_gate;
static _Atomic bool burst_stop;

static long rss_kib(void)
{
    long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    ASSERT(f != NULL);
    ASSERT_EQ(fscanf(f, "%ld %ld", &size, &res), 2);
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void burst_fn(void *arg)
{
    (void)arg;
    volatile char buf[BURST_TOUCH];
    for (size_t i = 0; i < sizeof buf; i += 512)
        buf[i] = (char)i;
    gort_waitgroup_done(&burst_started);
    char c;
    gort_chan_recv(burst_gate, &c);
    ASSERT_EQ(buf[512], (char)512);
    gort_waitgroup_done(&burst_done);
}

static void burst_spin(void *arg)
{
    (void)arg;
    while (!atomic_load(&burst_stop))
        gort_yield();
}

static void burst_main(void *arg)
{
    bool busy = arg != NULL;
    burst_gate = gort_chan_make(1, 0);
    ASSERT(burst_gate != NULL);
    if (busy)
        ASSERT_GT(gort_go(burst_spin, NULL), 0);
    long before = rss_kib();
    gort_waitgroup_add(&burst_started, BURST_N);
    gort_waitgroup_add(&burst_done, BURST_N);
    for (int i = 0; i < BURST_N; i++)
        ASSERT_GT(gort_go(burst_fn, NULL), 0);
    gort_waitgroup_wait(&burst_started);
    long peak = rss_kib();
    printf("RSS before %ld KiB, with %d goroutines %ld KiB\n", before,
           BURST_N, peak);
    ASSERT_GE(peak - before, (long)BURST_N * (BURST_TOUCH / 1024) * 3 / 4);
    gort_chan_close(burst_gate);
    gort_waitgroup_wait(&burst_done);
    /* What may stay: the pool's reserve and the Ps' caches, each stack
     * with its touched pages; at least half the burst must go back. */
    long limit = before + (peak - before) / 2;
    long now = rss_kib();
    for (int i = 0; i < 500 && now > limit; i++) {
        gort_sleep(10 * GORT_MS);
        now = rss_kib();
    }
    printf("RSS after the burst ended %ld KiB (limit %ld)\n", now, limit);
    ASSERT_LE(now, limit);
    atomic_store(&burst_stop, true);
    gort_chan_free(burst_gate);
}

TEST_IMPL(stack_pages_return_idle)
{
    start(2, burst_main, NULL);
    return 0;
}

TEST_IMPL(stack_pages_return_busy)
{
    start(2, burst_main, (void *)1);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The FP control state is each goroutine's own                            */
/* ------------------------------------------------------------------------ */

/* One goroutine rounds upward (MXCSR and the x87 control word on x86_64,
 * FPCR on aarch64), another keeps the default; they hand a token back and
 * forth 2000 times and each checks its own state after every switch (the
 * switch reloads a context's control words only when they differ). */
#if defined(__x86_64__)
typedef struct { uint32_t mxcsr; uint16_t fcw; } fpstate;
static fpstate fp_get(void)
{
    fpstate s;
    __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(s.mxcsr), "=m"(s.fcw));
    return s;
}
static void fp_set(fpstate s)
{
    __asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(s.mxcsr), "m"(s.fcw));
}
static fpstate fp_upward(fpstate s)
{
    s.mxcsr = (s.mxcsr & ~0x6000u) | 0x4000u;          /* RC = up */
    s.fcw = (uint16_t)((s.fcw & ~0x0c00u) | 0x0800u);  /* RC = up */
    return s;
}
static bool fp_eq(fpstate a, fpstate b)
{
    /* MXCSR's low six bits are sticky exception flags, not control. */
    return (a.mxcsr & ~0x3fu) == (b.mxcsr & ~0x3fu) && a.fcw == b.fcw;
}
#elif defined(__aarch64__)
typedef struct { uint64_t fpcr; } fpstate;
static fpstate fp_get(void)
{
    fpstate s;
    __asm__ volatile("mrs %0, fpcr" : "=r"(s.fpcr));
    return s;
}
static void fp_set(fpstate s)
{
    __asm__ volatile("msr fpcr, %0" : : "r"(s.fpcr));
}
static fpstate fp_upward(fpstate s)
{
    s.fpcr = (s.fpcr & ~(3ull << 22)) | (1ull << 22);  /* RMode = +inf */
    return s;
}
static bool fp_eq(fpstate a, fpstate b)
{
    return a.fpcr == b.fpcr;
}
#endif

#define FP_ROUNDS 2000
static gort_chan *fp_to_up, *fp_to_def;
static _Atomic int fp_bad_up, fp_bad_def, fp_bad_child;
static gort_waitgroup fp_wg;

static void fp_child(void *arg)
{
    fpstate def = *(fpstate *)arg;
    if (!fp_eq(fp_get(), def))
        atomic_fetch_add(&fp_bad_child, 1);     /* a new goroutine: default */
    gort_waitgroup_done(&fp_wg);
}

static void fp_up(void *arg)
{
    fpstate def = *(fpstate *)arg;
    fpstate up = fp_upward(def);
    fp_set(up);
    ASSERT(fp_eq(fp_get(), up));
    gort_waitgroup_add(&fp_wg, 1);
    ASSERT_GT(gort_go(fp_child, arg), 0);
    int tok = 0;
    for (int i = 0; i < FP_ROUNDS; i++) {
        gort_chan_send(fp_to_def, &tok);
        gort_chan_recv(fp_to_up, &tok);
        if (!fp_eq(fp_get(), up))
            atomic_fetch_add(&fp_bad_up, 1);
        if (i % 64 == 0)
            gort_yield();
    }
    gort_chan_close(fp_to_def);
    fp_set(def);
    gort_waitgroup_done(&fp_wg);
}

static void fp_def(void *arg)
{
    fpstate def = *(fpstate *)arg;
    int tok;
    while (gort_chan_recv(fp_to_def, &tok)) {
        if (!fp_eq(fp_get(), def))
            atomic_fetch_add(&fp_bad_def, 1);
        gort_chan_send(fp_to_up, &tok);
    }
    gort_waitgroup_done(&fp_wg);
}

static void fp_main(void *arg)
{
    (void)arg;
    static fpstate def;
    def = fp_get();
    fp_to_up = gort_chan_make(sizeof(int), 0);
    fp_to_def = gort_chan_make(sizeof(int), 0);
    ASSERT(fp_to_up != NULL && fp_to_def != NULL);
    gort_waitgroup_add(&fp_wg, 2);
    ASSERT_GT(gort_go(fp_def, &def), 0);
    ASSERT_GT(gort_go(fp_up, &def), 0);
    gort_waitgroup_wait(&fp_wg);
    ASSERT_EQ(fp_bad_up, 0);
    ASSERT_EQ(fp_bad_def, 0);
    ASSERT_EQ(fp_bad_child, 0);
    ASSERT(fp_eq(fp_get(), def));
    gort_chan_free(fp_to_up);
    gort_chan_free(fp_to_def);
}

TEST_IMPL(switch_fp_control_1p)
{
    start(1, fp_main, NULL);
    return 0;
}

TEST_IMPL(switch_fp_control_2p)
{
    start(2, fp_main, NULL);
    return 0;
}
