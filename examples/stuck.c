/*
 * stuck.c — a program with goroutines stuck in typical places (a
 * consumer on an empty channel, a producer on a full one, a waiter on a
 * mutex, a sleeper, a select, a blocking read), for the tools of
 * docs/debugging.md: it prints its goroutine dump and its counters, then
 * exits; with "wait" it stays stuck, for SIGQUIT and gdb.
 *
 *   cc -Iinclude examples/stuck.c build/libgort.a -pthread -ldw -o stuck
 *   ./stuck             # the dump (stdout) and gort_read_stats
 *   ./stuck wait &      # stays; kill -QUIT %1 prints the dump, exits 2
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gort.h>

static gort_chan *requests, *replies, *quit;
static gort_mutex table_lock;
static int pipefd[2];
static volatile int sink;

static void consumer(void *arg)
{
    (void)arg;
    int req;
    while (gort_chan_recv(requests, &req))  /* nobody sends */
        sink = req;
}

static void producer(void *arg)
{
    (void)arg;
    for (int i = 0;; i++)
        gort_chan_send(replies, &i);        /* capacity 1, nobody reads */
}

static void updater(void *arg)
{
    (void)arg;
    gort_mutex_lock(&table_lock);           /* main holds it */
    sink = 1;
    gort_mutex_unlock(&table_lock);
}

static void ticker(void *arg)
{
    (void)arg;
    for (;;) {
        gort_sleep(10 * GORT_SEC);
        sink = 2;
    }
}

static void dispatcher(void *arg)
{
    (void)arg;
    int v;
    gort_case cases[2] = {
        {.chan = requests, .op = GORT_RECV, .elem = &v},
        {.chan = quit, .op = GORT_RECV, .elem = &v},
    };
    sink = gort_select(cases, 2, 0);
}

static void reader(void *arg)
{
    (void)arg;
    char buf[64];
    ssize_t n = GORT_BLOCKING(read(pipefd[0], buf, sizeof buf));
    sink = (int)n;
}

static void main_goroutine(void *arg)
{
    const char *mode = arg;
    requests = gort_chan_make(sizeof(int), 0);
    replies = gort_chan_make(sizeof(int), 1);
    quit = gort_chan_make(sizeof(int), 0);
    if (pipe(pipefd) != 0)
        return;
    gort_mutex_lock(&table_lock);
    gort_go(consumer, NULL);
    gort_go(producer, NULL);
    gort_go(updater, NULL);
    gort_go(ticker, NULL);
    gort_go(dispatcher, NULL);
    gort_go(reader, NULL);
    gort_sleep(50 * GORT_MS);               /* let them get stuck */

    if (mode && strcmp(mode, "wait") == 0) {
        printf("pid %d: stuck; try kill -QUIT %d\n", (int)getpid(),
               (int)getpid());
        fflush(stdout);
        int v;
        gort_chan_recv(quit, &v);
        return;
    }
    fflush(stdout);
    gort_dump_goroutines(1);

    gort_stats st;
    gort_read_stats(&st);
    printf("\ngoroutines=%lld ms=%lld procs=%d idle_procs=%d switches=%llu "
           "steals=%llu parks=%llu preempt=%llu+%llu handoffs=%llu "
           "retakes=%llu timers=%llu netpoll_waits=%llu\n",
           (long long)st.goroutines, (long long)st.ms, st.procs,
           st.idle_procs, (unsigned long long)st.context_switches,
           (unsigned long long)st.steals, (unsigned long long)st.parks,
           (unsigned long long)st.preempt_coop,
           (unsigned long long)st.preempt_async,
           (unsigned long long)st.syscall_handoffs,
           (unsigned long long)st.syscall_retakes,
           (unsigned long long)st.timers_fired,
           (unsigned long long)st.netpoll_waits);
}

int main(int argc, char **argv)
{
    return gort_run(main_goroutine, argc > 1 ? argv[1] : NULL);
}
