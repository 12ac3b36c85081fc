/*
 * chan.c — channels: Go's hchan (src/runtime/chan.go) for C.  Make, send,
 * receive, close, len/cap, free, and the pieces select.c shares (the wait
 * queues, the direct hand-offs, waking a waiter, the ring).
 *
 * The model
 *
 *   A channel is one allocation: the hchan header (runtime.h), then for a
 *   buffered channel the ring's two positions (a cache line each) and
 *   dataqsiz slots, each a stamp and an element (see "The ring").  One
 *   lock (c->lock, see "The lock") guards the wait queues, closed, and
 *   the ring whenever it is frozen.  Two FIFO queues of sudogs
 *   hold the goroutines (or plain threads) parked on it: recvq and sendq.
 *   A sudog lives on its waiter's own stack (a select's sudogs too, or in
 *   a block the select malloc'd for very many cases) and its elem points
 *   at the waiter's element: the value to send, or where to put the value
 *   received.  A parked goroutine's stack stays where it is (gort's stacks
 *   never move), so such pointers are valid for exactly as long as the
 *   sudog is queued.
 *
 *   Direct hand-off.  A sender that finds a parked receiver copies its
 *   value straight into the receiver's element (senddirect) and readies
 *   it; the buffer is bypassed, because a receiver parks only when the
 *   buffer is empty.  A receiver that finds a parked sender on an
 *   unbuffered channel copies straight from the sender's element; on a
 *   buffered channel (then full) it takes the head of the ring and puts
 *   the sender's value at the tail (recvdirect).  Either way one lock,
 *   one copy, one wake-up.
 *
 * Invariants (Go's, under c->lock)
 *
 *   1. At least one of recvq and sendq is empty, except on an unbuffered
 *      channel on which one select waits both to send and to receive.
 *   2. Buffered: a value in the ring implies recvq is empty; room in it
 *      implies sendq is empty.  (Someone parked implies a frozen ring, so
 *      no lock-free operation can break this behind the lock's back.)
 *   3. Once closed is 1 it never goes back, and nobody is enqueued any
 *      more: a send panics, a receive returns at once, select's pass 1
 *      picks the closed case.  So a closed channel's queues only shrink.
 *   4. A dequeued sudog is woken exactly once, by whoever dequeued it, and
 *      only after it has dropped the channel lock (goready takes run-queue
 *      and scheduler locks; Go's hchan comment says the same).  Until it
 *      is woken the waiter cannot run, so the waker may still write its
 *      sudog (success, elem) after unlocking.
 *
 * No lost wake-ups
 *
 *   A goroutine that decides to wait enqueues its sudog while holding
 *   c->lock and keeps holding it until gopark has saved its context: the
 *   lock is released by chanparkcommit, which the core runs on the next
 *   context after the switch.  So a waker, which needs c->lock to find the
 *   sudog, can never goready a goroutine that is still running.  A plain
 *   thread (gort__getg() == NULL) enqueues the same sudog with a note,
 *   unlocks and sleeps on the note; a wake-up that comes before the sleep
 *   just makes the sleep return at once (notes are one-shot).
 *
 * Select's claim.  A goroutine in select is queued on several channels at
 *   once.  Each of its sudogs points at one word on the select's stack
 *   (selectdone, Go's g.selectDone); whoever dequeues one of them must
 *   first CAS that word from 0 to the sudog.  The first to succeed owns
 *   the wake-up; the others drop the sudog from their queue and look at
 *   the next waiter.  The winner's identity is the word itself, which
 *   select.c reads after waking (Go's gp.param).
 *
 * Racy reads (why the fast paths may look without the lock)
 *
 *   Go's non-blocking operations fail fast without the lock when the
 *   channel is obviously not ready.  We do the same, and make every field
 *   read that way an atomic: closed, the ring's positions, and the heads
 *   of recvq and sendq.  closed and the heads are written only under
 *   c->lock, with release stores, and read with acquire loads; dataqsiz
 *   and elemsize never change.  The ring's count is two reads, taken in
 *   the order that makes the answer true at one instant: "full" reads
 *   sendpos then recvpos (the count is then never over what it was at
 *   the first read, so if it says full, the ring was full then), "empty"
 *   reads recvpos then sendpos (never under what it is at the second).
 *
 *   - trysend: "not closed" then "full".  Each answer was true at some
 *     instant.  A channel that is closed
 *     stays closed, so if the second read says full and the first said
 *     open, there was a moment (the first read) when it was open, and at
 *     the second it was full; we report "would block" as of that moment.
 *     If the reads were reordered the argument is the same with the
 *     roles swapped.  Nothing is promised beyond "some moment during the
 *     call", which is all a non-blocking operation can promise.
 *   - tryrecv: "empty" then "closed", and if closed, "empty" again.  Here
 *     order matters: a channel that was open and non-empty, then closed,
 *     then drained, must not look "open and empty".  The acquire load of
 *     the emptiness word orders the later load of closed after it, and in
 *     that case the emptying critical section whose store we read began
 *     after the closing one ended (same lock), so a load of closed that
 *     follows it sees 1.  The second emptiness check covers a send that
 *     landed between the first check and the closed load.  (This is Go's
 *     argument, made explicit with C11 orders instead of Go's implicitly
 *     sequentially consistent atomics.)
 *   - len reads the two positions, cap dataqsiz: a snapshot, as in Go.
 *   - select's optimistic pass (select.c) uses the same reads as hints
 *     only: a case that looks ready is tried under its channel's lock,
 *     and "nothing is ready" is decided with every lock held.
 *   Blocking operations never act on a racy read: they either complete
 *   through the ring's own protocol, or take the lock.
 *
 * The ring (buffered channels, elements of 1 byte or more)
 *
 *   A send that finds room and a receive that finds a value, with nobody
 *   parked, take no lock: the buffer is Vyukov's bounded queue.  Each
 *   slot carries a stamp; a position is lap * onelap + index, onelap the
 *   power of two above the capacity.  Slot i starts stamped with its
 *   first position.  A sender at position p finds its slot stamped p
 *   (free for this lap),
 *   claims p by CAS on sendpos, writes the element and stamps p + 1
 *   (release).  A receiver at p finds the stamp p + 1 (written), claims p
 *   by CAS on recvpos, copies the element out and stamps the position
 *   one lap later (release): the slot is free for the sender of the next
 *   lap.  The acquire load of the stamp orders each side's access to the
 *   element after the other's.  A stamp that is not what the operation
 *   wants while the position has not moved means full (empty), or a
 *   peer between its CAS and its stamp: either way, not on the fast path.
 *   sendpos and recvpos sit on cache lines of their own, so a producer
 *   and a consumer on two CPUs share only the slots' lines: with Go's
 *   one-lock hchan both write the lock's line for every element.
 *
 *   Frozen.  Everything else (parking, hand-off to a parked peer, close,
 *   select's locked passes) needs the ring to stand still, and takes the
 *   lock, which freezes it: POS_SLOW is set in both positions with an
 *   atomic OR (gort__chan_freeze).  A lock-free operation CASes a position
 *   it read without POS_SLOW, so once the OR is in, none can start; the
 *   CAS and the OR are RMWs on one word, so each lock-free operation's
 *   claim is either in the value the freezer saw (it will finish: the
 *   holder waits for its stamp, stamp_wait, a few instructions) or
 *   impossible.  Under the lock the ring is Go's buffer: buf_count is
 *   exact, buf_push and buf_pop move the positions with plain stores.
 *   The unlock thaws it (plain release stores without POS_SLOW: nobody
 *   else writes a frozen position) unless someone is parked on the
 *   channel or it is closed; a frozen ring stays frozen exactly as long
 *   as a waiter or the close could be overtaken by a lock-free operation.
 *   So a parked receiver cannot miss a value a lock-free send put in (no
 *   lock-free send happens while it is queued), a close linearises
 *   before every send that has not claimed a position, and Go's
 *   invariants below hold whenever the lock is held.
 *
 *   Spinning.  A blocking operation that finds the ring full (empty) and
 *   not frozen spins a little on the lock-free path before parking, where
 *   gort__canspin says spinning can pay (ring_spin): a parked peer costs
 *   the other side a wake-up per element once producer and consumer run
 *   at the same pace on two CPUs.
 *
 *   Channels of 0-byte elements have no slots: their positions are plain
 *   counters, frozen for good, and every operation takes the lock.  The
 *   lap counter starts two laps before it wraps (pos_start), so that the
 *   tests go through the wrap.
 *
 * The lock
 *
 *   c->lock is a test-and-test-and-set spinlock (gort__chanlock), not a
 *   gort__mutex.  A gort__mutex unlock must be an atomic exchange, to learn
 *   whether a sleeper needs a futex wake; on the machines we measure, an
 *   uncontended atomic read-modify-write costs 8-10 ns, and a channel
 *   operation takes exactly one lock, so the exchange was a fifth of an
 *   unbuffered round trip.  Releasing with a plain release store halves
 *   the lock's cost.  What makes a spinlock acceptable here: the critical
 *   sections are a few dozen instructions (plus an element copy, and at
 *   worst a wait for a lock-free ring operation to write its stamp) and
 *   never block, park or allocate; the one held across a switch (gopark's) is
 *   released by the very next thing that runs on that M.  A waiter spins
 *   briefly, then yields the CPU (the holder may be a descheduled thread),
 *   then sleeps a little longer each round (1 us doubling to 128 us), so a
 *   holder preempted by the kernel costs its waiters little CPU.  Select
 *   holds several at once, always in address order.
 *
 * Panics.  "send on closed channel", "close of closed channel", "close of
 *   nil channel" and the free of a channel with waiters are raised with no
 *   channel lock held (Go unlocks first too), so a recovered panic leaves
 *   no lock behind.
 *
 * Plain threads.  Every entry point checks a thread-local flag; the first
 *   time a thread that is not a goroutine uses a channel it registers
 *   with the deadlock detector (gort__note_foreign), because it may later
 *   wake goroutines that look stuck.  A plain thread blocks on a futex
 *   note in its sudog; goroutines on the other side park as usual.
 *
 * Lock order: no other lock is taken while a channel lock is held (a
 *   select holds several channel locks, taken in address order; see
 *   select.c).  goready and notewakeup run after the lock is dropped.
 */
