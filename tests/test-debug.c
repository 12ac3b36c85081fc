/*
 * test-debug.c — goroutine dumps (gort_dump_goroutines, SIGQUIT, the
 * deadlock report) and gort_read_stats.
 *
 * A dump is taken into a memfd and read back; each goroutine's section
 * (from "goroutine ID [" to the blank line) must name its wait reason and
 * the function it blocked in.  The blocking functions here never end in a
 * tail call (each stores to a volatile after the call): a tail call
 * leaves no frame of the caller to find, in gort as in any unwinder.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"
#include "runtime.h"

/* Results nobody reads, written by many goroutines at once: atomic, so
 * that TSan sees no race in the test itself. */
static _Atomic int sink;

/* The whole dump as a string (static, overwritten by the next call). */
static const char *dump_now(void)
{
    static char buf[256 * 1024];
    int fd = memfd_create("dump", 0);
    ASSERT(fd >= 0);
    gort_dump_goroutines(fd);
    off_t n = lseek(fd, 0, SEEK_CUR);
    ASSERT(n >= 0 && (size_t)n < sizeof buf);
    ASSERT_EQ(pread(fd, buf, (size_t)n, 0), n);
    buf[n] = '\0';
    close(fd);
    return buf;
}

/* Goroutine id's section of a dump, copied (static), or NULL. */
static const char *section(const char *dump, int64_t id)
{
    static char sec[16 * 1024];
    char head[40];
    snprintf(head, sizeof head, "goroutine %lld [", (long long)id);
    const char *s = dump;
    for (;;) {
        s = strstr(s, head);
        if (!s)
            return NULL;
        if (s == dump || s[-1] == '\n')
            break;
        s++;
    }
    const char *e = strstr(s, "\n\n");
    size_t n = e ? (size_t)(e - s) + 1 : strlen(s);
    if (n >= sizeof sec)
        n = sizeof sec - 1;
    memcpy(sec, s, n);
    sec[n] = '\0';
    return sec;
}

/* Fails unless goroutine id's section has the header text and fn. */
static void expect_g(const char *dump, int64_t id, const char *hdr,
                     const char *fn)
{
    const char *sec = section(dump, id);
    if (!sec)
        TEST_FAIL_("goroutine %lld not in the dump:\n%s", (long long)id, dump);
    ASSERT_STR_CONTAINS(sec, hdr);
    ASSERT_STR_CONTAINS(sec, fn);
}

/* ------------------------------------------------------------------------ */
/* Wait reasons and functions                                               */
/* ------------------------------------------------------------------------ */

static gort_chan *c_recv, *c_send, *c_sel1, *c_sel2;
static gort_mutex dmu;
static int syspipe[2], iopipe[2];
static atomic_int yielder_stop;

static void dbg_recv(void *a)
{
    (void)a;
    int v;
    gort_chan_recv(c_recv, &v);
    atomic_store_explicit(&sink, v, memory_order_relaxed);
}

static void dbg_send(void *a)
{
    (void)a;
    int v = 1;
    gort_chan_send(c_send, &v);
    atomic_store_explicit(&sink, 2, memory_order_relaxed);
}

static void dbg_lock(void *a)
{
    (void)a;
    gort_mutex_lock(&dmu);
    atomic_store_explicit(&sink, 3, memory_order_relaxed);
    gort_mutex_unlock(&dmu);
}

static void dbg_sleep(void *a)
{
    (void)a;
    gort_sleep(60 * GORT_SEC);
    atomic_store_explicit(&sink, 4, memory_order_relaxed);
}

static void dbg_select(void *a)
{
    (void)a;
    gort_case cs[2] = {{c_sel1, GORT_RECV, NULL, false},
                       {c_sel2, GORT_RECV, NULL, false}};
    atomic_store_explicit(&sink, gort_select(cs, 2, 0), memory_order_relaxed);
}

static void dbg_syscall(void *a)
{
    (void)a;
    char ch;
    ssize_t r = GORT_BLOCKING(read(syspipe[0], &ch, 1));
    atomic_store_explicit(&sink, (int)r, memory_order_relaxed);
}

/* Parked in the netpoller on a non-blocking pipe. */
static void dbg_io(void *a)
{
    (void)a;
    char ch;
    atomic_store_explicit(&sink, (int)gort_read(iopipe[0], &ch, 1),
                          memory_order_relaxed);
}

