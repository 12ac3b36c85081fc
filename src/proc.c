/*
 * proc.c — the scheduler: Go's G/M/P model (see Go's src/runtime/proc.go,
 * "Goroutine scheduler", for the design this follows).
 *
 *   G  a goroutine: a stack and a saved context (runtime.h, g.c).
 *   M  an OS thread.  Each M runs the scheduler loop on its own thread
 *      stack ("g0") and switches to goroutines from there.
 *   P  a processor: the right to run goroutines, with a local run queue.
 *      There are exactly gomaxprocs Ps; an M needs a P to run a G.
 *
 * A goroutine that parks, yields or exits calls gort__gswitch, which
 * switches straight to the next G of its P's local queue, or to the M's g0
 * (the scheduler loop on the thread's stack) when there is none or
 * something unusual is going on.  Whatever runs next finishes the job
 * (publishes the goroutine as waiting, queues it, frees it) *after* the
 * goroutine's registers are saved (gort__afterswitch).  That ordering is
 * what makes it safe for another M to resume the goroutine the moment it
 * is published.  The path from gopark to the register switch and back,
 * with the run queue's get and the park's commit, is one function
 * (gswitch_inl and what it inlines), and so are the channel operations
 * down to gopark: a blocking operation paid every call level twice, and
 * the flat path took a ping-pong round trip from ~73 to ~58 ns
 * (docs/bench.md, 2026-12-08).
 *
 * Run queues (the code is in runq.h, shared with the model checker in
 * tests/model/).  Each P has a 256-slot ring (runq) and a runnext slot.  Only
 * the owner P pushes (writes a slot, then store-release the tail); anyone
 * pops by CAS on the head (the owner from its own loop, thieves in
 * runqgrab).  A thief copies slots *before* its CAS on head; if the CAS
 * fails it discards the copy, so slots it read and the owner later
 * overwrote are never used: the owner only overwrites a slot after head
 * passed it, and a successful CAS proves head did not move.  runnext is set
 * only by the owner (a goroutine readied by the running one runs next and
 * inherits its time slice) and may be taken by anyone with a CAS to NULL.
 * A full ring moves half of itself plus the new G to the global queue
 * (sched.lock).  Every 61st schedule tick looks at the global queue first,
 * so it cannot starve.
 *
 * Spinning Ms.  An M without work steals (4 rounds over the Ps in a random
 * coprime order, half of a victim's queue, runnext only in the last round)
 * while "spinning".  At most half the busy Ps' worth of Ms spin.  When work
 * is submitted (gort_go, goready) wakep starts one spinning M if a P is
 * idle and nobody spins.  The handshake that avoids lost work: a spinning
 * M that gives up first releases its P, then decrements nmspinning, then
 * re-checks every run queue; a submitter first publishes the G, then reads
 * nmspinning/npidle (seq_cst on both sides).  Either the submitter sees no
 * spinner and an idle P and wakes an M, or the spinner's re-check sees the
 * G.  An M that finds work while spinning stops spinning and calls wakep,
 * so a spinner stays around while there may be more work.
 *
 * Lazy wake-up (gort's, not Go's).  A goroutine that readies another
 * (goready: a channel hand-off, an unlock) while its P has nothing else
 * queued puts it in runnext and wakes nobody; it only sets p.wakepending.
 * Go calls wakep there, and in a hand-off whose readier blocks next (a
 * ping-pong, a request and its reply) the woken M finds nothing (runnext
 * is taken by its own P first), sleeps, and is woken again by the next
 * hand-off: on a 2-CPU VM the kernel put that M on the readier's CPU, so
 * every round preempted the readier twice (futex wake, then the 3 us
 * pause before stealing runnext): pingpong at 2 Ps cost 1.4x its 1-P
 * time.  The wake-up is made, not dropped:
 *   - findrunnable (the readier parked, yielded, was preempted or ended)
 *     clears wakepending and calls wakep if the ring holds more than the
 *     readied G, which runs next on this P;
 *   - the readier's next goready or gort_go finds runnext taken and wakes
 *     as usual;
 *   - sysmon, finding wakepending set on a running P that has not switched
 *     goroutines since its previous round (the readier goes on computing),
 *     clears it by CAS and calls wakep, so the readied G gets an idle P
 *     within two sysmon rounds (at most ~2 ms, ~0.2 ms typically) instead
 *     of Go's ~3 us + a thread wake-up.
 * The flag is only a hint: the readied G is queued in runnext either way,
 * where the owner and thieves find it, so a stale flag costs one spurious
 * wakep, and a cleared one can only leave the G to its own P, which runs
 * it at its next schedule (findrunnable) or after a preemption.  The
 * owner stores it relaxed; sysmon's CAS (true -> false, then wakep) and
 * the owner's clear cannot both skip the wake-up while the G waits: the
 * owner clears it only in findrunnable, where it runs the G itself.
 *
 * Idle Ms sleep on a futex note (m.park) on sched.midle; startm hands such
 * an M a P through m.nextp.  checkdead runs when an M goes idle: if no M
 * is running anything, no goroutine can ever run again (until timers,
 * netpoll and syscalls arrive, each of which counts as "running").
 *
 * gort_run: the calling thread is not an M; it starts one, queues the main
 * goroutine and sleeps on sched.main_done.  When main returns, sched.exiting
 * makes every M put its P down at its next scheduling point; the goroutines
 * left belong to an old generation (g.gen) and are discarded if they are
 * ever scheduled again.
 *
 * Locked goroutines (gort_lock_os_thread): the G and the M point at each
 * other.  When the G blocks, its M hands its P off and sleeps
 * (stoplockedm); an M that dequeues the G hands its own P to the locked M
 * (startlockedm) and goes idle.
 *
 * Lock order: see runtime.h.  sched.lock is never held while switching.
 */
#include "runtime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

schedt gort__sched;
#define sched gort__sched

/* This thread's M (runtime.h reads it; tools/gort-gdb.py too). */
__thread __attribute__((tls_model("initial-exec"))) struct m *gort__tls_m;

/* ------------------------------------------------------------------------ */
/* Thread-locals.  noinline + a memory barrier: the compiler must re-read   */
/* them after any call that may have moved the goroutine to another M       */
/* (x86_64 and aarch64 read the M inline instead: runtime.h).               */
/* ------------------------------------------------------------------------ */

#if !GORT__INLINE_TLS
__attribute__((noinline)) struct m *gort__getm(void)
{
    __asm__ __volatile__("" ::: "memory");
    return gort__tls_m;
}

__attribute__((noinline)) struct g *gort__getg(void)
{
    __asm__ __volatile__("" ::: "memory");
    struct m *mp = gort__tls_m;
    return mp ? mp->curg : NULL;
}
#endif

__attribute__((noinline)) void gort__setm(struct m *mp)
{
    __asm__ __volatile__("" ::: "memory");
    gort__tls_m = mp;
}

/* Not inlinable, and with a barrier: inlined, a compiler may keep the
 * address from before a switch (it did: clang, in gort__gswitch). */
__attribute__((noinline)) int *gort_errno_location(void)
{
    __asm__ __volatile__("" ::: "memory");
    return __errno_location();
}

uint32_t gort__fastrand(void)
{
    struct m *mp = gort__getm();
    static _Atomic uint32_t seed = 0x9e3779b9;
    if (!mp)
        return atomic_fetch_add(&seed, 0x9e3779b9) * 2654435761u;
    /* xorshift64+ on the M's state (Go's fastrand idea). */
    uint32_t s1 = mp->fastrand[0], s0 = mp->fastrand[1];
    s1 ^= s1 << 17;
    s1 = s1 ^ s0 ^ (s1 >> 7) ^ (s0 >> 16);
    mp->fastrand[0] = s0;
    mp->fastrand[1] = s1;
    return s0 + s1;
}

/* ------------------------------------------------------------------------ */
/* Local run queues                                                         */
/* ------------------------------------------------------------------------ */

static void globrunqputbatch_locked(struct g *const *batch, int32_t n);

/* runq.h's overflow: a batch for the global queue. */
static inline void runq_globputbatch(struct g **batch, int32_t n)
{
    gort__lock(&sched.lock);
    globrunqputbatch_locked(batch, n);
    gort__unlock(&sched.lock);
}

/* runq.h's runnext without an RMW (its header): on wherever the kernel
 * lets this process register for private expedited membarriers (Linux
 * 4.14), unless GORTDEBUG=runnextcas=1. */
static bool fastnext;
#define RQ_FASTNEXT (likely(fastnext))
#define RQ_MEMBARRIER() runq_membarrier()
#define RQ_WAIT_WHILE_BUSY(p) runq_wait_while_busy(p)

#ifndef MEMBARRIER_CMD_PRIVATE_EXPEDITED
#define MEMBARRIER_CMD_PRIVATE_EXPEDITED (1 << 3)
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED (1 << 4)
#endif

static void runq_membarrier(void)
{
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
        return;
    /* Registered once per process (mm); a fork's child may need it again. */
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                0, 0) != 0 ||
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
        gort__fatal("membarrier failed after registration");
}

/* The owner's window is a few instructions that never block: spin, and
 * yield the CPU only if its thread was switched out inside it. */
