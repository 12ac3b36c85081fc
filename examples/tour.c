/*
 * tour.c — `make demo`: a short walk through what gort does today.
 * Each section prints what it shows; the whole tour takes a few seconds.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gort.h"

static void section(const char *title)
{
    printf("\n== %s\n", title);
}

/* 1. Goroutines are cheap. */
static gort_waitgroup spawn_wg;
static void spawn_child(void *arg)
{
    (void)arg;
    gort_waitgroup_done(&spawn_wg);
}

/* 2. Work spreads over every P. */
static _Atomic uint64_t sink;
static void busy(void *arg)
{
    gort_waitgroup *wg = arg;
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (i % 20000 == 0)
            gort_yield();
    }
    atomic_fetch_add(&sink, x);
    gort_waitgroup_done(wg);
}

/* 3. A contended mutex, a goroutine per increment. */
static gort_mutex mu;
static long counter;
static void incr(void *arg)
{
    gort_waitgroup *wg = arg;
    for (int i = 0; i < 1000; i++) {
        gort_mutex_lock(&mu);
        counter++;
        gort_mutex_unlock(&mu);
    }
    gort_waitgroup_done(wg);
}

/* 4. errno follows the goroutine across threads. */
static _Atomic int errno_moves, errno_ok;
static void errno_keeper(void *arg)
{
    gort_waitgroup *wg = arg;
    errno = 4242 + (int)(gort_self() % 100);
    int want = errno;
    pid_t first = (pid_t)syscall(SYS_gettid);
    bool moved = false;
    for (int i = 0; i < 2000; i++) {
        gort_yield();
        if ((pid_t)syscall(SYS_gettid) != first)
            moved = true;
    }
    if (errno == want)
        atomic_fetch_add(&errno_ok, 1);
    if (moved)
        atomic_fetch_add(&errno_moves, 1);
    gort_waitgroup_done(wg);
}

/* 5. A goroutine wired to its thread. */
static void locked(void *arg)
{
    gort_waitgroup *wg = arg;
    gort_lock_os_thread();
    pid_t tid = (pid_t)syscall(SYS_gettid);
    int same = 0;
    for (int i = 0; i < 1000; i++) {
        gort_yield();
        same += (pid_t)syscall(SYS_gettid) == tid;
    }
    gort_unlock_os_thread();
    printf("locked goroutine %lld stayed on thread %d for %d/1000 yields\n",
           (long long)gort_self(), (int)tid, same);
    gort_waitgroup_done(wg);
}

/* 6. defer, panic, recover. */
static void say(void *msg)
{
    printf("  deferred: %s\n", (const char *)msg);
}

static void recoverer(void *arg)
{
    (void)arg;
    const gort_panic_info *p = gort_recover();
    if (p)
        printf("  recovered: \"%s\" (goroutine %lld)\n", p->msg,
               (long long)p->goid);
}

static int risky(int x)
{
    gort_scope {
        gort_defer(say, "close the file");
        gort_defer(say, "unlock the mutex");
        if (x < 0)
            gort_panic("negative input %d", x);
        return x * 2;
    }
    return -1;
}

static void defer_demo(void)
{
    printf("risky(21) = %d\n", risky(21));
    gort_scope {
        gort_defer(recoverer, NULL);
        risky(-1);
        printf("never printed\n");
    }
    printf("execution resumed after the scope\n");
    gort_panic_info info;
    gort_waitgroup bad = {0};
    if (!gort_try((void (*)(void *))gort_waitgroup_done, &bad, &info))
        printf("gort_try caught the runtime's panic: \"%s\"\n", info.msg);
}

/* 7. Channels: Go's concurrent prime sieve. */
static void generate(void *arg)
{
    gort_chan *ch = arg;
    for (int i = 2;; i++)
        gort_chan_send(ch, &i);
}

struct filter_arg {
    gort_chan *in, *out;
    int prime;
};

