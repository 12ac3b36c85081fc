/*
 * runner.c — the test runner (modelled on libuv's test/runner.c).
 *
 *   run-tests                  every test, each in its own forked child
 *   run-tests NAME...          just those tests, still forked
 *   run-tests --list           the registered names, one a line
 *   run-tests --no-fork NAME   one test in this process (for gdb)
 *
 * The table comes from test-list.h: one TEST(name, timeout_seconds) line per
 * test, gathered from the per-area list files.  Every test runs in a child
 * that leads its own process group, with stdout and stderr captured through
 * a pipe; a test that outlives its timeout has the whole group killed.  The
 * output is TAP-like:
 *
 *   1..N
 *   ok 1 - name (0.12s)
 *   not ok 2 - name: killed by signal 6 (Aborted) (0.03s)
 *   # <the child's output, capped>
 *   ...
 *   N passed, N failed            <- always the last line
 *
 * The exit status is 0 only if no test failed.
 *
 * The runner itself never calls into gort: forking a process whose runtime
 * threads exist would copy one thread and a heap of half-held locks.  Each
 * test starts (and ends) the runtime in its own child.  Children inherit the
 * environment; GORT_TEST_TIMEOUT_SCALE=n multiplies every timeout (for
 * sanitizer or Valgrind runs).
 *
 * GORT_TEST_SKIP="name1 name2" leaves those tests out, for environments
 * that cannot run them (the Makefile's test-aarch64 under qemu-user says
 * which and why).  Never silently: each prints "ok N - name # SKIP", a
 * comment line before the last counts them, they count neither as passed
 * nor as failed, and an unknown name in the list is an error.
 * GORT_TEST_SWEEP_RUNS=n caps the runs of each fault-injection sweep
 * (tests/test-fault.c; 400 by default), which print how many they made.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "task.h"

/* gort.h routes errno through gort_errno_location(); the runner keeps off
 * the library altogether and uses libc's own. */
#undef errno
#define errno (*__errno_location())

/* ------------------------------------------------------------------------ */
/* The table                                                                */
/* ------------------------------------------------------------------------ */

#define TEST(name, timeout) int run_test_##name(void);
#include "test-list.h"
#undef TEST

typedef struct test_entry {
    const char *name;
    int (*fn)(void);
    int timeout_s;
} test_entry;

static const test_entry tests[] = {
#define TEST(name, timeout) {#name, run_test_##name, (timeout)},
#include "test-list.h"
#undef TEST
};

#define NTESTS ((int)(sizeof tests / sizeof tests[0]))

/* ------------------------------------------------------------------------ */
/* Capturing a child                                                        */
/* ------------------------------------------------------------------------ */

/* Output kept for a failed test: the first HEAD_MAX bytes and the last
 * TAIL_MAX bytes; what lies between is counted, not kept. */
#define HEAD_MAX (4 * 1024)
#define TAIL_MAX (12 * 1024)

typedef struct capture {
    char head[HEAD_MAX];
    size_t nhead;
    char tail[TAIL_MAX];        /* ring */
    size_t tailpos;             /* next write index in tail */
    size_t ntail;               /* bytes held in tail (<= TAIL_MAX) */
    size_t total;               /* everything the child wrote */
} capture;

