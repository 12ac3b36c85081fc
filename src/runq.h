/*
 * runq.h — the lock-free core of the scheduler: a P's local run queue
 * (runqput/runqputslow, runqget with runnext, runqgrab/runqsteal,
 * runqempty) and the two status steps of the park/ready hand-shake
 * (parkcommit, readyg).  Go's proc.go functions of the same names.
 *
 * Why a header: the same text is compiled twice.  proc.c includes it once
 * (after runtime.h) and gets exactly the code it had inline; the model
 * checker (tests/model/) includes it against its own struct g and p, a
 * small RUNQ_SIZE and atomics that are scheduling points of a
 * deterministic explorer, and runs every interleaving of a few threads
 * over it (docs/model.md).  So what is checked is this code, not a copy.
 *
 * What an includer provides before the #include:
 *   struct g (fields sp, schedlink, status) and struct p (runqhead,
 *     runqtail, runq[RUNQ_SIZE], runnext, status), RUNQ_SIZE, _Prunning,
 *     _Gwaiting and _Grunnable;
 *   gort__throw(msg) (does not return), gort__usleep(us) and
 *     gort__prefetch_parked_stack(sp) (a cache hint);
 *   runq_globputbatch(batch, n): appends the n Gs of the array batch to
 *     the global run queue, in order (takes sched.lock);
 *   optionally RQ_LOAD/RQ_STORE/RQ_CAS/RQ_CASW; by default they are the
 *     C11 explicit atomics, so proc.c's code is unchanged.
 *
 * The ring's protocol.  runqhead and runqtail are free-running counters;
 * slot = counter % RUNQ_SIZE.  Only the owner P writes slots and the tail
 * (write the slot, then store-release the tail); anyone advances the head
 * with a CAS (the owner in runqget, thieves in runqgrab, the owner again
 * in runqputslow).  A consumer reads slots *before* its CAS on head and
 * uses them only if the CAS succeeds: the owner overwrites a slot only
 * after head has passed it, and a successful CAS proves head did not move
 * since the slots were read.  runnext is set to a G only by the owner;
 * thieves CAS it to NULL.
 *
 * runnext without an RMW (RQ_FASTNEXT).  The owner takes runnext on
 * every direct switch to a goroutine it readied (a ping-pong round trip
 * does it twice), and a locked CAS there was a sixth of such a trip's
 * time; thieves take it rarely (an idle M's last resort, after a 3 us
 * pause).  So the owner takes it with plain accesses and the thief pays,
 * with membarrier(2) (MEMBARRIER_CMD_PRIVATE_EXPEDITED: a full barrier
 * on every CPU running one of our threads, before it returns) -- an
 * asymmetric Dekker, as in the trace hooks (trace.c):
 *
 *   owner:  busy = 1; if (steal == 0) { g = runnext; runnext = NULL; }
 *           busy = 0 (release); else busy = 0 and CAS as before
 *   thief:  steal += 1; membarrier(); wait until busy == 0 (acquire);
 *           CAS runnext; steal -= 1 (release)
 *
 * The barrier splits the owner's instruction stream at one point.  If
 * its store busy = 1 lies before that point, the barrier made it visible
 * and the thief waits for the window to close (busy = 0 is released after
 * the plain take, so the thief's CAS then reads NULL, or a G put since).
 * If it lies after, so does the owner's load of steal, which then reads
 * the thief's increment (the barrier ordered it first) and the owner
 * takes the CAS path.  Either way no G is taken twice.  A thief that
 * finished before the owner's window released its decrement after its
 * CAS, so an owner that reads steal == 0 from it also reads runnext as
 * the CAS left it.  steal is a count, not a flag, so one thief leaving
 * cannot hide another.  The window holds no lock and never blocks; a
 * thief waits at most until the owner's thread runs again.  Where
 * membarrier is missing (old kernels, Valgrind) RQ_FASTNEXT is false
 * and the owner always uses the CAS.
 *
 * The invariants the model checker asserts:
 * every G put is taken exactly once (runqget, a steal, or the global queue
 * after an overflow), a taken G's initialisation happens-before its
 * taker (the release/acquire pairs are enough), the owner takes its ring
 * in FIFO order, and runnext is returned first, with inherit set.
 */
