/*
 * data_race.c — a user's bug that TSan must report: two goroutines add to
 * a plain int with no synchronisation, at the same time on two Ms
 * (make test-sanitize).  Built with
 * -DFIXED the additions are under a gort_mutex, the result is handed back
 * over a channel and joined with a WaitGroup, and TSan must report
 * nothing: gort's own switches, run queues, parks and wake-ups must not
 * look like races either.
 */
#include <gort.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define N 1000000

static int counter;
#ifdef FIXED
static gort_mutex mu;
#endif
static gort_waitgroup wg;
static gort_chan *results;

static _Atomic int ready;

static __attribute__((noinline)) void adder(void *arg)
{
    (void)arg;
    /* Both start adding together, on two Ms (TSan treats a switch on one
     * M as an ordering: goroutines that only take turns on one thread
     * are not reported; docs/reliability.md).  Each is wired to its own
     * M, so that neither the wait below (gort_nanotime is a preemption
     * point) nor a preemption can leave them taking turns on one. */
    gort_lock_os_thread();
    atomic_fetch_add(&ready, 1);
    int64_t give_up = gort_nanotime() + GORT_SEC;
    while (atomic_load(&ready) < 2 && gort_nanotime() < give_up)
        ;
    for (int i = 0; i < N; i++) {
#ifdef FIXED
        gort_mutex_lock(&mu);
        counter++;
        gort_mutex_unlock(&mu);
#else
        counter++;
#endif
    }
    int mine = N;
    gort_unlock_os_thread();
    gort_chan_send(results, &mine);
    gort_waitgroup_done(&wg);
}

static void main_g(void *arg)
{
    (void)arg;
    results = gort_chan_make(sizeof(int), 2);
    gort_waitgroup_add(&wg, 2);
    /* Started back to back: the second is in the first's P's queue, so
     * the other P is woken and steals it, and the wait in adder is short
     * (a long one would be preempted, and a preempted adder might come
     * back only after the other had finished). */
    for (int i = 0; i < 2; i++) {
        if (gort_go(adder, NULL) < 0)
            abort();
    }
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
