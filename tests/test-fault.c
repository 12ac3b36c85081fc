/*
 * test-fault.c — fault injection: gort when memory, mappings, threads or
 * descriptors run out.
 *
 * How.  The test binary is linked with -Wl,--wrap for malloc, calloc,
 * realloc, aligned_alloc, strdup, mmap, munmap and pthread_create
 * (Makefile): the
 * calls that libgort.a (and the tests) make go to the __wrap_ functions
 * below, which fail the Nth call from the moment a test arms them, once
 * or from then on.  libc's own internal calls are not wrapped, and
 * libgort.a itself is built as always, so the mechanism costs a normal
 * build nothing; disarmed, a wrapper is one relaxed load.  Descriptor
 * exhaustion uses a low RLIMIT_NOFILE and a table filled with /dev/null.
 * Every test runs in its own forked child (runner.c), so a limit or an
 * armed fault never outlives its test.
 *
 * What the contracts say (include/gort.h) and what is asserted:
 *   gort_go / gort_go_ex: -1 with ENOMEM when the G, its stack or its
 *     name cannot be had; never aborts; nothing kept (a failed call
 *     repeated 10,000 times grows neither the heap nor the mappings);
 *   gort_chan_make: NULL with ENOMEM, nothing kept;
 *   gort_run: -1 with EAGAIN when not even the first M can be started;
 *     a later M that cannot be started is not an error (the running Ms
 *     do the work);
 *   gort_tcp_listen / gort_tcp_dial: -1 with EMFILE when the table is
 *     full, and working again once descriptors are free (gort_accept's
 *     EMFILE is net_accept_emfile in test-net.c);
 *   the sweeps: failing the Nth allocation (or mapping) of a whole
 *     program, for every N the program makes, ends either cleanly (the
 *     failed calls report ENOMEM and the program accounts for them) or in
 *     a Go-worded fatal error, never in a crash, a hang or a lost value.
 *
 *   fault_go_nomem_g         G allocation fails
 *   fault_go_nomem_stack     stack mappings fail (default and sized);
 *                            _4p: the free stacks in other Ps' caches
 *   fault_go_nomem_name      the name copy fails
 *   fault_chan_nomem         channel allocation fails
 *   fault_thread_first_m     no thread at all: gort_run gives EAGAIN
 *   fault_thread_later_m     no thread after the first: the work is done
 *   fault_thread_preempted_1p  a hog preempted by signal with no thread
 *                            (nor memory) to be had: no false deadlock
 *   fault_emfile_listen_dial listen and dial with a full table
 *   fault_alloc_sweep        every allocation of a program, one at a time
 *   fault_mmap_sweep         every mapping of a program, one at a time
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <netinet/in.h>
#include <unistd.h>

#include "task.h"

/* ------------------------------------------------------------------------ */
/* The wrappers                                                             */
/* ------------------------------------------------------------------------ */

/* F_ALLOC: every allocation; F_STRDUP: only strdup (names); F_MMAP_G:
 * only mmaps with MAP_POPULATE (the chunks Gs are cut from, g.c), so that
 * a test of one call does not also take away the memory of the Ms the
 * runtime may start meanwhile. */
enum { F_ALLOC, F_MMAP, F_THREAD, F_STRDUP, F_MMAP_G, F_NKINDS };

static _Atomic long f_at[F_NKINDS];       /* fail call number f_at (0: off) */
static _Atomic long f_calls[F_NKINDS];    /* calls since armed */
static _Atomic bool f_sticky[F_NKINDS];   /* ... and every one after it */
static _Atomic long f_failed[F_NKINDS];   /* calls failed so far */
static _Atomic bool f_count[F_NKINDS];    /* count only, never fail */
static _Atomic long f_mapped;             /* bytes gort has mapped, net */

