/*
 * model-runq.c — the scenarios of `make test-model`: src/runq.h (the very
 * code proc.c compiles) against explore.c's deterministic threads, with a
 * 4-slot ring so that full rings, overflow and wrap-around are a few steps
 * away.  Each scenario is a few threads doing a few run-queue operations
 * (Tokio's loom tests of its own work-stealing queue are the model:
 * steal during overflow, several stealers, chained steals); the explorer
 * runs every interleaving within a preemption bound and these checks hold
 * in every one:
 *
 *   - every G put is taken exactly once (no loss, no duplicate): taken by
 *     runqget, returned by runqsteal, or found afterwards in some P's
 *     ring or runnext or in the global queue;
 *   - whoever takes a G sees its initialisation (happens-before through
 *     the queue's release/acquire pairs; explore.c's vector clocks);
 *   - a P's ring is FIFO: what its owner takes (and what is left at the
 *     end) comes out in the order it went in, and so does an overflow
 *     batch on the global queue;
 *   - runnext: runqget returns the last G put with next first, with
 *     inherit set; a G kicked out of runnext goes to the ring's tail;
 *   - runqempty never says empty while a G is queued;
 *   - park/ready: a G is readied only after its park committed (status
 *     _Gwaiting, context saved, before the unlock function released the
 *     wait), once, and the M that runs it sees the saved context;
 *   - wakep/spinning: a G submitted while the last spinning M gives up is
 *     found by that M's re-check or gets an M woken for it.
 *
 * The park/ready and wakep scenarios drive runq.h's parkcommit/readyg and
 * runqput/runqsteal/runqempty, but the code around them (the channel-like
 * wait structure, findrunnable's tail, wakep, startm) is a transcription
 * of proc.c's logic, written here: proc.c's own versions depend on the
 * whole runtime.
 *
 * Usage: model [-b BOUND] [SCENARIO...]   (-b overrides every bound)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "explore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- what runq.h needs from its includer -------------------------------- */

#define RUNQ_SIZE 4
enum { _Pidle = 0, _Prunning = 1 };
enum { _Grunnable = 1, _Grunning = 2, _Gwaiting = 4 };
#define unlikely(x) __builtin_expect(!!(x), 0)

struct g {
    void *sp;
    struct g *schedlink;
    _Atomic uint32_t status;
    int id;
    int ctx;            /* "initialisation" / "saved context": plain data */
    int taken;
};

struct p {
    _Atomic uint32_t status;
    _Atomic uint32_t runqhead;
    _Atomic uint32_t runqtail;
    _Atomic(struct g *) runq[RUNQ_SIZE];
    _Atomic(struct g *) runnext;
    _Atomic uint32_t runnextbusy;
    _Atomic uint32_t runnextsteal;
};

_Noreturn void gort__throw(const char *msg);
_Noreturn void gort__throw(const char *msg)
{
    mc_fail("throw: %s", msg);
}

static void gort__usleep(int64_t us)
{
    (void)us;
    mc_point("usleep", __LINE__);
}

/* The global run queue (sched.lock). */
static mc_mutex glock;
static struct g *gq_head, *gq_tail;
static int gq_n;

static void runq_globputbatch(struct g **batch, int32_t n)
{
    mc_lock(&glock);
    for (int32_t i = 0; i < n; i++) {
        batch[i]->schedlink = NULL;
        if (gq_tail)
            gq_tail->schedlink = batch[i];
        else
            gq_head = batch[i];
        gq_tail = batch[i];
    }
    gq_n += n;
    mc_unlock(&glock);
}

static struct g *globget(void)
{
    mc_lock(&glock);
    struct g *gp = gq_head;
    if (gp) {
        gq_head = gp->schedlink;
        if (!gq_head)
            gq_tail = NULL;
        gq_n--;
    }
    mc_unlock(&glock);
    return gp;
}

/* A cache hint in the runtime; nothing a schedule can observe. */
static inline void gort__prefetch_parked_stack(const void *sp)
{
    (void)sp;
}

