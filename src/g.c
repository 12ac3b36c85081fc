/*
 * g.c — goroutine lifecycle: creation (gort_go), the entry trampoline's C
 * half, exit, the free lists of dead Gs, goroutine ids and counts.
 *
 * A G is a small malloc'd struct; dead Gs are recycled through a per-P
 * free list (owner only) that spills half to a global list under
 * sched.gflock when it reaches GFREE_MAX, and refills from it in batches
 * (Go's gfput/gfget).  A G created by gort_go holds a stack *reservation*
 * (stack.c), not a stack: the stack is taken when the G first runs, so a
 * burst of spawns costs G structs, not mappings.  A G created with a
 * custom stack size maps its stack at once.
 *
 * Every G ever allocated is recorded in sched.allgs (under sched.lock),
 * dead ones included, for checkdead and goroutine dumps.
 *
 * Goroutine ids come from sched.goidgen in batches of 16 per P.  Goroutine
 * 1 is the first gort_run's main.
 *
 * Counting: each P counts the Gs created and ended on it (owner writes,
 * relaxed); plain threads count in sched.ncreated_noP.  A gort_run starts
 * by taking created minus ended as sched.old_alive (less the Gs created
 * between runs for it), and the count is created minus ended minus
 * old_alive.  A goroutine that ends once its run is over (main returned:
 * sched.exiting, or a later generation) changes no counter at all: it is
 * in old_alive and in created minus ended alike, so one counter update
 * can never be seen without the other (a count of "old ones ended" beside
 * nended made num_goroutine read one too many between the two stores).
 * goexit0 reads exiting before gen and gort_run bumps gen before clearing
 * exiting, so a G of a finished run that reads exiting false has seen the
 * new gen.  The one window left is a G whose goexit0 read both before its
 * main returned and whose nended store lands after the next gort_run
 * read the counters: a thread stalled across a whole run's end and the
 * next's start.
 */
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define sched gort__sched
#define GOID_BATCH 16

/* Not static: tools/gort-gdb.py reads it by name. */
GORT_INTERNAL const char *const gort__waitreason_strings[waitReasonCount];
__attribute__((used)) const char *const gort__waitreason_strings[waitReasonCount] = {
#define X(name, str) [name] = str,
    GORT_WAIT_REASONS(X)
#undef X
};

const char *gort__waitreason_string(int r)
{
    if (r < 0 || r >= waitReasonCount)
        return "unknown";
    return gort__waitreason_strings[r];
}

int64_t gort__newgoid(struct p *pp)
{
    if (!pp)
        return atomic_fetch_add(&sched.goidgen, 1) + 1;
    if (pp->goidcache == pp->goidcacheend) {
        pp->goidcache = atomic_fetch_add(&sched.goidgen, GOID_BATCH) + 1;
        pp->goidcacheend = pp->goidcache + GOID_BATCH;
    }
    return pp->goidcache++;
}

/* Records gp in allgs; false, with nothing changed, when the array
 * cannot grow (gort_go then fails with ENOMEM). */
bool gort__allgadd(struct g *gp)
{
    gort__lock(&sched.lock);
    if (sched.nallgs == sched.capallgs) {
        size_t ncap = sched.capallgs ? sched.capallgs * 2 : 1024;
        struct g **nv = gort__realloc(sched.allgs, ncap * sizeof *nv);
        if (!nv) {
            gort__unlock(&sched.lock);
            return false;
        }
        sched.allgs = nv;
        sched.capallgs = ncap;
    }
    /* Every G may sit in the global queue at once: room for one more. */
    if (!gort__globrunq_reserve_locked(sched.nallgs + 1)) {
        gort__unlock(&sched.lock);
        return false;
    }
    sched.allgs[sched.nallgs++] = gp;
    gort__unlock(&sched.lock);
    return true;
}

/* Dead Gs move between a P's array and the global list GFREE_MAX/2 at a
 * time, as arrays of pointers (struct gbatch): neither side touches the
 * Gs themselves, which were usually freed on another CPU. */
struct gbatch {
    struct gbatch *next;
    int32_t n;
    struct g *gs[GFREE_MAX / 2];
};

