/*
 * defer: N calls (default 100000000) of a function that is never inlined
 * and holds one gort_scope with one gort_defer of a function that
 * increments a counter (checked at the end).  Reports wall time / N,
 * ns/call: the cost of entering a scope, recording the call, leaving the
 * scope and making the call.  Go twin: bench/go/defer (Go 1.14+ compiles
 * that defer open-coded, its fastest form; cf. Go's BenchmarkDefer).
 *
 *   usage: defer [N]
 */
#include "bench.h"

typedef struct {
    int64_t n;
    double ns_per_op;
} defer_args;

static int64_t counter;

static void incr(void *arg)
{
    (*(int64_t *)arg)++;
}

__attribute__((noinline)) static void defer_once(void)
{
    gort_scope {
        gort_defer(incr, &counter);
    }
}

static void bench_main(void *arg)
{
    defer_args *a = arg;
    int64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < a->n; i++)
        defer_once();
    int64_t t1 = bench_now_ns();
    if (counter != a->n) {
        fprintf(stderr, "defer: counter %" PRId64 ", expected %" PRId64 "\n",
                counter, a->n);
        exit(1);
    }
    a->ns_per_op = (double)(t1 - t0) / (double)a->n;
}

int main(int argc, char **argv)
{
    defer_args a = {.n = bench_arg(argc, argv, 1, 100000000)};
    bench_run(bench_main, &a);
    printf("RESULT defer %.2f ns/call\n", a.ns_per_op);
    return 0;
}