#define RQ_LOAD MC_LOAD
#define RQ_STORE MC_STORE
#define RQ_CAS MC_CAS
#define RQ_CASW MC_CAS
#define RQ_FETCH_ADD MC_FETCH_ADD
#define RQ_COMPILER_FENCE() ((void)0)
/* runnext's owner takes it without an RMW (runq.h's header), as in the
 * runtime wherever membarrier works; the membarrier itself is a point
 * (executions are sequentially consistent, which is what the barrier
 * restores for the owner's window). */
#define RQ_FASTNEXT (fastnext)
#define RQ_MEMBARRIER() mc_point("membarrier", __LINE__)
#define RQ_WAIT_WHILE_BUSY(p)                                               \
    do {                                                                    \
        while (MC_LOAD(&(p)->runnextbusy, memory_order_acquire) != 0)       \
            mc_wait_store();                                                \
    } while (0)
static bool fastnext = true;
#include "../../src/runq.h"

/* ---- bookkeeping ---------------------------------------------------------- */

#define NG 8
#define NP 3
static struct g gs[NG];
static int ngs;
static struct p ps[NP];
/* Per P: ids its owner took from the ring (inherit false), in order. */
static int ringseq[NP][NG * 2], nringseq[NP];

static void reset(void)
{
    memset(gs, 0, sizeof gs);
    memset(ps, 0, sizeof ps);
    memset(nringseq, 0, sizeof nringseq);
    ngs = 0;
    fastnext = true;
    gq_head = gq_tail = NULL;
    gq_n = 0;
    glock.owner = -1;
    for (int i = 0; i < NP; i++)
        atomic_store(&ps[i].status, _Prunning);
}

/* A new G, initialised by the calling thread (or setup). */
static struct g *mkg(void)
{
    struct g *gp = &gs[ngs];
    gp->id = ++ngs;
    gp->ctx = gp->id;
    mc_write(&gp->ctx);
    atomic_store_explicit(&gp->status, _Grunnable, memory_order_relaxed);
    return gp;
}

static void take(struct g *gp)
{
    mc_read(&gp->ctx, "a G's initialisation (or saved context)");
    MC_ASSERT(gp->ctx == gp->id, "G%d's context is corrupt", gp->id);
    gp->taken++;
    MC_ASSERT(gp->taken == 1, "G%d taken twice", gp->id);
}

/* The owner of pp takes one G; records ring order. */
static struct g *get(int p, bool *inherit)
{
    bool inh = false;
    struct g *gp = gort__runqget(&ps[p], &inh);
    if (gp) {
        take(gp);
        if (!inh)
            ringseq[p][nringseq[p]++] = gp->id;
    }
    if (inherit)
        *inherit = inh;
    return gp;
}

static struct g *steal(int thief, int victim, bool next)
{
    struct g *gp = NULL;
    uint32_t n = gort__runqsteal(&ps[thief], &ps[victim], next, &gp);
    MC_ASSERT((n == 0) == (gp == NULL), "runqsteal: n=%u but G %p", n,
              (void *)gp);
    if (gp)
        take(gp);
    return gp;
}

/* After the threads: drain everything, then check conservation and order. */
static void check_all(void)
{
    for (int p = 0; p < NP; p++)
        while (get(p, NULL))
            ;
    int last = 0;
    struct g *gp;
    while ((gp = globget()) != NULL) {
        take(gp);
        MC_ASSERT(gp->id > last, "global queue out of order: G%d after G%d",
                  gp->id, last);
        last = gp->id;
    }
    for (int i = 0; i < ngs; i++)
        MC_ASSERT(gs[i].taken == 1, "G%d lost (taken %d times)", gs[i].id,
                  gs[i].taken);
}

/* Rings filled in id order (no runnext) must empty in id order. */
static void check_fifo(void)
{
    check_all();
    for (int p = 0; p < NP; p++)
        for (int i = 1; i < nringseq[p]; i++)
            MC_ASSERT(ringseq[p][i] > ringseq[p][i - 1],
                      "P%d's ring not FIFO: G%d after G%d", p, ringseq[p][i],
                      ringseq[p][i - 1]);
}

static void prefill(int p, int n)
{
    for (int i = 0; i < n; i++)
        gort__runqput(&ps[p], mkg(), false);
}

/* ---- scenarios ------------------------------------------------------------- */