static void filter(void *arg)
{
    struct filter_arg *f = arg;
    int i;
    for (;;) {
        gort_chan_recv(f->in, &i);
        if (i % f->prime != 0)
            gort_chan_send(f->out, &i);
    }
}

static void sieve_demo(void)
{
    gort_chan *ch = gort_chan_make(sizeof(int), 0);
    gort_go(generate, ch);
    static struct filter_arg fa[20];
    printf("first 20 primes:");
    for (int i = 0; i < 20; i++) {
        int prime;
        gort_chan_recv(ch, &prime);
        printf(" %d", prime);
        gort_chan *ch1 = gort_chan_make(sizeof(int), 0);
        fa[i] = (struct filter_arg){ch, ch1, prime};
        gort_go(filter, &fa[i]);
        ch = ch1;
    }
    printf("\n");

    /* select with a default case */
    gort_chan *a = gort_chan_make(sizeof(int), 1), *b = gort_chan_make(sizeof(int), 1);
    int v = 7, got = 0;
    gort_chan_send(b, &v);
    gort_case cases[2] = {{a, GORT_RECV, &got, false}, {b, GORT_RECV, &got, false}};
    int which = gort_select(cases, 2, GORT_NONBLOCK);
    printf("select picked case %d, value %d; ", which, got);
    which = gort_select(cases, 2, GORT_NONBLOCK);
    printf("then %d (nothing ready: Go's default)\n", which);
}

/* 10. Deadlock detection, in a child process. */
static void deadlocked_main(void *arg)
{
    (void)arg;
    gort_waitgroup wg = {0};
    gort_waitgroup_add(&wg, 1);
    gort_waitgroup_wait(&wg);   /* nobody will ever call done */
}

/* 8. Time: sleeps, a ticker, a select timeout, and preemption. */
static _Atomic int hog_stop;

static void hog(void *arg)      /* a loop with no calls at all */
{
    (void)arg;
    volatile uint64_t x = 0;
    while (!atomic_load_explicit(&hog_stop, memory_order_relaxed))
        x++;
}

static gort_waitgroup sleep_wg;

static void sleeper(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++)
        gort_sleep(10 * GORT_MS);
    gort_waitgroup_done(&sleep_wg);
}

static void time_demo(void)
{
    int64_t t0 = gort_nanotime();
    gort_waitgroup_add(&sleep_wg, 10000);
    for (int i = 0; i < 10000; i++)
        gort_go(sleeper, NULL);
    gort_waitgroup_wait(&sleep_wg);
    printf("10000 goroutines slept 10 x 10 ms each in %.0f ms (no thread "
           "blocked)\n", (double)(gort_nanotime() - t0) / 1e6);

    gort_timer *tk = gort_ticker_new(20 * GORT_MS);
    int ticks = 0, timeouts = 0;
    while (timeouts == 0) {
        gort_case cases[2] = {
            {gort_timer_chan(tk), GORT_RECV, NULL, false},
            {gort_after(70 * GORT_MS), GORT_RECV, NULL, false},
        };
        /* the timeout is re-armed every round; it fires once ticks stop */
        if (ticks == 3)
            gort_timer_stop(tk);
        if (gort_select(cases, 2, 0) == 0)
            ticks++;
        else
            timeouts++;
    }
    printf("ticker: %d ticks, then the 70 ms gort_after timeout fired\n", ticks);
    gort_timer_free(tk);

    int prev = gort_maxprocs(1);
    gort_go(hog, NULL);
    t0 = gort_nanotime();
    gort_sleep(GORT_MS);
    printf("on 1 P beside a call-free loop, a 1 ms sleep took %.1f ms: sysmon"
           " preempted the loop by signal after its 10 ms slice\n",
           (double)(gort_nanotime() - t0) / 1e6);
    atomic_store(&hog_stop, 1);
    t0 = gort_nanotime();
    int r = GORT_BLOCKING(usleep(50000));
    printf("GORT_BLOCKING(usleep(50 ms)) = %d: its P ran other goroutines "
           "meanwhile (%.0f ms)\n", r, (double)(gort_nanotime() - t0) / 1e6);
    gort_maxprocs(prev);
}

