/*
 * time.c — clocks, timers and sleep: Go's per-P timer heaps (Go 1.14's
 * design, src/runtime/time.go) with Go 1.23's channel semantics.
 *
 * The heaps.  Every P owns a 4-ary min-heap of runtime timers ordered by
 * `when` ({when, timer} pairs, so sifting never loads a timer), under its
 * timerslock, and mirrors the earliest `when` in timer0when (0: empty) so
 * that the scheduler can look without the lock.  Beside the heap, a FIFO
 * ring takes every timer armed no earlier than the last one it holds:
 * sleeps of one length (a server's timeouts, 100,000 sleepers) arrive in
 * order, and go in and out in O(1) over sequential memory (measured: 11%
 * off the sleepers benchmark); a stopped one leaves a hole, skipped when
 * it reaches the head.  The earliest timer is the smaller of the two
 * heads.
 * A timer is added to the heap of the P that arms it (or of some P, from a
 * thread without one).  Timers are run by the scheduler, never by a thread
 * of their own: findrunnable runs its own P's expired timers first, a
 * thief's last round runs a victim's, the direct G-to-G switch goes
 * through the scheduler when its P has a timer due, and an idle M sleeps
 * exactly until the earliest timer of all Ps (proc.c, "the timer
 * sleeper").  sysmon starts an M when a timer is late because its P is
 * busy (sysmon.c).
 *
 * Invariants (under the timerslock of the P in t->pp):
 *   - t->pp != NULL  <=>  t is in that P's heap at index t->idx, or (when
 *     t->infifo) in its FIFO at position t->fpos;
 *   - the FIFO's whens never decrease from head to tail, and its head is
 *     not a hole;
 *   - only the holder of that lock changes when, period, idx and pp;
 *   - timer0when == heap[0]->when, or 0 when the heap is empty.
 * So gort__timer_del reads t->pp, takes that P's lock and re-checks t->pp:
 * a timer moves between heaps only under both locks (movetimers) or by
 * being popped and re-added.
 *
 * Running a timer.  checktimers pops an expired one-shot timer (t->pp =
 * NULL) or advances a periodic one past now, notes t->seq, bumps
 * t->running, drops the lock and calls f(arg, seq, delay).  No lock is held
 * during the call.  t->running lets gort_timer_free wait for a call in
 * flight before freeing.
 *
 * Channel timers and stale values (Go 1.23's guarantee: after Stop or
 * Reset returns, no value from before can be received).  A user timer has
 * a mutex, t->mu, serialising stop, reset and the delivery.  stop takes mu,
 * deletes the timer from its heap, THEN bumps seq, then drains the channel.
 * Delivery (sendtime) takes mu and sends only if seq is still the one
 * noted when the timer was popped.  If the runner popped the timer before
 * stop's delete, it noted the old seq, so its send is dropped; it cannot
 * pop it after the delete.  Bumping seq before the delete would be wrong:
 * a runner popping in between would note the new seq and deliver.
 *
 * Lock order: timer.mu, then a channel's lock, then scheduler locks;
 * p.timerslock is a leaf (nothing is taken under it but a second
 * timerslock, in P-id order, in movetimers).
 */
#include "runtime.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define sched gort__sched

/* The public clock is a cooperative preemption point, the runtime's own
 * reads (gort__nanotime, runtime.h) are not: a goroutine that busy-waits
 * on the clock spends its time in gort and the vDSO, where no preemption
 * signal lands, and without this check it would keep its P for as long
 * as it waits (preempt_nanotime_loop_1p). */
int64_t gort_nanotime(void)
{
    gort__preempt_check();
    return gort__nanotime();
}

/* now + d without overflow; always > 0 (0 means "no timer"). */
static int64_t when_after(int64_t d)
{
    int64_t now = gort__nanotime();
    if (d <= 0)
        return now;
    if (d > INT64_MAX - now)
        return INT64_MAX;
    return now + d;
}

/* ------------------------------------------------------------------------ */
/* The 4-ary heap (pp->timerslock held)                                     */
/* ------------------------------------------------------------------------ */

/* The heap holds {when, timer} pairs: the four children of a node share
 * a cache line, and sifting never loads a timer (with 100,000 sleepers a
 * timer load is a cache miss); only the moved timers' idx are stored. */
typedef struct gort__timerwhen tw;

