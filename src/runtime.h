/*
 * runtime.h — gort's core types: g (goroutine), m (OS thread), p (processor),
 * sudog (a goroutine waiting on an object), the global scheduler state, and
 * the internal interfaces every subsystem uses (gopark/goready, locks,
 * notes).  A reader who knows Go's src/runtime/runtime2.go should find the
 * same shapes here.
 *
 * Lock order (a lock may be taken while holding only locks above it):
 *
 *     timer.mu (time.c: a user timer's stop/reset/delivery)
 *       hchan.lock (chan.c; a select holds several, taken in address
 *         order) -- never held together with a sema bucket lock
 *       p.timerslock (time.c: a P's timer heap; two only in P-id order,
 *         when a retiring P's timers move)
 *     sema bucket lock (sema.c)
 *       sched.lock            (proc.c: idle lists, global run queue, allgs)
 *         sched.gflock        (g.c: global free G list)
 *           stackpool.lock    (stack.c: global stack pool)
 *
 * trace.lock (trace.c: the event buffer pool) is a leaf: the trace hooks
 * take it under any of the locks above, and nothing is taken inside it.
 *
 * A timer's callback runs with no timer lock held (time.c).
 *
 * Runtime locks are never held across a goroutine switch except the one a
 * gopark hands to its unlock function, which g0 releases after the parking
 * goroutine's context is saved.  No runtime lock is held while calling user
 * code.
 *
 * Status words: g.status is written by the owner of the G in that state
 * (see the _G* comments); transitions _Gwaiting -> _Grunnable happen only
 * in goready, by whoever took the G out of the wait structure it was
 * recorded in (under that structure's lock), so each wake-up happens once.
 */
#ifndef GORT_RUNTIME_H
#define GORT_RUNTIME_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "../include/gort.h"
#include "sanitizer.h"

/* GORT__SAN(stmt): a call into sanitizer.h that needs the sanitizer-only
 * fields of g and m; nothing at all in a normal build. */
#ifdef GORT_SAN_ANY
#define GORT__SAN(...) __VA_ARGS__
#else
#define GORT__SAN(...)
#endif

/* A field its owner writes but sysmon (or a prefetch hint) reads without
 * the owner's synchronisation: both sides use relaxed atomics, the same
 * plain moves on x86_64 and aarch64, and a race C11 and TSan accept. */
#define GORT__RELAXED_STORE(lv, v) __atomic_store_n(&(lv), (v), __ATOMIC_RELAXED)
#define GORT__RELAXED_LOAD(lv) __atomic_load_n(&(lv), __ATOMIC_RELAXED)

/* Starts fetching the top of a parked goroutine's stack, the lines it
 * touches first when it resumes: the registers switch.S saved and the
 * runtime frames it returns through (a sleeper parked in gort_sleep uses
 * ~200 bytes, four lines; each is a cache miss with many goroutines, and
 * the page's first touch a TLB miss).  A hint: a stale sp only wastes a
 * fetch, and prefetches do not fault. */
#define GORT__PARKED_STACK_LINES 4
static inline void gort__prefetch_parked_stack(const void *sp)
{
    /* No test for NULL (a prefetch of page 0 is dropped harmlessly): with
     * one, GCC 12 deletes these prefetches outright. */
    uintptr_t a = (uintptr_t)sp & ~(uintptr_t)63;   /* integers: no UB */
    for (int i = 0; i < GORT__PARKED_STACK_LINES; i++)
        __builtin_prefetch((const void *)(a + 64 * (uintptr_t)i));
}

/* Internal non-static names are gort__*; visibility is hidden by the
 * build (-fvisibility=hidden), this makes it explicit. */
#define GORT_INTERNAL __attribute__((visibility("hidden")))

struct g;
struct m;
struct p;

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------------------ */
/* Low-level locks and notes (lock_futex.c)                                 */
/* ------------------------------------------------------------------------ */

/* A runtime mutex: spins briefly, then sleeps on a futex.  It blocks the
 * thread, never parks a goroutine; hold it only for short critical
 * sections that cannot switch goroutines. */
typedef struct gort__mutex {
    _Atomic uint32_t key;   /* 0 unlocked, 1 locked, 2 locked with sleepers */
} gort__mutex;
GORT_INTERNAL void gort__lock(gort__mutex *l);
GORT_INTERNAL void gort__unlock(gort__mutex *l);

/* A one-shot event (Go's note): one sleeper, one waker.  Clear before
 * reuse. */
typedef struct gort__note {
    _Atomic uint32_t key;
} gort__note;
GORT_INTERNAL void gort__noteclear(gort__note *n);
GORT_INTERNAL void gort__notewakeup(gort__note *n);
GORT_INTERNAL void gort__notesleep(gort__note *n);

GORT_INTERNAL void gort__futexsleep(_Atomic uint32_t *addr, uint32_t val,
                                    int64_t ns);
GORT_INTERNAL void gort__futexwakeup(_Atomic uint32_t *addr, int cnt);
GORT_INTERNAL void gort__osyield(void);
GORT_INTERNAL void gort__procyield(int cycles);
GORT_INTERNAL void gort__usleep(int64_t us);

/* ------------------------------------------------------------------------ */
/* Stacks (stack.c)                                                         */
/* ------------------------------------------------------------------------ */

enum {
    STK_GUARD_MADV = 1,     /* guard page installed with MADV_GUARD_INSTALL */
    STK_GUARD_MPROT = 2,    /* guard page made PROT_NONE (splits a VMA) */
    STK_CANARY = 4,         /* no guard page: canary words at the bottom */
    STK_POOLED = 8,         /* default size, from a slab, recycled */
};

typedef struct gort__stack {
    uintptr_t lo;           /* lowest usable byte (above the guard page) */
    uintptr_t hi;           /* one past the highest byte */
    uint32_t flags;
    uint32_t vgid;          /* Valgrind's stack id (sanitizer.h), else 0 */
    struct gort__slab *slab; /* pooled stacks: the slab they belong to */
} gort__stack;

#define GORT__STACK_CANARY 0x676f72745354414bULL /* "gortSTAK" */

/* Stack credit: gort_go reserves a default stack before it returns, so that
 * a goroutine that has not started yet need not hold one yet never finds
 * none (see stack.c). */
GORT_INTERNAL int gort__stack_reserve(struct p *pp);
GORT_INTERNAL void gort__stack_unreserve(struct p *pp);
/* Takes a reserved default stack (g0 only, with a P). */
GORT_INTERNAL int gort__stack_get_reserved(struct p *pp, gort__stack *out);
GORT_INTERNAL bool gort__stack_take_cached(struct p *from, gort__stack *out);
/* Goroutines waiting for a stack that sits in some busy P's cache: while
 * non-zero, a P that frees a stack gives its whole cache back. */
GORT_INTERNAL extern _Atomic int gort__stack_wanted;
GORT_INTERNAL int gort__stack_alloc_sized(size_t size, gort__stack *out);
GORT_INTERNAL void gort__stack_free(struct p *pp, gort__stack *s);
GORT_INTERNAL void gort__stack_flush_cache(struct p *pp);
GORT_INTERNAL bool gort__stack_return_pages(int64_t now, bool all);
GORT_INTERNAL void gort__stack_init(void);
GORT_INTERNAL bool gort__stack_canary_words_ok(const gort__stack *s);
/* False when s has canary words (no guard page) and they were overwritten.
 * Inline: every switch asks, and most stacks have a guard instead. */
static inline bool gort__stack_canary_ok(const gort__stack *s)
{
    return likely(!(s->flags & STK_CANARY)) || gort__stack_canary_words_ok(s);
}
/* For tests/diagnostics: the guard mode in use ("madvise", "mprotect",
 * "canary"). */
