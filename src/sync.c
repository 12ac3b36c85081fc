/*
 * sync.c — Go's sync package for C: Mutex, RWMutex, WaitGroup, Once and
 * Cond, all zero-initialisable, built on the address-keyed semaphores of
 * sema.c (and, for Cond, on a ticketed wait list of its own, Go's
 * notifyList).  The algorithms are Go's; the comments say why they work.
 *
 * Atomics.  The public structs hold plain int32_t/uint32_t/uint64_t fields
 * (gort.h is C11 without <stdatomic.h> in its interface).  We access them
 * only through _Atomic casts of the same size and alignment, which the
 * _Static_asserts below check; every access to a state word, including
 * "plain" reads, is an atomic operation, so that no torn or cached value
 * is ever acted on.
 *
 * Mutex (Go's sync.Mutex).  state = locked | woken<<1 | starving<<2 |
 * waiters<<3.  Two modes:
 *   - normal: waiters queue FIFO on the semaphore, but a woken waiter does
 *     not own the mutex; it competes with newly arriving goroutines, which
 *     usually win (they are already running).  That is what makes the
 *     mutex fast under contention.  A waiter that loses goes back to the
 *     FRONT of the queue (lifo semacquire).
 *   - starvation: entered when a waiter has waited more than 1 ms.  Unlock
 *     hands the mutex directly to the front waiter (semrelease with
 *     handoff); newcomers neither take it nor spin, they queue at the tail.
 *     The last waiter, or one that waited under 1 ms, switches back.
 *   mutexWoken tells Unlock that a goroutine is awake (spinning, or just
 *     woken) and will retry, so Unlock need not wake another one.
 * Invariants:
 *   - waiters counts the lockers that announced themselves with a CAS and
 *     have not been uncounted yet.  A normal-mode Unlock uncounts the one
 *     it wakes (and sets woken) before its semrelease; a waiter handed the
 *     mutex in starvation mode uncounts itself.
 *   - So every semrelease on m->sema is for a counted waiter, which is in
 *     or on its way into semacquire: sema units never pile up, and a
 *     locker never passes semacquire without an Unlock having meant it.
 *   - starving implies waiters > 0 (whoever sets it counts itself in the
 *     same CAS; the last waiter clears it), and a starving mutex with the
 *     locked bit clear is being handed to the front waiter.
 * Every transition is a CAS or an add on the one state word, so the only
 * ordering across words is state-then-sema, covered by the points above.
 * The fast paths are one CAS (lock) and one atomic add (unlock), plus a
 * thread-local flag test (see "plain threads" below); all the rest lives
 * in noinline functions so that the fast paths stay small.
 *
 * RWMutex (Go's sync.RWMutex).  reader_count counts active readers; a
 * writer subtracts rwmutexMaxReaders (1<<30), making it negative so new
 * readers queue on reader_sem, and moves the number of readers still
 * inside into reader_wait; the last of those releases writer_sem.  Unlock
 * adds 1<<30 back and releases one reader_sem unit per queued reader.
 * Writers serialise on the embedded gort_mutex w first.
 *
 * WaitGroup (Go's sync.WaitGroup).  state: counter in the high 32 bits,
 * waiters in the low 32, updated as one 64-bit atomic so that "counter hit
 * zero" and "how many waiters were there" are one observation.  The Add
 * that brings the counter to zero with waiters resets state to 0 and
 * releases one sema unit per waiter.  Go's misuse checks are kept.
 *
 * Once.  done is read with acquire on the fast path; the slow path runs fn
 * under the mutex and stores done (release) only after fn returned, so a
 * caller that sees done == 1 also sees fn's effects.
 *
 * Cond (Go's notifyList).  wait takes a ticket (wait_ticket++) while the
 * caller still holds its mutex, unlocks it, then, under c->lock, parks
 * unless notify_ticket has already passed its ticket.  signal gives the
 * next ticket (notify_ticket++) to whichever waiter holds it, broadcast
 * moves notify_ticket up to wait_ticket.  Because "has my ticket been
 * notified" and "enqueue me" happen under the same lock, a signal between
 * the ticket and the park is not lost: the waiter sees it and does not
 * park.  Tickets are handed out in order, so waking by ticket is FIFO.
 * c->lock is a gort__mutex (a single atomic uint32); head/tail are the
 * sudog list, each sudog on its waiter's stack.
 *
 * Plain threads (not goroutines) may use every object here: sema.c blocks
 * them on a futex note, and so does Cond.  They never spin, and they
 * register with the deadlock detector on first use (NOTE_THREAD).
 *
 * Lock order: c->lock and the sema bucket locks are never held together;
 * no runtime lock is held while user code (Once's fn) runs.
 */
