/*
 * panic.c — the ways a gort program dies: throw (a runtime invariant
 * broke), fatal (the program reached a state Go treats as fatal, such as a
 * deadlock), and unrecovered panics.  Each prints Go's report to stderr
 * and exits with status 2.
 *
 * (Recoverable panics, defer and recover arrive with the panic issue; for
 * now gort__panicmsg prints the report of an unrecovered panic.)
 *
 * Output is written with write(2), never stdio, so that it works from a
 * signal handler and with stdio locks held by the dying goroutine.  stdout
 * is flushed first if its lock is free, so a program's buffered output is
 * not lost.
 */
#include "runtime.h"

#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic int dying;

void gort__write_str(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

void gort__exit2(void)
{
    if (ftrylockfile(stdout) == 0) {
        fflush(stdout);
        funlockfile(stdout);
    }
    _exit(2);
}

/* Only the first dying thread reports; the others wait for the exit. */
static void begin_dying(void)
{
    if (atomic_fetch_add(&dying, 1) != 0) {
        for (;;)
            pause();
    }
}

static void print_current_goroutine(const char *state, int skip)
{
    struct g *gp = gort__getg();
    char buf[96];
    if (gp) {
        snprintf(buf, sizeof buf, "goroutine %lld [%s]:\n",
                 (long long)gp->goid, state);
        gort__write_str(2, buf);
    } else {
        gort__write_str(2, "thread (not a goroutine):\n");
    }
    gort__print_backtrace(2, skip + 1);
}

void gort__throw(const char *msg)
{
    begin_dying();
    gort__write_str(2, "fatal error: ");
    gort__write_str(2, msg);
    gort__write_str(2, "\n\n");
    print_current_goroutine("running", 1);
    gort__exit2();
}

void gort__fatal(const char *msg)
{
    begin_dying();
    gort__write_str(2, "fatal error: ");
    gort__write_str(2, msg);
    gort__write_str(2, "\n\n");
    print_current_goroutine("running", 1);
    gort__exit2();
}

void gort__panicmsg(const char *msg)
{
    begin_dying();
    gort__write_str(2, "panic: ");
    gort__write_str(2, msg);
    gort__write_str(2, "\n\n");
    print_current_goroutine("running", 1);
    gort__exit2();
}