static void siftup(struct p *pp, int32_t i)
{
    tw *h = pp->timers;
    tw x = h[i];
    while (i > 0) {
        int32_t parent = (i - 1) / 4;
        if (x.when >= h[parent].when)
            break;
        h[i] = h[parent];
        h[i].t->idx = i;
        i = parent;
    }
    h[i] = x;
    x.t->idx = i;
}

static int32_t siftdown(struct p *pp, int32_t i)
{
    tw *h = pp->timers;
    int32_t n = pp->ntimers;
    tw x = h[i];
    for (;;) {
        int32_t c = 4 * i + 1;
        if (c >= n)
            break;
        int32_t best = c;
        int32_t e = c + 4 < n ? c + 4 : n;
        for (int32_t k = c + 1; k < e; k++)
            if (h[k].when < h[best].when)
                best = k;
        if (h[best].when >= x.when)
            break;
        h[i] = h[best];
        h[i].t->idx = i;
        i = best;
    }
    h[i] = x;
    x.t->idx = i;
    return i;
}

/* ------------------------------------------------------------------------ */
/* The FIFO of in-order timers (pp->timerslock held)                        */
/* ------------------------------------------------------------------------ */

#define FSLOT(pp, pos) (&(pp)->fifo[(pos) & ((pp)->fcap - 1)])

/* Drops the holes at the head. */
static void fifo_trim(struct p *pp)
{
    while (pp->fhead != pp->ftail && FSLOT(pp, pp->fhead)->t == NULL)
        pp->fhead++;
}

static void goroutine_ready(void *arg, uintptr_t seq, int64_t due);

static bool fifo_push(struct p *pp, gort__rtimer *t)
{
    if (pp->fhead != pp->ftail &&
        FSLOT(pp, pp->ftail - 1)->when > t->when)
        return false;   /* out of order: the heap takes it */
    uint32_t n = pp->ftail - pp->fhead;
    if (n == pp->fcap) {
        uint32_t ncap = pp->fcap ? pp->fcap * 2 : 256;
        struct gort__fifoslot *nf = gort__malloc((size_t)ncap * sizeof *nf);
        if (!nf)
            return false;
        for (uint32_t i = 0; i < n; i++) {
            nf[i] = *FSLOT(pp, pp->fhead + i);
            if (nf[i].t)
                nf[i].t->fpos = i;
        }
        gort__free(pp->fifo);
        pp->fifo = nf;
        pp->fcap = ncap;
        pp->fhead = 0;
        pp->ftail = n;
    }
    struct gort__fifoslot *e = FSLOT(pp, pp->ftail);
    __builtin_prefetch(FSLOT(pp, pp->ftail + 8), 1);
    e->when = t->when;
    e->t = t;
    /* A sleeper is parked by now (reset_for_sleep runs after its switch
     * saved its context): its sp is final and its G line is hot. */
    e->stackhint = t->f == goroutine_ready
                       ? GORT__RELAXED_LOAD(((struct g *)t->arg)->sp)
                       : NULL;
    t->infifo = true;
    t->fpos = pp->ftail++;
    t->idx = -1;
    return true;
}

/* The earliest when of pp (0: none). */
static int64_t top_when(struct p *pp)
{
    int64_t w = pp->ntimers ? pp->timers[0].when : 0;
    if (pp->fhead != pp->ftail) {
        int64_t f = FSLOT(pp, pp->fhead)->when;
        if (w == 0 || f < w)
            w = f;
    }
    return w;
}

/* The timer with the earliest when (pp must have one). */
static gort__rtimer *top_timer(struct p *pp)
{
    if (pp->fhead != pp->ftail &&
        (pp->ntimers == 0 || FSLOT(pp, pp->fhead)->when < pp->timers[0].when))
        return FSLOT(pp, pp->fhead)->t;
    return pp->timers[0].t;
}

static void publish0(struct p *pp)
{
    atomic_store_explicit(&pp->timer0when, top_when(pp), memory_order_release);
}

static void heap_push(struct p *pp, gort__rtimer *t)
{
    if (pp->ntimers == pp->captimers) {
        int32_t ncap = pp->captimers ? pp->captimers * 2 : 64;
        tw *nh = gort__realloc(pp->timers, (size_t)ncap * sizeof *nh);
        if (!nh)
            gort__throw("out of memory growing a timer heap");
        pp->timers = nh;
        pp->captimers = ncap;
    }
    int32_t i = pp->ntimers++;
    pp->timers[i].when = t->when;
    pp->timers[i].t = t;
    t->infifo = false;
    siftup(pp, i);
    atomic_store_explicit(&t->pp, pp, memory_order_release);
}