static void dbg_yielder(void *a)
{
    (void)a;
    while (!atomic_load(&yielder_stop)) {
        gort_yield();
        atomic_store_explicit(&sink, 5, memory_order_relaxed);
    }
}

static atomic_int ns_started;

static void dbg_never_started(void *a)
{
    (void)a;
    atomic_store(&ns_started, 1);
}

static bool all_in(const char *dump, const char *const *want)
{
    for (; *want; want++)
        if (!strstr(dump, *want))
            return false;
    return true;
}

/* arg: non-NULL on one P, where the yielder and a goroutine just made
 * must be runnable when main runs (with two, either may be running). */
static void reasons_main(void *arg)
{
    bool onep = arg != NULL;
    c_recv = test_chan_make(sizeof(int), 0);
    c_send = test_chan_make(sizeof(int), 0);
    c_sel1 = test_chan_make(sizeof(int), 0);
    c_sel2 = test_chan_make(sizeof(int), 0);
    ASSERT_EQ(pipe(syspipe), 0);
    ASSERT_EQ(pipe2(iopipe, O_NONBLOCK), 0);
    gort_mutex_lock(&dmu);
    int64_t id_recv = gort_go(dbg_recv, NULL);
    int64_t id_send = gort_go(dbg_send, NULL);
    int64_t id_lock = gort_go(dbg_lock, NULL);
    int64_t id_sleep = gort_go(dbg_sleep, NULL);
    int64_t id_sel = gort_go(dbg_select, NULL);
    int64_t id_sys = gort_go(dbg_syscall, NULL);
    int64_t id_io = gort_go(dbg_io, NULL);
    int64_t id_yield = gort_go(dbg_yielder, NULL);
    ASSERT(id_recv > 0 && id_send > 0 && id_lock > 0 && id_sleep > 0 &&
           id_sel > 0 && id_sys > 0 && id_io > 0 && id_yield > 0);
    static const char *const want[] = {
        "[chan receive]:", "[chan send]:", "[sync.Mutex.Lock]:", "[sleep]:",
        "[select]:", "[syscall]:", "[IO wait]:", NULL};
    const char *d = NULL;
    for (int i = 0; i < 2000; i++) {
        gort_sleep(GORT_MS);
        d = dump_now();
        if (all_in(d, want))
            break;
    }
    /* One made just now, on our P, has not run: runnable, shown by its
     * entry function.  (A preemption of main, likely under emulation
     * where a dump takes over 10 ms, may let it run and end before the
     * dump reads the goroutines: then it is not in the dump; try again.) */
    int64_t id_new = 0;
    bool listed = false;
    for (int i = 0; i < 20 && !listed; i++) {
        atomic_store(&ns_started, 0);
        gort_yield();   /* a fresh time slice: no preemption due in gort_go */
        id_new = gort_go(dbg_never_started, NULL);
        d = dump_now();
        listed = section(d, id_new) != NULL;
        /* Not listed: it must have run (and ended) first. */
        ASSERT(listed || atomic_load(&ns_started));
    }
    printf("%s", d);
    expect_g(d, 1, "goroutine 1 [running]:\n", "reasons_main");
    ASSERT_STR_CONTAINS(section(d, 1), "gort_dump_goroutines");
    expect_g(d, id_recv, "[chan receive]:", "dbg_recv");
    ASSERT_STR_CONTAINS(section(d, id_recv), "gort_chan_recv");
    expect_g(d, id_send, "[chan send]:", "dbg_send");
    expect_g(d, id_lock, "[sync.Mutex.Lock]:", "dbg_lock");
    expect_g(d, id_sleep, "[sleep]:", "dbg_sleep");
    expect_g(d, id_sel, "[select]:", "dbg_select");
    ASSERT_STR_CONTAINS(section(d, id_sel), "gort_select");
    expect_g(d, id_sys, "[syscall]:", "dbg_syscall");
    expect_g(d, id_io, "[IO wait]:", "dbg_io");
    ASSERT_STR_CONTAINS(section(d, id_io), "gort_read");
    if (onep) {
        expect_g(d, id_yield, "[runnable]:", "dbg_yielder");
        if (!listed)
            TEST_FAIL_("%s", "the new goroutine ran before every dump");
        expect_g(d, id_new, "[runnable]:", "dbg_never_started");
    }
    /* Every goroutine but main says who made it. */
    expect_g(d, id_recv, "created by reasons_main", "\n\t");
#if defined(GORT_HAVE_LIBDW) && !defined(__clang__)
    /* file:line from DWARF (libdw finds no lines in clang 14's). */
    expect_g(d, id_recv, "dbg_recv(...)\n\t", "tests/test-debug.c:");
#endif
    ASSERT(strstr(section(d, 1), "created by") == NULL);
    /* No minutes for a fresh wait. */
    ASSERT(strstr(d, "minutes") == NULL);

    /* Let them all go. */
    int v = 0;
    gort_chan_send(c_recv, &v);
    gort_chan_recv(c_send, &v);
    gort_mutex_unlock(&dmu);
    gort_chan_send(c_sel1, &v);
    ASSERT_EQ(write(syspipe[1], "x", 1), 1);
    ASSERT_EQ(write(iopipe[1], "y", 1), 1);
    atomic_store(&yielder_stop, 1);
}

