/*
 * stack.c — goroutine stacks: allocation, pooling, guard pages.
 *
 * A stack is a dedicated mmap'd region, lazily committed (MAP_NORESERVE:
 * only the pages a goroutine touches become resident).  Below each stack
 * lies a guard page so that an overflow faults instead of corrupting its
 * neighbour; signal.c turns that fault into "fatal error: stack overflow".
 *
 * Default-size stacks come from slabs of SLAB_STACKS slots (one mmap each,
 * so a million stacks are ~31k mmaps, not a million) and are recycled:
 * first through a per-P cache (owner only, no locks: the hot path of
 * goroutine churn), then through a global pool under pool.lock.  Pages go
 * back to the kernel a slab at a time: when every stack of a slab sits in
 * the global pool and some of them were used, one MADV_DONTNEED covers the
 * whole slab -- issued by sysmon once the slab has stayed free for 100-200
 * ms (at once when every P is idle), not by the goroutine that freed the
 * last stack.  (One call per stack cost more than the stacks themselves:
 * each call is a TLB shoot-down across the process's threads, and a VM
 * exit on virtual machines.)  After a burst, memory returns to its plateau
 * as the burst's slabs empty (a pool of up to POOL_KEEP_RESIDENT free stacks
 * stays resident, for churn).  Stacks of other sizes (gort_go_ex) are
 * mapped and unmapped one by one.
 *
 * First use.  The first time a pooled stack is handed out (and again after
 * its slab's pages went back), its top page is committed with one
 * madvise(MADV_POPULATE_WRITE) instead of the goroutine's first write
 * faulting it in: on this project's VMs a first-touch fault costs ~12 us
 * against ~3 us for the call and ~6 us for the hypervisor's share on the
 * first access (bench.md, 2026-12-07 evening); natively the two cost
 * about the same.  slab.resident says which tops are committed; it is
 * cleared under pool.lock when the slab's pages are given back, which
 * happens only while every stack of the slab sits in the pool.  Stacks
 * move from the pool to a P's cache in batches of STKCACHE_MAX/2, and a
 * batch gets its missing guards and tops in one process_madvise call per
 * kind (prepare_batch; Linux 6.15's PIDFD_SELF), so a burst of fresh
 * goroutines makes ~1/8 of the system calls it used to (skynet: 23,800
 * madvise calls -> 1,550 process_madvise + 61 madvise).
 *
 * Guard modes, chosen per stack when it is first handed out:
 *   - MADV_GUARD_INSTALL (Linux >= 6.13): the guard is a page-table marker;
 *     it does not split the VMA, so any number of stacks is fine.
 *   - mprotect(PROT_NONE): splits the mapping (two VMAs per stack), so it
 *     is used only while the count stays well under vm.max_map_count.
 *   - canary: past that budget, stacks get no guard page; canary words at
 *     the bottom are checked every time the goroutine switches out.
 * The first failure of MADV_GUARD_INSTALL with EINVAL (old kernel) moves
 * the process to mprotect for good, and so does a first marker that does
 * not fault (guard_verified: an emulator that ignores it).
 *
 * Stack credit.  A goroutine that has not started holds no stack (a burst
 * of a million gort_go calls should not map a million stacks), yet gort_go
 * must fail with ENOMEM rather than let a goroutine find no stack later.
 * So gort_go *reserves*: the credit is (free pooled stacks) - (goroutines
 * holding a reservation but no stack yet), split between a global atomic
 * counter and a per-P share (pp->stkcredit, owner only, refilled in
 * batches so that spawning does not bounce one cache line between Ps).
 * Reserving when the credit is exhausted maps a new slab; if that fails,
 * gort_go fails.  Invariant: the sum of all credits never goes negative,
 * hence a reserved goroutine always has a free stack somewhere.  Taking
 * it (gort__stack_get_reserved) looks in the P's cache, then the global
 * pool; if both are empty because the free stacks sit in other Ps' caches,
 * it maps one more slab; if that fails too (mappings are failing), the
 * scheduler takes one from an idle P's cache (gort__stack_take_cached),
 * or waits for a busy P to put one back; fatal only when, after that,
 * no stack turned up (proc.c, startg).
 */
#include "runtime.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "madv.h"

#define SLAB_STACKS 32
#define ARENA_SLABS_MAX 64
/* Free stacks the pool keeps resident before it gives pages back: churn
 * below this (goroutines coming and going) must not pay a page fault per
 * goroutine, which on a VM costs more than the goroutine. */
