/*
 * parked.c — the program tests/gdb/run.sh debugs: 100 goroutines parked in
 * gdb_parked (a channel receive), then main stops at gdb_ready, where gdb
 * lists the goroutines and backtraces one of them.
 */
#include <stdio.h>

#include <gort.h>

#define N 100

static gort_chan *ch;
static gort_waitgroup started;
static volatile int sink;

__attribute__((noinline)) void gdb_parked(void *arg)
{
    int v;
    gort_waitgroup_done(&started);
    gort_chan_recv(ch, &v);
    sink = v + (int)(long)arg;
}

/* The breakpoint: every other goroutine is parked by now. */
__attribute__((noinline)) void gdb_ready(void)
{
    __asm__ __volatile__("" ::: "memory");
}

static void main_goroutine(void *arg)
{
    (void)arg;
    ch = gort_chan_make(sizeof(int), 0);
    gort_waitgroup_add(&started, N);
    for (long i = 0; i < N; i++)
        if (gort_go(gdb_parked, (void *)i) < 0)
            return;
    gort_waitgroup_wait(&started);
    /* Let the last ones get from the done to the receive. */
    for (int i = 0; i < 100 && gort_chan_len(ch) == 0; i++)
        gort_sleep(GORT_MS);
    gort_sleep(20 * GORT_MS);
    gdb_ready();
    gort_chan_close(ch);
    printf("done\n");
}

int main(void)
{
    return gort_run(main_goroutine, NULL);
}
