/*
 * trace.c — the execution trace (GORTTRACE=file.json, gort_trace_start /
 * gort_trace_stop; Go's runtime/trace), written in the Chrome trace-event
 * JSON format that Perfetto (ui.perfetto.dev) and chrome://tracing open,
 * and that tools/trace2html.py renders without either.
 *
 * The model.  The runtime's hooks (runtime.h's GORT_TRACE) record events
 * into a per-thread buffer, without locks; a dedicated writer thread
 * copies full buffers, as they are, to a spill file (unlinked, beside the
 * trace), and the stop turns the spill file into JSON.  A switch's events
 * are 16 bytes each (struct tslot: time and one packed word), the rarer
 * ones 32; the hot path is a clock read (the CPU counter) and two stores
 * per event; the JSON (string formatting, symbol look-ups) is made after
 * the program's work, off the scheduler's paths.  Formatting it live, on the
 * writer thread, was tried first: on 2 CPUs the writer could not keep up
 * with a switch-heavy program and slowed it 15x.
 *
 *   - Tracing off costs one predictable branch at each hook: a relaxed
 *     load of gort__tracing, a global written only by start and stop.
 *     The hooks are out-of-line calls behind that branch.
 *   - Lanes.  The JSON's pid is the process, tid a lane: tid = P id for
 *     everything done with a P (a goroutine's run slices, its creates,
 *     blocks, wake-ups), 1000 for sysmon (retakes, preemption requests),
 *     2000 + M id for an M without a P (wake-ups by the blocking poller or
 *     a thread leaving a system call), 3000 for plain threads.  Each lane
 *     is named by an "M" metadata event ("P0", "sysmon", "M3 (no P)").
 *   - Run slices.  A goroutine's run on a P begins (GoStart: execute,
 *     switch_out's direct switch, a syscall exit that got a P back) and
 *     ends (GoStop in switch_out, or gort_syscall_enter's hand-off)
 *     on the same M: only the M holding a G switches it out.  So the
 *     writer pairs them per thread, in the thread's own event order, and
 *     writes one "X" (complete) event per run: slices never overlap on a
 *     lane, and need no B/E balance across buffers that reach the writer
 *     out of order.  A run still open at the end is closed at the stop.
 *   - Wake-ups are flow arrows: goready stamps the G with a flow id
 *     (gp->traceflow) and records an "s" on the waker's lane; the G's
 *     next GoStart carries the id and gets the "f".
 *   - Bounded memory: a pool of NBUF buffers of BUFSLOTS slots (4 MiB).
 *     A thread whose buffer fills hands it to the writer (a lock and a
 *     futex wake per buffer) and takes a free one.  When none is
 *     free (the writer fell behind) the thread waits for one for up to
 *     WAIT_NS, then drops events, counting them; the count goes into the
 *     trace as a "dropped" instant event on the lane where the loss
 *     happened, and into the closing otherData: never lost silently.
 *   - Stop: tracing off, then wait until no thread is inside a hook (each
 *     thread's busy word, a Dekker pair with gort__tracing: relaxed on the
 *     hook's side, membarrier(2) on the stop's), then the writer spills
 *     every buffer, the spill file is converted, the open runs are closed
 *     and the closing bracket written.  gort_run's end waits for the full
 *     buffers to be written; exit (atexit) and fatal errors (gort__exit2)
 *     stop the trace, so the file is valid JSON after a fatal error too.
 *
 * Lock order: trace.lock (the pool and the full list) is a leaf, taken
 * inside any runtime lock (goready runs under channel and sema locks).
 *
 * Rejected: per-P buffers (a P changes hands at syscalls while its old M
 * may still record, so writes would need a lock or an atomic); one shared
 * ring (a contended atomic per event); writing JSON on the hot path
 * (snprintf costs more than a goroutine switch) or live on the writer
 * (above); clock_gettime per event (~75 ns on a VM, the counter ~30);
 * B/E pairs (a lane's B and
 * E may come from different threads' buffers, so any drop would leave a
 * lane unbalanced).
 */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define BUFSLOTS 4096                /* 16-byte slots per buffer (64 KiB) */
#define NBUF 64                     /* buffers in the pool (4 MiB) */
#define WAIT_NS (2 * GORT_MS)       /* a thread waits this long for one */

enum {
    LANE_SYSMON = 1000,
    LANE_NOP = 2000,                /* + M id */
    LANE_THREAD = 3000,
};

static const char *const evnames[] = {
#define X(name, str) str,
    GORT_TRACE_EVENTS(X)
#undef X
};

/* What the buffers hold: 16-byte slots.  A slot's w is the event type
 * (bits 0-4), a wide flag (bit 5), and for a narrow event a payload
 * (bits 6-63).  The three events of every switch are narrow, one slot:
 *   START    goid (40 bits) | flow (18 bits) << 40
 *   STOP     goid | arg (act | wait reason << 5) << 40
 *   UNBLOCK  goid readied | flow << 40 (the waker is the goroutine whose
 *            run is open on the lane, which the converter knows; a waker
 *            whose run it will not see open goes in a wide UNBLOCK)
 *   CREATE   goid | function slot << 40, the creator being the open run as
 *            for UNBLOCK: the slot is one of the thread's FNSLOTS
 *            functions, each defined by a wide FNDEF {slot, function}
 *            written before its first use (and again when another
 *            function takes the slot)
 *   LANE     the lane (as uint16) of the events after it, on this thread:
 *            written when a thread's lane changes and at the head of
 *            every buffer, so that an event needs no lane of its own
 * Everything else, and any event whose goid needs more than 40 bits, is
 * wide: the slot's w holds aux in bits 32-63 and a second slot holds
 * {goid, arg}.  A goroutine's first START in a trace that did not see it
 * created is wide too, with its function in arg; the converter learns
 * every goroutine's function from those and from CREATE in a first pass
 * over the spill file.  Half the bytes of the 32-byte events before:
 * ~25% of the traced ping-pong's cost was moving them. */
