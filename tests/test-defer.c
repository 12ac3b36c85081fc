/*
 * test-defer.c — defer, panic, recover and Goexit: the order deferred calls
 * run in, when their arguments are taken, every way of leaving a
 * gort_scope, nested scopes and a caller's scope, many records (past the
 * inline ones), Goexit from deep calls, recover's rules, nested panics and
 * the chains Go 1.19 prints for them, gort_try (goroutines and plain
 * threads, runtime panics), records that survive yields and moves between
 * threads, a thousand goroutines deferring at once on 1 to 8 Ps, and the
 * crash report of an unrecovered panic.
 *
 * Every test starts the runtime itself (each runs in its own forked
 * child).  Tests that expect the process to die run that part in a
 * grandchild through test_run_child and check its exit status and output.
 * Orders are recorded in a "trail" (a list of ints) and compared whole.
 * Nothing here asserts on time.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime.h" /* gort__tlsp: the panic chain, for invariants */
#include "task.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* An int as a deferred call's argument. */
#define N(x) ((void *)(intptr_t)(x))

/* Starts the runtime on `procs` Ps (the environment is set too, so the
 * caller's GORTMAXPROCS cannot win) and checks that gort_run returns 0. */
#define start test_start

static pid_t gettid_(void)
{
    return (pid_t)syscall(SYS_gettid);
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

/* gort_waitgroup_done as a deferred call: gort_defer takes a
 * void (*)(void *). */
static void wg_done(void *wg)
{
    gort_waitgroup_done(wg);
}

/* The calling goroutine's (or thread's) panic chain is empty. */
static void assert_not_panicking(void)
{
    ASSERT(gort__tlsp()->panic == NULL);
    ASSERT(gort__tlsp()->goexit == NULL);
}

/* A trail records what ran, in order. */
#define TRAIL_MAX 4096
typedef struct trail {
    int n;
    int v[TRAIL_MAX];
} trail;

static void trail_add(trail *t, int v)
{
    ASSERT_LT(t->n, TRAIL_MAX);
    t->v[t->n++] = v;
}

static void trail_print(const char *what, const int *v, int n)
{
    fprintf(stderr, "%s (%d):", what, n);
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %d", v[i]);
    fprintf(stderr, "\n");
}

static void expect_trail_(const trail *t, const int *want, int n, int line)
{
    bool same = t->n == n;
    for (int i = 0; same && i < n; i++)
        same = t->v[i] == want[i];
    if (!same) {
        trail_print("got ", t->v, t->n);
        trail_print("want", want, n);
        TEST_FAIL_("trail mismatch (checked on line %d)", line);
    }
}

#define EXPECT_TRAIL(t, ...)                                               \
    expect_trail_((t), (const int[]){__VA_ARGS__},                         \
                  (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int)), \
                  __LINE__)

/* The trail of the single-goroutine tests, and deferrable recorders. */
static trail tr;

static void note(void *a)
{
    trail_add(&tr, (int)(intptr_t)a);
}

/* What the last successful recover in recoverer() saw (copied: the info
 * is reused by the next recover). */
static char rec_msg[2048];
static void *rec_value;
static int64_t rec_goid;
static int rec_count;

static void save_info(const gort_panic_info *pi)
{
    snprintf(rec_msg, sizeof rec_msg, "%s", pi->msg);
    rec_value = pi->value;
    rec_goid = pi->goid;
    rec_count++;
}

/* Deferred: must recover; notes its argument. */
static void recoverer(void *a)
{
    const gort_panic_info *pi = gort_recover();
    if (pi == NULL)
        TEST_FAIL_("recover returned NULL in record %d", (int)(intptr_t)a);
    save_info(pi);
    note(a);
}

/* Deferred: recover must return NULL here; notes its argument. */
static void no_recover(void *a)
{
    ASSERT(gort_recover() == NULL);
    note(a);
}

/* Deferred: panics with the message given. */
static void panicker(void *msg)
{
    gort_panic("%s", (const char *)msg);
}

#define expect_child(fn, arg, code, needle, forbidden) \
    test_expect_child(fn, arg, code, needle, forbidden, 30)

static void assert_starts_with(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0)
        TEST_FAIL_("expected output to start with:\n---\n%s\n---\ngot:\n---\n"
                   "%s\n---",
                   prefix, s);
}

/* True when libdw is linked in, so backtraces name static functions.
 * (Without it, dladdr names only exported symbols, which a test program
 * linked without -rdynamic has none of.) */
static bool have_libdw(void)
{
    return dlsym(RTLD_DEFAULT, "dwfl_begin") != NULL;
}

/* gort_run(fn) with the number of Ps passed as arg, for children. */
static void (*child_main)(void *);
static void child_run(void *arg)
{
    start((int)(intptr_t)arg, child_main, NULL);
    printf("gort_run returned\n");
}

static const char *run_crashing(void (*main_fn)(void *), int procs,
                                const char *needle)
{
    child_main = main_fn;
    return expect_child(child_run, N(procs), 2, needle, "gort_run returned");
}

/* ------------------------------------------------------------------------ */
/* Order and arguments                                                      */
/* ------------------------------------------------------------------------ */

static void order_main(void *arg)
{
    (void)arg;
    tr.n = 0;
    gort_scope {
        gort_defer(note, N(1));
        gort_defer(note, N(2));
        gort_defer(note, N(3));
        note(N(0));
    }
    note(N(4));
    EXPECT_TRAIL(&tr, 0, 3, 2, 1, 4);

    /* An empty scope, and a scope with one record. */
    tr.n = 0;
    gort_scope {
    }
    gort_scope {
        gort_defer(note, N(7));
    }
    EXPECT_TRAIL(&tr, 7);
    ASSERT(gort__tls_scope_get() == NULL);
    assert_not_panicking();
}

TEST_IMPL(defer_order)
{
    start(1, order_main, NULL);
    return 0;
}

static int arg_calls;
static int next_arg(void)
{
    return ++arg_calls * 10;
}

typedef void (*defer_fn)(void *);
static int fn_calls;
static defer_fn pick_note(void)
{
    fn_calls++;
    return note;
}

/* Deferred: notes the int its argument points to, as it is then. */
static void note_ptr(void *a)
{
    note(N(*(int *)a));
}

static void args_main(void *arg)
{
    (void)arg;
    tr.n = 0;
    int i = 10;
    gort_scope {
        gort_defer(note, N(i)); /* 10: taken now */
        i = 20;
        gort_defer(note, N(i)); /* 20 */
        i = 30;
        gort_defer(note_ptr, &i); /* the pointer is taken now, the
                                     int read when the call runs */
        i = 40;
        for (int k = 0; k < 3; k++)
            gort_defer(note, N(100 + k));
        /* fn and arg are evaluated once, when gort_defer runs. */
        gort_defer(pick_note(), N(next_arg()));
        ASSERT_EQ(arg_calls, 1);
        ASSERT_EQ(fn_calls, 1);
        i = 50;
    }
    ASSERT_EQ(arg_calls, 1);
    ASSERT_EQ(fn_calls, 1);
    EXPECT_TRAIL(&tr, 10, 102, 101, 100, 50, 20, 10);
}

