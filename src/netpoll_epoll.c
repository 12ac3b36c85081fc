/*
 * netpoll_epoll.c — the Linux backend of the netpoller (Go's
 * netpoll_epoll.go).
 *
 * The backend contract.  netpoll.c is written against these five calls
 * and nothing else of the kernel's readiness API; a kqueue or poll(2)
 * backend is one more file that defines them (and the Makefile picks one):
 *
 *   int  gort__np_init(void)
 *        Creates the poller and its wake-up channel.  Called once, under
 *        netpoll.c's init lock, before any other call.  0, or -1 + errno.
 *   int  gort__np_open(int fd, uint64_t tag)
 *        Arms edge-triggered notification of fd for reading, writing and
 *        hang-up, once, for both directions (never re-armed).  Every event
 *        for fd carries tag.  0, or -1 + errno (EPERM: fd cannot be polled,
 *        e.g. a regular file).
 *   int  gort__np_close(int fd)
 *        Disarms fd (called before fd is closed).
 *   int  gort__np_wait(int64_t delay, gort__np_event *ev, int max)
 *        Waits up to delay ns (< 0: until an event or a break; 0: does not
 *        block) and fills ev[] with up to max events (mode: GORT_READ,
 *        GORT_WRITE, and GORT__NP_HUP when the peer hung up or the fd is
 *        in error); returns their count,
 *        0 on timeout, break or signal.  Called by one thread at a time
 *        when delay != 0 (netpoll.c's poller claim); delay == 0 calls may
 *        run beside it.  Honours sub-millisecond delays where the kernel
 *        can (Go rounds them up to 1 ms).
 *   void gort__np_break(void)
 *        Makes a gort__np_wait that blocks now, or the next one, return
 *        soon.  Calls coalesce.
 *   void gort__np_forked(void)
 *        In a fork child: drop the parent's poller (a new one is made on
 *        the next gort__np_init).
 *
 * epoll: one instance (EPOLL_CLOEXEC); fds registered EPOLLIN | EPOLLOUT |
 * EPOLLRDHUP | EPOLLET with the tag in data.u64; the wake-up channel is an
 * eventfd registered EPOLLIN (level), written once per burst of breaks
 * (wakesig dedupes, as Go 1.23 does) and drained by the waiter.  The wait
 * is epoll_pwait2 (nanoseconds, Linux 5.11) when the kernel has it, else
 * epoll_wait with the delay rounded UP to a millisecond, so a timer is
 * never woken for early (the caller re-checks the clock anyway).
 */
#include "runtime.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int epfd = -1;
static int breakfd = -1;
static _Atomic uint32_t wakesig;        /* a break is pending */
static _Atomic int have_pwait2 = 1;     /* -1: ENOSYS seen */

#define BREAK_TAG UINT64_MAX

int gort__np_init(void)
{
    int e = epoll_create1(EPOLL_CLOEXEC);
    if (e < 0)
        return -1;
    int b = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b < 0) {
        int err = errno;
        close(e);
        errno = err;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = BREAK_TAG};
    if (epoll_ctl(e, EPOLL_CTL_ADD, b, &ev) != 0) {
        int err = errno;
        close(b);
        close(e);
        errno = err;
        return -1;
    }
    breakfd = b;
    epfd = e;
    return 0;
}

int gort__np_open(int fd, uint64_t tag)
{
    struct epoll_event ev = {
        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
        .data.u64 = tag,
    };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
        return 0;
    if (errno == EEXIST)    /* left from a close gort did not see: re-tag */
        return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
    return -1;
}

int gort__np_close(int fd)
{
    struct epoll_event ev = {0};
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev);
}

void gort__np_break(void)
{
    uint32_t z = 0;
    if (!atomic_compare_exchange_strong(&wakesig, &z, 1))
        return;
    uint64_t one = 1;
    for (;;) {
        ssize_t n = write(breakfd, &one, sizeof one);
        if (n == (ssize_t)sizeof one || (n < 0 && errno == EAGAIN))
            return;
        if (n < 0 && errno != EINTR)
            gort__throw("netpoll: eventfd write failed");
    }
}

static int wait_raw(struct epoll_event *evs, int max, int64_t delay)
{
    if (delay > 0 && delay < 1000 * GORT_MS &&
        atomic_load_explicit(&have_pwait2, memory_order_relaxed) > 0) {
#ifdef SYS_epoll_pwait2
        struct timespec ts = {.tv_sec = delay / GORT_SEC,
                              .tv_nsec = delay % GORT_SEC};
        long n = syscall(SYS_epoll_pwait2, epfd, evs, max, &ts, NULL, 0);
        if (n >= 0 || errno != ENOSYS)
            return (int)n;
#endif
        atomic_store(&have_pwait2, -1);
    }
    int ms;
    if (delay < 0)
        ms = -1;
    else if (delay == 0)
        ms = 0;
    else if (delay < 1000000 * GORT_MS)
        ms = (int)((delay + GORT_MS - 1) / GORT_MS);
    else
        ms = 1000000000;
    return epoll_wait(epfd, evs, max, ms);
}

int gort__np_wait(int64_t delay, gort__np_event *out, int max)
{
    enum { NEV = 128 };
    struct epoll_event evs[NEV];
    if (max > NEV)
        max = NEV;
    int n;
    for (;;) {
        n = wait_raw(evs, max, delay);
        if (n >= 0)
            break;
        if (errno != EINTR)
            gort__throw("netpoll: epoll_wait failed");
        if (delay > 0)
            return 0;   /* the caller recomputes its delay */
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        uint32_t e = evs[i].events;
        if (evs[i].data.u64 == BREAK_TAG) {
            if (delay != 0) {
                uint64_t v;
                (void)!read(breakfd, &v, sizeof v);
                atomic_store(&wakesig, 0);
            }
            continue;
        }
        int mode = 0;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            mode |= GORT_READ;
        if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            mode |= GORT_WRITE;
        if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            mode |= GORT__NP_HUP;
        if (!mode)
            continue;
        out[k].tag = evs[i].data.u64;
        out[k].mode = (uint8_t)mode;
        k++;
    }
    return k;
}

void gort__np_forked(void)
{
    if (epfd >= 0)
        close(epfd);
    if (breakfd >= 0)
        close(breakfd);
    epfd = breakfd = -1;
    atomic_store(&wakesig, 0);
}
