/*
 * explore.c — the interleaving explorer behind `make test-model`.
 *
 * The model.  The code under test runs unmodified except that each shared
 * memory access is a scheduling point (explore.h's MC_* macros, which
 * src/runq.h uses through its RQ_* hooks).  The threads of a scenario are
 * coroutines (ucontext) on one OS thread, so exactly one runs at a time
 * and the explorer alone decides, at every point, which one goes next.
 * An execution is the sequence of those decisions; the explorer runs a
 * scenario from scratch once per sequence, depth first: after an
 * execution it goes back to the deepest decision with an alternative not
 * yet tried, replays the prefix and takes that alternative.  So every
 * interleaving of the scheduling points is run once (the points are the
 * only places where the order between threads can matter, as threads
 * share nothing but what the points access).
 *
 * Preemption bounding (CHESS, Musuvathi & Qadeer 2007): switching away
 * from a thread that could go on is a preemption; an interleaving with
 * more than `bound` of them is not explored.  Most concurrency bugs need
 * very few (the paper's experience, and loom's default of 2-3).  Switches
 * forced by a thread finishing or blocking on a mutex are free.  bound -1
 * explores everything.
 *
 * Memory model.  Executions are sequentially consistent: a load reads the
 * last store.  Weak-memory reorderings are not executed, but their most
 * important consequence for this code is checked: every access records
 * vector clocks (release stores and RMWs publish the thread's clock on the
 * location, acquire loads and RMWs join it; a relaxed store starts a new,
 * empty release sequence, an RMW continues the one it reads), and plain
 * data read through a G that another thread handed over (mc_read) must
 * have been written (mc_write) happens-before the read.  A missing
 * release or acquire on the publishing path shows up as such a race even
 * though the SC execution happened to read the right value.  Not checked:
 * executions that only a weaker model allows (a stale value read by a
 * relaxed load, store buffering between seq_cst and weaker accesses).
 *
 * Rejected: a SPIN/Promela model (it checks a transcription, not the code
 * that ships); real threads with random delays (finds bugs, proves nothing
 * about the interleavings it did not hit).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "explore.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#define MC_STACK (256 * 1024)
#define MC_MAXSTEPS 20000
#define MC_LOCS 4096            /* power of two */

typedef struct vclock {
    uint32_t c[MC_MAXT];
} vclock;

static void vc_join(vclock *a, const vclock *b)
{
    for (int i = 0; i < MC_MAXT; i++)
        if (b->c[i] > a->c[i])
            a->c[i] = b->c[i];
}

struct thr {
    ucontext_t ctx;
    char *stack;
    void (*fn)(void *);
    void *arg;
    bool done, blocked;
    bool storewait;             /* blocked in mc_wait_store */
    vclock vc;
    const char *label;          /* the operation it performs next */
    int line;
};

struct decision {
    int8_t choice, prev;
    uint8_t enabled;
    uint16_t preempts;          /* preemptions before this decision */
    const char *label;
    int line;
};

/* A location's release clock (atomics, mutexes) or last plain write. */
struct loc {
    const volatile void *addr;
    vclock vc;                  /* atomics: release sequence's clock */
    int writer;                 /* plain data: writing thread, -1 setup */
    uint32_t wclock;
};

static struct thr th[MC_MAXT];
static int nth, cur = -1;
static ucontext_t sched_ctx;
static struct decision trail[MC_MAXSTEPS];
static int depth, replay;
static const mc_scenario *scen;
static struct loc locs[MC_LOCS];
static int used[MC_LOCS], nused;

static struct loc *loc_of(const volatile void *addr)
{
    uintptr_t h = ((uintptr_t)addr >> 3) * 0x9e3779b97f4a7c15ull;
    for (uint32_t i = (uint32_t)(h >> 52) & (MC_LOCS - 1);; i = (i + 1) & (MC_LOCS - 1)) {
        if (locs[i].addr == addr)
            return &locs[i];
        if (locs[i].addr == NULL) {
            if (nused >= MC_LOCS / 2)
                mc_fail("explorer: too many locations");
            locs[i].addr = addr;
            locs[i].writer = -1;
            used[nused++] = (int)i;
            return &locs[i];
        }
    }
}

