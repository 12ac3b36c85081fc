/*
 * workers.c — a worker pool: main sends jobs on a buffered channel, a
 * fixed number of worker goroutines take them, and send results back on
 * another channel.  Closing the jobs channel tells the workers there is no
 * more work; a waitgroup tells main when they have all stopped, and then
 * main closes the results channel so that its collecting loop ends.
 *
 *   cc -Iinclude examples/workers.c build/libgort.a -pthread -o workers
 *   ./workers [jobs [workers]]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <gort.h>

typedef struct job {
    int id;
    uint64_t n;             /* compute the n-th Fibonacci number, mod 2^64 */
} job;

typedef struct result {
    int id;
    int worker;
    uint64_t value;
} result;

typedef struct pool {
    gort_chan *jobs;        /* job */
    gort_chan *results;     /* result */
    gort_waitgroup wg;
    int njobs;
} pool;

typedef struct worker_arg {
    pool *p;
    int id;
} worker_arg;

static uint64_t fib(uint64_t n)
{
    uint64_t a = 0, b = 1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}

static void worker(void *arg)
{
    worker_arg *w = arg;
    job j;
    /* recv returns false once jobs is closed and drained. */
    while (gort_chan_recv(w->p->jobs, &j)) {
        result r = {j.id, w->id, fib(j.n)};
        gort_chan_send(w->p->results, &r);
    }
    gort_waitgroup_done(&w->p->wg);
}

/* Closes results once every worker has stopped. */
static void closer(void *arg)
{
    pool *p = arg;
    gort_waitgroup_wait(&p->wg);
    gort_chan_close(p->results);
}

static void producer(void *arg)
{
    pool *p = arg;
    for (int i = 0; i < p->njobs; i++) {
        job j = {i, 1000 + (uint64_t)i % 50};
        gort_chan_send(p->jobs, &j);
    }
    gort_chan_close(p->jobs);
}

static int njobs = 1000;
static int nworkers = 8;

static void main_goroutine(void *arg)
{
    (void)arg;
    static pool p;
    p.njobs = njobs;
    p.jobs = gort_chan_make(sizeof(job), 16);
    p.results = gort_chan_make(sizeof(result), 16);
    if (p.jobs == NULL || p.results == NULL) {
        perror("gort_chan_make");
        exit(1);
    }
    worker_arg *args = calloc((size_t)nworkers, sizeof *args);
    gort_waitgroup_add(&p.wg, nworkers);
    for (int i = 0; i < nworkers; i++) {
        args[i] = (worker_arg){&p, i};
        if (gort_go(worker, &args[i]) < 0) {
            perror("gort_go");
            exit(1);
        }
    }
    if (gort_go(producer, &p) < 0 || gort_go(closer, &p) < 0) {
        perror("gort_go");
        exit(1);
    }

    int *per_worker = calloc((size_t)nworkers, sizeof *per_worker);
    uint64_t check = 0;
    int got = 0;
    result r;
    while (gort_chan_recv(p.results, &r)) {
        per_worker[r.worker]++;
        check ^= r.value + (uint64_t)r.id;
        got++;
    }
    printf("%d jobs done by %d workers (checksum %016llx)\n", got, nworkers,
           (unsigned long long)check);
    for (int i = 0; i < nworkers; i++)
        printf("  worker %d: %d jobs\n", i, per_worker[i]);
    gort_chan_free(p.jobs);
    gort_chan_free(p.results);
    free(per_worker);
    free(args);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        njobs = atoi(argv[1]);
    if (argc > 2)
        nworkers = atoi(argv[2]);
    if (njobs < 0 || nworkers <= 0) {
        fprintf(stderr, "usage: workers [jobs [workers]]\n");
        return 2;
    }
    if (gort_run(main_goroutine, NULL) != 0) {
        perror("gort_run");
        return 1;
    }
    return 0;
}
