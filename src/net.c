/*
 * net.c — the public I/O calls on the netpoller: TCP listen/dial/accept,
 * read, write, close, deadlines and gort_wait_fd (Go's net and
 * internal/poll packages, in C and with POSIX error conventions).
 *
 * Every call brackets its work with gort__pd_acquire/release (the fd's
 * reference, so a concurrent gort_close cannot let the number be reused
 * under it) and follows internal/poll's shape: clear the ready bit, try
 * the non-blocking system call, and on EAGAIN wait on the poll descriptor
 * (netpoll.c, "The wait protocol"), then retry.  Descriptors in blocking
 * mode (a pipe a parent handed us) go through the blocking-call path
 * instead; regular files are always ready.  Name resolution (getaddrinfo
 * may block for seconds) runs on the blocking-call path, so the P goes on
 * without it.
 */
#include "runtime.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Addresses                                                                */
/* ------------------------------------------------------------------------ */

/* Splits "host:port", "[v6]:port" or ":port" into host (maybe "") and
 * port.  false (EINVAL) when malformed. */
static bool split_hostport(const char *addr, char *host, size_t hsz,
                           char *port, size_t psz)
{
    if (!addr)
        return false;
    const char *colon = strrchr(addr, ':');
    if (!colon || colon[1] == '\0')
        return false;
    const char *h = addr, *he = colon;
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (!rb || rb + 1 != colon)
            return false;
        h = addr + 1;
        he = rb;
    } else if (memchr(addr, ':', (size_t)(colon - addr))) {
        return false;   /* an IPv6 address needs brackets */
    }
    size_t hl = (size_t)(he - h), pl = strlen(colon + 1);
    if (hl >= hsz || pl >= psz)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, colon + 1, pl + 1);
    bool digits = true;
    for (const char *c = port; *c; c++) {
        if (*c == ' ' || *c == '[' || *c == ']')
            return false;
        if (*c < '0' || *c > '9')
            digits = false;
    }
    if (digits && (pl > 5 || atoi(port) > 65535))
        return false;   /* a number, but not a port */
    return true;
}

static int eai_errno(int e)
{
    switch (e) {
    case EAI_AGAIN:
        return EAGAIN;
    case EAI_MEMORY:
        return ENOMEM;
    case EAI_SYSTEM:
        return errno ? errno : EIO;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
    case EAI_ADDRFAMILY:
        return EADDRNOTAVAIL;   /* no such host */
    case EAI_SERVICE:
    default:
        return EINVAL;
    }
}

static int resolve(const char *host, const char *port, int flags,
                   struct addrinfo **res)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = flags | AI_ADDRCONFIG;
    /* Numeric addresses need no resolver (and no thread of their own):
     * Go parses them itself. */
    hints.ai_flags = flags | AI_NUMERICHOST | AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, res);
    if (rc == 0)
        return 0;
    hints.ai_flags = flags | AI_ADDRCONFIG;
    if (gort__getg())
        rc = GORT_BLOCKING(getaddrinfo(host, port, &hints, res));
    else
        rc = getaddrinfo(host, port, &hints, res);
    if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY) {
        /* AI_ADDRCONFIG hides ::1 and 127.0.0.1 on hosts whose only
         * interface is loopback: ask again without it. */
        hints.ai_flags = flags;
        if (gort__getg())
            rc = GORT_BLOCKING(getaddrinfo(host, port, &hints, res));
        else
            rc = getaddrinfo(host, port, &hints, res);
    }
    if (rc != 0) {
        errno = eai_errno(rc);
        return -1;
    }
    return 0;
}

/* What Go sets on every TCP connection: no Nagle delay, and keep-alive
 * probes after 15 s idle, every 15 s. */
static void set_tcp_opts(int fd)
{
    int one = 1, period = 15;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &period, sizeof period);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &period, sizeof period);
}

/* ------------------------------------------------------------------------ */
/* Listen, accept, dial                                                     */
/* ------------------------------------------------------------------------ */

static int listen_on(const struct sockaddr *sa, socklen_t len, int backlog,
                     bool dual)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    IPPROTO_TCP);
    if (fd < 0)
        return -1;
    int one = 1, zero = 0;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (dual)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, sa, len) != 0 || listen(fd, backlog) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    if (gort__pd_new(fd, true) != 0)
        return -1;
    return fd;
}

