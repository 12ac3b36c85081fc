/*
 * sysmon.c — the system monitor (Go's sysmon and retake, proc.go): a
 * thread of its own, with no P, that watches the Ps.
 *
 * Each round it sleeps 20 us, doubling after 50 rounds in which it
 * retook nothing, up to 10 ms (Go's numbers); but while some P runs a
 * goroutine it never sleeps past 1 ms, so that it sees a goroutine start
 * within 1 ms and preempts it 10-11 ms into its slice (Go, which may
 * sleep 10 ms, preempts at 10-20 ms).  With every P idle it sleeps until
 * the next timer (at most a minute) on sched.sysmonnote, and startm wakes
 * it when work comes back.
 *
 * A round:
 *   - late timers: a timer due more than 0.5 ms ago on a P that has not
 *     run it (busy with a goroutine) gets an M started for an idle P,
 *     which runs it (its last steal round runs other Ps' timers);
 *   - retake, per P (sm_* fields of the P are sysmon's own):
 *       schedtick unchanged for 10 ms: preempt the goroutine (preempt.c);
 *       unchanged for 1 ms and _Prunning: probe for an unwrapped blocking
 *         call (preempt.c, "the rescue"), at most once a millisecond;
 *       _Psyscall: retake the P (CAS to _Pidle, handoffp) once the call
 *         has lasted a round, unless it has no work and other Ps are idle
 *         or spinning and the call is younger than 10 ms;
 *       _Prunning with a lazy wake-up pending (proc.c) and no goroutine
 *         switch since the previous round: make the wake-up (wakep) for
 *         the G its readier left in runnext while it went on running;
 *   - the preemption hint is lowered once no running goroutine is marked;
 *   - a safety net (unstrand): work in the global queue with a P idle and
 *     nobody spinning for 1 ms gets an M started.
 *
 * Reads of other Ps' fields are racy by design (as in Go): a stale view
 * costs at most a spurious preemption request, which the goroutine ignores
 * if it is not marked any more, or a round's delay.
 */
#include "runtime.h"

#include <signal.h>
#include <stdio.h>

#define sched gort__sched

#define FORCE_PREEMPT_NS (10 * GORT_MS)
#define RESCUE_AFTER_NS (1 * GORT_MS)
#define LATE_TIMER_NS (500 * GORT_US)
#define NETPOLL_STALE_NS (10 * GORT_MS)

static _Atomic bool sysmon_started;
_Atomic int64_t gort__nunstranded;
_Atomic uint64_t gort__nretake;
_Atomic uint32_t gort__sigquit_pending;

/* The coarse clock: a line of its own, written by sysmon only (every
 * round, at most 10 ms apart while anything runs, and when it is woken
 * from deep sleep), read by every gopark.  A park then costs a relaxed
 * load of a line that changes at most once a millisecond, not a clock
 * read (~7 parks' worth on a VM).  The error of a wait time is one
 * sysmon round; dumps print whole minutes. */
gort__coarse_t gort__coarse;

static void coarse_tick(int64_t now)
{
    atomic_store_explicit(&gort__coarse.now, now, memory_order_relaxed);
}

bool gort__sysmon_running(void)
{
    return atomic_load(&sysmon_started);
}