#define POOL_KEEP_RESIDENT 1024
#define CREDIT_BATCH 16
#define CANARY_WORDS 4

static size_t pagesz;
static size_t defsize;          /* usable bytes of a default stack */
static size_t slotsz;           /* defsize + guard page */
static _Atomic int guardmode;   /* mode for stacks handed out from now on */
static _Atomic long nmprot;     /* mprotect guards in place */
static long mprot_budget;       /* how many we allow ourselves */

/* A slab of SLAB_STACKS default stacks (pool.lock). */
struct gort__slab {
    uintptr_t base;
    uint32_t inpool;        /* its stacks now in the global pool */
    uint32_t dirty;         /* bit i: stack i was used since last released */
    _Atomic uint32_t resident; /* bit i: stack i's top page was populated */
    bool relqueued;         /* on relq_young or relq_old */
    struct gort__slab *relnext;
};

/* Slabs that filled up in the pool with used pages (pool.lock), waiting
 * for sysmon to give the pages back (gort__stack_return_pages): young ones
 * became free since the last rotation, old ones at least RELEASE_AGE_NS
 * ago.  A slab reused meanwhile is dropped when its turn comes. */
static struct gort__slab *relq_young, *relq_old;
static int64_t relq_rotated;
static _Atomic int relq_pending;    /* slabs on either list (a hint) */
#define RELEASE_AGE_NS (100 * GORT_MS)
#define RELEASE_BATCH 8     /* slabs per hold of pool.lock */

static struct {
    gort__mutex lock;
    gort__stack *v;
    size_t n, cap;
} pool;

static _Atomic int64_t credit;  /* the global share of the stack credit */
_Atomic int gort__stack_wanted;

const char *gort__stack_guard_mode(void)
{
    switch (atomic_load(&guardmode)) {
    case STK_GUARD_MADV: return "madvise";
    case STK_GUARD_MPROT:
        return atomic_load(&nmprot) < mprot_budget ? "mprotect" : "canary";
    default: return "canary";
    }
}

static long read_max_map_count(void)
{
    long v = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 65530;
        fclose(f);
    }
    return v;
}

void gort__stack_init(void)
{
    pagesz = (size_t)sysconf(_SC_PAGESIZE);
    size_t sz = gort__debug.stacksize ? gort__debug.stacksize
                                      : (size_t)256 * 1024;
    defsize = (sz + pagesz - 1) & ~(pagesz - 1);
    slotsz = defsize + pagesz;
    /* Leave room for everything else the process maps (libraries, malloc
     * arenas, thread stacks): half the limit minus a generous margin. */
    mprot_budget = (read_max_map_count() - 8192) / 2;
    if (mprot_budget < 0)
        mprot_budget = 0;
    int mode = gort__debug.guard ? gort__debug.guard : STK_GUARD_MADV;
    atomic_store(&guardmode, mode);
}

static void write_canary(gort__stack *s)
{
    uint64_t *w = (uint64_t *)s->lo;
    for (int i = 0; i < CANARY_WORDS; i++)
        w[i] = GORT__STACK_CANARY;
}

bool gort__stack_canary_words_ok(const gort__stack *s)
{
    const uint64_t *w = (const uint64_t *)s->lo;
    for (int i = 0; i < CANARY_WORDS; i++)
        if (w[i] != GORT__STACK_CANARY)
            return false;
    return true;
}

/* A pooled stack's bit in its slab's masks (dirty, resident). */
static inline uint32_t slot_bit(const gort__stack *s)
{
    return 1u << ((s->lo - pagesz - s->slab->base) / slotsz);
}

/* The stack's guard mode is settled (it was handed out before). */
static inline bool guard_settled(const gort__stack *s)
{
    return (s->flags & (STK_GUARD_MADV | STK_GUARD_MPROT | STK_CANARY)) != 0;
}

/* Whether guard markers really fault: checked once, on the first page
 * given one.  An emulator may accept MADV_GUARD_INSTALL and do nothing
 * (qemu-user does): then every stack would go unguarded while gort
 * thought otherwise, so the process moves to mprotect guards for good.
 * The check makes the kernel read the page (one byte written from it
 * into a pipe): EFAULT means the marker works.  No signal is involved,
 * so a debugger sees nothing (a probing read under the fault handler
 * stopped every program under gdb at its first goroutine). */