static void capture_add(capture *c, const char *buf, size_t n)
{
    c->total += n;
    while (n > 0 && c->nhead < HEAD_MAX) {
        c->head[c->nhead++] = *buf++;
        n--;
    }
    for (; n > 0; n--, buf++) {
        c->tail[c->tailpos] = *buf;
        c->tailpos = (c->tailpos + 1) % TAIL_MAX;
        if (c->ntail < TAIL_MAX)
            c->ntail++;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The group currently running, for the SIGINT/SIGTERM handler. */
static volatile sig_atomic_t current_pgid;

static void on_interrupt(int sig)
{
    pid_t pg = (pid_t)current_pgid;
    if (pg > 0)
        kill(-pg, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Forks a child with stdin from /dev/null and stdout+stderr into a pipe,
 * and calls body(a, b) in it.  The child exits with body's return value.
 * The parent reads the pipe into sink(ctx, buf, n) until the child exits or
 * timeout_s passes; on timeout it sends SIGQUIT (a gort program prints
 * its goroutines), then after 2 s SIGKILL, reports the child as killed
 * by SIGKILL whatever it did, and sets *timed_out.  With new_group the child leads its own process group and
 * the whole group is killed (a test's own children included); without, it
 * stays in the caller's group, so that the runner's group kill reaches it.
 * Returns the wait status, or -1 if the child could not be started. */
static int run_forked(int (*body)(void *, void *), void *a, void *b,
                      bool new_group, int timeout_s,
                      void (*sink)(void *, const char *, size_t), void *ctx,
                      bool *timed_out)
{
    int fds[2];
    *timed_out = false;
    fflush(stdout);
    fflush(stderr);
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;

    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        if (new_group)
            setpgid(0, 0);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            close(devnull);
        }
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        /* Unbuffered, so that output written before a crash is seen. */
        setvbuf(stdout, NULL, _IONBF, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        int rc = body(a, b);
        fflush(NULL);
        _exit(rc & 0xff);
    }

    /* Both sides set the group, so that a kill right after fork reaches
     * the child whichever runs first. */
    if (new_group) {
        setpgid(pid, pid);
        current_pgid = pid;
    }
    close(fds[1]);

    double deadline = now_s() + (timeout_s > 0 ? timeout_s : 1e9);
    int status = 0;
    bool reaped = false, eof = false;
    char buf[4096];

    bool quit_sent = false;
    while (!reaped) {
        double left = deadline - now_s();
        if (left <= 0 && !quit_sent) {
            /* Out of time: first SIGQUIT, on which a gort program prints
             * every goroutine's stack (what it hung on), and 2 s to do
             * it; then the kill.  Either way it counts as killed. */
            *timed_out = true;
            quit_sent = true;
            kill(pid, SIGQUIT);
            deadline = now_s() + 2;
            continue;
        }
        if (left <= 0) {
            if (new_group)
                kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            reaped = true;
            break;
        }
        if (!eof) {
            struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
            int ms = left > 0.1 ? 100 : (int)(left * 1000) + 1;
            int r = poll(&pfd, 1, ms);
            if (r > 0) {
                ssize_t n = read(fds[0], buf, sizeof buf);
                if (n > 0)
                    sink(ctx, buf, (size_t)n);
                else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                    eof = true;
            }
        } else {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            reaped = true;
    }
    if (*timed_out)
        status = SIGKILL;   /* as waitpid reports a kill: a hung child
                               that exited on SIGQUIT did not pass */

    /* The child is gone; take what is still in the pipe without waiting
     * for writers it may have left behind. */
    if (!eof) {
        int fl = fcntl(fds[0], F_GETFL);
        fcntl(fds[0], F_SETFL, fl | O_NONBLOCK);
        for (;;) {
            ssize_t n = read(fds[0], buf, sizeof buf);
            if (n > 0)
                sink(ctx, buf, (size_t)n);
            else if (n < 0 && errno == EINTR)
                continue;
            else
                break;
        }
    }
    close(fds[0]);
    if (new_group) {
        /* Whatever else is left in the group (a grandchild) goes too. */
        kill(-pid, SIGKILL);
        current_pgid = 0;
    }
    return status;
}

/* ------------------------------------------------------------------------ */
/* test_run_child (task.h)                                                  */
/* ------------------------------------------------------------------------ */

typedef struct flat_sink {
    char *out;
    size_t cap;                 /* bytes that fit, without the NUL */
    size_t len;
} flat_sink;

static void flat_add(void *ctx, const char *buf, size_t n)
{
    flat_sink *s = ctx;
    size_t room = s->cap - s->len;
    if (n > room)
        n = room;
    memcpy(s->out + s->len, buf, n);
    s->len += n;
}

static int call_void_fn(void *fnp, void *arg)
{
    void (*fn)(void *);
    memcpy(&fn, fnp, sizeof fn);
    fn(arg);
    return 0;
}

int test_run_child(void (*fn)(void *), void *arg, char *out, size_t outsz,
                   int timeout_s)
{
    flat_sink s = {out, outsz > 0 ? outsz - 1 : 0, 0};
    bool timed_out;
    char fnbuf[sizeof fn];
    memcpy(fnbuf, &fn, sizeof fn);
    int status = run_forked(call_void_fn, fnbuf, arg, false, timeout_s,
                            flat_add, &s, &timed_out);
    if (timed_out) {
        static const char msg[] = "\n[test_run_child: timeout]\n";
        flat_add(&s, msg, sizeof msg - 1);
    }
    if (outsz > 0)
        out[s.len] = '\0';
    return status;
}

/* ------------------------------------------------------------------------ */
/* Running the table                                                        */
/* ------------------------------------------------------------------------ */

static int call_test(void *entry, void *unused)
{
    (void)unused;
    const test_entry *t = entry;
    return t->fn();
}

static void capture_sink(void *ctx, const char *buf, size_t n)
{
    capture_add(ctx, buf, n);
}

/* Prints buf as comment lines ("# ..."), continuing the line state. */
static void print_commented(const char *buf, size_t n, bool *at_bol)
{
    for (size_t i = 0; i < n; i++) {
        if (*at_bol) {
            fputs("# ", stdout);
            *at_bol = false;
        }
        putchar(buf[i]);
        if (buf[i] == '\n')
            *at_bol = true;
    }
}

static void print_capture(const capture *c)
{
    bool bol = true;
    print_commented(c->head, c->nhead, &bol);
    size_t skipped = c->total - c->nhead - c->ntail;
    if (skipped > 0) {
        if (!bol)
            putchar('\n');
        printf("# [... %zu bytes of output omitted ...]\n", skipped);
        bol = true;
    }
    size_t start = (c->tailpos + TAIL_MAX - c->ntail) % TAIL_MAX;
    for (size_t i = 0; i < c->ntail; i++) {
        char ch = c->tail[(start + i) % TAIL_MAX];
        print_commented(&ch, 1, &bol);
    }
    if (!bol)
        putchar('\n');
}

static int timeout_scale(void)
{
    const char *s = getenv("GORT_TEST_TIMEOUT_SCALE");
    int k = s ? atoi(s) : 1;
    return k > 0 ? k : 1;
}

/* Runs one test in a child; prints its line (and its output if it failed).
 * Returns true if it passed. */
static bool run_one(int num, const test_entry *t)
{
    static capture cap;
    memset(&cap, 0, sizeof cap);
    bool timed_out;
    int tmo = t->timeout_s * timeout_scale();
    double t0 = now_s();
    int status = run_forked(call_test, (void *)t, NULL, true, tmo,
                            capture_sink, &cap, &timed_out);
    double dt = now_s() - t0;

    if (status == -1 && !timed_out) {
        printf("not ok %d - %s: could not start: %s\n", num, t->name,
               strerror(errno));
        return false;
    }
    if (!timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("ok %d - %s (%.2fs)\n", num, t->name, dt);
        return true;
    }

    printf("not ok %d - %s: ", num, t->name);
    if (timed_out)
        printf("timeout after %ds", tmo);
    else if (WIFEXITED(status))
        printf("exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        printf("killed by signal %d (%s)%s", WTERMSIG(status),
               strsignal(WTERMSIG(status)),
               WCOREDUMP(status) ? ", core dumped" : "");
    else
        printf("wait status 0x%x", (unsigned)status);
    printf(" (%.2fs)\n", dt);
    print_capture(&cap);
    return false;
}

static const test_entry *find_test(const char *name)
{
    for (int i = 0; i < NTESTS; i++)
        if (strcmp(tests[i].name, name) == 0)
            return &tests[i];
    return NULL;
}

/* True if name is a word of the space-separated list (may be NULL). */
static bool in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p != NULL && *p != '\0';) {
        p += strspn(p, " \t\n");
        size_t w = strcspn(p, " \t\n");
        if (w == n && strncmp(p, name, n) == 0)
            return true;
        p += w;
    }
    return false;
}

/* Every word of GORT_TEST_SKIP must name a test: a renamed test must not
 * slip out of the suite unnoticed.  Returns false (after saying which)
 * otherwise. */
static bool check_skip_list(const char *list)
{
    bool ok = true;
    for (const char *p = list; p != NULL && *p != '\0';) {
        p += strspn(p, " \t\n");
        size_t w = strcspn(p, " \t\n");
        if (w > 0) {
            bool found = false;
            for (int i = 0; i < NTESTS && !found; i++)
                found = strlen(tests[i].name) == w &&
                        strncmp(tests[i].name, p, w) == 0;
            if (!found) {
                fprintf(stderr, "GORT_TEST_SKIP: unknown test: %.*s\n",
                        (int)w, p);
                ok = false;
            }
        }
        p += w;
    }
    return ok;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s                  run every test\n"
            "       %s NAME...          run the named tests\n"
            "       %s --list           list the tests\n"
            "       %s --no-fork NAME   run one test in this process\n",
            argv0, argv0, argv0, argv0);
}

int main(int argc, char **argv)
{
    bool no_fork = false;
    const test_entry *sel[NTESTS > 0 ? NTESTS : 1];
    int nsel = 0;
    int names = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0) {
            for (int k = 0; k < NTESTS; k++)
                printf("%s\n", tests[k].name);
            return 0;
        } else if (strcmp(argv[i], "--no-fork") == 0) {
            no_fork = true;
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            usage(argv[0]);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "unknown option: %s\n", argv[i]);
            usage(argv[0]);
            return 2;
        } else {
            names++;
        }
    }

    if (names > 0) {
        for (int i = 1; i < argc; i++) {
            if (argv[i][0] == '-')
                continue;
            const test_entry *t = find_test(argv[i]);
            if (t == NULL) {
                fprintf(stderr, "unknown test: %s (see --list)\n", argv[i]);
                return 2;
            }
            if (nsel < NTESTS)
                sel[nsel++] = t;
        }
    } else {
        for (int i = 0; i < NTESTS; i++)
            sel[nsel++] = &tests[i];
    }

    if (no_fork) {
        if (nsel != 1 || names != 1) {
            fprintf(stderr, "--no-fork runs exactly one named test\n");
            return 2;
        }
        int rc = sel[0]->fn();
        fflush(NULL);
        return rc;
    }

    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    const char *skip = getenv("GORT_TEST_SKIP");
    if (!check_skip_list(skip))
        return 2;

    int passed = 0, failed = 0, skipped = 0;
    printf("1..%d\n", nsel);
    for (int i = 0; i < nsel; i++) {
        if (in_list(skip, sel[i]->name)) {
            printf("ok %d - %s # SKIP GORT_TEST_SKIP\n", i + 1, sel[i]->name);
            skipped++;
        } else if (run_one(i + 1, sel[i])) {
            passed++;
        } else {
            failed++;
        }
    }
    if (skipped > 0)
        printf("# %d skipped (GORT_TEST_SKIP=\"%s\")\n", skipped, skip);
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed == 0 ? 0 : 1;
}

