/*
 * netpoll.c — the netpoller: poll descriptors, waiting for readiness,
 * deadlines, and the scheduler's view of it (Go's netpoll.go).  The kernel
 * side is a backend behind five calls (netpoll_epoll.c, "The backend
 * contract"); the public calls are in net.c.
 *
 * Poll descriptors.  Every descriptor number gort has seen has a pd, kept
 * in a two-level table indexed by the number (chunks of 1024 made on
 * first use, never freed, like Go's pollcache), so an event's tag
 * (fd | seq << 32) finds its pd without a lock, and a stale event (for a
 * number closed and reused since: seq was bumped) is recognised and
 * dropped.  A pd holds:
 *   kind      how calls on the fd are made: PD_POLL (non-blocking and
 *             registered: wait for readiness), PD_BLOCKING (a blocking-mode
 *             pipe or terminal: the blocking-call path), PD_FILE (a regular
 *             file: always ready), PD_UNKNOWN (not looked at yet);
 *   ready     readiness edges (GORT_READ/GORT_WRITE) that arrived while
 *             nobody waited, Go's pdReady;
 *   waiters   goroutines parked on the fd, each with the directions it
 *             waits for (Go keeps one G per direction and serialises
 *             readers with fdMutex; a list lets gort_wait_fd wait for both
 *             directions and lets two goroutines read one UDP socket);
 *   rd, wd    deadlines: 0 none, -1 expired, else armed in rt/wt;
 *   refs      bit 0: closing; above it, calls in flight (Go's fdMutex
 *             reference count).  A call takes a reference by CAS only
 *             while the bit is clear.  gort_close sets the bit and wakes
 *             the waiters; whoever drops the last reference closes the
 *             fd, so a number is never reused under a call still using
 *             it.  Between that close(2) and the pd's reset (destroying)
 *             the kernel may already have given the number to a new file:
 *             calls and gort_close on it wait for the reset (pd_settle).
 *
 * The wait protocol (no lost wake-up).  Everything below is under pd.lock,
 * a spinlock held for a few instructions (plus one poll(2) in
 * gort_wait_fd's level check).  A caller clears its ready bit, tries the
 * non-blocking system call, and on EAGAIN calls pd_wait: under the lock,
 * an error (closing, expired deadline) returns it; a ready bit set since
 * the clear is consumed and the call is retried; otherwise the goroutine
 * adds itself to waiters and parks, the lock released by gopark's unlock
 * function once the goroutine is off its stack.  An event (netpoll_ready)
 * takes the lock and either takes the matching waiters off the list and
 * readies them, or sets the ready bits.  An edge that came between the
 * clear and the system call is seen by the call or leaves the bit set; an
 * edge after the call finds the waiter or sets the bit before the waiter
 * looks.  Deadline timers, gort_close and gort_wait_fd's timeout wake
 * waiters the same way, with an error.
 *
 * Drained streams.  For a TCP stream gort knows that a short read emptied
 * the receive queue: the next read then waits for an edge first instead
 * of making a read(2) that would say EAGAIN (a hand-written epoll server
 * makes one read per event; Go makes two).  Data arriving after the short
 * read raises an edge, which finds the waiter or sets the bit.  A read is
 * also short when it stops at the peer's FIN, whose edge may have been
 * consumed before the read: once a hang-up was seen (hup, set before the
 * ready bit under the lock), reads are always made.
 *
 * Plain threads (no goroutine) cannot rely on the scheduler to poll: they
 * wait in poll(2) themselves, in slices of at most 20 ms, re-checking
 * closing and the deadlines between slices.
 *
 * Scheduler integration (proc.c, sysmon.c): findrunnable polls without
 * blocking before it steals, when goroutines wait and nobody is blocked
 * in the poller; the timer sleeper (the last idle M) blocks in the poller
 * until the next timer, and gort__wake_poller breaks it (eventfd); sysmon
 * polls when nobody has for 10 ms.  Readied goroutines come back as a
 * list for gort__injectglist.
 *
 * Lock order: pd.lock, then a P's timerslock or sched.lock (readying
 * wakes Ms).  Nothing holding those takes a pd.lock; timer callbacks run
 * with no lock held and take pd.lock.
 */
