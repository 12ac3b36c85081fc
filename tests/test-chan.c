/*
 * test-chan.c — channels and select, modelled on Go's own channel tests
 * (test/chan/sieve1.go, fifo.go, nonblock.go, doubleselect.go, select*.go
 * and runtime/chan_test.go): the prime sieve, FIFO order through a buffer
 * and through a chain of 1000 goroutines, non-blocking operations, two
 * senders selecting over four channels with every value delivered exactly
 * once, select fairness, closed-channel rules, zero-size and large
 * elements, plain pthreads on either side, panics and deadlocks.
 *
 * Concurrency tests run on 1, 2, 4 and 8 Ps.  Panics and fatal errors run
 * in a grandchild (test_run_child) and are checked by their output and
 * exit status 2.  Nothing asserts on time; the statistical fairness test
 * has bounds wide enough that a correct select fails it with probability
 * far below 1e-9.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime.h"
#include "task.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

#define start test_start

#define go_or_die test_go

#define mkchan test_chan_make

#define expect_child(fn, arg, code, needle, forbidden) \
    ((void)test_expect_child(fn, arg, code, needle, forbidden, 30))

/* Lets others run, goroutines and threads alike. */
static void pause_a_little(void)
{
    gort_yield();
    sched_yield();
}

/* Yields until the goroutine count is at least n (so that goroutines
 * that are about to park have at least started). */
static void wait_goroutines(int64_t n)
{
    while (gort_num_goroutine() < n)
        pause_a_little();
}