static bool is_acq(memory_order mo)
{
    return mo == memory_order_acquire || mo == memory_order_consume ||
           mo == memory_order_acq_rel || mo == memory_order_seq_cst;
}

static bool is_rel(memory_order mo)
{
    return mo == memory_order_release || mo == memory_order_acq_rel ||
           mo == memory_order_seq_cst;
}

void mc_hb_load(const volatile void *addr, memory_order mo)
{
    if (cur < 0 || !is_acq(mo))
        return;
    vc_join(&th[cur].vc, &loc_of(addr)->vc);
}

/* A store or RMW: threads waiting for one (mc_wait_store) may go on. */
static void wake_storewaiters(void)
{
    for (int i = 0; i < nth; i++)
        if (th[i].storewait) {
            th[i].storewait = false;
            th[i].blocked = false;
        }
}

void mc_wait_store(void)
{
    if (cur < 0)
        return;
    th[cur].storewait = true;
    th[cur].blocked = true;
    th[cur].label = "wait for a store (blocked)";
    swapcontext(&th[cur].ctx, &sched_ctx);
}

void mc_hb_store(const volatile void *addr, memory_order mo)
{
    if (cur < 0)
        return;     /* setup: happens-before every thread anyway */
    wake_storewaiters();
    struct loc *l = loc_of(addr);
    if (is_rel(mo))
        l->vc = th[cur].vc;
    else
        memset(&l->vc, 0, sizeof l->vc);
}

void mc_hb_rmw(const volatile void *addr, memory_order mo)
{
    if (cur < 0)
        return;
    wake_storewaiters();
    struct loc *l = loc_of(addr);
    if (is_acq(mo))
        vc_join(&th[cur].vc, &l->vc);
    if (is_rel(mo))
        vc_join(&l->vc, &th[cur].vc);
}

void mc_write(const void *addr)
{
    struct loc *l = loc_of(addr);
    l->writer = cur;
    l->wclock = cur >= 0 ? th[cur].vc.c[cur] : 0;
}

void mc_read(const void *addr, const char *what)
{
    if (cur < 0)
        return;
    struct loc *l = loc_of(addr);
    if (l->writer >= 0 && l->writer != cur &&
        th[cur].vc.c[l->writer] < l->wclock)
        mc_fail("data race: %s, written by thread %d, read by thread %d "
                "without happens-before", what, l->writer, cur);
}

void mc_point(const char *label, int line)
{
    if (cur < 0)
        return;     /* setup or check: runs alone */
    struct thr *t = &th[cur];
    t->label = label;
    t->line = line;
    t->vc.c[cur]++;
    swapcontext(&t->ctx, &sched_ctx);
}

void mc_lock(mc_mutex *mu)
{
    mc_point("lock", __LINE__);
    if (cur < 0) {
        mu->owner = -2;
        return;
    }
    while (mu->owner != -1) {
        th[cur].blocked = true;
        th[cur].label = "lock (blocked)";
        swapcontext(&th[cur].ctx, &sched_ctx);
    }
    mu->owner = cur;
    vc_join(&th[cur].vc, &loc_of(mu)->vc);
}

void mc_unlock(mc_mutex *mu)
{
    mc_point("unlock", __LINE__);
    mu->owner = -1;
    if (cur < 0)
        return;
    loc_of(mu)->vc = th[cur].vc;
    for (int i = 0; i < nth; i++)
        th[i].blocked = false;      /* they re-check the owner */
}

int mc_self(void)
{
    return cur;
}

static void trampoline(int i)
{
    th[i].fn(th[i].arg);
    th[i].done = true;
    th[i].label = "exit";
    /* uc_link returns to the explorer */
}