#ifndef GORT_RUNQ_H
#define GORT_RUNQ_H

#ifndef RQ_LOAD
#define RQ_LOAD(obj, mo) atomic_load_explicit(obj, mo)
#define RQ_STORE(obj, v, mo) atomic_store_explicit(obj, v, mo)
#define RQ_CAS(obj, exp, des, s, f) \
    atomic_compare_exchange_strong_explicit(obj, exp, des, s, f)
#define RQ_CASW(obj, exp, des, s, f) \
    atomic_compare_exchange_weak_explicit(obj, exp, des, s, f)
#define RQ_FETCH_ADD(obj, v, mo) atomic_fetch_add_explicit(obj, v, mo)
/* Orders the compiler only: the owner's window is ordered against the
 * thief by the thief's membarrier, not by a fence here. */
#define RQ_COMPILER_FENCE() atomic_signal_fence(memory_order_seq_cst)
#endif
/* The includer also provides RQ_FASTNEXT (true when the membarrier
 * works), RQ_MEMBARRIER() and RQ_WAIT_WHILE_BUSY(p) (returns once
 * p->runnextbusy reads 0, acquire). */

static bool runqputslow(struct p *pp, struct g *gp, uint32_t h, uint32_t t);

bool gort__runqempty(struct p *pp)
{
    /* Read head, tail, runnext, and tail again: a G moving from runnext
     * into the ring in between must not make the queue look empty. */
    for (;;) {
        uint32_t h = RQ_LOAD(&pp->runqhead, memory_order_acquire);
        uint32_t t = RQ_LOAD(&pp->runqtail, memory_order_acquire);
        struct g *next = RQ_LOAD(&pp->runnext, memory_order_acquire);
        if (t == RQ_LOAD(&pp->runqtail, memory_order_acquire))
            return h == t && next == NULL;
    }
}

/* runqput and runqget are inlined where a switch or a wake-up takes them
 * (proc.c's gswitch and goready: a ping-pong round trip runs each twice,
 * and the calls were a tenth of it); elsewhere, and in the model checker,
 * they are the functions below, with the same bodies. */
static inline __attribute__((always_inline)) void
runqput_inl(struct p *pp, struct g *gp, bool next)
{
    if (next) {
        struct g *old = RQ_LOAD(&pp->runnext, memory_order_relaxed);
        if (old == NULL) {
            /* Only the owner makes runnext non-NULL; others only take a
             * G out of it.  So an empty slot stays empty until we fill
             * it, and a plain store does (no RMW on the hot path of every
             * goready). */
            RQ_STORE(&pp->runnext, gp, memory_order_release);
            return;
        }
        while (!RQ_CASW(
            &pp->runnext, &old, gp, memory_order_acq_rel, memory_order_relaxed)) {
        }
        if (old == NULL)
            return;
        gp = old;   /* kick the old runnext to the tail of the ring */
    }
    for (;;) {
        uint32_t h = RQ_LOAD(&pp->runqhead, memory_order_acquire);
        uint32_t t = RQ_LOAD(&pp->runqtail, memory_order_relaxed);
        if (t - h < RUNQ_SIZE) {
            RQ_STORE(&pp->runq[t % RUNQ_SIZE], gp, memory_order_relaxed);
            RQ_STORE(&pp->runqtail, t + 1, memory_order_release);
            return;
        }
        if (runqputslow(pp, gp, h, t))
            return;
        /* A thief took some: the ring is not full any more, retry. */
    }
}

void gort__runqput(struct p *pp, struct g *gp, bool next)
{
    runqput_inl(pp, gp, next);
}

