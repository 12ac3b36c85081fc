/*
 * select.c — gort_select: Go's selectgo (src/runtime/select.go) for C.
 *
 * One call, any mix of send and receive cases, NULL channels ignored, and
 * GORT_NONBLOCK for Go's default.  The algorithm is Go's, in three passes:
 *
 *   0. Orders.  pollorder is a uniformly random permutation of the cases
 *      that have a channel (inside-out Fisher-Yates), so that when several
 *      cases are ready each is chosen with equal probability.  lockorder
 *      is the same cases sorted by channel address, so that two selects
 *      sharing channels lock them in the same order and cannot deadlock;
 *      a channel named by several cases is locked once, and cases on the
 *      same channel are shuffled among themselves (which of them a peer
 *      finds first once they are queued must not favour one).
 *  0b. Optimistic pass (ours, not Go's): in pollorder, a case on a
 *      buffered channel first tries the ring's lock-free operation
 *      (chan.c, "The ring"); a case that fails it on a ring that is not
 *      frozen is not ready for the lock either (nobody parked, open), so
 *      it is passed over.  Any other case that looks ready from lock-free
 *      reads is tried under its own channel's lock alone.  A select whose
 *      cases are often ready, the common case in a loop, then takes one
 *      lock (or none) instead of all of them.  Taking the first
 *      ready case in a random order is exactly pass 1's choice; what this
 *      pass cannot decide is that nothing is ready, because its looks at
 *      different channels are taken at different moments.  That answer
 *      (and parking) is left to pass 1, under every lock.
 *   1. With every channel locked, look at the cases in pollorder and take
 *      the first that can proceed: a receive finds a parked sender, a
 *      buffered value or a closed channel; a send finds a closed channel
 *      (panic), a parked receiver or room in the buffer.  Without such a
 *      case a non-blocking select unlocks and returns -1.
 *   2. Queue one sudog per case on its channel (sendq or recvq), chained
 *      in lock order through waitlink, all pointing at one claim word on
 *      our stack (selectdone), and park.  The channel locks are released
 *      by selparkcommit once our context is saved, exactly as a plain
 *      channel operation releases its one lock (chan.c, "No lost
 *      wake-ups").  A peer that dequeues one of our sudogs must first CAS
 *      the claim word from 0 to that sudog; only the winner completes its
 *      operation with us and wakes us.
 *   3. Awake, relock everything, read the winner from the claim word, and
 *      take our other sudogs off their queues (some may already be gone:
 *      peers that lost the claim drop them).  A send case woken by close
 *      panics; a receive case reports ok = whether a value came.
 *
 * Memory.  Up to SELECT_STACK_CASES cases, the orders live in our frame
 *   and the sudogs in the frame of selblock (only a select that parks pays
 *   for them).  Beyond that one malloc holds both; the block is freed
 *   before returning or panicking.  The sudogs are the waiter's own, as
 *   for single operations: they stay valid while queued because we cannot
 *   return before pass 3 has taken every one of them off.
 *
 * selparkcommit may not touch our stack once it has released the last
 *   lock: we may already be running elsewhere and returning.  It walks
 *   the sudog chain reading each sudog only while that sudog's channel is
 *   still locked (we, awake, would block on that lock in pass 3), as
 *   Go's does.
 *
 * Panics ("send on closed channel") are raised with no lock held and no
 *   memory of ours outstanding.
 */
#include "runtime.h"

#include <stdlib.h>
#include <string.h>

typedef struct gort_chan hchan;

#define SELECT_MAX_CASES 65536
#define SELECT_STACK_CASES 16

#define ld_acq(p) atomic_load_explicit((p), memory_order_acquire)
#define ld_rlx(p) atomic_load_explicit((p), memory_order_relaxed)
#define st_rel(p, v) atomic_store_explicit((p), (v), memory_order_release)