#include "runtime.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct gort_chan hchan;

unsigned char gort__zeroval[GORT__CHAN_ELEM_MAX];

#define CHAN_BUF_MAX ((size_t)1 << 30)

/* ------------------------------------------------------------------------ */
/* Plain threads                                                            */
/* ------------------------------------------------------------------------ */

__thread __attribute__((tls_model("initial-exec"))) bool gort__chan_thread_seen;

__attribute__((noinline, cold)) void gort__chan_thread_first_use(void)
{
    gort__chan_thread_seen = true;
    if (gort__getg() == NULL)
        gort__note_foreign();
}

#define NOTE_THREAD() GORT__CHAN_NOTE_THREAD()

/* ------------------------------------------------------------------------ */
/* The lock                                                                 */
/* ------------------------------------------------------------------------ */

enum {
    LOCK_SPIN = 8,          /* rounds of LOCK_SPIN_CNT pauses */
    LOCK_SPIN_CNT = 30,
    LOCK_YIELD = 8,         /* then rounds of sched_yield */
    LOCK_SLEEP_MAX_US = 128 /* then sleeps of 1, 2, 4 ... this many us */
};

/* Contended acquisition: spin while that can help, then give the CPU
 * away (the holder may be a descheduled thread), then sleep a little
 * longer each time.  Test before CAS, so waiters share the line instead
 * of bouncing it; and pause between looks long enough that the holder,
 * which takes and drops the lock in tight loops, is not slowed by our
 * reads of its line (a pause between single looks measured 2x slower on
 * select over 4 channels). */