#include "runtime.h"

/* ---- atomic views of the public fields --------------------------------- */

_Static_assert(sizeof(_Atomic int32_t) == sizeof(int32_t) &&
                   _Alignof(_Atomic int32_t) == _Alignof(int32_t),
               "int32_t fields must be usable as _Atomic int32_t");
_Static_assert(sizeof(_Atomic uint32_t) == sizeof(uint32_t) &&
                   _Alignof(_Atomic uint32_t) == _Alignof(uint32_t),
               "uint32_t fields must be usable as _Atomic uint32_t");
_Static_assert(sizeof(_Atomic uint64_t) == sizeof(uint64_t) &&
                   _Alignof(_Atomic uint64_t) == _Alignof(uint64_t),
               "uint64_t fields must be usable as _Atomic uint64_t");
_Static_assert(offsetof(gort_waitgroup, state) % 8 == 0 &&
                   _Alignof(gort_waitgroup) >= 8,
               "WaitGroup state must be 8-byte aligned for 64-bit atomics");
_Static_assert(sizeof(gort__mutex) == sizeof(uint32_t) &&
                   _Alignof(gort__mutex) == _Alignof(uint32_t),
               "gort_cond.lock is used as a gort__mutex");

#define AI32(p) ((_Atomic int32_t *)(p))
#define AU32(p) ((_Atomic uint32_t *)(p))
#define AU64(p) ((_Atomic uint64_t *)(p))

#define ld_rlx(p) atomic_load_explicit((p), memory_order_relaxed)
#define ld_acq(p) atomic_load_explicit((p), memory_order_acquire)

/* ---- plain threads ------------------------------------------------------
 *
 * checkdead declares "all goroutines are asleep" when every M is idle, unless
 * some plain thread has registered with gort__note_foreign().  sema.c
 * registers threads that block or release, but a plain thread that takes a
 * lock on the fast path and never contends would stay invisible: goroutines
 * parked on that lock would be declared dead while the thread is about to
 * unlock.  So every operation that can leave a thread holding something a
 * goroutine may wait for (lock, rlock, trylocks, a positive WaitGroup add)
 * checks a per-thread flag first; the first time, a cold function asks
 * whether this thread is a goroutine and registers it if not.  initial-exec
 * TLS makes the check one %fs-relative load and a predicted branch, no call.
 * A stale read across a goroutine switch cannot matter: switches only
 * happen on Ms, whose answer (not foreign) never changes. */
static __thread __attribute__((tls_model("initial-exec"))) bool thread_seen;

__attribute__((noinline, cold)) static void thread_first_use(void)
{
    thread_seen = true;
    if (gort__getg() == NULL)
        gort__note_foreign();
}