static void heap_remove(struct p *pp, int32_t i);

/* Adds t to pp (FIFO if in order, else heap) and points it at pp. */
static void timer_insert(struct p *pp, gort__rtimer *t)
{
    if (fifo_push(pp, t))
        atomic_store_explicit(&t->pp, pp, memory_order_release);
    else
        heap_push(pp, t);
}

/* Takes t out of pp's FIFO or heap; clears t->pp unless keep. */
static void timer_detach(struct p *pp, gort__rtimer *t, bool keep)
{
    if (t->infifo) {
        FSLOT(pp, t->fpos)->t = NULL;
        t->infifo = false;
        fifo_trim(pp);
        if (!keep)
            atomic_store_explicit(&t->pp, NULL, memory_order_release);
        return;
    }
    heap_remove(pp, t->idx);
    if (!keep)
        atomic_store_explicit(&t->pp, NULL, memory_order_release);
}

static void heap_remove(struct p *pp, int32_t i)
{
    gort__rtimer *t = pp->timers[i].t;
    int32_t last = --pp->ntimers;
    if (i != last) {
        pp->timers[i] = pp->timers[last];
        int32_t j = siftdown(pp, i);
        if (j == i)
            siftup(pp, i);
    }
    t->idx = -1;
}

/* ------------------------------------------------------------------------ */
/* Runtime timers                                                           */
/* ------------------------------------------------------------------------ */

void gort__timer_add(gort__rtimer *t, int64_t when)
{
    if (when <= 0)
        when = 1;
    struct m *mp = gort__getm();
    struct p *pp = mp && mp->p ? mp->p : gort__anyp();
    gort__lock(&pp->timerslock);
    t->when = when;
    timer_insert(pp, t);
    publish0(pp);
    gort__unlock(&pp->timerslock);
    gort__wake_poller(when);
}

bool gort__timer_del(gort__rtimer *t)
{
    for (;;) {
        struct p *pp = atomic_load_explicit(&t->pp, memory_order_acquire);
        if (!pp)
            return false;
        gort__lock(&pp->timerslock);
        if (atomic_load_explicit(&t->pp, memory_order_relaxed) != pp) {
            gort__unlock(&pp->timerslock);
            continue;   /* moved meanwhile (fired, or its P retired) */
        }
        timer_detach(pp, t, false);
        publish0(pp);
        gort__unlock(&pp->timerslock);
        return true;
    }
}

/* How far along the FIFO the timers' Gs are fetched (their stacks at half
 * that).  Popping a timer takes ~10-20 ns, so 16 ahead was about one DRAM
 * round trip: sleepers (100k x 10 x 10 ms), A/B alternated, 7 runs each:
 * 16 -> 32: 450 -> 401 ms; 32 -> 64: 373 -> 358 ms; 128 no better. */
enum { PREFETCH_AHEAD = 64 };

/* A timer about to fire and, when it is a goroutine's sleep timer, the
 * lines of that G from its start up to the timer (struct g keeps there
 * what goready and the switch touch).  Prefetching reads nothing: for
 * other timers the lines before are harmless. */
static inline void prefetch_timer_owner(gort__rtimer *t)
{
    char *gp = (char *)t - offsetof(struct g, sleeptimer);
    for (size_t off = 0; off <= offsetof(struct g, sleeptimer); off += 64)
        __builtin_prefetch(gp + off, 1);
}

