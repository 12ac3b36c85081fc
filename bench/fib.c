/*
 * fib: parallel Fibonacci, fib(N) with N = 35 by default: a call with
 * n > 15 runs its two sub-calls in two new goroutines and adds the
 * results they send back on a channel (buffer 2); calls with n <= 15 are
 * plain recursion.  Reports wall time in ms.  Go twin: bench/go/fib.
 *
 *   usage: fib [N]
 */
#include "bench.h"

enum { CUTOFF = 15 };

static int64_t fib(int64_t n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

typedef struct pfib_arg {
    int64_t n;
    gort_chan *out;
} pfib_arg;

static void pfib(void *arg)
{
    pfib_arg *a = arg;
    int64_t r;
    if (a->n <= CUTOFF) {
        r = fib(a->n);
    } else {
        gort_chan *c = gort_chan_make(sizeof(int64_t), 2);
        if (c == NULL) {
            fprintf(stderr, "gort_chan_make failed\n");
            exit(1);
        }
        /* On our stack: we wait for both before returning. */
        pfib_arg kids[2] = {{a->n - 1, c}, {a->n - 2, c}};
        bench_go(pfib, &kids[0], 0);
        bench_go(pfib, &kids[1], 1);
        int64_t x, y;
        gort_chan_recv(c, &x);
        gort_chan_recv(c, &y);
        gort_chan_free(c);
        r = x + y;
    }
    gort_chan_send(a->out, &r);
}

typedef struct {
    int64_t n;
    double ms;
} fib_main_arg;

static void bench_main(void *arg)
{
    fib_main_arg *m = arg;
    gort_chan *c = gort_chan_make(sizeof(int64_t), 1);
    pfib_arg root = {m->n, c};
    int64_t t0 = bench_now_ns();
    bench_go(pfib, &root, 0);
    int64_t r;
    gort_chan_recv(c, &r);
    int64_t t1 = bench_now_ns();
    int64_t a = 0, b = 1;
    for (int64_t i = 0; i < m->n; i++) {
        int64_t t = a + b;
        a = b;
        b = t;
    }
    if (r != a) {
        fprintf(stderr, "fib: got %" PRId64 ", want %" PRId64 "\n", r, a);
        exit(1);
    }
    m->ms = (double)(t1 - t0) / 1e6;
}

int main(int argc, char **argv)
{
    fib_main_arg m = {.n = bench_arg(argc, argv, 1, 35)};
    bench_run(bench_main, &m);
    printf("RESULT fib %.2f ms\n", m.ms);
    return 0;
}