/* Moves half the full ring plus gp to the global queue, in one batch. */
static bool runqputslow(struct p *pp, struct g *gp, uint32_t h, uint32_t t)
{
    struct g *batch[RUNQ_SIZE / 2 + 1];
    uint32_t n = (t - h) / 2;
    if (n != RUNQ_SIZE / 2)
        gort__throw("runqputslow: queue is not full");
    for (uint32_t i = 0; i < n; i++)
        batch[i] = RQ_LOAD(&pp->runq[(h + i) % RUNQ_SIZE],
                                        memory_order_relaxed);
    if (!RQ_CAS(
            &pp->runqhead, &h, h + n, memory_order_release, memory_order_relaxed))
        return false;
    batch[n] = gp;
    runq_globputbatch(batch, (int32_t)n + 1);
    return true;
}

static inline __attribute__((always_inline)) struct g *
runqget_inl(struct p *pp, bool *inherit)
{
    struct g *next = RQ_LOAD(&pp->runnext, memory_order_relaxed);
    if (next && RQ_FASTNEXT) {
        /* The owner's window (the header): plain accesses unless a thief
         * announced itself. */
        RQ_STORE(&pp->runnextbusy, 1, memory_order_relaxed);
        RQ_COMPILER_FENCE();
        if (RQ_LOAD(&pp->runnextsteal, memory_order_acquire) == 0) {
            next = RQ_LOAD(&pp->runnext, memory_order_acquire);
            if (next)
                RQ_STORE(&pp->runnext, NULL, memory_order_relaxed);
            RQ_STORE(&pp->runnextbusy, 0, memory_order_release);
            if (next) {
                *inherit = true;
                return next;
            }
        } else {
            RQ_STORE(&pp->runnextbusy, 0, memory_order_release);
            next = RQ_LOAD(&pp->runnext, memory_order_relaxed);
        }
    }
    /* Only thieves can clear runnext behind our back; if one did, fall
     * through to the ring. */
    if (next && RQ_CAS(
                    &pp->runnext, &next, NULL, memory_order_acq_rel,
                    memory_order_relaxed)) {
        *inherit = true;
        return next;
    }
    *inherit = false;
    for (;;) {
        uint32_t h = RQ_LOAD(&pp->runqhead, memory_order_acquire);
        uint32_t t = RQ_LOAD(&pp->runqtail, memory_order_relaxed);
        if (t == h)
            return NULL;
        struct g *gp = RQ_LOAD(&pp->runq[h % RUNQ_SIZE],
                                            memory_order_relaxed);
        if (RQ_CASW(
                &pp->runqhead, &h, h + 1, memory_order_release,
                memory_order_relaxed)) {
            /* The G after it was likely written by another CPU (made or
             * readied there): start fetching it while this one runs, and
             * the top of the stack of the one after that, whose G we
             * fetched last time (with many goroutines, the first touch of
             * a parked stack misses the cache and the TLB). */
            if (t - h > 1) {
                struct g *g1 = RQ_LOAD(
                    &pp->runq[(h + 1) % RUNQ_SIZE], memory_order_relaxed);
                gort__prefetch_parked_stack(
                    __atomic_load_n(&g1->sp, __ATOMIC_RELAXED));
                if (t - h > 2)
                    __builtin_prefetch(RQ_LOAD(
                        &pp->runq[(h + 2) % RUNQ_SIZE], memory_order_relaxed));
            }
            return gp;
        }
    }
}

struct g *gort__runqget(struct p *pp, bool *inherit)
{
    return runqget_inl(pp, inherit);
}

/* Copies half of victim's ring into batch[batchhead...] (a ring of the
 * thief's).  Returns how many were taken. */