#define NOTE_THREAD()                                                      \
    do {                                                                   \
        if (unlikely(!thread_seen))                                        \
            thread_first_use();                                            \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Mutex                                                                    */
/* ------------------------------------------------------------------------ */

enum {
    mutexLocked = 1,
    mutexWoken = 2,
    mutexStarving = 4,
    mutexWaiterShift = 3,
};
#define STARVATION_THRESHOLD_NS ((int64_t)1000000)

/* CAS that, on failure, leaves the value it found in *old: the caller
 * retries from there without another load of a contended line. */
static inline bool cas32(_Atomic int32_t *p, int32_t *old, int32_t nw)
{
    return atomic_compare_exchange_strong_explicit(
        p, old, nw, memory_order_acq_rel, memory_order_relaxed);
}

__attribute__((noinline, cold)) static void mutex_inconsistent(void)
{
    gort__throw("sync: inconsistent mutex state");
}

/* Go's lockSlow: spin while that can help, announce ourselves as a waiter,
 * sleep on the semaphore, and repeat until we own the mutex.  old is the
 * state the fast path's failed CAS saw (saves a reload of a contended line). */
__attribute__((noinline)) static void mutex_lock_slow(gort_mutex *m,
                                                      int32_t old)
{
    _Atomic int32_t *st = AI32(&m->state);
    /* Spinning needs a P whose run queue is empty; a plain thread has no
     * P and sleeps at once.  Asked only when spinning is on the table:
     * the common contended case (mutex free, waiters parked) takes it
     * with one CAS below and never needs to know. */
    int may_spin = -1;
    int64_t wait_start = 0;
    bool starving = false;
    bool awoke = false;
    int iter = 0;

    for (;;) {
        /* Spin only in normal mode while someone holds it: in starvation
         * mode the mutex goes to the front waiter, spinning cannot win. */
        if ((old & (mutexLocked | mutexStarving)) == mutexLocked &&
            (may_spin >= 0 ? may_spin
                           : (may_spin = gort__getg() != NULL)) &&
            gort__canspin(iter)) {
            /* Set woken so that Unlock does not wake another goroutine
             * while we are awake and about to grab it. */
            if (!awoke && (old & mutexWoken) == 0 &&
                (old >> mutexWaiterShift) != 0 &&
                cas32(st, &old, old | mutexWoken))
                awoke = true;
            gort__dospin();
            iter++;
            old = ld_rlx(st);
            continue;
        }

        int32_t nw = old;
        /* Starving mutexes belong to the queue: do not grab them. */
        if ((old & mutexStarving) == 0)
            nw |= mutexLocked;
        if ((old & (mutexLocked | mutexStarving)) != 0)
            nw += 1 << mutexWaiterShift;
        /* Switch to starvation only while the mutex is held: if it is free
         * Unlock expects waiters, and a starving free mutex would have
         * none to hand it to. */
        if (starving && (old & mutexLocked) != 0)
            nw |= mutexStarving;
        if (awoke) {
            /* We were the awake one; whatever happens next we no longer
             * are, so clear the flag for the next Unlock. */
            if ((nw & mutexWoken) == 0)
                mutex_inconsistent();
            nw &= ~mutexWoken;
        }
        if (!cas32(st, &old, nw))
            continue;
        if ((old & (mutexLocked | mutexStarving)) == 0)
            return;                 /* took it with the CAS */

        /* A goroutine that already waited goes back to the front. */
        bool lifo = wait_start != 0;
        if (wait_start == 0)
            wait_start = gort__nanotime();
        gort__semacquire(&m->sema, lifo, waitReasonSyncMutexLock);
        starving = starving ||
                   gort__nanotime() - wait_start > STARVATION_THRESHOLD_NS;
        old = ld_rlx(st);
        if ((old & mutexStarving) != 0) {
            /* Handed to us by a starving Unlock: the locked bit is not set
             * and we are still counted as a waiter.  Fix both at once. */
            if ((old & (mutexLocked | mutexWoken)) != 0 ||
                (old >> mutexWaiterShift) == 0)
                mutex_inconsistent();
            int32_t delta = mutexLocked - (1 << mutexWaiterShift);
            /* Leave starvation mode if we did not really starve or we are
             * the last waiter; staying in it would cost every later
             * Lock/Unlock pair a hand-off. */
            if (!starving || (old >> mutexWaiterShift) == 1)
                delta -= mutexStarving;
            atomic_fetch_add_explicit(st, delta, memory_order_acq_rel);
            return;
        }
        awoke = true;
        iter = 0;
    }
}

static inline void mutex_lock(gort_mutex *m)
{
    NOTE_THREAD();
    int32_t z = 0;
    if (likely(atomic_compare_exchange_strong_explicit(
            AI32(&m->state), &z, mutexLocked, memory_order_acquire,
            memory_order_relaxed)))
        return;
    mutex_lock_slow(m, z);
}

void gort_mutex_lock(gort_mutex *m)
{
    gort__preempt_check();
    mutex_lock(m);
}

/* Go's unlockSlow: nw is the state after removing mutexLocked. */
__attribute__((noinline)) static void mutex_unlock_slow(gort_mutex *m,
                                                        int32_t nw)
{
    if (((nw + mutexLocked) & mutexLocked) == 0)
        gort__fatal("sync: unlock of unlocked mutex");
    _Atomic int32_t *st = AI32(&m->state);
    if ((nw & mutexStarving) != 0) {
        /* Hand the mutex to the front waiter and let it run now.  The
         * locked bit stays clear; the waiter sets it.  Meanwhile
         * mutexStarving keeps newcomers out. */
        gort__semrelease(&m->sema, true);
        return;
    }
    int32_t old = nw;
    for (;;) {
        /* Nobody to wake, or someone already locked it, or a goroutine is
         * awake (it will take it), or it turned starving (the hand-off is
         * somebody else's job now). */
        if ((old >> mutexWaiterShift) == 0 ||
            (old & (mutexLocked | mutexWoken | mutexStarving)) != 0)
            return;
        /* Take a waiter off the count and mark it woken before waking it. */
        nw = (old - (1 << mutexWaiterShift)) | mutexWoken;
        if (cas32(st, &old, nw)) {
            gort__semrelease(&m->sema, false);
            return;
        }
    }
}

void gort_mutex_unlock(gort_mutex *m)
{
    int32_t nw = atomic_fetch_sub_explicit(AI32(&m->state), mutexLocked,
                                           memory_order_release) -
                 mutexLocked;
    if (unlikely(nw != 0))
        mutex_unlock_slow(m, nw);
}

bool gort_mutex_trylock(gort_mutex *m)
{
    NOTE_THREAD();
    _Atomic int32_t *st = AI32(&m->state);
    int32_t old = ld_rlx(st);
    /* A starving mutex belongs to its waiters even when unlocked. */
    if ((old & (mutexLocked | mutexStarving)) != 0)
        return false;
    return atomic_compare_exchange_strong_explicit(
        st, &old, old | mutexLocked, memory_order_acquire,
        memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* RWMutex                                                                  */
/* ------------------------------------------------------------------------ */

#define RWMUTEX_MAX_READERS ((int32_t)1 << 30)

void gort_rwmutex_rlock(gort_rwmutex *rw)
{
    NOTE_THREAD();
    if (unlikely(atomic_fetch_add_explicit(AI32(&rw->reader_count), 1,
                                           memory_order_acq_rel) + 1 < 0))
        /* A writer is pending or active: wait for its Unlock, which
         * releases one unit per reader it kept out. */
        gort__semacquire(&rw->reader_sem, false, waitReasonSyncRWMutexRLock);
}

bool gort_rwmutex_tryrlock(gort_rwmutex *rw)
{
    NOTE_THREAD();
    _Atomic int32_t *rc = AI32(&rw->reader_count);
    int32_t c = ld_rlx(rc);
    for (;;) {
        if (c < 0)
            return false;
        if (atomic_compare_exchange_weak_explicit(
                rc, &c, c + 1, memory_order_acquire, memory_order_relaxed))
            return true;
    }
}

__attribute__((noinline)) static void rwmutex_runlock_slow(gort_rwmutex *rw,
                                                           int32_t r)
{
    if (r + 1 == 0 || r + 1 == -RWMUTEX_MAX_READERS)
        gort__fatal("sync: RUnlock of unlocked RWMutex");
    /* A writer is waiting for the readers that were inside when it came;
     * the last of them lets it in. */
    if (atomic_fetch_sub_explicit(AI32(&rw->reader_wait), 1,
                                  memory_order_acq_rel) - 1 == 0)
        gort__semrelease(&rw->writer_sem, false);
}

void gort_rwmutex_runlock(gort_rwmutex *rw)
{
    int32_t r = atomic_fetch_sub_explicit(AI32(&rw->reader_count), 1,
                                          memory_order_acq_rel) - 1;
    if (unlikely(r < 0))
        rwmutex_runlock_slow(rw, r);
}

void gort_rwmutex_lock(gort_rwmutex *rw)
{
    /* First exclude other writers. */
    mutex_lock(&rw->w);
    /* Then announce ourselves to readers: new ones now see a negative
     * count and queue.  r = readers already inside. */
    int32_t r = atomic_fetch_sub_explicit(AI32(&rw->reader_count),
                                          RWMUTEX_MAX_READERS,
                                          memory_order_acq_rel);
    /* reader_wait may go transiently negative if those readers leave
     * before we add r; whoever brings it to zero releases writer_sem. */
    if (r != 0 && atomic_fetch_add_explicit(AI32(&rw->reader_wait), r,
                                            memory_order_acq_rel) + r != 0)
        gort__semacquire(&rw->writer_sem, false, waitReasonSyncRWMutexLock);
}

bool gort_rwmutex_trylock(gort_rwmutex *rw)
{
    if (!gort_mutex_trylock(&rw->w))
        return false;
    int32_t z = 0;
    if (!atomic_compare_exchange_strong_explicit(
            AI32(&rw->reader_count), &z, -RWMUTEX_MAX_READERS,
            memory_order_acq_rel, memory_order_relaxed)) {
        gort_mutex_unlock(&rw->w);
        return false;
    }
    return true;
}

void gort_rwmutex_unlock(gort_rwmutex *rw)
{
    /* Let readers in again; r = readers that queued meanwhile. */
    int32_t r = atomic_fetch_add_explicit(AI32(&rw->reader_count),
                                          RWMUTEX_MAX_READERS,
                                          memory_order_acq_rel) +
                RWMUTEX_MAX_READERS;
    if (unlikely(r >= RWMUTEX_MAX_READERS))
        gort__fatal("sync: Unlock of unlocked RWMutex");
    for (int32_t i = 0; i < r; i++)
        gort__semrelease(&rw->reader_sem, false);
    gort_mutex_unlock(&rw->w);
}

/* ------------------------------------------------------------------------ */
/* WaitGroup                                                                */
/* ------------------------------------------------------------------------ */

void gort_waitgroup_add(gort_waitgroup *wg, int64_t delta)
{
    if (delta > 0)
        NOTE_THREAD();
    _Atomic uint64_t *st = AU64(&wg->state);
    uint64_t state = atomic_fetch_add_explicit(st, (uint64_t)delta << 32,
                                               memory_order_acq_rel) +
                     ((uint64_t)delta << 32);
    int32_t v = (int32_t)(state >> 32);
    uint32_t w = (uint32_t)state;
    if (unlikely(v < 0))
        gort__panicmsg("sync: negative WaitGroup counter");
    /* The first Add (counter goes from 0 to delta) must happen before any
     * Wait starts; a waiter already counted means they raced. */
    if (unlikely(w != 0 && delta > 0 && v == (int32_t)delta))
        gort__panicmsg(
            "sync: WaitGroup misuse: Add called concurrently with Wait");
    if (v > 0 || w == 0)
        return;
    /* Counter is 0 and there are waiters: we release them.  Nothing else
     * may touch state now — Add from 0 would be the misuse above, and Wait
     * returns at once on a zero counter without touching it.  Check it
     * stayed put (a cheap catch of concurrent misuse), then reset. */
    if (atomic_load(st) != state)
        gort__panicmsg(
            "sync: WaitGroup misuse: Add called concurrently with Wait");
    atomic_store(st, 0);
    for (; w != 0; w--)
        gort__semrelease(&wg->sema, false);
}

void gort_waitgroup_done(gort_waitgroup *wg)
{
    gort_waitgroup_add(wg, -1);
}

void gort_waitgroup_wait(gort_waitgroup *wg)
{
    _Atomic uint64_t *st = AU64(&wg->state);
    uint64_t state = ld_acq(st);
    for (;;) {
        if ((int32_t)(state >> 32) == 0)
            return;
        /* Count ourselves as a waiter; the Add that reaches zero sees us
         * in the same 64-bit word and releases a unit for us. */
        if (atomic_compare_exchange_weak_explicit(st, &state, state + 1,
                                                  memory_order_acq_rel,
                                                  memory_order_acquire)) {
            gort__semacquire(&wg->sema, false, waitReasonSyncWaitGroupWait);
            /* The releasing Add zeroed state before releasing us; a new
             * Add in between means the group was reused too early. */
            if (atomic_load(st) != 0)
                gort__panicmsg("sync: WaitGroup is reused before previous "
                               "Wait has returned");
            return;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Once                                                                     */
/* ------------------------------------------------------------------------ */

__attribute__((noinline)) static void once_slow(gort_once *o,
                                                void (*fn)(void *),
                                                void *arg)
{
    gort_mutex_lock(&o->m);
    if (ld_rlx(AU32(&o->done)) == 0) {
        fn(arg);
        /* Only now: a caller that sees done must see fn's effects, and a
         * caller that arrives while fn runs must wait on the mutex. */
        atomic_store_explicit(AU32(&o->done), 1, memory_order_release);
    }
    gort_mutex_unlock(&o->m);
}

void gort_once_do(gort_once *o, void (*fn)(void *), void *arg)
{
    if (likely(ld_acq(AU32(&o->done)) != 0))
        return;
    once_slow(o, fn, arg);
}

/* ------------------------------------------------------------------------ */
/* Cond (notifyList)                                                        */
/* ------------------------------------------------------------------------ */

#define CONDLOCK(c) ((gort__mutex *)&(c)->lock)

/* a < b in ticket order, correct across uint32 wrap-around. */
static inline bool ticket_less(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static bool condunlock(struct g *gp, void *lock)
{
    (void)gp;
    gort__unlock((gort__mutex *)lock);
    return true;
}

static void cond_ready(sudog *s)
{
    struct g *gp = s->g;
    gort__note *n = s->note;
    /* s lives on the waiter's stack: no access after the wake-up. */
    if (gp != NULL)
        gort__goready(gp);
    else
        gort__notewakeup(n);
}

void gort_cond_wait(gort_cond *c, gort_mutex *mu)
{
    /* The ticket is taken while mu is held, so any signal sent after the
     * caller checked its condition and let go of mu finds this ticket
     * taken and not yet notified: it cannot take the wait == notify
     * shortcut and miss us. */
    uint32_t t = atomic_fetch_add(AU32(&c->wait_ticket), 1);
    gort_mutex_unlock(mu);

    struct g *gp = gort__getg();
    gort__note note;
    sudog s = {.g = gp, .ticket = t};
    if (gp == NULL) {
        gort__note_foreign();
        gort__noteclear(&note);
        s.note = &note;
    }

    gort__mutex *l = CONDLOCK(c);
    gort__lock(l);
    if (ticket_less(t, ld_rlx(AU32(&c->notify_ticket)))) {
        /* Notified between the ticket and now. */
        gort__unlock(l);
    } else {
        sudog *tail = c->tail;
        if (tail == NULL)
            c->head = &s;
        else
            tail->next = &s;
        c->tail = &s;
        if (gp != NULL) {
            gort__gopark(condunlock, l, waitReasonSyncCondWait);
        } else {
            gort__unlock(l);
            gort__notesleep(&note);
        }
    }
    gort_mutex_lock(mu);
}

void gort_cond_signal(gort_cond *c)
{
    /* Nobody has taken a ticket that is not yet notified: nothing to do,
     * without touching the lock.  A waiter that takes a ticket after this
     * check was not waiting when signal was called. */
    if (atomic_load(AU32(&c->wait_ticket)) ==
        atomic_load(AU32(&c->notify_ticket)))
        return;

    gort__mutex *l = CONDLOCK(c);
    gort__lock(l);
    uint32_t t = ld_rlx(AU32(&c->notify_ticket));
    if (t == atomic_load(AU32(&c->wait_ticket))) {
        gort__unlock(l);
        return;
    }
    /* Ticket t is notified whether or not its holder has queued yet; if
     * it has not, it will see notify_ticket > t and not park. */
    atomic_store(AU32(&c->notify_ticket), t + 1);
    sudog *prev = NULL;
    for (sudog *s = c->head; s != NULL; prev = s, s = s->next) {
        if (s->ticket != t)
            continue;
        sudog *n = s->next;
        if (prev != NULL)
            prev->next = n;
        else
            c->head = n;
        if (n == NULL)
            c->tail = prev;
        s->next = NULL;
        gort__unlock(l);
        cond_ready(s);
        return;
    }
    gort__unlock(l);
}

void gort_cond_broadcast(gort_cond *c)
{
    if (atomic_load(AU32(&c->wait_ticket)) ==
        atomic_load(AU32(&c->notify_ticket)))
        return;

    gort__mutex *l = CONDLOCK(c);
    gort__lock(l);
    sudog *s = c->head;
    c->head = c->tail = NULL;
    atomic_store(AU32(&c->notify_ticket),
                 atomic_load(AU32(&c->wait_ticket)));
    gort__unlock(l);
    /* The list is ours now (queue order, which is ticket order except for
     * waiters that raced between their ticket and the lock). */
    while (s != NULL) {
        sudog *next = s->next;
        s->next = NULL;
        cond_ready(s);
        s = next;
    }
}
