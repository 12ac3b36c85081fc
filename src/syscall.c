/*
 * syscall.c — goroutines in blocking system calls (Go's entersyscall,
 * entersyscallblock and exitsyscall, proc.go).
 *
 * gort_syscall_enter is Go's entersyscallblock: the caller knows the call
 * may block, so the P is handed off at once (handoffp starts an M for it
 * if there is work, else leaves it idle) and the goroutine, now _Gsyscall,
 * keeps only its M.  A rescued unwrapped call (preempt.c) enters lazily,
 * as Go's entersyscall does: its P stays attached in _Psyscall until
 * sysmon retakes it (sysmon.c), so a call that returns quickly costs no
 * hand-off.
 *
 * gort_syscall_exit (Go's exitsyscall): fast paths first: the old P if it
 * is still ours (_Psyscall -> _Prunning by CAS, racing sysmon's
 * _Psyscall -> _Pidle CAS: one wins), else the old P if it is idle, else
 * any idle P.  Without one, the goroutine goes to the global run queue
 * and its M stops (gort__exitsyscall_park switches to g0, which queues the
 * goroutine once its context is saved, then stops the M); a locked
 * goroutine, or a rescued one (which must resume on this M: the code it
 * was interrupted in may hold thread-local addresses), waits with its M
 * until some M dequeues it and hands this M its P (startlockedm).
 *
 * While in a system call the goroutine has no P: a gort call that would
 * park it inside the pair dies with a fatal error (gort__gswitch checks).
 *
 * Thread count: every goroutine blocked in a system call holds an M, so
 * Ms grow with blocked calls, up to sched.maxmcount (Go's 10000;
 * gort_set_max_threads), past which startm dies with Go's "thread
 * exhaustion".
 */
#include "runtime.h"

#define sched gort__sched

void gort_syscall_enter(void)
{
    struct m *mp = gort__getm();
    if (!mp || !mp->curg || !mp->p)
        return;
    int nest = mp->insyscall;
    GORT__RELAXED_STORE(mp->insyscall, nest + 1);   /* sysmon reads it */
    if (nest > 0)
        return;     /* nested: the outer pair does the work */
    int saved = errno;
    struct g *gp = mp->curg;
    struct p *pp = mp->p;
    mp->oldp = pp;
    mp->syscalltick = pp->syscalltick;
    /* For dumps: where the caller is (its return address and frame
     * pointer; gort is built with frame pointers, so ours holds the
     * caller's), and since when. */
    gp->syscallpc = (uintptr_t)__builtin_return_address(0);
    gp->syscallfp = *(uintptr_t *)__builtin_frame_address(0);
    gp->waitsince = atomic_load_explicit(&gort__coarse.now, memory_order_relaxed);
    atomic_store_explicit(&gp->status, _Gsyscall, memory_order_relaxed);
    gort__count(&pp->nsyscallhandoff);
    GORT_TRACE(TEV_SYSCALL_ENTER, pp->id, gp->goid, 0, 0);
    GORT__RELAXED_STORE(pp->syscalltick, pp->syscalltick + 1);
    GORT__RELAXED_STORE(pp->m, NULL);
    mp->p = NULL;
    atomic_store(&pp->status, _Pidle);
    gort__handoffp(pp);
    errno = saved;
}

/* Reacquires a P: the old one if still ours or idle, else any idle one.
 * false: none to be had. */
static bool exitsyscallfast(struct m *mp, struct p *oldp)
{
    if (oldp) {
        uint32_t st = _Psyscall;
        if (atomic_compare_exchange_strong(&oldp->status, &st, _Prunning)) {
            __atomic_store_n(&oldp->m, mp, __ATOMIC_RELEASE);
            mp->p = oldp;
            return true;
        }
    }
    return atomic_load(&sched.npidle) > 0 && gort__acquire_idlep(mp, oldp);
}

static void exitsyscall(struct m *mp, struct g *gp, bool stay)
{
    struct p *oldp = mp->oldp;
    mp->oldp = NULL;
    GORT__RELAXED_STORE(mp->insyscall, 0);
    if (!exitsyscallfast(mp, oldp)) {
        /* No P: queue the goroutine and stop the M.  stay: wire it to
         * this M until it runs again. */
        bool wired = stay && gort__wire(mp, gp);
        gort__exitsyscall_park(mp, gp);
        mp = gort__getm();
        if (wired)
            gort__unwire(gp);
        GORT_TRACE(TEV_SYSCALL_EXIT, mp->p->id, gp->goid,
                   (uint64_t)mp->p->id, 0);
    } else if (GORT_TRACE_ON()) {
        /* Straight back onto a P: a run begins there. */
        gort__trace_ev(TEV_SYSCALL_EXIT, mp->p->id, gp->goid,
                       (uint64_t)mp->p->id, 0);
        gort__trace_start_g(mp->p, gp);
    }
    GORT__RELAXED_STORE(mp->p->syscalltick, mp->p->syscalltick + 1);
    gp->rescued = false;
    atomic_store_explicit(&gp->status, _Grunning, memory_order_relaxed);
}

void gort_syscall_exit(void)
{
    struct m *mp = gort__getm();
    if (!mp || !mp->curg || mp->insyscall == 0)
        return;
    if (mp->insyscall > 1) {
        GORT__RELAXED_STORE(mp->insyscall, mp->insyscall - 1);
        return;
    }
    int saved = errno;
    exitsyscall(mp, mp->curg, false);
    errno = saved;
    gort__preempt_check();
}

GORT_INTERNAL void gort__exitsyscall_rescued(struct m *mp, struct g *gp);
void gort__exitsyscall_rescued(struct m *mp, struct g *gp)
{
    int saved = errno;
    exitsyscall(mp, gp, true);
    errno = saved;
}