/* Random choices for selects: a 64-bit LCG whose high halves drive the
 * shuffles (a select needs a few random numbers, not a few calls into the
 * scheduler's generator).  randn is
 * Lemire's multiply-shift: uniform in [0, n) up to a bias below 2^-16 for
 * the n <= 65536 used here. */
typedef struct selrand {
    uint64_t x;
} selrand;

/* Per-thread state of those generators: a select reads it once and
 * stores it back once (no switch can happen in between), so a thread's
 * selects draw one long sequence.  Initial-exec TLS: one %fs-relative
 * load, where gort__fastrand is a call that looks up the M. */
static __thread __attribute__((tls_model("initial-exec"))) uint64_t selseed;

static inline selrand selrand_begin(void)
{
    uint64_t x = selseed;
    if (unlikely(x == 0))
        x = ((uint64_t)gort__fastrand() << 32 | gort__fastrand()) | 1;
    return (selrand){x};
}

static inline void selrand_end(const selrand *r)
{
    selseed = r->x;
}

static inline uint32_t randn(selrand *r, uint32_t n)
{
    r->x = r->x * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(((r->x >> 32) * n) >> 32);
}

static inline uintptr_t sortkey(const gort_case *cases, uint16_t i)
{
    return (uintptr_t)cases[i].chan;
}

/* Sorts lockorder (case indices, given in increasing index order) by
 * channel address.  Starting from the caller's own order, rather than
 * from the random poll order as Go does, keeps the comparisons the same
 * from one call to the next for a select in a loop, so the branch
 * predictor learns them; a random input costs a mispredicted branch per
 * comparison, more than the rest of a small select.  Go starts from the
 * poll order so that cases on the same channel end up in a random order
 * among themselves (it decides which of them a peer finds first once they
 * are queued); we shuffle each run of equal channels instead. */
static void sortlocks(const gort_case *cases, uint16_t *lockorder, int n,
                      selrand *rnd)
{
    if (n <= SELECT_STACK_CASES) {
        for (int i = 1; i < n; i++) {
            uint16_t o = lockorder[i];
            uintptr_t k = sortkey(cases, o);
            int j = i;
            while (j > 0 && sortkey(cases, lockorder[j - 1]) > k) {
                lockorder[j] = lockorder[j - 1];
                j--;
            }
            lockorder[j] = o;
        }
    } else {
        /* Many cases: Go's heap sort (n log n, no extra memory). */
        for (int i = 0; i < n; i++) {
            uint16_t o = lockorder[i];
            uintptr_t k = sortkey(cases, o);
            int j = i;
            while (j > 0 && sortkey(cases, lockorder[(j - 1) / 2]) < k) {
                int p = (j - 1) / 2;
                lockorder[j] = lockorder[p];
                j = p;
            }
            lockorder[j] = o;
        }
        for (int i = n - 1; i >= 0; i--) {
            uint16_t o = lockorder[i];
            uintptr_t k = sortkey(cases, o);
            lockorder[i] = lockorder[0];
            int j = 0;
            for (;;) {
                int kk = j * 2 + 1;
                if (kk >= i)
                    break;
                if (kk + 1 < i && sortkey(cases, lockorder[kk]) <
                                      sortkey(cases, lockorder[kk + 1]))
                    kk++;
                if (k < sortkey(cases, lockorder[kk])) {
                    lockorder[j] = lockorder[kk];
                    j = kk;
                    continue;
                }
                break;
            }
            lockorder[j] = o;
        }
    }
    /* Shuffle runs of cases on the same channel (Fisher-Yates). */
    for (int i = 0; i < n;) {
        int e = i + 1;
        while (e < n && sortkey(cases, lockorder[e]) == sortkey(cases, lockorder[i]))
            e++;
        for (int k = e - 1; k > i; k--) {
            int j = i + (int)randn(rnd, (uint32_t)(k - i + 1));
            uint16_t t = lockorder[k];
            lockorder[k] = lockorder[j];
            lockorder[j] = t;
        }
        i = e;
    }
}

