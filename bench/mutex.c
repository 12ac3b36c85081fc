/*
 * mutex: G goroutines (default 4) contend one gort_mutex for N lock/unlock
 * pairs in total (default 10000000), each incrementing a shared counter
 * under the lock.  Reports wall time / N; exits 1 if the counter is wrong.
 * Go twin: bench/go/mutex.
 *
 *   usage: mutex [N [G]]
 */
#include "bench.h"

typedef struct {
    int64_t n;
    struct shared *s;
} worker_args;

struct shared {
    gort_mutex mu;
    int64_t counter;        /* guarded by mu */
    gort_waitgroup wg;
};

static void worker(void *arg)
{
    worker_args *w = arg;
    struct shared *s = w->s;
    for (int64_t i = 0; i < w->n; i++) {
        gort_mutex_lock(&s->mu);
        s->counter++;
        gort_mutex_unlock(&s->mu);
    }
    gort_waitgroup_done(&s->wg);
}

typedef struct {
    int64_t n, g;
    double ns_per_op;
    int64_t counter;
} mutex_args;

static void bench_main(void *arg)
{
    mutex_args *a = arg;
    static struct shared s;
    worker_args *w = calloc((size_t)a->g, sizeof *w);
    if (w == NULL) {
        fprintf(stderr, "mutex: out of memory\n");
        exit(1);
    }
    gort_waitgroup_add(&s.wg, a->g);
    int64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < a->g; i++) {
        w[i].n = a->n / a->g + (i < a->n % a->g);
        w[i].s = &s;
        bench_go(worker, &w[i], i);
    }
    gort_waitgroup_wait(&s.wg);
    int64_t t1 = bench_now_ns();
    a->ns_per_op = (double)(t1 - t0) / (double)a->n;
    gort_mutex_lock(&s.mu);
    a->counter = s.counter;
    gort_mutex_unlock(&s.mu);
    free(w);
}

int main(int argc, char **argv)
{
    mutex_args a = {
        .n = bench_arg(argc, argv, 1, 10000000),
        .g = bench_arg(argc, argv, 2, 4),
    };
    bench_run(bench_main, &a);
    if (a.counter != a.n) {
        fprintf(stderr, "mutex: counter %" PRId64 ", want %" PRId64 "\n",
                a.counter, a.n);
        return 1;
    }
    printf("RESULT mutex %.2f ns/lock\n", a.ns_per_op);
    return 0;
}