TEST_IMPL(defer_arg_binding)
{
    start(1, args_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Ways out of a scope                                                      */
/* ------------------------------------------------------------------------ */

static int ret_counter;

static void bump(void *a)
{
    ret_counter++;
    note(a);
}

/* The return value is computed before the deferred calls run (Go without
 * named results). */
__attribute__((noinline)) static int ret_value(void)
{
    ret_counter = 5;
    gort_scope {
        gort_defer(bump, N(1));
        return ret_counter;
    }
    return -1;
}

/* return from two nested scopes inside a loop. */
__attribute__((noinline)) static int ret_nested(int stop)
{
    for (int i = 0;; i++) {
        gort_scope {
            gort_defer(note, N(10 + i));
            gort_scope {
                gort_defer(note, N(20 + i));
                if (i == stop)
                    return i;
                note(N(30 + i));
            }
        }
    }
}

static void ret_main(void *arg)
{
    (void)arg;
    tr.n = 0;
    gort_scope {
        gort_defer(note, N(9));
        note(N(8)); /* falls off the end */
    }
    EXPECT_TRAIL(&tr, 8, 9);

    tr.n = 0;
    ASSERT_EQ(ret_value(), 5);
    ASSERT_EQ(ret_counter, 6);
    EXPECT_TRAIL(&tr, 1);

    tr.n = 0;
    ASSERT_EQ(ret_nested(2), 2);
    EXPECT_TRAIL(&tr, 30, 20, 10, 31, 21, 11, 22, 12);
    ASSERT(gort__tls_scope_get() == NULL);
}

TEST_IMPL(defer_exit_fallthrough_return)
{
    start(1, ret_main, NULL);
    return 0;
}

/* GCC (12, -O1 and up) may report -Wmaybe-uninitialized for a loop
 * variable when one function holds several loops with scopes in them (the
 * setjmp of a scope looks reachable from every call of the function): one
 * such loop per function here, as docs/defer.md advises. */

/* break directly inside the scope leaves the scope (running its records),
 * not the enclosing loop. */
__attribute__((noinline)) static void break_loop(void)
{
    for (int it = 0; it < 3; it++) {
        gort_scope {
            gort_defer(note, N(10 + it));
            if (it == 1)
                break;
            note(N(20 + it));
        }
        note(N(30 + it));
    }
}

/* continue likewise. */
__attribute__((noinline)) static void continue_loop(void)
{
    for (int it = 0; it < 3; it++) {
        gort_scope {
            gort_defer(note, N(10 + it));
            if (it == 1)
                continue;
            note(N(20 + it));
        }
        note(N(30 + it));
    }
}

/* To leave a loop from inside a scope, use a flag (or goto). */
__attribute__((noinline)) static void flag_loop(void)
{
    for (int it = 0; it < 5; it++) {
        bool stop = false;
        gort_scope {
            gort_defer(note, N(it));
            if (it == 2) {
                stop = true;
                break;
            }
        }
        if (stop)
            break;
    }
}

static void break_main(void *arg)
{
    (void)arg;
    tr.n = 0;
    break_loop();
    EXPECT_TRAIL(&tr, 20, 10, 30, 11, 31, 22, 12, 32);

    tr.n = 0;
    continue_loop();
    EXPECT_TRAIL(&tr, 20, 10, 30, 11, 31, 22, 12, 32);

    /* break and continue in a loop or switch inside the scope are
     * theirs, as usual. */
    tr.n = 0;
    gort_scope {
        gort_defer(note, N(1));
        for (int k = 0; k < 10; k++) {
            if (k == 1)
                continue;
            if (k == 3)
                break;
            note(N(100 + k));
        }
        switch (tr.n) {
        case 2:
            note(N(200));
            break;
        default:
            note(N(201));
            break;
        }
        note(N(300));
    }
    EXPECT_TRAIL(&tr, 100, 102, 200, 300, 1);

    tr.n = 0;
    flag_loop();
    EXPECT_TRAIL(&tr, 0, 1, 2);
    ASSERT(gort__tls_scope_get() == NULL);
}

TEST_IMPL(defer_exit_break_continue)
{
    start(1, break_main, NULL);
    return 0;
}

static void goto_main(void *arg)
{
    (void)arg;
    tr.n = 0;
    gort_scope {
        gort_defer(note, N(1));
        gort_scope {
            gort_defer(note, N(2));
            note(N(0));
            goto out;
        }
        note(N(99)); /* never */
    }
    note(N(98)); /* never */
out:
    note(N(3));
    EXPECT_TRAIL(&tr, 0, 2, 1, 3);

    /* goto out of an inner scope only, to a label in the outer one. */
    tr.n = 0;
    gort_scope {
        gort_defer(note, N(1));
        for (int i = 0; i < 3; i++) {
            gort_scope {
                gort_defer(note, N(10 + i));
                if (i == 1)
                    goto next;
            }
        }
    next:
        note(N(2));
    }
    EXPECT_TRAIL(&tr, 10, 11, 2, 1);
    ASSERT(gort__tls_scope_get() == NULL);
}

TEST_IMPL(defer_exit_goto)
{
    start(1, goto_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Nesting                                                                  */
/* ------------------------------------------------------------------------ */

/* gort_defer without a scope of its own: the record goes to the innermost
 * active scope, which is the caller's. */
static void defer_for_caller(int k)
{
    gort_defer(note, N(k));
}

__attribute__((noinline)) static void scoped_callee(int k)
{
    gort_scope {
        gort_defer(note, N(k));
        defer_for_caller(k + 1); /* ours: runs before k */
    }
    note(N(k + 2));
}

/* Deferred: has a scope of its own whose records run when it returns. */
static void deferred_with_scope(void *a)
{
    int k = (int)(intptr_t)a;
    gort_scope {
        gort_defer(note, N(k + 1));
        gort_defer(note, N(k + 2));
        note(N(k));
    }
}

/* Deferred: defers without a scope of its own.  The record goes to the
 * scope that is running it and runs right after this call returns. */
static void deferred_defers(void *a)
{
    int k = (int)(intptr_t)a;
    note(N(k));
    gort_defer(note, N(k + 1));
}

static void nested_main(void *arg)
{
    (void)arg;
    tr.n = 0;
    gort_scope {
        gort_defer(note, N(1));
        gort_scope {
            gort_defer(note, N(2));
            gort_scope {
                gort_defer(note, N(3));
            }
            note(N(4));
        }
        note(N(5));
    }
    EXPECT_TRAIL(&tr, 3, 4, 2, 5, 1);

    /* Two scopes one after the other in one function. */
    tr.n = 0;
    gort_scope {
        gort_defer(note, N(1));
    }
    gort_scope {
        gort_defer(note, N(2));
    }
    EXPECT_TRAIL(&tr, 1, 2);

    /* A callee's gort_defer without a scope lands in ours. */
    tr.n = 0;
    gort_scope {
        gort_defer(note, N(1));
        defer_for_caller(2);
        note(N(0)); /* 2 has not run: it is ours */
        gort_scope {
            defer_for_caller(3);
            gort_defer(note, N(4));
        }
        note(N(5));
        scoped_callee(10); /* its scope is its own */
    }
    EXPECT_TRAIL(&tr, 0, 4, 3, 5, 11, 10, 12, 2, 1);

    /* Deferred calls with scopes of their own, and deferred calls that
     * defer. */
    tr.n = 0;
    gort_scope {
        gort_defer(note, N(1));
        gort_defer(deferred_with_scope, N(10));
        gort_defer(deferred_defers, N(20));
        gort_defer(note, N(2));
    }
    EXPECT_TRAIL(&tr, 2, 20, 21, 10, 12, 11, 1);
    ASSERT(gort__tls_scope_get() == NULL);
}

TEST_IMPL(defer_nested_scopes)
{
    start(1, nested_main, NULL);
    return 0;
}

/* gort_defer with no scope at all is fatal. */
static void noscope_main(void *arg)
{
    (void)arg;
    gort_defer(note, N(1));
    printf("deferred without a scope\n");
}

TEST_IMPL(defer_outside_scope)
{
    run_crashing(noscope_main, 1,
                 "fatal error: gort_defer outside gort_scope");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Many records                                                             */
/* ------------------------------------------------------------------------ */

/* Defers n records in one scope and checks they run in reverse. */
static void defer_n(int n)
{
    tr.n = 0;
    gort_scope {
        for (int i = 0; i < n; i++)
            gort_defer(note, N(i));
    }
    ASSERT_EQ(tr.n, n);
    for (int i = 0; i < n; i++)
        ASSERT_EQ(tr.v[i], n - 1 - i);
}

/* Deferred: defers (onto the scope running it) past the inline records. */
static void defers_twenty(void *a)
{
    int base = (int)(intptr_t)a;
    for (int i = 0; i < 20; i++)
        gort_defer(note, N(base + i));
}

static void many_main(void *arg)
{
    (void)arg;
    defer_n(1000);
    /* Every count around the inline records and the chunks, twice (the
     * second round reuses pooled chunks). */
    for (int round = 0; round < 2; round++)
        for (int n = 0; n <= 80; n++)
            defer_n(n);
    for (int round = 0; round < 50; round++)
        defer_n(1000);

    /* Nested scopes that each spill, in one function. */
    tr.n = 0;
    gort_scope {
        for (int i = 0; i < 100; i++)
            gort_defer(note, N(i));
        gort_scope {
            for (int i = 0; i < 100; i++)
                gort_defer(note, N(1000 + i));
        }
        ASSERT_EQ(tr.n, 100);
        for (int i = 0; i < 100; i++)
            ASSERT_EQ(tr.v[i], 1099 - i);
        tr.n = 0;
    }
    ASSERT_EQ(tr.n, 100);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(tr.v[i], 99 - i);

    /* A deferred call that defers 20 records while its scope is left
     * (they run right after it, newest first), from a scope with one
     * inline record and from one with spilled records. */
    for (int before = 0; before <= 12; before += 4) {
        tr.n = 0;
        gort_scope {
            for (int i = 0; i < before; i++)
                gort_defer(note, N(i));
            gort_defer(defers_twenty, N(100));
        }
        ASSERT_EQ(tr.n, 20 + before);
        for (int i = 0; i < 20; i++)
            ASSERT_EQ(tr.v[i], 119 - i);
        for (int i = 0; i < before; i++)
            ASSERT_EQ(tr.v[20 + i], before - 1 - i);
    }
    ASSERT(gort__tls_scope_get() == NULL);
}

TEST_IMPL(defer_many)
{
    start(1, many_main, NULL);
    return 0;
}

/* Deferred: records and recovers when its argument is `at`. */
static int many_recover_at;
static void note_or_recover(void *a)
{
    if ((int)(intptr_t)a == many_recover_at)
        ASSERT(gort_recover() != NULL);
    note(a);
}

static void many_panic_main(void *arg)
{
    (void)arg;
    /* A panic runs 1000 pending records; the oldest recovers. */
    tr.n = 0;
    rec_count = 0;
    gort_scope {
        gort_defer(recoverer, N(-1));
        for (int i = 0; i < 1000; i++)
            gort_defer(note, N(i));
        gort_panic("after 1000");
    }
    ASSERT_EQ(tr.n, 1001);
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ(tr.v[i], 999 - i);
    ASSERT_EQ(tr.v[1000], -1);
    ASSERT_EQ(rec_count, 1);
    ASSERT(strcmp(rec_msg, "after 1000") == 0);

    /* A record in the middle recovers: the rest of the scope's records
     * (inline and spilled) run on the way out, once each. */
    for (int at = 0; at < 1000; at += 37) {
        tr.n = 0;
        many_recover_at = at;
        gort_scope {
            for (int i = 0; i < 1000; i++)
                gort_defer(note_or_recover, N(i));
            gort_panic("in the middle");
        }
        ASSERT_EQ(tr.n, 1000);
        for (int i = 0; i < 1000; i++)
            ASSERT_EQ(tr.v[i], 999 - i);
        assert_not_panicking();
    }
    ASSERT(gort__tls_scope_get() == NULL);
}

TEST_IMPL(defer_many_panic)
{
    start(1, many_panic_main, NULL);
    return 0;
}

/* 500 nested scopes in a recursion, a panic at the bottom, recovered at
 * the top: every level's record runs, innermost first. */
__attribute__((noinline)) static void deep_scopes(int n)
{
    gort_scope {
        gort_defer(note, N(n));
        if (n == 0)
            gort_panic("bottom");
        deep_scopes(n - 1);
        note(N(-1000 - n)); /* never */
    }
    note(N(-2000 - n)); /* never */
}

static gort_waitgroup deep_wg;
static void deep_fn(void *arg)
{
    (void)arg;
    tr.n = 0;
    gort_scope {
        gort_defer(recoverer, N(-1));
        deep_scopes(499);
    }
    ASSERT_EQ(tr.n, 501);
    for (int i = 0; i < 500; i++)
        ASSERT_EQ(tr.v[i], i);
    ASSERT_EQ(tr.v[500], -1);
    assert_not_panicking();
    gort_waitgroup_done(&deep_wg);
}

static void deep_main(void *arg)
{
    (void)arg;
    gort_attr attr = {.stack_size = 4 * 1024 * 1024, .name = "deep"};
    gort_waitgroup_add(&deep_wg, 1);
    ASSERT_GT(gort_go_ex(deep_fn, NULL, &attr), 0);
    gort_waitgroup_wait(&deep_wg);
}

TEST_IMPL(defer_deep_recursion)
{
    start(2, deep_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Goexit                                                                   */
/* ------------------------------------------------------------------------ */

enum { GX_EXITERS = 20, GX_DEPTH = 30 };

typedef struct gx_ctx {
    trail t;
    int after;      /* code after gort_goexit that ran: must stay 0 */
} gx_ctx;

static gx_ctx gx_ctxs[GX_EXITERS];
static gort_waitgroup gx_wg;
static _Atomic int gx_others_done;

typedef struct gx_cell {
    gx_ctx *c;
    int v;
} gx_cell;

static void gx_note(void *a)
{
    gx_cell *cell = a;
    /* Goexit is not a panic: recover returns NULL in its deferred calls. */
    ASSERT(gort_recover() == NULL);
    trail_add(&cell->c->t, cell->v);
    if (cell->v % 4 == 0)
        gort_yield();
}

static void gx_done(void *a)
{
    gx_ctx *c = a;
    trail_add(&c->t, -1);
    gort_waitgroup_done(&gx_wg);
}

__attribute__((noinline)) static void gx_level(gx_ctx *c, gx_cell *cells,
                                               int n)
{
    gort_scope {
        cells[n].c = c;
        cells[n].v = n;
        gort_defer(gx_note, &cells[n]);
        if (n == 0) {
            gort_yield();
            gort_goexit();
        }
        gx_level(c, cells, n - 1);
        c->after++;
    }
    c->after++;
}

static void gx_exiter(void *arg)
{
    gx_ctx *c = arg;
    gx_cell cells[GX_DEPTH + 1];
    gort_scope {
        gort_defer(gx_done, c);
        gx_level(c, cells, GX_DEPTH);
        c->after++;
    }
    c->after++;
}

static void gx_other(void *arg)
{
    (void)arg;
    gort_scope {
        gort_defer(wg_done, &gx_wg);
        for (int i = 0; i < 50; i++)
            gort_yield();
        atomic_fetch_add(&gx_others_done, 1);
    }
}

static void gx_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&gx_wg, 2 * GX_EXITERS);
    for (int i = 0; i < GX_EXITERS; i++) {
        ASSERT_GT(gort_go(gx_exiter, &gx_ctxs[i]), 0);
        ASSERT_GT(gort_go(gx_other, NULL), 0);
    }
    gort_waitgroup_wait(&gx_wg);
    while (gort_num_goroutine() > 1)
        gort_yield();
    ASSERT_EQ(gx_others_done, GX_EXITERS);
    for (int i = 0; i < GX_EXITERS; i++) {
        gx_ctx *c = &gx_ctxs[i];
        ASSERT_EQ(c->after, 0);
        ASSERT_EQ(c->t.n, GX_DEPTH + 2);
        for (int k = 0; k <= GX_DEPTH; k++)
            ASSERT_EQ(c->t.v[k], k);
        ASSERT_EQ(c->t.v[GX_DEPTH + 1], -1);
    }
}

TEST_IMPL(goexit_runs_defers)
{
    start(4, gx_main, NULL);
    return 0;
}

/* A panic raised by a deferred call that Goexit runs, and recovered by an
 * older record, does not stop Goexit (Go 1.14's rule): the remaining
 * records run and the goroutine ends; nothing after its scopes runs.  A
 * panic recovered inside the deferred call that raised it (by a scope of
 * its own, or by gort_try) just lets that call return. */
static gort_waitgroup gxr_wg;
static _Atomic int gxr_after;

static void panics_and_recovers_inside(void *a);
static void try_in_deferred(void *a);

static void gxr_fn(void *arg)
{
    (void)arg;
    tr.n = 0;
    gort_scope {
        gort_defer(wg_done, &gxr_wg);
        gort_defer(note, N(5));
        gort_defer(recoverer, N(4));
        gort_scope {
            gort_defer(note, N(3));
            gort_defer(panicker, "raised during Goexit");
            gort_defer(panics_and_recovers_inside, N(12));
            gort_defer(try_in_deferred, N(13));
            gort_defer(note, N(2));
            note(N(1));
            gort_goexit();
        }
        atomic_fetch_add(&gxr_after, 1);
    }
    atomic_fetch_add(&gxr_after, 1);
}

static void gxr_main(void *arg)
{
    (void)arg;
    rec_count = 0;
    gort_waitgroup_add(&gxr_wg, 1);
    ASSERT_GT(gort_go(gxr_fn, NULL), 0);
    gort_waitgroup_wait(&gxr_wg);
    while (gort_num_goroutine() > 1)
        gort_yield();
    ASSERT_EQ(gxr_after, 0);
    EXPECT_TRAIL(&tr, 1, 2, 13, 10, 11, 12, 3, 4, 5);
    ASSERT_EQ(rec_count, 2);
    ASSERT(strcmp(rec_msg, "raised during Goexit") == 0);
}

TEST_IMPL(goexit_recovered_panic_inside)
{
    start(2, gxr_main, NULL);
    return 0;
}

/* A deferred call run by a panic calls Goexit: the panic is dropped, the
 * remaining records run, the goroutine ends and the program goes on (as
 * in Go). */
static gort_waitgroup gxp_wg;
static _Atomic int gxp_after;

static void call_goexit(void *arg)
{
    (void)arg;
    gort_goexit();
}

static void gxp_fn(void *arg)
{
    (void)arg;
    tr.n = 0;
    gort_scope {
        gort_defer(wg_done, &gxp_wg);
        gort_defer(no_recover, N(2));
        gort_defer(call_goexit, NULL);
        gort_defer(note, N(1));
        gort_panic("abandoned by Goexit");
    }
    atomic_fetch_add(&gxp_after, 1);
}

static void gxp_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&gxp_wg, 1);
    ASSERT_GT(gort_go(gxp_fn, NULL), 0);
    gort_waitgroup_wait(&gxp_wg);
    while (gort_num_goroutine() > 1)
        gort_yield();
    ASSERT_EQ(gxp_after, 0);
    EXPECT_TRAIL(&tr, 1, 2);
}

TEST_IMPL(goexit_in_deferred_during_panic)
{
    start(2, gxp_main, NULL);
    return 0;
}

/* Goexit from the main goroutine: its records run, the other goroutines
 * run to their end, then the fatal error. */
static void say(void *msg)
{
    printf("%s\n", (const char *)msg);
}

static void gxm_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) {
        burn(10000);
        gort_yield();
    }
    printf("worker finished\n");
}

static void gxm_main(void *arg)
{
    (void)arg;
    gort_scope {
        gort_defer(say, "main's first record ran");
        gort_scope {
            gort_defer(say, "main's second record ran");
            ASSERT_GT(gort_go(gxm_worker, NULL), 0);
            gort_goexit();
        }
        printf("after the inner scope\n");
    }
    printf("after gort_goexit\n");
}

TEST_IMPL(goexit_main_deadlock)
{
    const char *out = run_crashing(
        gxm_main, 2,
        "fatal error: no goroutines (main called runtime.Goexit) - deadlock!");
    const char *second = strstr(out, "main's second record ran");
    const char *first = strstr(out, "main's first record ran");
    const char *fatal = strstr(out, "fatal error:");
    ASSERT(second != NULL && first != NULL && fatal != NULL);
    ASSERT(second < first && first < fatal);
    ASSERT_STR_CONTAINS(out, "worker finished");
    ASSERT(strstr(out, "after the inner scope") == NULL);
    ASSERT(strstr(out, "after gort_goexit") == NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* recover                                                                  */
/* ------------------------------------------------------------------------ */

static void recover_basic_main(void *arg)
{
    (void)arg;
    ASSERT(gort_recover() == NULL); /* not panicking */
    tr.n = 0;
    rec_count = 0;
    gort_scope {
        gort_defer(note, N(1));
        gort_defer(recoverer, N(2));
        gort_defer(note, N(3)); /* runs first, does not recover */
        note(N(0));
        gort_panic("boom %d", 7);
        note(N(99)); /* never */
    }
    note(N(4)); /* execution resumes right after the scope */
    EXPECT_TRAIL(&tr, 0, 3, 2, 1, 4);
    ASSERT_EQ(rec_count, 1);
    ASSERT(strcmp(rec_msg, "boom 7") == 0);
    ASSERT(rec_value == NULL);
    ASSERT_EQ(rec_goid, 1);
    ASSERT_EQ(gort_self(), 1);
    assert_not_panicking();
    ASSERT(gort__tls_scope_get() == NULL);
    ASSERT(gort_recover() == NULL);

    /* Again and again: nothing is left behind. */
    for (int i = 0; i < 10000; i++) {
        tr.n = 0;
        gort_scope {
            gort_defer(recoverer, N(i));
            gort_panic("round %d", i);
        }
        ASSERT_EQ(tr.n, 1);
        ASSERT_EQ(tr.v[0], i);
        assert_not_panicking();
    }
    ASSERT(strcmp(rec_msg, "round 9999") == 0);
}

TEST_IMPL(recover_basic)
{
    start(1, recover_basic_main, NULL);
    return 0;
}

/* Deferred: recovers twice; the second returns NULL. */
static void recover_twice(void *a)
{
    ASSERT(gort_recover() != NULL);
    ASSERT(gort_recover() == NULL);
    note(a);
}

/* Scopes several calls deep; the panic at the bottom. */
__attribute__((noinline)) static int panic_deep(int n)
{
    gort_scope {
        gort_defer(note, N(100 + n));
        if (n == 0)
            gort_panic_value(&tr, "deep %d", n);
        panic_deep(n - 1);
        note(N(-1)); /* never */
    }
    note(N(-2)); /* never */
    return n;
}

/* The recovering scope is in this function: execution resumes after it,
 * here, and the function returns normally to its caller. */
__attribute__((noinline)) static int recovering_middle(void)
{
    volatile int r = -1;
    gort_scope {
        gort_defer(note, N(1)); /* older: runs after the recovery */
        gort_defer(recover_twice, N(2));
        r = 0;
        panic_deep(3);
        r = 99; /* never */
    }
    note(N(3));
    return r;
}

static void recover_resume_main(void *arg)
{
    (void)arg;
    tr.n = 0;
    int got = recovering_middle();
    note(N(4));
    ASSERT_EQ(got, 0);
    EXPECT_TRAIL(&tr, 100, 101, 102, 103, 2, 1, 3, 4);
    assert_not_panicking();

    /* The recovering scope inside an outer scope of the same function:
     * execution resumes after the inner one, the outer one goes on. */
    tr.n = 0;
    rec_count = 0;
    gort_scope {
        gort_defer(note, N(6));
        gort_scope {
            gort_defer(recoverer, N(2));
            gort_scope {
                gort_defer(note, N(1));
                gort_panic_value(&tr, "value");
            }
            note(N(-1)); /* never */
        }
        note(N(3));
        gort_scope {
            gort_defer(note, N(5));
            note(N(4));
        }
    }
    EXPECT_TRAIL(&tr, 1, 2, 3, 4, 5, 6);
    ASSERT(rec_value == &tr);
    ASSERT(strcmp(rec_msg, "value") == 0);
    ASSERT(gort__tls_scope_get() == NULL);
}

TEST_IMPL(recover_resumes_after_scope)
{
    start(1, recover_resume_main, NULL);
    return 0;
}

/* recover returns NULL wherever no panic of this goroutine runs the
 * call: plain code, deferred calls run by a normal exit, after a
 * recovery, in another goroutine while this one panics. */
static gort_waitgroup rnp_wg;
static _Atomic int rnp_stage;

static void rnp_other(void *arg)
{
    (void)arg;
    while (atomic_load(&rnp_stage) == 0)
        gort_yield();
    ASSERT(gort_recover() == NULL); /* the panic is main's, not ours */
    atomic_store(&rnp_stage, 2);
    gort_waitgroup_done(&rnp_wg);
}

static void wait_other(void *arg)
{
    (void)arg;
    atomic_store(&rnp_stage, 1);
    while (atomic_load(&rnp_stage) != 2)
        gort_yield();
}

static void rnp_main(void *arg)
{
    (void)arg;
    tr.n = 0;
    ASSERT(gort_recover() == NULL);
    gort_scope {
        gort_defer(no_recover, N(1));
        ASSERT(gort_recover() == NULL);
    }
    EXPECT_TRAIL(&tr, 1);

    gort_waitgroup_add(&rnp_wg, 1);
    ASSERT_GT(gort_go(rnp_other, NULL), 0);
    tr.n = 0;
    gort_scope {
        gort_defer(recoverer, N(2));
        gort_defer(wait_other, NULL);
        gort_panic("main's panic");
    }
    gort_waitgroup_wait(&rnp_wg);
    EXPECT_TRAIL(&tr, 2);
    ASSERT(gort_recover() == NULL);
}

TEST_IMPL(recover_not_panicking)
{
    start(2, rnp_main, NULL);
    return 0;
}

/* A deferred call nested in the panic's deferred call, run by a nested
 * scope's normal exit, gets NULL; the outer deferred call can still
 * recover (Go's rule too). */
static void outer_deferred(void *a)
{
    gort_scope {
        gort_defer(no_recover, N(10));
        gort_scope {
            gort_defer(no_recover, N(11));
        }
    }
    note(N(12));
    recoverer(a);
}

/* gort's rule, wider than Go's: anywhere inside the panic's deferred
 * call, a helper it calls included (and a scope body), recover works. */
__attribute__((noinline)) static void recover_in_helper(void)
{
    const gort_panic_info *pi = gort_recover();
    ASSERT(pi != NULL);
    save_info(pi);
}

static void deferred_calls_helper(void *a)
{
    gort_scope {
        gort_defer(note, N(21));
        recover_in_helper();
    }
    note(a);
}

static void rnest_main(void *arg)
{
    (void)arg;
    tr.n = 0;
    rec_count = 0;
    gort_scope {
        gort_defer(note, N(1));
        gort_defer(outer_deferred, N(2));
        gort_panic("E");
    }
    EXPECT_TRAIL(&tr, 11, 10, 12, 2, 1);
    ASSERT_EQ(rec_count, 1);
    ASSERT(strcmp(rec_msg, "E") == 0);

    tr.n = 0;
    gort_scope {
        gort_defer(note, N(1));
        gort_defer(deferred_calls_helper, N(20));
        gort_panic("F");
    }
    EXPECT_TRAIL(&tr, 21, 20, 1);
    ASSERT_EQ(rec_count, 2);
    ASSERT(strcmp(rec_msg, "F") == 0);
    assert_not_panicking();
}

TEST_IMPL(recover_nested_deferred)
{
    start(1, rnest_main, NULL);
    return 0;
}

/* A deferred call run on a normal exit (here: return) panics; a record of
 * the same scope recovers.  Execution resumes right after the scope, so
 * the return in progress is abandoned (Go would return; see
 * docs/defer.md). */
__attribute__((noinline)) static int return_then_panic(void)
{
    gort_scope {
        gort_defer(recoverer, N(2));
        gort_defer(panicker, "on the way out");
        gort_defer(note, N(1));
        return 5;
    }
    note(N(3));
    return -1;
}

static void rret_main(void *arg)
{
    (void)arg;
    tr.n = 0;
    rec_count = 0;
    ASSERT_EQ(return_then_panic(), -1);
    EXPECT_TRAIL(&tr, 1, 2, 3);
    ASSERT(strcmp(rec_msg, "on the way out") == 0);
    assert_not_panicking();

    /* Recovered by an outer scope: the inner scope's remaining records
     * run first (as part of the panic), then the outer one's. */
    tr.n = 0;
    gort_scope {
        gort_defer(note, N(5));
        gort_defer(recoverer, N(4));
        gort_scope {
            gort_defer(note, N(3));
            gort_defer(panicker, "leaving the inner scope");
            gort_defer(note, N(2));
            note(N(1));
        }
        note(N(-1)); /* never */
    }
    EXPECT_TRAIL(&tr, 1, 2, 3, 4, 5);
    ASSERT(strcmp(rec_msg, "leaving the inner scope") == 0);
    assert_not_panicking();
    ASSERT(gort__tls_scope_get() == NULL);
}

TEST_IMPL(recover_panic_during_normal_exit)
{
    start(1, rret_main, NULL);
    return 0;
}

/* Locals changed inside the scope and read after a recovery keep their
 * values when volatile. */
static void quiet_recover(void *a)
{
    (void)a;
    ASSERT(gort_recover() != NULL);
}

__attribute__((noinline)) static void touch(volatile int *p, int v)
{
    *p = v;
}

static void volatile_main(void *arg)
{
    (void)arg;
    volatile int counter = 1;
    volatile int arr[4] = {0, 0, 0, 0};
    int *volatile ptr = NULL;
    static int target;
    int set_before = (int)gort_self() + 41; /* not changed in the scope */
    gort_scope {
        gort_defer(quiet_recover, NULL);
        for (int i = 0; i < 4; i++) {
            counter = counter * 3;
            arr[i] = counter;
        }
        touch(&counter, counter + 1);
        ptr = &target;
        gort_panic("x");
    }
    ASSERT_EQ(counter, 82);
    ASSERT_EQ(arr[0], 3);
    ASSERT_EQ(arr[3], 81);
    ASSERT(ptr == &target);
    ASSERT_EQ(set_before, 42);
}

TEST_IMPL(recover_volatile_locals)
{
    start(1, volatile_main, NULL);
    return 0;
}

/* The info recover returns stays valid while the scope's remaining
 * records run; the message gort_try gives stays valid until the next
 * gort_try. */
static const gort_panic_info *life_pi;

static void life_recover(void *a)
{
    (void)a;
    life_pi = gort_recover();
    ASSERT(life_pi != NULL);
}

static void life_check(void *a)
{
    ASSERT(strcmp(life_pi->msg, (const char *)a) == 0);
    gort_yield(); /* and across a yield */
    ASSERT(strcmp(life_pi->msg, (const char *)a) == 0);
}

static void life_try_fn(void *a)
{
    gort_panic("try message %d", (int)(intptr_t)a);
}

static void life_main(void *arg)
{
    (void)arg;
    for (int round = 0; round < 3; round++) {
        gort_scope {
            gort_defer(life_check, "first message");
            gort_defer(note, N(0));
            gort_defer(life_recover, NULL);
            gort_panic("first message");
        }
    }
    gort_panic_info info;
    ASSERT(!gort_try(life_try_fn, N(1), &info));
    gort_scope {
        gort_defer(note, N(0));
        for (int i = 0; i < 10; i++)
            gort_yield();
    }
    ASSERT(strcmp(info.msg, "try message 1") == 0);
    ASSERT(!gort_try(life_try_fn, N(2), &info));
    ASSERT(strcmp(info.msg, "try message 2") == 0);
}

TEST_IMPL(recover_info_lifetime)
{
    start(1, life_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Nested panics                                                            */
/* ------------------------------------------------------------------------ */

/* Deferred: a scope of its own, a record in it that recovers, then a
 * panic: recovered inside; the older panic goes on afterwards. */
static void panics_and_recovers_inside(void *a)
{
    gort_scope {
        gort_defer(recoverer, N(11));
        gort_defer(note, N(10));
        gort_panic("inner");
    }
    note(a); /* resumes here: the older panic is still running us */
}

static void panic_with_arg(void *a)
{
    gort_panic("%s", (const char *)a);
}

static void try_in_deferred(void *a)
{
    gort_panic_info info;
    ASSERT(!gort_try(panic_with_arg, "caught by try", &info));
    ASSERT(strcmp(info.msg, "caught by try") == 0);
    note(a);
}

static void nested_panic_main(void *arg)
{
    (void)arg;
    /* A panic in a deferred call replaces the running one; an older
     * record of the same scope recovers the newer panic, and the older
     * one is gone (aborted) too. */
    tr.n = 0;
    rec_count = 0;
    gort_scope {
        gort_defer(note, N(3));
        gort_defer(recoverer, N(2));
        gort_defer(panicker, "second");
        gort_defer(note, N(1));
        gort_panic("first");
    }
    note(N(4));
    EXPECT_TRAIL(&tr, 1, 2, 3, 4);
    ASSERT_EQ(rec_count, 1);
    ASSERT(strcmp(rec_msg, "second") == 0);
    assert_not_panicking();

    /* The same across functions: the newer panic is recovered by a
     * scope above the older panic's frame. */
    tr.n = 0;
    gort_scope {
        gort_defer(recoverer, N(3));
        gort_scope {
            gort_defer(note, N(2));
            gort_defer(panicker, "replacement");
            gort_panic("original");
        }
    }
    EXPECT_TRAIL(&tr, 2, 3);
    ASSERT(strcmp(rec_msg, "replacement") == 0);
    assert_not_panicking();

    /* A panic recovered inside the deferred call that raised it: the
     * older panic goes on and is recovered later. */
    tr.n = 0;
    rec_count = 0;
    gort_scope {
        gort_defer(recoverer, N(3));
        gort_defer(panics_and_recovers_inside, N(12));
        gort_defer(note, N(1));
        gort_panic("outer");
    }
    EXPECT_TRAIL(&tr, 1, 10, 11, 12, 3);
    ASSERT_EQ(rec_count, 2);
    ASSERT(strcmp(rec_msg, "outer") == 0);
    assert_not_panicking();

    /* gort_try inside a deferred call during a panic catches its own
     * panic only; the older one goes on. */
    tr.n = 0;
    gort_scope {
        gort_defer(recoverer, N(3));
        gort_defer(try_in_deferred, N(2));
        gort_scope {
            gort_defer(note, N(1));
            gort_panic("third");
        }
    }
    EXPECT_TRAIL(&tr, 1, 2, 3);
    ASSERT(strcmp(rec_msg, "third") == 0);
    assert_not_panicking();
}

TEST_IMPL(panic_in_deferred_call)
{
    start(1, nested_panic_main, NULL);
    return 0;
}

/* The chains, as Go 1.19 prints them (checked against go1.19 output). */
static void chain_repanic_deferred(void *a)
{
    (void)a;
    const gort_panic_info *pi = gort_recover();
    ASSERT(pi != NULL);
    gort_panic("Y after %s", pi->msg);
}

static void chain_repanic_main(void *arg)
{
    (void)arg;
    gort_scope {
        gort_defer(chain_repanic_deferred, NULL);
        gort_panic("X");
    }
}

TEST_IMPL(panic_chain_repanic)
{
    const char *out = run_crashing(chain_repanic_main, 1, NULL);
    assert_starts_with(out, "panic: X [recovered]\n"
                            "\tpanic: Y after X\n"
                            "\n"
                            "goroutine 1 [running]:\n");
    return 0;
}

static void chain_two_main(void *arg)
{
    (void)arg;
    gort_scope {
        gort_defer(panicker, "B");
        gort_panic("A");
    }
}

static void chain_three_main(void *arg)
{
    (void)arg;
    gort_scope {
        gort_defer(panicker, "C");
        gort_defer(panicker, "B");
        gort_panic("A");
    }
}

static void recover_then_panic_b(void *a)
{
    (void)a;
    ASSERT(gort_recover() != NULL);
    gort_panic("B");
}

static void chain_recovered_main(void *arg)
{
    (void)arg;
    gort_scope {
        gort_defer(panicker, "C");
        gort_defer(recover_then_panic_b, NULL);
        gort_panic("A");
    }
}

TEST_IMPL(panic_chain_nested)
{
    const char *out = run_crashing(chain_two_main, 1, NULL);
    assert_starts_with(out, "panic: A\n"
                            "\tpanic: B\n"
                            "\n"
                            "goroutine 1 [running]:\n");
    out = run_crashing(chain_three_main, 1, NULL);
    assert_starts_with(out, "panic: A\n"
                            "\tpanic: B\n"
                            "\tpanic: C\n"
                            "\n"
                            "goroutine 1 [running]:\n");
    out = run_crashing(chain_recovered_main, 1, NULL);
    assert_starts_with(out, "panic: A [recovered]\n"
                            "\tpanic: B\n"
                            "\tpanic: C\n"
                            "\n"
                            "goroutine 1 [running]:\n");
    return 0;
}

/* An unrecovered panic raised by a deferred call that Goexit runs: Goexit
 * is not printed. */
static void chain_goexit_main(void *arg)
{
    (void)arg;
    gort_scope {
        gort_defer(panicker, "during goexit");
        gort_goexit();
    }
}

TEST_IMPL(panic_chain_goexit)
{
    const char *out = run_crashing(chain_goexit_main, 1, NULL);
    assert_starts_with(out, "panic: during goexit\n"
                            "\n"
                            "goroutine 1 [running]:\n");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* gort_try                                                                 */
/* ------------------------------------------------------------------------ */

static void try_ok(void *a)
{
    *(int *)a = 1;
}

static int try_obj;
static void try_panic_value(void *a)
{
    gort_panic_value(a, "value %s %d", "v", 3);
}

static void try_panic_plain(void *a)
{
    (void)a;
    gort_scope {
        for (int i = 0; i < 20; i++)
            gort_defer(note, N(i));
        gort_panic("plain");
    }
}

static void try_long_message(void *a)
{
    (void)a;
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    gort_panic("%s", big);
}

static void try_inner(void *a)
{
    gort_panic_info info;
    ASSERT(!gort_try(try_panic_value, a, &info));
    ASSERT(info.value == a);
    note(N(1));
}

static void try_outer_then_panic(void *a)
{
    ASSERT(gort_try(try_inner, a, NULL));
    gort_panic("outer after inner");
}

/* The checks every kind of caller (goroutine, plain thread) runs. */
static void try_checks(int64_t goid)
{
    gort_panic_info info;
    int x = 0;
    memset(&info, 0x5a, sizeof info);
    ASSERT(gort_try(try_ok, &x, &info));
    ASSERT_EQ(x, 1);

    ASSERT(!gort_try(try_panic_value, &try_obj, &info));
    ASSERT(strcmp(info.msg, "value v 3") == 0);
    ASSERT(info.value == &try_obj);
    ASSERT_EQ(info.goid, goid);

    tr.n = 0;
    ASSERT(!gort_try(try_panic_plain, NULL, &info));
    ASSERT(strcmp(info.msg, "plain") == 0);
    ASSERT(info.value == NULL);
    ASSERT_EQ(tr.n, 20);
    for (int i = 0; i < 20; i++)
        ASSERT_EQ(tr.v[i], 19 - i);

    ASSERT(!gort_try(try_panic_plain, NULL, NULL)); /* out may be NULL */

    /* Messages are cut, not overflowed. */
    ASSERT(!gort_try(try_long_message, NULL, &info));
    ASSERT_GT(strlen(info.msg), 100);
    ASSERT_LT(strlen(info.msg), 3000);
    for (size_t i = 0; info.msg[i]; i++)
        ASSERT_EQ(info.msg[i], 'x');

    /* Nested: the inner try catches the inner panic, the outer the
     * outer one. */
    tr.n = 0;
    ASSERT(!gort_try(try_outer_then_panic, &try_obj, &info));
    ASSERT(strcmp(info.msg, "outer after inner") == 0);
    EXPECT_TRAIL(&tr, 1);

    /* Inside a scope, with records around it. */
    tr.n = 0;
    gort_scope {
        gort_defer(note, N(2));
        ASSERT(!gort_try(try_panic_value, NULL, &info));
        note(N(1));
    }
    EXPECT_TRAIL(&tr, 1, 2);
    assert_not_panicking();
    ASSERT(gort__tls_scope_get() == NULL);
}

static void try_main(void *arg)
{
    (void)arg;
    try_checks(1);
}

TEST_IMPL(try_basic)
{
    start(1, try_main, NULL);
    return 0;
}

/* gort_try in a goroutine that calls gort_goexit: Goexit is not a panic;
 * the goroutine ends inside fn, gort_try never returns. */
static gort_waitgroup tgx_wg;
static _Atomic int tgx_after;

static void tgx_fn(void *a)
{
    (void)a;
    gort_scope {
        gort_defer(note, N(1));
        gort_goexit();
    }
}

static void tgx_g(void *arg)
{
    (void)arg;
    gort_scope {
        gort_defer(wg_done, &tgx_wg);
        gort_defer(note, N(2));
        gort_try(tgx_fn, NULL, NULL);
        atomic_fetch_add(&tgx_after, 1);
    }
    atomic_fetch_add(&tgx_after, 1);
}

static void tgx_main(void *arg)
{
    (void)arg;
    tr.n = 0;
    gort_waitgroup_add(&tgx_wg, 1);
    ASSERT_GT(gort_go(tgx_g, NULL), 0);
    gort_waitgroup_wait(&tgx_wg);
    while (gort_num_goroutine() > 1)
        gort_yield();
    ASSERT_EQ(tgx_after, 0);
    EXPECT_TRAIL(&tr, 1, 2);
}

TEST_IMPL(try_goexit)
{
    start(2, tgx_main, NULL);
    return 0;
}

/* gort_try, scopes and recover on a plain thread (not a goroutine),
 * before the runtime ever started and while it runs. */
static void *plain_thread(void *arg)
{
    (void)arg;
    ASSERT_EQ(gort_self(), 0);
    ASSERT(gort_recover() == NULL);
    try_checks(0);

    tr.n = 0;
    rec_count = 0;
    gort_scope {
        gort_defer(note, N(2));
        gort_defer(recoverer, N(1));
        gort_panic("on a thread");
    }
    EXPECT_TRAIL(&tr, 1, 2);
    ASSERT_EQ(rec_goid, 0);
    ASSERT(strcmp(rec_msg, "on a thread") == 0);
    return NULL;
}

static void plain_main(void *arg)
{
    (void)arg;
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, plain_thread, NULL), 0);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    try_checks(1); /* and the goroutine's own state is untouched */
}

TEST_IMPL(try_plain_thread)
{
    plain_thread(NULL); /* this thread, before any gort_run */
    start(2, plain_main, NULL);
    plain_thread(NULL); /* and after */
    return 0;
}

/* The runtime's panics are recoverable, with Go's words. */
static void negative_wg(void *a)
{
    (void)a;
    gort_waitgroup wg = {0};
    gort_waitgroup_add(&wg, 1);
    gort_waitgroup_done(&wg);
    gort_waitgroup_done(&wg);
    printf("survived a negative WaitGroup counter\n");
}

static void runtime_panic_main(void *arg)
{
    (void)arg;
    gort_panic_info info;
    ASSERT(!gort_try(negative_wg, NULL, &info));
    ASSERT(strcmp(info.msg, "sync: negative WaitGroup counter") == 0);
    ASSERT_EQ(info.goid, 1);
    /* Recovered directly too. */
    tr.n = 0;
    gort_scope {
        gort_defer(recoverer, N(1));
        gort_waitgroup_add(&(gort_waitgroup){0}, -1);
    }
    EXPECT_TRAIL(&tr, 1);
    ASSERT(strcmp(rec_msg, "sync: negative WaitGroup counter") == 0);
}

TEST_IMPL(try_runtime_panic)
{
    start(2, runtime_panic_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Records across yields, threads and many goroutines                       */
/* ------------------------------------------------------------------------ */

enum { MIG_G = 16, MIG_DEFERS = 40, MIG_YIELDS = 50 };

typedef struct mig_ctx mig_ctx;
typedef struct mig_cell {
    mig_ctx *c;
    int v;
    pid_t tid;      /* the thread gort_defer ran on */
} mig_cell;

struct mig_ctx {
    trail t;
    mig_cell cells[MIG_DEFERS + 8];
    int ncells;
    bool moved;         /* the goroutine ran on more than one thread */
    bool ran_elsewhere; /* a record ran on another thread than deferred */
    pid_t tid0;
};

static mig_ctx mig_ctxs[MIG_G];
static gort_waitgroup mig_wg;

static void mig_note(void *a)
{
    mig_cell *cell = a;
    mig_ctx *c = cell->c;
    if (gettid_() != cell->tid)
        c->ran_elsewhere = true;
    trail_add(&c->t, cell->v);
    /* Yield inside the deferred call too. */
    for (int i = 0; i < 3; i++)
        gort_yield();
}

static void mig_pause(mig_ctx *c)
{
    for (int i = 0; i < MIG_YIELDS; i++) {
        burn(200);
        gort_yield();
        if (gettid_() != c->tid0)
            c->moved = true;
    }
}

static void mig_defer(mig_ctx *c, int v)
{
    mig_cell *cell = &c->cells[c->ncells++];
    cell->c = c;
    cell->v = v;
    cell->tid = gettid_();
    gort_defer(mig_note, cell); /* lands in the caller's scope */
}

__attribute__((noinline)) static void mig_inner(mig_ctx *c)
{
    gort_scope {
        for (int i = 0; i < MIG_DEFERS / 2; i++) {
            mig_defer(c, 1000 + i);
            mig_pause(c);
        }
    }
    mig_pause(c);
}

static void mig_fn(void *arg)
{
    mig_ctx *c = arg;
    c->tid0 = gettid_();
    gort_scope {
        gort_defer(wg_done, &mig_wg);
        for (int i = 0; i < MIG_DEFERS / 2; i++) {
            mig_defer(c, i);
            mig_pause(c);
        }
        mig_inner(c);
        mig_pause(c);
    }
}

/* Whether goroutines move between threads is the scheduler's choice: a
 * round in which none did (once under TSan in CI, its other Ms started
 * too late to steal) checked the order of the records but not the
 * migration, so the round is run again, up to MIG_ROUNDS times; every
 * round's records are checked, and the test fails if no round migrated. */
enum { MIG_ROUNDS = 5 };

static void mig_main(void *arg)
{
    (void)arg;
    ASSERT_EQ(gort_maxprocs(0), 4);
    int moved = 0, elsewhere = 0, round;
    for (round = 1; round <= MIG_ROUNDS; round++) {
        memset(mig_ctxs, 0, sizeof mig_ctxs);
        gort_waitgroup_add(&mig_wg, MIG_G);
        for (int i = 0; i < MIG_G; i++)
            ASSERT_GT(gort_go(mig_fn, &mig_ctxs[i]), 0);
        gort_waitgroup_wait(&mig_wg);
        moved = elsewhere = 0;
        for (int g = 0; g < MIG_G; g++) {
            mig_ctx *c = &mig_ctxs[g];
            ASSERT_EQ(c->t.n, MIG_DEFERS);
            for (int i = 0; i < MIG_DEFERS / 2; i++)
                ASSERT_EQ(c->t.v[i], 1000 + MIG_DEFERS / 2 - 1 - i);
            for (int i = 0; i < MIG_DEFERS / 2; i++)
                ASSERT_EQ(c->t.v[MIG_DEFERS / 2 + i], MIG_DEFERS / 2 - 1 - i);
            moved += c->moved;
            elsewhere += c->ran_elsewhere;
        }
        printf("round %d: %d of %d goroutines changed threads; %d ran a "
               "record on another thread than deferred it\n",
               round, moved, MIG_G, elsewhere);
        if (moved > 0 && elsewhere > 0)
            break;
    }
    ASSERT_GT(moved, 0);
    ASSERT_GT(elsewhere, 0);
}

TEST_IMPL(defer_migration)
{
    start(4, mig_main, NULL);
    return 0;
}

/* A thousand goroutines defer, yield, panic and recover at once; each
 * checks its own trail. */
enum { CONC_G = 1000, CONC_MAXK = 40 };

typedef struct conc_ctx conc_ctx;
typedef struct conc_cell {
    conc_ctx *c;
    int v;
} conc_cell;

struct conc_ctx {
    int id;
    int k;              /* records in the outer scope */
    bool panics;
    int n;
    int v[CONC_MAXK + 16];
    conc_cell cells[CONC_MAXK + 16];
    int ncells;
    int after;          /* reached the code after the scope */
};

static conc_ctx *conc;
static gort_waitgroup conc_wg;

static void conc_note(void *a)
{
    conc_cell *cell = a;
    conc_ctx *c = cell->c;
    ASSERT_LT(c->n, CONC_MAXK + 16);
    c->v[c->n++] = cell->v;
    if (cell->v % 3 == 0)
        gort_yield();
}

static void conc_recover(void *a)
{
    conc_ctx *c = a;
    const gort_panic_info *pi = gort_recover();
    ASSERT(pi != NULL);
    char want[64];
    snprintf(want, sizeof want, "goroutine %d", c->id);
    ASSERT(strcmp(pi->msg, want) == 0);
    ASSERT(pi->value == c);
    ASSERT_EQ(pi->goid, gort_self());
    c->v[c->n++] = -1;
}

static void conc_defer(conc_ctx *c, int v)
{
    conc_cell *cell = &c->cells[c->ncells++];
    cell->c = c;
    cell->v = v;
    gort_defer(conc_note, cell);
}

__attribute__((noinline)) static void conc_body(conc_ctx *c)
{
    gort_scope {
        if (c->panics)
            gort_defer(conc_recover, c);
        for (int i = 0; i < c->k; i++) {
            conc_defer(c, i);
            if (i % 4 == 0)
                gort_yield();
        }
        gort_scope {
            conc_defer(c, 100);
            conc_defer(c, 101);
            gort_yield();
            conc_defer(c, 102);
        }
        if (c->panics) {
            gort_scope {
                conc_defer(c, 200);
                gort_yield();
                conc_defer(c, 201);
                gort_panic_value(c, "goroutine %d", c->id);
            }
        }
        gort_yield();
    }
    c->after = 1;
}

static void conc_fn(void *arg)
{
    conc_ctx *c = arg;
    conc_body(c);
    assert_not_panicking();
    ASSERT(gort__tls_scope_get() == NULL);
    gort_waitgroup_done(&conc_wg);
}

static void conc_main(void *arg)
{
    int procs = (int)(intptr_t)arg;
    ASSERT_EQ(gort_maxprocs(0), procs);
    conc = calloc(CONC_G, sizeof *conc);
    ASSERT(conc != NULL);
    gort_waitgroup_add(&conc_wg, CONC_G);
    for (int i = 0; i < CONC_G; i++) {
        conc_ctx *c = &conc[i];
        c->id = i;
        c->k = 1 + (i * 7) % CONC_MAXK;
        c->panics = i % 3 == 0;
        ASSERT_GT(gort_go(conc_fn, c), 0);
    }
    gort_waitgroup_wait(&conc_wg);
    for (int i = 0; i < CONC_G; i++) {
        conc_ctx *c = &conc[i];
        int want[CONC_MAXK + 16], n = 0;
        want[n++] = 102;
        want[n++] = 101;
        want[n++] = 100;
        if (c->panics) {
            want[n++] = 201;
            want[n++] = 200;
        }
        for (int j = c->k - 1; j >= 0; j--)
            want[n++] = j;
        if (c->panics)
            want[n++] = -1;
        trail t = {.n = c->n};
        memcpy(t.v, c->v, sizeof c->v);
        expect_trail_(&t, want, n, __LINE__);
        ASSERT_EQ(c->after, 1);
    }
    free(conc);
}

static void conc_run(int procs)
{
    start(procs, conc_main, N(procs));
}

TEST_IMPL(defer_concurrent_1p) { conc_run(1); return 0; }
TEST_IMPL(defer_concurrent_2p) { conc_run(2); return 0; }
TEST_IMPL(defer_concurrent_4p) { conc_run(4); return 0; }
TEST_IMPL(defer_concurrent_8p) { conc_run(8); return 0; }

/* A goroutine's records do not run when gort_run returns and abandons
 * it, whether it is blocked or runnable. */
static _Atomic int ab_ran, ab_started;
static gort_waitgroup ab_never;

static void ab_set(void *a)
{
    (void)a;
    atomic_fetch_add(&ab_ran, 1);
}

static void ab_blocked(void *arg)
{
    (void)arg;
    gort_scope {
        gort_defer(ab_set, NULL);
        atomic_fetch_add(&ab_started, 1);
        gort_waitgroup_wait(&ab_never);
    }
}

static void ab_spinning(void *arg)
{
    (void)arg;
    gort_scope {
        gort_defer(ab_set, NULL);
        atomic_fetch_add(&ab_started, 1);
        for (;;)
            gort_yield();
    }
}

static void ab_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&ab_never, 1);
    ASSERT_GT(gort_go(ab_blocked, NULL), 0);
    ASSERT_GT(gort_go(ab_spinning, NULL), 0);
    while (atomic_load(&ab_started) < 2)
        gort_yield();
    for (int i = 0; i < 10; i++)
        gort_yield();
}

static void ab_main2(void *arg)
{
    (void)arg;
    gort_yield();
}

TEST_IMPL(defer_abandoned)
{
    start(2, ab_main, NULL);
    usleep(100 * 1000);
    ASSERT_EQ(ab_ran, 0);
    start(2, ab_main2, NULL); /* a new generation: still not run */
    usleep(50 * 1000);
    ASSERT_EQ(ab_ran, 0);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The crash report                                                         */
/* ------------------------------------------------------------------------ */

__attribute__((noinline)) static void defer_test_panics_in_main(int k)
{
    gort_panic("boom %d", k);
}

static void report_main(void *arg)
{
    (void)arg;
    defer_test_panics_in_main(42);
}

TEST_IMPL(panic_report_main)
{
    const char *out = run_crashing(report_main, 2, NULL);
    assert_starts_with(out, "panic: boom 42\n\ngoroutine 1 [running]:\n");
    if (have_libdw())
        ASSERT_STR_CONTAINS(out, "defer_test_panics_in_main");
    else
        printf("no libdw: function names not checked\n");
    return 0;
}

__attribute__((noinline)) static void defer_test_panics_in_goroutine(void)
{
    gort_panic("boom in goroutine %lld", (long long)gort_self());
}

static void report_g(void *arg)
{
    (void)arg;
    gort_yield();
    defer_test_panics_in_goroutine();
}

static void report_g_main(void *arg)
{
    (void)arg;
    static gort_waitgroup never;
    gort_waitgroup_add(&never, 1);
    for (int i = 0; i < 5; i++)
        ASSERT_GT(gort_go(ab_main2, NULL), 0);
    ASSERT_GT(gort_go(report_g, NULL), 0);
    gort_waitgroup_wait(&never);
}

TEST_IMPL(panic_report_goroutine)
{
    const char *out = run_crashing(report_g_main, 2, NULL);
    long long id = 0;
    ASSERT_EQ(sscanf(out, "panic: boom in goroutine %lld", &id), 1);
    ASSERT_GT(id, 1);
    char want[128];
    snprintf(want, sizeof want,
             "panic: boom in goroutine %lld\n\ngoroutine %lld [running]:\n",
             id, id);
    assert_starts_with(out, want);
    if (have_libdw()) {
        ASSERT_STR_CONTAINS(out, "defer_test_panics_in_goroutine");
        ASSERT_STR_CONTAINS(out, "report_g");
    }
    return 0;
}

/* Unrecovered, the panic runs every pending record first (they may
 * print), then reports. */
static void report_defers_main(void *arg)
{
    (void)arg;
    gort_scope {
        gort_defer(say, "record 1");
        gort_scope {
            gort_defer(say, "record 2");
            defer_test_panics_in_main(7);
        }
    }
}

TEST_IMPL(panic_report_runs_defers_first)
{
    const char *out = run_crashing(report_defers_main, 1, NULL);
    assert_starts_with(out, "record 2\nrecord 1\npanic: boom 7\n\n"
                            "goroutine 1 [running]:\n");
    return 0;
}

/* An unrecovered panic on a plain thread kills the process too. */
__attribute__((noinline)) static void *defer_test_panics_on_thread(void *a)
{
    (void)a;
    gort_panic("on a plain thread");
}

static void report_thread_main(void *arg)
{
    (void)arg;
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, defer_test_panics_on_thread, NULL), 0);
    pthread_join(th, NULL);
}

TEST_IMPL(panic_report_thread)
{
    const char *out = run_crashing(report_thread_main, 2, NULL);
    assert_starts_with(out, "panic: on a plain thread\n\n");
    if (have_libdw())
        ASSERT_STR_CONTAINS(out, "defer_test_panics_on_thread");
    return 0;
}
