/*
 * heap_overflow.c — a user's bug that ASan must report from inside a
 * goroutine (make test-sanitize): writer() writes one int past a heap
 * buffer of 16.  Built with -DFIXED it stays inside, and ASan (leak
 * checking on) must report nothing.
 */
#include <gort.h>

#include <stdio.h>
#include <stdlib.h>

#ifdef FIXED
#define LAST 15
#else
#define LAST 16     /* one past the end */
#endif

static gort_chan *done;

static __attribute__((noinline)) void writer(void *arg)
{
    int *buf = arg;
    for (int i = 0; i <= LAST; i++)
        buf[i] = i;
    gort_chan_send(done, NULL);
}

static void main_g(void *arg)
{
    (void)arg;
    done = gort_chan_make(0, 0);
    int *buf = malloc(16 * sizeof *buf);
    /* Several goroutines around it, so that the writer runs on a
     * recycled stack of a pool, after other switches. */
    for (int round = 0; round < 100; round++) {
        if (gort_go(writer, buf) < 0)
            abort();
        gort_chan_recv(done, NULL);
    }
    printf("sum of the last round: %d\n", buf[0] + buf[15]);
    free(buf);
    gort_chan_free(done);
}

int main(void)
{
    return gort_run(main_g, NULL);
}
