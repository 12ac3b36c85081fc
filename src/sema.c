/*
 * sema.c — semaphores keyed by address: the parking lot under every sync
 * primitive (Go's runtime/sema.go).  gort__semacquire(addr) waits until the
 * uint32 counter at addr is positive and decrements it; gort__semrelease
 * increments it and hands the unit to a waiter if there is one.  The counter
 * lives in the user's object (gort_mutex.sema, gort_waitgroup.sema, ...);
 * everything else — who waits on which address — lives here, so sync
 * objects stay small, zero-initialisable and need no destructor.
 *
 * The table
 *
 *   SEMTABSZ (251, prime) buckets, chosen by (addr >> 3) % 251.  A bucket
 *   holds a runtime lock, an atomic count of the waiters queued in it
 *   (nwait) and a list of per-address queues:
 *
 *     bucket.head -> [addr A: w1 -> w2 -> w3] <-> [addr B: w4] <-> ...
 *                     head     waitlink           head
 *
 *   Each queue's first waiter (its "head") is linked into the bucket's
 *   doubly linked list through sudog.next/prev and also remembers the
 *   queue's last waiter (waittail); the rest of the queue hangs off it
 *   through waitlink.  Waiters are semawaiter nodes (a sudog plus those two
 *   links) on the waiting goroutine's or thread's own stack: they exist
 *   exactly as long as the wait, so nothing is allocated.
 *
 *   Why lists and not Go's treap: lookups scan the distinct addresses that
 *   have waiters in one bucket, not the waiters, so a thousand goroutines
 *   on one mutex cost one comparison.  With 251 buckets, more than one
 *   contended address per bucket needs hundreds of distinct contended
 *   objects at once; a treap (Go 1.10, issue 17953) would make that
 *   O(log n) at the price of rotations and random priorities on every
 *   enqueue, which the common case pays for nothing.  If a workload ever
 *   shows long bucket lists, replace queue_find() by a treap; nothing
 *   outside this file would notice.
 *
 * Hand-off, not retry
 *
 *   Go's waiters, once woken, race newcomers for the count and may go back
 *   to sleep.  Here the releaser takes the unit for the waiter (a
 *   CAS-decrement under the bucket lock) before waking it, and marks the
 *   sudog (ticket = 1); a woken waiter therefore owns its unit and returns
 *   without looking at the counter again.  Barging is still possible and
 *   intended: a fast-path acquirer may grab the unit between the release's
 *   increment and the releaser's CAS, in which case the CAS fails and the
 *   waiter stays queued — no unit is lost, none is counted twice.  Fairness
 *   policy (starvation mode) belongs to the mutex in sync.c, not here.
 *
 * Invariants (all under the bucket lock unless marked atomic)
 *
 *   1. A waiter is queued only if, under the bucket lock and after it
 *      counted itself in nwait, the counter at its address read 0.
 *   2. nwait (atomic) >= the number of waiters queued in the bucket; it is
 *      incremented before the waiter's re-check and decremented when the
 *      waiter leaves the queue (or when the re-check succeeds).
 *   3. Only the releaser that dequeues a waiter wakes it, once, after
 *      dropping the bucket lock; nobody else knows it is there.
 *   4. A goroutine holds the bucket lock from its re-check until g0 has
 *      saved its context (gopark's unlock function releases it), so a
 *      releaser can never goready a goroutine that is still running.  That
 *      is what makes the check-then-park sequence free of lost wake-ups.
 *
 * Why the lock-free release check is right
 *
 *   A release does  counter += 1 ; read nwait  (both seq_cst), an acquirer
 *   does  nwait += 1 ; read counter  (both seq_cst).  In the single total
 *   order of seq_cst operations one of the two increments comes first, so
 *   either the releaser sees nwait > 0 (and goes to look under the lock) or
 *   the acquirer's re-check sees the new unit (and takes it instead of
 *   queueing).  A release that reads nwait == 0 therefore strands nobody.
 *
 * Plain threads
 *
 *   A thread that is not a goroutine (gort__getg() == NULL) queues the same
 *   semawaiter with g = NULL and note = a gort__note on its stack, drops the
 *   bucket lock and sleeps on the note; the releaser calls notewakeup
 *   instead of goready.  Such threads call gort__note_foreign() so that the
 *   deadlock detector knows someone it cannot see may still release.
 *
 * Abandoned goroutines
 *
 *   When gort_run returns, goroutines parked here stay queued: their
 *   waiter nodes live on stacks that the core keeps as long as the G is
 *   parked (it frees an abandoned G's stack only when the G is scheduled
 *   again and discarded).  That is what keeps the bucket lists free of
 *   dangling pointers across runs; a core change that reclaimed parked
 *   abandoned Gs would first have to unlink them here.  A release in a
 *   later run may hand its unit to such a G, which the scheduler then
 *   discards: objects still in use by abandoned goroutines are not
 *   expected to work across runs (in Go the process would have exited).
 *
 * Lock order: the bucket lock is the outermost runtime lock (runtime.h).
 * While holding it we call nothing that takes another lock, except
 * gort__gopark, which releases it on g0 before scheduling; goready and
 * notewakeup run after it is dropped.
 */
