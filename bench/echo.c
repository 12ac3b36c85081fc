/*
 * echo: the echo workload's server on gort — a TCP echo server with one
 * goroutine per connection, each in a gort_read / gort_write loop (16 KiB
 * buffer), and the accept loop on gort_accept in the main goroutine.
 * GORTMAXPROCS comes from the environment (bench/run.sh: 1, pinned to one
 * core).  It is a server, not a self-timed workload: bench/run.sh starts
 * it, drives it with bench/echoload (the closed-loop load generator) and
 * kills it.  Twins: bench/go/echo (Go) and bench/epoll_echo.c (C on epoll
 * by hand, the baseline).
 *
 *   usage: echo [host:]port      ("7000" and ":7000": every address)
 *
 * Prints "listening on <port>" on stdout once listening (port 0 picks a
 * free one), then serves until killed.  EMFILE on accept is waited out;
 * a client that resets ends its own connection only.
 */
#include <netinet/in.h>
#include <sys/socket.h>

#include "bench.h"

static void serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16384];
    for (;;) {
        ssize_t n = gort_read(fd, buf, sizeof buf);
        if (n <= 0)
            break;                      /* end of stream, reset, ... */
        if (gort_write(fd, buf, (size_t)n) != n)
            break;
    }
    gort_close(fd);
}

static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void bench_main(void *arg)
{
    const char *a = arg;
    char addr[300];
    /* A bare port means every address, as ":port" does. */
    snprintf(addr, sizeof addr, "%s%s", strchr(a, ':') ? "" : ":", a);
    int lfd = gort_tcp_listen(addr, 0);
    if (lfd < 0) {
        fprintf(stderr, "echo: listen %s: %s\n", addr, strerror(errno));
        exit(1);
    }
    printf("listening on %d\n", local_port(lfd));
    fflush(stdout);
    for (;;) {
        int fd = gort_accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                fprintf(stderr, "echo: accept: %s\n", strerror(errno));
                gort_sleep(10 * GORT_MS);
                continue;
            }
            fprintf(stderr, "echo: accept: %s\n", strerror(errno));
            exit(1);
        }
        if (gort_go(serve, (void *)(intptr_t)fd) < 0) {
            fprintf(stderr, "echo: gort_go: %s\n", strerror(errno));
            gort_close(fd);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: echo [host:]port\n");
        return 2;
    }
    bench_run(bench_main, argv[1]);
    return 0;
}