/* 9. The netpoller: an echo server and its clients, all goroutines. */
static char echo_addr[64];
static gort_waitgroup echo_wg, server_wg;
static _Atomic int echo_intact;

static const char *errname(int err)
{
    return err == ETIMEDOUT ? "ETIMEDOUT" : err == EBADF ? "EBADF"
                                                         : strerror(err);
}

static void echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[256];
    ssize_t n;
    while ((n = gort_read(fd, buf, sizeof buf)) > 0)
        if (gort_write(fd, buf, (size_t)n) != n)
            break;
    gort_close(fd);
    gort_waitgroup_done(&server_wg);
}

static void echo_server(void *arg)
{
    int lfd = (int)(intptr_t)arg, fd;
    while ((fd = gort_accept(lfd, NULL, NULL)) >= 0) {
        gort_waitgroup_add(&server_wg, 1);
        gort_go(echo_conn, (void *)(intptr_t)fd);
    }
    printf("the accept loop ended with %s: gort_close closed the listener\n",
           errname(errno));
    gort_waitgroup_done(&server_wg);
}

static bool read_full(int fd, char *p, size_t n)
{
    for (ssize_t r; n > 0; p += r, n -= (size_t)r)
        if ((r = gort_read(fd, p, n)) <= 0)
            return false;
    return true;
}

static void echo_client(void *arg)
{
    (void)arg;
    int fd = gort_tcp_dial(echo_addr, GORT_SEC);
    bool ok = fd >= 0;
    char msg[64] = {0}, back[64];
    for (int i = 0; ok && i < 100; i++) {
        snprintf(msg, sizeof msg, "goroutine %lld, message %d",
                 (long long)gort_self(), i);
        ok = gort_write(fd, msg, sizeof msg) == sizeof msg &&
             read_full(fd, back, sizeof back) &&
             memcmp(msg, back, sizeof msg) == 0;
    }
    if (ok)
        atomic_fetch_add(&echo_intact, 1);
    if (fd >= 0)
        gort_close(fd);
    gort_waitgroup_done(&echo_wg);
}

static void blocked_reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    int64_t t0 = gort_nanotime();
    ssize_t r = gort_read(fd, &c, 1);   /* nothing will come */
    printf("gort_close from another goroutine woke a reader blocked in "
           "gort_read after %.1f ms: %s\n",
           (double)(gort_nanotime() - t0) / 1e6,
           r < 0 ? errname(errno) : "data?");
    gort_waitgroup_done(&echo_wg);
}

static int os_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