TEST_IMPL(debug_dump_wait_reasons_1p)
{
    test_start(1, reasons_main, (void *)1);
    return 0;
}

TEST_IMPL(debug_dump_wait_reasons_2p)
{
    test_start(2, reasons_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Wait times, running goroutines                                           */
/* ------------------------------------------------------------------------ */

static struct g *find_g(int64_t id)
{
    struct g *found = NULL;
    gort__lock(&gort__sched.lock);
    for (size_t i = 0; i < gort__sched.nallgs; i++) {
        struct g *gp = gort__sched.allgs[i];
        if (gp->goid == id && atomic_load(&gp->status) != _Gdead)
            found = gp;
    }
    gort__unlock(&gort__sched.lock);
    return found;
}

static void minutes_main(void *arg)
{
    (void)arg;
    c_recv = test_chan_make(sizeof(int), 0);
    int64_t id = gort_go(dbg_recv, NULL);
    struct g *gp = NULL;
    for (int i = 0; i < 2000; i++) {
        gort_sleep(GORT_MS);
        gp = find_g(id);
        if (gp && atomic_load(&gp->status) == _Gwaiting)
            break;
    }
    ASSERT(gp && atomic_load(&gp->status) == _Gwaiting);
    /* The coarse clock stamped the park: within a second of now. */
    int64_t now = gort_nanotime();
    ASSERT_GT(gp->waitsince, 0);
    ASSERT_LT(now - gp->waitsince, GORT_SEC);
    ASSERT_GE(now - gp->waitsince, -GORT_SEC);
    const char *d = dump_now();
    expect_g(d, id, "[chan receive]:", "dbg_recv");
    /* As if it had parked three and a half minutes ago. */
    gp->waitsince = now - 210 * GORT_SEC;
    d = dump_now();
    printf("%s", d);
    expect_g(d, id, "[chan receive, 3 minutes]:", "dbg_recv");
    gp->waitsince = now - 59 * GORT_SEC;
    d = dump_now();
    expect_g(d, id, "[chan receive]:", "dbg_recv");
    int v = 0;
    gort_chan_send(c_recv, &v);
}

TEST_IMPL(debug_dump_wait_minutes)
{
    test_start(2, minutes_main, NULL);
    return 0;
}

static atomic_int spin_stop, spinning;

static void dbg_spinner(void *a)
{
    (void)a;
    atomic_store(&spinning, 1);
    while (!atomic_load_explicit(&spin_stop, memory_order_relaxed))
        ;
}

/* A goroutine running on another thread, caught by the dump's signal. */
static void running_main(void *arg)
{
    (void)arg;
    int64_t id = gort_go(dbg_spinner, NULL);
    while (!atomic_load(&spinning))
        gort_sleep(GORT_MS);
    const char *d = NULL, *sec = NULL;
    for (int i = 0; i < 1000; i++) {
        d = dump_now();
        sec = section(d, id);
        if (sec && strstr(sec, "[running]:"))
            break;
        gort_sleep(GORT_MS);
    }
    printf("%s", d);
    /* Captured on its own thread (by signal): its own frames. */
    expect_g(d, id, "[running]:\ndbg_spinner(", "created by running_main");
    expect_g(d, 1, "goroutine 1 [running]:\n", "running_main");
    atomic_store(&spin_stop, 1);
}

TEST_IMPL(debug_dump_running_2p)
{
    test_start(2, running_main, NULL);
    return 0;
}

/* A hog with no calls in its loop, preempted by signal: runnable, and
 * unwound through the signal frame into the loop it was stopped in. */
static atomic_int dhog_go;

static void dbg_hog(void *a)
{
    (void)a;
    atomic_store(&dhog_go, 1);
    while (atomic_load_explicit(&dhog_go, memory_order_relaxed) == 1)
        ;
    atomic_store_explicit(&sink, 8, memory_order_relaxed);
}

static void preempted_main(void *arg)
{
    (void)arg;
    int64_t id = gort_go(dbg_hog, NULL);
    while (atomic_load(&dhog_go) == 0)
        gort_yield();
    const char *d = NULL;
    for (int i = 0; i < 100; i++) {
        gort_sleep(GORT_MS);    /* returns once the hog was preempted */
        d = dump_now();
        const char *sec = section(d, id);
        if (sec && strstr(sec, "[runnable]:") && strstr(sec, "dbg_hog("))
            break;
    }
    printf("%s", d);
    expect_g(d, id, "[runnable]:", "dbg_hog(");
    ASSERT_STR_CONTAINS(section(d, id), "created by preempted_main");
    atomic_store(&dhog_go, 2);
}

TEST_IMPL(debug_dump_preempted_1p)
{
    unsetenv("GORTDEBUG");
    test_start(1, preempted_main, NULL);
    return 0;
}

/* From a plain thread (no goroutine of its own): every goroutine. */
static void *plain_dump(void *arg)
{
    int64_t id = *(int64_t *)arg;
    struct g *g1 = find_g(1);
    ASSERT(g1 != NULL);
    while (atomic_load(&g1->status) != _Gsyscall)   /* in the join */
        usleep(1000);
    const char *d = dump_now();
    printf("%s", d);
    expect_g(d, id, "[chan receive]:", "dbg_recv");
    expect_g(d, 1, "goroutine 1 [syscall]:\n", "plain_main");
    return NULL;
}

static void plain_main(void *arg)
{
    (void)arg;
    c_recv = test_chan_make(sizeof(int), 0);
    int64_t id = gort_go(dbg_recv, NULL);
    struct g *gp = NULL;
    while (!(gp = find_g(id)) || atomic_load(&gp->status) != _Gwaiting)
        gort_sleep(GORT_MS);
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, plain_dump, &id), 0);
    ASSERT_EQ(GORT_BLOCKING(pthread_join(t, NULL)), 0);
    atomic_store_explicit(&sink, 7, memory_order_relaxed);
    int v = 0;
    gort_chan_send(c_recv, &v);
}