static void sellock(const gort_case *cases, const uint16_t *lockorder, int n)
{
    hchan *c = NULL;
    for (int i = 0; i < n; i++) {
        hchan *c0 = cases[lockorder[i]].chan;
        if (c0 != c) {
            c = c0;
            gort__chan_lock(c);
        }
    }
}

static void selunlock(const gort_case *cases, const uint16_t *lockorder, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        hchan *c = cases[lockorder[i]].chan;
        if (i > 0 && c == cases[lockorder[i - 1]].chan)
            continue;   /* unlocked with its first occurrence */
        gort__chan_unlock(c);
    }
}

/* gopark's unlock function for a select: releases every channel lock,
 * walking our sudogs (in lock order) and reading each only while its
 * channel is still locked. */
static bool selparkcommit(struct g *gp, void *first)
{
    (void)gp;
    hchan *lastc = NULL;
    for (sudog *sg = first; sg != NULL; sg = sg->waitlink) {
        if (sg->c != lastc && lastc != NULL)
            gort__chan_unlock(lastc);
        lastc = sg->c;
    }
    if (lastc != NULL)
        gort__chan_unlock(lastc);
    return true;
}

/* Passes 2 and 3: queue on every channel, park, and sort out who woke us.
 * All channels are locked on entry and unlocked on return.  sgs has room
 * for norder sudogs, or is NULL to use our own frame.  Sets *sclosed when
 * the chosen send case was woken by close. */
__attribute__((noinline)) static int selblock(gort_case *cases,
                                              const uint16_t *lockorder,
                                              int norder, sudog *sgs,
                                              bool *sclosed)
{
    sudog sgbuf[SELECT_STACK_CASES];
    if (sgs == NULL)
        sgs = sgbuf;
    struct g *gp = gort__getg();
    _Atomic(uintptr_t) done = 0;
    gort__note note;
    if (gp == NULL)
        gort__noteclear(&note);

    sudog *first = NULL, **nextp = &first;
    for (int k = 0; k < norder; k++) {
        gort_case *cas = &cases[lockorder[k]];
        hchan *c = cas->chan;
        sudog *sg = &sgs[k];
        memset(sg, 0, sizeof *sg);
        sg->g = gp;
        sg->note = gp == NULL ? &note : NULL;
        sg->c = c;
        sg->isselect = true;
        sg->selectdone = &done;
        *nextp = sg;
        nextp = &sg->waitlink;
        if (cas->op == GORT_SEND) {
            sg->elem = cas->elem != NULL ? cas->elem : gort__zeroval;
            gort__waitq_enqueue(&c->sendq, sg);
        } else {
            sg->elem = cas->elem;
            gort__waitq_enqueue(&c->recvq, sg);
        }
    }

    if (gp != NULL) {
        gort__gopark(selparkcommit, first, waitReasonSelect);
    } else {
        selunlock(cases, lockorder, norder);
        gort__notesleep(&note);
    }

    sellock(cases, lockorder, norder);
    sudog *winner = (sudog *)atomic_load_explicit(&done, memory_order_acquire);
    int casi = -1;
    bool success = false;
    for (int k = 0; k < norder; k++) {
        sudog *sg = &sgs[k];
        gort_case *cas = &cases[lockorder[k]];
        if (sg == winner) {
            /* Already dequeued by the peer that woke us. */
            casi = lockorder[k];
            success = sg->success;
        } else if (cas->op == GORT_SEND) {
            gort__waitq_remove(&cas->chan->sendq, sg);
        } else {
            gort__waitq_remove(&cas->chan->recvq, sg);
        }
    }
    if (casi < 0)
        gort__throw("selectgo: bad wakeup");
    selunlock(cases, lockorder, norder);

    if (cases[casi].op == GORT_SEND) {
        if (!success)
            *sclosed = true;
    }
    cases[casi].ok = success;
    return casi;
}

/* Releases what pass 1 holds: every channel of the select (nlock > 0),
 * or only c (the optimistic pass). */