int gort_tcp_listen(const char *addr, int backlog)
{
    char host[256], port[64];
    if (!split_hostport(addr, host, sizeof host, port, sizeof port)) {
        errno = EINVAL;
        return -1;
    }
    if (backlog <= 0)
        backlog = SOMAXCONN;
    bool any = host[0] == '\0';
    struct addrinfo *res;
    /* ":port": every address, IPv6 and IPv4 on one socket (Go's
     * "[::]" with IPV6_V6ONLY off), else IPv4 alone. */
    if (resolve(any ? NULL : host, port, AI_PASSIVE, &res) != 0)
        return -1;
    int fd = -1, err = EADDRNOTAVAIL;
    if (any) {
        for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
            if (ai->ai_family == AF_INET6) {
                fd = listen_on(ai->ai_addr, ai->ai_addrlen, backlog, true);
                if (fd < 0)
                    err = errno;
            }
    }
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        if (any && ai->ai_family == AF_INET6)
            continue;
        fd = listen_on(ai->ai_addr, ai->ai_addrlen, backlog, false);
        if (fd < 0)
            err = errno;
    }
    freeaddrinfo(res);
    if (fd < 0)
        errno = err;
    return fd;
}

/* A connection waits in lfd's queue (the level now). */
static bool queued(int lfd)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

int gort_accept(int lfd, struct sockaddr *sa, socklen_t *len)
{
    struct gort__pd *pd = gort__pd_acquire(lfd, true);
    if (!pd)
        return -1;
    int fd = -1;
    for (;;) {
        int e = gort__pd_err(pd, GORT_READ);
        if (e) {
            errno = e;
            break;
        }
        gort__pd_clear_ready(pd, GORT_READ);
        fd = accept4(lfd, sa, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            if (!sa || sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
                set_tcp_opts(fd);
            if (gort__pd_new(fd, true) != 0)
                fd = -1;
            break;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE) {
            /* Linux says EMFILE before it looks for a connection: it is
             * the caller's only when one is queued; else wait for one. */
            if (queued(lfd))
                break;
        } else if (errno != EAGAIN) {
            break;
        }
        int r = gort__pd_wait(pd, GORT_READ, 0, false);
        if (r < 0) {
            errno = -r;
            break;
        }
    }
    int saved = errno;
    gort__pd_release(pd);
    errno = saved;
    return fd;
}

/* One connect attempt; the fd, or -1 + errno. */
static int dial_one(const struct addrinfo *ai, int64_t until)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    IPPROTO_TCP);
    if (fd < 0)
        return -1;
    if (gort__pd_new(fd, true) != 0)
        return -1;
    struct gort__pd *pd = gort__pd_acquire(fd, true);
    if (!pd) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    int err = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        err = errno;
        while (err == EINPROGRESS || err == EINTR || err == EALREADY) {
            int r = gort__pd_wait(pd, GORT_WRITE, until, true);
            if (r < 0) {
                err = -r;
                break;
            }
            socklen_t len = sizeof err;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
            if (err == 0) {
                /* Writable without an error: connected, or (an edge
                 * raced) not yet -- getpeername tells. */
                struct sockaddr_storage ss;
                socklen_t sl = sizeof ss;
                if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
                    err = EINPROGRESS;
            }
        }
    }
    gort__pd_release(pd);
    if (err) {
        gort_close(fd);
        errno = err;
        return -1;
    }
    set_tcp_opts(fd);
    return fd;
}

int gort_tcp_dial(const char *addr, int64_t timeout)
{
    char host[256], port[64];
    if (!split_hostport(addr, host, sizeof host, port, sizeof port)) {
        errno = EINVAL;
        return -1;
    }
    int64_t until = timeout > 0 ? gort__nanotime() + timeout : 0;
    struct addrinfo *res;
    if (resolve(host[0] ? host : NULL, port, 0, &res) != 0)
        return -1;
    int fd = -1, err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = dial_one(ai, until);
        if (fd >= 0)
            break;
        err = errno;
        if (err == ETIMEDOUT && until > 0)
            break;      /* the whole dial's time is up */
    }
    freeaddrinfo(res);
    if (fd < 0)
        errno = err;
    return fd;
}

/* ------------------------------------------------------------------------ */
/* Read, write                                                              */
/* ------------------------------------------------------------------------ */