int64_t gort__checktimers(struct p *pp, int64_t now, int *ran)
{
    int64_t next = atomic_load_explicit(&pp->timer0when, memory_order_acquire);
    if (next == 0)
        return 0;
    if (now == 0)
        now = gort__nanotime();
    if (next > now)
        return next;
    /* At most RUNQ_SIZE/2 per call: a burst of expired sleepers (100,000
     * timers due at once) is run about as fast as their goroutines run,
     * so each woken G goes from its timer into our run queue and onto the
     * CPU while its memory is still in cache, not through the global
     * queue; the rest run at the next scheduling point (the switch
     * looks).  They are popped in batches under one hold of the lock and
     * called with it dropped: a thief running our timers then contends
     * for it once a batch, not once a timer. */
    enum { BATCH = 32 };
    struct {
        void (*f)(void *, uintptr_t, int64_t);
        void *arg;
        uintptr_t seq;
        int64_t due;
        gort__rtimer *t;
    } run[BATCH];
    int budget = RUNQ_SIZE / 2;
    for (;;) {
        int n = 0;
        gort__lock(&pp->timerslock);
        int64_t w;
        while (n < BATCH && budget > 0 && (w = top_when(pp)) != 0 &&
               w <= now) {
            gort__rtimer *t = top_timer(pp);
            uintptr_t seq = atomic_load_explicit(&t->seq, memory_order_relaxed);
            int64_t due = t->when;
            run[n].f = t->f;
            run[n].arg = t->arg;
            run[n].seq = seq;
            run[n].due = due;
            run[n].t = t;
            n++;
            budget--;
            /* Before t->pp is cleared (a release store): whoever sees it
             * out of the heap sees these too. */
            atomic_fetch_add_explicit(&t->running, 1, memory_order_relaxed);
            atomic_store_explicit(&t->firedseq, (uint32_t)(seq + 1),
                                  memory_order_relaxed);
            if (t->period > 0) {
                /* Skip the periods missed, as Go's runOneTimer does. */
                int64_t k = 1 + (now - due) / t->period;
                timer_detach(pp, t, true);
                if (t->period > (INT64_MAX - t->when) / k)
                    t->when = INT64_MAX;
                else
                    t->when += t->period * k;
                timer_insert(pp, t);
            } else {
                timer_detach(pp, t, false);
            }
            /* The timers due next are likely cold (with many sleepers):
             * fetch the FIFO's ahead, and for a sleep timer the G lines
             * before it, which its goready and its switch touch. */
            if (top_when(pp))
                __builtin_prefetch(top_timer(pp));
            uint32_t queued = pp->ftail - pp->fhead;
            if (queued > PREFETCH_AHEAD) {
                gort__rtimer *ft = FSLOT(pp, pp->fhead + PREFETCH_AHEAD)->t;
                if (ft)
                    prefetch_timer_owner(ft);
            }
            /* Halfway there its G is in cache: fetch the top of the
             * sleeper's stack too, so that a timer fired alone (sleepers
             * due a few at a time) finds its goroutine's stack warm. */
            if (queued > PREFETCH_AHEAD / 2)
                gort__prefetch_parked_stack(
                    FSLOT(pp, pp->fhead + PREFETCH_AHEAD / 2)->stackhint);
        }
        publish0(pp);
        atomic_store_explicit(
            &pp->ntimerfired,
            atomic_load_explicit(&pp->ntimerfired, memory_order_relaxed) + (uint64_t)n,
            memory_order_relaxed);
        w = top_when(pp);
        bool more = budget > 0 && w != 0 && w <= now;
        gort__unlock(&pp->timerslock);
        if (n)
            GORT_TRACE(TEV_TIMERS, pp->id, 0, (uint64_t)n, 0);
        for (int i = 0; i < n; i++) {
            /* A sleeper readied now runs soon: start fetching the top of
             * its stack (its G is in cache by now). */
            if (i + 2 < n && run[i + 2].f == goroutine_ready) {
                gort__prefetch_parked_stack(__atomic_load_n(
                    &((struct g *)run[i + 2].arg)->sp, __ATOMIC_RELAXED));
            }
            run[i].f(run[i].arg, run[i].seq, run[i].due);
            atomic_fetch_sub_explicit(&run[i].t->running, 1, memory_order_release);
        }
        if (ran)
            *ran += n;
        if (!more)
            break;
    }
    gort__lock(&pp->timerslock);
    next = top_when(pp);
    gort__unlock(&pp->timerslock);
    return next;
}

int64_t gort__timesleepuntil(void)
{
    int64_t next = 0;
    int32_t n = GORT__RELAXED_LOAD(sched.nallp);
    for (int32_t i = 0; i < n; i++) {
        struct p *pp = gort__allp(i);
        if (!pp)
            continue;
        int64_t w = atomic_load_explicit(&pp->timer0when, memory_order_acquire);
        if (w != 0 && (next == 0 || w < next))
            next = w;
    }
    return next;
}

void gort__movetimers(struct p *from, struct p *to)
{
    if (from == to || atomic_load(&from->timer0when) == 0)
        return;
    struct p *a = from->id < to->id ? from : to;
    struct p *b = a == from ? to : from;
    gort__lock(&a->timerslock);
    gort__lock(&b->timerslock);
    while (from->ntimers > 0) {
        gort__rtimer *t = from->timers[from->ntimers - 1].t;
        from->ntimers--;
        heap_push(to, t);
    }
    for (; from->fhead != from->ftail; from->fhead++) {
        gort__rtimer *t = FSLOT(from, from->fhead)->t;
        if (t)
            heap_push(to, t);
    }
    publish0(from);
    publish0(to);
    gort__unlock(&b->timerslock);
    gort__unlock(&a->timerslock);
    /* No wake-up: the timer sleeper already counted these timers (it
     * looks at every P, dead ones too). */
}