static inline void selrelease(const gort_case *cases, const uint16_t *lockorder,
                              int nlock, hchan *c)
{
    if (nlock > 0)
        selunlock(cases, lockorder, nlock);
    else
        gort__chan_unlock(c);
}

enum { CASE_NOT_READY = 0, CASE_DONE, CASE_SEND_CLOSED };

/* Carries out cas if it can proceed now.  cas->chan is locked (with the
 * rest of the select's channels when nlock > 0).  CASE_DONE and
 * CASE_SEND_CLOSED return with everything released; CASE_NOT_READY
 * leaves the locks held. */
static inline int trycase(gort_case *cas, const gort_case *cases,
                          const uint16_t *lockorder, int nlock)
{
    hchan *c = cas->chan;
    if (cas->op == GORT_RECV) {
        sudog *sg = gort__waitq_dequeue(&c->sendq);
        if (sg != NULL) {
            gort__chan_recvdirect(c, sg, cas->elem);
            struct g *gp = sg->g;
            gort__note *note = sg->note;
            selrelease(cases, lockorder, nlock, c);
            gort__chan_wake(gp, note);
            cas->ok = true;
            return CASE_DONE;
        }
        if (gort__chan_bufcount(c) > 0) {
            gort__chan_bufpop(c, cas->elem);
            selrelease(cases, lockorder, nlock, c);
            cas->ok = true;
            return CASE_DONE;
        }
        if (ld_rlx(&c->closed) != 0) {
            size_t sz = c->elemsize;
            selrelease(cases, lockorder, nlock, c);
            if (cas->elem != NULL && sz != 0)
                memset(cas->elem, 0, sz);
            cas->ok = false;
            return CASE_DONE;
        }
    } else {
        if (ld_rlx(&c->closed) != 0) {
            selrelease(cases, lockorder, nlock, c);
            return CASE_SEND_CLOSED;
        }
        const void *ep = cas->elem != NULL ? cas->elem : gort__zeroval;
        sudog *sg = gort__waitq_dequeue(&c->recvq);
        if (sg != NULL) {
            gort__chan_senddirect(c, sg, ep);
            struct g *gp = sg->g;
            gort__note *note = sg->note;
            selrelease(cases, lockorder, nlock, c);
            gort__chan_wake(gp, note);
            cas->ok = true;
            return CASE_DONE;
        }
        if (gort__chan_bufcount(c) < c->dataqsiz) {
            gort__chan_bufpush(c, ep);
            selrelease(cases, lockorder, nlock, c);
            cas->ok = true;
            return CASE_DONE;
        }
    }
    return CASE_NOT_READY;
}

/* Does cas look ready, from racy reads (chan.c, "Racy reads")?  A hint
 * only: the case is tried under its lock before anything is done. */
static inline bool looksready(const gort_case *cas)
{
    hchan *c = cas->chan;
    if (ld_acq(&c->closed) != 0)
        return true;
    if (cas->op == GORT_RECV)
        return !gort__chan_empty(c);
    return !gort__chan_full(c);
}

/* Go's selectgo.  order has room for 2*n indices; sgs for n sudogs or is
 * NULL (selblock's frame).  Returns the chosen case or -1 (non-blocking,
 * nothing ready); sets *sclosed for a send on a closed channel (the
 * caller panics once it has freed what it allocated). */