struct g *gort__gfget(struct p *pp)
{
    struct g *gp = NULL;
    if (pp) {
        if (pp->gfreecnt == 0 && sched.ngfree > 0) {
            gort__lock(&sched.gflock);
            struct gbatch *b = sched.gfree;
            if (b) {
                sched.gfree = b->next;
                sched.ngfree -= b->n;
                memcpy(pp->gfree, b->gs, (size_t)b->n * sizeof b->gs[0]);
                pp->gfreecnt = b->n;
                b->next = sched.gbfree;
                sched.gbfree = b;
            }
            gort__unlock(&sched.gflock);
        }
        if (pp->gfreecnt > 0) {
            gp = pp->gfree[--pp->gfreecnt];
            /* Fetch the line of a G two calls ahead: the next calls write
             * into it. */
            if (pp->gfreecnt >= 2)
                __builtin_prefetch(pp->gfree[pp->gfreecnt - 2], 1);
        }
    } else {
        /* A plain thread: one G off the first batch. */
        gort__lock(&sched.gflock);
        struct gbatch *b = sched.gfree;
        if (b) {
            gp = b->gs[--b->n];
            sched.ngfree--;
            if (b->n == 0) {
                sched.gfree = b->next;
                b->next = sched.gbfree;
                sched.gbfree = b;
            }
        }
        gort__unlock(&sched.gflock);
    }
    if (gp)
        gp->schedlink = NULL;
    return gp;
}

/* Pushes n Gs as one batch (gflock held).  Returns false if no batch
 * record can be had (out of memory): the caller keeps its Gs. */
static bool gfpush_locked(struct g **gs, int32_t n)
{
    struct gbatch *b = sched.gbfree;
    if (b) {
        sched.gbfree = b->next;
    } else {
        b = gort__malloc(sizeof *b);
        if (!b)
            return false;
    }
    memcpy(b->gs, gs, (size_t)n * sizeof gs[0]);
    b->n = n;
    b->next = sched.gfree;
    sched.gfree = b;
    sched.ngfree += n;
    return true;
}

void gort__gfput(struct p *pp, struct g *gp)
{
    if (pp->gfreecnt == GFREE_MAX) {
        /* Spill the older half as one batch. */
        gort__lock(&sched.gflock);
        bool ok = gfpush_locked(pp->gfree, GFREE_MAX / 2);
        gort__unlock(&sched.gflock);
        if (!ok)
            return;     /* no memory for a batch: gp stays a dead G in
                           allgs, never reused (it cannot be freed) */
        memmove(pp->gfree, pp->gfree + GFREE_MAX / 2,
                (GFREE_MAX / 2) * sizeof pp->gfree[0]);
        pp->gfreecnt = GFREE_MAX / 2;
    }
    pp->gfree[pp->gfreecnt++] = gp;
}