#include "runtime.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define sched gort__sched

enum { PD_UNKNOWN = 0, PD_POLL, PD_BLOCKING, PD_FILE };

#define CHUNK_BITS 10
#define CHUNK (1 << CHUNK_BITS)
#define NCHUNKS 4096            /* descriptors up to 4M */

typedef struct pdwaiter {
    struct pdwaiter *next;
    struct g *g;
    struct gort__pd *pd;
    uint8_t modes;              /* what it waits for */
    uint8_t got;                /* what woke it */
    bool done;                  /* taken off the list by a waker */
    int err;                    /* 0, EBADF or ETIMEDOUT */
} pdwaiter;

struct gort__pd {
    gort__chanlock lock;
    _Atomic uint8_t kind;       /* PD_*; set under lock */
    _Atomic uint8_t ready;      /* edges nobody waited for */
    _Atomic bool rdrained;      /* stream: the last read was short */
    _Atomic bool hup;           /* a hang-up or error was seen */
    bool registered;            /* in the poller */
    bool sock;                  /* a socket: send with MSG_NOSIGNAL */
    bool stream;                /* SOCK_STREAM */
    _Atomic bool destroying;    /* pd_destroy between close(2) and reset */
    _Atomic uint32_t seq;       /* tag generation */
    int fd;
    _Atomic uint64_t refs;      /* bit 0 closing; calls << 1 */
    _Atomic int64_t rd, wd;     /* deadlines (0, -1, or armed) */
    pdwaiter *waiters;
    gort_mutex wmu;             /* whole gort_writes in order (Go's
                                   fdMutex write lock) */
    gort__rtimer rt, wt;        /* deadline timers */
};

static _Atomic(struct gort__pd *) chunks[NCHUNKS];
static gort__mutex initlock;
static _Atomic int inited;              /* 1 ok, -1 failed */
static int initerr;

_Atomic int32_t gort__np_waiting;       /* goroutines parked on pds */
_Atomic uint32_t gort__np_polling;      /* a non-blocking poll runs */
_Atomic uint64_t gort__np_polls;        /* polls made (sysmon watches) */
_Atomic uint64_t gort__np_nwaits;       /* parks on pds (stats) */

bool gort__netpoll_inited(void)
{
    return atomic_load_explicit(&inited, memory_order_acquire) == 1;
}

static int netpoll_init(void)
{
    int s = atomic_load_explicit(&inited, memory_order_acquire);
    if (likely(s == 1))
        return 0;
    gort__lock(&initlock);
    s = atomic_load(&inited);
    if (s == 0) {
        if (gort__np_init() == 0) {
            s = 1;
        } else {
            initerr = errno;
            s = -1;
        }
        atomic_store_explicit(&inited, s, memory_order_release);
    }
    gort__unlock(&initlock);
    if (s != 1) {
        errno = initerr;
        return -1;
    }
    return 0;
}

/* The pd of fd, made on first use.  NULL with errno for a bad number. */
static struct gort__pd *pd_get(int fd)
{
    if (fd < 0 || fd >= NCHUNKS * CHUNK) {
        errno = EBADF;
        return NULL;
    }
    _Atomic(struct gort__pd *) *slot = &chunks[fd >> CHUNK_BITS];
    struct gort__pd *c = atomic_load_explicit(slot, memory_order_acquire);
    if (unlikely(!c)) {
        struct gort__pd *n = gort__calloc(CHUNK, sizeof *n);
        if (!n) {
            errno = ENOMEM;
            return NULL;
        }
        for (int i = 0; i < CHUNK; i++) {
            n[i].fd = (fd & ~(CHUNK - 1)) + i;
            n[i].rt.idx = n[i].wt.idx = -1;
        }
        struct gort__pd *z = NULL;
        if (atomic_compare_exchange_strong(slot, &z, n)) {
            c = n;
        } else {
            gort__free(n);
            c = z;
        }
    }
    return &c[fd & (CHUNK - 1)];
}