/* ------------------------------------------------------------------------ */
/* Sleep                                                                    */
/* ------------------------------------------------------------------------ */

static void goroutine_ready(void *arg, uintptr_t seq, int64_t due)
{
    (void)seq;
    (void)due;
    gort__goready(arg);
}

/* gopark's unlock function: arms the timer only once the goroutine is
 * parked, or a short sleep's timer could ready it while it still runs
 * (Go's resetForSleep). */
static bool reset_for_sleep(struct g *gp, void *unused)
{
    (void)unused;
    gort__timer_add(&gp->sleeptimer, gp->sleepwhen);
    return true;
}

void gort_sleep(int64_t ns)
{
    if (ns <= 0) {
        gort__preempt_check();
        return;
    }
    struct g *gp = gort__getg();
    if (!gp) {
        struct timespec ts = {ns / GORT_SEC, ns % GORT_SEC};
        int saved = errno;
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        errno = saved;
        return;
    }
    gp->sleepwhen = when_after(ns);
    gp->sleeptimer.f = goroutine_ready;
    gp->sleeptimer.arg = gp;
    gp->sleeptimer.period = 0;
    gort__gopark(reset_for_sleep, NULL, waitReasonSleep);
}

/* ------------------------------------------------------------------------ */
/* User timers                                                              */
/* ------------------------------------------------------------------------ */

enum { TIMER_CHAN = 0, TIMER_TICKER, TIMER_FUNC };

struct gort_timer {
    gort__rtimer rt;
    gort__mutex mu;         /* stop/reset/delivery; see the top */
    int kind;
    gort_chan *c;           /* capacity 1, int64_t; NULL for TIMER_FUNC */
    uint32_t handled;       /* (seq + 1) of the last delivery done (mu) */
    void (*fn)(void *);
    void *arg;
};

/* Delivery of a channel timer: the time it was due, unless a stop or
 * reset came after it was popped (seq), or the reader has not taken the
 * last value yet (a ticker drops the tick, as Go's does). */
static void sendtime(void *arg, uintptr_t seq, int64_t due)
{
    gort_timer *t = arg;
    gort__lock(&t->mu);
    /* Only the current arming's delivery counts as handled: a late call
     * for an older one (its timer popped long ago, the timer re-armed
     * since) must not set handled back, or stop would take the current
     * arming, delivered, for one still in flight. */
    if (atomic_load_explicit(&t->rt.seq, memory_order_relaxed) == seq) {
        (void)gort__chan_trysend_np(t->c, &due);
        t->handled = (uint32_t)(seq + 1);
    }
    gort__unlock(&t->mu);
}

static void gofunc(void *arg, uintptr_t seq, int64_t due)
{
    (void)seq;
    (void)due;
    gort_timer *t = arg;
    (void)gort_go(t->fn, t->arg);
}

static gort_timer *timer_make(int kind)
{
    gort_timer *t = gort__calloc(1, sizeof *t);
    if (!t) {
        errno = ENOMEM;
        return NULL;
    }
    t->kind = kind;
    t->rt.arg = t;
    t->rt.idx = -1;
    if (kind == TIMER_FUNC) {
        t->rt.f = gofunc;
    } else {
        t->rt.f = sendtime;
        t->c = gort_chan_make(sizeof(int64_t), 1);
        if (!t->c) {
            gort__free(t);
            errno = ENOMEM;
            return NULL;
        }
    }
    gort__ensure_init();
    return t;
}

gort_timer *gort_timer_new(int64_t d)
{
    gort_timer *t = timer_make(TIMER_CHAN);
    if (t)
        gort__timer_add(&t->rt, when_after(d));
    return t;
}

gort_timer *gort_ticker_new(int64_t period)
{
    if (period <= 0) {
        errno = EINVAL;
        return NULL;
    }
    gort_timer *t = timer_make(TIMER_TICKER);
    if (t) {
        t->rt.period = period;
        gort__timer_add(&t->rt, when_after(period));
    }
    return t;
}