void mc_spawn(void (*fn)(void *), void *arg)
{
    if (nth == MC_MAXT)
        mc_fail("explorer: too many threads");
    struct thr *t = &th[nth];
    if (!t->stack && !(t->stack = malloc(MC_STACK)))
        mc_fail("explorer: out of memory");
    t->fn = fn;
    t->arg = arg;
    t->done = t->blocked = t->storewait = false;
    memset(&t->vc, 0, sizeof t->vc);
    t->label = "start";
    t->line = 0;
    getcontext(&t->ctx);
    t->ctx.uc_stack.ss_sp = t->stack;
    t->ctx.uc_stack.ss_size = MC_STACK;
    t->ctx.uc_link = &sched_ctx;
    makecontext(&t->ctx, (void (*)(void))trampoline, 1, nth);
    nth++;
}

void mc_fail(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "\nmodel %s: FAILED: ", scen ? scen->name : "?");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ninterleaving (%d steps; thread: the operation it "
            "performed, line in the code under test):\n", depth);
    for (int i = 0; i < depth; i++)
        fprintf(stderr, "  %4d  T%d %s%s (line %d)\n", i, trail[i].choice,
                trail[i].label,
                trail[i].prev >= 0 && trail[i].choice != trail[i].prev &&
                        (trail[i].enabled & (1u << trail[i].prev))
                    ? "   <- preemption"
                    : "",
                trail[i].line);
    exit(1);
}

/* Runs one execution: the replayed prefix trail[0..replay), then the
 * default choice (keep running the same thread) at every new decision. */
static void run_one(void)
{
    for (int i = 0; i < nused; i++)
        memset(&locs[used[i]], 0, sizeof locs[0]);
    nused = 0;
    nth = 0;
    cur = -1;
    depth = 0;
    scen->setup();
    int prev = -1, preempts = 0;
    for (;;) {
        uint8_t en = 0;
        bool alive = false;
        for (int i = 0; i < nth; i++) {
            if (!th[i].done)
                alive = true;
            if (!th[i].done && !th[i].blocked)
                en |= (uint8_t)(1u << i);
        }
        if (!en) {
            if (alive)
                mc_fail("deadlock: every live thread is blocked");
            break;
        }
        if (depth >= MC_MAXSTEPS)
            mc_fail("no progress after %d steps (livelock?)", depth);
        int c;
        struct decision *d = &trail[depth];
        if (depth < replay) {
            c = d->choice;
            if (!(en & (1u << c)) || d->prev != prev)
                mc_fail("explorer: the scenario is not deterministic");
        } else {
            c = prev >= 0 && (en & (1u << prev)) ? prev : __builtin_ctz(en);
            d->choice = (int8_t)c;
            d->prev = (int8_t)prev;
            d->enabled = en;
            d->preempts = (uint16_t)preempts;
        }
        d->label = th[c].label;
        d->line = th[c].line;
        if (prev >= 0 && c != prev && (en & (1u << prev)))
            preempts++;
        depth++;
        cur = c;
        swapcontext(&sched_ctx, &th[c].ctx);
        cur = -1;
        prev = c;
    }
    if (scen->check)
        scen->check();
}

/* The alternative after trail[d].choice in the order the explorer tries
 * them (the previous thread first, then the others by number) that the
 * preemption bound allows, or -1. */
static int next_alt(int d)
{
    struct decision *x = &trail[d];
    int order[MC_MAXT], n = 0;
    bool prev_en = x->prev >= 0 && (x->enabled & (1u << x->prev));
    if (prev_en)
        order[n++] = x->prev;
    for (int i = 0; i < MC_MAXT; i++)
        if ((x->enabled & (1u << i)) && !(prev_en && i == x->prev))
            order[n++] = i;
    int k = 0;
    while (order[k] != x->choice)
        k++;
    for (k++; k < n; k++) {
        int cost = x->preempts + (prev_en && order[k] != x->prev);
        if (scen->bound < 0 || cost <= scen->bound)
            return order[k];
    }
    return -1;
}

uint64_t mc_explore(const mc_scenario *sc)
{
    uint64_t n = 0;
    scen = sc;
    replay = 0;
    for (;;) {
        run_one();
        n++;
        int d = depth - 1, alt = -1;
        for (; d >= 0; d--)
            if ((alt = next_alt(d)) >= 0)
                break;
        if (d < 0)
            break;
        trail[d].choice = (int8_t)alt;
        replay = d + 1;
    }
    scen = NULL;
    return n;
}