/* The pd of fd if it has one (events; no allocation). */
static struct gort__pd *pd_peek(int fd)
{
    if (fd < 0 || fd >= NCHUNKS * CHUNK)
        return NULL;
    struct gort__pd *c = atomic_load_explicit(&chunks[fd >> CHUNK_BITS],
                                              memory_order_acquire);
    return c ? &c[fd & (CHUNK - 1)] : NULL;
}

static inline void pd_lock(struct gort__pd *pd)
{
    uint32_t z = 0;
    if (likely(atomic_compare_exchange_weak_explicit(
            &pd->lock.key, &z, 1, memory_order_acquire, memory_order_relaxed)))
        return;
    gort__chanlock_slow(&pd->lock);
}

static inline void pd_unlock(struct gort__pd *pd)
{
    atomic_store_explicit(&pd->lock.key, 0, memory_order_release);
}

static inline uint64_t pd_tag(struct gort__pd *pd)
{
    return (uint32_t)pd->fd |
           (uint64_t)atomic_load_explicit(&pd->seq, memory_order_relaxed) << 32;
}

/* ------------------------------------------------------------------------ */
/* Waking                                                                   */
/* ------------------------------------------------------------------------ */

/* pd.lock held: takes the waiters for any of modes off the list and
 * readies them (onto *list when the caller injects them itself). */
static void pd_wake_locked(struct gort__pd *pd, int modes, int err,
                           struct g **list, int *n)
{
    pdwaiter **pw = &pd->waiters;
    while (*pw) {
        pdwaiter *w = *pw;
        if (!(w->modes & modes)) {
            pw = &w->next;
            continue;
        }
        if (err == ETIMEDOUT && (w->modes & ~modes)) {
            /* gort_wait_fd on both directions: one deadline passed, the
             * other direction may still come. */
            w->modes &= (uint8_t)~modes;
            pw = &w->next;
            continue;
        }
        *pw = w->next;
        w->got = (uint8_t)(w->modes & modes);
        w->err = err;
        w->done = true;
        atomic_fetch_sub_explicit(&gort__np_waiting, 1, memory_order_relaxed);
        struct g *gp = w->g;
        if (list) {
            gp->schedlink = *list;
            *list = gp;
            (*n)++;
        } else {
            gort__goready(gp);
        }
    }
}

/* An edge for modes on pd (from the backend). */
static void netpoll_ready(struct gort__pd *pd, int modes, struct g **list,
                          int *n)
{
    pd_lock(pd);
    if (modes & GORT__NP_HUP) {
        atomic_store(&pd->hup, true);
        modes &= ~GORT__NP_HUP;
    }
    int waited = 0;
    for (pdwaiter *w = pd->waiters; w; w = w->next)
        waited |= w->modes;
    if (waited & modes)
        pd_wake_locked(pd, modes & waited, 0, list, n);
    int rest = modes & ~waited;
    if (rest)
        atomic_fetch_or_explicit(&pd->ready, (uint8_t)rest,
                                 memory_order_relaxed);
    pd_unlock(pd);
}

/* Polls the backend (delay as gort__np_wait) and returns the goroutines
 * its events readied, linked through schedlink, still _Gwaiting (the
 * caller makes them runnable: gort__injectglist); *n counts them. */
struct g *gort__netpoll(int64_t delay, int *n)
{
    struct g *list = NULL;
    *n = 0;
    if (!gort__netpoll_inited())
        return NULL;
    gort__np_event ev[128];
    int k = gort__np_wait(delay, ev, 128);
    atomic_store_explicit(&gort__np_polls,
                          atomic_load_explicit(&gort__np_polls,
                                               memory_order_relaxed) + 1,
                          memory_order_relaxed);
    for (int i = 0; i < k; i++) {
        struct gort__pd *pd = pd_peek((int)(uint32_t)ev[i].tag);
        if (!pd || (uint32_t)(ev[i].tag >> 32) !=
                       atomic_load_explicit(&pd->seq, memory_order_relaxed))
            continue;   /* stale: the number was closed since */
        netpoll_ready(pd, ev[i].mode, &list, n);
    }
    if (GORT_TRACE_ON() && *n > 0) {
        gort__trace_ev(TEV_NETPOLL, GORT__TRACE_CURLANE, 0, (uint64_t)*n, 0);
        for (struct g *g1 = list; g1; g1 = g1->schedlink)
            gort__trace_ready(g1);
    }
    return list;
}

