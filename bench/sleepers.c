/*
 * sleepers: N goroutines (default 100000) each call gort_sleep(D ms) K times
 * in a row (default K = 10, D = 10); main waits for all of them on one
 * waitgroup.  Reports wall time in ms, from the first gort_go to the return
 * of the wait; the ideal is K*D ms (100 ms).  What it measures is the timer
 * machinery under load: N timers armed at once, due in bursts, each firing
 * readying a goroutine that re-arms at once.  Go's time.Sleep puts each
 * sleeper's timer on its P's 4-ary heap; Go 1.19 takes 650-740 ms here.
 * Go twin: bench/go/sleepers.
 *
 *   usage: sleepers [N [K [D]]]
 */
#include "bench.h"

typedef struct {
    int64_t n, k, d_ms;
    gort_waitgroup wg;
    double ms;
} sleepers_args;

static void sleeper(void *arg)
{
    sleepers_args *a = arg;
    for (int64_t i = 0; i < a->k; i++)
        gort_sleep(a->d_ms * GORT_MS);
    gort_waitgroup_done(&a->wg);
}

static void bench_main(void *arg)
{
    sleepers_args *a = arg;
    gort_waitgroup_add(&a->wg, a->n);
    int64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < a->n; i++)
        bench_go(sleeper, a, i);
    gort_waitgroup_wait(&a->wg);
    int64_t t1 = bench_now_ns();
    a->ms = (double)(t1 - t0) / 1e6;
}

int main(int argc, char **argv)
{
    sleepers_args a = {
        .n = bench_arg(argc, argv, 1, 100000),
        .k = bench_arg(argc, argv, 2, 10),
        .d_ms = bench_arg(argc, argv, 3, 10),
    };
    bench_run(bench_main, &a);
    printf("RESULT sleepers %.2f ms\n", a.ms);
    return 0;
}