ssize_t gort_read(int fd, void *buf, size_t n)
{
    struct gort__pd *pd = gort__pd_acquire(fd, true);
    if (!pd)
        return -1;
    bool sock, stream;
    int kind = gort__pd_kind(pd, &sock, &stream);
    ssize_t r;
    int e = gort__pd_err(pd, GORT_READ);
    if (e) {
        errno = e;
        r = -1;
    } else if (kind == GORT__FD_FILE) {
        r = read(fd, buf, n);
    } else if (kind == GORT__FD_BLOCKING) {
        r = gort__getg() ? GORT_BLOCKING(read(fd, buf, n)) : read(fd, buf, n);
    } else {
        for (;;) {
            if (stream && gort__pd_drained(pd)) {
                /* The last read emptied the queue: wait for an edge
                 * rather than make a read that says EAGAIN. */
                int w = gort__pd_wait(pd, GORT_READ, 0, false);
                if (w < 0) {
                    errno = -w;
                    r = -1;
                    break;
                }
                gort__pd_set_drained(pd, false);
            }
            gort__pd_clear_ready(pd, GORT_READ);
            r = read(fd, buf, n);
            if (r >= 0) {
                if (stream && n > 0)
                    gort__pd_set_drained(pd, (size_t)r < n && r > 0);
                break;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                break;
            int w = gort__pd_wait(pd, GORT_READ, 0, false);
            if (w < 0) {
                errno = -w;
                break;
            }
        }
    }
    int saved = errno;
    gort__pd_release(pd);
    errno = saved;
    return r;
}

ssize_t gort_write(int fd, const void *buf, size_t n)
{
    struct gort__pd *pd = gort__pd_acquire(fd, true);
    if (!pd)
        return -1;
    bool sock, stream;
    int kind = gort__pd_kind(pd, &sock, &stream);
    const char *p = buf;
    size_t done = 0;
    int err = 0;
    gort__pd_wlock(pd);     /* whole writes do not interleave */
    do {
        int e = gort__pd_err(pd, GORT_WRITE);
        if (e) {
            err = e;
            break;
        }
        ssize_t r;
        if (kind == GORT__FD_POLL)
            gort__pd_clear_ready(pd, GORT_WRITE);
        if (sock)
            r = send(fd, p + done, n - done, MSG_NOSIGNAL);
        else if (kind == GORT__FD_BLOCKING && gort__getg())
            r = GORT_BLOCKING(write(fd, p + done, n - done));
        else
            r = write(fd, p + done, n - done);
        if (r >= 0) {
            done += (size_t)r;
            if (r == 0 && n > 0) {
                err = EIO;      /* nothing taken and no error: give up */
                break;
            }
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN || kind != GORT__FD_POLL) {
            err = errno;
            break;
        }
        int w = gort__pd_wait(pd, GORT_WRITE, 0, false);
        if (w < 0) {
            err = -w;
            break;
        }
    } while (done < n);
    gort__pd_wunlock(pd);
    gort__pd_release(pd);
    if (err) {
        errno = err;
        return done > 0 ? (ssize_t)done : -1;
    }
    return (ssize_t)done;
}

/* ------------------------------------------------------------------------ */
/* Deadlines and waiting on any descriptor                                  */
/* ------------------------------------------------------------------------ */

int gort_set_deadline(int fd, int64_t abs_ns, int dirs)
{
    if (dirs & ~(GORT_READ | GORT_WRITE) || !dirs) {
        errno = EINVAL;
        return -1;
    }
    struct gort__pd *pd = gort__pd_acquire(fd, true);
    if (!pd)
        return -1;
    gort__pd_set_deadline(pd, abs_ns, dirs);
    gort__pd_release(pd);
    return 0;
}

int gort_wait_fd(int fd, int events, int64_t timeout)
{
    if (!(events & (GORT_READ | GORT_WRITE)) ||
        (events & ~(GORT_READ | GORT_WRITE))) {
        errno = EINVAL;
        return -1;
    }
    struct gort__pd *pd = gort__pd_acquire(fd, false);
    if (!pd)
        return -1;
    bool sock, stream;
    int kind = gort__pd_kind(pd, &sock, &stream);
    int r, err = 0;
    if (kind == GORT__FD_FILE) {
        r = events;     /* regular files are always ready, as in poll(2) */
    } else if (kind == GORT__FD_BLOCKING &&
               !gort__pd_ensure_registered(pd, &err)) {
        r = err == EPERM ? events : -err;
    } else {
        /* timeout 0: a poll (a deadline already past, after the level
         * check); < 0: no timeout. */
        int64_t until = timeout > 0 ? gort__nanotime() + timeout
                                    : timeout == 0 ? 1 : 0;
        r = gort__pd_wait(pd, events, until, true);
    }
    gort__pd_release(pd);
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return r;
}
