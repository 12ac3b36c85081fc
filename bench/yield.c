/*
 * yield: G goroutines (default 2) each call gort_yield N times (default
 * 2000000).  Reports wall time / (G*N).  Go twin: bench/go/yield.
 *
 *   usage: yield [N [G]]
 */
#include "bench.h"

typedef struct {
    int64_t n, g;
    gort_waitgroup wg;
    double ns_per_op;
} yield_args;

static void yielder(void *arg)
{
    yield_args *a = arg;
    for (int64_t i = 0; i < a->n; i++)
        gort_yield();
    gort_waitgroup_done(&a->wg);
}

static void bench_main(void *arg)
{
    yield_args *a = arg;
    gort_waitgroup_add(&a->wg, a->g);
    int64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < a->g; i++)
        bench_go(yielder, a, i);
    gort_waitgroup_wait(&a->wg);
    int64_t t1 = bench_now_ns();
    a->ns_per_op = (double)(t1 - t0) / (double)(a->n * a->g);
}

int main(int argc, char **argv)
{
    yield_args a = {
        .n = bench_arg(argc, argv, 1, 2000000),
        .g = bench_arg(argc, argv, 2, 2),
    };
    bench_run(bench_main, &a);
    printf("RESULT yield %.2f ns/yield\n", a.ns_per_op);
    return 0;
}
