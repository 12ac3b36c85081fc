/*
 * fanin.c — fan-in with select: three producers, each on its own channel
 * and at its own pace, and one consumer that takes whatever is ready with
 * gort_select.  A producer closes its channel when it is done; the
 * consumer then drops that case by setting its channel to NULL (a NULL
 * channel is never ready, as in Go), and stops when all are closed.
 * A quit channel shows the other direction: main can stop a producer
 * early, and the producer notices it in the same select as its send.
 *
 *   cc -Iinclude examples/fanin.c build/libgort.a -pthread -o fanin
 */
#include <stdio.h>
#include <stdlib.h>

#include <gort.h>

#define NPROD 3

typedef struct msg {
    int from;
    int seq;
} msg;

typedef struct producer {
    int id;
    int count;              /* messages to send */
    gort_chan *out;         /* msg, closed when done */
    gort_chan *quit;        /* closed by main to stop everybody early */
} producer;

static void produce(void *arg)
{
    producer *p = arg;
    for (int i = 0; i < p->count; i++) {
        msg m = {p->id, i};
        /* select { case out <- m: case <-quit: return } */
        gort_case cases[2] = {
            {.chan = p->out, .op = GORT_SEND, .elem = &m},
            {.chan = p->quit, .op = GORT_RECV, .elem = NULL},
        };
        if (gort_select(cases, 2, 0) == 1)
            break;
        /* Different paces: producer k yields k times between messages. */
        for (int k = 0; k < p->id; k++)
            gort_yield();
    }
    gort_chan_close(p->out);
}

static void main_goroutine(void *arg)
{
    (void)arg;
    static producer prods[NPROD];
    gort_chan *quit = gort_chan_make(0, 0);
    gort_case cases[NPROD];
    msg in[NPROD];
    for (int i = 0; i < NPROD; i++) {
        prods[i] = (producer){i, 10 * (i + 1), gort_chan_make(sizeof(msg), 0), quit};
        if (prods[i].out == NULL || gort_go(produce, &prods[i]) < 0) {
            perror("fanin");
            exit(1);
        }
        cases[i] = (gort_case){.chan = prods[i].out, .op = GORT_RECV, .elem = &in[i]};
    }

    int open = NPROD, total = 0, per[NPROD] = {0};
    while (open > 0) {
        int k = gort_select(cases, NPROD, 0);
        if (!cases[k].ok) {
            /* Closed: never select on it again. */
            cases[k].chan = NULL;
            open--;
            continue;
        }
        per[k]++;
        total++;
        if (total <= 12)
            printf("got message %d from producer %d\n", in[k].seq, in[k].from);
        if (total == 40) {
            printf("... 40 messages in: telling the producers to stop\n");
            gort_chan_close(quit);
        }
    }
    printf("%d messages: %d, %d and %d from producers 0, 1 and 2\n", total,
           per[0], per[1], per[2]);

    /* A non-blocking poll, Go's select with a default case. */
    gort_chan *empty = gort_chan_make(sizeof(int), 1);
    int v;
    gort_case poll[1] = {{.chan = empty, .op = GORT_RECV, .elem = &v}};
    if (gort_select(poll, 1, GORT_NONBLOCK) < 0)
        printf("nothing ready: the default case ran\n");

    for (int i = 0; i < NPROD; i++)
        gort_chan_free(prods[i].out);
    gort_chan_free(quit);
    gort_chan_free(empty);
}

int main(void)
{
    if (gort_run(main_goroutine, NULL) != 0) {
        perror("gort_run");
        return 1;
    }
    return 0;
}