static uint32_t load_u32(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Restarts sysmon's clock of every P's time slice at now (after a sleep
 * through which every P was idle): a P that went idle and runs again with
 * the same schedtick (its goroutine was readied into runnext, and so
 * inherited the slice) must not look as if it had run all along, or its
 * goroutine would be preempted at once.  (Go's retake has this flaw.) */
static void restart_slices(int64_t now)
{
    int32_t procs = atomic_load(&sched.gomaxprocs);
    for (int32_t i = 0; i < procs && i < GORT__RELAXED_LOAD(sched.nallp); i++) {
        struct p *pp = gort__allp(i);
        if (pp)
            pp->sm_schedwhen = pp->sm_probewhen = now;
    }
}

static int retake(int64_t now, bool *running)
{
    int n = 0;
    int32_t procs = atomic_load(&sched.gomaxprocs);
    bool marked = false;
    *running = false;
    for (int32_t i = 0; i < procs && i < GORT__RELAXED_LOAD(sched.nallp); i++) {
        struct p *pp = gort__allp(i);
        if (!pp)
            continue;
        uint32_t st = atomic_load(&pp->status);
        bool sysretake = false;
        if (st != _Prunning && st != _Psyscall) {
            /* Idle: a goroutine it runs next starts its slice then, even
             * one that inherits the slice (runnext keeps schedtick). */
            pp->sm_schedwhen = pp->sm_probewhen = now;
            pp->sm_runwhen = 0;
        } else {
            uint32_t t = load_u32(&pp->schedtick);
            if (pp->sm_schedtick != t) {
                pp->sm_schedtick = t;
                pp->sm_schedwhen = now;
                pp->sm_probewhen = now;
                pp->sm_runwhen = 0;
            } else if (pp->sm_schedwhen + FORCE_PREEMPT_NS <= now) {
                GORT_TRACE(TEV_PREEMPT_REQ, GORT__TRACE_SYSMON, 0,
                           (uint64_t)i, 0);
                gort__preemptone(pp, now);
                sysretake = true;
            } else if (st == _Prunning &&
                       pp->sm_probewhen + RESCUE_AFTER_NS <= now) {
                pp->sm_probewhen = now;
                gort__rescue_probe(pp);
            }
        }
        if (st == _Prunning &&
            atomic_load_explicit(&pp->wakepending, memory_order_relaxed)) {
            /* A G readied without a wake-up, and its readier has not
             * switched since the last round: wake an idle P for it. */
            uint64_t sw = atomic_load_explicit(&pp->nswitch, memory_order_relaxed);
            if (sw == pp->sm_wakeswitch && atomic_load(&sched.npidle) > 0 &&
                atomic_load(&sched.nmspinning) == 0) {
                gort__wakep_pending(pp);
                n++;
            }
            pp->sm_wakeswitch = sw;
        }
        if (st == _Prunning) {
            *running = true;
            struct m *mp = __atomic_load_n(&pp->m, __ATOMIC_ACQUIRE);
            struct g *gp = mp ? __atomic_load_n(&mp->curg, __ATOMIC_ACQUIRE) : NULL;
            if (gp && atomic_load_explicit(&gp->preempt, memory_order_relaxed))
                marked = true;
        }
        if (st == _Psyscall) {
            uint32_t t = load_u32(&pp->syscalltick);
            if (!sysretake && pp->sm_syscalltick != t) {
                pp->sm_syscalltick = t;
                pp->sm_syscallwhen = now;
                continue;
            }
            if (gort__runqempty(pp) &&
                atomic_load(&sched.nmspinning) + atomic_load(&sched.npidle) > 0 &&
                pp->sm_syscallwhen + FORCE_PREEMPT_NS > now)
                continue;
            uint32_t exp = _Psyscall;
            if (atomic_compare_exchange_strong(&pp->status, &exp, _Pidle)) {
                n++;
                atomic_store_explicit(
                    &gort__nretake,
                    atomic_load_explicit(&gort__nretake, memory_order_relaxed) + 1,
                    memory_order_relaxed);
                GORT_TRACE(TEV_RETAKE, GORT__TRACE_SYSMON, 0, (uint64_t)i, 0);
                GORT__RELAXED_STORE(pp->syscalltick, pp->syscalltick + 1);
                gort__handoffp(pp);
            }
        }
    }
    if (!marked && GORT__RELAXED_LOAD(gort__preempt_pending))
        GORT__RELAXED_STORE(gort__preempt_pending, 0);
    return n;
}

/* Sleeps ns (< 0: until woken) on sysmonnote. */
static void sysmon_sleep(int64_t ns)
{
    gort__futexsleep(&sched.sysmonnote, 0, ns);
    atomic_store(&sched.sysmonnote, 0);
    if (unlikely(atomic_load(&gort__sigquit_pending)))
        gort__sigquit_dump();   /* prints every goroutine, exits 2 */
    coarse_tick(gort__nanotime());
}

void gort__sysmon_wake(void)
{
    if (atomic_load_explicit(&sched.sysmonwait, memory_order_relaxed) &&
        atomic_exchange(&sched.sysmonwait, 0)) {
        /* sysmon slept, maybe for a minute: goroutines about to run must
         * not park with that stale time (a clock read here is cheap next
         * to the futex wake). */
        coarse_tick(gort__nanotime());
        atomic_store(&sched.sysmonnote, 1);
        gort__futexwakeup(&sched.sysmonnote, 1);
    }
}

static bool all_idle(void)
{
    return !GORT__RELAXED_LOAD(sched.started) || atomic_load(&sched.exiting) ||
           (atomic_load(&sched.npidle) >= atomic_load(&sched.gomaxprocs) &&
            atomic_load(&sched.runqsize) == 0);
}

/* A safety net: runnable goroutines in the global queue, an idle P and
 * nobody spinning, for a whole millisecond, means a wake-up was lost
 * somewhere; start an M.  (Seen only under qemu-user, whose emulation of
 * aarch64's acquire/release ordering on an x86 host left goroutines
 * readied by plain threads stranded with every M asleep.) */
static void unstrand(int64_t now, int64_t *since)
{
    if (atomic_load(&sched.runqsize) > 0 && atomic_load(&sched.npidle) > 0 &&
        atomic_load(&sched.nmspinning) == 0 && !atomic_load(&sched.exiting)) {
        if (*since == 0) {
            *since = now;
        } else if (now - *since >= GORT_MS) {
            *since = 0;
            atomic_fetch_add(&gort__nunstranded, 1);
            gort__wakep();
        }
    } else {
        *since = 0;
    }
}

static void *sysmon(void *unused)
{
    (void)unused;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    gort__trace_sysmon_thread();
    gort__preempt_calibrate();
    coarse_tick(gort__nanotime());
    gort__traceback_init();
    int64_t delay = 20, idle = 0;    /* us */
    bool running = false;
    int64_t lasttrace = 0, stranded = 0, lastpollwhen = 0;
    uint64_t lastpolls = 0;
    for (;;) {
        if (idle == 0)
            delay = 20;
        else if (idle > 50)
            delay *= 2;
        if (delay > 10 * 1000)
            delay = 10 * 1000;
        sysmon_sleep((running && delay > 1000 ? 1000 : delay) * 1000);
        int64_t now = gort__nanotime();
        if (gort__debug.schedtrace > 0 &&
            lasttrace + gort__debug.schedtrace * GORT_MS <= now) {
            lasttrace = now;
            gort__schedtrace(gort__debug.scheddetail > 0);
        }
        if (all_idle() && gort__debug.schedtrace <= 0) {
            /* Deep sleep until work returns (startm wakes us) or the next
             * timer is due. */
            /* Idle: the stack pages waiting to go back go now. */
            while (gort__stack_return_pages(now, true)) {
            }
            atomic_store(&sched.sysmonwait, 1);
            atomic_thread_fence(memory_order_seq_cst);
            /* Announced: look again.  Work that came back before the
             * announcement woke nobody (gort__sysmon_wake read 0), so it
             * must be seen here. */
            if (all_idle()) {
                int64_t next = gort__timesleepuntil();
                int64_t ns = 60 * GORT_SEC;
                if (next && next - now < ns)
                    ns = next - now > 0 ? next - now : 0;
                sysmon_sleep(ns);
            }
            atomic_store(&sched.sysmonwait, 0);
            idle = 0;
            /* Every P was idle: a goroutine running now started after we
             * looked, whatever its P's schedtick says. */
            restart_slices(gort__nanotime());
            continue;
        }
        unstrand(now, &stranded);
        if (gort__stack_return_pages(now, false))
            idle = 0;   /* more to give back: come again soon */
        /* Nobody polled the network for 10 ms (every P busy): look. */
        if (atomic_load_explicit(&gort__np_waiting, memory_order_relaxed) > 0) {
            uint64_t polls = atomic_load_explicit(&gort__np_polls,
                                                  memory_order_relaxed);
            if (polls != lastpolls) {
                lastpolls = polls;
                lastpollwhen = now;
            } else if (now - lastpollwhen > NETPOLL_STALE_NS) {
                gort__sysmon_netpoll();
                lastpollwhen = now;
            }
        }
        int64_t next = gort__timesleepuntil();
        if (next && next + LATE_TIMER_NS < now && atomic_load(&sched.npidle) > 0 &&
            !atomic_load(&sched.pollsleeping))
            gort__startm_any();
        if (retake(now, &running))
            idle = 0;
        else
            idle++;
    }
    return NULL;
}

static void sysmon_create(void)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (gort__pthread_create(&t, &attr, sysmon, NULL) != 0)
        fprintf(stderr, "gort: cannot start sysmon; no preemption\n");
    pthread_attr_destroy(&attr);
}

void gort__sysmon_start(void)
{
    coarse_tick(gort__nanotime());   /* before main's goroutines park */
    if (!atomic_exchange(&sysmon_started, true))
        sysmon_create();
    gort__sysmon_wake();
}

/* fork: the child has no sysmon thread; the next gort_run starts one. */
void gort__sysmon_forked(void)
{
    atomic_store(&sysmon_started, false);
    atomic_store(&sched.sysmonwait, 0);
    atomic_store(&sched.sysmonnote, 0);
    atomic_store(&sched.pollsleeping, 0);
    atomic_store(&sched.pollwake, 0);
    atomic_store(&sched.polluntil, 0);
}