GORT_INTERNAL const char *gort__stack_guard_mode(void);

/* ------------------------------------------------------------------------ */
/* Timers (time.c)                                                          */
/* ------------------------------------------------------------------------ */

/* A runtime timer (Go's timer): f(arg, seq, due) runs when `when` (due)
 * has
 * passed, on some M with a P (no lock held, never on a goroutine's own
 * behalf).  period > 0 re-arms it every period.  when, period, idx and pp
 * are written only under the timerslock of the P whose heap holds it
 * (pp; NULL when in no heap). */
typedef struct gort__rtimer {
    int64_t when;
    int64_t period;
    void (*f)(void *arg, uintptr_t seq, int64_t due);
    void *arg;
    _Atomic uintptr_t seq;      /* bumped by stop/reset: stale deliveries */
    _Atomic(struct p *) pp;     /* heap it is in, NULL if none */
    _Atomic uint32_t firedseq;  /* (seq + 1) of the last arming that fired,
                                   truncated */
    int32_t idx;                /* its index in that heap, or -1 */
    uint32_t fpos;              /* its position in the FIFO (infifo) */
    _Atomic uint16_t running;   /* callbacks in flight */
    bool infifo;                /* in that P's FIFO instead of the heap */
} gort__rtimer;                 /* 64 bytes: one cache line */

struct gort__timerwhen {
    int64_t when;
    gort__rtimer *t;
};

/* A slot of a P's FIFO of in-order timers (time.c): the timer, its when,
 * and for a goroutine's sleep timer the goroutine's saved stack pointer,
 * so that the timers due next can have their stacks fetched straight from
 * this sequential array, without first loading their (cold) G. */
struct gort__fifoslot {
    int64_t when;
    gort__rtimer *t;
    const void *stackhint;      /* the sleeper's saved sp, or NULL */
};

/* Arms t (in no heap) to fire at when: on the current P's heap, or some
 * P's when called without one. */
GORT_INTERNAL void gort__timer_add(gort__rtimer *t, int64_t when);
/* Takes t out of its heap; true if it was in one (pending). */
GORT_INTERNAL bool gort__timer_del(gort__rtimer *t);
/* Runs pp's expired timers (now == 0: reads the clock if needed).
 * Returns the next when of pp's heap (0: empty); *ran counts callbacks. */
GORT_INTERNAL int64_t gort__checktimers(struct p *pp, int64_t now, int *ran);
/* The earliest when over all Ps' heaps (0: no timers). */
GORT_INTERNAL int64_t gort__timesleepuntil(void);
/* Moves the timers of a retiring P to another P. */
GORT_INTERNAL void gort__movetimers(struct p *from, struct p *to);
/* The goroutine's gort_after timer, freed when it ends. */
GORT_INTERNAL void gort__after_release(struct g *gp);

/* ------------------------------------------------------------------------ */
/* Netpoller (netpoll.c; backend netpoll_epoll.c; public calls net.c)       */
/* ------------------------------------------------------------------------ */

/* The backend contract: see the top of netpoll_epoll.c. */
typedef struct gort__np_event {
    uint64_t tag;               /* as given to gort__np_open */
    uint8_t mode;               /* GORT_READ | GORT_WRITE | GORT__NP_HUP */
} gort__np_event;
#define GORT__NP_HUP 4          /* hang-up or error: no more data will come */
GORT_INTERNAL int gort__np_init(void);
GORT_INTERNAL int gort__np_open(int fd, uint64_t tag);
GORT_INTERNAL int gort__np_close(int fd);
GORT_INTERNAL int gort__np_wait(int64_t delay, gort__np_event *ev, int max);
GORT_INTERNAL void gort__np_break(void);
GORT_INTERNAL void gort__np_forked(void);

GORT_INTERNAL extern _Atomic int32_t gort__np_waiting;  /* parked on pds */
GORT_INTERNAL extern _Atomic uint32_t gort__np_polling; /* a poll(0) runs */
GORT_INTERNAL extern _Atomic uint64_t gort__np_polls;   /* polls so far */
GORT_INTERNAL extern _Atomic uint64_t gort__np_nwaits;  /* parks so far */
GORT_INTERNAL bool gort__netpoll_inited(void);
/* Polls (delay: < 0 block, 0 not, > 0 ns); the readied goroutines, still
 * _Gwaiting, linked by schedlink; *n counts them. */
GORT_INTERNAL struct g *gort__netpoll(int64_t delay, int *n);
GORT_INTERNAL void gort__netpoll_break(void);
GORT_INTERNAL void gort__netpoll_forked(void);
/* Makes a list from gort__netpoll runnable and queues it (proc.c). */
GORT_INTERNAL void gort__injectglist(struct g *list, int n);
/* sysmon: a non-blocking poll when nobody polled for 10 ms (proc.c). */
GORT_INTERNAL void gort__sysmon_netpoll(void);

struct gort__pd;
enum { GORT__FD_POLL = 1, GORT__FD_BLOCKING, GORT__FD_FILE };
GORT_INTERNAL struct gort__pd *gort__pd_acquire(int fd, bool io);
GORT_INTERNAL void gort__pd_release(struct gort__pd *pd);
GORT_INTERNAL int gort__pd_new(int fd, bool stream);
GORT_INTERNAL int gort__pd_kind(struct gort__pd *pd, bool *sock, bool *stream);
GORT_INTERNAL int gort__pd_err(struct gort__pd *pd, int mode);
GORT_INTERNAL int gort__pd_wait(struct gort__pd *pd, int modes, int64_t until,
                                bool level);
GORT_INTERNAL void gort__pd_clear_ready(struct gort__pd *pd, int mode);
GORT_INTERNAL void gort__pd_wlock(struct gort__pd *pd);
GORT_INTERNAL void gort__pd_wunlock(struct gort__pd *pd);
GORT_INTERNAL bool gort__pd_drained(struct gort__pd *pd);
GORT_INTERNAL void gort__pd_set_drained(struct gort__pd *pd, bool d);
GORT_INTERNAL bool gort__pd_ensure_registered(struct gort__pd *pd, int *err);
GORT_INTERNAL int gort__pd_set_deadline(struct gort__pd *pd, int64_t abs,
                                        int dirs);

/* ------------------------------------------------------------------------ */
/* Goroutines                                                               */
/* ------------------------------------------------------------------------ */

/* G status, with Go's numbering (schedtrace and dumps print these). */
enum {
    _Gidle = 0,     /* just allocated, not yet initialised */
    _Grunnable = 1, /* on a run queue; not executing; owned by the queue */
    _Grunning = 2,  /* executing on an M with a P; owned by that M */
    _Gsyscall = 3,  /* in a blocking system call; owned by its M */
    _Gwaiting = 4,  /* parked; recorded in some wait structure (a sudog on
                       a sema queue, ...), whose owner readies it */
    _Gpreempted = 9,/* (dumps only) stopped by asynchronous preemption */
    _Gdead = 6,     /* finished; on a free list or being reused */
};

