/*
 * panic: N times (default 10000000), a function that is never inlined
 * defers one call and panics; the deferred call recovers (and counts,
 * checked at the end).  Reports wall time / N, ns/op: gort_panic (its
 * message formatted), running the deferred call, gort_recover, and the
 * jump back to the end of the scope.  Go twin: bench/go/panic (cf. Go's
 * BenchmarkPanicRecover).
 *
 *   usage: panic [N]
 */
#include "bench.h"

typedef struct {
    int64_t n;
    double ns_per_op;
} panic_args;

static int64_t recovered;

static void recover_and_count(void *arg)
{
    if (gort_recover() != NULL)
        (*(int64_t *)arg)++;
}

__attribute__((noinline)) static void panic_once(void)
{
    gort_scope {
        gort_defer(recover_and_count, &recovered);
        gort_panic("boom");
    }
}

static void bench_main(void *arg)
{
    panic_args *a = arg;
    int64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < a->n; i++)
        panic_once();
    int64_t t1 = bench_now_ns();
    if (recovered != a->n) {
        fprintf(stderr, "panic: recovered %" PRId64 ", expected %" PRId64 "\n",
                recovered, a->n);
        exit(1);
    }
    a->ns_per_op = (double)(t1 - t0) / (double)a->n;
}

int main(int argc, char **argv)
{
    panic_args a = {.n = bench_arg(argc, argv, 1, 10000000)};
    bench_run(bench_main, &a);
    printf("RESULT panic %.2f ns/op\n", a.ns_per_op);
    return 0;
}
