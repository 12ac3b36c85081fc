/*
 * chan.c — channels: Go's hchan (src/runtime/chan.go) for C.  Make, send,
 * receive, close, len/cap, free, and the pieces select.c shares (the wait
 * queues, the direct hand-offs, waking a waiter).
 *
 * The model
 *
 *   A channel is one allocation: the hchan header (runtime.h) followed by
 *   a ring buffer of dataqsiz slots of elemsize bytes.  One lock
 *   (c->lock, see "The lock") guards everything that changes.  Two FIFO queues of sudogs
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
 *   it; the buffer is bypassed even when it has room, because a receiver
 *   parks only when the buffer is empty.  A receiver that finds a parked
 *   sender on an unbuffered channel copies straight from the sender's
 *   element; on a buffered channel (then full) it takes the head of the
 *   ring and puts the sender's value in the slot it freed, which is the
 *   tail (recvdirect).  Either way one lock, one copy, one wake-up.
 *
 * Invariants (Go's, under c->lock)
 *
 *   1. At least one of recvq and sendq is empty, except on an unbuffered
 *      channel on which one select waits both to send and to receive.
 *   2. Buffered: qcount > 0 implies recvq is empty; qcount < dataqsiz
 *      implies sendq is empty.
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
 *   read that way an atomic: closed, qcount, and the heads of recvq and
 *   sendq.  They are written only under c->lock, with release stores, and
 *   read with acquire loads; dataqsiz and elemsize never change.
 *
 *   - trysend: "not closed" then "full".  Each read is one atomic word, so
 *     each answer was true at some instant.  A channel that is closed
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
 *   - len and cap read qcount and dataqsiz: a snapshot, as in Go.
 *   - select's optimistic pass (select.c) uses the same reads as hints
 *     only: a case that looks ready is tried under its channel's lock,
 *     and "nothing is ready" is decided with every lock held.
 *   Blocking operations always take the lock; they never act on a racy
 *   read.
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
 *   sections are a few dozen instructions (plus an element copy) and never
 *   block, park or allocate; the one held across a switch (gopark's) is
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

/* Would a send block right now?  (One word read; see "Racy reads".) */
static inline bool full(hchan *c)
{
    if (c->dataqsiz == 0)
        return ld_acq(&c->recvq.first) == NULL;
    return ld_acq(&c->qcount) == c->dataqsiz;
}

/* Would a receive block right now? */
static inline bool empty(hchan *c)
{
    if (c->dataqsiz == 0)
        return ld_acq(&c->sendq.first) == NULL;
    return ld_acq(&c->qcount) == 0;
}

static inline char *chanbuf(hchan *c, size_t i)
{
    return c->buf + i * c->elemsize;
}

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
    if (c->dataqsiz != 0) {
        /* Pretend the value went through the buffer: both indices move
         * on, as they would have after a buffered send and receive. */
        if (++c->recvx == c->dataqsiz)
            c->recvx = 0;
        c->sendx = c->recvx;
    }
    if (sg->elem != NULL) {
        elemmove(c, sg->elem, ep);
        sg->elem = NULL;
    }
    sg->success = true;
}

/* A parked sender sg gives us its value (Go's recv).  Unbuffered: straight
 * from the sender's element.  Buffered (then full): the head of the ring
 * to us, the sender's value into the slot that frees, which is the tail.
 * The channel is locked. */
static inline void recvdirect(hchan *c, sudog *sg, void *ep)
{
    if (c->dataqsiz == 0) {
        if (ep != NULL)
            elemmove(c, ep, sg->elem);
    } else {
        char *qp = chanbuf(c, c->recvx);
        if (ep != NULL)
            elemmove(c, ep, qp);
        elemmove(c, qp, sg->elem);
        if (++c->recvx == c->dataqsiz)
            c->recvx = 0;
        c->sendx = c->recvx;
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
static bool chanpark(hchan *c, waitq *q, void *ep, int reason)
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
    size_t hdr = (sizeof(hchan) + 63) & ~(size_t)63;
    size_t mem = elem_size * cap;
    size_t total = (hdr + mem + 63) & ~(size_t)63;
    /* Cache-line aligned: the lock word should not share a line with the
     * neighbours' hot data.  Aligned by hand inside a plain malloc block
     * (whose address is kept just below the channel): glibc's
     * aligned_alloc splits a bigger chunk and frees the rest, and with
     * a channel per goroutine (skynet) make and free cost ~5% of the run
     * in its chunk consolidation; small mallocs come from its per-thread
     * cache. */
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
    c->buf = (char *)c + hdr;
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
    return c == NULL ? 0 : ld_acq(&c->qcount);
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
 * not proceed. */
static inline bool chansend(hchan *c, const void *ep, bool block)
{
    if (c == NULL) {
        if (!block)
            return false;
        gort__block_forever(waitReasonChanSendNilChan);
    }
    NOTE_THREAD();
    if (ep == NULL)
        ep = gort__zeroval;
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

    size_t n = ld_rlx(&c->qcount);
    if (n < c->dataqsiz) {
        elemmove(c, chanbuf(c, c->sendx), ep);
        if (++c->sendx == c->dataqsiz)
            c->sendx = 0;
        st_rel(&c->qcount, n + 1);
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
static inline int chanrecv(hchan *c, void *ep, bool block)
{
    if (c == NULL) {
        if (!block)
            return 0;
        gort__block_forever(waitReasonChanReceiveNilChan);
    }
    NOTE_THREAD();
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
    size_t n = ld_rlx(&c->qcount);
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
        char *qp = chanbuf(c, c->recvx);
        if (ep != NULL)
            elemmove(c, ep, qp);
        if (++c->recvx == c->dataqsiz)
            c->recvx = 0;
        st_rel(&c->qcount, n - 1);
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