/* Wait reasons (Go's waitReason), one table: name, string. */
#define GORT_WAIT_REASONS(X)                                   \
    X(waitReasonZero, "")                                      \
    X(waitReasonGoroutineStart, "goroutine start")             \
    X(waitReasonSyncMutexLock, "sync.Mutex.Lock")              \
    X(waitReasonSyncRWMutexRLock, "sync.RWMutex.RLock")        \
    X(waitReasonSyncRWMutexLock, "sync.RWMutex.Lock")          \
    X(waitReasonSyncWaitGroupWait, "sync.WaitGroup.Wait")      \
    X(waitReasonSyncCondWait, "sync.Cond.Wait")                \
    X(waitReasonSemacquire, "semacquire")                      \
    X(waitReasonChanReceive, "chan receive")                   \
    X(waitReasonChanSend, "chan send")                         \
    X(waitReasonSelect, "select")                              \
    X(waitReasonSelectNoCases, "select (no cases)")            \
    X(waitReasonChanReceiveNilChan, "chan receive (nil chan)") \
    X(waitReasonChanSendNilChan, "chan send (nil chan)")       \
    X(waitReasonSleep, "sleep")                                \
    X(waitReasonIOWait, "IO wait")                             \
    X(waitReasonPreempted, "preempted")

enum {
#define X(name, str) name,
    GORT_WAIT_REASONS(X)
#undef X
    waitReasonCount
};
GORT_INTERNAL const char *gort__waitreason_string(int r);

struct m;
struct p;
struct sudog;

typedef struct g {
    /* The first three cache lines hold what a switch, a park and a sleep
     * touch (with 100,000 sleepers each line is a miss); the rest is cold.
     * Saved stack pointer while not running: the switch (switch.S) pushed
     * the callee-saved registers below it.  Offset 0: asm relies on it. */
    void *sp;
    _Atomic uint32_t status;    /* _G* above */
    uint8_t waitreason;
    _Atomic bool preempt;       /* asked to yield at its next check */
    bool stack_reserved;        /* holds a stack credit, no stack yet */
    /* Preemption (preempt.c, syscall.c): wired to its M by the runtime
     * until it next runs (resumes where it was interrupted). */
    bool runtimelocked;
    uint32_t nspawn;            /* goroutines created since it last switched */
    int saved_errno;            /* errno while switched out */
    struct m *m;                /* M running it, while _Grunning/_Gsyscall */
    struct m *lockedm;          /* thread it is wired to */
    uint64_t gen;               /* gort_run generation it belongs to */
    struct g *schedlink;        /* run queue / free list link */
    int64_t sleepwhen;          /* gort_sleep's deadline */
    gort__stack stack;          /* lo == 0: no stack yet */
    struct gort__tls tls;       /* scope/panic chain while switched out */
    /* Time (time.c): the timer gort_sleep parks on. */
    _Alignas(64) gort__rtimer sleeptimer;
    /* Cold. */
    int64_t goid;
    uint32_t lockedcount;       /* nesting of gort_lock_os_thread */
    bool rescued;               /* in a syscall sysmon rescued */
    void (*fn)(void *);
    void *arg;
    int64_t waitsince;          /* when it parked or entered a system call,
                                   from sysmon's coarse clock (0: not
                                   recorded); dumps print the minutes */
    uintptr_t gopc;             /* return address of the gort_go that made
                                   it ("created by" in dumps) */
    /* Where a goroutine in a system call left its own code, for dumps:
     * the return address into it and its frame pointer (syscall.c; a
     * rescued call: the interrupted pc + 1 and frame pointer). */
    uintptr_t syscallpc, syscallfp;
    void *sigframe;             /* async preemption: the signal frame copy
                                   it was interrupted with, while it waits
                                   (the dump unwinds through it) */
    void *param;                /* value passed by the waker */
    char *name;                 /* gort_attr.name copy, or NULL */
    size_t stack_size_req;      /* 0 = default pooled stack */
    struct gort_timer *after;   /* gort_after's timer */
#ifdef GORT_SAN_ANY
    void *san_fake;             /* ASan fake stack while switched out */
    void *san_fiber;            /* TSan fiber (sanitizer.h) */
#endif
    /* The execution trace (trace.c): the flow id of the wake-up its next
     * start ends (0: none), the trace that wake-up was recorded in, and
     * its wake-up count. */
    uint32_t traceflow, traceflowgen, traceflowseq;
    uint32_t tracegen;          /* trace.c: the trace that knows its fn */
} g_t;

/* A goroutine (or a plain thread) waiting on an object: the node a wait
 * queue links.  Lives on the waiter's stack for the duration of the wait. */
typedef struct sudog {
    struct g *g;                /* the waiting goroutine, or NULL ... */
    gort__note *note;           /* ... and a note when a thread waits */
    struct sudog *next, *prev;
    void *elem;                 /* data element (channels) */
    uintptr_t key;              /* address waited on (sema) */
    uint32_t ticket;
    int64_t acquiretime;
    bool ok;
    /* Channels (chan.c, select.c); all under the lock of channel c. */
    struct gort_chan *c;            /* the channel this sudog is queued on */
    bool isselect;                  /* one of a select's sudogs */
    bool success;                   /* woken by a value (true) or by close */
    struct sudog *waitlink;         /* select: next sudog of the same
                                       select, in lock order */
    struct sudog *readylink;        /* close: next waiter to wake once the
                                       channel lock is dropped */
    _Atomic(uintptr_t) *selectdone; /* select: the select's claim word, on
                                       its stack (Go's g.selectDone): 0,
                                       then the winning sudog */
} sudog;

/* ------------------------------------------------------------------------ */
/* Ms and Ps                                                                */
/* ------------------------------------------------------------------------ */

#define GORT__TB_MAX 64             /* frames a dump shows of a goroutine */

typedef struct m {
    int64_t id;
    void *g0sp;                 /* saved scheduler context (thread stack) */
    int *errnop;                /* this thread's errno (the switch saves
                                   and restores a goroutine's through it) */
    struct g *curg;             /* goroutine running on this M */
    struct p *p;                /* attached P, NULL when none */
    struct p *nextp;            /* P handed over by whoever woke us */
    bool spinning;              /* looking for work, counted in nmspinning */
    bool blocked;               /* sleeping on park */
    bool exiting;               /* thread leaves after its locked g ended */
    gort__note park;
    struct m *schedlink;        /* idle M list (sched.lock) */
    struct m *alllink;          /* list of all Ms (sched.lock) */
    struct g *lockedg;          /* goroutine wired to this M */
    /* The deferred half of a switch: what to do with the goroutine that
     * just switched away (actg), done by whoever runs next on this M once
     * actg's registers are saved (see gort__gswitch). */
    int act;
    struct g *actg;
    struct g *handoffg;         /* a G for g0 to run next (slow cases) */
    bool (*waitunlockf)(struct g *, void *);
    void *waitlock;
    uint32_t fastrand[2];
    pthread_t thread;
    pid_t procid;
    /* System calls (syscall.c): the P it left, and its syscalltick then. */
    struct p *oldp;
    uint32_t syscalltick;
    int insyscall;              /* nesting of gort_syscall_enter */
    /* Preemption (preempt.c): what sysmon asked (PREEMPT_* bits), and a
     * signal is on its way (coalesces signals, Go's signalPending). */
    _Atomic uint32_t preemptreq;
    _Atomic uint32_t signalpending;
    /* > 0 while this M is in a call out of gort that the program may
     * replace (gort__malloc & co., below): no async preemption there. */
    _Atomic uint32_t nopreempt;
    /* The blocking call sysmon saw this M in (for a rescue). */
    long rescue_nr;
    uintptr_t rescue_args[6];
    /* A goroutine dump asked this M (PREEMPT_DUMP) for the frames of the
     * goroutine it runs; its SIGURG handler fills these, then sets
     * dumpack (traceback.c). */
    _Atomic uint32_t dumpack;
    int32_t dumpn;
    int64_t dumpgoid;
    uintptr_t dumppc[GORT__TB_MAX];
#ifdef GORT_SAN_ANY
    uintptr_t g0lo, g0hi;       /* the thread's stack, for ASan */
    void *g0fake;               /* g0's ASan fake stack while switched out */
    void *g0fiber;              /* g0's TSan fiber: the thread's own */
#endif
} m_t;