/* 1. The owner puts and gets while a thief steals. */
static void s1_owner(void *a)
{
    (void)a;
    for (int i = 0; i < 3; i++)
        gort__runqput(&ps[0], mkg(), false);
    get(0, NULL);
    get(0, NULL);
}
static void s1_thief(void *a)
{
    (void)a;
    steal(1, 0, false);
}
static void s1_setup(void)
{
    reset();
    mc_spawn(s1_owner, NULL);
    mc_spawn(s1_thief, NULL);
}

/* 2. Steal during overflow: a full ring, the owner puts one more (half of
 * the ring and the new G go global, unless the thief made room first). */
static void s2_owner(void *a)
{
    (void)a;
    gort__runqput(&ps[0], mkg(), false);
    get(0, NULL);
}
static void s2_setup(void)
{
    reset();
    prefill(0, RUNQ_SIZE);
    mc_spawn(s2_owner, NULL);
    mc_spawn(s1_thief, NULL);
}

/* 3. Two stealers on one victim whose owner gets and puts meanwhile. */
static void s3_owner(void *a)
{
    (void)a;
    get(0, NULL);
    gort__runqput(&ps[0], mkg(), false);
    get(0, NULL);
}
static void s3_thief2(void *a)
{
    (void)a;
    steal(2, 0, false);
}
static void s3_setup(void)
{
    reset();
    prefill(0, 3);
    mc_spawn(s3_owner, NULL);
    mc_spawn(s1_thief, NULL);
    mc_spawn(s3_thief2, NULL);
}

/* 4. Chained steals: P1 steals from P0 while P2 steals from P1. */
static void s4_owner(void *a)
{
    (void)a;
    get(0, NULL);
}
static void s4_mid(void *a)
{
    (void)a;
    steal(1, 0, false);
    get(1, NULL);
}
static void s4_last(void *a)
{
    (void)a;
    steal(2, 1, false);
}
static void s4_setup(void)
{
    reset();
    prefill(0, RUNQ_SIZE);
    mc_spawn(s4_owner, NULL);
    mc_spawn(s4_mid, NULL);
    mc_spawn(s4_last, NULL);
}

/* 5. runnext: A then B put with next (A is kicked to the ring); the owner
 * gets while a thief steals, runnext included. */
static struct g *s5_a, *s5_b;
static void s5_owner(void *a)
{
    (void)a;
    s5_a = mkg();
    s5_b = mkg();
    gort__runqput(&ps[0], s5_a, true);
    gort__runqput(&ps[0], s5_b, true);
    bool inh;
    struct g *gp = get(0, &inh);
    /* runnext first, with inherit; the ring (A) only if a thief took B. */
    if (gp)
        MC_ASSERT(inh ? gp == s5_b : gp == s5_a,
                  "runqget gave G%d inherit=%d (A=G%d in the ring, B=G%d "
                  "in runnext)", gp->id, inh, s5_a->id, s5_b->id);
    get(0, NULL);
}
static void s5_thief(void *a)
{
    (void)a;
    steal(1, 0, true);
    steal(1, 0, true);
}
static void s5_setup(void)
{
    reset();
    mc_spawn(s5_owner, NULL);
    mc_spawn(s5_thief, NULL);
}

/* 5b. The same with the owner's CAS (GORTDEBUG=runnextcas=1, or no
 * membarrier). */
static void s5cas_setup(void)
{
    s5_setup();
    fastnext = false;
}

/* 5c. The owner's plain take of runnext against two thieves at once: one
 * thief leaving must not hide the other (runnextsteal is a count). */
static void s5c_owner(void *a)
{
    (void)a;
    gort__runqput(&ps[0], mkg(), true);
    get(0, NULL);
    gort__runqput(&ps[0], mkg(), true);
    get(0, NULL);
}
static void s5c_thief(void *a)
{
    steal((int)(intptr_t)a, 0, true);
}
static void s5c_setup(void)
{
    reset();
    mc_spawn(s5c_owner, NULL);
    mc_spawn(s5c_thief, (void *)(intptr_t)1);
    mc_spawn(s5c_thief, (void *)(intptr_t)2);
}