void gort__netpoll_break(void)
{
    if (gort__netpoll_inited())
        gort__np_break();
}

/* ------------------------------------------------------------------------ */
/* Deadlines                                                                */
/* ------------------------------------------------------------------------ */

static void deadline_fire(struct gort__pd *pd, int mode, uintptr_t seq)
{
    gort__rtimer *t = mode == GORT_READ ? &pd->rt : &pd->wt;
    pd_lock(pd);
    if (seq == atomic_load_explicit(&t->seq, memory_order_relaxed)) {
        atomic_store(mode == GORT_READ ? &pd->rd : &pd->wd, -1);
        pd_wake_locked(pd, mode, ETIMEDOUT, NULL, NULL);
    }
    pd_unlock(pd);
}

static void rd_fire(void *arg, uintptr_t seq, int64_t due)
{
    (void)due;
    deadline_fire(arg, GORT_READ, seq);
}

static void wd_fire(void *arg, uintptr_t seq, int64_t due)
{
    (void)due;
    deadline_fire(arg, GORT_WRITE, seq);
}

/* pd.lock held. */
static void deadline_set_locked(struct gort__pd *pd, int mode, int64_t abs,
                                int64_t now)
{
    gort__rtimer *t = mode == GORT_READ ? &pd->rt : &pd->wt;
    _Atomic int64_t *d = mode == GORT_READ ? &pd->rd : &pd->wd;
    (void)gort__timer_del(t);
    atomic_fetch_add_explicit(&t->seq, 1, memory_order_relaxed);
    if (abs == 0) {
        atomic_store(d, 0);
    } else if (abs <= now) {
        atomic_store(d, -1);
        pd_wake_locked(pd, mode, ETIMEDOUT, NULL, NULL);
    } else {
        atomic_store(d, abs);
        t->f = mode == GORT_READ ? rd_fire : wd_fire;
        t->arg = pd;
        t->period = 0;
        gort__timer_add(t, abs);
    }
}

/* The error a call in mode would meet now: closing, an expired deadline. */
/* The error a wait for *modes would meet now: EBADF when closing;
 * directions whose deadline passed are dropped from *modes, ETIMEDOUT
 * when none is left. */
static int pd_err_any(struct gort__pd *pd, int *modes)
{
    if (atomic_load_explicit(&pd->refs, memory_order_relaxed) & 1)
        return EBADF;
    int m = *modes;
    if ((m & GORT_READ) && atomic_load_explicit(&pd->rd, memory_order_relaxed) < 0)
        m &= ~GORT_READ;
    if ((m & GORT_WRITE) && atomic_load_explicit(&pd->wd, memory_order_relaxed) < 0)
        m &= ~GORT_WRITE;
    if (!m)
        return ETIMEDOUT;
    *modes = m;
    return 0;
}

/* The error a call in mode (one direction) would meet now. */
static inline int pd_err(struct gort__pd *pd, int mode)
{
    return pd_err_any(pd, &mode);
}

/* ------------------------------------------------------------------------ */
/* References and closing                                                   */
/* ------------------------------------------------------------------------ */

static int pd_classify_locked(struct gort__pd *pd, bool io);
static void pd_settle(struct gort__pd *pd);
static int pd_register_locked(struct gort__pd *pd);

/* Starts a call on fd: its pd, looked at on first use.  io: the caller
 * makes the system calls itself, so a socket is made non-blocking (a
 * blocking-mode socket seen first by gort_wait_fd is switched then).
 * NULL + errno. */