#include "runtime.h"

#define SEMTABSZ 251

/* A waiter: a sudog (g or note, key = address, ticket = 1 once the
 * releaser has taken the unit for it) plus the per-address queue links. */
typedef struct semawaiter {
    sudog sg;                       /* sg.next/prev: bucket list (heads) */
    struct semawaiter *waitlink;    /* next waiter on the same address */
    struct semawaiter *waittail;    /* heads only: last on this address */
} semawaiter;

typedef struct semaroot {
    gort__mutex lock;
    _Atomic uint32_t nwait;         /* waiters queued (see invariant 2) */
    semawaiter *head;               /* per-address queues (lock) */
} semaroot;

/* One bucket per cache line: buckets are hammered by unrelated objects on
 * different Ps, and sharing a line would serialise them for nothing. */
static struct {
    _Alignas(64) semaroot root;
} semtable[SEMTABSZ];

_Static_assert(sizeof(_Atomic uint32_t) == sizeof(uint32_t) &&
                   _Alignof(_Atomic uint32_t) == _Alignof(uint32_t),
               "a uint32_t counter must be usable as an _Atomic uint32_t");

#define SEMA(p) ((_Atomic uint32_t *)(p))

static inline semaroot *semroot(const uint32_t *addr)
{
    return &semtable[((uintptr_t)addr >> 3) % SEMTABSZ].root;
}

/* Takes one unit if there is one.  seq_cst: the re-check of an acquirer
 * that has just counted itself in nwait must not be ordered before that
 * increment (see "Why the lock-free release check is right"). */
static inline bool cansemacquire(_Atomic uint32_t *a)
{
    uint32_t v = atomic_load(a);
    while (v != 0) {
        if (atomic_compare_exchange_weak(a, &v, v - 1))
            return true;
    }
    return false;
}

/* ---- per-address queues (bucket lock held) ----------------------------- */

static semawaiter *queue_find(semaroot *root, uintptr_t key)
{
    for (semawaiter *w = root->head; w != NULL; w = (semawaiter *)w->sg.next)
        if (w->sg.key == key)
            return w;
    return NULL;
}

/* Puts nw where old is in the bucket list (old leaves it). */
static void heads_replace(semaroot *root, semawaiter *old, semawaiter *nw)
{
    nw->sg.prev = old->sg.prev;
    nw->sg.next = old->sg.next;
    if (nw->sg.prev != NULL)
        nw->sg.prev->next = &nw->sg;
    else
        root->head = nw;
    if (nw->sg.next != NULL)
        nw->sg.next->prev = &nw->sg;
    old->sg.next = old->sg.prev = NULL;
}

static void queue(semaroot *root, semawaiter *w, bool lifo)
{
    w->waitlink = NULL;
    w->waittail = NULL;
    semawaiter *h = queue_find(root, w->sg.key);
    if (h == NULL) {
        /* First waiter on this address: a new queue at the list front. */
        w->waittail = w;
        w->sg.prev = NULL;
        w->sg.next = root->head != NULL ? &root->head->sg : NULL;
        if (root->head != NULL)
            root->head->sg.prev = &w->sg;
        root->head = w;
    } else if (lifo) {
        /* A re-waiter (mutex) goes first: it takes h's place as head. */
        heads_replace(root, h, w);
        w->waitlink = h;
        w->waittail = h->waittail;
        h->waittail = NULL;
    } else {
        h->waittail->waitlink = w;
        h->waittail = w;
    }
}