static void net_demo(void)
{
    int lfd = gort_tcp_listen("127.0.0.1:0", 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    if (lfd < 0 || getsockname(lfd, (struct sockaddr *)&sa, &len) != 0) {
        printf("no loopback TCP here (%s): skipped\n", strerror(errno));
        return;
    }
    snprintf(echo_addr, sizeof echo_addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    gort_waitgroup_add(&server_wg, 1);
    gort_go(echo_server, (void *)(intptr_t)lfd);

    int64_t t0 = gort_nanotime();
    gort_waitgroup_add(&echo_wg, 100);
    for (int i = 0; i < 100; i++)
        gort_go(echo_client, NULL);
    gort_waitgroup_wait(&echo_wg);
    printf("100 client goroutines x 100 round trips of 64 bytes with an echo "
           "server goroutine: %d/100 intact, %.0f ms, %d OS threads\n",
           atomic_load(&echo_intact), (double)(gort_nanotime() - t0) / 1e6,
           os_threads());

    /* A read deadline on a connection the server has nothing to say on. */
    int fd = gort_tcp_dial(echo_addr, GORT_SEC);
    char c;
    gort_set_deadline(fd, gort_nanotime() + 50 * GORT_MS, GORT_READ);
    t0 = gort_nanotime();
    ssize_t r = gort_read(fd, &c, 1);
    printf("gort_read with a 50 ms read deadline: %s after %.1f ms\n",
           r < 0 ? errname(errno) : "data?",
           (double)(gort_nanotime() - t0) / 1e6);

    /* The same connection, no deadline: only gort_close ends the wait. */
    gort_set_deadline(fd, 0, GORT_READ);
    gort_waitgroup_add(&echo_wg, 1);
    gort_go(blocked_reader, (void *)(intptr_t)fd);
    gort_sleep(20 * GORT_MS);
    gort_close(fd);
    gort_waitgroup_wait(&echo_wg);
    gort_close(lfd);                    /* ends echo_server's accept loop */
    gort_waitgroup_wait(&server_wg);    /* and every echo_conn has ended */
}

static void tour(void *arg)
{
    (void)arg;
    int procs = gort_maxprocs(0);
    printf("gort tour: goroutine %lld on %d Ps\n", (long long)gort_self(), procs);

    section("1. a million goroutines");
    int n = 1000000;
    int64_t t0 = gort_nanotime();
    gort_waitgroup_add(&spawn_wg, n);
    for (int i = 0; i < n; i++)
        if (gort_go(spawn_child, NULL) < 0) {
            perror("gort_go");
            exit(1);
        }
    gort_waitgroup_wait(&spawn_wg);
    int64_t t1 = gort_nanotime();
    printf("spawned and finished %d goroutines in %.0f ms (%.0f ns each)\n", n,
           (t1 - t0) / 1e6, (double)(t1 - t0) / n);

    section("2. work spreads over every P (work stealing)");
    gort_proc_stat before[GORT_MAXPROCS_MAX], after[GORT_MAXPROCS_MAX];
    gort_proc_stats(before, procs);
    gort_waitgroup wg = {0};
    gort_waitgroup_add(&wg, 64);
    for (int i = 0; i < 64; i++)
        gort_go(busy, &wg);
    gort_waitgroup_wait(&wg);
    gort_proc_stats(after, procs);
    for (int i = 0; i < procs && i < 16; i++)
        printf("P%d: ran %llu goroutine slices, stole %llu times\n", i,
               (unsigned long long)(after[i].schedtick - before[i].schedtick),
               (unsigned long long)(after[i].steals - before[i].steals));

    section("3. sync.Mutex: 100 goroutines x 1000 increments");
    gort_waitgroup_add(&wg, 100);
    for (int i = 0; i < 100; i++)
        gort_go(incr, &wg);
    gort_waitgroup_wait(&wg);
    printf("counter = %ld (want 100000)\n", counter);

    section("4. errno survives moving between threads");
    gort_waitgroup_add(&wg, 16);
    for (int i = 0; i < 16; i++)
        gort_go(errno_keeper, &wg);
    gort_waitgroup_wait(&wg);
    printf("16 goroutines: %d kept errno, %d changed threads on the way\n",
           atomic_load(&errno_ok), atomic_load(&errno_moves));

    section("5. gort_lock_os_thread");
    gort_waitgroup_add(&wg, 1);
    gort_go(locked, &wg);
    gort_waitgroup_wait(&wg);

    section("6. defer, panic, recover");
    defer_demo();

    section("7. channels and select");
    sieve_demo();

    section("8. time, sysmon and preemption");
    time_demo();

    section("9. the netpoller: TCP over loopback");
    net_demo();

    printf("\ngoroutines left: %lld (the sieve's goroutines are still parked;"
           " returning from main abandons them, as in Go)\n",
           (long long)gort_num_goroutine());
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (gort_run(tour, NULL) != 0) {
        perror("gort_run");
        return 1;
    }

    section("10. deadlock detection (in a child process)");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        gort_run(deadlocked_main, NULL);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("child exited with status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}
