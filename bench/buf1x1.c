/*
 * buf1x1: one producer sends N ints (default 5000000) on a channel with a
 * buffer of 128; one consumer receives them.  Reports wall time / N, from
 * the first send to the last receive.  Go twin: bench/go/buf1x1.
 *
 *   usage: buf1x1 [N]
 */
#include "bench.h"

typedef struct {
    int64_t n;
    gort_chan *c, *done;
    double ns_per_op;
} buf_args;

static void consumer(void *arg)
{
    buf_args *a = arg;
    int64_t v, sum = 0;
    for (int64_t i = 0; i < a->n; i++) {
        gort_chan_recv(a->c, &v);
        sum += v;
    }
    if (sum != a->n * (a->n - 1) / 2) {
        fprintf(stderr, "buf1x1: bad sum %" PRId64 "\n", sum);
        exit(1);
    }
    gort_chan_send(a->done, NULL);
}

static void bench_main(void *arg)
{
    buf_args *a = arg;
    a->c = gort_chan_make(sizeof(int64_t), 128);
    a->done = gort_chan_make(0, 0);
    if (a->c == NULL || a->done == NULL) {
        fprintf(stderr, "gort_chan_make failed\n");
        exit(1);
    }
    int64_t t0 = bench_now_ns();
    bench_go(consumer, a, 0);
    for (int64_t i = 0; i < a->n; i++)
        gort_chan_send(a->c, &i);
    gort_chan_recv(a->done, NULL);
    int64_t t1 = bench_now_ns();
    a->ns_per_op = (double)(t1 - t0) / (double)a->n;
}

int main(int argc, char **argv)
{
    buf_args a = {.n = bench_arg(argc, argv, 1, 5000000)};
    bench_run(bench_main, &a);
    printf("RESULT buf1x1 %.2f ns/item\n", a.ns_per_op);
    return 0;
}
