/*
 * buf4x4: four producers send N ints in all (default 4000000) on one
 * channel with a buffer of 128; four consumers receive them.  Reports
 * wall time / N, from the first spawn to the last receive.  Go twin:
 * bench/go/buf4x4.
 *
 *   usage: buf4x4 [N]
 */
#include "bench.h"

enum { PRODUCERS = 4, CONSUMERS = 4 };

typedef struct {
    int64_t n;
    gort_chan *c;
    gort_chan *sums;        /* each consumer's sum */
    gort_waitgroup producers;
    double ns_per_op;
} buf_args;

static void producer(void *arg)
{
    buf_args *a = arg;
    for (int64_t i = 0; i < a->n / PRODUCERS; i++)
        gort_chan_send(a->c, &i);
    gort_waitgroup_done(&a->producers);
}

static void consumer(void *arg)
{
    buf_args *a = arg;
    int64_t v, sum = 0;
    while (gort_chan_recv(a->c, &v))
        sum += v;
    gort_chan_send(a->sums, &sum);
}

static void bench_main(void *arg)
{
    buf_args *a = arg;
    a->c = gort_chan_make(sizeof(int64_t), 128);
    a->sums = gort_chan_make(sizeof(int64_t), CONSUMERS);
    if (a->c == NULL || a->sums == NULL) {
        fprintf(stderr, "gort_chan_make failed\n");
        exit(1);
    }
    int64_t t0 = bench_now_ns();
    gort_waitgroup_add(&a->producers, PRODUCERS);
    for (int i = 0; i < CONSUMERS; i++)
        bench_go(consumer, a, i);
    for (int i = 0; i < PRODUCERS; i++)
        bench_go(producer, a, i);
    gort_waitgroup_wait(&a->producers);
    gort_chan_close(a->c);
    int64_t total = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        int64_t s;
        gort_chan_recv(a->sums, &s);
        total += s;
    }
    int64_t t1 = bench_now_ns();
    int64_t per = a->n / PRODUCERS;
    if (total != PRODUCERS * (per * (per - 1) / 2)) {
        fprintf(stderr, "buf4x4: bad sum %" PRId64 "\n", total);
        exit(1);
    }
    a->ns_per_op = (double)(t1 - t0) / (double)(per * PRODUCERS);
}

int main(int argc, char **argv)
{
    buf_args a = {.n = bench_arg(argc, argv, 1, 4000000)};
    bench_run(bench_main, &a);
    printf("RESULT buf4x4 %.2f ns/item\n", a.ns_per_op);
    return 0;
}