static void runq_wait_while_busy(struct p *victim)
{
    for (int i = 0;
         atomic_load_explicit(&victim->runnextbusy, memory_order_acquire) != 0;
         i++) {
        if (i < 64)
            gort__procyield(1);
        else
            gort__osyield();
    }
}

/* Once per process, before any P runs (runtime_init). */
static void runq_init_fastnext(void)
{
    fastnext = !gort__debug.runnextcas &&
               syscall(SYS_membarrier,
                       MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

#include "runq.h"

/* ------------------------------------------------------------------------ */
/* Global run queue (sched.lock)                                            */
/* ------------------------------------------------------------------------ */

/* Makes room for n Gs in the global ring: called with n = the number of
 * Gs that will exist (gort__allgadd), so that a put never finds it full.
 * false, with nothing changed, when the ring cannot grow. */
bool gort__globrunq_reserve_locked(uint64_t n)
{
    gqueue *q = &sched.runq;
    if (n <= q->cap)
        return true;
    uint64_t ncap = q->cap ? q->cap : 1024;
    while (ncap < n)
        ncap *= 2;
    struct g **nv = gort__malloc(ncap * sizeof *nv);
    if (!nv)
        return false;
    for (uint64_t i = 0; i < (uint64_t)q->size; i++)
        nv[i] = q->v[(q->head + i) & (q->cap - 1)];
    gort__free(q->v);
    q->v = nv;
    q->cap = ncap;
    q->head = 0;
    q->tail = (uint64_t)q->size;
    return true;
}

/* Appends n Gs, in order. */
static void globrunqputbatch_locked(struct g *const *batch, int32_t n)
{
    gqueue *q = &sched.runq;
    if (unlikely((uint64_t)q->size + (uint64_t)n > q->cap))
        gort__throw("global run queue overflow");
    for (int32_t i = 0; i < n; i++)
        q->v[(q->tail + (uint64_t)i) & (q->cap - 1)] = batch[i];
    q->tail += (uint64_t)n;
    q->size += n;
    atomic_store(&sched.runqsize, q->size);
}

static void globrunqput_locked(struct g *gp)
{
    globrunqputbatch_locked(&gp, 1);
}

void gort__globrunqput(struct g *gp)
{
    gort__lock(&sched.lock);
    globrunqput_locked(gp);
    gort__unlock(&sched.lock);
}

/* The G at the front of the global queue, or NULL. */
static inline struct g *globrunqpeek_locked(void)
{
    gqueue *q = &sched.runq;
    return q->size ? q->v[q->head & (q->cap - 1)] : NULL;
}

/* Takes Gs from the global queue, Go's share: one when max == 1 (the
 * fairness check), else size/gomaxprocs + 1, at most RUNQ_SIZE/2.
 * Returns the first G; the others are copied to rest (room for
 * RUNQ_SIZE/2), *nrest of them, for runqputbatch (after unlocking). */
static struct g *globrunqget_locked(int64_t max, struct g **rest,
                                    uint32_t *nrest)
{
    gqueue *q = &sched.runq;
    *nrest = 0;
    if (q->size == 0)
        return NULL;
    int32_t procs = atomic_load_explicit(&sched.gomaxprocs,
                                         memory_order_relaxed);
    int64_t n = q->size / (procs > 0 ? procs : 1) + 1;
    if (n > q->size)
        n = q->size;
    if (max > 0 && n > max)
        n = max;
    if (n > RUNQ_SIZE / 2)
        n = RUNQ_SIZE / 2;
    struct g *gp = q->v[q->head & (q->cap - 1)];
    for (int64_t i = 1; i < n; i++)
        rest[i - 1] = q->v[(q->head + (uint64_t)i) & (q->cap - 1)];
    q->head += (uint64_t)n;
    q->size -= n;
    *nrest = (uint32_t)(n - 1);
    atomic_store(&sched.runqsize, q->size);
    return gp;
}

/* Puts n Gs into pp's ring, publishing the tail once; what does not fit
 * goes back to the global queue. */
static void runqputbatch(struct p *pp, struct g *const *batch, uint32_t n)
{
    if (n == 0)
        return;
    uint32_t h = atomic_load_explicit(&pp->runqhead, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
    uint32_t i = 0;
    for (; i < n && t - h < RUNQ_SIZE; i++, t++)
        atomic_store_explicit(&pp->runq[t % RUNQ_SIZE], batch[i],
                              memory_order_relaxed);
    atomic_store_explicit(&pp->runqtail, t, memory_order_release);
    if (i < n) {
        gort__lock(&sched.lock);
        globrunqputbatch_locked(batch + i, (int32_t)(n - i));
        gort__unlock(&sched.lock);
    }
}

static struct g *globrunqget(int64_t max)
{
    struct g *gp, *rest[RUNQ_SIZE / 2];
    uint32_t nrest;
    struct m *mp = gort__getm();
    gort__lock(&sched.lock);
    gp = globrunqget_locked(max, rest, &nrest);
    gort__unlock(&sched.lock);
    runqputbatch(mp->p, rest, nrest);
    return gp;
}

/* Go's injectglist for the netpoller's list (still _Gwaiting): makes
 * them runnable; with a P, into its queue (overflow goes global) and a
 * spinner is woken for idle Ps; without one (sysmon, the blocking
 * poller), into the global queue with an M started per idle P. */
static int startm(struct p *pp, bool spinning);
void gort__injectglist(struct g *list, int n)
{
    if (!list)
        return;
    struct m *mp = gort__getm();
    struct p *pp = mp ? mp->p : NULL;
    struct g *batch[RUNQ_SIZE / 2];
    while (list) {
        uint32_t k = 0;
        for (; list && k < RUNQ_SIZE / 2; k++) {
            struct g *next = list->schedlink;
            list->schedlink = NULL;
            atomic_store_explicit(&list->status, _Grunnable,
                                  memory_order_release);
            batch[k] = list;
            list = next;
        }
        if (pp) {
            runqputbatch(pp, batch, k);
        } else {
            gort__lock(&sched.lock);
            globrunqputbatch_locked(batch, (int32_t)k);
            gort__unlock(&sched.lock);
        }
    }
    if (pp) {
        gort__wakep();
        return;
    }
    for (int i = 0; i < n && atomic_load(&sched.npidle) > 0; i++)
        startm(NULL, false);
}

/* ------------------------------------------------------------------------ */
/* Idle Ps and Ms (sched.lock)                                              */
/* ------------------------------------------------------------------------ */

static void checkdead(void);

static void pidleput(struct p *pp)
{
    if (!gort__runqempty(pp))
        gort__throw("pidleput: P has non-empty run queue");
    atomic_store(&pp->status, _Pidle);
    pp->link = sched.pidle;
    sched.pidle = pp;
    atomic_fetch_add(&sched.npidle, 1);
}

static struct p *pidleget(void)
{
    struct p *pp = sched.pidle;
    if (pp) {
        sched.pidle = pp->link;
        atomic_fetch_sub(&sched.npidle, 1);
    }
    return pp;
}

static void mput(struct m *mp)
{
    mp->schedlink = sched.midle;
    sched.midle = mp;
    sched.nmidle++;
    checkdead();
}

static struct m *mget(void)
{
    struct m *mp = sched.midle;
    if (mp) {
        sched.midle = mp->schedlink;
        sched.nmidle--;
    }
    return mp;
}

static void acquirep(struct m *mp, struct p *pp)
{
    if (mp->p || pp->m)
        gort__throw("acquirep: already in go");
    mp->p = pp;
    __atomic_store_n(&pp->m, mp, __ATOMIC_RELEASE);
    atomic_store(&pp->status, _Prunning);
}

static struct p *releasep(struct m *mp)
{
    struct p *pp = mp->p;
    if (!pp || pp->m != mp)
        gort__throw("releasep: invalid p state");
    GORT__RELAXED_STORE(pp->m, NULL);
    mp->p = NULL;
    atomic_store(&pp->status, _Pidle);
    return pp;
}

/* ------------------------------------------------------------------------ */
/* Ms                                                                       */
/* ------------------------------------------------------------------------ */

static void schedule_loop(struct m *mp) __attribute__((noreturn));

/* Links a new M into allm; called by the M itself (needs sched.lock). */
static void mcommoninit_locked(struct m *mp)
{
    mp->alllink = sched.allm;
    sched.allm = mp;
}

#ifdef GORT_SAN_ANY
/* What sanitizer.h's switches need to know about g0: the thread's stack
 * and its own TSan fiber. */
static void san_g0_init(struct m *mp)
{
    pthread_attr_t a;
    void *addr = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        pthread_attr_getstack(&a, &addr, &size);
        pthread_attr_destroy(&a);
    }
    mp->g0lo = (uintptr_t)addr;
    mp->g0hi = (uintptr_t)addr + size;
    mp->g0fake = NULL;
    mp->g0fiber = gort__san_current_fiber();
}
#endif

static void *mstart(void *arg)
{
    struct m *mp = arg;
    mp->procid = (pid_t)syscall(SYS_gettid);
    gort__setm(mp);
    mp->errnop = __errno_location();    /* fixed for the thread's life */
    gort__chan_thread_seen = true;  /* an M is never a "plain thread" */
    GORT__SAN(san_g0_init(mp));
    gort__minit(mp);
    gort__lock(&sched.lock);
    mcommoninit_locked(mp);
    gort__unlock(&sched.lock);
    struct p *pp = mp->nextp;
    mp->nextp = NULL;
    acquirep(mp, pp);
    schedule_loop(mp);
}

/* Creates an M that starts with pp (and spinning, if asked).  Called with
 * the M's id already reserved in sched.mnext.  Returns -1 (errno set) if
 * the thread cannot be created.  retry: try again on EAGAIN for ~100 ms
 * (only when no other M runs: otherwise they do the work, and a caller
 * that waits 100 ms on every wakep stalls the Ms that do run). */
static int newm(struct p *pp, bool spinning, int64_t id, bool retry)
{
    struct m *mp = gort__calloc(1, sizeof *mp);
    if (!mp) {
        errno = ENOMEM;
        return -1;
    }
    mp->id = id;
    mp->nextp = pp;
    mp->spinning = spinning;
    mp->fastrand[0] = (uint32_t)(id * 0x9e3779b9u) | 1;
    mp->fastrand[1] = (uint32_t)(gort__nanotime() ^ (uint64_t)(uintptr_t)mp) | 1;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Block signals in the new thread until it has its sigaltstack. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* EAGAIN is often transient (threads still exiting, a loaded
     * emulator): retry a little before giving up. */
    int r;
    for (int tries = 0;; tries++) {
        r = gort__pthread_create(&mp->thread, &attr, mstart, mp);
        if (r != EAGAIN || !retry || tries == 100)
            break;
        gort__usleep(1000);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        gort__free(mp);
        errno = r;
        return -1;
    }
    return 0;
}

/* Schedules some M to run pp (or any idle P when pp is NULL).  Returns
 * -1 if no thread could be created for it. */
static int startm_ex(struct p *pp, bool spinning, bool fatal_if_none);

static int startm(struct p *pp, bool spinning)
{
    return startm_ex(pp, spinning, true);
}

/* fatal_if_none: when no thread can be made and no M runs, die (Go's
 * newosproc) rather than return -1 (gort_run's first M returns EAGAIN). */
static int startm_ex(struct p *pp, bool spinning, bool fatal_if_none)
{
    gort__lock(&sched.lock);
    if (!pp) {
        pp = pidleget();
        if (!pp) {
            gort__unlock(&sched.lock);
            if (spinning)
                atomic_fetch_sub(&sched.nmspinning, 1);
            return 0;
        }
    }
    struct m *nmp = mget();
    if (!nmp) {
        if (sched.mnext - sched.nmfreed >= sched.maxmcount) {
            char detail[64];
            snprintf(detail, sizeof detail,
                     "runtime: program exceeds %d-thread limit\n",
                     sched.maxmcount);
            gort__unlock(&sched.lock);
            gort__fatal_detail(detail, "thread exhaustion");
        }
        /* No M runs (gort_run's first, or all asleep): this one must be
         * made, so newm retries.  The new id counts as running for
         * checkdead from here on. */
        bool alone = sched.mnext - sched.nmfreed - sched.nmidle -
                         sched.nmidlelocked <= 0;
        int64_t id = sched.mnext++;
        gort__unlock(&sched.lock);
        gort__sysmon_wake();
        if (newm(pp, spinning, id, alone) != 0) {
            /* No thread.  Not a deadlock (checkdead must not say so): if
             * other Ms run, they will get to the work; gort_run reports
             * a first M it cannot start as EAGAIN; otherwise, as Go's
             * newosproc, this is fatal. */
            int err = errno;
            gort__lock(&sched.lock);
            sched.nmfreed++;
            /* An idle P holds no work (pidleput): a P handed off with
             * goroutines queued (handoffp) gives them to the global queue,
             * for the Ms that do run. */
            struct g *gp;
            bool inh;
            while ((gp = gort__runqget(pp, &inh)) != NULL)
                globrunqput_locked(gp);
            pidleput(pp);
            if (spinning)
                atomic_fetch_sub(&sched.nmspinning, 1);
            int64_t running = sched.mnext - sched.nmfreed - sched.nmidle -
                              sched.nmidlelocked;
            gort__unlock(&sched.lock);
            if (running <= 0 && fatal_if_none) {
                char buf[128];
                snprintf(buf, sizeof buf,
                         "runtime: failed to create new OS thread (have %lld "
                         "already; errno=%d)\n",
                         (long long)(id - sched.nmfreed), err);
                gort__write_str(2, buf);
                gort__fatal("newosproc");
            }
            errno = err;
            return -1;
        }
        return 0;
    }
    gort__unlock(&sched.lock);
    gort__sysmon_wake();
    if (nmp->spinning || nmp->nextp)
        gort__throw("startm: m is spinning or has a p");
    nmp->spinning = spinning;
    nmp->nextp = pp;
    gort__notewakeup(&nmp->park);
    return 0;
}

/* Sleeps on the M's note until a waker hands it a P (m.nextp), then
 * takes that P. */
static void mpark(struct m *mp)
{
    mp->blocked = true;
    gort__notesleep(&mp->park);
    gort__noteclear(&mp->park);
    mp->blocked = false;
    acquirep(mp, mp->nextp);
    mp->nextp = NULL;
}

/* Stops the current M until it is handed a P; returns with that P. */
static void stopm(struct m *mp)
{
    if (mp->p)
        gort__throw("stopm holding p");
    if (mp->spinning)
        gort__throw("stopm spinning");
    gort__lock(&sched.lock);
    mput(mp);
    gort__unlock(&sched.lock);
    mpark(mp);
}

void gort__wakep(void)
{
    if (atomic_load(&sched.npidle) == 0)
        return;
    int32_t zero = 0;
    if (atomic_load(&sched.nmspinning) != 0 ||
        !atomic_compare_exchange_strong(&sched.nmspinning, &zero, 1))
        return;
    startm(NULL, true);
}

/* Hands off pp, which its M is giving up (locked G parked, M exiting,
 * a system call, sysmon's retake). */
static void handoffp(struct p *pp)
{
    if (!gort__runqempty(pp) || atomic_load(&sched.runqsize) != 0) {
        startm(pp, false);
        return;
    }
    int32_t zero = 0;
    if (atomic_load(&sched.nmspinning) + atomic_load(&sched.npidle) == 0 &&
        atomic_compare_exchange_strong(&sched.nmspinning, &zero, 1)) {
        startm(pp, true);
        return;
    }
    gort__lock(&sched.lock);
    if (sched.runq.size != 0) {
        gort__unlock(&sched.lock);
        startm(pp, false);
        return;
    }
    /* The last running P going idle with timers pending or goroutines
     * waiting on descriptors: keep an M around to sleep until they are
     * due, in the poller (Go: someone must poll). */
    if (atomic_load(&sched.npidle) == atomic_load(&sched.gomaxprocs) - 1 &&
        (atomic_load(&pp->timer0when) != 0 ||
         atomic_load(&gort__np_waiting) > 0) &&
        atomic_load(&sched.pollsleeping) == 0) {
        gort__unlock(&sched.lock);
        startm(pp, false);
        return;
    }
    pidleput(pp);
    gort__unlock(&sched.lock);
}

void gort__handoffp(struct p *pp)
{
    handoffp(pp);
}

void gort__startm_any(void)
{
    startm(NULL, false);
}

int gort_set_max_threads(int n)
{
    if (n < 1) {
        errno = EINVAL;
        return -1;
    }
    gort__ensure_init();
    gort__lock(&sched.lock);
    int prev = sched.maxmcount;
    sched.maxmcount = n;
    gort__unlock(&sched.lock);
    return prev;
}

/* Takes an idle P for mp, prefer if it is idle, else any.  false: none. */
bool gort__acquire_idlep(struct m *mp, struct p *prefer)
{
    gort__lock(&sched.lock);
    struct p *pp = NULL;
    if (prefer && atomic_load(&prefer->status) == _Pidle) {
        for (struct p **pl = &sched.pidle; *pl; pl = &(*pl)->link)
            if (*pl == prefer) {
                *pl = prefer->link;
                atomic_fetch_sub(&sched.npidle, 1);
                pp = prefer;
                break;
            }
    }
    if (!pp)
        pp = pidleget();
    gort__unlock(&sched.lock);
    if (!pp)
        return false;
    acquirep(mp, pp);
    return true;
}

/* A P for a timer armed by a thread without one (before gort_run too). */
static struct p *allocp(int32_t id);
struct p *gort__anyp(void)
{
    gort__ensure_init();
    int32_t n = sched.nallp;
    int32_t procs = atomic_load(&sched.gomaxprocs);
    if (n > procs)
        n = procs;
    if (n > 0)
        return gort__allp((int32_t)(gort__fastrand() % (uint32_t)n));
    gort__lock(&sched.lock);
    if (sched.nallp == 0) {
        if (!allocp(0))
            gort__throw("out of memory allocating a P");
        sched.allp[0]->status = _Pdead;
        GORT__RELAXED_STORE(sched.nallp, 1);
    }
    gort__unlock(&sched.lock);
    return sched.allp[0];
}

/* sched.pollsleeping: 0 nobody; else the sleeper waits in a futex or in
 * the netpoller (then a break wakes it). */
enum { POLL_IN_FUTEX = 1, POLL_IN_NETPOLL = 2 };

/* Go's wakeNetPoller: the timer sleeper must not sleep past when. */
void gort__wake_poller(int64_t when)
{
    atomic_thread_fence(memory_order_seq_cst);
    uint32_t ps = atomic_load(&sched.pollsleeping);
    if (ps) {
        int64_t pu = atomic_load(&sched.polluntil);
        if (pu == 0 || pu > when) {
            if (ps == POLL_IN_NETPOLL)
                gort__netpoll_break();
            else if (atomic_exchange(&sched.pollwake, 1) == 0)
                gort__futexwakeup(&sched.pollwake, 1);
        }
        return;
    }
    gort__wakep();
}

static void resetspinning(struct m *mp)
{
    mp->spinning = false;
    if (atomic_fetch_sub(&sched.nmspinning, 1) <= 0)
        gort__throw("findrunnable: negative nmspinning");
    /* We were the spinner and found work: there may be more, so make
     * sure somebody else is looking. */
    gort__wakep();
}

/* ------------------------------------------------------------------------ */
/* Finding work                                                             */
/* ------------------------------------------------------------------------ */

static unsigned gcd(unsigned a, unsigned b)
{
    while (b) {
        unsigned t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static struct g *stealwork(struct p *pp)
{
    int32_t n = sched.nallp;
    if (n <= 1)
        return NULL;
    for (int i = 0; i < 4; i++) {
        bool last = i == 3;
        unsigned pos = gort__fastrand() % (unsigned)n;
        unsigned inc = 1 + gort__fastrand() % (unsigned)(n - 1 ? n - 1 : 1);
        while (gcd(inc, (unsigned)n) != 1)
            inc = inc % (unsigned)n + 1;
        for (int32_t k = 0; k < n; k++, pos = (pos + inc) % (unsigned)n) {
            struct p *p2 = gort__allp(pos);
            if (!p2 || p2 == pp)
                continue;
            uint32_t st = atomic_load_explicit(&p2->status, memory_order_relaxed);
            if (last && atomic_load_explicit(&p2->timer0when,
                                             memory_order_relaxed) != 0) {
                /* Go's stealTimersOrRunNextG: a victim's expired timers,
                 * whose wake-ups land on our P. */
                int ran = 0;
                gort__checktimers(p2, 0, &ran);
                if (ran) {
                    bool inh;
                    struct g *gp = gort__runqget(pp, &inh);
                    if (gp)
                        return gp;
                }
            }
            if (st == _Pdead || (st == _Pidle && !last))
                continue;
            struct g *gp;
            if (gort__runqsteal(pp, p2, last, &gp)) {
                atomic_fetch_add_explicit(&pp->nsteal, 1, memory_order_relaxed);
                return gp;
            }
        }
    }
    return NULL;
}

/* Is there any work in any run queue? (after dropping our P) */
static bool anywork(void)
{
    if (atomic_load(&sched.runqsize) != 0)
        return true;
    for (int32_t i = 0; i < sched.nallp; i++) {
        struct p *p2 = gort__allp(i);
        if (p2 && !gort__runqempty(p2))
            return true;
    }
    return false;
}

/* Gives back a P whose id is past gomaxprocs: its queue goes global. */
static void retirep_locked(struct p *pp)
{
    struct g *gp;
    bool inherit;
    while ((gp = gort__runqget(pp, &inherit)) != NULL)
        globrunqput_locked(gp);
    if (pp->id != 0)
        gort__movetimers(pp, sched.allp[0]);
    atomic_store(&pp->status, _Pdead);
}

/* Runs the expired timers of every P (after the timer sleeper woke). */
static void runalltimers(void)
{
    int64_t now = gort__nanotime();
    for (int32_t i = 0; i < sched.nallp; i++) {
        struct p *p2 = gort__allp(i);
        if (p2 && atomic_load_explicit(&p2->timer0when, memory_order_acquire))
            gort__checktimers(p2, now, NULL);
    }
}

/* The timer sleeper and network poller: with nothing to run, one idle M
 * waits until the earliest timer of all Ps, in the netpoller once it
 * exists (Go's blocking netpoll), else in a futex; with goroutines
 * waiting on descriptors and no timer, in the netpoller for as long as it
 * takes.  Whoever arms an earlier timer wakes it (gort__wake_poller); the
 * other idle Ms sleep on their notes.  The handshake: the sleeper
 * publishes pollsleeping and polluntil, then re-reads the heaps; an armer
 * publishes its timer, then reads pollsleeping (fences on both sides).
 * Either the sleeper sees the timer or the armer sees the sleeper.  A
 * goroutine made ready meanwhile is seen by anywork() or wakes an M of
 * its own (wakep), since the sleeper holds no P.  Returns with a P when
 * it waited and has something to do (the timers it woke for are run, the
 * goroutines the poller readied are queued), false if it did not or got
 * no P. */
static bool timersleep(struct m *mp)
{
    bool np = gort__netpoll_inited();
    int64_t until = gort__timesleepuntil();
    if (until == 0 && !(np && atomic_load(&gort__np_waiting) > 0))
        return false;
    uint32_t z = 0;
    uint32_t mode = np ? POLL_IN_NETPOLL : POLL_IN_FUTEX;
    if (!atomic_compare_exchange_strong(&sched.pollsleeping, &z, mode))
        return false;
    atomic_store(&sched.polluntil, until);
    atomic_thread_fence(memory_order_seq_cst);
    until = gort__timesleepuntil();
    atomic_store(&sched.polluntil, until);
    struct g *list = NULL;
    int n = 0;
    bool exiting = atomic_load_explicit(&sched.exiting, memory_order_acquire);
    if (!anywork() && !exiting) {
        int64_t now = until ? gort__nanotime() : 0;
        if (np) {
            if (until == 0 || until > now)
                list = gort__netpoll(until ? until - now : -1, &n);
        } else if (until != 0 && until > now) {
            gort__futexsleep(&sched.pollwake, 0, until - now);
        }
    }
    atomic_store(&sched.pollwake, 0);
    atomic_store(&sched.polluntil, 0);
    atomic_store(&sched.pollsleeping, 0);
    if (!gort__acquire_idlep(mp, NULL)) {
        gort__injectglist(list, n);     /* global; Ms started for them */
        return false;
    }
    gort__injectglist(list, n);
    runalltimers();
    return true;
}

/* A non-blocking look at the netpoller (findrunnable, before stealing):
 * when goroutines wait on descriptors, nobody is blocked in the poller
 * (it would get the events) and nobody else is looking now. */
static struct g *netpoll_nonblock(void)
{
    if (likely(atomic_load_explicit(&gort__np_waiting, memory_order_relaxed) <= 0) ||
        atomic_load_explicit(&sched.pollsleeping, memory_order_relaxed) ==
            POLL_IN_NETPOLL ||
        atomic_load_explicit(&gort__np_polling, memory_order_relaxed))
        return NULL;
    uint32_t z = 0;
    if (!atomic_compare_exchange_strong(&gort__np_polling, &z, 1))
        return NULL;
    int n;
    struct g *list = gort__netpoll(0, &n);
    atomic_store(&gort__np_polling, 0);
    if (!list)
        return NULL;
    struct g *gp = list;
    list = gp->schedlink;
    gp->schedlink = NULL;
    atomic_store_explicit(&gp->status, _Grunnable, memory_order_release);
    gort__injectglist(list, n - 1);
    return gp;
}

void gort__sysmon_netpoll(void)
{
    if (atomic_load(&sched.pollsleeping) == POLL_IN_NETPOLL)
        return;
    uint32_t z = 0;
    if (!atomic_compare_exchange_strong(&gort__np_polling, &z, 1))
        return;
    int n;
    struct g *list = gort__netpoll(0, &n);
    atomic_store(&gort__np_polling, 0);
    gort__injectglist(list, n);
}

/* Returns a runnable G, with mp->p set.  Blocks (the M sleeps) until one
 * exists. */
static struct g *findrunnable(struct m *mp, bool *inherit)
{
    struct p *pp;
    struct g *gp;
top:
    pp = mp->p;
    *inherit = false;
    bool exiting = atomic_load_explicit(&sched.exiting, memory_order_acquire);
    if (unlikely(exiting || pp->id >= atomic_load(&sched.gomaxprocs))) {
        /* main returned, or our P was removed by gort_maxprocs. */
        if (exiting) {
            /* Goroutines left in our queue were abandoned with main. */
            bool inh;
            while ((gp = gort__runqget(pp, &inh)) != NULL)
                gort__goexit0(gp);
        }
        gort__lock(&sched.lock);
        bool retire = pp->id >= atomic_load(&sched.gomaxprocs);
        if (!retire && !atomic_load(&sched.exiting)) {
            /* A new gort_run began meanwhile: keep the P and go on. */
            gort__unlock(&sched.lock);
            goto top;
        }
        if (mp->spinning) {
            mp->spinning = false;
            atomic_fetch_sub(&sched.nmspinning, 1);
        }
        releasep(mp);
        if (retire) {
            retirep_locked(pp);
            /* Before the unlock: a dead P may be revived by the next
             * gort_maxprocs and taken by another M at once. */
            gort__stack_flush_cache(pp);
            gort__unlock(&sched.lock);
            gort__wakep();
        } else {
            pidleput(pp);
            gort__unlock(&sched.lock);
        }
        stopm(mp);
        goto top;
    }

    /* A G readied without a wake-up (gort__goready) is next in line here,
     * so no other P is needed for it; one is if more work waits behind. */
    if (atomic_load_explicit(&pp->wakepending, memory_order_relaxed)) {
        atomic_store_explicit(&pp->wakepending, false, memory_order_relaxed);
        if (atomic_load_explicit(&pp->runqhead, memory_order_relaxed) !=
            atomic_load_explicit(&pp->runqtail, memory_order_relaxed))
            gort__wakep();
    }

    /* Our P's expired timers first: their wake-ups land in our queue. */
    if (atomic_load_explicit(&pp->timer0when, memory_order_relaxed))
        gort__checktimers(pp, 0, NULL);

    /* Fairness: now and then look at the global queue first. */
    if (pp->schedtick % 61 == 0 && atomic_load(&sched.runqsize) > 0) {
        if ((gp = globrunqget(1)) != NULL)
            return gp;
    }
    if ((gp = gort__runqget(pp, inherit)) != NULL)
        return gp;
    if (atomic_load(&sched.runqsize) > 0) {
        if ((gp = globrunqget(0)) != NULL)
            return gp;
    }

    /* The network, before stealing (Go's order). */
    if ((gp = netpoll_nonblock()) != NULL)
        return gp;

    /* Steal, if not too many Ms are at it already. */
    int32_t procs = atomic_load(&sched.gomaxprocs);
    if (mp->spinning ||
        2 * atomic_load(&sched.nmspinning) < procs - atomic_load(&sched.npidle)) {
        if (!mp->spinning) {
            mp->spinning = true;
            atomic_fetch_add(&sched.nmspinning, 1);
        }
        if ((gp = stealwork(pp)) != NULL)
            return gp;
    }

    /* Nothing: give up the P. */
    gort__lock(&sched.lock);
    if (sched.runq.size != 0) {
        struct g *rest[RUNQ_SIZE / 2];
        uint32_t nrest;
        gp = globrunqget_locked(0, rest, &nrest);
        gort__unlock(&sched.lock);
        runqputbatch(pp, rest, nrest);
        return gp;
    }
    releasep(mp);
    pidleput(pp);
    gort__unlock(&sched.lock);

    /* The delicate dance: stop spinning, then look once more, so that a
     * G submitted while we were spinning (whose submitter saw us spinning
     * and woke nobody) is not stranded. */
    if (mp->spinning) {
        mp->spinning = false;
        if (atomic_fetch_sub(&sched.nmspinning, 1) <= 0)
            gort__throw("findrunnable: negative nmspinning");
        if (anywork()) {
            gort__lock(&sched.lock);
            pp = pidleget();
            gort__unlock(&sched.lock);
            if (pp) {
                acquirep(mp, pp);
                mp->spinning = true;
                atomic_fetch_add(&sched.nmspinning, 1);
                goto top;
            }
        }
    }
    if (timersleep(mp)) {
        mp->spinning = true;
        atomic_fetch_add(&sched.nmspinning, 1);
        goto top;
    }
    stopm(mp);
    goto top;
}

/* ------------------------------------------------------------------------ */
/* Running goroutines                                                       */
/* ------------------------------------------------------------------------ */

static void stoplockedm(struct m *mp);
static void startlockedm(struct m *mp, struct g *gp);

/* gp's reserved stack is in no cache of ours, not in the pool, and no
 * slab can be mapped: the stack credit says a free one sits in another
 * P's cache (stack.c).  Take it from an idle P (sched.lock makes its cache
 * ours for the moment), or wait for a busy one to give its cache back
 * (gort__stack_wanted makes its next stack free spill everything), for
 * up to a second; false after that. */
static __attribute__((noinline)) bool stack_scavenge(struct p *pp,
                                                     gort__stack *out)
{
    bool ok = false;
    atomic_fetch_add(&gort__stack_wanted, 1);
    for (int i = 0; i < 10000 && !ok; i++) {
        gort__lock(&sched.lock);
        for (struct p *ip = sched.pidle; ip && !ok; ip = ip->link)
            ok = gort__stack_take_cached(ip, out);
        gort__unlock(&sched.lock);
        if (!ok)
            ok = gort__stack_get_reserved(pp, out) == 0;
        if (!ok)
            gort__usleep(100);
    }
    atomic_fetch_sub(&gort__stack_wanted, 1);
    return ok;
}

/* Makes gp the running goroutine of mp (which holds pp). */
static inline __attribute__((always_inline)) void
startg(struct m *mp, struct p *pp, struct g *gp, bool inherit)
{
    if (unlikely(gp->sp == NULL)) {
        /* First run: take the reserved stack (custom-sized stacks were
         * mapped by gort_go_ex) and build the entry frame. */
        if (gp->stack.lo == 0) {
            if (!gp->stack_reserved ||
                (gort__stack_get_reserved(pp, &gp->stack) != 0 &&
                 !stack_scavenge(pp, &gp->stack)))
                gort__fatal("out of memory allocating a goroutine stack");
            gp->stack_reserved = false;
        }
        GORT__SAN(gort__san_stack_fresh(&gp->san_fiber, gp->stack.lo,
                                        gp->stack.hi));
        GORT__RELAXED_STORE(gp->sp, gort__makectx(gp->stack.hi, gp));
    }
    __atomic_store_n(&mp->curg, gp, __ATOMIC_RELEASE);
    gp->m = mp;
    atomic_store_explicit(&gp->status, _Grunning, memory_order_relaxed);
    if (unlikely(atomic_load_explicit(&gp->preempt, memory_order_relaxed)))
        atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
    gort__count(&pp->nswitch);
    if (!inherit) {
        GORT__RELAXED_STORE(pp->schedtick, pp->schedtick + 1);
        atomic_store_explicit(
            &pp->nschedtick,
            atomic_load_explicit(&pp->nschedtick, memory_order_relaxed) + 1,
            memory_order_relaxed);
    }
}

/* Switches from g0 to gp; returns on g0 when some goroutine switches to
 * g0 (gp itself, or one it switched to directly). */
static void execute(struct m *mp, struct g *gp, bool inherit)
{
    if (GORT_TRACE_ON())
        gort__trace_start_g(mp->p, gp);
    startg(mp, mp->p, gp, inherit);
    GORT__SAN(gort__san_switch(&mp->g0fake, gp->stack.lo, gp->stack.hi,
                               gp->san_fiber));
    gort__swapctx(&mp->g0sp, gp->sp);
    GORT__SAN(gort__san_arrived(mp->g0fake));
    __atomic_store_n(&mp->curg, NULL, __ATOMIC_RELEASE);
    gort__afterswitch(mp);
}

/* A goroutine without a guard page was found at the end of its stack
 * (own: reported from g0, after the switch), or its canary overwritten
 * when it switched out (reported before the switch, on its own stack,
 * which still has room: the stack it would switch to may be the one it
 * overran). */
static _Noreturn void stack_overflowed(struct g *gp, bool own)
{
    if (own) {
        /* On g0 (ACT_OVERFLOW): gp's stack has no room left for a report,
         * and below it may lie another goroutine's live frames (reporting
         * from there once overwrote the main goroutine's saved context;
         * reliability.md).  gp's frames are read from its saved context,
         * which lies at most a guard slot below its stack. */
        char buf[160];
        snprintf(buf, sizeof buf,
                 "runtime: goroutine %lld overflowed its %zu-byte stack\n",
                 (long long)gp->goid, (size_t)(gp->stack.hi - gp->stack.lo));
        gort__fatal_switched_out(buf, "stack overflow", gp);
    }
    char buf[160];
    snprintf(buf, sizeof buf,
             "runtime: the stack canary of goroutine %lld was overwritten"
             " (it or the goroutine whose stack lies below overflowed)\n",
             (long long)gp->goid);
    gort__write_str(2, buf);
    gort__fatal("stack overflow");
}

/* What the goroutine that switched away asked for, other than a park. */
static __attribute__((noinline)) void afterswitch_rest(struct m *mp,
                                                       struct g *gp, int act)
{
    switch (act) {
    case ACT_YIELD:
        atomic_store_explicit(&gp->status, _Grunnable, memory_order_relaxed);
        if (gp->lockedm || (gort__runqempty(mp->p) &&
                            atomic_load_explicit(&sched.runqsize,
                                                 memory_order_relaxed) != 0)) {
            /* Yielding to the global queue's work (or, locked, going
             * around it to come back through startlockedm): queue behind
             * it, as Go's Gosched does. */
            gort__globrunqput(gp);
            gort__wakep();
        } else {
            /* Behind the G we switched to: two runnable, so an idle P
             * can have one (without this, two goroutines yielding in
             * turn could share one P for good while another P idles). */
            gort__runqput(mp->p, gp, false);
            gort__wakep();
        }
        break;
    case ACT_YIELD_GLOBAL:
        atomic_store_explicit(&gp->status, _Grunnable, memory_order_relaxed);
        gort__globrunqput(gp);
        gort__wakep();
        break;
    case ACT_EXIT:
        gort__goexit0(gp);
        break;
    case ACT_OVERFLOW:
        stack_overflowed(gp, true);
    default:
        gort__throw("afterswitch: bad act");
    }
}

/* Runs, on the stack switched to, what the goroutine that switched away
 * asked for.  A park (the common case: every blocking channel operation)
 * is inline in the switch; the rest is out of line. */
static inline __attribute__((always_inline)) void afterswitch_inl(struct m *mp)
{
    int act = mp->act;
    if (act == ACT_NONE)
        return;
    struct g *gp = mp->actg;
    mp->act = ACT_NONE;
    mp->actg = NULL;
    if (unlikely(act != ACT_PARK)) {
        afterswitch_rest(mp, gp, act);
        return;
    }
    bool (*unlockf)(struct g *, void *) = mp->waitunlockf;
    void *lock = mp->waitlock;
    mp->waitunlockf = NULL;
    mp->waitlock = NULL;
    gort__count(&mp->p->npark);
    if (!parkcommit(gp, unlockf, lock))
        gort__runqput(mp->p, gp, true);     /* called off: next in line */
}

void gort__afterswitch(struct m *mp)
{
    afterswitch_inl(mp);
}

/* gort_tls of the thread we run on now: inline on x86_64 (runtime.h, at
 * gort__tlsp, says why not under TSan).  asm volatile, so the read after
 * the switch is never merged with the one before it. */
static inline __attribute__((always_inline)) struct gort__tls *tlsp_fast(void)
{
#if defined(__x86_64__) && !(defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer))
    struct gort__tls *t;
    __asm__ __volatile__("movq gort_tls@gottpoff(%%rip), %0\n\t"
                         "addq %%fs:0, %0"
                         : "=r"(t)
                         :
                         : "memory");
    return t;
#else
    return gort__tlsp();
#endif
}

/* The switch itself: gp leaves (to next, or to g0 when next is NULL)
 * asking for act, and this returns when gp runs again.  Inline in the
 * park and yield path (gswitch_inl), a function (switch_out) elsewhere:
 * each call level on the way to the switch is paid twice, going and
 * coming back, by every blocking operation. */
static inline __attribute__((always_inline)) void
switch_out_inl(struct m *mp, struct g *gp, struct g *next, bool inherit,
               int act)
{
    /* Traced: gp's run ends and next's begins, at one clock reading. */
    if (GORT_TRACE_ON())
        gort__trace_switch(mp->p ? mp->p->id : GORT__TRACE_CURLANE, gp,
                           (uint64_t)act | (uint64_t)gp->waitreason << 8,
                           next);
    mp->act = act;
    mp->actg = gp;
    gp->nspawn = 0;
    gp->saved_errno = *mp->errnop;
    gp->tls = *tlsp_fast();     /* scope and panic chains go with gp */
    /* A dying goroutine's ASan fake frames die with it (sanitizer.h). */
    GORT__SAN(void **fake = act == ACT_EXIT ? NULL : &gp->san_fake);
    if (next) {
        startg(mp, mp->p, next, inherit);
        GORT__SAN(gort__san_switch(fake, next->stack.lo, next->stack.hi,
                                   next->san_fiber));
        gort__swapctx(&gp->sp, next->sp);
    } else {
        __atomic_store_n(&mp->curg, NULL, __ATOMIC_RELEASE);
        GORT__SAN(gort__san_switch(fake, mp->g0lo, mp->g0hi, mp->g0fiber));
        gort__swapctx(&gp->sp, mp->g0sp);
    }
    /* Running again, possibly on another M. */
    GORT__SAN(gort__san_arrived(gp->san_fake));
    mp = gort__getm();
    afterswitch_inl(mp);
    *tlsp_fast() = gp->tls;
    *mp->errnop = gp->saved_errno;
}

static __attribute__((noinline)) void switch_out(struct m *mp, struct g *gp,
                                                struct g *next, bool inherit,
                                                int act)
{
    switch_out_inl(mp, gp, next, inherit, act);
}

static inline __attribute__((always_inline)) void gswitch_inl(int act)
{
    struct m *mp = gort__getm();
    struct g *gp = mp->curg;
    struct p *pp = mp->p;
    struct g *next = NULL;
    bool inherit = false;
    if (unlikely(pp == NULL))
        gort__fatal(mp->insyscall
                        ? "goroutine blocked in gort while inside "
                          "gort_syscall_enter/gort_syscall_exit"
                        : "gswitch without a P");
    /* Overflow check for stacks without a guard page: the canary, and
     * where the stack pointer is now (a frame may skip the canary). */
    if (unlikely((uintptr_t)__builtin_frame_address(0) < gp->stack.lo + 512))
        switch_out(mp, gp, NULL, false, ACT_OVERFLOW);  /* no return */
    if (unlikely(!gort__stack_canary_ok(&gp->stack)))
        stack_overflowed(gp, false);
    if (likely(!mp->lockedg)) {
        /* The fast path: the next G of our own queue, switched to
         * directly.  Anything unusual goes through g0. */
        bool normal = !atomic_load_explicit(&sched.exiting,
                                            memory_order_relaxed) &&
                      pp->id < atomic_load_explicit(&sched.gomaxprocs,
                                                    memory_order_relaxed);
        int64_t gq = atomic_load_explicit(&sched.runqsize, memory_order_relaxed);
        /* A timer due goes through the scheduler (which runs it).  The
         * clock is read on every 4th switch only (a read costs more than
         * a switch on some VMs): a due timer waits at most 3 switches. */
        int64_t tw = atomic_load_explicit(&pp->timer0when, memory_order_relaxed);
        if (unlikely(tw != 0) && (++pp->timercheck & 3) == 0 &&
            tw <= gort__nanotime())
            normal = false;
        if (likely(normal) && !(gq != 0 && pp->schedtick % 61 == 0)) {
            next = runqget_inl(pp, &inherit);
            if (next && unlikely(next->lockedm != NULL ||
                                 next->gen != atomic_load(&sched.gen))) {
                mp->handoffg = next;
                next = NULL;
            }
        }
        if (!next && act == ACT_YIELD && !mp->handoffg && gq == 0 &&
            likely(normal))
            return;     /* nobody else wants this P: keep running */
    }
    switch_out_inl(mp, gp, next, inherit, act);
}

void gort__gswitch(int act)
{
    gswitch_inl(act);
}

static void schedule_loop(struct m *mp)
{
    for (;;) {
        bool inherit = false;
        struct g *gp;
        if (unlikely(mp->lockedg)) {
            /* Our goroutine is wired to us: wait until it is runnable. */
            stoplockedm(mp);
            gp = mp->lockedg;
        } else {
            if (unlikely(!mp->p))
                stopm(mp);  /* its goroutine went back to the queue
                               from a system call (syscall.c) */
            if (mp->handoffg) {
                gp = mp->handoffg;
                mp->handoffg = NULL;
            } else {
                gp = findrunnable(mp, &inherit);
                if (mp->spinning)
                    resetspinning(mp);
            }
            if (unlikely(gp->gen != atomic_load(&sched.gen))) {
                /* Abandoned by an earlier gort_run: never runs again. */
                gort__goexit0(gp);
                continue;
            }
            if (unlikely(gp->lockedm != NULL && gp->lockedm != mp)) {
                startlockedm(mp, gp);
                continue;
            }
        }
        execute(mp, gp, inherit);
        if (unlikely(mp->exiting)) {
            /* A locked goroutine ended without unlocking: the thread goes
             * with it, as in Go.  As Go's mexit: the P is handed on while
             * this M still counts as running, and only then does the M
             * stop counting and the deadlock detector look.  (Counted out
             * first, an M going idle meanwhile saw no M running and a P
             * with work, the goroutine this one had just readied, in
             * nobody's hands: a false "all goroutines are asleep".) */
            struct p *pp;
            gort__lock(&sched.lock);
            pp = releasep(mp);
            gort__unlock(&sched.lock);
            handoffp(pp);
            gort__lock(&sched.lock);
            sched.nmfreed++;
            for (struct m **pm = &sched.allm; *pm; pm = &(*pm)->alllink)
                if (*pm == mp) {
                    *pm = mp->alllink;
                    break;
                }
            checkdead();
            gort__unlock(&sched.lock);
            gort__unminit(mp);
            gort__setm(NULL);
            /* The m struct is not freed: sysmon may still be reading it
             * through a P it last ran (Go keeps dead Ms on sched.freem). */
            pthread_exit(NULL);
        }
    }
}

void gort__exitsyscall_park(struct m *mp, struct g *gp)
{
    /* g0 queues it globally (as a yield does) and, without a P, stops. */
    switch_out(mp, gp, NULL, false, ACT_YIELD_GLOBAL);
}

void gort__gopark(bool (*unlockf)(struct g *, void *), void *lock, int reason)
{
    struct m *mp = gort__getm();
    struct g *gp = mp->curg;
    gp->waitreason = (uint8_t)reason;
    /* No clock read here (a park costs ~100 ns; a clock read ~7 of them
     * on VMs): the wait time for dumps comes from the coarse clock sysmon
     * keeps (sysmon.c), a relaxed load of a line that changes at most
     * once a millisecond, stored in a cold field of the G. */
    gp->waitsince = atomic_load_explicit(&gort__coarse.now, memory_order_relaxed);
    mp->waitunlockf = unlockf;
    mp->waitlock = lock;
    gswitch_inl(ACT_PARK);
}

void gort__goready(struct g *gp)
{
    readyg(gp);
    if (GORT_TRACE_ON())
        gort__trace_ready(gp);
    struct m *mp = gort__getm();
    struct p *pp = mp ? mp->p : NULL;
    if (pp == NULL) {
        gort__globrunqput(gp);
        gort__wakep();
        return;
    }
    /* Lazy wake-up (the header): a goroutine readying the only work of
     * its P leaves the wake-up of an idle P to findrunnable or sysmon. */
    bool lazy = mp->curg != NULL &&
                atomic_load_explicit(&pp->runnext, memory_order_relaxed) == NULL &&
                atomic_load_explicit(&pp->runqhead, memory_order_relaxed) ==
                    atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
    runqput_inl(pp, gp, true);
    if (lazy) {
        if (!atomic_load_explicit(&pp->wakepending, memory_order_relaxed))
            atomic_store_explicit(&pp->wakepending, true, memory_order_relaxed);
        return;
    }
    gort__wakep();
}

void gort__wakep_pending(struct p *pp)
{
    bool exp = true;
    if (atomic_compare_exchange_strong(&pp->wakepending, &exp, false))
        gort__wakep();
}

void gort_yield(void)
{
    struct m *mp = gort__getm();
    if (!mp || !mp->curg)
        return;     /* a plain thread: nothing to yield to */
    gort__gswitch(ACT_YIELD);
}

void gort__goyield(void)
{
    gort__gswitch(ACT_YIELD);
}

void gort__spawn_backpressure(struct m *mp)
{
    struct p *pp = mp->p;
    uint32_t h = atomic_load_explicit(&pp->runqhead, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
    if (likely(++mp->curg->nspawn < RUNQ_SIZE / 8 ||
               t - h < RUNQ_SIZE - RUNQ_SIZE / 8) ||
        mp->lockedg)
        return;
    /* A goroutine spawning in a loop would otherwise outrun the Ps that
     * run what it spawns: the queue would spill to the global queue and
     * the backlog (each goroutine a G struct, later a stack) would be
     * run cold by other Ps.  Go leaves this to preemption; gort makes
     * gort_go a scheduling point for a goroutine that has spawned 32
     * goroutines without switching, once its P's queue is 7/8 full.
     * (Goroutines that spawn a few and wait, as in a tree of workers,
     * never get here: stepping aside there would only let the queued
     * ones spawn more, and more goroutines would be alive at once.) */
    gort__gswitch(ACT_YIELD_GLOBAL);
}

bool gort__canspin(int i)
{
    /* Spin only once (see gort__dospin), only on a multicore machine with
     * other Ps busy (someone may release the lock soon), and only when
     * nobody is waiting to run on our P. */
    static int ncpu_cache;     /* filled racily, hence relaxed atomics */
    int ncpu = GORT__RELAXED_LOAD(ncpu_cache);
    if (!ncpu) {
        ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
        GORT__RELAXED_STORE(ncpu_cache, ncpu);
    }
    if (i >= 1 || ncpu <= 1 ||
        atomic_load_explicit(&sched.gomaxprocs, memory_order_relaxed) <=
            atomic_load_explicit(&sched.npidle, memory_order_relaxed) +
                atomic_load_explicit(&sched.nmspinning, memory_order_relaxed) + 1)
        return false;
    struct m *mp = gort__getm();
    if (mp && mp->p && !gort__runqempty(mp->p))
        return false;
    return true;
}

/* One long pause rather than Go's four rounds of 30 with a look at the
 * lock between them: the same time spent waiting, but each look at a
 * contended lock word pulls its line away from the holder, who must pull
 * it back to unlock.  Measured with 4 goroutines on 2 Ps contending one
 * mutex: 27-28 ns per lock with Go's rounds, 20-22 ns with one. */
void gort__dospin(void)
{
    gort__procyield(120);
}

void gort__note_foreign(void)
{
    static __thread bool counted;
    if (!counted) {
        counted = true;
        atomic_fetch_add(&sched.nforeign, 1);
    }
}

/* ------------------------------------------------------------------------ */
/* Locked threads                                                           */
/* ------------------------------------------------------------------------ */

/* Our locked G is not runnable: give the P away and sleep until someone
 * that dequeued the G hands us a P (startlockedm). */
static void stoplockedm(struct m *mp)
{
    if (mp->p) {
        struct p *pp = releasep(mp);
        handoffp(pp);
    }
    gort__lock(&sched.lock);
    struct g *gp = mp->lockedg;
    if (sched.runq.size == 1 && globrunqpeek_locked() == gp && sched.pidle) {
        /* Our goroutine is the only work there is and a P is idle: the
         * M that handoffp started would only hand that P to us (or none
         * could be made: thread creation failing left the P idle, and
         * sleeping here would be a false "all goroutines are asleep").
         * Take both.  Under sched.lock, as any M dequeuing it would. */
        uint32_t nrest;
        globrunqget_locked(1, NULL, &nrest);
        struct p *pp = pidleget();
        gort__unlock(&sched.lock);
        acquirep(mp, pp);
        return;
    }
    sched.nmidlelocked++;
    checkdead();
    gort__unlock(&sched.lock);
    /* startlockedm takes us out of nmidlelocked before waking us. */
    mpark(mp);
}

/* gp is locked to another M: hand it our P and go idle. */
static void startlockedm(struct m *mp, struct g *gp)
{
    struct m *lm = gp->lockedm;
    if (lm == mp)
        gort__throw("startlockedm: locked to me");
    struct p *pp = releasep(mp);
    /* Count the locked M as running before we go idle ourselves, or
     * checkdead could see nobody running in between. */
    gort__lock(&sched.lock);
    sched.nmidlelocked--;
    gort__unlock(&sched.lock);
    lm->nextp = pp;
    gort__notewakeup(&lm->park);
    stopm(mp);
}

void gort_lock_os_thread(void)
{
    struct m *mp = gort__getm();
    if (!mp || !mp->curg)
        return;
    struct g *gp = mp->curg;
    if (gp->lockedcount++ == 0) {
        gp->lockedm = mp;
        mp->lockedg = gp;
    }
}

void gort_unlock_os_thread(void)
{
    struct m *mp = gort__getm();
    if (!mp || !mp->curg)
        return;
    struct g *gp = mp->curg;
    if (gp->lockedcount == 0)
        return;     /* as in Go: unlock without lock does nothing */
    if (--gp->lockedcount == 0) {
        gp->lockedm = NULL;
        mp->lockedg = NULL;
    }
}

/* Wires gp to mp for the runtime, until gort__unwire: a goroutine
 * interrupted anywhere (preempted by signal, or in a rescued system call)
 * must resume on the thread it was interrupted on.  false if gp is wired
 * already (gort_lock_os_thread): then nothing is to be undone. */
bool gort__wire(struct m *mp, struct g *gp)
{
    if (gp->lockedm)
        return false;
    gp->lockedm = mp;
    mp->lockedg = gp;
    gp->runtimelocked = true;
    return true;
}

void gort__unwire(struct g *gp)
{
    if (!gp->runtimelocked)
        return;
    gp->runtimelocked = false;
    if (gp->lockedcount == 0) {
        struct m *mp = gort__getm();
        gp->lockedm = NULL;
        mp->lockedg = NULL;
    }
}

/* Called by goexit0 for a G that ends locked: its M must exit. */
void gort__dropm_locked(struct m *mp)
{
    mp->lockedg = NULL;
    mp->exiting = true;
}

/* ------------------------------------------------------------------------ */
/* Deadlock detection (sched.lock held)                                     */
/* ------------------------------------------------------------------------ */

static void checkdead(void)
{
    /* launching: gort_run is between starting a run and starting an M
     * for its main goroutine; an M of the last run going idle then must
     * not conclude that nothing will ever run. */
    if (!sched.started || sched.exiting || sched.launching)
        return;
    /* A plain thread that has used gort objects may still wake somebody:
     * we cannot know, so we do not guess. */
    if (atomic_load(&sched.nforeign) > 0)
        return;
    int64_t run = (sched.mnext - sched.nmfreed) - sched.nmidle -
                  sched.nmidlelocked;
    if (run > 0)
        return;
    if (run < 0) {
        fprintf(stderr, "runtime: checkdead: nmidle=%d nmidlelocked=%d mcount=%lld\n",
                sched.nmidle, sched.nmidlelocked,
                (long long)(sched.mnext - sched.nmfreed));
        gort__throw("checkdead: inconsistent counts");
    }
    if (gort__gcount() == 0) {
        if (sched.main_goexited)
            gort__fatal("no goroutines (main called runtime.Goexit) - deadlock!");
        return;
    }
    /* A pending timer will wake somebody: not a deadlock (Go's checkdead
     * says the same for any P with a timer). */
    if (gort__timesleepuntil() != 0)
        return;
    if (!gort__try_begin_dying())
        return;     /* another fatal error is being reported */
    gort__write_str(2, "fatal error: all goroutines are asleep - deadlock!\n\n");
    gort__dump_all_locked(2);
    gort__exit2();
}

/* ------------------------------------------------------------------------ */
/* Start-up, gort_run, GOMAXPROCS                                           */
/* ------------------------------------------------------------------------ */

static int ncpu_allowed(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int32_t want_procs;      /* set before start by gort_maxprocs */

static struct p *allocp(int32_t id)
{
    struct p *pp = sched.allp[id];
    if (!pp) {
        pp = gort__aligned_alloc(64, (sizeof *pp + 63) & ~(size_t)63);
        if (!pp)
            return NULL;
        memset(pp, 0, sizeof *pp);
        pp->id = id;
        __atomic_store_n(&sched.allp[id], pp, __ATOMIC_RELEASE);
    }
    return pp;
}

/* Sets the number of Ps to n.  sched.lock held.  Growing adds idle Ps;
 * shrinking takes idle Ps off the idle list now and lets running ones
 * retire at their next scheduling point (findrunnable). */
static int procresize_locked(int32_t n)
{
    for (int32_t i = sched.nallp; i < n; i++) {
        if (!allocp(i))
            return -1;
        GORT__RELAXED_STORE(sched.nallp, i + 1);
        sched.allp[i]->status = _Pdead;
    }
    for (int32_t i = 0; i < n; i++) {
        struct p *pp = sched.allp[i];
        if (atomic_load(&pp->status) == _Pdead)
            pidleput(pp);
    }
    atomic_store(&sched.gomaxprocs, n);
    /* Drop idle Ps that are now out of range. */
    for (struct p **pl = &sched.pidle; *pl;) {
        struct p *pp = *pl;
        if (pp->id >= n) {
            *pl = pp->link;
            atomic_fetch_sub(&sched.npidle, 1);
            retirep_locked(pp);
            gort__stack_flush_cache(pp);
        } else {
            pl = &pp->link;
        }
    }
    return 0;
}

/* fork(): the child has one thread, the one that called fork.  When that
 * happened outside gort_run, every M of ours is gone in the child, so the
 * child forgets them and takes all Ps back; goroutines left over belong
 * to an earlier run and never run (as after any gort_run).  Forking while
 * gort_run is in progress leaves a child that must only exec or _exit,
 * as in Go. */
static void atfork_child(void)
{
    gort__trace_forked();
    gort__sysmon_forked();
    gort__netpoll_forked();
    if (sched.started)
        return;
    atomic_store(&sched.lock.key, 0);
    atomic_store(&sched.gflock.key, 0);
    sched.midle = NULL;
    sched.nmidle = 0;
    sched.nmidlelocked = 0;
    sched.nmfreed = (int32_t)sched.mnext;
    sched.allm = NULL;
    atomic_store(&sched.nmspinning, 0);
    sched.pidle = NULL;
    atomic_store(&sched.npidle, 0);
    int32_t procs = atomic_load(&sched.gomaxprocs);
    for (int32_t i = sched.nallp - 1; i >= 0; i--) {
        struct p *pp = sched.allp[i];
        GORT__RELAXED_STORE(pp->m, NULL);
        if (i >= procs) {
            atomic_store(&pp->status, _Pdead);
            continue;
        }
        atomic_store(&pp->status, _Pidle);
        pp->link = sched.pidle;
        sched.pidle = pp;
        atomic_fetch_add(&sched.npidle, 1);
    }
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_errno;

static void runtime_init(void)
{
    gort__parse_env();
    runq_init_fastnext();
    gort__trace_init();
    gort__stack_init();
    gort__signal_init();
    gort__preempt_init();
    pthread_atfork(NULL, NULL, atfork_child);
    sched.maxmcount = 10000;
    atomic_store(&sched.goidgen, 1);    /* goroutine 1 is main's */
    int32_t n = gort__debug.maxprocs ? gort__debug.maxprocs : ncpu_allowed();
    if (n > GORT_MAXPROCS_MAX)
        n = GORT_MAXPROCS_MAX;
    want_procs = n;
    atomic_store(&sched.gomaxprocs, n);
}

void gort__ensure_init(void)
{
    pthread_once(&init_once, runtime_init);
}

int gort_maxprocs(int n)
{
    if (n < 0 || n > GORT_MAXPROCS_MAX) {
        errno = EINVAL;
        return -1;
    }
    gort__ensure_init();
    gort__lock(&sched.lock);
    int prev = atomic_load(&sched.gomaxprocs);
    if (n == 0 || n == prev) {
        gort__unlock(&sched.lock);
        return prev;
    }
    if (!sched.main_started) {
        want_procs = n;
        atomic_store(&sched.gomaxprocs, n);
        gort__unlock(&sched.lock);
        return prev;
    }
    if (procresize_locked(n) != 0) {
        gort__unlock(&sched.lock);
        errno = ENOMEM;
        return -1;
    }
    gort__unlock(&sched.lock);
    /* New Ps: put them to work if there is any. */
    for (int i = prev; i < n; i++)
        gort__wakep();
    int64_t next = gort__timesleepuntil();
    if (next)
        gort__wake_poller(next);  /* timers of retired Ps moved to P 0 */
    return prev;
}

int gort_proc_stats(gort_proc_stat *out, int n)
{
    gort__ensure_init();
    int procs = atomic_load(&sched.gomaxprocs);
    for (int i = 0; i < n && i < procs && i < sched.nallp; i++) {
        struct p *pp = sched.allp[i];
        out[i].schedtick = atomic_load_explicit(&pp->nschedtick, memory_order_relaxed);
        out[i].steals = atomic_load_explicit(&pp->nsteal, memory_order_relaxed);
    }
    return procs;
}

struct mainarg {
    void (*fn)(void *);
    void *arg;
};
static struct mainarg mainarg;

static void main_wrapper(void *unused)
{
    (void)unused;
    mainarg.fn(mainarg.arg);
    gort__lock(&sched.lock);
    sched.exiting = true;
    gort__unlock(&sched.lock);
    gort__notewakeup(&sched.main_done);
}

int gort_run(void (*main_fn)(void *), void *arg)
{
    if (!main_fn) {
        errno = EINVAL;
        return -1;
    }
    if (gort__getm() != NULL) {
        errno = EBUSY;  /* from a goroutine (or an M) */
        return -1;
    }
    gort__ensure_init();
    if (init_errno) {
        errno = init_errno;
        return -1;
    }
    gort__lock(&sched.lock);
    if (sched.started) {
        gort__unlock(&sched.lock);
        errno = EBUSY;
        return -1;
    }
    if (!sched.main_started) {
        if (procresize_locked(want_procs) != 0) {
            gort__unlock(&sched.lock);
            errno = ENOMEM;
            return -1;
        }
    }
    GORT__RELAXED_STORE(sched.started, true);
    sched.launching = true;
    sched.main_goexited = 0;
    gort__noteclear(&sched.main_done);
    gort__gen_begin_locked();
    sched.exiting = false;  /* after the gen bump: see g.c "Counting" */
    gort__unlock(&sched.lock);
    gort__sysmon_start();

    mainarg.fn = main_fn;
    mainarg.arg = arg;
    /* Main is goroutine 1 in every run (goroutines of earlier runs that
     * are still around never run again, so the id cannot be confused). */
    struct g *gp = gort__newproc(main_wrapper, NULL, NULL, 1);
    if (!gp) {
        int err = errno;
        gort__lock(&sched.lock);
        GORT__RELAXED_STORE(sched.started, false);
        sched.launching = false;
        gort__unlock(&sched.lock);
        errno = err;
        return -1;
    }
    gort__lock(&sched.lock);
    sched.main_started = true;
    sched.maing = gp;
    gort__unlock(&sched.lock);
    gort__globrunqput(gp);
    if (startm_ex(NULL, false, false) != 0) {
        /* No thread for the main goroutine.  If some M is still alive
         * (busy with an abandoned goroutine), it will get to it. */
        gort__lock(&sched.lock);
        bool none = sched.mnext - sched.nmfreed == 0;
        gort__unlock(&sched.lock);
        if (none) {
            int err = errno;
            gort__lock(&sched.lock);
            GORT__RELAXED_STORE(sched.started, false);
            sched.launching = false;
            gort__unlock(&sched.lock);
            errno = err == ENOMEM ? ENOMEM : EAGAIN;
            return -1;
        }
    }
    gort__lock(&sched.lock);
    sched.launching = false;
    checkdead();    /* main may have blocked for good already */
    gort__unlock(&sched.lock);
    /* Start the other pre-queued goroutines' Ps too. */
    gort__wakep();
    gort__notesleep(&sched.main_done);
    gort__trace_flush();
    gort__lock(&sched.lock);
    GORT__RELAXED_STORE(sched.started, false);
    sched.launching = false;
    gort__unlock(&sched.lock);
    return 0;
}