static uint32_t runqgrab(struct p *victim, _Atomic(struct g *) *batch,
                         uint32_t batchhead, bool stealrunnext)
{
    for (;;) {
        uint32_t h = RQ_LOAD(&victim->runqhead, memory_order_acquire);
        uint32_t t = RQ_LOAD(&victim->runqtail, memory_order_acquire);
        uint32_t n = t - h;
        n = n - n / 2;
        if (n == 0) {
            if (stealrunnext) {
                struct g *next = RQ_LOAD(&victim->runnext,
                                                      memory_order_acquire);
                if (next) {
                    /* The victim is probably about to run it (it was just
                     * readied by the running G); give it a moment, as Go
                     * does, so a ping-pong pair is not split across Ps. */
                    if (RQ_LOAD(&victim->status,
                                             memory_order_relaxed) == _Prunning)
                        gort__usleep(3);
                    if (RQ_FASTNEXT) {
                        /* Announce, then wait out an owner's window that
                         * began before the barrier (the header). */
                        RQ_FETCH_ADD(&victim->runnextsteal, 1,
                                     memory_order_relaxed);
                        RQ_MEMBARRIER();
                        RQ_WAIT_WHILE_BUSY(victim);
                        next = RQ_LOAD(&victim->runnext, memory_order_relaxed);
                    }
                    bool took = next != NULL &&
                                RQ_CAS(&victim->runnext, &next, NULL,
                                       memory_order_acq_rel,
                                       memory_order_relaxed);
                    if (RQ_FASTNEXT)
                        RQ_FETCH_ADD(&victim->runnextsteal, (uint32_t)-1,
                                     memory_order_release);
                    if (!took)
                        continue;
                    RQ_STORE(&batch[batchhead % RUNQ_SIZE], next,
                                          memory_order_relaxed);
                    return 1;
                }
            }
            return 0;
        }
        if (n > RUNQ_SIZE / 2)  /* read inconsistent h and t */
            continue;
        for (uint32_t i = 0; i < n; i++) {
            struct g *gp = RQ_LOAD(&victim->runq[(h + i) % RUNQ_SIZE],
                                                memory_order_relaxed);
            RQ_STORE(&batch[(batchhead + i) % RUNQ_SIZE], gp,
                                  memory_order_relaxed);
        }
        if (RQ_CAS(
                &victim->runqhead, &h, h + n, memory_order_release,
                memory_order_relaxed))
            return n;
    }
}

/* Steals half of victim's queue into pp's; returns one G to run. */
uint32_t gort__runqsteal(struct p *pp, struct p *victim, bool stealrunnext,
                         struct g **out)
{
    uint32_t t = RQ_LOAD(&pp->runqtail, memory_order_relaxed);
    uint32_t n = runqgrab(victim, pp->runq, t, stealrunnext);
    if (n == 0) {
        *out = NULL;
        return 0;
    }
    n--;
    *out = RQ_LOAD(&pp->runq[(t + n) % RUNQ_SIZE],
                                memory_order_relaxed);
    if (n > 0) {
        uint32_t h = RQ_LOAD(&pp->runqhead, memory_order_acquire);
        if (t - h + n >= RUNQ_SIZE)
            gort__throw("runqsteal: runq overflow");
        RQ_STORE(&pp->runqtail, t + n, memory_order_release);
    }
    return n + 1;
}


/* The second half of gopark (Go's park_m), run on the parking G's M by
 * whatever runs next there, once the G's context is saved: publish the G
 * as waiting, then let unlockf release the wait structure's lock.  From
 * that unlock on, a waker may find the G and ready it (and another M run
 * it); before it, nobody can, so nobody resumes a half-saved context.
 * Returns false when unlockf called the wait off: the G is runnable
 * again, and the caller queues it next in line (runqput, next). */
static inline bool parkcommit(struct g *gp, bool (*unlockf)(struct g *, void *),
                              void *lock)
{
    RQ_STORE(&gp->status, _Gwaiting, memory_order_release);
    if (unlockf && !unlockf(gp, lock)) {
        RQ_STORE(&gp->status, _Grunnable, memory_order_relaxed);
        return false;
    }
    return true;
}

/* The first half of goready: the waker took gp out of its wait structure
 * (under that structure's lock, after parkcommit's unlockf released it),
 * so gp must be _Gwaiting; it becomes _Grunnable before it is queued. */
static inline void readyg(struct g *gp)
{
    uint32_t st = RQ_LOAD(&gp->status, memory_order_acquire);
    if (unlikely(st != _Gwaiting))
        gort__throw("bad g->status in ready");
    RQ_STORE(&gp->status, _Grunnable, memory_order_relaxed);
}

#endif /* GORT_RUNQ_H */