/* Stress tests are generated for 1, 2, 4 and 8 Ps from one function. */
#define PROCS_TESTS(name)                                                  \
    TEST_IMPL(name##_1p) { start(1, name##_main, NULL); return 0; }        \
    TEST_IMPL(name##_2p) { start(2, name##_main, NULL); return 0; }        \
    TEST_IMPL(name##_4p) { start(4, name##_main, NULL); return 0; }        \
    TEST_IMPL(name##_8p) { start(8, name##_main, NULL); return 0; }

/* ------------------------------------------------------------------------ */
/* make, len, cap, free                                                     */
/* ------------------------------------------------------------------------ */

TEST_IMPL(chan_make_errors)
{
    errno = 0;
    ASSERT(gort_chan_make(64 * 1024 + 1, 0) == NULL);
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT(gort_chan_make(8, SIZE_MAX / 4) == NULL);
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT(gort_chan_make(SIZE_MAX, 2) == NULL);
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT(gort_chan_make(1024, 1024 * 1024 + 1) == NULL);    /* > 1 GiB */
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    /* 128 MiB of 1-byte elements: 2 GiB of 16-byte slots (stamp, and the
     * element rounded up to 8). */
    ASSERT(gort_chan_make(1, (size_t)1 << 27) == NULL);
    ASSERT_EQ(errno, EINVAL);

    /* The limits themselves are fine. */
    gort_chan *c = gort_chan_make(64 * 1024, 0);
    ASSERT(c != NULL);
    gort_chan_free(c);
    c = gort_chan_make(0, SIZE_MAX);    /* no buffer memory at all */
    ASSERT(c != NULL);
    ASSERT_EQ(gort_chan_cap(c) == SIZE_MAX, 1);
    gort_chan_free(c);
    gort_chan_free(NULL);
    return 0;
}

TEST_IMPL(chan_len_cap)
{
    ASSERT_EQ(gort_chan_len(NULL), 0);
    ASSERT_EQ(gort_chan_cap(NULL), 0);
    gort_chan *c = mkchan(sizeof(int), 3);
    ASSERT_EQ(gort_chan_cap(c), 3);
    ASSERT_EQ(gort_chan_len(c), 0);
    for (int i = 0; i < 3; i++) {
        gort_chan_send(c, &i);      /* buffered: works without the runtime */
        ASSERT_EQ(gort_chan_len(c), i + 1);
    }
    int v;
    ASSERT(gort_chan_recv(c, &v));
    ASSERT_EQ(v, 0);
    ASSERT_EQ(gort_chan_len(c), 2);
    gort_chan_close(c);
    ASSERT_EQ(gort_chan_len(c), 2);
    ASSERT_EQ(gort_chan_cap(c), 3);
    gort_chan_free(c);          /* values still buffered are dropped */
    gort_chan *u = mkchan(8, 0);
    ASSERT_EQ(gort_chan_cap(u), 0);
    ASSERT_EQ(gort_chan_len(u), 0);
    gort_chan_free(u);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* FIFO (Go's test/chan/fifo.go, with a chain of 1000)                      */
/* ------------------------------------------------------------------------ */

enum { FIFO_CHAIN = 1000, FIFO_BUF = 1000 };

typedef struct {
    gort_chan *ch, *in, *out;
    int val;
} chain_link;

static void chain(void *arg)
{
    chain_link *l = arg;
    gort_chan_recv(l->in, NULL);
    int v = -1;
    ASSERT(gort_chan_recv(l->ch, &v));
    ASSERT_EQ(v, l->val);
    gort_chan_send(l->out, NULL);
}

typedef struct {
    gort_chan *c;
    int n;
} prod_arg;

static void fifo_producer(void *arg)
{
    prod_arg *p = arg;
    for (int i = 0; i < p->n; i++)
        gort_chan_send(p->c, &i);
    gort_chan_close(p->c);
}

static void chan_fifo_main(void *arg)
{
    (void)arg;
    /* Asynchronous: fill the buffer, drain it in order. */
    gort_chan *a = mkchan(sizeof(int), FIFO_BUF);
    for (int i = 0; i < FIFO_BUF; i++)
        gort_chan_send(a, &i);
    for (int i = 0; i < FIFO_BUF; i++) {
        int v;
        ASSERT(gort_chan_recv(a, &v));
        ASSERT_EQ(v, i);
    }

    /* Through the buffer from another goroutine, with wrap-around and
     * both sides blocking now and then. */
    gort_chan *b = mkchan(sizeof(int), 7);
    prod_arg p = {b, 100000};
    go_or_die(fifo_producer, &p);
    int v, next = 0;
    while (gort_chan_recv(b, &v)) {
        ASSERT_EQ(v, next);
        next++;
        if (next % 1000 == 0)
            gort_yield();
    }
    ASSERT_EQ(next, 100000);
    ASSERT_EQ(v, 0);

    /* Synchronous: a daisy chain of goroutines reads the values in the
     * order the chain wakes them. */
    static chain_link links[FIFO_CHAIN];
    gort_chan *ch = mkchan(sizeof(int), 0);
    gort_chan *in = mkchan(0, 0);
    gort_chan *first = in;
    for (int i = 0; i < FIFO_CHAIN; i++) {
        gort_chan *out = mkchan(0, 0);
        links[i] = (chain_link){ch, in, out, i};
        go_or_die(chain, &links[i]);
        in = out;
    }
    gort_chan_send(first, NULL);
    for (int i = 0; i < FIFO_CHAIN; i++)
        gort_chan_send(ch, &i);
    gort_chan_recv(in, NULL);
    for (int i = 0; i < FIFO_CHAIN; i++)
        gort_chan_free(links[i].in);
    gort_chan_free(in);
    gort_chan_free(ch);
    gort_chan_free(a);
    gort_chan_free(b);
}
PROCS_TESTS(chan_fifo)

/* ------------------------------------------------------------------------ */
/* Prime sieve (Go's test/chan/sieve1.go)                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    gort_chan *in, *out;
    int prime;
} sieve_filter;

static void sieve_generate(void *arg)
{
    gort_chan *ch = arg;
    for (int i = 2;; i++)
        gort_chan_send(ch, &i);
}

static void sieve_filter_fn(void *arg)
{
    sieve_filter *f = arg;
    for (;;) {
        int i;
        gort_chan_recv(f->in, &i);
        if (i % f->prime != 0)
            gort_chan_send(f->out, &i);
    }
}

static void chan_sieve_main(void *arg)
{
    (void)arg;
    static const int want[] = {
        2,   3,   5,   7,   11,  13,  17,  19,  23,  29,  31,  37,  41,
        43,  47,  53,  59,  61,  67,  71,  73,  79,  83,  89,  97,  101,
        103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
        173, 179, 181, 191, 193, 197, 199, 211, 223, 227, 229, 233, 239,
        241, 251, 257, 263, 269, 271, 277, 281, 283, 293, 307, 311, 313,
        317, 331, 337, 347, 349, 353, 359, 367, 373, 379, 383, 389, 397,
        401, 409, 419, 421, 431, 433, 439, 443, 449, 457, 461, 463, 467,
        479, 487, 491, 499, 503, 509, 521, 523, 541, 547, 557, 563, 569,
        571, 577, 587, 593, 599, 601, 607, 613, 617, 619, 631, 641, 643,
        647, 653, 659, 661, 673, 677, 683, 691, 701, 709, 719, 727, 733,
        739, 743, 751, 757, 761, 769, 773, 787, 797, 809, 811, 821, 823,
        827, 829, 839, 853, 857, 859, 863, 877, 881, 883, 887, 907, 911,
        919, 929, 937, 941, 947, 953, 967, 971, 977, 983, 991, 997};
    enum { NPRIMES = sizeof want / sizeof want[0] };
    static sieve_filter filters[NPRIMES];
    gort_chan *ch = mkchan(sizeof(int), 0);
    go_or_die(sieve_generate, ch);
    for (int k = 0; k < NPRIMES; k++) {
        int prime;
        ASSERT(gort_chan_recv(ch, &prime));
        ASSERT_EQ(prime, want[k]);
        /* Alternate unbuffered and buffered links. */
        gort_chan *ch1 = mkchan(sizeof(int), k % 2 ? 0 : 3);
        filters[k] = (sieve_filter){ch, ch1, prime};
        go_or_die(sieve_filter_fn, &filters[k]);
        ch = ch1;
    }
    /* The goroutines stay blocked: gort_run returns anyway, as in Go. */
}
PROCS_TESTS(chan_sieve)

/* ------------------------------------------------------------------------ */
/* Non-blocking operations (Go's test/chan/nonblock.go)                     */
/* ------------------------------------------------------------------------ */

static void nb_recv_one(void *arg)
{
    gort_chan *c = arg;
    int64_t v;
    ASSERT(gort_chan_recv(c, &v));
    ASSERT_EQ(v, 42);
}

static void nb_send_one(void *arg)
{
    gort_chan *c = arg;
    int64_t v = 43;
    gort_chan_send(c, &v);
}

static void nonblock_main(void *arg)
{
    (void)arg;
    int64_t v = 7;
    /* NULL channels: never ready. */
    ASSERT(!gort_chan_trysend(NULL, &v));
    ASSERT_EQ(gort_chan_tryrecv(NULL, &v), 0);
    ASSERT_EQ(v, 7);

    /* Unbuffered, nobody there: both would block. */
    gort_chan *u = mkchan(sizeof v, 0);
    ASSERT(!gort_chan_trysend(u, &v));
    ASSERT_EQ(gort_chan_tryrecv(u, &v), 0);
    ASSERT_EQ(v, 7);

    /* A parked receiver takes a trysend; keep trying until it is parked. */
    int64_t g0 = gort_num_goroutine();
    go_or_die(nb_recv_one, u);
    v = 42;
    while (!gort_chan_trysend(u, &v))
        pause_a_little();
    /* A parked sender satisfies a tryrecv. */
    go_or_die(nb_send_one, u);
    int r;
    while ((r = gort_chan_tryrecv(u, &v)) == 0)
        pause_a_little();
    ASSERT_EQ(r, 1);
    ASSERT_EQ(v, 43);
    while (gort_num_goroutine() > g0)
        pause_a_little();

    /* Buffered: fills, then refuses; drains, then would block. */
    gort_chan *b = mkchan(sizeof v, 4);
    for (int64_t i = 0; i < 4; i++)
        ASSERT(gort_chan_trysend(b, &i));
    v = 99;
    ASSERT(!gort_chan_trysend(b, &v));
    ASSERT_EQ(gort_chan_len(b), 4);
    for (int64_t i = 0; i < 4; i++) {
        ASSERT_EQ(gort_chan_tryrecv(b, &v), 1);
        ASSERT_EQ(v, i);
    }
    ASSERT_EQ(gort_chan_tryrecv(b, &v), 0);

    /* Closed with a value left: the value, then -1 with a zeroed elem. */
    v = 5;
    ASSERT(gort_chan_trysend(b, &v));
    gort_chan_close(b);
    ASSERT_EQ(gort_chan_tryrecv(b, &v), 1);
    ASSERT_EQ(v, 5);
    v = 5;
    ASSERT_EQ(gort_chan_tryrecv(b, &v), -1);
    ASSERT_EQ(v, 0);
    ASSERT_EQ(gort_chan_tryrecv(b, NULL), -1);
    gort_chan_close(u);
    v = 5;
    ASSERT_EQ(gort_chan_tryrecv(u, &v), -1);
    ASSERT_EQ(v, 0);

    /* select with GORT_NONBLOCK: -1 and EAGAIN when nothing is ready. */
    gort_chan *e = mkchan(sizeof v, 0);
    gort_case cs[2] = {{e, GORT_RECV, &v, false}, {e, GORT_SEND, &v, false}};
    errno = 0;
    ASSERT_EQ(gort_select(cs, 2, GORT_NONBLOCK), -1);
    ASSERT_EQ(errno, EAGAIN);
    errno = 0;
    ASSERT_EQ(gort_select(NULL, 0, GORT_NONBLOCK), -1);
    ASSERT_EQ(errno, EAGAIN);
    gort_case nils[2] = {{NULL, GORT_RECV, &v, false}, {NULL, GORT_SEND, &v, false}};
    ASSERT_EQ(gort_select(nils, 2, GORT_NONBLOCK), -1);
    gort_chan_free(u);
    gort_chan_free(b);
    gort_chan_free(e);
}

TEST_IMPL(chan_nonblock)
{
    start(2, nonblock_main, NULL);
    return 0;
}

/* Go's TestNonblockRecvRace: a receive from a channel that holds a value
 * and is being closed must never report "would block". */
static _Atomic int nbrace_failed;

static void nbrace_try(void *arg)
{
    gort_chan *c = arg;
    if (gort_chan_tryrecv(c, NULL) == 0)
        nbrace_failed = 1;
}

static void nbrace_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5000; i++) {
        gort_chan *c = mkchan(sizeof(int), 1);
        gort_chan_send(c, &i);
        go_or_die(nbrace_try, c);
        gort_chan_close(c);
        gort_chan_recv(c, NULL);
        ASSERT_EQ(nbrace_failed, 0);
        /* c leaks: the goroutine may still be looking at it. */
    }
    while (gort_num_goroutine() > 1)
        pause_a_little();
    ASSERT_EQ(nbrace_failed, 0);
}

TEST_IMPL(chan_nonblock_recv_race)
{
    start(4, nbrace_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Closed channels                                                          */
/* ------------------------------------------------------------------------ */

typedef struct {
    gort_chan *c;
    gort_waitgroup wg;
    _Atomic int woke_false;
} closer_ctx;

static void close_receiver(void *arg)
{
    closer_ctx *x = arg;
    int64_t v = 77;
    bool ok = gort_chan_recv(x->c, &v);
    ASSERT(!ok);
    ASSERT_EQ(v, 0);
    x->woke_false++;
    gort_waitgroup_done(&x->wg);
}

static void close_selector(void *arg)
{
    closer_ctx *x = arg;
    int64_t v = 77, w = 77;
    gort_chan *never = mkchan(sizeof v, 0);
    gort_case cs[3] = {
        {never, GORT_RECV, &w, false},
        {x->c, GORT_RECV, &v, true},
        {NULL, GORT_SEND, &w, false},
    };
    int i = gort_select(cs, 3, 0);
    ASSERT_EQ(i, 1);
    ASSERT(!cs[1].ok);
    ASSERT_EQ(v, 0);
    ASSERT_EQ(w, 77);
    gort_chan_free(never);
    x->woke_false++;
    gort_waitgroup_done(&x->wg);
}

static void close_main(void *arg)
{
    (void)arg;
    /* Buffered values survive the close, then false with zeroes. */
    gort_chan *b = mkchan(sizeof(int64_t), 5);
    for (int64_t i = 1; i <= 3; i++)
        gort_chan_send(b, &i);
    gort_chan_close(b);
    int64_t v;
    for (int64_t i = 1; i <= 3; i++) {
        ASSERT(gort_chan_recv(b, &v));
        ASSERT_EQ(v, i);
    }
    for (int k = 0; k < 3; k++) {
        v = 9;
        ASSERT(!gort_chan_recv(b, &v));
        ASSERT_EQ(v, 0);
    }
    ASSERT(!gort_chan_recv(b, NULL));
    gort_chan_free(b);

    /* Close wakes every parked receiver and select. */
    static closer_ctx x;
    x.c = mkchan(sizeof(int64_t), 0);
    enum { NR = 50 };
    gort_waitgroup_add(&x.wg, 2 * NR);
    for (int i = 0; i < NR; i++) {
        go_or_die(close_receiver, &x);
        go_or_die(close_selector, &x);
    }
    wait_goroutines(1 + 2 * NR);
    for (int i = 0; i < 10; i++)
        pause_a_little();
    gort_chan_close(x.c);
    gort_waitgroup_wait(&x.wg);
    ASSERT_EQ(x.woke_false, 2 * NR);
    /* And a receive after that does not block either. */
    ASSERT(!gort_chan_recv(x.c, &v));
    gort_chan_free(x.c);
}

TEST_IMPL(chan_close_semantics)
{
    start(4, close_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Panics                                                                   */
/* ------------------------------------------------------------------------ */

static void panic_send_closed_main(void *arg)
{
    (void)arg;
    gort_chan *c = mkchan(sizeof(int), 1);
    gort_chan_close(c);
    int v = 1;
    gort_chan_send(c, &v);
    printf("send returned\n");
}

static void panic_send_closed_child(void *arg)
{
    start(2, panic_send_closed_main, arg);
}

TEST_IMPL(chan_panic_send_closed)
{
    expect_child(panic_send_closed_child, NULL, 2,
                 "panic: send on closed channel", "send returned");
    return 0;
}

static void trysend_closed_main(void *arg)
{
    (void)arg;
    gort_chan *c = mkchan(sizeof(int), 0);
    gort_chan_close(c);
    gort_chan_trysend(c, NULL);
    printf("trysend returned\n");
}

static void trysend_closed_child(void *arg)
{
    start(1, trysend_closed_main, arg);
}

TEST_IMPL(chan_panic_trysend_closed)
{
    expect_child(trysend_closed_child, NULL, 2,
                 "panic: send on closed channel", "trysend returned");
    return 0;
}

/* A sender parked on a full channel panics when the channel is closed. */
static void parked_sender(void *arg)
{
    gort_chan *c = arg;
    int v = 2;
    gort_chan_send(c, &v);
    printf("parked send returned\n");
}

static void panic_parked_sender_main(void *arg)
{
    (void)arg;
    gort_chan *c = mkchan(sizeof(int), 0);
    go_or_die(parked_sender, c);
    wait_goroutines(2);
    for (int i = 0; i < 20; i++)
        pause_a_little();
    gort_chan_close(c);
    /* The sender panics when it runs; give it the chance. */
    for (;;)
        pause_a_little();
}

static void panic_parked_sender_child(void *arg)
{
    start(2, panic_parked_sender_main, arg);
}

TEST_IMPL(chan_panic_send_closed_parked)
{
    expect_child(panic_parked_sender_child, NULL, 2,
                 "panic: send on closed channel", "parked send returned");
    return 0;
}

static void panic_close_closed_main(void *arg)
{
    (void)arg;
    gort_chan *c = mkchan(sizeof(int), 0);
    gort_chan_close(c);
    gort_chan_close(c);
    printf("close returned\n");
}

static void panic_close_closed_child(void *arg)
{
    start(1, panic_close_closed_main, arg);
}

TEST_IMPL(chan_panic_close_closed)
{
    expect_child(panic_close_closed_child, NULL, 2,
                 "panic: close of closed channel", "close returned");
    return 0;
}

static void panic_close_nil_main(void *arg)
{
    (void)arg;
    gort_chan_close(NULL);
    printf("close returned\n");
}

static void panic_close_nil_child(void *arg)
{
    start(1, panic_close_nil_main, arg);
}

TEST_IMPL(chan_panic_close_nil)
{
    expect_child(panic_close_nil_child, NULL, 2,
                 "panic: close of nil channel", "close returned");
    return 0;
}

static void panic_select_send_closed_main(void *arg)
{
    (void)arg;
    gort_chan *c = mkchan(sizeof(int), 3);
    gort_chan *d = mkchan(sizeof(int), 0);
    gort_chan_close(c);
    int v = 1;
    gort_case cs[2] = {{d, GORT_RECV, &v, false}, {c, GORT_SEND, &v, false}};
    gort_select(cs, 2, 0);
    printf("select returned\n");
}

static void panic_select_send_closed_child(void *arg)
{
    start(2, panic_select_send_closed_main, arg);
}

TEST_IMPL(chan_panic_select_send_closed)
{
    expect_child(panic_select_send_closed_child, NULL, 2,
                 "panic: send on closed channel", "select returned");
    return 0;
}

/* A select parked with a send case panics when that channel is closed. */
static void parked_select_sender(void *arg)
{
    gort_chan *c = arg;
    gort_chan *never = mkchan(sizeof(int), 0);
    int v = 3;
    /* Many cases: the heap-allocated path frees before it panics. */
    gort_case cs[20];
    for (int i = 0; i < 20; i++)
        cs[i] = (gort_case){never, GORT_RECV, &v, false};
    cs[13] = (gort_case){c, GORT_SEND, &v, false};
    gort_select(cs, 20, 0);
    printf("parked select returned\n");
}

static void panic_parked_select_main(void *arg)
{
    (void)arg;
    gort_chan *c = mkchan(sizeof(int), 0);
    go_or_die(parked_select_sender, c);
    wait_goroutines(2);
    for (int i = 0; i < 20; i++)
        pause_a_little();
    gort_chan_close(c);
    for (;;)
        pause_a_little();
}

static void panic_parked_select_child(void *arg)
{
    start(2, panic_parked_select_main, arg);
}

TEST_IMPL(chan_panic_select_send_closed_parked)
{
    expect_child(panic_parked_select_child, NULL, 2,
                 "panic: send on closed channel", "parked select returned");
    return 0;
}

static void free_busy_recv(void *arg)
{
    gort_chan_recv(arg, NULL);
}

static void panic_free_busy_main(void *arg)
{
    (void)arg;
    gort_chan *c = mkchan(sizeof(int), 0);
    go_or_die(free_busy_recv, c);
    /* Wait until the receiver is parked (it is queued on the channel). */
    while (atomic_load(&c->recvq.first) == NULL)
        pause_a_little();
    gort_chan_free(c);
    printf("free returned\n");
}

static void panic_free_busy_child(void *arg)
{
    start(2, panic_free_busy_main, arg);
}

TEST_IMPL(chan_panic_free_busy)
{
    expect_child(panic_free_busy_child, NULL, 2,
                 "panic: gort_chan_free of channel with blocked goroutines",
                 "free returned");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Deadlocks                                                                */
/* ------------------------------------------------------------------------ */

static void dl_nil_recv_main(void *arg)
{
    (void)arg;
    gort_chan_recv(NULL, NULL);
    printf("recv returned\n");
}

static void dl_nil_recv_child(void *arg)
{
    start(2, dl_nil_recv_main, arg);
    printf("gort_run returned\n");
}

TEST_IMPL(chan_deadlock_nil_recv)
{
    expect_child(dl_nil_recv_child, NULL, 2,
                 "fatal error: all goroutines are asleep - deadlock!",
                 "returned");
    expect_child(dl_nil_recv_child, NULL, 2,
                 "goroutine 1 [chan receive (nil chan)]", NULL);
    return 0;
}

static void dl_nil_send_main(void *arg)
{
    (void)arg;
    int v = 0;
    gort_chan_send(NULL, &v);
    printf("send returned\n");
}

static void dl_nil_send_child(void *arg)
{
    start(2, dl_nil_send_main, arg);
    printf("gort_run returned\n");
}

TEST_IMPL(chan_deadlock_nil_send)
{
    expect_child(dl_nil_send_child, NULL, 2,
                 "goroutine 1 [chan send (nil chan)]", "returned");
    return 0;
}

/* Main waits on a channel nobody will ever send on, while other
 * goroutines are blocked too. */
static void dl_recv_other(void *arg)
{
    gort_chan_send(arg, NULL);
}

static void dl_recv_main(void *arg)
{
    (void)arg;
    gort_chan *c = mkchan(sizeof(int), 0);
    gort_chan *d = mkchan(0, 0);
    go_or_die(dl_recv_other, d);    /* blocks: nobody receives on d */
    int v;
    gort_chan_recv(c, &v);
    printf("recv returned\n");
}

static void dl_recv_child(void *arg)
{
    start(2, dl_recv_main, arg);
    printf("gort_run returned\n");
}

TEST_IMPL(chan_deadlock_recv)
{
    expect_child(dl_recv_child, NULL, 2,
                 "fatal error: all goroutines are asleep - deadlock!",
                 "returned");
    expect_child(dl_recv_child, NULL, 2, "[chan send]", NULL);
    expect_child(dl_recv_child, NULL, 2, "goroutine 1 [chan receive]", NULL);
    return 0;
}

static void dl_select_empty_main(void *arg)
{
    (void)arg;
    gort_select(NULL, 0, 0);
    printf("select returned\n");
}

static void dl_select_empty_child(void *arg)
{
    start(2, dl_select_empty_main, arg);
    printf("gort_run returned\n");
}

TEST_IMPL(chan_deadlock_select_empty)
{
    expect_child(dl_select_empty_child, NULL, 2,
                 "fatal error: all goroutines are asleep - deadlock!",
                 "returned");
    expect_child(dl_select_empty_child, NULL, 2,
                 "goroutine 1 [select (no cases)]", NULL);
    return 0;
}

static void dl_select_main(void *arg)
{
    (void)arg;
    gort_chan *c = mkchan(sizeof(int), 0);
    int v;
    gort_case cs[3] = {
        {NULL, GORT_RECV, &v, false},
        {c, GORT_RECV, &v, false},
        {c, GORT_SEND, &v, false},  /* our own send cannot meet our recv */
    };
    gort_select(cs, 3, 0);
    printf("select returned\n");
}

static void dl_select_child(void *arg)
{
    start(2, dl_select_main, arg);
    printf("gort_run returned\n");
}

TEST_IMPL(chan_deadlock_select)
{
    expect_child(dl_select_child, NULL, 2,
                 "fatal error: all goroutines are asleep - deadlock!",
                 "returned");
    expect_child(dl_select_child, NULL, 2, "goroutine 1 [select]", NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* select                                                                   */
/* ------------------------------------------------------------------------ */

static void sel_sender_later(void *arg)
{
    gort_chan *c = arg;
    for (int i = 0; i < 10; i++)
        pause_a_little();
    int64_t v = 1234;
    gort_chan_send(c, &v);
}

static void sel_receiver_later(void *arg)
{
    gort_chan *c = arg;
    for (int i = 0; i < 10; i++)
        pause_a_little();
    int64_t v = 0;
    ASSERT(gort_chan_recv(c, &v));
    ASSERT_EQ(v, 4321);
}

static void select_basic_main(void *arg)
{
    (void)arg;
    int64_t v = 0, w = 0;
    gort_chan *a = mkchan(sizeof v, 0);
    gort_chan *b = mkchan(sizeof v, 0);
    gort_chan *buf = mkchan(sizeof v, 1);

    /* Argument checks. */
    gort_case bad[2] = {{a, GORT_RECV, &v, false}, {b, 3, &v, false}};
    errno = 0;
    ASSERT_EQ(gort_select(bad, 2, 0), -1);
    ASSERT_EQ(errno, EINVAL);
    bad[1].op = 0;
    bad[1].chan = NULL;     /* a bad op is bad even on a NULL channel */
    errno = 0;
    ASSERT_EQ(gort_select(bad, 2, GORT_NONBLOCK), -1);
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT_EQ(gort_select(bad, -1, 0), -1);
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT_EQ(gort_select(bad, 65537, 0), -1);
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT_EQ(gort_select(NULL, 1, 0), -1);
    ASSERT_EQ(errno, EINVAL);
    errno = 0;
    ASSERT_EQ(gort_select(bad, 1, 2), -1);
    ASSERT_EQ(errno, EINVAL);

    /* Blocking receive, woken by a later sender on one of two. */
    go_or_die(sel_sender_later, b);
    gort_case r2[3] = {
        {a, GORT_RECV, &v, false},
        {NULL, GORT_RECV, &w, false},
        {b, GORT_RECV, &w, false},
    };
    ASSERT_EQ(gort_select(r2, 3, 0), 2);
    ASSERT(r2[2].ok);
    ASSERT_EQ(w, 1234);

    /* Blocking send, taken by a later receiver. */
    go_or_die(sel_receiver_later, a);
    v = 4321;
    gort_case s2[2] = {{b, GORT_SEND, &v, false}, {a, GORT_SEND, &v, false}};
    ASSERT_EQ(gort_select(s2, 2, 0), 1);
    ASSERT(s2[1].ok);

    /* Buffered: the send case is ready, the receive is not; then the
     * other way round. */
    v = 55;
    gort_case sb[2] = {{buf, GORT_RECV, &w, false}, {buf, GORT_SEND, &v, false}};
    ASSERT_EQ(gort_select(sb, 2, 0), 1);
    w = 0;
    ASSERT_EQ(gort_select(sb, 2, 0), 0);
    ASSERT(sb[0].ok);
    ASSERT_EQ(w, 55);

    /* A receive into NULL discards; a send of NULL sends zero. */
    gort_case z[1] = {{buf, GORT_SEND, NULL, false}};
    ASSERT_EQ(gort_select(z, 1, 0), 0);
    w = 8;
    ASSERT(gort_chan_recv(buf, &w));
    ASSERT_EQ(w, 0);
    v = 9;
    gort_chan_send(buf, &v);
    gort_case d[1] = {{buf, GORT_RECV, NULL, false}};
    ASSERT_EQ(gort_select(d, 1, 0), 0);
    ASSERT(d[0].ok);
    ASSERT_EQ(gort_chan_len(buf), 0);

    /* Closed channel: always ready, ok = false, elem zeroed. */
    gort_chan_close(a);
    w = 3;
    gort_case c1[2] = {{b, GORT_RECV, &v, false}, {a, GORT_RECV, &w, true}};
    ASSERT_EQ(gort_select(c1, 2, 0), 1);
    ASSERT(!c1[1].ok);
    ASSERT_EQ(w, 0);

    while (gort_num_goroutine() > 1)
        pause_a_little();
    gort_chan_free(a);
    gort_chan_free(b);
    gort_chan_free(buf);
}

TEST_IMPL(chan_select_basic)
{
    start(2, select_basic_main, NULL);
    return 0;
}

/* Uniform choice among ready cases.  Four cases always ready (closed
 * channels and a full buffer), two of them on the same channel: each must
 * get about a quarter.  With N = 40000 a case's count has standard
 * deviation ~87 around 10000; the bounds are +-1500 (17 sigma). */
static void fairness_main(void *arg)
{
    (void)arg;
    enum { N = 40000 };
    gort_chan *closed1 = mkchan(sizeof(int), 0);
    gort_chan *closed2 = mkchan(0, 0);
    gort_chan *full = mkchan(sizeof(int), 1);
    gort_chan_close(closed1);
    gort_chan_close(closed2);
    int v = 1;
    gort_chan_send(full, &v);
    int counts[6] = {0};
    gort_case cs[6] = {
        {closed1, GORT_RECV, &v, false},
        {NULL, GORT_RECV, &v, false},
        {closed2, GORT_RECV, NULL, false},
        {full, GORT_RECV, &v, false},
        {closed2, GORT_RECV, NULL, false},
        {mkchan(4, 0), GORT_RECV, &v, false},   /* never ready */
    };
    for (int i = 0; i < N; i++) {
        int k = gort_select(cs, 6, 0);
        ASSERT(k >= 0 && k < 6);
        counts[k]++;
        if (k == 3) {
            ASSERT(cs[3].ok);
            ASSERT_EQ(v, 1);
            gort_chan_send(full, &v);     /* ready again */
        }
    }
    ASSERT_EQ(counts[1], 0);
    ASSERT_EQ(counts[5], 0);
    for (int k = 0; k < 5; k++) {
        if (k == 1)
            continue;
        if (counts[k] < N / 4 - 1500 || counts[k] > N / 4 + 1500)
            TEST_FAIL_("case %d chosen %d times of %d (counts %d %d %d %d)",
                       k, counts[k], N, counts[0], counts[2], counts[3],
                       counts[4]);
    }
    gort_chan_free(cs[5].chan);
}

TEST_IMPL(chan_select_fairness)
{
    start(1, fairness_main, NULL);
    return 0;
}

/* Go's TestSelfSelect: two goroutines select send and receive on the same
 * channel; nobody may receive its own value (unbuffered), nothing may
 * deadlock. */
typedef struct {
    gort_chan *c;
    int p;
    bool unbuffered;
    gort_waitgroup *wg;
} selfsel_arg;

static void selfsel(void *arg)
{
    selfsel_arg *a = arg;
    for (int i = 0; i < 2000; i++) {
        int send = a->p, got = -1;
        gort_case cs[2];
        if (a->p == 0 || i % 2 == 0) {
            cs[0] = (gort_case){a->c, GORT_SEND, &send, false};
            cs[1] = (gort_case){a->c, GORT_RECV, &got, false};
        } else {
            cs[0] = (gort_case){a->c, GORT_RECV, &got, false};
            cs[1] = (gort_case){a->c, GORT_SEND, &send, false};
        }
        int k = gort_select(cs, 2, 0);
        ASSERT(k == 0 || k == 1);
        if (cs[k].op == GORT_RECV && a->unbuffered)
            ASSERT_NE(got, a->p);
    }
    gort_waitgroup_done(a->wg);
}

static void chan_selfselect_main(void *arg)
{
    (void)arg;
    size_t caps[2] = {0, 10};
    for (int k = 0; k < 2; k++) {
        gort_waitgroup wg = {0};
        gort_chan *c = mkchan(sizeof(int), caps[k]);
        selfsel_arg a[2] = {{c, 0, caps[k] == 0, &wg}, {c, 1, caps[k] == 0, &wg}};
        gort_waitgroup_add(&wg, 2);
        go_or_die(selfsel, &a[0]);
        go_or_die(selfsel, &a[1]);
        gort_waitgroup_wait(&wg);
        /* Both finished; what is left buffered does not matter. */
    }
}
PROCS_TESTS(chan_selfselect)

/* Go's test/chan/doubleselect.go: two senders each send 0..N-1 through a
 * select over the same four channels; four muxes forward to one
 * receiver, which must see every (sender, value) exactly once. */
enum { DS_N = 20000, DS_SENDERS = 2, DS_CHANS = 4 };

typedef struct {
    gort_chan *c[DS_CHANS];
    gort_chan *cmux;
    gort_chan *done;
    int id;
} ds_ctx;

static ds_ctx ds_senders[DS_SENDERS];
static gort_chan *ds_chans[DS_CHANS];

static void ds_sender(void *arg)
{
    ds_ctx *x = arg;
    for (int i = 0; i < DS_N; i++) {
        int v = x->id * DS_N + i;
        gort_case cs[DS_CHANS];
        for (int k = 0; k < DS_CHANS; k++)
            cs[k] = (gort_case){x->c[k], GORT_SEND, &v, false};
        int k = gort_select(cs, DS_CHANS, 0);
        ASSERT(k >= 0 && k < DS_CHANS);
    }
    gort_chan_send(x->done, NULL);
}

typedef struct {
    gort_chan *in, *out, *done;
} mux_arg;

static void ds_mux(void *arg)
{
    mux_arg *m = arg;
    int v;
    while (gort_chan_recv(m->in, &v))
        gort_chan_send(m->out, &v);
    gort_chan_send(m->done, NULL);
}

static void chan_doubleselect_main(void *arg)
{
    (void)arg;
    static unsigned char seen[DS_SENDERS * DS_N];
    memset(seen, 0, sizeof seen);
    gort_chan *cmux = mkchan(sizeof(int), 0);
    gort_chan *sdone = mkchan(0, 0);
    gort_chan *mdone = mkchan(0, DS_CHANS);
    for (int k = 0; k < DS_CHANS; k++)
        ds_chans[k] = mkchan(sizeof(int), 0);
    static mux_arg muxes[DS_CHANS];
    for (int k = 0; k < DS_CHANS; k++) {
        muxes[k] = (mux_arg){ds_chans[k], cmux, mdone};
        go_or_die(ds_mux, &muxes[k]);
    }
    for (int s = 0; s < DS_SENDERS; s++) {
        ds_senders[s].id = s;
        ds_senders[s].done = sdone;
        /* Each sender names the channels in its own order. */
        for (int k = 0; k < DS_CHANS; k++)
            ds_senders[s].c[k] = ds_chans[s == 0 ? k : DS_CHANS - 1 - k];
        go_or_die(ds_sender, &ds_senders[s]);
    }
    /* Receive everything; learn when the senders are done by select. */
    int finished = 0, got = 0;
    while (finished < DS_SENDERS) {
        int v;
        gort_case cs[2] = {{cmux, GORT_RECV, &v, false},
                           {sdone, GORT_RECV, NULL, false}};
        int k = gort_select(cs, 2, 0);
        if (k == 1) {
            finished++;
            continue;
        }
        ASSERT(cs[0].ok);
        ASSERT(v >= 0 && v < DS_SENDERS * DS_N);
        ASSERT_EQ(seen[v], 0);
        seen[v] = 1;
        got++;
    }
    /* Values still in the muxes' hands. */
    for (int k = 0; k < DS_CHANS; k++)
        gort_chan_close(ds_chans[k]);
    int muxdone = 0;
    while (muxdone < DS_CHANS) {
        int v;
        gort_case cs[2] = {{cmux, GORT_RECV, &v, false},
                           {mdone, GORT_RECV, NULL, false}};
        int k = gort_select(cs, 2, 0);
        if (k == 1) {
            muxdone++;
            continue;
        }
        ASSERT_EQ(seen[v], 0);
        seen[v] = 1;
        got++;
    }
    ASSERT_EQ(got, DS_SENDERS * DS_N);
}
PROCS_TESTS(chan_doubleselect)

/* Selects over many channels (more than fit on the stack, so the orders
 * and sudogs are malloc'd and the locks sorted by heap sort): every
 * channel in both directions, a fifth of them a third time.  Peers do
 * plain sends and receives on them; all unbuffered, so every value main
 * receives is a peer's and every value it sends reaches a peer (a select
 * cannot meet itself). */
enum { MANY_CH = 50, MANY = 2 * MANY_CH + MANY_CH / 5, MANY_ROUNDS = 3000,
       MANY_PEERS = 4 };
static gort_chan *many_chans[MANY_CH];

static void many_peer(void *arg)
{
    intptr_t id = (intptr_t)arg;
    for (int i = 0; i < MANY_ROUNDS; i++) {
        /* Peers send on the first half and receive on the second, so
         * they never meet each other, only main. */
        int j = (int)((id * 7 + i) % (MANY_CH / 2));
        int v = (int)id;
        if (i % 2 == 1)
            j += MANY_CH / 2;
        if (i % 2 == 0) {
            gort_chan_send(many_chans[j], &v);
        } else {
            ASSERT(gort_chan_recv(many_chans[j], &v));
            ASSERT_EQ(v, 1000 + MANY_CH + j);   /* main's send case for j */
        }
    }
}

static void select_many_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < MANY_CH; i++)
        many_chans[i] = mkchan(sizeof(int), 0);
    for (intptr_t p = 0; p < MANY_PEERS; p++)
        go_or_die(many_peer, (void *)p);
    const int want = MANY_PEERS * MANY_ROUNDS / 2;
    int sends = 0, recvs = 0;
    int vals[MANY];
    gort_case cs[MANY];
    while (sends < want || recvs < want) {
        for (int k = 0; k < MANY; k++) {
            int j = k < MANY_CH ? k : k < 2 * MANY_CH ? k - MANY_CH : k - 2 * MANY_CH;
            bool is_send = k >= MANY_CH && k < 2 * MANY_CH;
            bool on = is_send ? sends < want : recvs < want;
            cs[k] = (gort_case){on ? many_chans[j] : NULL,
                                is_send ? GORT_SEND : GORT_RECV, &vals[k], false};
            vals[k] = 1000 + k;
        }
        int k = gort_select(cs, MANY, 0);
        ASSERT(k >= 0 && k < MANY);
        ASSERT(cs[k].chan != NULL);
        ASSERT(cs[k].ok);
        if (cs[k].op == GORT_RECV) {
            ASSERT(vals[k] >= 0 && vals[k] < MANY_PEERS);
            recvs++;
        } else {
            sends++;
        }
    }
    ASSERT_EQ(sends, want);
    ASSERT_EQ(recvs, want);
    while (gort_num_goroutine() > 1)
        pause_a_little();
    for (int i = 0; i < MANY_CH; i++)
        gort_chan_free(many_chans[i]);
}

TEST_IMPL(chan_select_many_1p)
{
    start(1, select_many_main, NULL);
    return 0;
}

TEST_IMPL(chan_select_many_4p)
{
    start(4, select_many_main, NULL);
    return 0;
}

/* Go's TestSelectStress in spirit: four channels (two buffered), one
 * plain sender per channel and one sender selecting over all four; two
 * plain receivers (channels 0 and 1) and two receivers selecting over
 * all four until each is closed.  Every value arrives exactly once. */
enum { SS_N = 10000, SS_CH = 4 };
static gort_chan *ss_c[SS_CH];
static _Atomic int64_t ss_sum, ss_count;
static gort_waitgroup ss_senders, ss_receivers;

static void ss_plain_sender(void *arg)
{
    intptr_t k = (intptr_t)arg;
    for (int i = 1; i <= SS_N; i++) {
        int64_t v = i;
        gort_chan_send(ss_c[k], &v);
    }
    gort_waitgroup_done(&ss_senders);
}

static void ss_select_sender(void *arg)
{
    (void)arg;
    for (int i = 1; i <= SS_N * SS_CH; i++) {
        int64_t v = i;
        gort_case cs[SS_CH];
        for (int k = 0; k < SS_CH; k++)
            cs[k] = (gort_case){ss_c[k], GORT_SEND, &v, false};
        ASSERT(gort_select(cs, SS_CH, 0) >= 0);
    }
    gort_waitgroup_done(&ss_senders);
}

static void ss_plain_receiver(void *arg)
{
    intptr_t k = (intptr_t)arg;
    int64_t v, sum = 0, count = 0;
    while (gort_chan_recv(ss_c[k], &v)) {
        sum += v;
        count++;
    }
    ss_sum += sum;
    ss_count += count;
    gort_waitgroup_done(&ss_receivers);
}

static void ss_select_receiver(void *arg)
{
    (void)arg;
    gort_chan *mine[SS_CH];
    memcpy(mine, ss_c, sizeof mine);
    int open = SS_CH;
    int64_t sum = 0, count = 0;
    while (open > 0) {
        int64_t v[SS_CH];
        gort_case cs[SS_CH];
        for (int k = 0; k < SS_CH; k++)
            cs[k] = (gort_case){mine[k], GORT_RECV, &v[k], false};
        int k = gort_select(cs, SS_CH, 0);
        ASSERT(k >= 0);
        if (!cs[k].ok) {
            mine[k] = NULL;     /* closed: stop selecting on it */
            open--;
            continue;
        }
        sum += v[k];
        count++;
    }
    ss_sum += sum;
    ss_count += count;
    gort_waitgroup_done(&ss_receivers);
}

static void chan_select_stress_main(void *arg)
{
    (void)arg;
    for (int k = 0; k < SS_CH; k++)
        ss_c[k] = mkchan(sizeof(int64_t), k % 2 ? 5 : 0);
    gort_waitgroup_add(&ss_receivers, 4);
    go_or_die(ss_plain_receiver, (void *)0);
    go_or_die(ss_plain_receiver, (void *)(intptr_t)1);
    go_or_die(ss_select_receiver, NULL);
    go_or_die(ss_select_receiver, NULL);
    gort_waitgroup_add(&ss_senders, SS_CH + 1);
    for (intptr_t k = 0; k < SS_CH; k++)
        go_or_die(ss_plain_sender, (void *)k);
    go_or_die(ss_select_sender, NULL);
    gort_waitgroup_wait(&ss_senders);
    for (int k = 0; k < SS_CH; k++)
        gort_chan_close(ss_c[k]);
    gort_waitgroup_wait(&ss_receivers);
    int64_t per = (int64_t)SS_N * (SS_N + 1) / 2;
    int64_t all = (int64_t)SS_N * SS_CH;
    ASSERT_EQ(ss_count, 2 * all);
    ASSERT_EQ(ss_sum, SS_CH * per + all * (all + 1) / 2);
    for (int k = 0; k < SS_CH; k++)
        gort_chan_free(ss_c[k]);
}
PROCS_TESTS(chan_select_stress)

/* ------------------------------------------------------------------------ */
/* Element sizes                                                            */
/* ------------------------------------------------------------------------ */

static void zs_sender(void *arg)
{
    gort_chan *c = arg;
    for (int i = 0; i < 1000; i++)
        gort_chan_send(c, NULL);
    gort_chan_close(c);
}

static void zero_size_main(void *arg)
{
    (void)arg;
    gort_chan *b = mkchan(0, 5);
    for (int i = 0; i < 5; i++)
        ASSERT(gort_chan_trysend(b, NULL));
    ASSERT(!gort_chan_trysend(b, NULL));
    ASSERT_EQ(gort_chan_len(b), 5);
    char dummy = 'x';
    ASSERT(gort_chan_recv(b, &dummy));      /* nothing is written */
    ASSERT_EQ(dummy, 'x');
    ASSERT_EQ(gort_chan_len(b), 4);
    gort_chan_close(b);
    for (int i = 0; i < 4; i++)
        ASSERT(gort_chan_recv(b, NULL));
    ASSERT(!gort_chan_recv(b, NULL));
    gort_chan_free(b);

    gort_chan *u = mkchan(0, 0);
    go_or_die(zs_sender, u);
    int n = 0;
    while (gort_chan_recv(u, NULL))
        n++;
    ASSERT_EQ(n, 1000);
    gort_chan_free(u);
}

TEST_IMPL(chan_zero_size)
{
    start(2, zero_size_main, NULL);
    return 0;
}

enum { BIG = 64 * 1024, MID = 1000 };

static void big_sender(void *arg)
{
    gort_chan *c = arg;
    size_t sz = gort_chan_cap(c) == 0 ? BIG : MID;
    unsigned char *buf = malloc(sz);
    ASSERT(buf != NULL);
    for (int k = 0; k < 50; k++) {
        for (size_t i = 0; i < sz; i++)
            buf[i] = (unsigned char)(i * 31 + (size_t)k);
        gort_chan_send(c, buf);
    }
    free(buf);
    gort_chan_close(c);
}

static void large_elem_main(void *arg)
{
    (void)arg;
    /* 64 KiB through an unbuffered channel (direct copies between the
     * two stacks and heaps), 1000 bytes through a small buffer. */
    gort_chan *cs[2] = {mkchan(BIG, 0), mkchan(MID, 3)};
    for (int w = 0; w < 2; w++) {
        size_t sz = w == 0 ? BIG : MID;
        go_or_die(big_sender, cs[w]);
        unsigned char *buf = malloc(sz);
        ASSERT(buf != NULL);
        int k = 0;
        while (gort_chan_recv(cs[w], buf)) {
            for (size_t i = 0; i < sz; i++)
                if (buf[i] != (unsigned char)(i * 31 + (size_t)k))
                    TEST_FAIL_("elem %d byte %zu: %u", k, i, buf[i]);
            k++;
        }
        ASSERT_EQ(k, 50);
        free(buf);
        gort_chan_free(cs[w]);
    }
}

TEST_IMPL(chan_large_elem)
{
    start(2, large_elem_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Many producers and consumers                                             */
/* ------------------------------------------------------------------------ */

enum { MP_PRODUCERS = 8, MP_CONSUMERS = 8, MP_N = 20000 };

typedef struct {
    gort_chan *c;
    gort_waitgroup pwg, cwg;
    _Atomic int64_t sum, count;
} mpmc_ctx;

static void mp_producer(void *arg)
{
    mpmc_ctx *x = arg;
    for (int64_t i = 1; i <= MP_N; i++)
        gort_chan_send(x->c, &i);
    gort_waitgroup_done(&x->pwg);
}

static void mp_consumer(void *arg)
{
    mpmc_ctx *x = arg;
    int64_t v, sum = 0, count = 0;
    while (gort_chan_recv(x->c, &v)) {
        sum += v;
        count++;
    }
    ASSERT_EQ(v, 0);
    x->sum += sum;
    x->count += count;
    gort_waitgroup_done(&x->cwg);
}

static void chan_mpmc_main(void *arg)
{
    (void)arg;
    size_t caps[3] = {0, 1, 64};
    for (int k = 0; k < 3; k++) {
        static mpmc_ctx x;
        memset(&x, 0, sizeof x);
        x.c = mkchan(sizeof(int64_t), caps[k]);
        gort_waitgroup_add(&x.pwg, MP_PRODUCERS);
        gort_waitgroup_add(&x.cwg, MP_CONSUMERS);
        for (int i = 0; i < MP_CONSUMERS; i++)
            go_or_die(mp_consumer, &x);
        for (int i = 0; i < MP_PRODUCERS; i++)
            go_or_die(mp_producer, &x);
        gort_waitgroup_wait(&x.pwg);
        gort_chan_close(x.c);
        gort_waitgroup_wait(&x.cwg);
        ASSERT_EQ(x.count, (int64_t)MP_PRODUCERS * MP_N);
        ASSERT_EQ(x.sum, (int64_t)MP_PRODUCERS * MP_N * (MP_N + 1) / 2);
        gort_chan_free(x.c);
    }
}
PROCS_TESTS(chan_mpmc)

/* ------------------------------------------------------------------------ */
/* The ring: lock-free operations beside locked ones                        */
/* ------------------------------------------------------------------------ */

/* Producers and consumers on one buffered channel, each operation in turn
 * a blocking one, a non-blocking one retried, and a select beside a case
 * that is never ready, so that the ring's lock-free paths, its frozen
 * (locked) paths, parked peers and select's queues all meet.  Every value
 * (producer, sequence number) must arrive exactly once, and each consumer
 * must see each producer's values in increasing order (FIFO).  Rings
 * start two laps before their lap counter wraps (chan.c, POS_START), so
 * these channels, which go round thousands of times, go through it. */
enum { RG_PRODUCERS = 4, RG_CONSUMERS = 4, RG_N = 10000 };

typedef struct {
    gort_chan *c;
    gort_chan *never;           /* nothing is ever sent on it */
    gort_waitgroup pwg, cwg;
    _Atomic int pid;
    _Atomic uint8_t seen[RG_PRODUCERS][RG_N + 1];
    _Atomic int64_t bad, dup, order, count, selerr;
} ring_ctx;

static void rg_producer(void *arg)
{
    ring_ctx *x = arg;
    int64_t id = atomic_fetch_add(&x->pid, 1);
    for (int64_t i = 1; i <= RG_N; i++) {
        int64_t v = id << 32 | i;
        if (i % 4 == 0) {
            while (!gort_chan_trysend(x->c, &v))
                gort_yield();
        } else if (i % 4 == 1) {
            gort_case cs[2] = {{x->never, GORT_RECV, NULL, false},
                               {x->c, GORT_SEND, &v, false}};
            if (gort_select(cs, 2, 0) != 1 || !cs[1].ok)
                x->selerr++;
        } else {
            gort_chan_send(x->c, &v);
        }
    }
    gort_waitgroup_done(&x->pwg);
}

static void rg_consumer(void *arg)
{
    ring_ctx *x = arg;
    int64_t last[RG_PRODUCERS] = {0};
    for (unsigned k = 0;; k++) {
        int64_t v = -1;
        bool ok;
        if (k % 4 == 0) {
            int r;
            while ((r = gort_chan_tryrecv(x->c, &v)) == 0)
                gort_yield();
            ok = r > 0;
        } else if (k % 4 == 1) {
            gort_case cs[2] = {{x->never, GORT_RECV, &v, false},
                               {x->c, GORT_RECV, &v, false}};
            int i = gort_select(cs, 2, 0);
            if (i != 1)
                x->selerr++;
            ok = cs[1].ok;
        } else {
            ok = gort_chan_recv(x->c, &v);
        }
        if (!ok) {
            if (v != 0)         /* closed and drained: the zero value */
                x->bad++;
            break;
        }
        int64_t id = v >> 32, i = v & 0xffffffff;
        if (id < 0 || id >= RG_PRODUCERS || i < 1 || i > RG_N) {
            x->bad++;
            continue;
        }
        if (atomic_exchange(&x->seen[id][i], 1))
            x->dup++;
        if (i <= last[id])
            x->order++;
        last[id] = i;
        x->count++;
    }
    gort_waitgroup_done(&x->cwg);
}

static void chan_ring_main(void *arg)
{
    (void)arg;
    size_t caps[5] = {1, 2, 3, 7, 128};
    for (int k = 0; k < 5; k++) {
        static ring_ctx x;
        memset(&x, 0, sizeof x);
        x.c = mkchan(sizeof(int64_t), caps[k]);
        x.never = mkchan(sizeof(int64_t), 0);
        gort_waitgroup_add(&x.pwg, RG_PRODUCERS);
        gort_waitgroup_add(&x.cwg, RG_CONSUMERS);
        for (int i = 0; i < RG_CONSUMERS; i++)
            go_or_die(rg_consumer, &x);
        for (int i = 0; i < RG_PRODUCERS; i++)
            go_or_die(rg_producer, &x);
        gort_waitgroup_wait(&x.pwg);
        gort_chan_close(x.c);
        gort_waitgroup_wait(&x.cwg);
        if (x.count != (int64_t)RG_PRODUCERS * RG_N || x.bad || x.dup ||
            x.order || x.selerr)
            printf("cap %zu: count %" PRId64 " bad %" PRId64 " dup %" PRId64
                   " order %" PRId64 " selerr %" PRId64 "\n",
                   caps[k], x.count, x.bad, x.dup, x.order, x.selerr);
        ASSERT_EQ(x.count, (int64_t)RG_PRODUCERS * RG_N);
        ASSERT_EQ(x.bad, 0);
        ASSERT_EQ(x.dup, 0);
        ASSERT_EQ(x.order, 0);
        ASSERT_EQ(x.selerr, 0);
        ASSERT_EQ(gort_chan_len(x.c), 0);
        gort_chan_free(x.c);
        gort_chan_free(x.never);
    }
}
PROCS_TESTS(chan_ring)

/* Close racing with senders on a ring: senders send until the close makes
 * them panic (recovered); the receiver closes after a number of values
 * that changes from round to round, and drains the rest.  Every send that
 * returned must be received, nothing more: a lock-free send that claimed
 * its slot before the close lands, one that comes after panics. */
enum { RC_SENDERS = 4, RC_ROUNDS = 40 };

typedef struct {
    gort_chan *c;
    gort_waitgroup wg;
    int64_t close_after;        /* the first receiver closes after this many */
    _Atomic int64_t sent, recvd, wrongpanic;
} rclose_ctx;

typedef struct {
    rclose_ctx *x;
    int64_t n;
} rclose_sender;

static void rclose_send_forever(void *arg)
{
    rclose_sender *s = arg;
    for (;;) {
        int64_t v = s->n + 1;
        gort_chan_send(s->x->c, &v);
        s->n++;                 /* counted only once the send returned */
    }
}

static void rclose_sender_g(void *arg)
{
    rclose_ctx *x = arg;
    rclose_sender s = {x, 0};
    gort_panic_info info;
    if (gort_try(rclose_send_forever, &s, &info) ||
        strstr(info.msg, "send on closed channel") == NULL)
        x->wrongpanic++;
    x->sent += s.n;
    gort_waitgroup_done(&x->wg);
}

static void rclose_receiver_g(void *arg)
{
    rclose_ctx *x = arg;
    int64_t v, n = 0;
    while (gort_chan_recv(x->c, &v)) {
        if (++n == x->close_after)
            gort_chan_close(x->c);
    }
    x->recvd += n;
    gort_waitgroup_done(&x->wg);
}

static void chan_ring_close_main(void *arg)
{
    (void)arg;
    for (int r = 0; r < RC_ROUNDS; r++) {
        static rclose_ctx x;
        memset(&x, 0, sizeof x);
        x.c = mkchan(sizeof(int64_t), 1 + (size_t)(r % 5));
        x.close_after = 1 + (r * 997) % 3000;
        gort_waitgroup_add(&x.wg, RC_SENDERS + 1);
        for (int i = 0; i < RC_SENDERS; i++)
            go_or_die(rclose_sender_g, &x);
        /* One receiver, which closes: two could both reach the count. */
        go_or_die(rclose_receiver_g, &x);
        gort_waitgroup_wait(&x.wg);
        ASSERT_EQ(x.wrongpanic, 0);
        ASSERT_EQ(x.recvd, x.sent);
        gort_chan_free(x.c);
    }
}
PROCS_TESTS(chan_ring_close)

/* Many independent ping-pong pairs, exercising hand-off and wake-ups
 * across Ps. */
enum { PAIRS = 32, PP_ROUNDS = 5000 };

typedef struct {
    gort_chan *ping, *pong;
    gort_waitgroup *wg;
} pp_pair;

static void pp_ponger(void *arg)
{
    pp_pair *p = arg;
    int64_t v;
    while (gort_chan_recv(p->ping, &v)) {
        v++;
        gort_chan_send(p->pong, &v);
    }
    gort_waitgroup_done(p->wg);
}

static void pp_pinger(void *arg)
{
    pp_pair *p = arg;
    for (int64_t i = 0; i < PP_ROUNDS; i++) {
        int64_t v = i * 2;
        gort_chan_send(p->ping, &v);
        ASSERT(gort_chan_recv(p->pong, &v));
        ASSERT_EQ(v, i * 2 + 1);
    }
    gort_chan_close(p->ping);
    gort_waitgroup_done(p->wg);
}

static void chan_pingpong_main(void *arg)
{
    (void)arg;
    static pp_pair pairs[PAIRS];
    static gort_waitgroup wg;
    gort_waitgroup_add(&wg, 2 * PAIRS);
    for (int i = 0; i < PAIRS; i++) {
        pairs[i] = (pp_pair){mkchan(sizeof(int64_t), 0),
                             mkchan(sizeof(int64_t), i % 4 == 0 ? 1 : 0), &wg};
        go_or_die(pp_ponger, &pairs[i]);
        go_or_die(pp_pinger, &pairs[i]);
    }
    gort_waitgroup_wait(&wg);
    for (int i = 0; i < PAIRS; i++) {
        gort_chan_free(pairs[i].ping);
        gort_chan_free(pairs[i].pong);
    }
}
PROCS_TESTS(chan_pingpong)

/* ------------------------------------------------------------------------ */
/* Plain threads                                                            */
/* ------------------------------------------------------------------------ */

enum { TH_THREADS = 4, TH_N = 20000 };

typedef struct {
    gort_chan *c;
    gort_chan *hello;       /* a first use, so the thread is registered */
    _Atomic int started;
    _Atomic int64_t sum, count;
    gort_waitgroup wg;
} th_ctx;

static void *th_producer(void *arg)
{
    th_ctx *x = arg;
    gort_chan_tryrecv(x->hello, NULL);
    x->started++;
    ASSERT_EQ(gort_self(), 0);
    for (int64_t i = 1; i <= TH_N; i++)
        gort_chan_send(x->c, &i);
    return NULL;
}

static void g_consumer(void *arg)
{
    th_ctx *x = arg;
    int64_t v, sum = 0, count = 0;
    while (gort_chan_recv(x->c, &v)) {
        sum += v;
        count++;
    }
    x->sum += sum;
    x->count += count;
    gort_waitgroup_done(&x->wg);
}

static void th_producers_main(void *arg)
{
    (void)arg;
    size_t caps[2] = {0, 16};
    for (int k = 0; k < 2; k++) {
        static th_ctx x;
        memset(&x, 0, sizeof x);
        x.c = mkchan(sizeof(int64_t), caps[k]);
        x.hello = mkchan(0, 0);
        pthread_t t[TH_THREADS];
        for (int i = 0; i < TH_THREADS; i++)
            ASSERT_EQ(pthread_create(&t[i], NULL, th_producer, &x), 0);
        /* Until every thread has used a channel, the deadlock detector
         * cannot know about it. */
        while (x.started < TH_THREADS)
            pause_a_little();
        gort_waitgroup_add(&x.wg, 3);
        for (int i = 0; i < 3; i++)
            go_or_die(g_consumer, &x);
        /* pthread_join blocks in a futex, which sysmon never rescues:
         * wrapped, it hands our P (and the goroutines queued on it) to
         * another thread while it waits. */
        for (int i = 0; i < TH_THREADS; i++)
            ASSERT_EQ(GORT_BLOCKING(pthread_join(t[i], NULL)), 0);
        gort_chan_close(x.c);
        gort_waitgroup_wait(&x.wg);
        ASSERT_EQ(x.count, (int64_t)TH_THREADS * TH_N);
        ASSERT_EQ(x.sum, (int64_t)TH_THREADS * TH_N * (TH_N + 1) / 2);
        gort_chan_free(x.c);
        gort_chan_free(x.hello);
    }
}

TEST_IMPL(chan_pthread_producers)
{
    start(2, th_producers_main, NULL);
    return 0;
}

static void *th_consumer(void *arg)
{
    th_ctx *x = arg;
    gort_chan_tryrecv(x->hello, NULL);
    x->started++;
    int64_t v, sum = 0, count = 0;
    while (gort_chan_recv(x->c, &v)) {
        sum += v;
        count++;
    }
    x->sum += sum;
    x->count += count;
    return NULL;
}

static void g_producer(void *arg)
{
    th_ctx *x = arg;
    for (int64_t i = 1; i <= TH_N; i++)
        gort_chan_send(x->c, &i);
    gort_waitgroup_done(&x->wg);
}

static void th_consumers_main(void *arg)
{
    (void)arg;
    size_t caps[2] = {0, 16};
    for (int k = 0; k < 2; k++) {
        static th_ctx x;
        memset(&x, 0, sizeof x);
        x.c = mkchan(sizeof(int64_t), caps[k]);
        x.hello = mkchan(0, 0);
        pthread_t t[TH_THREADS];
        for (int i = 0; i < TH_THREADS; i++)
            ASSERT_EQ(pthread_create(&t[i], NULL, th_consumer, &x), 0);
        while (x.started < TH_THREADS)
            pause_a_little();
        gort_waitgroup_add(&x.wg, 3);
        for (int i = 0; i < 3; i++)
            go_or_die(g_producer, &x);
        gort_waitgroup_wait(&x.wg);
        gort_chan_close(x.c);
        /* pthread_join blocks in a futex, which sysmon never rescues:
         * wrapped, it hands our P (and the goroutines queued on it) to
         * another thread while it waits. */
        for (int i = 0; i < TH_THREADS; i++)
            ASSERT_EQ(GORT_BLOCKING(pthread_join(t[i], NULL)), 0);
        ASSERT_EQ(x.count, 3 * (int64_t)TH_N);
        ASSERT_EQ(x.sum, 3 * (int64_t)TH_N * (TH_N + 1) / 2);
        gort_chan_free(x.c);
        gort_chan_free(x.hello);
    }
}

TEST_IMPL(chan_pthread_consumers)
{
    start(2, th_consumers_main, NULL);
    return 0;
}

/* Threads select too: a thread selecting over two channels fed by
 * goroutines, and answering through a third. */
static void *th_selector(void *arg)
{
    gort_chan **cs = arg;
    int64_t got = 0, v;
    int open = 2;
    gort_chan *mine[2] = {cs[0], cs[1]};
    while (open > 0) {
        int64_t a, b;
        gort_case sc[2] = {{mine[0], GORT_RECV, &a, false},
                           {mine[1], GORT_RECV, &b, false}};
        int k = gort_select(sc, 2, 0);
        ASSERT(k == 0 || k == 1);
        if (!sc[k].ok) {
            mine[k] = NULL;
            open--;
            continue;
        }
        got += k == 0 ? a : b;
    }
    v = got;
    gort_case out[1] = {{cs[2], GORT_SEND, &v, false}};
    ASSERT_EQ(gort_select(out, 1, 0), 0);
    return NULL;
}

static void sel_feeder(void *arg)
{
    gort_chan *c = arg;
    for (int64_t i = 1; i <= 10000; i++)
        gort_chan_send(c, &i);
    gort_chan_close(c);
}

static void th_select_main(void *arg)
{
    (void)arg;
    gort_chan *cs[3] = {mkchan(sizeof(int64_t), 0), mkchan(sizeof(int64_t), 2),
                        mkchan(sizeof(int64_t), 0)};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, th_selector, cs), 0);
    /* The thread's first select registers it; until then we must not
     * park with nothing else runnable, so feed it first. */
    go_or_die(sel_feeder, cs[0]);
    go_or_die(sel_feeder, cs[1]);
    int64_t total = 0;
    while (gort_chan_tryrecv(cs[2], &total) == 0)
        pause_a_little();
    ASSERT_EQ(total, 2 * (int64_t)10000 * 10001 / 2);
    ASSERT_EQ(pthread_join(t, NULL), 0);
}

TEST_IMPL(chan_pthread_select)
{
    start(2, th_select_main, NULL);
    return 0;
}

/* Channels between plain threads only, without gort_run at all. */
static void *th_only_pong(void *arg)
{
    gort_chan **cs = arg;
    int64_t v;
    while (gort_chan_recv(cs[0], &v)) {
        v = -v;
        gort_chan_send(cs[1], &v);
    }
    return NULL;
}

TEST_IMPL(chan_pthread_only)
{
    gort_chan *cs[2] = {mkchan(sizeof(int64_t), 0), mkchan(sizeof(int64_t), 0)};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, th_only_pong, cs), 0);
    for (int64_t i = 0; i < 20000; i++) {
        int64_t v = i;
        gort_chan_send(cs[0], &v);
        ASSERT(gort_chan_recv(cs[1], &v));
        ASSERT_EQ(v, -i);
    }
    gort_chan_close(cs[0]);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    gort_chan_free(cs[0]);
    gort_chan_free(cs[1]);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Recovering from channel panics                                           */
/* ------------------------------------------------------------------------ */

/* The panics are raised with no channel lock held: after recovering, the
 * same channels work. */
static void rc_send(void *arg)
{
    int v = 1;
    gort_chan_send(arg, &v);
}

static void rc_close(void *arg)
{
    gort_chan_close(arg);
}

static void rc_select_send(void *arg)
{
    gort_chan **cs = arg;
    int v = 2;
    gort_case many[24];
    for (int i = 0; i < 24; i++)
        many[i] = (gort_case){cs[1], GORT_RECV, &v, false};
    many[17] = (gort_case){cs[0], GORT_SEND, &v, false};
    gort_select(many, 24, 0);
}

typedef struct {
    gort_chan *c;
    gort_waitgroup *wg;
    _Atomic int *recovered;
} rc_parked;

static void rc_parked_sender(void *arg)
{
    rc_parked *p = arg;
    gort_panic_info info;
    if (!gort_try(rc_send, p->c, &info)) {
        ASSERT_STR_CONTAINS(info.msg, "send on closed channel");
        (*p->recovered)++;
    }
    gort_waitgroup_done(p->wg);
}

static void recover_main(void *arg)
{
    (void)arg;
    gort_panic_info info;
    gort_chan *c = mkchan(sizeof(int), 2);
    gort_chan *other = mkchan(sizeof(int), 0);
    gort_chan_close(c);

    ASSERT(!gort_try(rc_send, c, &info));
    ASSERT_STR_CONTAINS(info.msg, "send on closed channel");
    ASSERT(!gort_try(rc_close, c, &info));
    ASSERT_STR_CONTAINS(info.msg, "close of closed channel");
    ASSERT(!gort_try(rc_close, NULL, &info));
    ASSERT_STR_CONTAINS(info.msg, "close of nil channel");
    gort_chan *cs[2] = {c, other};
    ASSERT(!gort_try(rc_select_send, cs, &info));
    ASSERT_STR_CONTAINS(info.msg, "send on closed channel");
    /* Nothing is left locked. */
    ASSERT(!gort_chan_recv(c, NULL));
    ASSERT(!gort_chan_trysend(other, NULL));
    ASSERT_EQ(gort_chan_tryrecv(other, NULL), 0);

    /* Senders parked when the channel closes recover too. */
    gort_chan *u = mkchan(sizeof(int), 0);
    gort_waitgroup wg = {0};
    _Atomic int recovered = 0;
    rc_parked p = {u, &wg, &recovered};
    enum { NS = 10 };
    gort_waitgroup_add(&wg, NS);
    for (int i = 0; i < NS; i++)
        go_or_die(rc_parked_sender, &p);
    while (gort_num_goroutine() < 1 + NS)
        pause_a_little();
    for (int i = 0; i < 10; i++)
        pause_a_little();
    gort_chan_close(u);
    gort_waitgroup_wait(&wg);
    ASSERT_EQ(recovered, NS);
    ASSERT(!gort_chan_recv(u, NULL));
    gort_chan_free(u);
    gort_chan_free(c);
    gort_chan_free(other);
}

TEST_IMPL(chan_panic_recover)
{
    start(2, recover_main, NULL);
    return 0;
}