struct tslot {
    int64_t ts;
    uint64_t w;
};

#define W_TYPE(w) ((int)((w) & 31))
#define W_WIDE 32u
#define W_SHIFT 6
#define GOID_BITS 40
#define X_BITS 18
#define X_MASK ((1u << X_BITS) - 1)
#define FNSLOTS 64

/* An event as the converter sees it, decoded from its slots. */
struct tev {
    int64_t ts;
    int64_t goid;
    uint64_t arg;
    uint32_t aux;
    uint16_t type;
    int16_t lane;                   /* P id, or a LANE_* code below 0 */
};

struct tstate;
struct tbuf {
    struct tbuf *next;
    struct tstate *owner;
    uint32_t n;                     /* slots used */
    struct tslot ev[BUFSLOTS];
};

/* One per thread that recorded an event; never freed (a thread's state is
 * reused by the next trace).  cur, dropped: the thread's own (written by
 * it inside a hook, read by stop after busy cleared).  open*: the
 * writer's. */
struct tstate {
    _Atomic uint32_t busy;
    struct tbuf *cur;
    uint64_t dropped;
    struct tstate *next;            /* all states (trace.lock) */
    int64_t mid;                    /* M id, -1 for plain threads */
    int32_t reclane;                /* lane of the last LANE slot written */
    int64_t rungoid;                /* the run the converter will see open */
    uint64_t fnslot[FNSLOTS];       /* recorder: CREATE's functions */
    uint64_t fnconv[FNSLOTS];       /* converter: the same, as read back */
    int16_t lane;                   /* converter: the current lane */
    bool open;                      /* writer: a run is open */
    int16_t openlane;
    int64_t opengoid, opents;
    uint64_t openfn;
    uint32_t openflow;
};

_Atomic uint32_t gort__tracing;

static struct {
    gort__mutex lock;
    struct tbuf *free;              /* free buffers */
    struct tbuf *full, *fulltail;   /* for the writer, in order */
    struct tstate *all;
    _Atomic uint32_t wake;          /* futex: the writer's doorbell */
    _Atomic uint32_t nfree;
    _Atomic uint32_t written;       /* bumps per buffer written */
    bool writer_stop;
    pthread_t writer;
    int fd;                         /* the file; -1: none */
    int spillfd;                    /* the raw events, until the stop */
    bool spillerr;                  /* a spill failed: no more are tried */
    off_t spilloff;                 /* bytes of whole records spilled */
    int64_t ns0, tk0;               /* gort_nanotime and tclock at start */
    double scale;                   /* ns per tclock tick */
    size_t olen;                    /* bytes in obuf */
    int64_t t0;
    uint64_t dropped;               /* writer's total */
    uint64_t nevents;
    gort__mutex ctl;                /* start/stop */
    bool active;                    /* between start and stop (ctl) */
    bool atexit_done;
    bool first;                     /* no event written yet */
    /* Lanes named so far, and the entry function names met. */
    uint8_t named[4096];
} trace;

static __thread __attribute__((tls_model("initial-exec")))
struct tstate *mystate;

/* The buffers are allocated once and kept for later traces. */
static struct tbuf *pool;

/* The event clock: the CPU's counter where it is constant-rate and
 * readable from user space (a few ns against clock_gettime's ~20), scaled
 * to gort_nanotime at conversion from readings of both at start and stop. */
static inline int64_t tclock(void)
{
#if defined(__x86_64__)
    return (int64_t)__builtin_ia32_rdtsc();
#elif defined(__aarch64__)
    int64_t v;
    __asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
    return v;
#else
    return gort__nanotime();
#endif
}

/* ------------------------------------------------------------------------ */
/* Recording (any thread)                                                   */
/* ------------------------------------------------------------------------ */

static struct tbuf *getbuf(void)
{
    gort__lock(&trace.lock);
    struct tbuf *b = trace.free;
    if (b) {
        trace.free = b->next;
        atomic_fetch_sub(&trace.nfree, 1);
    }
    gort__unlock(&trace.lock);
    if (b) {
        b->next = NULL;
        b->n = 0;
    }
    return b;
}

static void putfull(struct tbuf *b)
{
    gort__lock(&trace.lock);
    b->next = NULL;
    if (trace.fulltail)
        trace.fulltail->next = b;
    else
        trace.full = b;
    trace.fulltail = b;
    gort__unlock(&trace.lock);
    atomic_store(&trace.wake, 1);
    gort__futexwakeup(&trace.wake, 1);
}

static struct tstate *newstate(void)
{
    struct tstate *ts = gort__calloc(1, sizeof *ts);
    if (!ts)
        return NULL;
    struct m *mp = gort__getm();
    ts->mid = mp ? mp->id : -1;
    gort__lock(&trace.lock);
    ts->next = trace.all;
    trace.all = ts;
    gort__unlock(&trace.lock);
    return ts;
}

#define NOLANE INT32_MIN

/* Makes room on st's buffer for need slots, after a LANE slot where the
 * thread's lane changed or the buffer is fresh (a fresh buffer also gets
 * the count of events dropped before it).  NULL: no buffer was free
 * within WAIT_NS; the caller's event is dropped and counted. */
static struct tbuf *reserve_slow(struct tstate *st, int lane, uint32_t need,
                                 int64_t now)
{
    struct tbuf *b = st->cur;
    uint32_t lanes = lane != st->reclane;
    if (!b || b->n + lanes + need > BUFSLOTS) {
        if (b) {
            st->cur = NULL;
            putfull(b);
        }
        b = getbuf();
        if (!b) {
            /* The writer fell behind: wait a little, then drop. */
            int64_t until = gort__nanotime() + WAIT_NS;
            while (!b && gort__nanotime() < until &&
                   atomic_load(&gort__tracing)) {
                gort__osyield();
                b = getbuf();
            }
            if (!b)
                return NULL;
        }
        b->owner = st;
        st->cur = b;
        st->reclane = NOLANE;
    }
    if (lane != st->reclane) {
        b->ev[b->n++] = (struct tslot){
            now, TEV_LANE | (uint64_t)(uint16_t)lane << W_SHIFT};
        st->reclane = lane;
    }
    if (st->dropped) {
        b->ev[b->n++] = (struct tslot){now, TEV_DROPPED | W_WIDE};
        b->ev[b->n++] = (struct tslot){0, st->dropped};
        st->dropped = 0;
    }
    return b;
}