struct gort__pd *gort__pd_acquire(int fd, bool io)
{
    struct gort__pd *pd = pd_get(fd);
    if (!pd)
        return NULL;
    /* A reference is taken only while the fd is not closing (a CAS, not
     * an add: a failed caller's passing count must not make gort_close
     * defer to it, nor make its release a second close). */
    uint64_t v = atomic_load_explicit(&pd->refs, memory_order_relaxed);
    for (;;) {
        if (unlikely(v & 1)) {
            /* Closed this instant?  The number may already be a new
             * file's (pipe(2) in another thread): look again once the pd
             * is reset.  pd_destroy clears refs before destroying, so
             * destroying seen false and refs still closing means closed
             * for good (or closing, with calls in flight). */
            bool d = atomic_load_explicit(&pd->destroying, memory_order_acquire);
            uint64_t v2 = atomic_load_explicit(&pd->refs, memory_order_acquire);
            if (d || !(v2 & 1)) {
                pd_settle(pd);
                v = atomic_load_explicit(&pd->refs, memory_order_relaxed);
                continue;
            }
            errno = EBADF;
            return NULL;
        }
        if (atomic_compare_exchange_weak_explicit(&pd->refs, &v, v + 2,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            break;
    }
    uint8_t k = atomic_load_explicit(&pd->kind, memory_order_acquire);
    if (unlikely(k == PD_UNKNOWN || (io && k == PD_BLOCKING && pd->sock))) {
        pd_lock(pd);
        int r = 0;
        k = atomic_load(&pd->kind);
        if (k == PD_UNKNOWN) {
            r = pd_classify_locked(pd, io);
        } else if (io && k == PD_BLOCKING && pd->sock) {
            int fl = fcntl(fd, F_GETFL);
            if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
                (r = pd_register_locked(pd)) != 0)
                r = r ? r : errno;
            else
                atomic_store_explicit(&pd->kind, PD_POLL, memory_order_release);
        }
        pd_unlock(pd);
        if (r != 0) {
            gort__pd_release(pd);
            errno = r;
            return NULL;
        }
    }
    return pd;
}

/* The kernel may hand out a number the instant pd_destroy closed it,
 * before the pd is reset for reuse (a few instructions): wait for that. */
static void pd_settle(struct gort__pd *pd)
{
    while (atomic_load_explicit(&pd->destroying, memory_order_acquire))
        gort__osyield();
}

/* Closes the fd of pd (no call uses it any more) and resets the pd. */
static int pd_destroy(struct gort__pd *pd)
{
    pd_lock(pd);
    if (pd->registered && gort__netpoll_inited())
        (void)gort__np_close(pd->fd);
    pd->registered = false;
    atomic_store(&pd->kind, PD_UNKNOWN);
    atomic_store(&pd->ready, 0);
    atomic_store(&pd->rdrained, false);
    atomic_store(&pd->hup, false);
    deadline_set_locked(pd, GORT_READ, 0, 0);
    deadline_set_locked(pd, GORT_WRITE, 0, 0);
    atomic_fetch_add(&pd->seq, 1);
    atomic_store(&pd->destroying, true);
    pd_unlock(pd);
    int r = close(pd->fd);
    int err = errno;
    atomic_store_explicit(&pd->refs, 0, memory_order_release);
    atomic_store_explicit(&pd->destroying, false, memory_order_release);
    errno = err;
    return r;
}

void gort__pd_release(struct gort__pd *pd)
{
    uint64_t v = atomic_fetch_sub_explicit(&pd->refs, 2, memory_order_release);
    if (unlikely(v == 3)) {     /* the last call of a closed fd */
        int saved = errno;
        (void)pd_destroy(pd);
        errno = saved;
    }
}

int gort_close(int fd)
{
    struct gort__pd *pd = pd_get(fd);
    if (!pd)
        return -1;
    pd_settle(pd);
    uint64_t v = atomic_fetch_or_explicit(&pd->refs, 1, memory_order_acq_rel);
    if (v & 1) {
        errno = EBADF;
        return -1;
    }
    pd_lock(pd);
    pd_wake_locked(pd, GORT_READ | GORT_WRITE, EBADF, NULL, NULL);
    pd_unlock(pd);
    if ((v >> 1) == 0)
        return pd_destroy(pd);
    /* Calls are in flight: the last to leave closes it (Go's decref). */
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Classifying and registering descriptors                                  */
/* ------------------------------------------------------------------------ */

static int pd_register_locked(struct gort__pd *pd)
{
    if (pd->registered)
        return 0;
    if (netpoll_init() != 0)
        return errno;
    if (gort__np_open(pd->fd, pd_tag(pd)) != 0)
        return errno;
    pd->registered = true;
    return 0;
}

/* pd.lock held, kind unknown: looks at the fd.  0 or an errno. */
static int pd_classify_locked(struct gort__pd *pd, bool io)
{
    struct stat st;
    int fd = pd->fd;
    if (fstat(fd, &st) != 0)
        return errno;
    int kind;
    pd->sock = pd->stream = false;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode)) {
        kind = PD_FILE;
    } else {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0)
            return errno;
        if (S_ISSOCK(st.st_mode)) {
            int type = 0;
            socklen_t len = sizeof type;
            pd->sock = true;
            if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0)
                pd->stream = type == SOCK_STREAM;
            if (io && !(fl & O_NONBLOCK)) {
                if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
                    return errno;
                fl |= O_NONBLOCK;
            }
        }
        if (fl & O_NONBLOCK) {
            int r = pd_register_locked(pd);
            if (r == EPERM)
                kind = PD_FILE;
            else if (r != 0)
                return r;
            else
                kind = PD_POLL;
        } else {
            kind = PD_BLOCKING;
        }
    }
    atomic_store_explicit(&pd->kind, (uint8_t)kind, memory_order_release);
    return 0;
}

