/*
 * select4: four producers each send N/4 ints (N default 2000000) on their
 * own channel (buffer 128); one consumer receives all N with a select
 * over the four channels.  Reports wall time / N (one select per value).
 * Go twin: bench/go/select4.
 *
 *   usage: select4 [N]
 */
#include "bench.h"

enum { NCHAN = 4 };

typedef struct {
    int64_t n;
    gort_chan *c[NCHAN];
    double ns_per_op;
} sel_args;

typedef struct {
    sel_args *a;
    int k;
} prod_arg;

static void producer(void *arg)
{
    prod_arg *p = arg;
    gort_chan *c = p->a->c[p->k];
    for (int64_t i = 0; i < p->a->n / NCHAN; i++)
        gort_chan_send(c, &i);
}

static void bench_main(void *arg)
{
    sel_args *a = arg;
    for (int k = 0; k < NCHAN; k++) {
        a->c[k] = gort_chan_make(sizeof(int64_t), 128);
        if (a->c[k] == NULL) {
            fprintf(stderr, "gort_chan_make failed\n");
            exit(1);
        }
    }
    prod_arg pa[NCHAN];
    int64_t per = a->n / NCHAN, total = 0;
    int64_t v[NCHAN];
    gort_case cases[NCHAN];
    for (int k = 0; k < NCHAN; k++)
        cases[k] = (gort_case){a->c[k], GORT_RECV, &v[k], false};
    int64_t t0 = bench_now_ns();
    for (int k = 0; k < NCHAN; k++) {
        pa[k] = (prod_arg){a, k};
        bench_go(producer, &pa[k], k);
    }
    for (int64_t i = 0; i < per * NCHAN; i++) {
        int k = gort_select(cases, NCHAN, 0);
        total += v[k];
    }
    int64_t t1 = bench_now_ns();
    if (total != NCHAN * (per * (per - 1) / 2)) {
        fprintf(stderr, "select4: bad sum %" PRId64 "\n", total);
        exit(1);
    }
    a->ns_per_op = (double)(t1 - t0) / (double)(per * NCHAN);
}

int main(int argc, char **argv)
{
    sel_args a = {.n = bench_arg(argc, argv, 1, 2000000)};
    bench_run(bench_main, &a);
    printf("RESULT select4 %.2f ns/op\n", a.ns_per_op);
    return 0;
}
