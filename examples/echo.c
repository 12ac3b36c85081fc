/*
 * echo.c — a TCP echo server: one goroutine per connection, each in a
 * plain read-then-write loop.  A goroutine waiting for its client parks
 * in the netpoller; the few threads under gort (GORTMAXPROCS of them, the
 * CPU count by default) run whichever connections have data.
 *
 *   cc -Iinclude examples/echo.c build/libgort.a -pthread -o echo
 *   ./echo [port]                  (default 7000; 0 picks a free port)
 *   GORTMAXPROCS=1 ./echo 7000     (one P: every connection on one core)
 *
 * Errors are handled as Go's net/http does: running out of descriptors
 * (EMFILE) on accept is logged and retried after a pause that doubles
 * from 5 ms up to 1 s, so the server rides out a burst of connections
 * instead of dying; a client that resets or vanishes ends its own
 * connection only.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gort.h>

static void close_conn(void *arg)
{
    gort_close((int)(intptr_t)arg);
}

/* A peer going away is the normal end of a connection, not an error. */
static bool peer_gone(int err)
{
    return err == ECONNRESET || err == EPIPE || err == ETIMEDOUT;
}

static void serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16384];
    gort_scope {
        gort_defer(close_conn, arg);
        for (;;) {
            ssize_t n = gort_read(fd, buf, sizeof buf);
            if (n == 0)
                break;                          /* the client closed */
            if (n < 0) {
                if (!peer_gone(errno))
                    fprintf(stderr, "echo: read: %s\n", strerror(errno));
                break;
            }
            if (gort_write(fd, buf, (size_t)n) != n) {
                if (!peer_gone(errno))
                    fprintf(stderr, "echo: write: %s\n", strerror(errno));
                break;
            }
        }
    }
}

/* Accept errors worth waiting out (Go's net/http treats every temporary
 * error so; these are the ones accept(2) can return). */
static bool temporary(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void accept_loop(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    int64_t delay = 0;
    for (;;) {
        int fd = gort_accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (!temporary(errno)) {
                fprintf(stderr, "echo: accept: %s\n", strerror(errno));
                exit(1);
            }
            delay = delay == 0 ? 5 * GORT_MS : delay * 2;
            if (delay > GORT_SEC)
                delay = GORT_SEC;
            fprintf(stderr, "echo: accept: %s; retrying in %lld ms\n",
                    strerror(errno), (long long)(delay / GORT_MS));
            gort_sleep(delay);
            continue;
        }
        delay = 0;
        if (gort_go(serve, (void *)(intptr_t)fd) < 0) {
            fprintf(stderr, "echo: gort_go: %s\n", strerror(errno));
            gort_close(fd);
        }
    }
}

/* The port a listener got (the one asked for, or the free one for 0). */
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

static void main_goroutine(void *arg)
{
    const char *port = arg;
    char addr[64];
    snprintf(addr, sizeof addr, ":%s", port);
    int lfd = gort_tcp_listen(addr, 0);
    if (lfd < 0) {
        fprintf(stderr, "echo: listen %s: %s\n", addr, strerror(errno));
        exit(1);
    }
    printf("echo: listening on :%d (%d Ps)\n", local_port(lfd),
           gort_maxprocs(0));
    fflush(stdout);
    accept_loop((void *)(intptr_t)lfd);
}

int main(int argc, char **argv)
{
    char *port = argc > 1 ? argv[1] : "7000";
    if (gort_run(main_goroutine, port) != 0) {
        perror("gort_run");
        return 1;
    }
    return 0;
}