enum { _Pidle = 0, _Prunning = 1, _Psyscall = 2, _Pgcstop = 3, _Pdead = 4 };

#define RUNQ_SIZE 256
#define GFREE_MAX 64
#define STKCACHE_MAX 32

typedef struct p {
    int32_t id;
    _Atomic uint32_t status;
    struct m *m;                /* back-link to the M using it */
    struct p *link;             /* idle P list (sched.lock) */
    uint32_t schedtick;         /* incremented on every non-runnext start */
    uint32_t syscalltick;
    _Atomic uint64_t nschedtick; /* 64-bit copy for gort_proc_stats */
    _Atomic uint64_t nsteal;
    int64_t goidcache, goidcacheend;
    /* A G was readied into runnext without waking an idle P (proc.c,
     * "lazy wake-up"): set and cleared by the owner, cleared by sysmon
     * (CAS) when it makes the wake-up itself. */
    _Atomic bool wakepending;

    /* Local run queue: Go's lock-free ring.  Only the owner writes tail and
     * slots; anyone may advance head with a CAS.  runnext: only the owner
     * sets it to a G; thieves CAS it to NULL, the owner takes it with
     * plain stores inside its runnextbusy window unless a thief announced
     * itself in runnextsteal (runq.h, "runnext without an RMW"). */
    _Atomic uint32_t runqhead;
    _Atomic uint32_t runqtail;
    _Atomic(struct g *) runq[RUNQ_SIZE];
    _Atomic(struct g *) runnext;
    _Atomic uint32_t runnextbusy;   /* owner only */
    _Atomic uint32_t runnextsteal;  /* thieves at work on runnext */

    /* Free dead Gs (no stacks) and free default stacks: owner only. */
    struct g *gfree[GFREE_MAX]; /* dead Gs, an array: popping one touches
                                   no G, so the next ones can be
                                   prefetched ahead of use */
    int32_t gfreecnt;
    gort__stack stkcache[STKCACHE_MAX];
    int32_t nstkcache;
    int32_t stkcredit;          /* this P's share of the stack credit */
    struct gort__deferchunk *deferpool; /* free defer chunks (owner) */
    int32_t ndeferpool;
    /* Goroutines created / ended on this P (owner writes, anyone reads):
     * their difference summed over Ps is the goroutine count. */
    _Atomic int64_t ncreated, nended;

    /* Timers (time.c): a 4-ary min-heap on when, under timerslock;
     * timer0when mirrors heap[0]->when (0: empty) for lock-free looks. */
    _Alignas(64) gort__mutex timerslock;
    struct gort__timerwhen *timers; /* {when, timer}: sifting reads only
                                       this array, never the timers */
    int32_t ntimers, captimers;
    /* Timers armed in order of when (every sleep of the same length) go
     * to a FIFO ring instead: O(1) in, O(1) out, sequential memory.  A
     * stopped one leaves a hole (t == NULL), skipped at the head. */
    struct gort__fifoslot *fifo;
    uint32_t fhead, ftail, fcap;    /* positions count up; slot = & (fcap-1) */
    _Atomic int64_t timer0when;

    /* sysmon's view (sysmon.c only). */
    uint32_t timercheck;        /* direct switches since a timer look */
    uint32_t sm_schedtick, sm_syscalltick;
    uint64_t sm_wakeswitch;     /* nswitch when a pending wake-up was seen */
    int64_t sm_schedwhen, sm_syscallwhen, sm_probewhen;
    int64_t sm_runwhen;         /* last probe found its thread running */

    /* Counters for gort_read_stats (stats.c), each written only by the M
     * holding this P (relaxed load + store, no read-modify-write), read by
     * anyone: goroutine starts (every switch to a G, runnext included),
     * parks, preemptions (cooperative, by signal), P hand-offs by
     * gort_syscall_enter.  ntimerfired is written under timerslock.  On
     * lines of their own at the end, so that the layout of the fields
     * above (run queue heads and tails that thieves touch) is as before. */
    _Alignas(64) _Atomic uint64_t nswitch, npark;
    _Atomic uint64_t npreempt_coop, npreempt_async, nsyscallhandoff;
    _Atomic uint64_t ntimerfired;
} p_t;

/* The global run queue: a ring of G pointers (sched.lock).  Moving Gs in
 * and out copies pointers and touches no G: a chain through the Gs made
 * the P taking a batch miss the cache once per G, one miss after the
 * other (a tenth of skynet's time).  The ring never fills: its capacity
 * is kept at least the number of Gs that exist (gort__allgadd grows it
 * with allgs, where a failure makes gort_go fail), and a G is in at most
 * one queue. */
typedef struct gqueue {
    struct g **v;               /* cap slots, cap a power of two */
    uint64_t head, tail;        /* free-running; slot = counter & (cap-1) */
    uint64_t cap;
    int64_t size;               /* tail - head */
} gqueue;

typedef struct schedt {
    /* Read on every switch and wakep, written rarely: kept on lines of
     * their own, away from the lines that every lock or queue operation
     * writes (false sharing cost a miss per spawn on two CPUs). */
    _Alignas(64) _Atomic int32_t gomaxprocs;
    _Atomic bool exiting;       /* main returned; Ms park */
    _Atomic uint64_t gen;       /* bumps on every gort_run */
    int32_t nallp;              /* Ps allocated (allp[0..nallp)) */
    bool started;               /* a gort_run is in progress */
    bool launching;             /* ... and has not started main's M yet */
    bool main_started;

    _Alignas(64) _Atomic int32_t npidle;    /* idle Ps */
    _Atomic int32_t nmspinning;

    _Alignas(64) _Atomic int64_t runqsize;  /* mirror of runq.size */

    _Alignas(64) _Atomic int64_t goidgen;

    _Alignas(64) gort__mutex lock;
    struct m *midle;            /* idle Ms */
    int32_t nmidle;
    int32_t nmidlelocked;       /* Ms blocked waiting for their locked G */
    int64_t mnext;              /* Ms created so far; next M id */
    int32_t nmfreed;            /* Ms that exited */
    int32_t maxmcount;
    struct m *allm;
    struct p *pidle;            /* idle Ps */
    gqueue runq;                /* global run queue */

    _Alignas(64) gort__mutex gflock;    /* global free G list */
    struct gbatch *gfree;       /* batches of dead Gs */
    struct gbatch *gbfree;      /* empty batch records */
    _Atomic int32_t ngfree;     /* read without the lock as a hint */

    _Alignas(64) struct p *allp[GORT_MAXPROCS_MAX];

    _Atomic int64_t ncreated_noP;   /* Gs created by plain threads */
    int64_t old_alive;              /* Gs of older generations at start */
    _Atomic int64_t nprecreated;    /* created between runs, for the next */
    _Atomic int32_t nforeign;       /* plain threads that used gort objects */

    /* The timer sleeper (proc.c): at most one idle M sleeps until the
     * next timer (Go's M blocked in netpoll); waking it = pollwake. */
    _Alignas(64) _Atomic uint32_t pollsleeping;
    _Atomic int64_t polluntil;
    _Atomic uint32_t pollwake;

    /* sysmon (sysmon.c) */
    _Atomic uint32_t sysmonwait;    /* in deep sleep on sysmonnote */
    _Atomic uint32_t sysmonnote;    /* futex word */

    gort__note main_done;       /* the gort_run caller sleeps here */
    int main_goexited;          /* goroutine 1 called gort_goexit */
    struct g *maing;            /* the current run's main goroutine */

    /* all Gs ever allocated, for checkdead and dumps (sched.lock) */
    struct g **allgs;
    size_t nallgs, capallgs;
} schedt;