/* Room for need (<= 2) slots on lane: the buffer, or NULL (dropped). */
static inline struct tbuf *reserve(struct tstate *st, int lane, uint32_t need,
                                   int64_t now)
{
    struct tbuf *b = st->cur;
    if (likely(b && lane == st->reclane && b->n + need <= BUFSLOTS)) {
        /* Ask for the line half a kilobyte ahead for writing: a buffer
         * fresh from the pool was last read by the writer's CPU (its
         * copy to the spill file); measured ~10% of a traced ping-pong
         * without the hint. */
        __builtin_prefetch((const void *)((uintptr_t)&b->ev[b->n] + 512), 1, 3);
        return b;
    }
    b = reserve_slow(st, lane, need + 2, now);   /* + a DROPPED's two */
    if (!b)
        st->dropped++;
    return b;
}

static bool put_wide(struct tstate *st, int type, int lane, int64_t goid,
                     uint64_t arg, uint32_t aux, int64_t now)
{
    struct tbuf *b = reserve(st, lane, 2, now);
    if (!b)
        return false;
    b->ev[b->n] = (struct tslot){now, (uint64_t)type | W_WIDE |
                                          (uint64_t)aux << 32};
    b->ev[b->n + 1] = (struct tslot){goid, arg};
    b->n += 2;
    return true;
}

/* A narrow event (START, STOP, UNBLOCK: x is its 18-bit field), wide when
 * the goroutine id needs more than 40 bits. */
static inline bool put_narrow(struct tstate *st, int type, int lane,
                              int64_t goid, uint32_t x, uint64_t widearg,
                              int64_t now)
{
    if (unlikely((uint64_t)goid >> GOID_BITS))
        return put_wide(st, type, lane, goid, widearg, x, now);
    struct tbuf *b = reserve(st, lane, 1, now);
    if (!b)
        return false;
    b->ev[b->n++] = (struct tslot){
        now, (uint64_t)type | (uint64_t)goid << W_SHIFT |
                 (uint64_t)x << (W_SHIFT + GOID_BITS)};
    return true;
}

/* The trace a goroutine's function was last recorded in (g.tracegen):
 * its first START in a trace carries the function unless its CREATE did. */
static _Atomic uint32_t tracegen;

/* STOP's field: act (5 bits) and wait reason (13).  why is the hooks'
 * act | reason << 8. */
static inline uint32_t stopx(uint64_t why)
{
    return (uint32_t)(why & 31) | (uint32_t)((why >> 8) << 5);
}

static inline void put_start(struct tstate *st, int lane, struct g *gp,
                             int64_t now)
{
    uint32_t flow = gp->traceflow & X_MASK;
    gp->traceflow = 0;
    uint32_t gen = atomic_load_explicit(&tracegen, memory_order_relaxed);
    if (unlikely(gp->traceflowgen != gen))
        flow = 0;   /* readied in an older trace: its "s" is not in this one */
    if (likely(gp->tracegen == gen)) {
        if (put_narrow(st, TEV_START, lane, gp->goid, flow,
                       (uint64_t)(uintptr_t)gp->fn, now))
            st->rungoid = gp->goid;
    } else if (put_wide(st, TEV_START, lane, gp->goid,
                        (uint64_t)(uintptr_t)gp->fn, flow, now)) {
        gp->tracegen = gen;
        st->rungoid = gp->goid;
    }
}

static __thread __attribute__((tls_model("initial-exec"))) bool is_sysmon;

void gort__trace_sysmon_thread(void)
{
    is_sysmon = true;
}

/* The lane of a thread (mp: its M, or NULL): its P, else its M's no-P
 * lane. */
static inline int lane_of(struct m *mp)
{
    if (!mp)
        return is_sysmon ? -LANE_SYSMON : -LANE_THREAD;
    if (mp->p)
        return mp->p->id;
    return -(LANE_NOP + (int)(mp->id & 511));
}

static int curlane(void)
{
    return lane_of(gort__getm());
}

/* The goroutine mp runs (0: none, or not an M): a wake-up's waker, a
 * create's creator. */
static inline int64_t curgoid_of(struct m *mp)
{
    return mp && mp->curg ? mp->curg->goid : 0;
}

/* Every hook: announce, then look at the flag again.  Plain (relaxed)
 * accesses: stop orders them with a membarrier(2), which makes every
 * thread pass a full barrier, so this side needs no fence (a seq_cst
 * store, an xchg on x86, at every event otherwise).  NULL: not tracing. */
