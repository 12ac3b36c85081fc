/*
 * stats.c — gort_read_stats: the runtime's counters, for programs and
 * tools (Go's runtime/metrics, in a C struct).
 *
 * Nothing here is counted on a shared line.  Events on the hot paths
 * (switches, parks, preemptions, syscall hand-offs, timer callbacks) are
 * counted in per-P fields by the M that holds the P, with a relaxed load
 * and store (no read-modify-write, no lock prefix; runtime.h's
 * gort__count), and summed here at read time: a reader may miss the
 * latest events of a P, never get a torn or decreasing value.  Steals and
 * schedticks were per-P already (gort_proc_stats).  sysmon's retakes are
 * sysmon's own counter (one writer).  The netpoller's waits (goroutines
 * parked on a descriptor) are netpoll.c's gort__np_nwaits, a shared
 * atomic bumped beside gort__np_waiting, which that park updates anyway
 * (Go's netpollWaiters).
 *
 * Rejected: one global atomic per event (a contended RMW on every switch
 * and park, the cost the per-P counters avoid), and per-M counters (Ms
 * come and go; Ps are fixed and already hold the P-local hot state).
 */
#include "runtime.h"

#include <errno.h>
#include <string.h>

#define sched gort__sched


static uint64_t ld(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

int gort_read_stats(gort_stats *out)
{
    if (!out) {
        errno = EINVAL;
        return -1;
    }
    gort__ensure_init();
    memset(out, 0, sizeof *out);
    out->goroutines = gort__gcount();
    out->procs = atomic_load(&sched.gomaxprocs);
    out->idle_procs = atomic_load(&sched.npidle);
    gort__lock(&sched.lock);
    out->ms = sched.mnext - sched.nmfreed;
    out->idle_ms = sched.nmidle;
    int32_t np = sched.nallp;
    gort__unlock(&sched.lock);
    if (!sched.started && out->idle_procs == 0)
        out->idle_procs = out->procs;   /* no run: every P is idle */
    uint64_t created = (uint64_t)atomic_load(&sched.ncreated_noP);
    /* Every P ever allocated (Ps past gomaxprocs keep what they counted). */
    for (int32_t i = 0; i < np; i++) {
        struct p *pp = sched.allp[i];
        if (!pp)
            continue;
        created += (uint64_t)atomic_load_explicit(&pp->ncreated,
                                                  memory_order_relaxed);
        out->context_switches += ld(&pp->nswitch);
        out->steals += ld(&pp->nsteal);
        out->parks += ld(&pp->npark);
        out->preempt_coop += ld(&pp->npreempt_coop);
        out->preempt_async += ld(&pp->npreempt_async);
        out->syscall_handoffs += ld(&pp->nsyscallhandoff);
        out->timers_fired += ld(&pp->ntimerfired);
    }
    out->goroutines_created = created;
    out->syscall_retakes = ld(&gort__nretake);
    out->netpoll_waits = ld(&gort__np_nwaits);
    return 0;
}
