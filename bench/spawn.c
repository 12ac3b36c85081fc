/*
 * spawn: start N goroutines that each call gort_waitgroup_done on one
 * waitgroup; main waits for all of them.  Reports wall time / N, from the
 * first gort_go to the return of the wait.  Go twin: bench/go/spawn.
 *
 *   usage: spawn [N]   (default 1000000)
 */
#include "bench.h"

typedef struct {
    int64_t n;
    double ns_per_op;
} spawn_args;

static void done(void *arg)
{
    gort_waitgroup_done(arg);
}

static void bench_main(void *arg)
{
    spawn_args *a = arg;
    gort_waitgroup wg = {0};
    gort_waitgroup_add(&wg, a->n);
    int64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < a->n; i++)
        bench_go(done, &wg, i);
    gort_waitgroup_wait(&wg);
    int64_t t1 = bench_now_ns();
    a->ns_per_op = (double)(t1 - t0) / (double)a->n;
}

int main(int argc, char **argv)
{
    spawn_args a = {.n = bench_arg(argc, argv, 1, 1000000)};
    bench_run(bench_main, &a);
    printf("RESULT spawn %.2f ns/goroutine\n", a.ns_per_op);
    return 0;
}