static bool fault_hit(int k)
{
    if (__builtin_expect(!atomic_load_explicit(&f_at[k], memory_order_relaxed) &&
                             !atomic_load_explicit(&f_count[k], memory_order_relaxed),
                         1))
        return false;
    long n = atomic_fetch_add(&f_calls[k], 1) + 1;
    long at = atomic_load(&f_at[k]);
    if (at && (n == at || (n > at && atomic_load(&f_sticky[k])))) {
        atomic_fetch_add(&f_failed[k], 1);
        return true;
    }
    return false;
}

static void fault_arm(int k, long nth, bool sticky)
{
    atomic_store(&f_calls[k], 0);
    atomic_store(&f_failed[k], 0);
    atomic_store(&f_sticky[k], sticky);
    atomic_store(&f_at[k], nth);
}

static void fault_disarm(int k)
{
    atomic_store(&f_at[k], 0);
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t sz);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t al, size_t n);
char *__real_strdup(const char *s);
void *__real_mmap(void *a, size_t n, int prot, int fl, int fd, off_t off);
int __real_munmap(void *a, size_t n);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *a,
                          void *(*fn)(void *), void *arg);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t sz);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t al, size_t n);
char *__wrap_strdup(const char *s);
void *__wrap_mmap(void *a, size_t n, int prot, int fl, int fd, off_t off);
int __wrap_munmap(void *a, size_t n);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a,
                          void *(*fn)(void *), void *arg);

/* fault_preempt_in_malloc: a malloc of at least this many bytes first
 * computes for 30 ms (0: never), as a slow replaced allocator would. */
static _Atomic size_t f_slow_min;
static _Atomic unsigned long f_slow_sink;

static void slow_allocator(size_t n)
{
    size_t min = atomic_load_explicit(&f_slow_min, memory_order_relaxed);
    if (!min || n < min)
        return;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        for (int i = 0; i < 100000; i++)
            atomic_fetch_add_explicit(&f_slow_sink, 1, memory_order_relaxed);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) <
             30 * 1000000L);
}