/* Removes and returns h, the head of its address queue (the oldest waiter,
 * or the newest lifo one); the next waiter, if any, becomes the head. */
static semawaiter *dequeue(semaroot *root, semawaiter *h)
{
    semawaiter *next = h->waitlink;
    if (next != NULL) {
        heads_replace(root, h, next);
        next->waittail = h->waittail;
    } else {
        if (h->sg.prev != NULL)
            h->sg.prev->next = h->sg.next;
        else
            root->head = (semawaiter *)h->sg.next;
        if (h->sg.next != NULL)
            h->sg.next->prev = h->sg.prev;
    }
    h->sg.next = h->sg.prev = NULL;
    h->waitlink = h->waittail = NULL;
    return h;
}

/* ---- acquire / release ------------------------------------------------- */

/* gopark's unlock function: runs on g0 once the goroutine is switched out,
 * so a releaser that now finds it in the queue can safely goready it. */
static bool semaunlock(struct g *gp, void *lock)
{
    (void)gp;
    gort__unlock((gort__mutex *)lock);
    return true;
}

__attribute__((noinline)) static void
semacquire_slow(uint32_t *addr, bool lifo, int reason)
{
    _Atomic uint32_t *a = SEMA(addr);
    struct g *gp = gort__getg();
    gort__note note;
    semawaiter w = {.sg = {.g = gp, .key = (uintptr_t)addr}};
    if (gp == NULL) {
        gort__note_foreign();
        gort__noteclear(&note);
        w.sg.note = &note;
    }

    semaroot *root = semroot(addr);
    gort__lock(&root->lock);
    atomic_fetch_add(&root->nwait, 1);
    if (cansemacquire(a)) {
        atomic_fetch_sub(&root->nwait, 1);
        gort__unlock(&root->lock);
        return;
    }
    queue(root, &w, lifo);
    if (gp != NULL) {
        gort__gopark(semaunlock, &root->lock, reason);
    } else {
        gort__unlock(&root->lock);
        gort__notesleep(&note);
    }
    /* Only the releaser that dequeued us wakes us, and it took our unit
     * first; anything else is a wake-up the core should not have made. */
    if (unlikely(w.sg.ticket != 1))
        gort__throw("semacquire: woken without a semaphore unit");
}

void gort__semacquire(uint32_t *addr, bool lifo, int reason)
{
    if (likely(cansemacquire(SEMA(addr))))
        return;
    semacquire_slow(addr, lifo, reason);
}

void gort__semrelease(uint32_t *addr, bool handoff)
{
    _Atomic uint32_t *a = SEMA(addr);
    struct g *self = gort__getg();
    if (self == NULL)
        gort__note_foreign();

    atomic_fetch_add(a, 1);
    semaroot *root = semroot(addr);
    if (atomic_load(&root->nwait) == 0)
        return;

    gort__lock(&root->lock);
    if (atomic_load(&root->nwait) == 0) {
        gort__unlock(&root->lock);
        return;
    }
    semawaiter *h = queue_find(root, (uintptr_t)addr);
    /* No waiter here (nwait counts other addresses too), or a fast-path
     * acquirer already took the unit: then the waiter keeps waiting. */
    if (h == NULL || !cansemacquire(a)) {
        gort__unlock(&root->lock);
        return;
    }
    semawaiter *w = dequeue(root, h);
    atomic_fetch_sub(&root->nwait, 1);
    w->sg.ticket = 1;
    /* Read what we need now: once woken, w's stack frame may vanish. */
    struct g *gp = w->sg.g;
    gort__note *note = w->sg.note;
    gort__unlock(&root->lock);

    if (gp != NULL) {
        gort__goready(gp);
        /* Starvation hand-off: let the waiter (now in runnext) run at once
         * instead of finishing our time slice, so the mutex it now owns is
         * not held by a goroutine that is not running. */
        if (handoff && self != NULL)
            gort__goyield();
    } else {
        gort__notewakeup(note);
    }
}
