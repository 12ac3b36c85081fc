/*
 * hello.c — the first program of the README: ten goroutines say hello,
 * main waits for all of them on a waitgroup.
 *
 *   cc -Iinclude examples/hello.c build/libgort.a -pthread -o hello
 */
#include <stdint.h>
#include <stdio.h>

#include <gort.h>

static gort_waitgroup wg;

static void hello(void *arg)
{
    int n = (int)(intptr_t)arg;
    printf("hello from goroutine %lld (number %d)\n", (long long)gort_self(),
           n);
    gort_waitgroup_done(&wg);
}

static void main_goroutine(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++) {
        gort_waitgroup_add(&wg, 1);
        if (gort_go(hello, (void *)(intptr_t)i) < 0) {
            perror("gort_go");
            gort_waitgroup_done(&wg);
        }
    }
    gort_waitgroup_wait(&wg);
    printf("all 10 goroutines said hello\n");
}

int main(void)
{
    if (gort_run(main_goroutine, NULL) != 0) {
        perror("gort_run");
        return 1;
    }
    return 0;
}
