/*
 * data_race.c — a user's bug that TSan must report: two goroutines add to
 * a plain int with no synchronisation (make test-sanitize).  Built with
 * -DFIXED the additions are under a gort_mutex, the result is handed back
 * over a channel and joined with a WaitGroup, and TSan must report
 * nothing: gort's own switches, run queues, parks and wake-ups must not
 * look like races either.
 */
#include <gort.h>

#include <stdio.h>
#include <stdlib.h>

#define N 100000

static int counter;
static gort_mutex mu;
static gort_waitgroup wg;
static gort_chan *results;

static __attribute__((noinline)) void adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < N; i++) {
#ifdef FIXED
        gort_mutex_lock(&mu);
        counter++;
        gort_mutex_unlock(&mu);
#else
        counter++;
#endif
        if (i % 1000 == 0)
            gort_yield();
    }
    int mine = N;
    gort_chan_send(results, &mine);
    gort_waitgroup_done(&wg);
}

static void main_g(void *arg)
{
    (void)arg;
    results = gort_chan_make(sizeof(int), 2);
    gort_waitgroup_add(&wg, 2);
    for (int i = 0; i < 2; i++)
        if (gort_go(adder, NULL) < 0)
            abort();
    gort_waitgroup_wait(&wg);
    int a, b;
    gort_chan_recv(results, &a);
    gort_chan_recv(results, &b);
    printf("counter = %d (of %d)\n", counter, a + b);
    gort_chan_free(results);
}

int main(void)
{
    gort_maxprocs(2);
    return gort_run(main_g, NULL);
}
