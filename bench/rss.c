/*
 * rss: N goroutines (default 1000000) park on a gate: each calls
 * gort_waitgroup_done on "started", then gort_waitgroup_wait on "gate",
 * whose counter main holds at 1.  Once all have started, main reads the
 * resident set from /proc/self/statm and reports (RSS now - RSS before
 * spawning) / N in KiB; then it opens the gate and waits for all to finish.
 * Go twin: bench/go/rss.
 *
 *   usage: rss [N]
 */
#include "bench.h"

typedef struct {
    int64_t n;
    gort_waitgroup started, gate, all;
    double kib_per_g;
} rss_args;

static void parked(void *arg)
{
    rss_args *a = arg;
    gort_waitgroup_done(&a->started);
    gort_waitgroup_wait(&a->gate);
    gort_waitgroup_done(&a->all);
}

static void bench_main(void *arg)
{
    rss_args *a = arg;
    gort_waitgroup_add(&a->started, a->n);
    gort_waitgroup_add(&a->all, a->n);
    gort_waitgroup_add(&a->gate, 1);
    int64_t before = bench_rss_bytes();
    for (int64_t i = 0; i < a->n; i++)
        bench_go(parked, a, i);
    gort_waitgroup_wait(&a->started);
    int64_t after = bench_rss_bytes();
    gort_waitgroup_done(&a->gate);
    gort_waitgroup_wait(&a->all);
    a->kib_per_g = (double)(after - before) / 1024.0 / (double)a->n;
}

int main(int argc, char **argv)
{
    rss_args a = {.n = bench_arg(argc, argv, 1, 1000000)};
    bench_run(bench_main, &a);
    printf("RESULT rss %.2f KiB/goroutine\n", a.kib_per_g);
    return 0;
}