static int selectgo(gort_case *cases, int n, uint16_t *order, sudog *sgs,
                    bool block, bool *sclosed)
{
    /* pollorder: a random permutation of the cases with a channel
     * (inside-out Fisher-Yates).  lockorder: the same cases, in index
     * order for now, sorted below. */
    uint16_t *pollorder = order, *lockorder = order + n;
    selrand rnd = selrand_begin();
    int norder = 0;
    for (int i = 0; i < n; i++) {
        if (cases[i].chan == NULL)
            continue;
        uint32_t j = randn(&rnd, (uint32_t)norder + 1);
        pollorder[norder] = pollorder[j];
        pollorder[j] = (uint16_t)i;
        lockorder[norder] = (uint16_t)i;
        norder++;
    }
    selrand_end(&rnd);
    if (norder == 0) {
        if (!block)
            return -1;
        gort__block_forever(waitReasonSelect);
    }

    /* Optimistic pass: in poll order, try each case that looks ready
     * under its own lock alone.  Choosing the first ready case in a
     * random order is what pass 1 does too; what this pass cannot do is
     * conclude that nothing is ready (its looks are taken at different
     * moments), so that is left to pass 1, under every lock. */
    for (int k = 0; k < norder; k++) {
        gort_case *cas = &cases[pollorder[k]];
        if (cas->chan->slotsize != 0) {
            /* A buffered channel: the ring's lock-free operation first. */
            bool done = cas->op == GORT_RECV
                            ? gort__chan_fastrecv(cas->chan, cas->elem)
                            : gort__chan_fastsend(cas->chan,
                                                  cas->elem != NULL
                                                      ? cas->elem
                                                      : gort__zeroval);
            if (done) {
                cas->ok = true;
                return pollorder[k];
            }
            /* A ring that is not frozen has nobody parked on it and is
             * open: the lock would find it as full (empty) as the ring
             * operation did, or with a write (drain) in flight that pass
             * 1 waits for. */
            if (!gort__chan_frozen(cas->chan, cas->op == GORT_SEND))
                continue;
        }
        if (!looksready(cas))
            continue;
        gort__chan_lock(cas->chan);
        int r = trycase(cas, cases, lockorder, 0);
        if (r == CASE_NOT_READY) {
            gort__chan_unlock(cas->chan);
            continue;
        }
        if (r == CASE_SEND_CLOSED)
            *sclosed = true;
        return pollorder[k];
    }

    sortlocks(cases, lockorder, norder, &rnd);
    selrand_end(&rnd);
    sellock(cases, lockorder, norder);

    /* Pass 1: the first ready case in poll order. */
    for (int k = 0; k < norder; k++) {
        int r = trycase(&cases[pollorder[k]], cases, lockorder, norder);
        if (r == CASE_NOT_READY)
            continue;
        if (r == CASE_SEND_CLOSED)
            *sclosed = true;
        return pollorder[k];
    }

    if (!block) {
        selunlock(cases, lockorder, norder);
        return -1;
    }
    return selblock(cases, lockorder, norder, sgs, sclosed);
}

int gort_select(gort_case *cases, int n, int flags)
{
    gort__preempt_check();
    if (n < 0 || n > SELECT_MAX_CASES || (n > 0 && cases == NULL) ||
        (flags & ~GORT_NONBLOCK) != 0) {
        errno = EINVAL;
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (cases[i].op != GORT_SEND && cases[i].op != GORT_RECV) {
            errno = EINVAL;
            return -1;
        }
    }
    GORT__CHAN_NOTE_THREAD();
    bool block = (flags & GORT_NONBLOCK) == 0;
    if (n == 0) {
        if (block)
            gort__block_forever(waitReasonSelectNoCases);
        errno = EAGAIN;
        return -1;
    }

    bool sclosed = false;
    int r;
    if (n <= SELECT_STACK_CASES) {
        uint16_t order[2 * SELECT_STACK_CASES];
        r = selectgo(cases, n, order, NULL, block, &sclosed);
    } else {
        size_t osz = (2 * (size_t)n * sizeof(uint16_t) + _Alignof(sudog) - 1) &
                     ~(_Alignof(sudog) - 1);
        char *mem = gort__malloc(osz + (block ? (size_t)n * sizeof(sudog) : 0));
        if (mem == NULL) {
            errno = ENOMEM;
            return -1;
        }
        r = selectgo(cases, n, (uint16_t *)mem, block ? (sudog *)(mem + osz) : NULL,
                     block, &sclosed);
        gort__free(mem);
    }
    if (sclosed)
        gort__panicmsg("send on closed channel");
    if (r < 0)
        errno = EAGAIN;
    return r;
}
