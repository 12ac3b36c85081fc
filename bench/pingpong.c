/*
 * pingpong: two goroutines bounce an int over two unbuffered channels, N
 * round trips (default 1000000).  Reports wall time / N: one round trip
 * is two sends, two receives and two goroutine switches.  Go twin:
 * bench/go/pingpong.
 *
 *   usage: pingpong [N]
 */
#include "bench.h"

typedef struct {
    int64_t n;
    gort_chan *ping, *pong;
    double ns_per_op;
} pp_args;

static void ponger(void *arg)
{
    pp_args *a = arg;
    int64_t v;
    while (gort_chan_recv(a->ping, &v))
        gort_chan_send(a->pong, &v);
}

static void bench_main(void *arg)
{
    pp_args *a = arg;
    a->ping = gort_chan_make(sizeof(int64_t), 0);
    a->pong = gort_chan_make(sizeof(int64_t), 0);
    if (a->ping == NULL || a->pong == NULL) {
        fprintf(stderr, "gort_chan_make failed\n");
        exit(1);
    }
    bench_go(ponger, a, 0);
    int64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < a->n; i++) {
        int64_t v = i;
        gort_chan_send(a->ping, &v);
        gort_chan_recv(a->pong, &v);
        if (v != i) {
            fprintf(stderr, "pingpong: got %" PRId64 ", want %" PRId64 "\n", v, i);
            exit(1);
        }
    }
    int64_t t1 = bench_now_ns();
    gort_chan_close(a->ping);
    a->ns_per_op = (double)(t1 - t0) / (double)a->n;
}

int main(int argc, char **argv)
{
    pp_args a = {.n = bench_arg(argc, argv, 1, 1000000)};
    bench_run(bench_main, &a);
    printf("RESULT pingpong %.2f ns/roundtrip\n", a.ns_per_op);
    return 0;
}