static inline void count_add(_Atomic int64_t *c)
{
    /* Owner-only counter: a plain load and store, no RMW. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

int64_t gort__gcount(void)
{
    int64_t n = atomic_load(&sched.ncreated_noP);
    for (int32_t i = 0; i < sched.nallp; i++) {
        struct p *pp = gort__allp(i);
        n += atomic_load_explicit(&pp->ncreated, memory_order_relaxed) -
             atomic_load_explicit(&pp->nended, memory_order_relaxed);
    }
    n -= sched.old_alive;
    return n < 0 ? 0 : n;
}

int64_t gort_num_goroutine(void)
{
    gort__ensure_init();
    return gort__gcount();
}

/* A new gort_run starts (sched.lock held): everything alive now belongs
 * to older runs, except goroutines created between runs for this one. */
void gort__gen_begin_locked(void)
{
    int64_t alive = atomic_load(&sched.ncreated_noP);
    for (int32_t i = 0; i < sched.nallp; i++) {
        struct p *pp = gort__allp(i);
        alive += atomic_load(&pp->ncreated) - atomic_load(&pp->nended);
    }
    int64_t pre = atomic_exchange(&sched.nprecreated, 0);
    sched.old_alive = alive - pre;
    atomic_fetch_add(&sched.gen, 1);
}

/* New Gs are cut from chunks of fresh mappings (Gs are never freed, only
 * recycled): each G starts on a cache line, as its layout assumes
 * (runtime.h: the hot fields in its first three lines).  A chunk is
 * mapped with MAP_POPULATE, so its pages come in one call instead of a
 * fault each (on this project's VMs a fault costs ~12 us, a populated
 * page ~1 us; stack.c, "First use"); chunks grow from 32 KiB to 256 KiB,
 * so a program with a few goroutines commits little.  The mapping is
 * made outside the lock: a thread that finds a chunk refilled meanwhile
 * keeps its own and leaves the rest of the old one unused. */
#define GCHUNK_MIN ((size_t)32 * 1024)
#define GCHUNK_MAX ((size_t)256 * 1024)
static gort__mutex gslab_lock;
static char *gslab;
static size_t gslab_left;       /* bytes left in the chunk */
static _Atomic size_t gchunk = GCHUNK_MIN;  /* the next chunk's size */

static struct g *galloc(void)
{
    size_t sz = (sizeof(struct g) + 63) & ~(size_t)63;
    gort__lock(&gslab_lock);
    while (gslab_left < sz) {
        gort__unlock(&gslab_lock);
        size_t len = atomic_load_explicit(&gchunk, memory_order_relaxed);
        char *b = gort__mmap(NULL, len, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (b == MAP_FAILED) {
            errno = ENOMEM;
            return NULL;
        }
        if (len < GCHUNK_MAX)
            atomic_store_explicit(&gchunk, len * 2, memory_order_relaxed);
        gort__lock(&gslab_lock);
        gslab = b;      /* page-aligned, so every G is line-aligned */
        gslab_left = len;
    }
    struct g *gp = (struct g *)gslab;
    gslab += sz;
    gslab_left -= sz;
    gort__unlock(&gslab_lock);
    return gp;
}

struct g *gort__newproc(void (*fn)(void *), void *arg, const gort_attr *attr,
                        int64_t goid)
{
    size_t stksize = 0;
    if (attr && attr->stack_size) {
        if (attr->stack_size < GORT_STACK_MIN || attr->stack_size > GORT_STACK_MAX) {
            errno = EINVAL;
            return NULL;
        }
        stksize = attr->stack_size;
    }
    struct m *mp = gort__getm();
    struct p *pp = mp ? mp->p : NULL;
    struct g *gp = gort__gfget(pp);
    bool fresh = false;
    if (!gp) {
        gp = galloc();
        if (!gp) {
            errno = ENOMEM;
            return NULL;
        }
        fresh = true;
    }
    if (stksize) {
        if (gort__stack_alloc_sized(stksize, &gp->stack) != 0)
            goto nomem;
    } else {
        if (gort__stack_reserve(pp) != 0)
            goto nomem;
        gp->stack_reserved = true;
    }
    if (attr && attr->name) {
        gp->name = gort__strdup(attr->name);
        if (!gp->name)
            goto nomem_stack;
    }
    if (fresh && !gort__allgadd(gp))
        goto nomem_name;
    gp->fn = fn;
    gp->arg = arg;
    GORT__RELAXED_STORE(gp->sp, NULL);  /* runqget's prefetch may read it */
    gp->saved_errno = 0;
    gp->goid = goid ? goid : gort__newgoid(pp);
    gp->stack_size_req = stksize;
    gp->lockedm = NULL;
    gp->lockedcount = 0;
    gp->waitreason = waitReasonZero;
    gp->waitsince = 0;
    gp->gopc = 0;
    gp->sigframe = NULL;
    gp->tracegen = 0;           /* its function: news to any trace */
    gp->traceflow = 0;          /* a wake-up of its last life is not its */
    memset(&gp->tls, 0, sizeof gp->tls);
    struct g *cur = mp ? mp->curg : NULL;
    if (cur) {
        gp->gen = cur->gen;     /* children of abandoned goroutines die too */
    } else {
        bool live = sched.started && !sched.exiting;
        gp->gen = atomic_load(&sched.gen) + (live ? 0 : 1);
        if (!live)
            atomic_fetch_add(&sched.nprecreated, 1);
    }
    if (pp)
        count_add(&pp->ncreated);
    else
        atomic_fetch_add(&sched.ncreated_noP, 1);
    atomic_store_explicit(&gp->status, _Grunnable, memory_order_release);
    return gp;

nomem_name:
    gort__free(gp->name);
    gp->name = NULL;
nomem_stack:
    if (stksize)
        gort__stack_free(pp, &gp->stack);
    else
        gort__stack_unreserve(pp);
    gp->stack_reserved = false;
nomem:
    if (fresh) {
        /* Gs come from slabs and are never freed: keep it, dead, for the
         * next gort_go.  If even allgs cannot grow, drop it (one G's worth
         * of a slab): a G on a free list must be in allgs. */
        atomic_store(&gp->status, _Gdead);
        if (!gort__allgadd(gp)) {
            errno = ENOMEM;
            return NULL;
        }
    }
    {
        gp->stack.lo = gp->stack.hi = 0;
        if (pp)
            gort__gfput(pp, gp);
        else {
            gort__lock(&sched.gflock);
            (void)gfpush_locked(&gp, 1);    /* else: stays dead in allgs */
            gort__unlock(&sched.gflock);
        }
    }
    errno = ENOMEM;
    return NULL;
}

/* pc: the return address into gort_go's caller ("created by"). */
static inline int64_t go_common(void (*fn)(void *), void *arg,
                                const gort_attr *attr, uintptr_t pc)
{
    if (!fn) {
        errno = EINVAL;
        return -1;
    }
    gort__ensure_init();
    struct g *gp = gort__newproc(fn, arg, attr, 0);
    if (!gp)
        return -1;
    gp->gopc = pc;
    int64_t id = gp->goid;
    if (GORT_TRACE_ON())
        gort__trace_create(gp);
    struct m *mp = gort__getm();
    if (mp && mp->p) {
        gort__runqput(mp->p, gp, true);
        if (sched.main_started)
            gort__wakep();
        if (mp->curg) {
            gort__spawn_backpressure(mp);
            gort__preempt_check();
        }
    } else {
        gort__globrunqput(gp);
        gort__wakep();
    }
    return id;
}

int64_t gort_go_ex(void (*fn)(void *), void *arg, const gort_attr *attr)
{
    return go_common(fn, arg, attr, (uintptr_t)__builtin_return_address(0));
}

int64_t gort_go(void (*fn)(void *), void *arg)
{
    return go_common(fn, arg, NULL, (uintptr_t)__builtin_return_address(0));
}

int64_t gort_self(void)
{
    struct g *gp = gort__getg();
    return gp ? gp->goid : 0;
}

/* The C half of a goroutine's first instructions (switch.S gostart). */
void gort__goentry(struct g *gp)
{
    GORT__SAN(gort__san_arrived(NULL));     /* a new fiber: no fake stack */
    gort__afterswitch(gort__getm());
    memset(gort__tlsp(), 0, sizeof(struct gort__tls));
    errno = 0;
    gp->fn(gp->arg);
    gort__goexit1();
}

/* On g0: gp is finished (or abandoned).  Free its stack, recycle it. */
void gort__goexit0(struct g *gp)
{
    struct m *mp = gort__getm();
    struct p *pp = mp->p;
    atomic_store_explicit(&gp->status, _Gdead, memory_order_release);
    /* exiting first, then gen: see "Counting" above. */
    bool done = atomic_load(&sched.exiting);
    if (!done && gp->gen == atomic_load(&sched.gen))
        count_add(&pp->nended);
    GORT__SAN(gort__san_fiber_destroy(&gp->san_fiber));
    if (gp->stack.lo)
        gort__stack_free(pp, &gp->stack);
    else if (gp->stack_reserved)
        gort__stack_unreserve(pp);
    gp->stack_reserved = false;
    if (gp->lockedm) {
        gp->lockedm = NULL;
        gp->lockedcount = 0;
        if (mp->lockedg == gp)
            gort__dropm_locked(mp);
    }
    if (gp->name) {
        gort__free(gp->name);
        gp->name = NULL;
    }
    gort__after_release(gp);
    gp->m = NULL;
    gp->fn = NULL;
    gp->arg = NULL;
    gp->param = NULL;
    gort__gfput(pp, gp);
}

void gort__goexit1(void)
{
    struct gort__tls *t = gort__tlsp();
    if (t->recovered)
        gort__free(t->recovered);
    memset(t, 0, sizeof *t);
    gort__gswitch(ACT_EXIT);
    gort__throw("goexit: dead goroutine resumed");
}

/* The end of gort_goexit, after the deferred calls ran. */
void gort__goexit_end(void)
{
    struct g *gp = gort__getg();
    if (gp == sched.maing) {
        gort__lock(&sched.lock);
        sched.main_goexited = 1;
        gort__unlock(&sched.lock);
    }
    gort__goexit1();
}
