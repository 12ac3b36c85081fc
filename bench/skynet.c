/*
 * skynet: the skynet benchmark — a 10-ary tree of goroutines, 1000000
 * leaves by default (1111111 goroutines); each leaf sends its number to
 * its parent over an unbuffered channel, each inner node sums its ten
 * children and sends the sum up.  Reports wall time in ms.  Go twin:
 * bench/go/skynet.
 *
 *   usage: skynet [leaves]      (a power of 10)
 */
#include "bench.h"

enum { DIV = 10 };

typedef struct sk_arg {
    gort_chan *c;           /* where to send our sum */
    int64_t num, size;
} sk_arg;

static void skynet(void *arg)
{
    sk_arg *a = arg;
    if (a->size == 1) {
        gort_chan_send(a->c, &a->num);
        return;
    }
    gort_chan *rc = gort_chan_make(sizeof(int64_t), 0);
    if (rc == NULL) {
        fprintf(stderr, "gort_chan_make failed\n");
        exit(1);
    }
    /* The children's arguments live on our stack: we wait for all of
     * them before returning. */
    sk_arg kids[DIV];
    int64_t sub = a->size / DIV;
    for (int i = 0; i < DIV; i++) {
        kids[i] = (sk_arg){rc, a->num + i * sub, sub};
        bench_go(skynet, &kids[i], i);
    }
    int64_t sum = 0;
    for (int i = 0; i < DIV; i++) {
        int64_t v;
        gort_chan_recv(rc, &v);
        sum += v;
    }
    gort_chan_free(rc);
    gort_chan_send(a->c, &sum);
}

typedef struct {
    int64_t leaves;
    double ms;
} sk_main_arg;

static void bench_main(void *arg)
{
    sk_main_arg *m = arg;
    gort_chan *c = gort_chan_make(sizeof(int64_t), 0);
    sk_arg root = {c, 0, m->leaves};
    int64_t t0 = bench_now_ns();
    bench_go(skynet, &root, 0);
    int64_t sum;
    gort_chan_recv(c, &sum);
    int64_t t1 = bench_now_ns();
    if (sum != m->leaves * (m->leaves - 1) / 2) {
        fprintf(stderr, "skynet: bad sum %" PRId64 "\n", sum);
        exit(1);
    }
    m->ms = (double)(t1 - t0) / 1e6;
}

int main(int argc, char **argv)
{
    sk_main_arg m = {.leaves = bench_arg(argc, argv, 1, 1000000)};
    bench_run(bench_main, &m);
    printf("RESULT skynet %.2f ms\n", m.ms);
    return 0;
}