const char *test_expect_child(void (*fn)(void *), void *arg, int exit_code,
                              const char *needle, const char *forbidden,
                              int timeout_s)
{
    static char out[64 * 1024];
    int st = test_run_child(fn, arg, out, sizeof out, timeout_s);
    /* Shown by the runner only if the test fails (and under --no-fork). */
    printf("child output:\n---\n%s\n---\n", out);
    fflush(stdout);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != exit_code) {
        if (WIFSIGNALED(st))
            TEST_FAIL_("child killed by signal %d (%s), expected exit %d",
                       WTERMSIG(st), strsignal(WTERMSIG(st)), exit_code);
        TEST_FAIL_("child exit status %d, expected %d", WEXITSTATUS(st),
                   exit_code);
    }
    if (needle != NULL)
        ASSERT_STR_CONTAINS(out, needle);
    if (forbidden != NULL && strstr(out, forbidden) != NULL)
        TEST_FAIL_("did not expect \"%s\" in:\n---\n%s\n---", forbidden, out);
    return out;
}

void test_go(void (*fn)(void *), void *arg)
{
    ASSERT_GT(gort_go(fn, arg), 0);
}

gort_chan *test_chan_make(size_t elem, size_t cap)
{
    gort_chan *c = gort_chan_make(elem, cap);
    ASSERT(c != NULL);
    return c;
}

void test_start(int procs, void (*fn)(void *), void *arg)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%d", procs);
    TEST_SETENV("GORTMAXPROCS", buf);
    ASSERT_GT(gort_maxprocs(procs), 0);
    ASSERT_EQ(gort_run(fn, arg), 0);
}