static inline struct tstate *hook_enter(void)
{
    struct tstate *st = mystate;
    if (unlikely(!st)) {
        st = mystate = newstate();
        if (!st)
            return NULL;
    }
    atomic_store_explicit(&st->busy, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
    /* Acquire: gort_trace_start resets every thread's state before it
     * stores 1 (TSan saw sysmon read them without this edge). */
    if (unlikely(!atomic_load_explicit(&gort__tracing, memory_order_acquire))) {
        atomic_store_explicit(&st->busy, 0, memory_order_release);
        return NULL;
    }
    return st;
}

static inline void hook_leave(struct tstate *st)
{
    atomic_store_explicit(&st->busy, 0, memory_order_release);
}

/* The rare events, all wide. */
void gort__trace_ev(int type, int lane, int64_t goid, uint64_t arg,
                    uint32_t aux)
{
    struct tstate *st = hook_enter();
    if (!st)
        return;
    if (lane == GORT__TRACE_CURLANE)
        lane = curlane();
    if (put_wide(st, type, lane, goid, arg, aux, tclock()) &&
        type == TEV_SYSCALL_ENTER && goid == st->rungoid)
        st->rungoid = 0;        /* the converter closes the run here */
    hook_leave(st);
}

void gort__trace_create(struct g *gp)
{
    struct tstate *st = hook_enter();
    if (!st)
        return;
    struct m *mp = gort__getm();
    int64_t by = curgoid_of(mp);
    int lane = lane_of(mp);
    int64_t now = tclock();
    uint64_t fn = (uint64_t)(uintptr_t)gp->fn;
    uint32_t slot = (uint32_t)((fn >> 4) * 0x9e3779b97f4a7c15ULL >> 58);
    bool ok, narrow = by == st->rungoid && !((uint64_t)gp->goid >> GOID_BITS);
    if (likely(narrow && st->fnslot[slot] == fn)) {
        ok = put_narrow(st, TEV_CREATE, lane, gp->goid, slot, fn, now);
    } else if (narrow && put_wide(st, TEV_FNDEF, lane, slot, fn, 0, now)) {
        st->fnslot[slot] = fn;
        ok = put_narrow(st, TEV_CREATE, lane, gp->goid, slot, fn, now);
    } else {
        ok = put_wide(st, TEV_CREATE, lane, gp->goid, fn, (uint32_t)by, now);
    }
    if (ok)
        gp->tracegen = atomic_load_explicit(&tracegen, memory_order_relaxed);
    hook_leave(st);
}

void gort__trace_switch(int lane, struct g *gp, uint64_t why, struct g *next)
{
    struct tstate *st = hook_enter();
    if (!st)
        return;
    if (lane == GORT__TRACE_CURLANE)
        lane = curlane();
    /* A clock read costs ~30 ns on some VMs: one for both events. */
    int64_t now = tclock();
    uint32_t x = stopx(why);
    if (likely(x <= X_MASK))
        put_narrow(st, TEV_STOP, lane, gp->goid, x, why, now);
    else
        put_wide(st, TEV_STOP, lane, gp->goid, why, 0, now);
    if (gp->goid == st->rungoid)
        st->rungoid = 0;
    if (next)
        put_start(st, lane, next, now);
    hook_leave(st);
}

/* goready's hook (the hottest after the switch): one look at the M.  The
 * waker is named by the run open on the lane (see struct tslot) when the
 * converter will see that run open (st->rungoid), else in a wide event. */
void gort__trace_ready(struct g *gp)
{
    struct tstate *st = hook_enter();
    if (!st)
        return;
    uint32_t flow = ++gp->traceflowseq;
    if (unlikely((flow & X_MASK) == 0))
        flow = ++gp->traceflowseq;      /* 0 means "no flow" */
    gp->traceflow = flow;
    gp->traceflowgen = atomic_load_explicit(&tracegen, memory_order_relaxed);
    struct m *mp = gort__getm();
    int64_t waker = curgoid_of(mp);
    int lane = lane_of(mp);
    if (likely(waker == st->rungoid))
        put_narrow(st, TEV_UNBLOCK, lane, gp->goid, flow & X_MASK,
                   (uint64_t)waker, tclock());
    else    /* a waker whose run began before the trace, or none */
        put_wide(st, TEV_UNBLOCK, lane, gp->goid, (uint64_t)waker,
                 flow & X_MASK, tclock());
    hook_leave(st);
}

void gort__trace_start_g(struct p *pp, struct g *gp)
{
    struct tstate *st = hook_enter();
    if (!st)
        return;
    put_start(st, pp->id, gp, tclock());
    hook_leave(st);
}

/* ------------------------------------------------------------------------ */
/* The writer                                                               */
/* ------------------------------------------------------------------------ */

/* Appends a time in microseconds with three decimals (ns precision). */
static char *putts(char *s, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    return s + sprintf(s, "%lld.%03d", (long long)(ns / 1000),
                       (int)(ns % 1000));
}

static char *putu(char *s, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *s++ = tmp[--n];
    return s;
}

static char *puttid(char *s, int lane)
{
    s = memcpy(s, ",\"tid\":", 7), s += 7;
    return putu(s, lane >= 0 ? (uint64_t)lane : (uint64_t)-lane);
}

/* Function names by entry address: a small open-addressed cache. */
#define FNCACHE 1024
static struct {
    uint64_t fn;
    char name[96];
} fncache[FNCACHE];

static const char *fnname(uint64_t fn)
{
    if (!fn)
        return "?";
    size_t h = (size_t)((fn >> 4) * 0x9e3779b97f4a7c15ULL) % FNCACHE;
    for (int i = 0; i < 8; i++, h = (h + 1) % FNCACHE) {
        if (fncache[h].fn == fn)
            return fncache[h].name;
        if (fncache[h].fn == 0) {
            gort__sym sym;
            gort__symbolize((uintptr_t)fn, &sym);
            fncache[h].fn = fn;
            if (sym.fn[0]) {
                size_t l = strnlen(sym.fn, sizeof fncache[h].name - 1);
                memcpy(fncache[h].name, sym.fn, l);
                fncache[h].name[l] = '\0';
            } else
                snprintf(fncache[h].name, sizeof fncache[h].name, "%#llx",
                         (unsigned long long)fn);
            /* Keep the JSON string clean. */
            for (char *c = fncache[h].name; *c; c++)
                if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
                    *c = '_';
            return fncache[h].name;
        }
    }
    return "?";
}

/* The writer's output buffer (its own, not stdio's: a forked child's
 * exit must not flush a copy of it into the parent's file). */
static char obuf[1 << 16];

static bool oflush(void)
{
    bool ok = true;
    size_t off = 0;
    while (off < trace.olen) {
        ssize_t w = write(trace.fd, obuf + off, trace.olen - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ok = false;
            break;
        }
        off += (size_t)w;
    }
    trace.olen = 0;
    return ok;
}

static void oput(const char *s, size_t n)
{
    if (trace.olen + n > sizeof obuf)
        oflush();
    if (n > sizeof obuf)
        return;
    memcpy(obuf + trace.olen, s, n);
    trace.olen += n;
}

static void out(const char *s, size_t n)
{
    if (!trace.first)
        oput(",\n", 2);
    trace.first = false;
    oput(s, n);
}

static void name_lane(int lane, int64_t mid)
{
    unsigned t = (unsigned)(lane >= 0 ? lane : -lane);
    if (t < sizeof trace.named && trace.named[t])
        return;
    if (t < sizeof trace.named)
        trace.named[t] = 1;
    char name[48], buf[160];
    if (lane >= 0)
        snprintf(name, sizeof name, "P%d", lane);
    else if (t == LANE_SYSMON)
        snprintf(name, sizeof name, "sysmon");
    else if (t == LANE_THREAD)
        snprintf(name, sizeof name, "threads (no M)");
    else
        snprintf(name, sizeof name, "M%lld (no P)",
                 (long long)(mid >= 0 ? mid : (int64_t)(t - LANE_NOP)));
    int n = snprintf(buf, sizeof buf,
                     "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,"
                     "\"tid\":%u,\"args\":{\"name\":\"%s\"}}", t, name);
    out(buf, (size_t)n);
    /* Ps first, then sysmon and the rest. */
    n = snprintf(buf, sizeof buf,
                 "{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,"
                 "\"tid\":%u,\"args\":{\"sort_index\":%u}}", t, t);
    out(buf, (size_t)n);
}

static const char *stopreason(uint64_t arg, char *tmp, size_t n)
{
    int act = (int)(arg & 0xff), wr = (int)(arg >> 8);
    switch (act) {
    case ACT_PARK:
        snprintf(tmp, n, "block: %s", gort__waitreason_string(wr));
        break;
    case ACT_YIELD:
        snprintf(tmp, n, "yield");
        break;
    case ACT_YIELD_GLOBAL:
        snprintf(tmp, n, wr == waitReasonPreempted ? "preempted" : "yield");
        break;
    case ACT_EXIT:
        snprintf(tmp, n, "end");
        break;
    case GORT__TRACE_STOP_SYSCALL:
        snprintf(tmp, n, "syscall");
        break;
    default:
        snprintf(tmp, n, "stop");
        break;
    }
    return tmp;
}

static void close_run(struct tstate *st, int64_t end, const char *why)
{
    char buf[512], *s = buf;
    name_lane(st->openlane, st->mid);
    s += sprintf(s, "{\"name\":\"G%lld %s\",\"cat\":\"run\",\"ph\":\"X\","
                    "\"pid\":1", (long long)st->opengoid, fnname(st->openfn));
    s = puttid(s, st->openlane);
    s = memcpy(s, ",\"ts\":", 6), s += 6;
    s = putts(s, st->opents - trace.t0);
    s = memcpy(s, ",\"dur\":", 7), s += 7;
    s = putts(s, end - st->opents);
    s += sprintf(s, ",\"args\":{\"goid\":%lld,\"stop\":\"%s\"}}",
                 (long long)st->opengoid, why);
    out(buf, (size_t)(s - buf));
    if (st->openflow) {
        s = buf;
        s += sprintf(s, "{\"name\":\"unblock\",\"cat\":\"flow\",\"ph\":\"f\","
                        "\"bp\":\"e\",\"id\":%llu,\"pid\":1",
                     (unsigned long long)st->opengoid * 1048576ULL +
                         (st->openflow & 1048575));
        s = puttid(s, st->openlane);
        s = memcpy(s, ",\"ts\":", 6), s += 6;
        s = putts(s, st->opents - trace.t0);
        *s++ = '}';
        out(buf, (size_t)(s - buf));
    }
    st->open = false;
}

/* An instant event with args (a JSON fragment, may be empty). */
static void instant(const struct tev *e, int lane, const char *name,
                    const char *args)
{
    char buf[512], *s = buf;
    s += sprintf(s, "{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"i\",\"s\":\"t\","
                    "\"pid\":1", name, name);
    s = puttid(s, lane);
    s = memcpy(s, ",\"ts\":", 6), s += 6;
    s = putts(s, e->ts - trace.t0);
    s += sprintf(s, ",\"args\":{%s}}", args);
    out(buf, (size_t)(s - buf));
}

static void write_event(struct tstate *st, const struct tev *e)
{
    int lane = e->lane;
    char args[256], tmp[96];
    name_lane(lane, st->mid);
    trace.nevents++;
    switch (e->type) {
    case TEV_START:
        if (st->open)
            close_run(st, e->ts, "?");
        st->open = true;
        st->openlane = (int16_t)lane;
        st->opengoid = e->goid;
        st->opents = e->ts;
        st->openfn = e->arg;
        st->openflow = e->aux;
        return;
    case TEV_LANE:
    case TEV_FNDEF:
        return;
    case TEV_STOP:
        if (st->open && st->opengoid == e->goid)
            close_run(st, e->ts, stopreason(e->arg, tmp, sizeof tmp));
        if ((e->arg & 0xff) == ACT_PARK) {
            snprintf(args, sizeof args, "\"goid\":%lld,\"reason\":\"%s\"",
                     (long long)e->goid,
                     gort__waitreason_string((int)(e->arg >> 8)));
            instant(e, lane, "block", args);
        } else if ((e->arg & 0xff) == ACT_EXIT) {
            snprintf(args, sizeof args, "\"goid\":%lld", (long long)e->goid);
            instant(e, lane, "end", args);
        }
        return;
    case TEV_SYSCALL_ENTER:
        if (st->open && st->opengoid == e->goid)
            close_run(st, e->ts, "syscall");
        snprintf(args, sizeof args, "\"goid\":%lld", (long long)e->goid);
        break;
    case TEV_CREATE:
        snprintf(args, sizeof args, "\"goid\":%lld,\"fn\":\"%s\",\"by\":%u",
                 (long long)e->goid, fnname(e->arg), e->aux);
        break;
    case TEV_UNBLOCK: {
        snprintf(args, sizeof args, "\"goid\":%lld,\"by\":%lld",
                 (long long)e->goid, (long long)e->arg);
        instant(e, lane, "unblock", args);
        char buf[256], *s = buf;
        s += sprintf(s, "{\"name\":\"unblock\",\"cat\":\"flow\",\"ph\":\"s\","
                        "\"id\":%llu,\"pid\":1",
                     (unsigned long long)e->goid * 1048576ULL +
                         (e->aux & 1048575));
        s = puttid(s, lane);
        s = memcpy(s, ",\"ts\":", 6), s += 6;
        s = putts(s, e->ts - trace.t0);
        *s++ = '}';
        out(buf, (size_t)(s - buf));
        return;
    }
    case TEV_SYSCALL_EXIT:
        snprintf(args, sizeof args, "\"goid\":%lld,\"p\":%lld",
                 (long long)e->goid, (long long)(int64_t)e->arg);
        break;
    case TEV_PREEMPT:
        snprintf(args, sizeof args, "\"goid\":%lld,\"kind\":\"%s\"",
                 (long long)e->goid, e->arg ? "async" : "cooperative");
        break;
    case TEV_PREEMPT_REQ:
    case TEV_RETAKE:
        snprintf(args, sizeof args, "\"p\":%llu", (unsigned long long)e->arg);
        break;
    case TEV_TIMERS:
    case TEV_NETPOLL:
        snprintf(args, sizeof args, "\"n\":%llu", (unsigned long long)e->arg);
        break;
    case TEV_DROPPED:
        trace.dropped += e->arg;
        snprintf(args, sizeof args, "\"events\":%llu",
                 (unsigned long long)e->arg);
        break;
    default:
        snprintf(args, sizeof args, "\"goid\":%lld", (long long)e->goid);
        break;
    }
    instant(e, lane, e->type < sizeof evnames / sizeof evnames[0]
                         ? evnames[e->type] : "?", args);
}

static int64_t tick2ns(int64_t tk)
{
    return (int64_t)((double)(tk - trace.tk0) * trace.scale);
}

/* Goroutine functions by goid, from CREATE and wide START (the first
 * pass of convert): open addressing, grown at half full.  Out of memory,
 * names are "?". */
static struct {
    struct fnent { int64_t goid; uint64_t fn; } *v;
    size_t cap, n;
} fnmap;

static size_t fnslot(int64_t goid, size_t cap)
{
    return (size_t)((uint64_t)goid * 0x9e3779b97f4a7c15ULL >> 20) & (cap - 1);
}

static void fnmap_put(int64_t goid, uint64_t fn)
{
    if (!fn || goid <= 0)
        return;
    if (2 * (fnmap.n + 1) > fnmap.cap) {
        size_t ncap = fnmap.cap ? 2 * fnmap.cap : 4096;
        struct fnent *nv = gort__calloc(ncap, sizeof *nv);
        if (!nv)
            return;
        for (size_t i = 0; i < fnmap.cap; i++) {
            if (!fnmap.v[i].goid)
                continue;
            size_t h = fnslot(fnmap.v[i].goid, ncap);
            while (nv[h].goid)
                h = (h + 1) & (ncap - 1);
            nv[h] = fnmap.v[i];
        }
        gort__free(fnmap.v);
        fnmap.v = nv;
        fnmap.cap = ncap;
    }
    size_t h = fnslot(goid, fnmap.cap);
    while (fnmap.v[h].goid && fnmap.v[h].goid != goid)
        h = (h + 1) & (fnmap.cap - 1);
    if (!fnmap.v[h].goid)
        fnmap.n++;
    fnmap.v[h] = (struct fnent){goid, fn};
}

static uint64_t fnmap_get(int64_t goid)
{
    if (!fnmap.cap)
        return 0;
    size_t h = fnslot(goid, fnmap.cap);
    while (fnmap.v[h].goid) {
        if (fnmap.v[h].goid == goid)
            return fnmap.v[h].fn;
        h = (h + 1) & (fnmap.cap - 1);
    }
    return 0;
}

/* Decodes the slots of b.  learn: the first pass (functions only);
 * else the events are written. */
static void decode_buf(struct tbuf *b, bool learn)
{
    struct tstate *st = b->owner;
    for (uint32_t i = 0; i < b->n;) {
        const struct tslot *sl = &b->ev[i];
        int type = W_TYPE(sl->w);
        struct tev e = {.type = (uint16_t)type};
        if (sl->w & W_WIDE) {
            if (i + 1 >= b->n)
                break;          /* cut short: cannot happen */
            e.aux = (uint32_t)(sl->w >> 32);
            e.goid = b->ev[i + 1].ts;
            e.arg = b->ev[i + 1].w;
            i += 2;
        } else {
            uint64_t pl = sl->w >> W_SHIFT;
            e.goid = (int64_t)(pl & ((1ULL << GOID_BITS) - 1));
            uint32_t x = (uint32_t)(pl >> GOID_BITS);
            i += 1;
            switch (type) {
            case TEV_LANE:
                st->lane = (int16_t)(uint16_t)pl;
                continue;
            case TEV_STOP:
                e.arg = (x & 31) | (uint64_t)(x >> 5) << 8;
                break;
            case TEV_UNBLOCK:
                e.arg = UINT64_MAX;     /* the waker: the open run */
                e.aux = x;
                break;
            case TEV_CREATE:
                e.arg = st->fnconv[x % FNSLOTS];
                e.aux = UINT32_MAX;     /* the creator: the open run */
                break;
            default:                    /* TEV_START */
                e.aux = x;
                break;
            }
        }
        if (type == TEV_FNDEF) {
            st->fnconv[(uint64_t)e.goid % FNSLOTS] = e.arg;
            continue;
        }
        if (learn) {
            if (type == TEV_CREATE || type == TEV_START)
                fnmap_put(e.goid, e.arg);
            continue;
        }
        e.ts = tick2ns(sl->ts);
        e.lane = st->lane;
        if (type == TEV_START)
            e.arg = fnmap_get(e.goid);
        else if (type == TEV_UNBLOCK && e.arg == UINT64_MAX)
            e.arg = st->open ? (uint64_t)st->opengoid : 0;
        else if (type == TEV_CREATE && e.aux == UINT32_MAX)
            e.aux = st->open ? (uint32_t)st->opengoid : 0;
        write_event(st, &e);
    }
}

static void freebuf(struct tbuf *b)
{
    gort__lock(&trace.lock);
    b->next = trace.free;
    trace.free = b;
    atomic_fetch_add(&trace.nfree, 1);
    gort__unlock(&trace.lock);
}

/* The writer only copies full buffers, as they are, to the spill file
 * (an unlinked file beside the trace): formatting JSON live cost 15x on
 * a switch-heavy program on 2 CPUs, the writer competing with the Ps.
 * The JSON is made at the stop, from the spill file. */
struct spillhdr {
    struct tstate *owner;
    uint64_t n;
};

/* Writes bufs[0..n) (n <= SPILL_BATCH) with one writev: header and
 * events of each.  A short write (disk full) loses those buffers' events,
 * counted; convert() reads only whole records. */
#define SPILL_BATCH 16
static void spill(struct tbuf **bufs, int n)
{
    struct spillhdr h[SPILL_BATCH];
    struct iovec iov[2 * SPILL_BATCH];
    size_t want = 0;
    uint64_t nev = 0;
    for (int i = 0; i < n; i++) {
        h[i] = (struct spillhdr){bufs[i]->owner, bufs[i]->n};
        iov[2 * i] = (struct iovec){&h[i], sizeof h[i]};
        iov[2 * i + 1] = (struct iovec){bufs[i]->ev,
                                        sizeof bufs[i]->ev[0] * bufs[i]->n};
        want += sizeof h[i] + iov[2 * i + 1].iov_len;
        nev += bufs[i]->n;
    }
    if (trace.spillerr)
        goto lost;
    ssize_t w = writev(trace.spillfd, iov, 2 * n);
    if (w == (ssize_t)want) {
        trace.spilloff += (off_t)want;
        return;
    }
    /* Disk full (or any error): cut the part that was written, so that
     * the file holds whole records only, and write no more. */
    if (ftruncate(trace.spillfd, trace.spilloff) == 0)
        lseek(trace.spillfd, trace.spilloff, SEEK_SET);
    trace.spillerr = true;
lost:
    trace.dropped += nev;
}


/* Turns the spill file into the JSON (the stopping thread): one pass
 * for the goroutines' functions, one for the events. */
static void convert(void)
{
    struct tbuf *b = &pool[0];
    for (int pass = 0; pass < 2; pass++) {
        if (lseek(trace.spillfd, 0, SEEK_SET) != 0)
            return;
        for (struct tstate *st = trace.all; st; st = st->next) {
            st->lane = 0;
            memset(st->fnconv, 0, sizeof st->fnconv);
        }
        for (;;) {
            struct spillhdr h;
            if (read(trace.spillfd, &h, sizeof h) != (ssize_t)sizeof h ||
                h.n > BUFSLOTS)
                break;
            size_t len = sizeof b->ev[0] * h.n;
            if (read(trace.spillfd, b->ev, len) != (ssize_t)len)
                break;
            b->owner = h.owner;
            b->n = (uint32_t)h.n;
            decode_buf(b, pass == 0);
        }
    }
    gort__free(fnmap.v);
    fnmap.v = NULL;
    fnmap.cap = fnmap.n = 0;
}

/* Writes out every full buffer; false when there were none. */
static bool drain(void)
{
    gort__lock(&trace.lock);
    struct tbuf *list = trace.full;
    trace.full = trace.fulltail = NULL;
    gort__unlock(&trace.lock);
    if (!list)
        return false;
    while (list) {
        struct tbuf *batch[SPILL_BATCH];
        int n = 0;
        for (; list && n < SPILL_BATCH; list = list->next)
            batch[n++] = list;
        spill(batch, n);
        for (int i = 0; i < n; i++) {
            freebuf(batch[i]);
            atomic_fetch_add(&trace.written, 1);
        }
    }
    return true;
}

static void *writer(void *unused)
{
    (void)unused;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    for (;;) {
        atomic_store(&trace.wake, 0);
        bool any = drain();
        gort__lock(&trace.lock);
        bool stop = trace.writer_stop && !trace.full;
        gort__unlock(&trace.lock);
        if (stop)
            return NULL;
        if (!any)
            gort__futexsleep(&trace.wake, 0, 100 * GORT_MS);
    }
}

/* ------------------------------------------------------------------------ */
/* Start and stop                                                           */
/* ------------------------------------------------------------------------ */


int gort_trace_start(const char *path)
{
    if (!path || !*path) {
        errno = EINVAL;
        return -1;
    }
    gort__lock(&trace.ctl);
    if (trace.active) {
        gort__unlock(&trace.ctl);
        errno = EBUSY;
        return -1;
    }
    if (!pool && !(pool = gort__calloc(NBUF, sizeof *pool))) {
        gort__unlock(&trace.ctl);
        errno = ENOMEM;
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        gort__unlock(&trace.ctl);
        return -1;
    }
    char spath[4096];
    snprintf(spath, sizeof spath, "%s.spill", path);
    int sfd = open(spath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (sfd < 0) {
        int e = errno;
        close(fd);
        gort__unlock(&trace.ctl);
        errno = e;
        return -1;
    }
    unlink(spath);
    trace.spillfd = sfd;
    trace.spillerr = false;
    trace.spilloff = 0;
    trace.fd = fd;
    trace.olen = 0;
    trace.free = trace.full = trace.fulltail = NULL;
    for (int i = 0; i < NBUF; i++) {
        pool[i].next = trace.free;
        trace.free = &pool[i];
    }
    atomic_store(&trace.nfree, NBUF);
    for (struct tstate *st = trace.all; st; st = st->next) {
        st->cur = NULL;
        st->dropped = 0;
        st->rungoid = 0;
        memset(st->fnslot, 0, sizeof st->fnslot);
        st->open = false;
    }
    memset(trace.named, 0, sizeof trace.named);
    trace.dropped = trace.nevents = 0;
    trace.writer_stop = false;
    trace.first = true;
    trace.t0 = 0;       /* event times are made relative at conversion */
    trace.ns0 = gort__nanotime();
    trace.tk0 = tclock();
    static const char head[] = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
    oput(head, sizeof head - 1);
    static const char proc[] = "{\"name\":\"process_name\",\"ph\":\"M\","
                               "\"pid\":1,\"args\":{\"name\":\"gort\"}}";
    out(proc, sizeof proc - 1);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = gort__pthread_create(&trace.writer, NULL, writer, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(fd);
        close(sfd);
        trace.fd = -1;
        gort__unlock(&trace.ctl);
        errno = rc;
        return -1;
    }
    trace.active = true;
    /* Goroutines seen in earlier traces are news to this one. */
    atomic_fetch_add(&tracegen, 1);
    atomic_store(&gort__tracing, 1);
    gort__unlock(&trace.ctl);
    return 0;
}

/* Stops recording and hands every thread's current buffer to the writer.
 * bounded: a fatal error (a thread may never leave a hook). */
static void stop_recording(bool bounded)
{
    atomic_store(&gort__tracing, 0);
    /* Every thread's busy store before this point is now visible, and
     * every hook entered after it sees tracing off.  Without membarrier
     * (old kernels, qemu-user), a pause: store buffers drain in far less. */
    if (syscall(SYS_membarrier, 1 /* MEMBARRIER_CMD_GLOBAL */, 0, 0) != 0)
        gort__usleep(20000);
    gort__lock(&trace.lock);
    struct tstate *all = trace.all;
    gort__unlock(&trace.lock);
    for (struct tstate *st = all; st; st = st->next) {
        for (int i = 0; atomic_load(&st->busy); i++) {
            if (bounded && i > 100000)
                break;
            gort__osyield();
        }
        if (st->cur) {
            struct tbuf *b = st->cur;
            st->cur = NULL;
            if (b->n)
                putfull(b);
            else
                freebuf(b);
        }
        if (st->dropped) {
            trace.dropped += st->dropped;
            st->dropped = 0;
        }
    }
}

static int stop(bool bounded)
{
    gort__lock(&trace.ctl);
    if (!trace.active) {
        gort__unlock(&trace.ctl);
        return -1;
    }
    stop_recording(bounded);
    gort__lock(&trace.lock);
    trace.writer_stop = true;
    gort__unlock(&trace.lock);
    atomic_store(&trace.wake, 1);
    gort__futexwakeup(&trace.wake, 1);
    pthread_join(trace.writer, NULL);
    int64_t tk1 = tclock(), ns1 = gort__nanotime();
    trace.scale = tk1 > trace.tk0 && ns1 > trace.ns0
                      ? (double)(ns1 - trace.ns0) / (double)(tk1 - trace.tk0)
                      : 1.0;
    convert();
    close(trace.spillfd);
    int64_t end = tick2ns(tk1);
    for (struct tstate *st = trace.all; st; st = st->next)
        if (st->open)
            close_run(st, end, "running");
    char buf[256];
    int n = snprintf(buf, sizeof buf,
                     "\n],\"otherData\":{\"generator\":\"gort\","
                     "\"events\":%llu,\"dropped\":%llu}}\n",
                     (unsigned long long)trace.nevents,
                     (unsigned long long)trace.dropped);
    oput(buf, (size_t)n);
    bool ok = oflush();
    int rc = close(trace.fd);
    trace.fd = -1;
    if (!ok)
        rc = -1;
    trace.active = false;
    gort__unlock(&trace.ctl);
    return rc == 0 ? 0 : -1;
}

int gort_trace_stop(void)
{
    return stop(false);
}

void gort__trace_fatal(void)
{
    if (atomic_load(&gort__tracing))
        stop(true);
}

static void trace_atexit(void)
{
    stop(false);
}

void gort__trace_init(void)
{
    if (!gort__debug.tracefile)
        return;
    if (gort_trace_start(gort__debug.tracefile) != 0) {
        fprintf(stderr, "gort: GORTTRACE=%s: %s\n", gort__debug.tracefile,
                strerror(errno));
        return;
    }
    if (!trace.atexit_done) {
        trace.atexit_done = true;
        atexit(trace_atexit);
    }
}

/* gort_run's end: the full buffers are written out (the threads' current
 * ones stay until the stop). */
void gort__trace_flush(void)
{
    if (!atomic_load(&gort__tracing))
        return;
    atomic_store(&trace.wake, 1);
    gort__futexwakeup(&trace.wake, 1);
    for (int i = 0; i < 1000; i++) {
        gort__lock(&trace.lock);
        bool empty = trace.full == NULL;
        gort__unlock(&trace.lock);
        if (empty)
            break;
        gort__usleep(1000);
    }
}

/* A forked child: no writer thread there; it does not trace. */
void gort__trace_forked(void)
{
    atomic_store(&gort__tracing, 0);
    if (trace.active) {
        close(trace.fd);
        close(trace.spillfd);
    }
    trace.fd = -1;
    trace.olen = 0;
    trace.active = false;
    mystate = NULL;
    trace.all = NULL;
    trace.lock.key = 0;
    trace.ctl.key = 0;
}