static _Atomic int guard_checked;   /* 0: not yet, 1: they fault */

static bool guard_faults(const void *page)
{
#ifdef GORT_VG
    if (RUNNING_ON_VALGRIND)
        return true;    /* it cannot see the marker: trust the kernel */
#endif
    int fds[2];
    int saved = errno;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        errno = saved;
        return true;    /* cannot tell (out of descriptors): trust it */
    }
    ssize_t n = write(fds[1], page, 1);
    bool faulted = n < 0 && errno == EFAULT;
    close(fds[0]);
    close(fds[1]);
    errno = saved;
    return faulted;
}

/* After a marker was installed on page: false if markers turn out not to
 * work (guardmode is now mprotect). */
static bool guard_verified(const void *page)
{
    if (atomic_load_explicit(&guard_checked, memory_order_acquire))
        return true;
    if (guard_faults(page)) {
        atomic_store_explicit(&guard_checked, 1, memory_order_release);
        return true;
    }
    atomic_store(&guardmode, STK_GUARD_MPROT);
    return false;
}

/* Gives a stack its guard the first time it is handed out. */
static void install_guard(gort__stack *s)
{
    if (guard_settled(s))
        goto canary;
    void *gpage = (void *)(s->lo - pagesz);
    int mode = atomic_load_explicit(&guardmode, memory_order_relaxed);
    if (mode == STK_GUARD_MADV) {
        int saved = errno;
        if (gort__madvise(gpage, pagesz, MADV_GUARD_INSTALL) == 0 &&
            guard_verified(gpage)) {
            errno = saved;
            s->flags |= STK_GUARD_MADV;
            return;
        }
        if (errno == EINVAL)    /* kernel without guard markers */
            atomic_store(&guardmode, STK_GUARD_MPROT);
        errno = saved;
        mode = STK_GUARD_MPROT;
    }
    if (mode == STK_GUARD_MPROT &&
        atomic_fetch_add(&nmprot, 1) < mprot_budget) {
        if (gort__mprotect(gpage, pagesz, PROT_NONE) == 0) {
            s->flags |= STK_GUARD_MPROT;
            return;
        }
        atomic_fetch_sub(&nmprot, 1);
    } else if (mode == STK_GUARD_MPROT) {
        atomic_fetch_sub(&nmprot, 1);
    }
    s->flags |= STK_CANARY;
canary:
    if (s->flags & STK_CANARY)
        write_canary(s);
}

static _Atomic bool populate_off;

/* process_madvise goes to the calling process (PIDFD_SELF_PROCESS, madv.h;
 * every advice is accepted on oneself since 6.13).  It names no fd, so a
 * forked child cannot advise its parent's memory by mistake. */
static _Atomic bool batch_off;

/* Readies a batch of stacks just taken from the pool for first use: the
 * guards they lack and the tops not yet committed, each kind in one
 * process_madvise call instead of one madvise per stack (on this
 * project's VMs a call costs ~3 us, so a burst of fresh goroutines spent
 * a quarter of its time entering the kernel; bench.md).  Anything the
 * batch did not do is left to install_guard and populate_top, stack by
 * stack, as on kernels without it (batch_off). */