/* A descriptor gort just made (socket, accept): non-blocking, a socket.
 * Resets whatever an earlier holder of the number left.  0 or -1 + errno
 * (fd is then closed). */
int gort__pd_new(int fd, bool stream)
{
    struct gort__pd *pd = pd_get(fd);
    if (!pd) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    pd_settle(pd);
    pd_lock(pd);
    /* Goroutines still waiting on an earlier file of this number (closed
     * with close(2), not gort_close) would wait forever: wake them. */
    pd_wake_locked(pd, GORT_READ | GORT_WRITE, EBADF, NULL, NULL);
    atomic_fetch_add(&pd->seq, 1);
    pd->registered = false;
    deadline_set_locked(pd, GORT_READ, 0, 0);
    deadline_set_locked(pd, GORT_WRITE, 0, 0);
    atomic_store(&pd->ready, 0);
    atomic_store(&pd->rdrained, false);
    atomic_store(&pd->hup, false);
    pd->sock = true;
    pd->stream = stream;
    int r = pd_register_locked(pd);
    atomic_store_explicit(&pd->kind, r == 0 ? PD_POLL : PD_UNKNOWN,
                          memory_order_release);
    pd_unlock(pd);
    if (r != 0) {
        close(fd);
        errno = r;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Waiting                                                                  */
/* ------------------------------------------------------------------------ */

static bool pd_park_commit(struct g *gp, void *arg)
{
    (void)gp;
    pd_unlock(arg);
    return true;
}

static void waiter_timeout(void *arg, uintptr_t seq, int64_t due)
{
    (void)seq;
    (void)due;
    pdwaiter *w = arg;
    struct gort__pd *pd = w->pd;
    pd_lock(pd);
    if (!w->done) {
        for (pdwaiter **pw = &pd->waiters; *pw; pw = &(*pw)->next)
            if (*pw == w) {
                *pw = w->next;
                break;
            }
        w->done = true;
        w->err = ETIMEDOUT;
        atomic_fetch_sub_explicit(&gort__np_waiting, 1, memory_order_relaxed);
        gort__goready(w->g);
    }
    pd_unlock(pd);
}

static struct pollfd pollfd_for(struct gort__pd *pd, int modes)
{
    struct pollfd p = {.fd = pd->fd, .events = 0};
    if (modes & GORT_READ)
        p.events |= POLLIN | POLLRDHUP;
    if (modes & GORT_WRITE)
        p.events |= POLLOUT;
    return p;
}

static int revents_modes(short re)
{
    int m = 0;
    if (re & (POLLIN | POLLRDHUP | POLLHUP | POLLERR))
        m |= GORT_READ;
    if (re & (POLLOUT | POLLHUP | POLLERR))
        m |= GORT_WRITE;
    return m;
}

/* A plain thread waits in poll(2) itself.  Returns ready modes (> 0), or
 * -errno. */
static int plain_wait(struct gort__pd *pd, int modes, int64_t until)
{
    for (;;) {
        int err = pd_err_any(pd, &modes);
        if (err)
            return -err;
        /* The fd's deadlines are watched here too: their timers run only
         * while the scheduler does (not before gort_run, for one). */
        int64_t now = gort__nanotime();
        int64_t end = until;
        for (int m = GORT_READ; m <= GORT_WRITE; m <<= 1) {
            if (!(modes & m))
                continue;
            int64_t d = atomic_load(m == GORT_READ ? &pd->rd : &pd->wd);
            if (d > 0 && d <= now) {
                modes &= ~m;
                if (!modes)
                    return -ETIMEDOUT;
            } else if (d > 0 && (end <= 0 || d < end)) {
                end = d;
            }
        }
        if (until > 0 && until <= now)
            end = now;
        struct pollfd p = pollfd_for(pd, modes);
        int ms = 20;
        if (end > 0) {
            int64_t left = end > now ? end - now : 0;
            if (left < 20 * GORT_MS)
                ms = (int)((left + GORT_MS - 1) / GORT_MS);
        }
        int r = poll(&p, 1, ms);
        if (r > 0) {
            if (p.revents & POLLNVAL)
                return -EBADF;
            int m = revents_modes(p.revents) & modes;
            if (m)
                return m;
        } else if (r < 0 && errno != EINTR) {
            return -errno;
        }
        if (until > 0 && gort__nanotime() >= until)
            return -ETIMEDOUT;
    }
}

/* Waits until pd is ready for one of modes, an error, or until (> 0,
 * gort_nanotime's clock).  level: look at the fd's state first (poll(2))
 * rather than only at edges.  Returns the ready modes (> 0), or -errno
 * (EBADF, ETIMEDOUT). */
int gort__pd_wait(struct gort__pd *pd, int modes, int64_t until, bool level)
{
    struct g *gp = gort__getg();
    if (!gp)
        return plain_wait(pd, modes, until);
    pd_lock(pd);
    int err = pd_err_any(pd, &modes);
    if (err) {
        pd_unlock(pd);
        return -err;
    }
    uint8_t r = atomic_load_explicit(&pd->ready, memory_order_relaxed) & modes;
    if (r) {
        atomic_fetch_and_explicit(&pd->ready, (uint8_t)~r, memory_order_relaxed);
        if (!level) {
            pd_unlock(pd);
            return r;
        }
        /* level: edges seen before may be stale; the fd's state now, just
         * below, decides (and an edge after it finds us waiting). */
    }
    if (level) {
        struct pollfd p = pollfd_for(pd, modes);
        int n = poll(&p, 1, 0);
        int m = n > 0 ? revents_modes(p.revents) & modes : 0;
        if (n > 0 && (p.revents & POLLNVAL)) {
            pd_unlock(pd);
            return -EBADF;
        }
        if (m) {
            pd_unlock(pd);
            return m;
        }
    }
    if (until > 0 && until <= gort__nanotime()) {
        pd_unlock(pd);
        return -ETIMEDOUT;
    }
    pdwaiter w = {.next = pd->waiters, .g = gp, .pd = pd,
                  .modes = (uint8_t)modes};
    gort__rtimer t = {.idx = -1, .f = waiter_timeout, .arg = &w};
    pd->waiters = &w;
    atomic_fetch_add_explicit(&gort__np_waiting, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&gort__np_nwaits, 1, memory_order_relaxed);
    if (until > 0)
        gort__timer_add(&t, until);
    gort__gopark(pd_park_commit, pd, waitReasonIOWait);
    if (until > 0) {
        /* Woken by an event or close: the timer may be firing; after
         * this, nothing touches w or t. */
        (void)gort__timer_del(&t);
        while (atomic_load_explicit(&t.running, memory_order_acquire) != 0)
            gort__osyield();
    }
    return w.err ? -w.err : (w.got ? w.got : modes);
}

/* ------------------------------------------------------------------------ */
/* For net.c                                                                */
/* ------------------------------------------------------------------------ */

int gort__pd_kind(struct gort__pd *pd, bool *sock, bool *stream)
{
    int k = atomic_load_explicit(&pd->kind, memory_order_acquire);
    *sock = pd->sock;
    *stream = pd->stream;
    switch (k) {
    case PD_POLL:
        return GORT__FD_POLL;
    case PD_BLOCKING:
        return GORT__FD_BLOCKING;
    default:
        return GORT__FD_FILE;
    }
}

int gort__pd_err(struct gort__pd *pd, int mode)
{
    int e = pd_err(pd, mode);
    if (e == 0 && !gort__getg()) {
        /* A plain thread: a deadline whose timer has not run (the
         * scheduler may not be running) has passed all the same. */
        int64_t d = atomic_load(mode == GORT_READ ? &pd->rd : &pd->wd);
        if (d > 0 && d <= gort__nanotime())
            e = ETIMEDOUT;
    }
    return e;
}

void gort__pd_wlock(struct gort__pd *pd)
{
    gort_mutex_lock(&pd->wmu);
}

void gort__pd_wunlock(struct gort__pd *pd)
{
    gort_mutex_unlock(&pd->wmu);
}

void gort__pd_clear_ready(struct gort__pd *pd, int mode)
{
    if (atomic_load_explicit(&pd->ready, memory_order_relaxed) & mode)
        atomic_fetch_and_explicit(&pd->ready, (uint8_t)~mode,
                                  memory_order_relaxed);
}

bool gort__pd_drained(struct gort__pd *pd)
{
    return atomic_load_explicit(&pd->rdrained, memory_order_relaxed);
}

void gort__pd_set_drained(struct gort__pd *pd, bool d)
{
    /* A short read that stopped at the peer's FIN (its edge consumed
     * before the read) leaves end-of-stream unread: with a hang-up seen,
     * always read. */
    if (d && atomic_load(&pd->hup))
        d = false;
    if (atomic_load_explicit(&pd->rdrained, memory_order_relaxed) != d)
        atomic_store_explicit(&pd->rdrained, d, memory_order_relaxed);
}

/* gort_wait_fd on a blocking-mode descriptor: register it (epoll does not
 * need O_NONBLOCK, and its mode stays as it is).  false: not pollable. */
bool gort__pd_ensure_registered(struct gort__pd *pd, int *err)
{
    pd_lock(pd);
    int r = pd_register_locked(pd);
    pd_unlock(pd);
    *err = r;
    return r == 0;
}

int gort__pd_set_deadline(struct gort__pd *pd, int64_t abs, int dirs)
{
    int64_t now = abs > 0 ? gort__nanotime() : 0;
    if (abs < 0)
        abs = 1;        /* "in the past" */
    pd_lock(pd);
    if (dirs & GORT_READ)
        deadline_set_locked(pd, GORT_READ, abs, now);
    if (dirs & GORT_WRITE)
        deadline_set_locked(pd, GORT_WRITE, abs, now);
    pd_unlock(pd);
    return 0;
}

/* fork child: the parent's poller is not ours; every pd is looked at
 * afresh on next use (goroutines waiting in the parent are gone here). */
void gort__netpoll_forked(void)
{
    if (atomic_load(&inited) != 1)
        return;
    gort__np_forked();
    atomic_store(&inited, 0);
    atomic_store(&initlock.key, 0);
    atomic_store(&gort__np_waiting, 0);
    atomic_store(&gort__np_polling, 0);
    for (int c = 0; c < NCHUNKS; c++) {
        struct gort__pd *ch = atomic_load(&chunks[c]);
        if (!ch)
            continue;
        for (int i = 0; i < CHUNK; i++) {
            struct gort__pd *pd = &ch[i];
            atomic_store(&pd->lock.key, 0);
            pd->waiters = NULL;
            pd->registered = false;
            atomic_store(&pd->ready, 0);
            if (atomic_load(&pd->kind) == PD_POLL)
                atomic_store(&pd->kind, PD_UNKNOWN);
        }
    }
}