void *__wrap_malloc(size_t n)
{
    if (fault_hit(F_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    slow_allocator(n);
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t sz)
{
    if (fault_hit(F_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_calloc(n, sz);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (fault_hit(F_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t al, size_t n)
{
    if (fault_hit(F_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_aligned_alloc(al, n);
}

char *__wrap_strdup(const char *s)
{
    if (fault_hit(F_STRDUP) || fault_hit(F_ALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_strdup(s);
}

void *__wrap_mmap(void *a, size_t n, int prot, int fl, int fd, off_t off)
{
    if (fault_hit(F_MMAP) || ((fl & MAP_POPULATE) && fault_hit(F_MMAP_G))) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    void *r = __real_mmap(a, n, prot, fl, fd, off);
    if (r != MAP_FAILED)
        atomic_fetch_add_explicit(&f_mapped, (long)n, memory_order_relaxed);
    return r;
}

int __wrap_munmap(void *a, size_t n)
{
    int r = __real_munmap(a, n);
    if (r == 0)
        atomic_fetch_sub_explicit(&f_mapped, (long)n, memory_order_relaxed);
    return r;
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a,
                          void *(*fn)(void *), void *arg)
{
    if (fault_hit(F_THREAD))
        return EAGAIN;
    return __real_pthread_create(t, a, fn, arg);
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* The heap in use and the address space, for "nothing kept". */
static size_t heap_used(void)
{
    return mallinfo2().uordblks;
}

/* What gort (and the test) mapped and did not unmap; the process's own
 * size would also count thread stacks and malloc arenas of threads that
 * happen to start meanwhile. */
static size_t vm_size(void)
{
    return (size_t)atomic_load(&f_mapped);
}

#define REPEAT 10000
#define SLACK (256 * 1024)

static gort_chan *gate;         /* closed to let the waiters go */
static gort_chan *done;         /* each waiter sends one value */

static void waiter(void *arg)
{
    (void)arg;
    char c;
    gort_chan_recv(gate, &c);
    int one = 1;
    gort_chan_send(done, &one);
}

/* Spawns waiters until gort_go fails; returns how many started. */
static int spawn_until_fail(const gort_attr *attr)
{
    int n = 0;
    for (;;) {
        int64_t id = gort_go_ex(waiter, NULL, attr);
        if (id < 0) {
            ASSERT_EQ(errno, ENOMEM);
            return n;
        }
        n++;
        ASSERT(n < 100000);
    }
}

static void release_waiters(int n)
{
    gort_chan_close(gate);
    for (int i = 0; i < n; i++) {
        int v;
        ASSERT(gort_chan_recv(done, &v));
    }
}

/* A failing call, REPEAT times: the heap and the mappings must not grow.
 * Nothing is printed while a fault is armed (a write blocks; sysmon may
 * hand the P off meanwhile and need a thread, see docs/model.md): the
 * figures wait in a buffer for fault_report(). */
static char report[1024];
static size_t nreport;

#define ASSERT_NOTHING_KEPT(call_fails)                                    \
    do {                                                                   \
        size_t h0_ = heap_used(), v0_ = vm_size();                         \
        for (int i_ = 0; i_ < REPEAT; i_++)                                \
            ASSERT(call_fails);                                            \
        size_t h1_ = heap_used(), v1_ = vm_size();                         \
        if (nreport < sizeof report)                                       \
            nreport += (size_t)snprintf(                                   \
                report + nreport, sizeof report - nreport,                 \
                "%d failed calls: heap %+ld bytes, mappings %+ld bytes\n", \
                REPEAT, (long)(h1_ - h0_), (long)(v1_ - v0_));             \
        ASSERT_LE((long)(h1_ - h0_), SLACK);                               \
        ASSERT_LE((long)(v1_ - v0_), SLACK);                               \
    } while (0)

static void fault_report(void)
{
    fputs(report, stdout);
    nreport = 0;
    report[0] = 0;
}

static void noop(void *arg)
{
    (void)arg;
}

/* ------------------------------------------------------------------------ */
/* Spawn, stacks, channels                                                  */
/* ------------------------------------------------------------------------ */

static void go_nomem_g_main(void *arg)
{
    (void)arg;
    gate = test_chan_make(1, 0);
    done = test_chan_make(sizeof(int), 100000);
    fault_arm(F_MMAP_G, 1, true);
    int n = spawn_until_fail(NULL);
    ASSERT_NOTHING_KEPT(gort_go(noop, NULL) == -1 && errno == ENOMEM);
    fault_disarm(F_MMAP_G);
    printf("%d goroutines started before ENOMEM (free Gs and the chunk left)\n", n);
    fault_report();
    release_waiters(n);
    ASSERT_GT(gort_go(noop, NULL), 0);
}

TEST_IMPL(fault_go_nomem_g)
{
    test_start(1, go_nomem_g_main, NULL);
    return 0;
}

static void go_nomem_stack_main(void *arg)
{
    (void)arg;
    gate = test_chan_make(1, 0);
    done = test_chan_make(sizeof(int), 100000);
    fault_arm(F_MMAP, 1, true);
    int n = spawn_until_fail(NULL);
    ASSERT_NOTHING_KEPT(gort_go(noop, NULL) == -1 && errno == ENOMEM);
    gort_attr sized = {.stack_size = 64 * 1024};
    ASSERT_NOTHING_KEPT(gort_go_ex(noop, NULL, &sized) == -1 && errno == ENOMEM);
    fault_disarm(F_MMAP);
    printf("%d goroutines started before ENOMEM (stack credit left)\n", n);
    fault_report();
    release_waiters(n);
    ASSERT_GT(gort_go(noop, NULL), 0);
    ASSERT_GT(gort_go_ex(noop, NULL, &sized), 0);
}

/* On 4 Ps too: a goroutine that gort_go reserved a stack for may start
 * on a P whose cache and the pool are both empty while the free stacks
 * sit in another P's cache, with no slab to be mapped; the scheduler then
 * takes one from an idle P or waits for a busy one to give its cache back
 * (proc.c's stack_scavenge).  Before that it was "fatal error: out of
 * memory allocating a goroutine stack" in about 9 runs of 20. */
TEST_IMPL(fault_go_nomem_stack)
{
    test_start(1, go_nomem_stack_main, NULL);
    return 0;
}

TEST_IMPL(fault_go_nomem_stack_4p)
{
    test_start(4, go_nomem_stack_main, NULL);
    return 0;
}

static void go_nomem_name_main(void *arg)
{
    (void)arg;
    gort_attr named = {.name = "worker"};
    gort_attr both = {.name = "worker", .stack_size = 64 * 1024};
    /* Warm the free list, so that only the name's copy allocates. */
    for (int i = 0; i < 64; i++)
        ASSERT_GT(gort_go(noop, NULL), 0);
    gort_yield();
    fault_arm(F_STRDUP, 1, true);
    ASSERT_NOTHING_KEPT(gort_go_ex(noop, NULL, &named) == -1 && errno == ENOMEM);
    ASSERT_NOTHING_KEPT(gort_go_ex(noop, NULL, &both) == -1 && errno == ENOMEM);
    fault_disarm(F_STRDUP);
    fault_report();
    ASSERT_GT(gort_go_ex(noop, NULL, &named), 0);
}

TEST_IMPL(fault_go_nomem_name)
{
    test_start(1, go_nomem_name_main, NULL);
    return 0;
}

static void chan_nomem_main(void *arg)
{
    (void)arg;
    fault_arm(F_ALLOC, 1, true);
    ASSERT_NOTHING_KEPT(gort_chan_make(8, 16) == NULL && errno == ENOMEM);
    ASSERT_NOTHING_KEPT(gort_chan_make(0, 0) == NULL && errno == ENOMEM);
    fault_disarm(F_ALLOC);
    fault_report();
    gort_chan *c = gort_chan_make(8, 16);
    ASSERT(c != NULL);
    gort_chan_free(c);
}

TEST_IMPL(fault_chan_nomem)
{
    test_start(1, chan_nomem_main, NULL);
    return 0;
}

/* A goroutine dump taken while every allocation fails (a hang in such a
 * state is what a dump is for) still shows the frames of a goroutine
 * running on another thread: the dump allocates nothing for them. */
static atomic_int dn_stop, dn_spinning;

static void dn_spinner(void *arg)
{
    (void)arg;
    atomic_store(&dn_spinning, 1);
    while (!atomic_load_explicit(&dn_stop, memory_order_relaxed)) {
    }
}

static void dump_nomem_main(void *arg)
{
    (void)arg;
    static char buf[256 * 1024];
    int64_t id = gort_go(dn_spinner, NULL);
    ASSERT_GT(id, 0);
    while (!atomic_load(&dn_spinning))
        gort_sleep(GORT_MS);
    int fd = memfd_create("dump", 0);
    ASSERT(fd >= 0);
    fault_arm(F_ALLOC, 1, true);
    gort_dump_goroutines(fd);
    long failed = atomic_load(&f_calls[F_ALLOC]);
    fault_disarm(F_ALLOC);
    atomic_store(&dn_stop, 1);
    off_t n = lseek(fd, 0, SEEK_CUR);
    ASSERT(n > 0 && (size_t)n < sizeof buf);
    ASSERT_EQ(pread(fd, buf, (size_t)n, 0), n);
    buf[n] = '\0';
    close(fd);
    char head[48];
    snprintf(head, sizeof head, "goroutine %lld [running]:\n", (long long)id);
    const char *sec = strstr(buf, head);
    if (!sec)
        printf("dump (%lld bytes):\n%s\n", (long long)n, buf);
    ASSERT(sec != NULL);
    const char *end = strstr(sec + 1, "\n\ngoroutine ");
    size_t len = end ? (size_t)(end - sec) : strlen(sec);
    printf("%ld allocations failed during the dump; the spinner's section:\n"
           "%.*s\n", failed, (int)len, sec);
    ASSERT(memmem(sec, len, "stack unavailable", 17) == NULL);
    ASSERT(memmem(sec, len, "+0x", 3) != NULL || memmem(sec, len, ".c:", 3) != NULL);
}

/* A replaced allocator (here the test's own malloc, slowed down) runs
 * outside gort's text, but gort calls it holding runtime locks: growing a
 * P's timer FIFO happens under its timerslock.  Sysmon asks the goroutine
 * that spends 30 ms in there to yield; preempted there by signal, it would
 * be switched out holding the lock, and the sleeper on the same (only) P,
 * arming its next timer, would wait for that lock for ever, with the
 * holder unable to run.  The calls out of gort are no safe point
 * (m.nopreempt), so the test ends; it hung before. */
static _Atomic int pm_stop;
static _Atomic long pm_sleeps;

static void pm_sleeper(void *arg)
{
    (void)arg;
    while (!atomic_load(&pm_stop)) {
        gort_sleep(100 * 1000);
        atomic_fetch_add(&pm_sleeps, 1);
    }
}

#define PM_TIMERS 5000
static void preempt_malloc_main(void *arg)
{
    (void)arg;
    static gort_timer *ts[PM_TIMERS];
    gort_waitgroup wg = {0};
    gort_stats s0, s1;
    ASSERT_EQ(gort_read_stats(&s0), 0);
    ASSERT_GT(gort_go(pm_sleeper, NULL), 0);
    gort_sleep(GORT_MS);
    /* Timers due in an hour, in order: they go to the FIFO, which grows
     * (a malloc of 8 KiB and more, under timerslock) at 512, 1024, 2048
     * and 4096 of them. */
    atomic_store(&f_slow_min, 8192);
    for (int i = 0; i < PM_TIMERS; i++) {
        ts[i] = gort_timer_new(3600 * GORT_SEC);
        ASSERT(ts[i] != NULL);
    }
    atomic_store(&f_slow_min, 0);
    for (int i = 0; i < PM_TIMERS; i++) {
        gort_timer_stop(ts[i]);
        gort_timer_free(ts[i]);
    }
    atomic_store(&pm_stop, 1);
    gort_sleep(5 * GORT_MS);
    ASSERT_EQ(gort_read_stats(&s1), 0);
    printf("sleeps meanwhile: %ld; preemptions: %" PRIu64
           " cooperative, %" PRIu64 " by signal\n",
           atomic_load(&pm_sleeps), s1.preempt_coop - s0.preempt_coop,
           s1.preempt_async - s0.preempt_async);
    /* It was asked to yield during the 30 ms calls (or there was nothing
     * to test), and did so once back in its own code. */
    ASSERT_GT(s1.preempt_coop - s0.preempt_coop + s1.preempt_async -
                  s0.preempt_async, 0);
    (void)wg;
}

TEST_IMPL(fault_preempt_in_malloc_1p)
{
    test_start(1, preempt_malloc_main, NULL);
    return 0;
}

TEST_IMPL(fault_dump_nomem)
{
    test_start(2, dump_nomem_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Threads                                                                  */
/* ------------------------------------------------------------------------ */

static _Atomic int main_ran;

static void mark_main(void *arg)
{
    (void)arg;
    atomic_store(&main_ran, 1);
}

TEST_IMPL(fault_thread_first_m)
{
    fault_arm(F_THREAD, 1, true);
    errno = 0;
    ASSERT_EQ(gort_run(mark_main, NULL), -1);
    ASSERT_EQ(errno, EAGAIN);
    ASSERT_EQ(atomic_load(&main_ran), 0);
    ASSERT_GT(atomic_load(&f_failed[F_THREAD]), 0);
    /* Threads again: the runtime starts as if nothing had happened. */
    fault_disarm(F_THREAD);
    ASSERT_EQ(gort_run(mark_main, NULL), 0);
    ASSERT_EQ(atomic_load(&main_ran), 1);
    return 0;
}

/* A goroutine preempted by signal yields wired to its M (its signal frame
 * is on that M's stack); the M hands its P off and waits.  With no
 * thread to be made, nobody took the P: that was a false "all goroutines
 * are asleep - deadlock!" (in about 3 runs of 10 of this).  The M now
 * takes the P back itself when its goroutine is the only work. */
static volatile uint64_t hog_sink;

static void preempt_nothread_main(void *arg)
{
    (void)arg;
    gort_stats before, after;
    ASSERT_EQ(gort_read_stats(&before), 0);
    fault_arm(F_THREAD, 1, true);
    fault_arm(F_ALLOC, 1, true);
    /* A loop with no gort call for 200 ms (libc's clock: a gort call
     * would take a cooperative preemption instead): sysmon preempts it
     * by signal every 10 ms or so. */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        for (int i = 0; i < 1000000; i++)
            hog_sink += (uint64_t)i;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) <
             200 * GORT_MS);
    fault_disarm(F_ALLOC);
    fault_disarm(F_THREAD);
    ASSERT_EQ(gort_read_stats(&after), 0);
    printf("async preemptions while threads could not be made: %llu\n",
           (unsigned long long)(after.preempt_async - before.preempt_async));
    ASSERT_GT(after.preempt_async, before.preempt_async);
}

TEST_IMPL(fault_thread_preempted_1p)
{
    test_start(1, preempt_nothread_main, NULL);
    return 0;
}

static gort_chan *results;

static void busy(void *arg)
{
    int64_t k = (int64_t)(intptr_t)arg, sum = 0;
    for (int i = 0; i < 200; i++) {
        sum += k;
        if (i % 10 == 0)
            gort_yield();
        if (i % 50 == 0)
            gort_sleep(100 * 1000);
        /* A plain blocking call: sysmon hands the P off (handoffp), and
         * the M it starts for the queued goroutines cannot be made. */
        if (i % 100 == 0 && k % 4 == 0)
            usleep(2000);
    }
    gort_chan_send(results, &sum);
}

static void thread_later_main(void *arg)
{
    (void)arg;
    results = test_chan_make(sizeof(int64_t), 64);
    fault_arm(F_THREAD, 1, true);
    for (int i = 1; i <= 32; i++)
        test_go(busy, (void *)(intptr_t)i);
    int64_t total = 0;
    for (int i = 0; i < 32; i++) {
        int64_t v;
        ASSERT(gort_chan_recv(results, &v));
        total += v;
    }
    ASSERT_EQ(total, 200 * (32 * 33 / 2));
    printf("thread creations refused: %ld\n", atomic_load(&f_failed[F_THREAD]));
    fault_disarm(F_THREAD);
}

TEST_IMPL(fault_thread_later_m)
{
    test_start(4, thread_later_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* EMFILE                                                                   */
/* ------------------------------------------------------------------------ */

/* Opens descriptors until the table is full; the new count. */
static int emfile_refill(int *fill, int nfill, int max)
{
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ASSERT_EQ(errno, EMFILE);
            return nfill;
        }
        ASSERT(nfill < max);
        fill[nfill++] = fd;
    }
}

static void emfile_main(void *arg)
{
    (void)arg;
    int l = gort_tcp_listen("127.0.0.1:0", 16);
    ASSERT(l >= 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    ASSERT_EQ(getsockname(l, (struct sockaddr *)&sa, &len), 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));

    struct rlimit rl;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = 128;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int fill[128], nfill = 0;
    /* Twice, with a pause: descriptors the runtime closes meanwhile
     * (sysmon's first round calibrates with a pipe, preempt.c) would
     * leave room. */
    for (int round = 0; round < 2; round++) {
        for (;;) {
            int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                ASSERT_EQ(errno, EMFILE);
                break;
            }
            ASSERT(nfill < 128);
            fill[nfill++] = fd;
        }
        if (round == 0)
            gort_sleep(100 * 1000 * 1000);
    }
    for (int i = 0; i < 100; i++) {
        /* Refilled before each call: sysmon's /proc probe (preempt.c)
         * may have held a descriptor while we filled, and closed it. */
        nfill = emfile_refill(fill, nfill, 128);
        errno = 0;
        ASSERT_EQ(gort_tcp_listen("127.0.0.1:0", 16), -1);
        ASSERT_EQ(errno, EMFILE);
        nfill = emfile_refill(fill, nfill, 128);
        errno = 0;
        ASSERT_EQ(gort_tcp_dial(addr, 1000 * 1000 * 1000), -1);
        ASSERT_EQ(errno, EMFILE);
    }
    /* Room again: dial, accept and listen work. */
    for (int i = 0; i < 4; i++)
        close(fill[--nfill]);
    int c = gort_tcp_dial(addr, 1000 * 1000 * 1000);
    ASSERT(c >= 0);
    int a = gort_accept(l, NULL, NULL);
    ASSERT(a >= 0);
    ASSERT_EQ(gort_write(c, "x", 1), 1);
    char b;
    ASSERT_EQ(gort_read(a, &b, 1), 1);
    int l2 = gort_tcp_listen("127.0.0.1:0", 16);
    ASSERT(l2 >= 0);
    gort_close(l2);
    gort_close(a);
    gort_close(c);
    gort_close(l);
    while (nfill)
        close(fill[--nfill]);
}

TEST_IMPL(fault_emfile_listen_dial)
{
    test_start(1, emfile_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Sweeps: fail the Nth allocation or mapping of a whole program           */
/* ------------------------------------------------------------------------ */

/* The program: goroutines that make channels, pass values, sleep and
 * spawn; every failure it is told about it accounts for, so the values
 * that arrive plus those it could not send add up exactly. */
static gort_chan *sw_out;

static void sw_child(void *arg)
{
    int64_t v = (int64_t)(intptr_t)arg;
    gort_chan_send(sw_out, &v);
}

static void sw_worker(void *arg)
{
    int64_t k = (int64_t)(intptr_t)arg;
    gort_chan *c = gort_chan_make(sizeof(int64_t), 1);
    int64_t v = k;
    if (c) {
        gort_chan_send(c, &v);
        gort_chan_recv(c, &v);
        gort_chan_free(c);
    } else if (errno != ENOMEM) {
        TEST_FAIL_("gort_chan_make: errno %d", errno);
    }
    if (k % 4 == 0)
        gort_sleep(200 * 1000);
    gort_attr attr = {.name = k % 3 ? NULL : "child",
                      .stack_size = k % 5 ? 0 : 64 * 1024};
    if (gort_go_ex(sw_child, (void *)(intptr_t)(v * 1000), &attr) < 0) {
        if (errno != ENOMEM)
            TEST_FAIL_("gort_go_ex: errno %d", errno);
        v += v * 1000;          /* the child's share, sent by us */
    }
    gort_chan_send(sw_out, &v);
}

#define SW_N 200

static void sw_main(void *arg)
{
    (void)arg;
    sw_out = gort_chan_make(sizeof(int64_t), 0);
    if (!sw_out) {
        printf("sweep: no channel (ENOMEM)\n");
        exit(3);
    }
    int64_t want = 0, got = 0;
    int started = 0;
    for (int k = 1; k <= SW_N; k++) {
        if (gort_go(sw_worker, (void *)(intptr_t)k) > 0) {
            started++;
            want += k + k * 1000;
        } else if (errno != ENOMEM) {
            TEST_FAIL_("gort_go: errno %d", errno);
        }
    }
    /* Each started worker sends twice (itself and its child, or once
     * with the child's share included): receive until the sum is there. */
    while (got < want) {
        int64_t v;
        ASSERT(gort_chan_recv(sw_out, &v));
        got += v;
    }
    ASSERT_EQ(got, want);
}

struct sweeparg {
    int kind;
    long nth;
    int procs;
    bool sticky;    /* fail every call from the nth on, not just the nth */
};

static void sweep_child(void *arg)
{
    struct sweeparg *a = arg;
    char buf[8];
    snprintf(buf, sizeof buf, "%d", a->procs);
    setenv("GORTMAXPROCS", buf, 1);
    if (a->nth < 0)
        atomic_store(&f_count[a->kind], true);
    else
        fault_arm(a->kind, a->nth, a->sticky);
    int r = gort_run(sw_main, NULL);
    if (a->nth < 0) {
        printf("calls=%ld\n", atomic_load(&f_calls[a->kind]));
        exit(0);
    }
    if (r != 0) {
        printf("gort_run: -1, errno %d\n", errno);
        exit(errno == ENOMEM || errno == EAGAIN ? 2 : 1);
    }
    exit(0);
}

static void sweep1(struct sweeparg *a, const char *what, long total)
{
    static char out[65536];
    /* At most 400 runs (GORT_TEST_SWEEP_RUNS: fewer under emulation):
     * every call when there are few, else spread out. */
    long maxruns = 400;
    const char *e = getenv("GORT_TEST_SWEEP_RUNS");
    if (e && atol(e) > 0)
        maxruns = atol(e);
    long step = total > maxruns ? (total + maxruns - 1) / maxruns : 1;
    /* GORT_TEST_SWEEP_ONLY=N: that call alone (to chase one point). */
    long first = 1;
    const char *only = getenv("GORT_TEST_SWEEP_ONLY");
    if (only && atol(only) > 0) {
        first = atol(only);
        total = first;
    }
    int clean = 0, runfail = 0, fatal = 0, runs = 0;
    for (long n = first; n <= total; n += step) {
        a->nth = n;
        int st = test_run_child(sweep_child, a, out, sizeof out, 30);
        runs++;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            clean++;
        } else if (WIFEXITED(st) && (WEXITSTATUS(st) == 2 || WEXITSTATUS(st) == 3)) {
            runfail++;
        } else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT &&
                   strstr(out, "fatal error: ") &&
                   !strstr(out, "Assertion failed")) {
            fatal++;
            const char *m = strstr(out, "fatal error: ");
            printf("  %s %ld%s on %d Ps: %.*s\n", what, n,
                   a->sticky ? " and on" : "", a->procs,
                   (int)strcspn(m, "\n"), m);
        } else {
            printf("%s call %ld of %ld failed (%s, %d Ps): status 0x%x, "
                   "output:\n%s\n", what, n, total,
                   a->sticky ? "and every one after" : "only that one",
                   a->procs, st, out);
            TEST_FAIL_("%s %ld: neither clean nor a Go-worded fatal error",
                       what, n);
        }
    }
    printf("%s sweep, %s, %d Ps: %ld calls, %d runs: %d clean, %d "
           "ENOMEM/EAGAIN from gort_run or the first channel, %d fatal "
           "errors\n", what, a->sticky ? "that call and all after" : "one call",
           a->procs, total, runs, clean, runfail, fatal);
}

/* GORT_TEST_SWEEP_PROCS=N and GORT_TEST_SWEEP_HALF=one|sticky narrow a
 * sweep to one P count and one half (to chase a rare failure). */
static void sweep(int kind, const char *what)
{
    static char out[65536];
    const char *ep = getenv("GORT_TEST_SWEEP_PROCS");
    const char *eh = getenv("GORT_TEST_SWEEP_HALF");
    for (int procs = 1; procs <= 2; procs++) {
        if (ep && atoi(ep) > 0 && atoi(ep) != procs)
            continue;
        struct sweeparg a = {kind, -1, procs, false};
        int st = test_run_child(sweep_child, &a, out, sizeof out, 30);
        ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        const char *p = strstr(out, "calls=");
        ASSERT(p != NULL);
        long total = atol(p + 6);
        ASSERT_GT(total, 0);
        if (!eh || strcmp(eh, "sticky") != 0)
            sweep1(&a, what, total);
        a.sticky = true;
        if (!eh || strcmp(eh, "one") != 0)
            sweep1(&a, what, total);
    }
}

TEST_IMPL(fault_alloc_sweep)
{
    sweep(F_ALLOC, "allocation");
    return 0;
}

TEST_IMPL(fault_mmap_sweep)
{
    sweep(F_MMAP, "mapping");
    return 0;
}