static void prepare_batch(gort__stack *v, int n)
{
#ifdef SYS_process_madvise
    if (n < 2 || gort__debug.stackbatchoff ||
        atomic_load_explicit(&batch_off, memory_order_relaxed))
        return;
#ifdef GORT_VG
    if (RUNNING_ON_VALGRIND)
        return;     /* it knows no process_madvise (and says so) */
#endif
    struct iovec gv[STKCACHE_MAX], pv[STKCACHE_MAX];
    int gi[STKCACHE_MAX], pi[STKCACHE_MAX];
    int ng = 0, np = 0;
    bool madv = atomic_load_explicit(&guardmode, memory_order_relaxed) ==
                STK_GUARD_MADV;
    for (int i = 0; i < n; i++) {
        gort__stack *s = &v[i];
        if (madv && !guard_settled(s)) {
            gv[ng] = (struct iovec){(void *)(s->lo - pagesz), pagesz};
            gi[ng++] = i;
        }
        if (!(atomic_load_explicit(&s->slab->resident, memory_order_relaxed) &
              slot_bit(s)) &&
            !atomic_load_explicit(&populate_off, memory_order_relaxed)) {
            pv[np] = (struct iovec){(void *)(s->hi - pagesz), pagesz};
            pi[np++] = i;
        }
    }
    int saved = errno;
    if (ng > 1) {
        long r = GORT__OUTCALL(long, syscall(SYS_process_madvise, PIDFD_SELF_PROCESS,
                                             gv, (size_t)ng, MADV_GUARD_INSTALL, 0));
        if (r == (long)(pagesz * (size_t)ng) && guard_verified(gv[0].iov_base)) {
            for (int k = 0; k < ng; k++)
                v[gi[k]].flags |= STK_GUARD_MADV;
        } else {
            atomic_store(&batch_off, true);
            np = 0;
        }
    }
    if (np > 1) {
        long r = GORT__OUTCALL(long, syscall(SYS_process_madvise, PIDFD_SELF_PROCESS,
                                             pv, (size_t)np, MADV_POPULATE_WRITE, 0));
        if (r == (long)(pagesz * (size_t)np)) {
            for (int k = 0; k < np; k++) {
                gort__stack *s = &v[pi[k]];
                atomic_fetch_or_explicit(&s->slab->resident, slot_bit(s),
                                         memory_order_relaxed);
            }
        } else {
            atomic_store(&batch_off, true);
        }
    }
    errno = saved;
#else
    (void)v;
    (void)n;
#endif
}

/* Commits the top page of a pooled stack before its first use. */
static void populate_top(gort__stack *s)
{
    struct gort__slab *sl = s->slab;
    uint32_t bit = slot_bit(s);
    if (atomic_load_explicit(&sl->resident, memory_order_relaxed) & bit)
        return;
    atomic_fetch_or_explicit(&sl->resident, bit, memory_order_relaxed);
    if (atomic_load_explicit(&populate_off, memory_order_relaxed))
        return;
    int saved = errno;
    if (gort__madvise((void *)(s->hi - pagesz), pagesz, MADV_POPULATE_WRITE) != 0 &&
        errno == EINVAL)
        atomic_store(&populate_off, true);
    errno = saved;
}

/* Makes room for n more entries in the pool.  pool.lock held. */
static int pool_reserve_locked(size_t n)
{
    if (pool.n + n <= pool.cap)
        return 0;
    size_t ncap = pool.cap ? pool.cap * 2 : 1024;
    while (ncap < pool.n + n)
        ncap *= 2;
    gort__stack *nv = gort__realloc(pool.v, ncap * sizeof *nv);
    if (!nv)
        return -1;
    pool.v = nv;
    pool.cap = ncap;
    return 0;
}

/* Takes the top stack of the pool.  pool.lock held, pool not empty. */
static gort__stack pool_pop_locked(void)
{
    gort__stack s = pool.v[--pool.n];
    s.slab->inpool--;
    return s;
}

/* Address space for slabs, mapped ahead (pool.lock): the next slab is cut
 * from [arena, arena + arena_left). */
static uintptr_t arena;
static size_t arena_left;
static unsigned arena_slabs;    /* slabs in the last arena mapped */

/* The address of a new slab's slots.  pool.lock held.  Slabs come from
 * arenas of 1, 2, 4, ... ARENA_SLABS_MAX slabs (a program with a few
 * goroutines maps one slab, one with 100,000 maps a few arenas): each
 * mmap takes the mmap lock for writing and, as the new mapping merges
 * with the last, write-locks the VMA where other threads are faulting in
 * their new stacks; one per slab made skynet's threads queue on it.  When
 * an arena cannot be mapped (RLIMIT_AS), one slab is tried alone. */
