/*
 * sieve.c — the concurrent prime sieve of Go's tour and of Go's
 * test/chan/sieve1.go: a generator goroutine feeds 2, 3, 4, ... into a
 * channel; each prime found adds a filter goroutine to the pipeline that
 * drops the multiples of that prime.  Prints the first N primes
 * (default 100).
 *
 *   cc -Iinclude examples/sieve.c build/libgort.a -pthread -o sieve
 *   ./sieve 25
 */
#include <stdio.h>
#include <stdlib.h>

#include <gort.h>

typedef struct filter {
    gort_chan *in, *out;
    int prime;
} filter;

/* Sends 2, 3, 4, ... to ch, for ever. */
static void generate(void *arg)
{
    gort_chan *ch = arg;
    for (int i = 2;; i++)
        gort_chan_send(ch, &i);
}

/* Copies the values from in to out, removing those divisible by prime. */
static void filter_fn(void *arg)
{
    filter *f = arg;
    for (;;) {
        int i;
        gort_chan_recv(f->in, &i);
        if (i % f->prime != 0)
            gort_chan_send(f->out, &i);
    }
}

static int nprimes = 100;

static void main_goroutine(void *arg)
{
    (void)arg;
    gort_chan *ch = gort_chan_make(sizeof(int), 0);
    if (ch == NULL || gort_go(generate, ch) < 0) {
        perror("sieve");
        exit(1);
    }
    for (int k = 0; k < nprimes; k++) {
        int prime;
        gort_chan_recv(ch, &prime);
        printf("%d\n", prime);
        filter *f = malloc(sizeof *f);
        gort_chan *ch1 = gort_chan_make(sizeof(int), 0);
        if (f == NULL || ch1 == NULL) {
            perror("sieve");
            exit(1);
        }
        *f = (filter){ch, ch1, prime};
        if (gort_go(filter_fn, f) < 0) {
            perror("gort_go");
            exit(1);
        }
        ch = ch1;
    }
    /* Returning ends the program; the pipeline's goroutines are
     * abandoned, as in Go. */
}

int main(int argc, char **argv)
{
    if (argc > 1)
        nprimes = atoi(argv[1]);
    if (gort_run(main_goroutine, NULL) != 0) {
        perror("gort_run");
        return 1;
    }
    return 0;
}