/* 6. Wrap-around: head and tail start two short of 2^32. */
static void s6_owner(void *a)
{
    (void)a;
    for (int i = 0; i < 3; i++)
        gort__runqput(&ps[0], mkg(), false);
    get(0, NULL);
}
static void s6_setup(void)
{
    reset();
    atomic_store(&ps[0].runqhead, UINT32_MAX - 1);
    atomic_store(&ps[0].runqtail, UINT32_MAX - 1);
    atomic_store(&ps[1].runqhead, UINT32_MAX);
    atomic_store(&ps[1].runqtail, UINT32_MAX);
    mc_spawn(s6_owner, NULL);
    mc_spawn(s1_thief, NULL);
}

/* 7. runqempty never lies: once the owner's first put is done, the queue
 * is never empty (G1 in runnext; then G2 in runnext, G1 kicked into the
 * ring; then G2 taken), so an observer must never see it empty (Go's
 * runqempty comment: head == tail, then runnext == NULL, proves nothing). */
static _Atomic int s7_put;
static void s7_owner(void *a)
{
    (void)a;
    gort__runqput(&ps[0], mkg(), true);
    MC_STORE(&s7_put, 1, memory_order_release);
    gort__runqput(&ps[0], mkg(), true);     /* kicks G1 into the ring */
    get(0, NULL);                           /* takes G2 from runnext */
}
static void s7_observer(void *a)
{
    (void)a;
    for (int i = 0; i < 2; i++) {
        int put = MC_LOAD(&s7_put, memory_order_acquire);
        bool empty = gort__runqempty(&ps[0]);
        MC_ASSERT(!(put && empty), "runqempty: empty with a G queued");
    }
}
static void s7_setup(void)
{
    reset();
    atomic_store(&s7_put, 0);
    mc_spawn(s7_owner, NULL);
    mc_spawn(s7_observer, NULL);
}

/* 8. park/ready through a lock (a channel receive against a send): the G
 * records itself as the waiter under L and parks with unlockf = unlock
 * L; the sender takes the waiter under L and readies it into its P's
 * runnext; a third M steals it (runnext included) and resumes it. */
static mc_mutex s8_lock;
static struct g *s8_waiter, *s8_g;
static int s8_value;
static bool s8_unlock(struct g *gp, void *l)
{
    (void)gp;
    mc_unlock(l);
    return true;
}
static void s8_parker(void *a)
{
    (void)a;
    mc_lock(&s8_lock);
    if (s8_value) {
        s8_value = 0;
        mc_unlock(&s8_lock);
        return;
    }
    s8_waiter = s8_g;
    /* gopark: the switch saves the context, then parkcommit runs. */
    s8_g->ctx = s8_g->id;
    mc_write(&s8_g->ctx);
    MC_ASSERT(parkcommit(s8_g, s8_unlock, &s8_lock), "park called off");
}
static void s8_waker(void *a)
{
    (void)a;
    mc_lock(&s8_lock);
    struct g *w = s8_waiter;
    s8_waiter = NULL;
    if (!w)
        s8_value = 1;
    mc_unlock(&s8_lock);
    if (w) {
        readyg(w);                      /* goready */
        gort__runqput(&ps[1], w, true);
    }
}
static void s8_runner(void *a)
{
    (void)a;
    struct g *gp = steal(2, 1, true);
    if (gp)
        MC_ASSERT(atomic_load(&gp->status) == _Grunnable,
                  "resumed G%d in status %u", gp->id, atomic_load(&gp->status));
}
static void s8_setup(void)
{
    reset();
    s8_lock.owner = -1;
    s8_waiter = NULL;
    s8_value = 0;
    s8_g = mkg();
    atomic_store(&s8_g->status, _Grunning);
    s8_g->taken = 0;
    mc_spawn(s8_parker, NULL);
    mc_spawn(s8_waker, NULL);
    mc_spawn(s8_runner, NULL);
}
static void s8_check(void)
{
    /* Not parked (the value was there): it ran on, never queued. */
    if (atomic_load(&s8_g->status) == _Grunning)
        s8_g->taken++;
    check_all();    /* parked: readied and taken exactly once */
}

/* 9. park with an unlock function that can call the wait off (the
 * netpoller's: commit = CAS WAIT -> G, which fails once the descriptor
 * became ready).  Called off, the G goes next on its own P; committed,
 * the waker readies it. */