void gort__chanlock_slow(gort__chanlock *l)
{
    static _Atomic int ncpus;
    int ncpu = atomic_load_explicit(&ncpus, memory_order_relaxed);
    if (ncpu == 0) {
        ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
        atomic_store_explicit(&ncpus, ncpu, memory_order_relaxed);
    }
    int64_t sleep_us = 1;
    for (int i = 0;; i++) {
        if (i < LOCK_SPIN && ncpu > 1) {
            gort__procyield(LOCK_SPIN_CNT);
        } else if (i < LOCK_SPIN + LOCK_YIELD) {
            gort__osyield();
        } else {
            gort__usleep(sleep_us);
            if (sleep_us < LOCK_SLEEP_MAX_US)
                sleep_us *= 2;
        }
        if (atomic_load_explicit(&l->key, memory_order_relaxed) == 0) {
            uint32_t z = 0;
            if (atomic_compare_exchange_weak_explicit(
                    &l->key, &z, 1, memory_order_acquire,
                    memory_order_relaxed))
                return;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Atomic field access                                                      */
/* ------------------------------------------------------------------------ */

#define ld_acq(p) atomic_load_explicit((p), memory_order_acquire)
#define ld_rlx(p) atomic_load_explicit((p), memory_order_relaxed)
#define st_rel(p, v) atomic_store_explicit((p), (v), memory_order_release)

/* Element copy: a fixed-size copy the compiler inlines for the common
 * word-sized elements, memcpy for the rest. */
static inline void elemmove(const hchan *c, void *dst, const void *src)
{
    size_t n = c->elemsize;
    switch (n) {
    case 0:
        return;
    case 4:
        memcpy(dst, src, 4);
        return;
    case 8:
        memcpy(dst, src, 8);
        return;
    case 16:
        memcpy(dst, src, 16);
        return;
    default:
        memcpy(dst, src, n);
    }
}

static inline void elemclr(const hchan *c, void *dst)
{
    if (c->elemsize != 0)
        memset(dst, 0, c->elemsize);
}

/* ------------------------------------------------------------------------ */
/* The ring                                                                 */
/* ------------------------------------------------------------------------ */

/* A position: lap * onelap + index, onelap the power of two above the
 * capacity (Crossbeam's layout), so the lap has 63 - log2(onelap) bits:
 * 62 for a capacity of 1, 36 at the largest capacity (2^26 slots), and an
 * operation stalled between its look and its CAS while the ring goes
 * round to the same position again (2^62 operations either way) is not a
 * concern.  POS_SLOW marks a frozen ring.  A channel of 0-byte elements
 * has no slots, and its positions are plain counters (modulo 2^63),
 * always frozen. */
#define POS_SLOW ((uint64_t)1 << 63)
#define RING_MAX_SLOTS ((size_t)1 << 26)
/* Where a ring starts: two laps before the lap counter wraps, so that
 * every channel that goes round twice (most tests) goes through the
 * wrap, which would otherwise never be exercised. */
static inline uint64_t pos_start(const hchan *c)
{
    return POS_SLOW - 2 * (uint64_t)c->onelap;
}

typedef struct chanslot {
    _Atomic uint64_t stamp;
    unsigned char elem[];
} chanslot;

static inline chanslot *slot_at(const hchan *c, uint64_t pos)
{
    return (chanslot *)(c->buf + (size_t)(pos & (c->onelap - 1)) * c->slotsize);
}

/* The position after pos (pos without POS_SLOW). */
static inline uint64_t pos_next(const hchan *c, uint64_t pos)
{
    if ((pos & (c->onelap - 1)) + 1 < c->dataqsiz)
        return pos + 1;
    return ((pos | (c->onelap - 1)) + 1) & ~POS_SLOW;
}

/* The stamp that frees pos's slot for the next lap's writer. */
static inline uint64_t pos_nextlap(const hchan *c, uint64_t pos)
{
    return (pos + c->onelap) & ~POS_SLOW;
}

/* Elements from position r to position s, 0 if s is before r (racy
 * reads taken at different moments; exact under the lock). */
static inline size_t ring_dist(const hchan *c, uint64_t r, uint64_t s)
{
    int64_t d = (int64_t)((s - r) << 1) >> 1;   /* modulo 2^63, signed */
    if (c->slotsize != 0) {
        /* d = laps * onelap + (index(s) - index(r)): count laps * cap. */
        uint64_t m = c->onelap - 1;
        int64_t di = (int64_t)(s & m) - (int64_t)(r & m);
        int64_t laps = (d - di) >> __builtin_ctzll(c->onelap);
        d = laps * (int64_t)c->dataqsiz + di;
    }
    return d < 0 ? 0 : (size_t)d;
}

/* The lock-free claim of the next position of *posp (sendpos or
 * recvpos) whose slot is stamped that position + want (0: free, for a
 * sender; 1: written, for a receiver).  Returns the slot, its position
 * in *out; NULL to take the lock: the ring is frozen, full (empty), or
 * that slot's previous owner has claimed it but not stamped it yet. */
static inline chanslot *ring_claim(const hchan *c, _Atomic uint64_t *posp,
                                   uint64_t want, uint64_t *out)
{
    uint64_t pos = ld_rlx(posp);
    for (;;) {
        if (pos & POS_SLOW)
            return NULL;
        chanslot *sl = slot_at(c, pos);
        if (ld_acq(&sl->stamp) == pos + want) {
            if (atomic_compare_exchange_weak_explicit(
                    posp, &pos, pos_next(c, pos), memory_order_relaxed,
                    memory_order_relaxed)) {
                *out = pos;
                return sl;
            }
            continue;
        }
        uint64_t now = ld_rlx(posp);
        if (now == pos)
            return NULL;
        pos = now;
    }
}

/* The lock-free send: true if the value went in, false to take the
 * lock. */
static inline bool ring_send(hchan *c, const void *ep)
{
    uint64_t pos;
    chanslot *sl = ring_claim(c, &c->ring->sendpos, 0, &pos);
    if (sl == NULL)
        return false;
    elemmove(c, sl->elem, ep);
    st_rel(&sl->stamp, pos + 1);
    return true;
}

/* The lock-free receive: true if a value came out (into ep unless NULL),
 * false to take the lock. */
static inline bool ring_recv(hchan *c, void *ep)
{
    uint64_t pos;
    chanslot *sl = ring_claim(c, &c->ring->recvpos, 1, &pos);
    if (sl == NULL)
        return false;
    if (ep != NULL)
        elemmove(c, ep, sl->elem);
    st_rel(&sl->stamp, pos_nextlap(c, pos));
    return true;
}

/* Freezing: after these two RMWs no lock-free operation can start
 * (each CASes a position it read without POS_SLOW); those that already
 * claimed a position finish on their own, and the lock holder waits for
 * their stamps (stamp_wait). */
void gort__chan_freeze(hchan *c)
{
    atomic_fetch_or_explicit(&c->ring->sendpos, POS_SLOW, memory_order_acq_rel);
    atomic_fetch_or_explicit(&c->ring->recvpos, POS_SLOW, memory_order_acq_rel);
    c->slow = true;
}

/* Thawing: while frozen only the lock holder writes the positions, so
 * plain stores do.  (Release, though the stamps carry the ordering the
 * lock-free operations rely on: they read positions relaxed.) */
void gort__chan_thaw(hchan *c)
{
    gort__chanring *r = c->ring;
    st_rel(&r->sendpos, ld_rlx(&r->sendpos) & ~POS_SLOW);
    st_rel(&r->recvpos, ld_rlx(&r->recvpos) & ~POS_SLOW);
    c->slow = false;
}

/* Waits for a slot's stamp: a lock-free operation that claimed the
 * position before the freeze is a few instructions from writing it. */
static inline void stamp_wait(chanslot *sl, uint64_t want)
{
    for (int i = 0; ld_acq(&sl->stamp) != want; i++) {
        if (i < 64)
            gort__procyield(1);
        else
            gort__osyield();
    }
}

/* Buffered elements, exactly (c locked, so frozen); 0 when unbuffered. */
static inline size_t buf_count(hchan *c)
{
    if (c->ring == NULL)
        return 0;
    return ring_dist(c, ld_rlx(&c->ring->recvpos), ld_rlx(&c->ring->sendpos));
}

/* Appends *ep (c locked, buf_count < dataqsiz). */
static inline void buf_push(hchan *c, const void *ep)
{
    gort__chanring *r = c->ring;
    uint64_t pos = ld_rlx(&r->sendpos) & ~POS_SLOW;
    if (c->slotsize == 0) {
        st_rel(&r->sendpos, ((pos + 1) & ~POS_SLOW) | POS_SLOW);
        return;
    }
    chanslot *sl = slot_at(c, pos);
    stamp_wait(sl, pos);
    elemmove(c, sl->elem, ep);
    st_rel(&sl->stamp, pos + 1);
    st_rel(&r->sendpos, pos_next(c, pos) | POS_SLOW);
}

/* Takes the head into ep unless NULL (c locked, buf_count > 0). */
static inline void buf_pop(hchan *c, void *ep)
{
    gort__chanring *r = c->ring;
    uint64_t pos = ld_rlx(&r->recvpos) & ~POS_SLOW;
    if (c->slotsize == 0) {
        st_rel(&r->recvpos, ((pos + 1) & ~POS_SLOW) | POS_SLOW);
        return;
    }
    chanslot *sl = slot_at(c, pos);
    stamp_wait(sl, pos + 1);
    if (ep != NULL)
        elemmove(c, ep, sl->elem);
    st_rel(&sl->stamp, pos_nextlap(c, pos));
    st_rel(&r->recvpos, pos_next(c, pos) | POS_SLOW);
}

/* A blocking send that found the ring full (a receive that found it
 * empty) spins a little on the lock-free operation before taking the lock
 * to park: a peer running on another P frees a slot (fills one) within a
 * few hundred nanoseconds, and a park costs that peer a wake-up (goready,
 * a steal) for every element.  Only where spinning can pay
 * (gort__canspin: several CPUs, other Ps busy, nobody queued on ours),
 * and only while the ring is not frozen. */
enum { RING_SPIN = 4, RING_SPIN_CNT = 30 };

/* Is the ring frozen, as a sender (a receiver) sees it?  Racy. */
static inline bool ring_frozen(const hchan *c, bool send)
{
    return (ld_rlx(send ? &c->ring->sendpos : &c->ring->recvpos) & POS_SLOW) != 0;
}

static __attribute__((noinline)) bool ring_spin(hchan *c, const void *sep,
                                                void *rep, bool send)
{
    if (!gort__canspin(0))
        return false;
    for (int i = 0; i < RING_SPIN; i++) {
        gort__procyield(RING_SPIN_CNT);
        if (ring_frozen(c, send))
            return false;
        if (send ? ring_send(c, sep) : ring_recv(c, rep))
            return true;
    }
    return false;
}

/* Would a send block right now?  (See "Racy reads": sendpos is read
 * before recvpos, so the count is never over what it was at the first
 * read, and "full" was true then.) */
static inline bool full(hchan *c)
{
    if (c->dataqsiz == 0)
        return ld_acq(&c->recvq.first) == NULL;
    uint64_t s = ld_acq(&c->ring->sendpos);
    uint64_t r = ld_acq(&c->ring->recvpos);
    return ring_dist(c, r, s) >= c->dataqsiz;
}

/* The ring's count from racy reads, recvpos first: never under what it
 * is at the second read, so 0 means empty then. */
static inline size_t ring_len(const hchan *c)
{
    uint64_t r = ld_acq(&c->ring->recvpos);
    uint64_t s = ld_acq(&c->ring->sendpos);
    return ring_dist(c, r, s);
}

/* Would a receive block right now? */
static inline bool empty(hchan *c)
{
    if (c->dataqsiz == 0)
        return ld_acq(&c->sendq.first) == NULL;
    return ring_len(c) == 0;
}

/* The same, for select.c. */
bool gort__chan_fastsend(hchan *c, const void *ep)
{
    return ring_send(c, ep);
}

bool gort__chan_fastrecv(hchan *c, void *ep)
{
    return ring_recv(c, ep);
}

size_t gort__chan_bufcount(hchan *c)
{
    return buf_count(c);
}

void gort__chan_bufpush(hchan *c, const void *ep)
{
    buf_push(c, ep);
}

void gort__chan_bufpop(hchan *c, void *ep)
{
    buf_pop(c, ep);
}

bool gort__chan_frozen(hchan *c, bool send)
{
    return ring_frozen(c, send);
}

bool gort__chan_full(hchan *c)
{
    return full(c);
}

bool gort__chan_empty(hchan *c)
{
    return empty(c);
}

/* ------------------------------------------------------------------------ */
/* Wait queues (c->lock held)                                               */
/* ------------------------------------------------------------------------ */

void gort__waitq_enqueue(waitq *q, sudog *sg)
{
    sg->next = NULL;
    sudog *x = q->last;
    if (x == NULL) {
        sg->prev = NULL;
        q->last = sg;
        st_rel(&q->first, sg);
        return;
    }
    sg->prev = x;
    x->next = sg;
    q->last = sg;
}

static inline sudog *waitq_dequeue(waitq *q)
{
    for (;;) {
        sudog *sg = ld_rlx(&q->first);
        if (sg == NULL)
            return NULL;
        sudog *y = sg->next;
        if (y == NULL) {
            q->last = NULL;
            st_rel(&q->first, NULL);
        } else {
            y->prev = NULL;
            st_rel(&q->first, y);
            sg->next = NULL;    /* marks it removed (gort__waitq_remove) */
        }
        /* A select waits on several channels; the first channel to claim
         * it owns the wake-up.  One that lost was dropped above and will
         * be ignored by its select's pass 3. */
        if (sg->isselect) {
            uintptr_t zero = 0;
            if (!atomic_compare_exchange_strong_explicit(
                    sg->selectdone, &zero, (uintptr_t)sg,
                    memory_order_acq_rel, memory_order_relaxed))
                continue;
        }
        return sg;
    }
}

sudog *gort__waitq_dequeue(waitq *q)
{
    return waitq_dequeue(q);
}

void gort__waitq_remove(waitq *q, sudog *sg)
{
    sudog *x = sg->prev, *y = sg->next;
    if (x != NULL) {
        if (y != NULL) {            /* middle of the queue */
            x->next = y;
            y->prev = x;
        } else {                    /* last */
            x->next = NULL;
            q->last = x;
        }
        sg->next = sg->prev = NULL;
        return;
    }
    if (y != NULL) {                /* first */
        y->prev = NULL;
        st_rel(&q->first, y);
        sg->next = NULL;
        return;
    }
    /* Neither neighbour: the only element, or already dequeued. */
    if (ld_rlx(&q->first) == sg) {
        q->last = NULL;
        st_rel(&q->first, NULL);
    }
}

/* ------------------------------------------------------------------------ */
/* Hand-offs                                                                */
/* ------------------------------------------------------------------------ */

/* A parked receiver sg takes ep directly (Go's send).  The channel is
 * empty (buffer and sendq) and locked. */
static inline void senddirect(hchan *c, sudog *sg, const void *ep)
{
    if (sg->elem != NULL) {
        elemmove(c, sg->elem, ep);
        sg->elem = NULL;
    }
    sg->success = true;
}

/* A parked sender sg gives us its value (Go's recv).  Unbuffered: straight
 * from the sender's element.  Buffered (then full): the head of the ring
 * to us, the sender's value to the tail, into the slot that frees.  The
 * channel is locked. */
static inline void recvdirect(hchan *c, sudog *sg, void *ep)
{
    if (c->dataqsiz == 0) {
        if (ep != NULL)
            elemmove(c, ep, sg->elem);
    } else {
        buf_pop(c, ep);
        buf_push(c, sg->elem);
    }
    sg->elem = NULL;
    sg->success = true;
}

/* The shared versions, for select.c. */
void gort__chan_senddirect(hchan *c, sudog *sg, const void *ep)
{
    senddirect(c, sg, ep);
}

void gort__chan_recvdirect(hchan *c, sudog *sg, void *ep)
{
    recvdirect(c, sg, ep);
}

void gort__chan_wake(struct g *gp, gort__note *note)
{
    if (gp != NULL)
        gort__goready(gp);
    else
        gort__notewakeup(note);
}

/* gopark's unlock function: runs once the parking goroutine's context is
 * saved, so whoever now finds its sudog may ready it. */
static bool chanparkcommit(struct g *gp, void *lock)
{
    (void)gp;
    gort__chan_unlock((hchan *)lock);
    return true;
}

void gort__block_forever(int reason)
{
    struct g *gp = gort__getg();
    if (gp != NULL) {
        /* Nothing will ever ready us; checkdead counts us as asleep. */
        gort__gopark(NULL, NULL, reason);
        gort__throw("block_forever: goroutine woken");
    }
    gort__note_foreign();
    gort__note note;
    gort__noteclear(&note);
    for (;;)
        gort__notesleep(&note);
}

/* Parks the caller on q (c->lock held; released here) until a peer
 * completes the operation or close wakes it.  Returns sg.success. */
static inline __attribute__((always_inline)) bool
chanpark(hchan *c, waitq *q, void *ep, int reason)
{
    struct g *gp = gort__getg();
    gort__note note;
    /* Only the fields a waker reads; the rest of the sudog is select's
     * or sema's business. */
    sudog sg;
    sg.g = gp;
    sg.note = NULL;
    sg.elem = ep;
    sg.c = c;
    sg.isselect = false;
    sg.success = false;
    if (gp == NULL) {
        gort__noteclear(&note);
        sg.note = &note;
    }
    gort__waitq_enqueue(q, &sg);
    if (gp != NULL) {
        gort__gopark(chanparkcommit, c, reason);
    } else {
        gort__chan_unlock(c);
        gort__notesleep(&note);
    }
    return sg.success;
}

/* ------------------------------------------------------------------------ */
/* make, free, len, cap                                                     */
/* ------------------------------------------------------------------------ */

gort_chan *gort_chan_make(size_t elem_size, size_t cap)
{
    if (elem_size > GORT__CHAN_ELEM_MAX ||
        (elem_size != 0 && cap > CHAN_BUF_MAX / elem_size)) {
        errno = EINVAL;
        return NULL;
    }
    /* A buffered channel's slot: the stamp, then the element (8-byte
     * aligned).  0-byte elements need no slots, only the positions. */
    size_t slotsize = 0;
    if (cap != 0 && elem_size != 0) {
        slotsize = sizeof(chanslot) + ((elem_size + 7) & ~(size_t)7);
        if (cap > RING_MAX_SLOTS || cap > CHAN_BUF_MAX / slotsize) {
            errno = EINVAL;
            return NULL;
        }
    }
    size_t hdr = (sizeof(hchan) + 63) & ~(size_t)63;
    size_t ring = cap != 0 ? sizeof(gort__chanring) : 0;
    size_t total = hdr + ring + slotsize * cap;
    /* Cache-line aligned: the lock word should not share a line with the
     * neighbours' hot data, nor the ring's positions with each other.
     * Aligned by hand inside a plain malloc block (whose address is kept
     * just below the channel): glibc's aligned_alloc splits a bigger
     * chunk and frees the rest, and with a channel per goroutine
     * (skynet) make and free cost ~5% of the run in its chunk
     * consolidation; small mallocs come from its per-thread cache. */
    char *raw = gort__malloc(total + 64);
    if (raw == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    hchan *c = (hchan *)(((uintptr_t)raw + 64) & ~(uintptr_t)63);
    ((void **)c)[-1] = raw;     /* malloc's 16-byte alignment leaves room */
    memset(c, 0, sizeof *c);
    c->dataqsiz = cap;
    c->elemsize = elem_size;
    c->slotsize = slotsize;
    if (cap != 0) {
        c->hasring = true;
        c->ring = (gort__chanring *)((char *)c + hdr);
        uint64_t start = POS_SLOW;  /* a counter: frozen for good */
        if (slotsize == 0) {
            c->slow = true;
        } else {
            c->onelap = 1;
            while (c->onelap <= cap)
                c->onelap <<= 1;
            c->buf = (char *)c->ring + ring;
            start = pos_start(c);
            for (size_t i = 0; i < cap; i++)
                atomic_init(&slot_at(c, i)->stamp, start + i);
        }
        atomic_init(&c->ring->sendpos, start);
        atomic_init(&c->ring->recvpos, start);
    }
    return c;
}

void gort_chan_free(gort_chan *c)
{
    if (c == NULL)
        return;
    gort__chan_lock(c);
    bool busy = ld_rlx(&c->recvq.first) != NULL ||
                ld_rlx(&c->sendq.first) != NULL;
    gort__chan_unlock(c);
    if (busy)
        gort__panicmsg("gort_chan_free of channel with blocked goroutines");
    gort__free(((void **)c)[-1]);
}

size_t gort_chan_len(gort_chan *c)
{
    if (c == NULL || c->dataqsiz == 0)
        return 0;
    size_t n = ring_len(c);
    return n < c->dataqsiz ? n : c->dataqsiz;
}

size_t gort_chan_cap(gort_chan *c)
{
    return c == NULL ? 0 : c->dataqsiz;
}

/* ------------------------------------------------------------------------ */
/* send                                                                     */
/* ------------------------------------------------------------------------ */

__attribute__((noinline, cold)) static void send_on_closed(hchan *c)
{
    gort__chan_unlock(c);
    gort__panicmsg("send on closed channel");
}

/* The rest of a blocking send: nobody to hand to, no room.  c->lock
 * held; released here. */
__attribute__((noinline)) static void chansend_block(hchan *c, const void *ep)
{
    if (!chanpark(c, &c->sendq, (void *)ep, waitReasonChanSend)) {
        /* Woken by close. */
        if (ld_acq(&c->closed) == 0)
            gort__throw("chansend: spurious wakeup");
        gort__panicmsg("send on closed channel");
    }
}

/* Go's chansend.  Returns false only for a non-blocking send that could
 * not proceed.  Inlined into each entry point (chanrecv too), so that
 * block is a constant in each copy: a call with block as a variable was
 * ~8% of an unbuffered ping-pong round trip (docs/bench.md, 2026-12-08). */
static inline __attribute__((always_inline)) bool
chansend(hchan *c, const void *ep, bool block)
{
    if (c == NULL) {
        if (!block)
            return false;
        gort__block_forever(waitReasonChanSendNilChan);
    }
    NOTE_THREAD();
    if (ep == NULL)
        ep = gort__zeroval;
    /* Into the ring without the lock (see "The ring"). */
    if (c->slotsize != 0 &&
        (ring_send(c, ep) || (block && ring_spin(c, ep, NULL, true))))
        return true;
    /* Fast fail without the lock (see "Racy reads"). */
    if (!block && ld_acq(&c->closed) == 0 && full(c))
        return false;

    gort__chan_lock(c);
    if (unlikely(ld_rlx(&c->closed) != 0))
        send_on_closed(c);

    sudog *sg = waitq_dequeue(&c->recvq);
    if (sg != NULL) {
        senddirect(c, sg, ep);
        struct g *gp = sg->g;
        gort__note *note = sg->note;
        gort__chan_unlock(c);
        gort__chan_wake(gp, note);
        return true;
    }

    if (buf_count(c) < c->dataqsiz) {
        buf_push(c, ep);
        gort__chan_unlock(c);
        return true;
    }

    if (!block) {
        gort__chan_unlock(c);
        return false;
    }
    chansend_block(c, ep);
    return true;
}

void gort_chan_send(gort_chan *c, const void *elem)
{
    gort__preempt_check();
    chansend(c, elem, true);
}

bool gort_chan_trysend(gort_chan *c, const void *elem)
{
    gort__preempt_check();
    return chansend(c, elem, false);
}

/* ------------------------------------------------------------------------ */
/* receive                                                                  */
/* ------------------------------------------------------------------------ */

/* The rest of a blocking receive.  c->lock held; released here. */
__attribute__((noinline)) static int chanrecv_block(hchan *c, void *ep)
{
    return chanpark(c, &c->recvq, ep, waitReasonChanReceive) ? 1 : -1;
}

/* Go's chanrecv: 1 received a value, -1 closed and drained (*ep zeroed),
 * 0 a non-blocking receive that could not proceed. */
static inline __attribute__((always_inline)) int
chanrecv(hchan *c, void *ep, bool block)
{
    if (c == NULL) {
        if (!block)
            return 0;
        gort__block_forever(waitReasonChanReceiveNilChan);
    }
    NOTE_THREAD();
    /* Out of the ring without the lock (see "The ring"). */
    if (c->slotsize != 0 &&
        (ring_recv(c, ep) || (block && ring_spin(c, NULL, ep, false))))
        return 1;
    /* Fast fail without the lock (see "Racy reads"). */
    if (!block && empty(c)) {
        if (ld_acq(&c->closed) == 0)
            return 0;
        /* Closed for good; a value may have landed before the close. */
        if (empty(c)) {
            if (ep != NULL)
                elemclr(c, ep);
            return -1;
        }
    }

    gort__chan_lock(c);
    size_t n = buf_count(c);
    if (ld_rlx(&c->closed) != 0) {
        if (n == 0) {
            gort__chan_unlock(c);
            if (ep != NULL)
                elemclr(c, ep);
            return -1;
        }
        /* Closed, but the buffer still holds values: they come first. */
    } else {
        sudog *sg = waitq_dequeue(&c->sendq);
        if (sg != NULL) {
            recvdirect(c, sg, ep);
            struct g *gp = sg->g;
            gort__note *note = sg->note;
            gort__chan_unlock(c);
            gort__chan_wake(gp, note);
            return 1;
        }
    }

    if (n > 0) {
        buf_pop(c, ep);
        gort__chan_unlock(c);
        return 1;
    }

    if (!block) {
        gort__chan_unlock(c);
        return 0;
    }
    return chanrecv_block(c, ep);
}

/* The runtime's own non-blocking operations (timers): no preemption
 * check, since callers may hold a timer's lock. */
bool gort__chan_trysend_np(gort_chan *c, const void *elem)
{
    return chansend(c, elem, false);
}

int gort__chan_tryrecv_np(gort_chan *c, void *elem)
{
    return chanrecv(c, elem, false);
}

bool gort_chan_recv(gort_chan *c, void *elem)
{
    gort__preempt_check();
    return chanrecv(c, elem, true) > 0;
}

int gort_chan_tryrecv(gort_chan *c, void *elem)
{
    gort__preempt_check();
    return chanrecv(c, elem, false);
}

/* ------------------------------------------------------------------------ */
/* close                                                                    */
/* ------------------------------------------------------------------------ */

void gort_chan_close(gort_chan *c)
{
    if (c == NULL)
        gort__panicmsg("close of nil channel");
    NOTE_THREAD();
    gort__chan_lock(c);
    if (ld_rlx(&c->closed) != 0) {
        gort__chan_unlock(c);
        gort__panicmsg("close of closed channel");
    }
    st_rel(&c->closed, 1);

    /* Take every waiter off, under the lock; wake them after it.  They
     * cannot run before we wake them, so their sudogs stay valid. */
    sudog *list = NULL;
    sudog *sg;
    /* Receivers get the zero value and ok = false. */
    while ((sg = waitq_dequeue(&c->recvq)) != NULL) {
        if (sg->elem != NULL) {
            elemclr(c, sg->elem);
            sg->elem = NULL;
        }
        sg->success = false;
        sg->readylink = list;
        list = sg;
    }
    /* Senders panic "send on closed channel" when they run. */
    while ((sg = waitq_dequeue(&c->sendq)) != NULL) {
        sg->elem = NULL;
        sg->success = false;
        sg->readylink = list;
        list = sg;
    }
    gort__chan_unlock(c);

    while (list != NULL) {
        /* Read everything before the wake-up: a woken waiter may return
         * and take its sudog (its stack frame) with it. */
        sudog *next = list->readylink;
        struct g *gp = list->g;
        gort__note *note = list->note;
        gort__chan_wake(gp, note);
        list = next;
    }
}