GORT_INTERNAL extern schedt gort__sched;

/* allp[i] for a reader without sched.lock (sysmon, thieves, dumps):
 * allocp publishes a new P with a release store. */
static inline struct p *gort__allp(int32_t i)
{
    return __atomic_load_n(&gort__sched.allp[i], __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------------ */
/* Thread-local state.  After a switch the caller may be on another thread, */
/* so the M is read afresh at each call, never through an address the      */
/* compiler computed before a switch and kept in a register or on the       */
/* stack.  x86_64 and aarch64: inline, one volatile asm that reads from the */
/* thread pointer at the point it stands (initial-exec: the offset from the */
/* GOT, a constant once ld links an executable); "memory" orders it like    */
/* the call it replaces.  Elsewhere: non-inlinable accessors with a         */
/* compiler barrier.                                                        */
/* ------------------------------------------------------------------------ */

#if (defined(__x86_64__) || defined(__aarch64__)) && defined(__GNUC__)
#define GORT__INLINE_TLS 1
GORT_INTERNAL extern __thread __attribute__((tls_model("initial-exec")))
struct m *gort__tls_m;
static inline __attribute__((always_inline)) struct m *gort__getm(void)
{
    struct m *mp;
#if defined(__x86_64__)
    __asm__ __volatile__("movq gort__tls_m@gottpoff(%%rip), %0\n\t"
                         "movq %%fs:(%0), %0"
                         : "=r"(mp)
                         :
                         : "memory");
#else
    void *off;
    __asm__ __volatile__("adrp %1, :gottprel:gort__tls_m\n\t"
                         "ldr %1, [%1, #:gottprel_lo12:gort__tls_m]\n\t"
                         "mrs %0, tpidr_el0\n\t"
                         "ldr %0, [%0, %1]"
                         : "=&r"(mp), "=&r"(off)
                         :
                         : "memory");
#endif
    return mp;
}
static inline __attribute__((always_inline)) struct g *gort__getg(void)
{
    struct m *mp = gort__getm();
    return mp ? mp->curg : NULL;   /* curg of this M; NULL if none */
}
#else
GORT_INTERNAL struct m *gort__getm(void);
GORT_INTERNAL struct g *gort__getg(void); /* curg of this M; NULL if none */
#endif
GORT_INTERNAL void gort__setm(struct m *mp);

/* ------------------------------------------------------------------------ */
/* Calls out of gort to code the program may replace                        */
/* ------------------------------------------------------------------------ */

/* gort calls the allocator, the memory calls and pthread_create, often
 * with a runtime lock held; the program may replace any of them (its own
 * malloc, jemalloc by LD_PRELOAD, ld --wrap as the fault tests do), and
 * that code lies outside gort's text and the system libraries, where the
 * SIGURG handler sees a safe point.  Preempted there, the goroutine would
 * be switched out holding the lock, and the next goroutine on that M to
 * want it would wait for ever.  So every such call goes through these,
 * which mark the M (m.nopreempt) for the handler (preempt.c).  Only the
 * M's own thread writes the count; its signal handler reads it.  errno is
 * the callee's.  `make check-outcalls` (part of `make test`) fails on a
 * direct call in src/. */
static inline struct m *gort__outcall_enter(void)
{
    struct m *mp = gort__getm();
    if (mp)
        atomic_store_explicit(&mp->nopreempt,
                              atomic_load_explicit(&mp->nopreempt,
                                                   memory_order_relaxed) + 1,
                              memory_order_relaxed);
    return mp;
}
static inline void gort__outcall_exit(struct m *mp)
{
    if (mp)
        atomic_store_explicit(&mp->nopreempt,
                              atomic_load_explicit(&mp->nopreempt,
                                                   memory_order_relaxed) - 1,
                              memory_order_relaxed);
}
#define GORT__OUTCALL(type, expr)                                          \
    ({                                                                     \
        struct m *gort__oc_m = gort__outcall_enter();                      \
        type gort__oc_r = (expr);                                          \
        gort__outcall_exit(gort__oc_m);                                    \
        gort__oc_r;                                                        \
    })
#define gort__malloc(n) GORT__OUTCALL(void *, malloc(n))
#define gort__calloc(n, sz) GORT__OUTCALL(void *, calloc((n), (sz)))
#define gort__realloc(p, n) GORT__OUTCALL(void *, realloc((p), (n)))
#define gort__aligned_alloc(a, n) GORT__OUTCALL(void *, aligned_alloc((a), (n)))
#define gort__strdup(s) GORT__OUTCALL(char *, strdup(s))
#define gort__free(p)                                                      \
    do {                                                                   \
        struct m *gort__oc_m = gort__outcall_enter();                      \
        free(p);                                                           \
        gort__outcall_exit(gort__oc_m);                                    \
    } while (0)
#define gort__mmap(a, n, prot, fl, fd, off)                                \
    GORT__OUTCALL(void *, mmap((a), (n), (prot), (fl), (fd), (off)))
#define gort__munmap(a, n) GORT__OUTCALL(int, munmap((a), (n)))
#define gort__mprotect(a, n, prot) GORT__OUTCALL(int, mprotect((a), (n), (prot)))
#define gort__madvise(a, n, adv) GORT__OUTCALL(int, madvise((a), (n), (adv)))
#define gort__pthread_create(t, attr, fn, arg)                             \
    GORT__OUTCALL(int, pthread_create((t), (attr), (fn), (arg)))

/* ------------------------------------------------------------------------ */
/* Context switch (arch/<arch>/switch.S)                                    */
/* ------------------------------------------------------------------------ */

/* Saves the callee-saved registers and FP control words on the current
 * stack, stores the stack pointer in *save_sp, loads new_sp and restores
 * what was saved there.  Returns on the other context. */
GORT_INTERNAL void gort__swapctx(void **save_sp, void *new_sp);
/* Builds the initial frame of a new goroutine at the top of [lo, hi):
 * the first switch to the returned sp calls gort__goentry(gp). */
GORT_INTERNAL void *gort__makectx(uintptr_t hi, struct g *gp);
/* Entered on a new goroutine's stack; never returns. */
GORT_INTERNAL _Noreturn void gort__goentry(struct g *gp);

/* ------------------------------------------------------------------------ */
/* Scheduler (proc.c)                                                       */
/* ------------------------------------------------------------------------ */

/* What a goroutine switching away asks to be done with it. */
enum { ACT_NONE = 0, ACT_PARK, ACT_YIELD, ACT_YIELD_GLOBAL, ACT_EXIT,
       ACT_OVERFLOW /* out of stack (no guard page): g0 reports it */ };
/* Switches the current goroutine away: straight to the next G of the
 * local run queue when there is one and nothing special is going on, else
 * to g0's scheduler loop.  The act is carried out on the goroutine after
 * its registers are saved, by whatever runs next on this M (never before:
 * another M could otherwise resume it on a half-saved context).  Returns
 * when the goroutine runs again (not for ACT_EXIT). */
GORT_INTERNAL void gort__gswitch(int act);
/* Carries out a pending act; the first thing after every switch. */
GORT_INTERNAL void gort__afterswitch(struct m *mp);

/* Parks the current goroutine with a wait reason.  unlockf(gp, lock), when
 * given, runs on g0 after the goroutine's context is saved; returning false
 * resumes the goroutine at once.  The goroutine stays parked until
 * gort__goready. */
GORT_INTERNAL void gort__gopark(bool (*unlockf)(struct g *, void *),
                                void *lock, int reason);
/* Makes a parked goroutine runnable: into the current P's runnext (the
 * global queue from a thread without a P), and wakes an idle P. */
GORT_INTERNAL void gort__goready(struct g *gp);

/* Puts the current goroutine on the tail of its P's local run queue and
 * schedules (Go's goyield, used by handoff wake-ups). */
GORT_INTERNAL void gort__goyield(void);
/* Called by gort_go after queueing a goroutine: if the P's run queue is
 * nearly full, the creator steps aside (to the global queue) and the
 * goroutines it made run first, on this P while their memory is hot. */
GORT_INTERNAL void gort__spawn_backpressure(struct m *mp);
/* Go's sync_runtime_canSpin: may a lock spin (iteration i) before
 * parking?  Only on multicore with other Ps busy and an empty local queue. */
GORT_INTERNAL bool gort__canspin(int i);
GORT_INTERNAL void gort__dospin(void);
/* Marks the calling plain thread (not a goroutine) as a user of gort
 * objects: deadlock detection cannot see what such a thread will do. */
GORT_INTERNAL void gort__note_foreign(void);

/* A goroutine in a system call that found no P: switch to g0, which
 * queues it globally and stops the M (syscall.c). */
GORT_INTERNAL void gort__exitsyscall_park(struct m *mp, struct g *gp);
/* Wakes the timer sleeper if it would sleep past when, else wakep (Go's
 * wakeNetPoller). */
GORT_INTERNAL void gort__wake_poller(int64_t when);
/* sysmon's hooks into the scheduler (proc.c, sched.lock inside). */
GORT_INTERNAL void gort__handoffp(struct p *pp);
GORT_INTERNAL void gort__startm_any(void);
GORT_INTERNAL bool gort__acquire_idlep(struct m *mp, struct p *prefer);
GORT_INTERNAL void gort__sysmon_start(void);
GORT_INTERNAL void gort__sysmon_wake(void);
GORT_INTERNAL void gort__sysmon_forked(void);
GORT_INTERNAL extern _Atomic int64_t gort__nunstranded; /* safety-net wakes */
GORT_INTERNAL extern _Atomic uint64_t gort__nretake;    /* sysmon's retakes */
/* A coarse clock (gort_nanotime, ns) that sysmon stores every round and on
 * waking from deep sleep: gopark reads it with a relaxed load for
 * g.waitsince instead of reading the clock (sysmon.c).  0 before sysmon
 * started. */
typedef struct gort__coarse {
    _Alignas(64) _Atomic int64_t now;   /* a cache line of its own */
} gort__coarse_t;
GORT_INTERNAL extern gort__coarse_t gort__coarse;
/* Set by the SIGQUIT handler: sysmon prints the dump and exits 2. */
GORT_INTERNAL extern _Atomic uint32_t gort__sigquit_pending;
GORT_INTERNAL bool gort__sysmon_running(void);
GORT_INTERNAL struct p *gort__anyp(void);
/* The runtime's own wiring of a goroutine to its M (proc.c). */
GORT_INTERNAL bool gort__wire(struct m *mp, struct g *gp);
GORT_INTERNAL void gort__unwire(struct g *gp);

GORT_INTERNAL void gort__runqput(struct p *pp, struct g *gp, bool next);
GORT_INTERNAL struct g *gort__runqget(struct p *pp, bool *inherit);
GORT_INTERNAL uint32_t gort__runqsteal(struct p *pp, struct p *victim,
                                       bool stealrunnext, struct g **out);
GORT_INTERNAL bool gort__runqempty(struct p *pp);
GORT_INTERNAL void gort__globrunqput(struct g *gp);
GORT_INTERNAL bool gort__globrunq_reserve_locked(uint64_t n);
GORT_INTERNAL void gort__wakep(void);
/* sysmon: makes the wake-up a lazy goready left pending on pp. */
GORT_INTERNAL void gort__wakep_pending(struct p *pp);
GORT_INTERNAL bool gort__allgadd(struct g *gp);
GORT_INTERNAL uint32_t gort__fastrand(void);
GORT_INTERNAL void gort__ensure_init(void);

/* g.c */
GORT_INTERNAL struct g *gort__newproc(void (*fn)(void *), void *arg,
                                      const gort_attr *attr, int64_t goid);
GORT_INTERNAL int64_t gort__gcount(void);
GORT_INTERNAL void gort__gen_begin_locked(void);
GORT_INTERNAL void gort__dropm_locked(struct m *mp);
GORT_INTERNAL struct g *gort__gfget(struct p *pp);
GORT_INTERNAL void gort__gfput(struct p *pp, struct g *gp);
GORT_INTERNAL int64_t gort__newgoid(struct p *pp);
GORT_INTERNAL void gort__goexit0(struct g *gp);
GORT_INTERNAL _Noreturn void gort__goexit1(void);
GORT_INTERNAL _Noreturn void gort__goexit_end(void);

/* sema.c: Go's semacquire/semrelease on a uint32 counter, parking the
 * goroutine (or futex-blocking a plain thread) keyed by address. */
GORT_INTERNAL void gort__semacquire(uint32_t *addr, bool lifo, int reason);
GORT_INTERNAL void gort__semrelease(uint32_t *addr, bool handoff);

/* ------------------------------------------------------------------------ */
/* chan.c / select.c: channels (Go's hchan) and select                      */
/* ------------------------------------------------------------------------ */

/* A channel's lock: a test-and-test-and-set spinlock whose unlock is a
 * plain release store (chan.c, "The lock", says why it is not a
 * gort__mutex).  Held only for short sections that never block. */
typedef struct gort__chanlock {
    _Atomic uint32_t key;       /* 0 free, 1 held */
} gort__chanlock;
GORT_INTERNAL void gort__chanlock_slow(gort__chanlock *l);

/* A FIFO of waiting sudogs (Go's waitq).  first is read without the lock
 * by the non-blocking fast paths (chan.c, "Racy reads"), so it is an
 * atomic written with release under the lock; last is lock-only. */
typedef struct waitq {
    _Atomic(struct sudog *) first;
    struct sudog *last;
} waitq;

/* The positions of a buffered channel's ring (chan.c, "The ring"): each
 * on its own line, since senders write one and receivers the other. */
typedef struct gort__chanring {
    _Alignas(64) _Atomic uint64_t sendpos;  /* next position to fill */
    _Alignas(64) _Atomic uint64_t recvpos;  /* next position to drain */
} gort__chanring;

/* Go's hchan.  lock guards the queues, closed and (while slow) the ring;
 * the fields of the second line never change; the ring's positions and
 * stamps follow chan.c's protocol. */
struct gort_chan {
    gort__chanlock lock;
    _Atomic uint32_t closed;    /* 0 open, 1 closed; written under lock */
    bool slow;                  /* ring frozen (chan.c); lock holders only */
    bool hasring;               /* ring != NULL (immutable), kept on the
                                   lock's line for gort__chan_lock */
    waitq recvq;                /* parked receivers */
    waitq sendq;                /* parked senders */
    _Alignas(64) size_t dataqsiz;   /* capacity (immutable from here) */
    size_t elemsize;            /* bytes per element */
    size_t slotsize;            /* bytes per ring slot: stamp + element */
    size_t onelap;              /* a lap of positions: 2^k > dataqsiz
                                   (0 without slots) */
    char *buf;                  /* dataqsiz slots (none for 0-byte elements) */
    gort__chanring *ring;       /* NULL when unbuffered */
};

GORT_INTERNAL void gort__chan_freeze(struct gort_chan *c);
GORT_INTERNAL void gort__chan_thaw(struct gort_chan *c);

/* The lock alone (the wait queues of an unbuffered channel). */
static inline void gort__chan_lock_raw(struct gort_chan *c)
{
    uint32_t z = 0;
    if (likely(atomic_compare_exchange_weak_explicit(
            &c->lock.key, &z, 1, memory_order_acquire, memory_order_relaxed)))
        return;
    gort__chanlock_slow(&c->lock);
}

/* Locks c for a slow-path operation: a buffered channel's ring is frozen
 * too (its lock-free operations then fail over to the lock), so that
 * everything the holder looks at stays put. */
static inline void gort__chan_lock(struct gort_chan *c)
{
    gort__chan_lock_raw(c);
    if (c->hasring && !c->slow)
        gort__chan_freeze(c);
}

/* Unlocks c, first thawing its ring when nothing needs the lock any more:
 * nobody is parked on it and it is open (a channel of 0-byte elements
 * stays frozen: it is a counter, always on the lock). */
static inline void gort__chan_unlock(struct gort_chan *c)
{
    if (c->slow && c->slotsize != 0 &&
        atomic_load_explicit(&c->recvq.first, memory_order_relaxed) == NULL &&
        atomic_load_explicit(&c->sendq.first, memory_order_relaxed) == NULL &&
        atomic_load_explicit(&c->closed, memory_order_relaxed) == 0)
        gort__chan_thaw(c);
    atomic_store_explicit(&c->lock.key, 0, memory_order_release);
}

#define GORT__CHAN_ELEM_MAX ((size_t)64 * 1024)
/* Zero bytes for "send the zero value" (a NULL element pointer). */
GORT_INTERNAL extern unsigned char gort__zeroval[GORT__CHAN_ELEM_MAX];

/* The ring (chan.c), for select.c: the lock-free operations (buffered,
 * non-zero elements; false: take the lock), the locked ones (c locked),
 * and the racy "would block" tests. */
GORT_INTERNAL bool gort__chan_fastsend(struct gort_chan *c, const void *ep);
GORT_INTERNAL bool gort__chan_fastrecv(struct gort_chan *c, void *ep);
GORT_INTERNAL size_t gort__chan_bufcount(struct gort_chan *c);
GORT_INTERNAL void gort__chan_bufpush(struct gort_chan *c, const void *ep);
GORT_INTERNAL void gort__chan_bufpop(struct gort_chan *c, void *ep);
GORT_INTERNAL bool gort__chan_full(struct gort_chan *c);
GORT_INTERNAL bool gort__chan_frozen(struct gort_chan *c, bool send);
GORT_INTERNAL bool gort__chan_empty(struct gort_chan *c);
GORT_INTERNAL bool gort__chan_trysend_np(struct gort_chan *c, const void *elem);
GORT_INTERNAL int gort__chan_tryrecv_np(struct gort_chan *c, void *elem);
GORT_INTERNAL void gort__waitq_enqueue(waitq *q, sudog *sg);
/* Takes the first waiter that may still be woken: a select's sudog whose
 * select another channel already claimed is dropped on the way. */
GORT_INTERNAL sudog *gort__waitq_dequeue(waitq *q);
/* Unlinks sg if it is still queued on q (select's pass 3). */
GORT_INTERNAL void gort__waitq_remove(waitq *q, sudog *sg);
/* Go's send()/recv() without the unlock and the wake-up: the channel is
 * locked, sg dequeued; the caller unlocks, then calls gort__chan_wake. */
GORT_INTERNAL void gort__chan_senddirect(struct gort_chan *c, sudog *sg,
                                         const void *ep);
GORT_INTERNAL void gort__chan_recvdirect(struct gort_chan *c, sudog *sg,
                                         void *ep);
/* Wakes a waiter taken off a channel queue (goroutine or plain thread);
 * gp and note were read from its sudog before the channel was unlocked. */
GORT_INTERNAL void gort__chan_wake(struct g *gp, gort__note *note);
/* Parks the caller (goroutine or plain thread) for ever. */
GORT_INTERNAL _Noreturn void gort__block_forever(int reason);
/* Registers a plain thread with the deadlock detector on its first
 * channel operation (a thread-local flag test afterwards). */
GORT_INTERNAL void gort__chan_thread_first_use(void);
GORT_INTERNAL extern __thread __attribute__((tls_model("initial-exec")))
bool gort__chan_thread_seen;
#define GORT__CHAN_NOTE_THREAD()                                           \
    do {                                                                   \
        if (unlikely(!gort__chan_thread_seen))                             \
            gort__chan_thread_first_use();                                 \
    } while (0)

/* panic.c: the thread's gort_tls, read through a non-inlinable accessor
 * (the address must not be reused after a switch).  The switch itself
 * (proc.c, switch_out) reads it inline on x86_64 (the same asm as the
 * M's, addq %fs:0; 4-7% of a pingpong round trip), except under TSan:
 * inline everywhere, TSan once stopped reporting
 * tests/sanitize/data_race.c's race in 6 runs of 6, for a reason not
 * found (that test then let its adders take turns on one thread; it no
 * longer does).  gort__panicmsg is a recoverable panic with a runtime
 * message (Go's wording). */
GORT_INTERNAL struct gort__tls *gort__tlsp(void);
GORT_INTERNAL _Noreturn void gort__throw(const char *msg);
GORT_INTERNAL _Noreturn void gort__fatal(const char *msg);
/* A fatal error with Go's "runtime: ..." line before it (detail ends in
 * a newline), both written by the first dying thread only. */
GORT_INTERNAL _Noreturn void gort__fatal_detail(const char *detail,
                                                const char *msg);
/* The same for gp, switched out (its own stack has no room left for the
 * report: a goroutine out of stack, reported from g0). */
GORT_INTERNAL _Noreturn void gort__fatal_switched_out(const char *detail,
                                                      const char *msg,
                                                      struct g *gp);
GORT_INTERNAL _Noreturn void gort__panicmsg(const char *msg);
GORT_INTERNAL _Noreturn void gort__exit2(void);
GORT_INTERNAL bool gort__dying(void);
GORT_INTERNAL void gort__print_backtrace(int fd, int skip);
GORT_INTERNAL void gort__schedtrace(bool detailed);
GORT_INTERNAL void gort__write_str(int fd, const char *s);

/* trace.c: the execution trace.  Event types, one table: name, JSON
 * name. */
#define GORT_TRACE_EVENTS(X)                                   \
    X(TEV_NONE, "none")                                        \
    X(TEV_CREATE, "create")     /* goid new, arg fn, aux by */ \
    X(TEV_START, "start")       /* arg fn, aux flow id */      \
    X(TEV_STOP, "stop")         /* arg act | reason << 8 */    \
    X(TEV_UNBLOCK, "unblock")   /* goid readied, arg waker */  \
    X(TEV_SYSCALL_ENTER, "syscall")  /* P handed off */        \
    X(TEV_SYSCALL_EXIT, "syscall exit") /* arg P got */        \
    X(TEV_PREEMPT, "preempt")   /* arg 1: async */             \
    X(TEV_PREEMPT_REQ, "preempt request") /* sysmon; arg P */  \
    X(TEV_RETAKE, "retake")     /* sysmon; arg P */            \
    X(TEV_TIMERS, "timers")     /* arg callbacks run */        \
    X(TEV_NETPOLL, "netpoll")   /* arg goroutines readied */   \
    X(TEV_DROPPED, "dropped")   /* arg events lost */      \
    X(TEV_LANE, "lane")         /* in the buffers only */    \
    X(TEV_FNDEF, "fndef")       /* in the buffers only */

enum {
#define X(name, str) name,
    GORT_TRACE_EVENTS(X)
#undef X
};
/* A stop reason beside the ACT_* codes: the P handed off at a syscall. */
#define GORT__TRACE_STOP_SYSCALL 16
/* Lanes: a P id, or these (trace.c maps them to JSON tids). */
#define GORT__TRACE_CURLANE (-32768)    /* the caller's P, else its M's */
#define GORT__TRACE_SYSMON (-1000)
/* Written only by gort_trace_start/stop; every hook tests it first. */
GORT_INTERNAL extern _Atomic uint32_t gort__tracing;
#define GORT_TRACE_ON()                                                    \
    unlikely(atomic_load_explicit(&gort__tracing, memory_order_relaxed))
/* One predictable branch when off; the call is out of line. */
#define GORT_TRACE(type, lane, goid, arg, aux)                             \
    do {                                                                   \
        if (GORT_TRACE_ON())                                               \
            gort__trace_ev((type), (lane), (goid), (arg), (aux));          \
    } while (0)
GORT_INTERNAL void gort__trace_ev(int type, int lane, int64_t goid,
                                  uint64_t arg, uint32_t aux);
GORT_INTERNAL void gort__trace_create(struct g *gp);
GORT_INTERNAL void gort__trace_ready(struct g *gp);
GORT_INTERNAL void gort__trace_start_g(struct p *pp, struct g *gp);
/* gp stops (why: act | wait reason << 8) on lane; next, if not NULL,
 * starts on the same lane at the same time (a direct switch). */
GORT_INTERNAL void gort__trace_switch(int lane, struct g *gp, uint64_t why,
                                      struct g *next);
GORT_INTERNAL void gort__trace_init(void);      /* GORTTRACE */
GORT_INTERNAL void gort__trace_sysmon_thread(void); /* its lane */
GORT_INTERNAL void gort__trace_flush(void);     /* gort_run's end */
GORT_INTERNAL void gort__trace_fatal(void);     /* gort__exit2 */
GORT_INTERNAL void gort__trace_forked(void);

/* env.c */
typedef struct gort__debugvars {
    int maxprocs;               /* GORTMAXPROCS, 0 = unset */
    size_t stacksize;           /* GORTSTACK, 0 = unset */
    int guard;                  /* GORTDEBUG=stackguard=madvise|mprotect|canary */
    int stackbatchoff;          /* GORTDEBUG=stackbatch=0 */
    int asyncpreemptoff;        /* GORTDEBUG=asyncpreemptoff=1 */
    int runnextcas;             /* GORTDEBUG=runnextcas=1 */
    int schedtrace;             /* GORTDEBUG=schedtrace=ms (0 = off) */
    int scheddetail;            /* GORTDEBUG=scheddetail=1 */
    const char *tracefile;      /* GORTTRACE=file.json, NULL = unset */
} gort__debugvars;
GORT_INTERNAL extern gort__debugvars gort__debug;
GORT_INTERNAL void gort__parse_env(void);

/* preempt.c: sysmon's requests to an M, and the SIGURG side. */
enum { PREEMPT_YIELD = 1, PREEMPT_RESCUE = 2, PREEMPT_DUMP = 4 };
/* Asks mp (by SIGURG) for the frames of the goroutine it runs. */
GORT_INTERNAL void gort__signal_dump(struct m *mp);
/* The SIGURG handler's half of that (traceback.c). */
GORT_INTERNAL void gort__dump_capture(struct m *mp, void *ctx);
GORT_INTERNAL void gort__preempt_init(void);
GORT_INTERNAL void gort__preempt_calibrate(void);
GORT_INTERNAL void gort__preemptone(struct p *pp, int64_t now);
GORT_INTERNAL void gort__rescue_probe(struct p *pp);
GORT_INTERNAL void gort__sigurg(int sig, void *info, void *ctx);
/* CLOCK_MONOTONIC in nanoseconds, inline for the runtime's own reads (the
 * switch reads it); gort_nanotime is the public, out-of-line twin. */
static inline int64_t gort__nanotime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Cooperative check inside runtime calls.  The hint stays up until
 * sysmon's next round (up to 10 ms) after the marked goroutine yielded,
 * so the goroutine's own mark is tested here, inline, before the call. */
static inline void gort__preempt_check(void)
{
    if (unlikely(GORT__RELAXED_LOAD(gort__preempt_pending) != 0)) {
        struct m *mp = gort__getm();
        struct g *gp = mp ? mp->curg : NULL;
        if (gp && atomic_load_explicit(&gp->preempt, memory_order_relaxed))
            gort__preempt_slow();
    }
}

/* Owner-only counter bump: a relaxed load and store, no RMW (the one
 * writer is the M holding the P, or the holder of the lock named). */
static inline void gort__count(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* debug.c: symbolization of one code address. */
typedef struct gort__sym {
    char fn[256];               /* "" if unknown */
    char file[512];             /* source file, else object file, else "" */
    int line;                   /* > 0 with a source file */
    uintptr_t off;              /* from the function (or object) start */
} gort__sym;
/* pc is an exact code address (pass a return address minus one). */
GORT_INTERNAL void gort__symbolize(uintptr_t pc, gort__sym *out);
/* Prints a frame in Go's two-line form for return address ret. */
GORT_INTERNAL void gort__print_frame(int fd, uintptr_t ret);

/* traceback.c: goroutine dumps. */
GORT_INTERNAL bool gort__pc_in_gort(uintptr_t pc);
/* The SIGQUIT handler's half (signal context); returns if the dump was
 * handed to sysmon, else does it and exits. */
GORT_INTERNAL void gort__sigquit(void *info, void *ctx);
/* sysmon's half: prints the dump SIGQUIT asked for, exits 2. */
GORT_INTERNAL _Noreturn void gort__sigquit_dump(void);
/* Loads what the SIGQUIT handler's unwinder needs, outside any handler. */
GORT_INTERNAL void gort__traceback_init(void);
/* Every goroutine with its state and backtrace (checkdead, fatal errors:
 * the world is stopped or dying, allgs is read without sched.lock). */
GORT_INTERNAL void gort__dump_all_locked(int fd);
/* "goroutine N [running]:" and gp's frames, read from its saved context,
 * which may lie up to `below` bytes under its stack (a goroutine that ran
 * out of stack, reported from g0). */
GORT_INTERNAL void gort__print_switched_out(int fd, struct g *gp, size_t below);
/* A bounded fault-tolerant read region: signal.c's fault handler jumps
 * here when set (the dumper reads stacks that may go away). */
#include <setjmp.h>
GORT_INTERNAL extern __thread sigjmp_buf *gort__probe_jmp;
/* preempt.c: the interrupted pc and frame pointer in a signal frame copy
 * (gort__sigtramp's argument). */
GORT_INTERNAL void gort__sigframe_regs(void *frame, uintptr_t *pc,
                                       uintptr_t *fp);
/* panic.c: starts a fatal report (only the first thread; the others wait
 * for the exit). */
GORT_INTERNAL void gort__begin_dying(void);
/* The same for a caller that must not block (it holds sched.lock): false
 * when another thread is reporting already (the process is exiting). */
GORT_INTERNAL bool gort__try_begin_dying(void);

/* signal.c */
GORT_INTERNAL void gort__signal_init(void);
GORT_INTERNAL void gort__minit(struct m *mp);   /* per-thread: sigaltstack */
GORT_INTERNAL void gort__unminit(struct m *mp);

#endif /* GORT_RUNTIME_H */