#define PD_NIL ((uintptr_t)0)
#define PD_READY ((uintptr_t)1)
#define PD_WAIT ((uintptr_t)2)
static _Atomic uintptr_t s9_rg;
static struct g *s9_g;
static bool s9_commit(struct g *gp, void *a)
{
    uintptr_t w = PD_WAIT;
    return MC_CAS((_Atomic uintptr_t *)a, &w, (uintptr_t)gp,
                  memory_order_acq_rel, memory_order_acquire);
}
static void s9_parker(void *a)
{
    (void)a;
    for (;;) {      /* Go's netpollblock */
        uintptr_t r = PD_READY;
        if (MC_CAS(&s9_rg, &r, PD_NIL, memory_order_acq_rel,
                   memory_order_acquire))
            return;     /* the notification was already there */
        uintptr_t z = PD_NIL;
        if (MC_CAS(&s9_rg, &z, PD_WAIT, memory_order_acq_rel,
                   memory_order_acquire))
            break;
        MC_ASSERT(z == PD_READY, "double wait");
    }
    s9_g->ctx = s9_g->id;
    mc_write(&s9_g->ctx);
    if (!parkcommit(s9_g, s9_commit, &s9_rg))
        gort__runqput(&ps[0], s9_g, true);
}
static void s9_waker(void *a)
{
    (void)a;
    for (;;) {
        uintptr_t old = MC_LOAD(&s9_rg, memory_order_acquire);
        if (old == PD_READY)
            return;
        if (MC_CAS(&s9_rg, &old, PD_READY, memory_order_acq_rel,
                   memory_order_acquire)) {
            if (old > PD_WAIT) {
                struct g *gp = (struct g *)old;
                readyg(gp);
                gort__runqput(&ps[1], gp, true);
            }
            return;
        }
    }
}
static void s9_setup(void)
{
    reset();
    atomic_store(&s9_rg, PD_NIL);
    s9_g = mkg();
    atomic_store(&s9_g->status, _Grunning);
    mc_spawn(s9_parker, NULL);
    mc_spawn(s9_waker, NULL);
    mc_spawn(s8_runner, NULL);
}
static void s9_check(void)
{
    /* Not parked at all (ready consumed): the G never entered a queue and
     * counts as taken by its own thread. */
    if (atomic_load(&s9_g->status) == _Grunning)
        s9_g->taken++;
    check_all();
}

/* 10. wakep against the last spinner giving up (findrunnable's tail): a
 * plain thread readies a G (global queue, then wakep) while the only
 * spinning M, finding nothing, puts its P down, stops spinning and
 * re-checks.  Two Ps: P0 idle, P1 the spinner's. */