gort_timer *gort_timer_after_func(int64_t d, void (*fn)(void *), void *arg)
{
    if (!fn) {
        errno = EINVAL;
        return NULL;
    }
    gort_timer *t = timer_make(TIMER_FUNC);
    if (t) {
        t->fn = fn;
        t->arg = arg;
        gort__timer_add(&t->rt, when_after(d));
    }
    return t;
}

gort_chan *gort_timer_chan(gort_timer *t)
{
    return t ? t->c : NULL;
}

/* t->mu held: takes t out of its heap, invalidates deliveries in flight,
 * drains the channel.  Returns whether it had not delivered yet. */
static bool stop_locked(gort_timer *t)
{
    bool pending = gort__timer_del(&t->rt);
    uintptr_t seq = atomic_load_explicit(&t->rt.seq, memory_order_relaxed);
    /* Popped by a runner whose delivery has not happened yet (it waits
     * for mu, and will drop it): it never delivered. */
    if (!pending && t->kind == TIMER_CHAN &&
        atomic_load_explicit(&t->rt.firedseq, memory_order_relaxed) ==
            (uint32_t)(seq + 1) &&
        t->handled != (uint32_t)(seq + 1))
        pending = true;
    atomic_fetch_add_explicit(&t->rt.seq, 1, memory_order_relaxed);
    if (t->c && gort__chan_tryrecv_np(t->c, NULL) == 1 &&
        t->kind == TIMER_CHAN)
        pending = true;
    return pending;
}

bool gort_timer_stop(gort_timer *t)
{
    if (!t)
        return false;
    gort__lock(&t->mu);
    bool pending = stop_locked(t);
    gort__unlock(&t->mu);
    gort__preempt_check();
    return pending;
}

bool gort_timer_reset(gort_timer *t, int64_t d)
{
    if (!t)
        return false;
    if (t->kind == TIMER_TICKER && d <= 0)
        gort__panicmsg("non-positive interval for gort_timer_reset of a ticker");
    gort__lock(&t->mu);
    bool pending = stop_locked(t);
    if (t->kind == TIMER_TICKER)
        t->rt.period = d;
    gort__timer_add(&t->rt, when_after(d));
    gort__unlock(&t->mu);
    gort__preempt_check();
    return pending;
}

/* Waits out a callback in flight (it is short: a send or a gort_go). */
static void timer_quiesce(gort_timer *t)
{
    while (atomic_load_explicit(&t->rt.running, memory_order_acquire) != 0)
        gort__osyield();
}

/* Stops t for good and waits out a delivery in flight: after this no
 * callback touches t. */
static void timer_retire(gort_timer *t)
{
    gort__lock(&t->mu);
    (void)gort__timer_del(&t->rt);
    atomic_fetch_add_explicit(&t->rt.seq, 1, memory_order_relaxed);
    gort__unlock(&t->mu);
    timer_quiesce(t);
}

void gort_timer_free(gort_timer *t)
{
    if (!t)
        return;
    timer_retire(t);
    gort_chan_free(t->c);
    gort__free(t);
}

/* ------------------------------------------------------------------------ */
/* gort_after: one re-armed timer per goroutine (or plain thread)           */
/* ------------------------------------------------------------------------ */

static __thread gort_timer *thread_after;
static pthread_key_t after_key;
static pthread_once_t after_once = PTHREAD_ONCE_INIT;

static void thread_after_free(void *t)
{
    gort_timer_free(t);
}

static void after_key_init(void)
{
    (void)pthread_key_create(&after_key, thread_after_free);
}

gort_chan *gort_after(int64_t d)
{
    struct g *gp = gort__getg();
    gort_timer **slot = gp ? &gp->after : &thread_after;
    if (!*slot) {
        gort_timer *t = timer_make(TIMER_CHAN);
        if (!t)
            return NULL;
        *slot = t;
        if (!gp) {
            pthread_once(&after_once, after_key_init);
            (void)pthread_setspecific(after_key, t);
        }
    }
    gort_timer_reset(*slot, d);
    return (*slot)->c;
}

/* goexit0, on g0 or right after a switch: never switches, never panics.
 * A channel somebody still waits on (a misuse) is left alone. */
void gort__after_release(struct g *gp)
{
    gort_timer *t = gp->after;
    if (!t)
        return;
    gp->after = NULL;
    timer_retire(t);
    if (atomic_load(&t->c->recvq.first) || atomic_load(&t->c->sendq.first))
        return;
    gort_chan_free(t->c);
    gort__free(t);
}