TEST_IMPL(debug_dump_from_thread)
{
    test_start(2, plain_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Deadlock report and SIGQUIT                                              */
/* ------------------------------------------------------------------------ */

static void deadlock_main(void *arg)
{
    (void)arg;
    c_recv = test_chan_make(sizeof(int), 0);
    gort_go(dbg_recv, NULL);
    int v;
    gort_chan_recv(c_recv, &v);
    atomic_store_explicit(&sink, v, memory_order_relaxed);
}

static void deadlock_child(void *arg)
{
    (void)arg;
    test_start(2, deadlock_main, NULL);
    printf("gort_run returned\n");
}

TEST_IMPL(debug_deadlock_backtraces)
{
    const char *out = test_expect_child(
        deadlock_child, NULL, 2,
        "fatal error: all goroutines are asleep - deadlock!\n\n"
        "goroutine 1 [chan receive]:\ngort_chan_recv(",
        "returned", 30);
    ASSERT_STR_CONTAINS(out, "deadlock_main(");
    ASSERT_STR_CONTAINS(out, "[chan receive]:\ngort_chan_recv(...)");
    ASSERT_STR_CONTAINS(out, "dbg_recv(");
    ASSERT_STR_CONTAINS(out, "created by deadlock_main");
    return 0;
}

static void announce(void *a)
{
    (void)a;
    struct g *g1 = find_g(1);
    while (atomic_load(&g1->status) != _Gwaiting)
        gort_sleep(GORT_MS);
    printf("ready\n");
    fflush(stdout);
}

/* The program a SIGQUIT test runs: goroutines parked in known places,
 * then "ready" on stdout; the signal comes from outside (the parent) or
 * from a goroutine raising it on its own thread. */
static void quit_main(void *arg)
{
    bool self = arg != NULL;
    c_recv = test_chan_make(sizeof(int), 0);
    gort_mutex_lock(&dmu);
    gort_go(dbg_recv, NULL);
    gort_go(dbg_lock, NULL);
    gort_go(dbg_sleep, NULL);
    static const char *const want[] = {"[chan receive]:", "[sleep]:",
                                       "[sync.Mutex.Lock]:", NULL};
    for (int i = 0; i < 2000 && !all_in(dump_now(), want); i++)
        gort_sleep(GORT_MS);
    if (self) {
        pthread_kill(pthread_self(), SIGQUIT);
        /* Held in the handler until sysmon exits the process. */
        gort_sleep(10 * GORT_SEC);
        printf("still alive\n");
        return;
    }
    gort_go(announce, NULL);        /* "ready" once we are parked */
    int v;
    gort_chan_recv(c_recv, &v);     /* until the signal */
    printf("still alive\n");
}

static void quit_self_child(void *arg)
{
    (void)arg;
    test_start(2, quit_main, (void *)1);
}

TEST_IMPL(debug_sigquit_raise)
{
    const char *out = test_expect_child(quit_self_child, NULL, 2,
                                        "SIGQUIT: quit\nPC=0x", "still alive",
                                        60);
    ASSERT_STR_CONTAINS(out, " sigcode=");
    /* The goroutine on the signalled thread shows its own stack. */
    ASSERT_STR_CONTAINS(out, "\n\ngoroutine 1 [running]:\n");
    ASSERT_STR_CONTAINS(out, "quit_main(");
    ASSERT_STR_CONTAINS(out, "[chan receive]:");
    ASSERT_STR_CONTAINS(out, "dbg_recv(");
    ASSERT_STR_CONTAINS(out, "[sync.Mutex.Lock]:");
    ASSERT_STR_CONTAINS(out, "dbg_lock(");
    ASSERT_STR_CONTAINS(out, "[sleep]:");
#if defined(__x86_64__)
    ASSERT_STR_CONTAINS(out, "\nrip    0x");
#elif defined(__aarch64__)
    ASSERT_STR_CONTAINS(out, "\npc      0x");
#endif
    return 0;
}

static void quit_child_body(void)
{
    test_start(2, quit_main, NULL);
}

TEST_IMPL(debug_sigquit_from_parent)
{
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        quit_child_body();
        _exit(0);
    }
    close(fds[1]);
    static char out[128 * 1024];
    size_t n = 0;
    bool sent = false;
    for (;;) {
        ssize_t k = read(fds[0], out + n, sizeof out - 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
        out[n] = '\0';
        if (!sent && strstr(out, "ready\n")) {
            ASSERT_EQ(kill(pid, SIGQUIT), 0);
            sent = true;
        }
    }
    close(fds[0]);
    int st;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    out[n] = '\0';
    printf("child output:\n%s\n", out);
    ASSERT(sent);
    ASSERT(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 2);
    ASSERT_STR_CONTAINS(out, "SIGQUIT: quit\nPC=0x");
    ASSERT(strstr(out, "still alive") == NULL);
    ASSERT_STR_CONTAINS(out, "goroutine 1 [chan receive]:\ngort_chan_recv(");
    ASSERT_STR_CONTAINS(out, "quit_main(");
    ASSERT_STR_CONTAINS(out, "[sync.Mutex.Lock]:");
    ASSERT_STR_CONTAINS(out, "dbg_lock(");
    ASSERT_STR_CONTAINS(out, "[sleep]:");
    ASSERT_STR_CONTAINS(out, "dbg_sleep(");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* gort_read_stats                                                          */
/* ------------------------------------------------------------------------ */

static gort_waitgroup swg;
static gort_chan *c_block;
static atomic_int hog_go;

static void parked(void *a)
{
    (void)a;
    int v;
    gort_chan_recv(c_block, &v);
    atomic_store_explicit(&sink, v, memory_order_relaxed);
    gort_waitgroup_done(&swg);
}

/* No call in the loop: only a signal takes the P back. */
static void stat_hog(void *a)
{
    (void)a;
    atomic_store(&hog_go, 1);
    while (atomic_load_explicit(&hog_go, memory_order_relaxed) == 1)
        ;
    gort_waitgroup_done(&swg);
}

static void coop_hog(void *a)
{
    (void)a;
    atomic_store(&hog_go, 1);
    while (atomic_load_explicit(&hog_go, memory_order_relaxed) == 1)
        gort_preempt_point();
    gort_waitgroup_done(&swg);
}

/* Runs hog until a gort_sleep of ours returns, which needs the hog
 * preempted (1 P), then stops it. */
static void run_hog_preempted(void (*hog)(void *))
{
    atomic_store(&hog_go, 0);
    gort_waitgroup_add(&swg, 1);
    test_go(hog, NULL);
    while (atomic_load(&hog_go) == 0)
        gort_yield();
    gort_sleep(GORT_MS);
    atomic_store(&hog_go, 2);
    gort_waitgroup_wait(&swg);
}

static void stats_main(void *arg)
{
    (void)arg;
    gort_stats a, b;
    ASSERT_EQ(gort_read_stats(NULL), -1);
    ASSERT_EQ(gort_read_stats(&a), 0);
    ASSERT_EQ(a.procs, 1);
    ASSERT_EQ(a.goroutines, 1);
    ASSERT_GE(a.ms, 1);
    ASSERT_EQ(a.idle_procs, 0);     /* ours runs */

    /* 50 parked goroutines: counted, and their parks too. */
    c_block = test_chan_make(sizeof(int), 0);
    for (int i = 0; i < 50; i++) {
        gort_waitgroup_add(&swg, 1);
        test_go(parked, NULL);
    }
    for (int i = 0; i < 1000; i++) {    /* they run and park */
        gort_yield();
        ASSERT_EQ(gort_read_stats(&b), 0);
        if (b.parks >= a.parks + 50)
            break;
    }
    ASSERT_EQ(b.goroutines, 51);
    ASSERT_GE(b.goroutines_created, a.goroutines_created + 50);
    ASSERT_GE(b.context_switches, a.context_switches + 50);
    ASSERT_GE(b.parks, a.parks + 50);
    for (int i = 0; i < 50; i++) {
        int v = i;
        gort_chan_send(c_block, &v);
    }
    gort_waitgroup_wait(&swg);

    /* Yields switch. */
    a = b;
    for (int i = 0; i < 10; i++)
        gort_yield();
    gort_sleep(GORT_MS);
    ASSERT_EQ(gort_read_stats(&b), 0);
    ASSERT_GT(b.context_switches, a.context_switches);
    ASSERT_GE(b.timers_fired, a.timers_fired + 1);     /* the sleep */

    /* A hog with no calls: preempted by signal. */
    a = b;
    run_hog_preempted(stat_hog);
    ASSERT_EQ(gort_read_stats(&b), 0);
    ASSERT_GE(b.preempt_async, a.preempt_async + 1);

    /* A blocking call wrapped with GORT_BLOCKING hands its P off. */
    a = b;
    /* EINTR is fine too. */
    atomic_store_explicit(&sink, GORT_BLOCKING(usleep(2000)),
                          memory_order_relaxed);
    ASSERT_EQ(gort_read_stats(&b), 0);
    ASSERT_EQ(b.syscall_handoffs, a.syscall_handoffs + 1);
    ASSERT_EQ(b.goroutines, 1);
    ASSERT_EQ(b.netpoll_waits, a.netpoll_waits);
}

TEST_IMPL(debug_stats_1p)
{
    /* Async preemption must be on for the hog part. */
    unsetenv("GORTDEBUG");
    test_start(1, stats_main, NULL);
    return 0;
}

/* With asyncpreemptoff=1, a hog at gort_preempt_point is preempted
 * cooperatively (with signals on, a signal may win the race). */
static void coop_main(void *arg)
{
    (void)arg;
    gort_stats a, b;
    ASSERT_EQ(gort_read_stats(&a), 0);
    run_hog_preempted(coop_hog);
    ASSERT_EQ(gort_read_stats(&b), 0);
    ASSERT_GE(b.preempt_coop, a.preempt_coop + 1);
    ASSERT_EQ(b.preempt_async, 0);
}

TEST_IMPL(debug_stats_coop_1p)
{
    TEST_SETENV("GORTDEBUG", "asyncpreemptoff=1");
    test_start(1, coop_main, NULL);
    return 0;
}

static void idle_main(void *arg)
{
    (void)arg;
    gort_stats s;
    /* Another P idles once its M gives up looking for work. */
    for (int i = 0; i < 2000; i++) {
        /* Run a while: an M woken to look for work (wakep) gives up. */
        int64_t t0 = gort_nanotime();
        while (gort_nanotime() - t0 < 3 * GORT_MS)
            ;
        ASSERT_EQ(gort_read_stats(&s), 0);
        if (s.idle_procs == 1)
            break;
        gort_sleep(GORT_MS);
    }
    ASSERT_EQ(s.procs, 2);
    ASSERT_EQ(s.idle_procs, 1);
    ASSERT_GE(s.ms, 1);
    ASSERT_LE(s.idle_ms, s.ms);
}

TEST_IMPL(debug_stats_idle_2p)
{
    test_start(2, idle_main, NULL);
    return 0;
}