static _Atomic int32_t s10_npidle, s10_nmspinning;
static struct p *s10_idle[2];    /* idle P list (glock) */
static int s10_nidle;
static int s10_woken, s10_found;
static void s10_pidleput(struct p *pp)
{
    s10_idle[s10_nidle++] = pp;
    MC_FETCH_ADD(&s10_npidle, 1, memory_order_seq_cst);
}
static struct p *s10_pidleget(void)
{
    if (!s10_nidle)
        return NULL;
    MC_FETCH_ADD(&s10_npidle, -1, memory_order_seq_cst);
    return s10_idle[--s10_nidle];
}
static void s10_wakep(void)
{
    if (MC_LOAD(&s10_npidle, memory_order_seq_cst) == 0)
        return;
    int32_t zero = 0;
    if (MC_LOAD(&s10_nmspinning, memory_order_seq_cst) != 0 ||
        !MC_CAS(&s10_nmspinning, &zero, 1, memory_order_seq_cst,
                memory_order_seq_cst))
        return;
    /* startm(NULL, true) */
    mc_lock(&glock);
    struct p *pp = s10_pidleget();
    mc_unlock(&glock);
    if (!pp) {
        MC_FETCH_ADD(&s10_nmspinning, -1, memory_order_seq_cst);
        return;
    }
    s10_woken = 1;      /* an M starts spinning with pp: it finds the G */
}
static void s10_submitter(void *a)
{
    (void)a;
    struct g *gp = mkg();
    mc_lock(&glock);            /* goready without a P: globrunqput */
    gp->schedlink = NULL;
    if (gq_tail)
        gq_tail->schedlink = gp;
    else
        gq_head = gp;
    gq_tail = gp;
    gq_n++;
    mc_unlock(&glock);
    s10_wakep();
}
static bool s10_anywork(void)
{
    mc_lock(&glock);
    int n = gq_n;
    mc_unlock(&glock);
    return n != 0 || !gort__runqempty(&ps[0]) || !gort__runqempty(&ps[1]);
}
static void s10_spinner(void *a)
{
    (void)a;
    struct p *pp = &ps[1];
    for (int round = 0; round < 2; round++) {
        struct g *gp = globget();
        if (!gp)
            gp = steal(1, 0, true);
        else
            take(gp);
        if (gp) {
            s10_found = 1;
            return;
        }
        /* Nothing: give up the P (re-checking the global queue). */
        mc_lock(&glock);
        if (gq_n) {
            mc_unlock(&glock);
            continue;
        }
        atomic_store(&pp->status, _Pidle);
        s10_pidleput(pp);
        mc_unlock(&glock);
        /* The delicate dance: stop spinning, then look once more. */
        MC_FETCH_ADD(&s10_nmspinning, -1, memory_order_seq_cst);
        if (!s10_anywork())
            return;     /* stopm */
        mc_lock(&glock);
        pp = s10_pidleget();
        mc_unlock(&glock);
        if (!pp)
            return;     /* somebody else took the idle P: it finds the G */
        atomic_store(&pp->status, _Prunning);
        MC_FETCH_ADD(&s10_nmspinning, 1, memory_order_seq_cst);
    }
}
static void s10_setup(void)
{
    reset();
    atomic_store(&ps[0].status, _Pidle);
    s10_idle[0] = &ps[0];
    s10_nidle = 1;
    atomic_store(&s10_npidle, 1);
    atomic_store(&s10_nmspinning, 1);
    s10_woken = s10_found = 0;
    mc_spawn(s10_submitter, NULL);
    mc_spawn(s10_spinner, NULL);
}
static void s10_check(void)
{
    MC_ASSERT(s10_found || s10_woken,
              "lost wake-up: a G is queued, a P idle, and no M looks for it");
    check_all();
}

/* ---- driver ----------------------------------------------------------------- */

static const mc_scenario scenarios[] = {
    {"put_get_vs_steal", s1_setup, check_fifo, 5},
    {"steal_during_overflow", s2_setup, check_fifo, 5},
    {"two_stealers", s3_setup, check_fifo, 3},
    {"chained_steals", s4_setup, check_fifo, 4},
    {"runnext_vs_steal", s5_setup, check_all, 4},
    {"runnext_vs_steal_cas", s5cas_setup, check_all, 5},
    {"runnext_vs_two_thieves", s5c_setup, check_all, 3},
    {"wraparound", s6_setup, check_fifo, 5},
    {"runqempty_never_lies", s7_setup, check_all, 6},
    {"park_ready_lock", s8_setup, s8_check, -1},
    {"park_ready_calledoff", s9_setup, s9_check, 6},
    {"wakep_spinning", s10_setup, s10_check, 6},
};

int main(int argc, char **argv)
{
    int bound = -2;
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "-b") == 0) {
        bound = atoi(argv[2]);
        first = 3;
    }
    int n = (int)(sizeof scenarios / sizeof scenarios[0]), ran = 0;
    uint64_t total = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        mc_scenario sc = scenarios[i];
        if (first < argc) {
            bool want = false;
            for (int k = first; k < argc; k++)
                want |= strcmp(argv[k], sc.name) == 0;
            if (!want)
                continue;
        }
        if (bound != -2)
            sc.bound = bound;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        uint64_t e = mc_explore(&sc);
        clock_gettime(CLOCK_MONOTONIC, &b);
        char bs[32];
        if (sc.bound < 0)
            snprintf(bs, sizeof bs, "all");
        else
            snprintf(bs, sizeof bs, "<= %d preemptions", sc.bound);
        printf("ok %-24s %10llu interleavings (%s) %.2fs\n", sc.name,
               (unsigned long long)e, bs,
               (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
        fflush(stdout);
        total += e;
        ran++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%d scenarios, %llu interleavings, 0 failed (%.1fs)\n", ran,
           (unsigned long long)total,
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