static uintptr_t slab_space_locked(size_t len)
{
    if (arena_left < len) {
        unsigned want = arena_slabs ? arena_slabs * 2 : 1;
        if (want > ARENA_SLABS_MAX)
            want = ARENA_SLABS_MAX;
        void *base = MAP_FAILED;
        while (base == MAP_FAILED) {
            base = gort__mmap(NULL, len * want, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (base == MAP_FAILED) {
                if (want == 1)
                    return 0;
                want = 1;
            }
        }
        /* The tail of the old arena (less than a slab) is left unused. */
        arena = (uintptr_t)base;
        arena_left = len * want;
        arena_slabs = want;
    }
    uintptr_t b = arena;
    arena += len;
    arena_left -= len;
    return b;
}

/* Maps a slab of default stacks into the global pool.  pool.lock held. */
static int grow_locked(void)
{
    size_t len = slotsz * SLAB_STACKS;
    struct gort__slab *sl = gort__malloc(sizeof *sl);
    if (!sl || pool_reserve_locked(SLAB_STACKS) != 0) {
        gort__free(sl);
        return -1;
    }
    uintptr_t b = slab_space_locked(len);
    if (b == 0) {
        gort__free(sl);
        return -1;
    }
    void *base = (void *)b;
    sl->base = (uintptr_t)base;
    sl->inpool = SLAB_STACKS;
    sl->dirty = 0;
    atomic_init(&sl->resident, 0);
    sl->relqueued = false;
    sl->relnext = NULL;
    /* Push in reverse so that the lowest addresses are handed out first. */
    for (int i = SLAB_STACKS - 1; i >= 0; i--) {
        uintptr_t slot = (uintptr_t)base + (size_t)i * slotsz;
        pool.v[pool.n++] = (gort__stack){
            .lo = slot + pagesz, .hi = slot + slotsz, .flags = STK_POOLED,
            .vgid = gort__san_stack_register(slot + pagesz, slot + slotsz),
            .slab = sl};
    }
    atomic_fetch_add(&credit, SLAB_STACKS);
    return 0;
}

int gort__stack_reserve(struct p *pp)
{
    if (pp && pp->stkcredit > 0) {
        pp->stkcredit--;
        return 0;
    }
    int64_t n = pp ? CREDIT_BATCH : 1;
    int64_t c = atomic_fetch_sub(&credit, n);
    if (c < n) {
        /* Not enough free stacks for the batch: map more.  Several
         * threads may grow at once; that only over-provisions a little. */
        gort__lock(&pool.lock);
        int r = grow_locked();
        gort__unlock(&pool.lock);
        if (r != 0) {
            atomic_fetch_add(&credit, n);
            errno = ENOMEM;
            return -1;
        }
    }
    if (pp)
        pp->stkcredit += (int32_t)(n - 1);
    return 0;
}

void gort__stack_unreserve(struct p *pp)
{
    if (pp)
        pp->stkcredit++;
    else
        atomic_fetch_add(&credit, 1);
}

int gort__stack_get_reserved(struct p *pp, gort__stack *out)
{
    if (pp->nstkcache > 0) {
        *out = pp->stkcache[--pp->nstkcache];
    } else {
        gort__lock(&pool.lock);
        if (pool.n == 0 && grow_locked() != 0) {
            gort__unlock(&pool.lock);
            return -1;
        }
        /* Take a few for the cache at once: one lock per batch.  The
         * first (the lowest address) is ours; the others are handed out
         * from the highest down, so that until the batch runs out, the
         * slot below a new stack is one nobody uses yet: a canary stack
         * (no guard page) that overruns its own guard slot hits an idle
         * stack, not a live goroutine's frames (stack_overflow_canary
         * failed 2 times in 30 with the batch handed out upwards). */
        int k = (int)(pool.n < STKCACHE_MAX / 2 ? pool.n : STKCACHE_MAX / 2);
        pp->stkcache[k - 1] = pool_pop_locked();    /* ours, past the top */
        for (int i = 0; i < k - 1; i++)
            pp->stkcache[i] = pool_pop_locked();
        gort__unlock(&pool.lock);
        prepare_batch(pp->stkcache, k);
        *out = pp->stkcache[k - 1];
        pp->nstkcache = k - 1;
    }
    install_guard(out);
    populate_top(out);
    return 0;
}

/* The stack credit's last resort (see "Stack credit" above): a reserved
 * goroutine found no stack in its P's cache or the pool, and no slab could
 * be mapped.  The credit says a free stack is somewhere: take one from
 * another P's cache.  from is idle and the caller holds sched.lock, so
 * nobody owns from's cache now. */
bool gort__stack_take_cached(struct p *from, gort__stack *out)
{
    if (from->nstkcache == 0)
        return false;
    *out = from->stkcache[--from->nstkcache];
    install_guard(out);
    populate_top(out);
    return true;
}

/* Moves the P's cache down to keep entries into the global pool.  A slab
 * whose every stack is now in the pool, some of them used, gives its
 * pages back in one call.  Guard markers survive MADV_DONTNEED; canaries
 * are rewritten when a stack is handed out. */
static void spill(struct p *pp, int keep)
{
    gort__lock(&pool.lock);
    if (pool_reserve_locked((size_t)(pp->nstkcache - keep)) != 0)
        gort__throw("out of memory growing the stack pool");
    while (pp->nstkcache > keep) {
        gort__stack s = pp->stkcache[--pp->nstkcache];
        struct gort__slab *sl = s.slab;
        sl->dirty |= slot_bit(&s);
        if (++sl->inpool == SLAB_STACKS && sl->dirty && !sl->relqueued &&
            pool.n >= POOL_KEEP_RESIDENT) {
            sl->relqueued = true;
            sl->relnext = relq_young;
            relq_young = sl;
            atomic_fetch_add_explicit(&relq_pending, 1, memory_order_relaxed);
        }
        pool.v[pool.n++] = s;
    }
    gort__unlock(&pool.lock);
}

/* Gives back the pages of slabs that have sat wholly free in the pool for
 * a while (all of them, when all is set: the program is idle).  Called
 * by sysmon, off the goroutines' path: a release is an MADV_DONTNEED, a
 * TLB shoot-down across the process's threads, and releasing a slab the
 * moment it empties made a burst of goroutines (skynet) fault the same
 * pages in again moments later.  Returns true when slabs are left
 * waiting (call again soon). */
bool gort__stack_return_pages(int64_t now, bool all)
{
    if (atomic_load_explicit(&relq_pending, memory_order_relaxed) == 0)
        return false;
    gort__lock(&pool.lock);
    if (relq_old == NULL && relq_young &&
        (all || now - relq_rotated >= RELEASE_AGE_NS)) {
        relq_old = relq_young;
        relq_young = NULL;
        relq_rotated = now;
    }
    for (int n = 0; relq_old && n < RELEASE_BATCH; n++) {
        struct gort__slab *sl = relq_old;
        relq_old = sl->relnext;
        sl->relqueued = false;
        atomic_fetch_sub_explicit(&relq_pending, 1, memory_order_relaxed);
        if (sl->inpool == SLAB_STACKS && sl->dirty &&
            pool.n >= POOL_KEEP_RESIDENT) {
            int saved = errno;
            gort__madvise((void *)sl->base, slotsz * SLAB_STACKS, MADV_DONTNEED);
            errno = saved;
            sl->dirty = 0;
            atomic_store_explicit(&sl->resident, 0, memory_order_relaxed);
        }
    }
    bool more = relq_old != NULL || (all && relq_young != NULL);
    gort__unlock(&pool.lock);
    return more;
}

void gort__stack_free(struct p *pp, gort__stack *s)
{
    if (!(s->flags & STK_POOLED)) {
        if (s->flags & STK_GUARD_MPROT)
            atomic_fetch_sub(&nmprot, 1);
        gort__san_stack_deregister(s->vgid);
        gort__munmap((void *)(s->lo - pagesz), s->hi - s->lo + pagesz);
        s->lo = s->hi = 0;
        return;
    }
    if (pp->nstkcache == STKCACHE_MAX)
        spill(pp, STKCACHE_MAX / 2);
    pp->stkcache[pp->nstkcache++] = *s;
    s->lo = s->hi = 0;
    if (unlikely(atomic_load_explicit(&gort__stack_wanted,
                                      memory_order_relaxed) != 0))
        spill(pp, 0);   /* someone waits for a stack: into the pool */
    if (++pp->stkcredit > 4 * CREDIT_BATCH) {
        pp->stkcredit -= 2 * CREDIT_BATCH;
        atomic_fetch_add(&credit, 2 * CREDIT_BATCH);
    }
}

/* A P that is going away gives everything back. */
void gort__stack_flush_cache(struct p *pp)
{
    if (pp->nstkcache > 0)
        spill(pp, 0);
    atomic_fetch_add(&credit, pp->stkcredit);
    pp->stkcredit = 0;
}

int gort__stack_alloc_sized(size_t size, gort__stack *out)
{
    size = (size + pagesz - 1) & ~(pagesz - 1);
    void *base = gort__mmap(NULL, size + pagesz, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        errno = ENOMEM;
        return -1;
    }
    out->lo = (uintptr_t)base + pagesz;
    out->hi = out->lo + size;
    out->flags = 0;
    out->vgid = gort__san_stack_register(out->lo, out->hi);
    out->slab = NULL;
    install_guard(out);
    return 0;
}
