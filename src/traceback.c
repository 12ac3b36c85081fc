/*
 * traceback.c — goroutine dumps: gort_dump_goroutines(fd), the SIGQUIT
 * dump, and the goroutine list of fatal errors, in Go's form
 * (src/runtime/traceback.go):
 *
 *     goroutine 7 [chan receive, 2 minutes]:
 *     gort_chan_recv(...)
 *             /src/gort/src/chan.c:412 +0x8b
 *     consumer(...)
 *             /src/app/main.c:31 +0x2f
 *     created by main_goroutine
 *             /src/app/main.c:52 +0x4c
 *
 * Unwinding.  A goroutine that is not running has a saved context: its sp
 * points at the registers gort__swapctx pushed (switch.S), among them the
 * frame pointer and the return address into the switch's caller.  From
 * there the dump walks the frame-pointer chain (gort is built with frame
 * pointers; [fp] is the caller's fp, [fp + 8] the return address, on
 * x86_64 and aarch64 alike), each fp checked to lie in the goroutine's
 * stack and to grow upward, until the return address into gort__gostart
 * (the goroutine entry, which zeroes the frame pointer; the entry's own
 * frame, gort__goentry, is dropped too).  Program code built without frame
 * pointers still gets its innermost frame right (the caller of the gort
 * call, found from gort's own frame), but the chain above it may end early
 * or skip frames: build with -fno-omit-frame-pointer for whole stacks.
 * A goroutine in a system call is unwound from where gort_syscall_enter
 * was called (its return address and the caller's frame pointer, saved
 * there); one stopped by asynchronous preemption continues through the
 * signal frame it was interrupted with (g.sigframe) into the interrupted
 * code.  A goroutine running on another thread is asked for its stack:
 * the dumper sends its M a SIGURG with PREEMPT_DUMP (preempt.c), whose
 * handler walks the frame-pointer chain from the interrupted context,
 * within the goroutine's stack bounds (memory reads and a copy into the
 * M: nothing that could block or allocate), into the M's buffer; Go
 * prints "goroutine running on other thread; stack unavailable" there,
 * which gort prints for an M that does not answer within 100 ms.
 *
 * Which frames.  Go hides runtime frames (GOTRACEBACK=all).  gort hides
 * the innermost run of its own frames (the switch, gopark, the channel
 * internals) except the outermost of them, the gort_ call the program
 * made (gort_chan_recv above), and gort frames past the program's last
 * (the entry of goroutine 1).  gort's code is told by address: the build
 * puts all of it in one section, gort_text (Makefile).
 *
 * Racing goroutines.  gort_dump_goroutines does not stop the world: a
 * goroutine may resume while its stack is read.  The reads stay within
 * the stack's bounds, and are made under gort__probe_jmp, so that a stack
 * unmapped meanwhile (a custom-sized stack of a goroutine that ended)
 * faults back into the dumper (signal.c) instead of killing the process;
 * status and sp are read again after the walk and the walk is retried if
 * they moved.
 *
 * SIGQUIT and async-signal safety.  Go prints the dump from the signal
 * handler: its symbol tables need no allocation.  Symbolizing with libdw
 * (or dladdr) allocates and takes locks, which the interrupted thread may
 * hold, so gort's handler (signal context) only does what is safe: it
 * records the interrupted pc, the registers and the interrupted
 * goroutine's raw frame-pointer chain, prints "SIGQUIT: quit" and the PC
 * line with write(2), and hands the rest to sysmon (gort__sigquit_pending,
 * then sysmon's futex; the handler is installed over an inherited SIG_IGN,
 * as Go's is): sysmon, an ordinary thread that no signal
 * interrupts (it blocks them all), symbolizes and prints every goroutine
 * and the registers, then exits 2.  The handler waits up to 2 s for that,
 * so that the interrupted thread (and, usually, the program) stays where
 * it was; then it returns, in case sysmon needs a lock that thread holds.
 * Without sysmon (gort_run never called) the handler prints the
 * goroutines itself, unsymbolized (raw pcs), and exits 2.  The program is
 * not stopped while sysmon prints; Go freezes the world.
 */
#include "runtime.h"

#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#define sched gort__sched

#define TB_MAX GORT__TB_MAX

/* gdb support: tools/gort-gdb.py rides in the .debug_gdb_scripts section
 * as an inline script (gdb's type 4: a name line, then the text), so gdb
 * finds it in the program itself when linked statically and in
 * libgort.so when linked dynamically; this object is always linked (the
 * deadlock report calls it).  gdb runs it once the file is in its
 * auto-load safe path (docs/debugging.md).  The build runs from the top
 * of the tree, where .incbin finds the file (Makefile: a dependency). */
__asm__(".pushsection .debug_gdb_scripts, \"MS\", %progbits, 1\n"
        ".byte 4\n"
        ".ascii \"gort-gdb.py\\n\"\n"
        ".incbin \"tools/gort-gdb.py\"\n"
        ".byte 0\n"
        ".popsection\n");

extern char __start_gort_text[] __attribute__((weak));
extern char __stop_gort_text[] __attribute__((weak));
GORT_INTERNAL void gort__gostart(void);
GORT_INTERNAL void gort__sigtramp(void);

bool gort__pc_in_gort(uintptr_t pc)
{
    return __start_gort_text && pc >= (uintptr_t)__start_gort_text &&
           pc < (uintptr_t)__stop_gort_text;
}

/* ------------------------------------------------------------------------ */
/* Output: a buffer written with write(2); no stdio, no allocation          */
/* ------------------------------------------------------------------------ */

typedef struct wbuf {
    int fd;
    size_t n;
    char b[4096];
} wbuf;

static void wflush(wbuf *w)
{
    size_t off = 0;
    while (off < w->n) {
        ssize_t k = write(w->fd, w->b + off, w->n - off);
        if (k <= 0) {
            if (k < 0 && errno == EINTR)
                continue;
            break;
        }
        off += (size_t)k;
    }
    w->n = 0;
}

static void wputn(wbuf *w, const char *s, size_t n)
{
    while (n > 0) {
        if (w->n == sizeof w->b)
            wflush(w);
        size_t k = sizeof w->b - w->n;
        if (k > n)
            k = n;
        memcpy(w->b + w->n, s, k);
        w->n += k;
        s += k;
        n -= k;
    }
}

static void wput(wbuf *w, const char *s)
{
    wputn(w, s, strlen(s));
}

static void wdec(wbuf *w, int64_t v)
{
    char t[24];
    int i = sizeof t;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        t[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        t[--i] = '-';
    wputn(w, t + i, sizeof t - (size_t)i);
}

static void whex(wbuf *w, uint64_t v)
{
    char t[18];
    int i = sizeof t;
    do {
        t[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    t[--i] = 'x';
    t[--i] = '0';
    wputn(w, t + i, sizeof t - (size_t)i);
}

/* ------------------------------------------------------------------------ */
/* Raw frames                                                               */
/* ------------------------------------------------------------------------ */

/* Return addresses, innermost first; an exact pc (the interrupted
 * instruction, a goroutine's entry function) is stored as pc + 1 so that
 * every entry is symbolized at entry - 1. */
typedef struct frames {
    uintptr_t pc[TB_MAX];
    int n;
    bool more;          /* the walk stopped at TB_MAX */
} frames;

static bool ret_in(uintptr_t ret, void (*fn)(void))
{
    /* Both stubs are a few instructions long (switch.S). */
    return ret - (uintptr_t)fn < 48;
}

/* A return address into the goroutine entry.  gort__sigtramp follows
 * gort__gostart in switch.S, within the 48 bytes ret_in looks at. */
static bool ret_is_entry(uintptr_t ret)
{
    return ret_in(ret, gort__gostart) && !ret_in(ret, gort__sigtramp);
}

/* Walks the frame-pointer chain from fp (within [lo, hi)), after pc0 (a
 * return address, or an exact pc + 1 if pc0_exact; 0: none).  Only reads memory in [lo, hi). */
static GORT__RACY void fpwalk(frames *f, uintptr_t pc0, bool pc0_exact, uintptr_t fp,
                   uintptr_t lo, uintptr_t hi, void *sigframe)
{
    f->n = 0;
    f->more = false;
    bool exact = pc0_exact; /* the last pc is an exact one (pc + 1) */
    if (pc0)
        f->pc[f->n++] = pc0;
    while (f->n < TB_MAX) {
        if (fp < lo || fp + 16 > hi || (fp & 7) != 0)
            return;
        uintptr_t next = ((const uintptr_t *)fp)[0];
        uintptr_t ret = ((const uintptr_t *)fp)[1];
        if (ret == 0)
            return;
        if (ret_is_entry(ret)) {
            /* The frame at fp is gort__goentry's: not shown.  (Unless the
             * last pc is the interrupted one, of a function that set up
             * no frame, a leaf: then fp was its caller's.) */
            if (f->n > 0 && !exact)
                f->n--;
            return;
        }
        if (ret_in(ret, gort__sigtramp)) {
            if (!sigframe)
                return;     /* the trampoline zeroed the frame pointer */
            /* Preempted by signal: go on in the interrupted code. */
            uintptr_t ipc, ifp;
            gort__sigframe_regs(sigframe, &ipc, &ifp);
            sigframe = NULL;
            f->pc[f->n++] = ipc + 1;
            exact = true;
            fp = ifp;
            continue;
        }
        f->pc[f->n++] = ret;
        exact = false;
        if (next <= fp)
            return;
        fp = next;
    }
    f->more = true;
}

/* The frames of a goroutine that is not running, from its saved context
 * (switch.S: the layout below the saved sp). */
static GORT__RACY void walk_saved(frames *f, uintptr_t sp, uintptr_t lo, uintptr_t hi,
                       void *sigframe)
{
    f->n = 0;
    f->more = false;
    if (sp < lo || sp + 64 > hi || (sp & 7) != 0)
        return;
    const uintptr_t *s = (const uintptr_t *)sp;
#if defined(__x86_64__)
    fpwalk(f, s[7], false, s[6], lo, hi, sigframe);
#elif defined(__aarch64__)
    fpwalk(f, s[1], false, s[0], lo, hi, sigframe);
#else
    (void)s;
    (void)sigframe;
#endif
}

/* What the dump needs of one goroutine, read once. */
typedef struct gsnap {
    struct g *gp;
    uint32_t status;
    frames f;
    bool have_frames;   /* f is meaningful (else: not started, running) */
    bool faulted;
} gsnap;

/* The fields of a G that its own thread writes without a lock while the
 * dump reads them: read racily, and trusted only if gp's status and sp are
 * the same after the walk (snap_g). */
typedef struct gfields {
    uintptr_t lo, hi, syscallpc, syscallfp;
    bool rescued;
    void *sigframe;
} gfields;

static GORT__RACY void read_gfields(const struct g *gp, gfields *o)
{
    o->lo = gp->stack.lo;
    o->hi = gp->stack.hi;
    o->syscallpc = gp->syscallpc;
    o->syscallfp = gp->syscallfp;
    o->rescued = gp->rescued;
    o->sigframe = gp->sigframe;
}

/* Reads gp's frames under the fault probe, retrying if it moved. */
static void snap_g(struct g *gp, gsnap *s, bool probe)
{
    s->gp = gp;
    s->faulted = false;
    for (int tries = 0; tries < 4; tries++) {
        uint32_t st = atomic_load_explicit(&gp->status, memory_order_acquire);
        void *sp = __atomic_load_n(&gp->sp, __ATOMIC_ACQUIRE);
        gfields gf;
        read_gfields(gp, &gf);  /* gf is in memory: nothing for a
                                   longjmp to clobber */
        s->status = st;
        s->have_frames = false;
        s->f.n = 0;
        if (gf.lo == 0 || (st != _Grunnable && st != _Gwaiting && st != _Gsyscall))
            return;
        if (st != _Gsyscall && sp == NULL)
            return;     /* never ran: no context yet */
        sigjmp_buf jb;
        volatile bool ok = true;
        if (probe) {
            if (sigsetjmp(jb, 0) == 0)
                gort__probe_jmp = &jb;
            else
                ok = false;     /* faulted: the stack went away */
        }
        if (ok) {
            if (st == _Gsyscall)
                fpwalk(&s->f, gf.syscallpc, gf.rescued, gf.syscallfp, gf.lo,
                       gf.hi, NULL);
            else
                walk_saved(&s->f, (uintptr_t)sp, gf.lo, gf.hi, gf.sigframe);
        }
        if (probe)
            gort__probe_jmp = NULL;
        if (atomic_load_explicit(&gp->status, memory_order_acquire) == st &&
            __atomic_load_n(&gp->sp, __ATOMIC_ACQUIRE) == sp && ok) {
            s->have_frames = true;
            return;
        }
        s->faulted = !ok;
    }
}

/* ------------------------------------------------------------------------ */
/* Printing                                                                 */
/* ------------------------------------------------------------------------ */

static void print_sym(wbuf *w, uintptr_t pc, bool sym, bool call)
{
    if (!sym) {
        wput(w, "?\?(...)\n\tpc=");
        whex(w, pc);
        wput(w, "\n");
        return;
    }
    gort__sym s;
    gort__symbolize(pc, &s);
    wput(w, s.fn[0] ? s.fn : "??");
    if (call)
        wput(w, "(...)");
    wput(w, "\n\t");
    wput(w, s.file[0] ? s.file : "??");
    if (s.line > 0) {
        wput(w, ":");
        wdec(w, s.line);
    }
    wput(w, " +");
    whex(w, s.off + 1);
    wput(w, "\n");
}

static void print_frames(wbuf *w, const frames *f, bool sym)
{
    /* The innermost run of gort frames shows only its outermost (the
     * call the program made); gort frames past the program's last are
     * not shown.  All gort: shown whole. */
    int first = 0, last = f->n - 1;
    int k = 0;
    while (k < f->n && gort__pc_in_gort(f->pc[k] - 1))
        k++;
    if (k < f->n) {
        first = k > 0 ? k - 1 : 0;
        while (last > k && gort__pc_in_gort(f->pc[last] - 1))
            last--;
    }
    for (int i = first; i <= last; i++)
        print_sym(w, f->pc[i] - 1, sym, true);
    if (f->more)
        wput(w, "...additional frames elided...\n");
}

/* Reads another thread's G without a lock (its wait reason and since
 * when change as it parks and enters system calls): GORT__RACY. */
static GORT__RACY void print_header(wbuf *w, struct g *gp, uint32_t st, int64_t now)
{
    const char *what;
    switch (st) {
    case _Gwaiting:
        what = gp->waitreason != waitReasonZero
                   ? gort__waitreason_string(gp->waitreason) : "waiting";
        break;
    case _Grunnable: what = "runnable"; break;
    case _Grunning: what = "running"; break;
    case _Gsyscall: what = "syscall"; break;
    case _Gidle: what = "idle"; break;
    default: what = "dead"; break;
    }
    wput(w, "goroutine ");
    wdec(w, gp->goid);
    wput(w, " [");
    wput(w, what);
    int64_t since = gp->waitsince;
    if ((st == _Gwaiting || st == _Gsyscall) && since != 0 && now > since) {
        int64_t min = (now - since) / (60 * GORT_SEC);
        if (min >= 1) {
            wput(w, ", ");
            wdec(w, min);
            wput(w, " minutes");
        }
    }
    if (gp->lockedcount > 0)
        wput(w, ", locked to thread");
    wput(w, "]:\n");
    if (gp->name) {
        wput(w, "\tname: ");
        wput(w, gp->name);
        wput(w, "\n");
    }
}

/* ------------------------------------------------------------------------ */
/* Goroutines running on other threads                                      */
/* ------------------------------------------------------------------------ */

/* The frames of goroutines running on other Ms, captured for the dump in
 * progress (dumplock serializes dumps: the per-M buffers are shared). */
typedef struct runcap {
    int64_t goid;
    frames f;
} runcap;
static gort__mutex dumplock;
/* Static (zero pages until a dump touches them): a dump must not need
 * malloc, which may be what is failing.  A goroutine running holds a P,
 * so there are at most GORT_MAXPROCS_MAX of them. */
static runcap runcaps[GORT_MAXPROCS_MAX];
static struct m *runms[GORT_MAXPROCS_MAX];
static int nruncaps;

/* In the SIGURG handler of mp (PREEMPT_DUMP): the frame-pointer chain of
 * the goroutine it runs, from the interrupted context.  Reads only that
 * goroutine's stack, within its bounds; writes only mp's buffer. */
void gort__dump_capture(struct m *mp, void *ctx)
{
    ucontext_t *uc = ctx;
    struct g *gp = mp->curg;
    mp->dumpn = 0;
    mp->dumpgoid = 0;
    if (gp && gp->stack.lo &&
        atomic_load_explicit(&gp->status, memory_order_relaxed) == _Grunning) {
#if defined(__x86_64__)
        uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
        uintptr_t fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
#elif defined(__aarch64__)
        uintptr_t pc = (uintptr_t)uc->uc_mcontext.pc;
        uintptr_t fp = (uintptr_t)uc->uc_mcontext.regs[29];
#else
        uintptr_t pc = 0, fp = 0;
#endif
        frames f;
        fpwalk(&f, pc + 1, true, fp, gp->stack.lo, gp->stack.hi, NULL);
        memcpy(mp->dumppc, f.pc, (size_t)f.n * sizeof f.pc[0]);
        mp->dumpn = f.n;
        mp->dumpgoid = gp->goid;
    }
    atomic_store_explicit(&mp->dumpack, 1, memory_order_release);
}

/* Asks every M that runs a goroutine (but self) for its frames by
 * SIGURG and waits up to 100 ms for the answers.  What the handlers
 * captured ends up in runcaps; an M that did not answer in time (signals
 * blocked, its goroutine done) leaves its goroutine "stack unavailable",
 * as Go prints it. */
static void capture_running(struct m *self)
{
    nruncaps = 0;
    struct m **ms = runms;
    gort__lock(&sched.lock);
    int k = 0;
    for (struct m *mp = sched.allm; mp && k < GORT_MAXPROCS_MAX;
         mp = mp->alllink) {
        struct g *gp = __atomic_load_n(&mp->curg, __ATOMIC_ACQUIRE);
        if (mp != self && mp->procid && gp &&
            atomic_load(&gp->status) == _Grunning)
            ms[k++] = mp;
    }
    gort__unlock(&sched.lock);
    for (int i = 0; i < k; i++) {
        atomic_store(&ms[i]->dumpack, 0);
        gort__signal_dump(ms[i]);
    }
    int64_t deadline = gort__nanotime() + 100 * GORT_MS;
    for (int i = 0; i < k; i++) {
        while (!atomic_load_explicit(&ms[i]->dumpack, memory_order_acquire) &&
               gort__nanotime() < deadline)
            gort__usleep(100);
        if (!atomic_load_explicit(&ms[i]->dumpack, memory_order_acquire) ||
            ms[i]->dumpgoid == 0)
            continue;
        runcap *c = &runcaps[nruncaps++];
        c->goid = ms[i]->dumpgoid;
        c->f.n = ms[i]->dumpn;
        c->f.more = false;
        memcpy(c->f.pc, ms[i]->dumppc, (size_t)c->f.n * sizeof c->f.pc[0]);
    }
}

static const frames *runcap_of(int64_t goid)
{
    for (int i = 0; i < nruncaps; i++)
        if (runcaps[i].goid == goid)
            return &runcaps[i].f;
    return NULL;
}

/* One goroutine: header, frames, "created by".  f: its frames when the
 * caller has them (itself, or the interrupted one), else from s. */
static void print_g(wbuf *w, const gsnap *s, const frames *f, bool sym,
                    int64_t now)
{
    struct g *gp = s->gp;
    print_header(w, gp, f ? _Grunning : s->status, now);
    const frames *rf = NULL;
    if (f) {
        print_frames(w, f, sym);
    } else if (s->status == _Grunning && (rf = runcap_of(gp->goid)) != NULL) {
        print_frames(w, rf, sym);   /* captured on its own thread */
    } else if (s->status == _Grunning) {
        wput(w, "\tgoroutine running on other thread; stack unavailable\n");
    } else if (s->have_frames) {
        print_frames(w, &s->f, sym);
    } else if (s->faulted) {
        wput(w, "\tstack unavailable (it changed while being read)\n");
    } else if (s->status == _Grunnable && gp->fn) {
        /* Not started yet: its entry function, as Go shows. */
        print_sym(w, (uintptr_t)gp->fn, sym, true);
    }
    if (gp->gopc && gp->goid != 1) {
        wput(w, "created by ");
        if (sym) {
            print_sym(w, gp->gopc - 1, true, false);
        } else {
            wput(w, "??\n\tpc=");
            whex(w, gp->gopc);
            wput(w, "\n");
        }
    }
}

/* Prints first (with its own frames ff, when given), then every other
 * live goroutine of the current run among gs[0..ng). */
static void dump_gs(wbuf *w, struct g **gs, size_t ng, struct g *first,
                    const frames *ff, bool sym, bool probe)
{
    int64_t now = gort__nanotime();
    uint64_t gen = atomic_load(&sched.gen);
    bool any = false;
    gsnap s;
    if (first) {
        s.gp = first;
        s.status = _Grunning;
        s.have_frames = false;
        s.faulted = false;
        print_g(w, &s, ff, sym, now);
        any = true;
    }
    for (size_t i = 0; i < ng; i++) {
        struct g *gp = gs[i];
        if (gp == first || gp->gen != gen)
            continue;
        uint32_t st = atomic_load(&gp->status);
        if (st == _Gdead || st == _Gidle)
            continue;
        snap_g(gp, &s, probe);
        if (s.status == _Gdead)
            continue;
        if (any)
            wput(w, "\n");
        print_g(w, &s, NULL, sym, now);
        any = true;
    }
}

/* Where copy_allgs puts the first goroutines when malloc fails (a dump
 * is most wanted when things are failing); dumplock serializes its use.
 * Zero pages until needed. */
#define ALLGS_STATIC 65536
static struct g *allgs_static[ALLGS_STATIC];

/* A copy of allgs taken under sched.lock (Gs are never freed, so the
 * pointers stay valid after it is dropped); *ng is how many it holds and
 * *nall how many exist.  Out of memory, the copy is allgs_static with at
 * most ALLGS_STATIC of them.  Called with dumplock held. */
static struct g **copy_allgs(size_t *ng, size_t *nall)
{
    gort__lock(&sched.lock);
    size_t n = sched.nallgs;
    *nall = n;
    struct g **gs = gort__malloc((n ? n : 1) * sizeof *gs);
    if (!gs) {
        gs = allgs_static;
        if (n > ALLGS_STATIC)
            n = ALLGS_STATIC;
    }
    if (n)
        memcpy(gs, sched.allgs, n * sizeof *gs);
    gort__unlock(&sched.lock);
    *ng = n;
    return gs;
}

/* A frame-pointer walk of the caller's own stack.  The first entry is
 * the return address into the function that called here. */
static __attribute__((noinline)) void walk_self(frames *f, struct g *gp)
{
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    fpwalk(f, 0, false, fp, fp, gp->stack.hi, NULL);
}

void gort_dump_goroutines(int fd)
{
    gort__ensure_init();
    wbuf w = {.fd = fd, .n = 0};
    struct g *self = gort__getg();
    frames *ff = NULL;
    frames selff;
    if (self && self->stack.lo) {
        walk_self(&selff, self);
        ff = &selff;
    }
    gort__lock(&dumplock);
    capture_running(gort__getm());
    size_t ng, nall;
    struct g **gs = copy_allgs(&ng, &nall);
    dump_gs(&w, gs, ng, ff ? self : NULL, ff, true, true);
    if (ng < nall) {
        char line[96];
        snprintf(line, sizeof line,
                 "\n... %zu more goroutines not shown (out of memory)\n",
                 nall - ng);
        wput(&w, line);
    }
    wflush(&w);
    nruncaps = 0;
    if (gs != allgs_static)
        gort__free(gs);
    gort__unlock(&dumplock);
}

void gort__print_switched_out(int fd, struct g *gp, size_t below)
{
    wbuf w = {.fd = fd, .n = 0};
    gsnap s = {.gp = gp, .status = _Grunning};
    frames f;
    walk_saved(&f, (uintptr_t)gp->sp, gp->stack.lo - below, gp->stack.hi,
               NULL);
    print_g(&w, &s, &f, true, 0);
    wflush(&w);
}

/* checkdead and other fatal reports: every M is idle or the process is
 * dying; allgs is read in place. */
void gort__dump_all_locked(int fd)
{
    wbuf w = {.fd = fd, .n = 0};
    dump_gs(&w, sched.allgs, sched.nallgs, NULL, NULL, true, false);
    wput(&w, "\n");
    wflush(&w);
}

/* ------------------------------------------------------------------------ */
/* SIGQUIT                                                                  */
/* ------------------------------------------------------------------------ */

static struct {
    _Atomic int state;          /* 0 none, 1 handler ran, 2 sysmon done */
    uintptr_t pc;
    int64_t mid;                /* interrupted M, -1 if not an M */
    struct m *m;                /* ... and the M itself, or NULL */
    int code;
    struct g *gp;               /* interrupted goroutine, or NULL */
    frames f;                   /* its frames */
    bool is_m;
    mcontext_t mc;              /* the registers, for Go's dumpregs */
} quit;

#if defined(__x86_64__)
static const struct {
    const char *name;
    int reg;
} regnames[] = {
    {"rax    ", REG_RAX}, {"rbx    ", REG_RBX}, {"rcx    ", REG_RCX},
    {"rdx    ", REG_RDX}, {"rdi    ", REG_RDI}, {"rsi    ", REG_RSI},
    {"rbp    ", REG_RBP}, {"rsp    ", REG_RSP}, {"r8     ", REG_R8},
    {"r9     ", REG_R9},  {"r10    ", REG_R10}, {"r11    ", REG_R11},
    {"r12    ", REG_R12}, {"r13    ", REG_R13}, {"r14    ", REG_R14},
    {"r15    ", REG_R15}, {"rip    ", REG_RIP}, {"rflags ", REG_EFL},
};
#endif

static void dumpregs(wbuf *w)
{
#if defined(__x86_64__)
    for (size_t i = 0; i < sizeof regnames / sizeof regnames[0]; i++) {
        wput(w, regnames[i].name);
        whex(w, (uint64_t)quit.mc.gregs[regnames[i].reg]);
        wput(w, "\n");
    }
    uint64_t csgsfs = (uint64_t)quit.mc.gregs[REG_CSGSFS];
    wput(w, "cs     ");
    whex(w, csgsfs & 0xffff);
    wput(w, "\nfs     ");
    whex(w, (csgsfs >> 32) & 0xffff);
    wput(w, "\ngs     ");
    whex(w, (csgsfs >> 16) & 0xffff);
    wput(w, "\n");
#elif defined(__aarch64__)
    for (int i = 0; i < 29; i++) {
        wput(w, "r");
        wdec(w, i);
        wput(w, i < 10 ? "      " : "     ");
        whex(w, quit.mc.regs[i]);
        wput(w, "\n");
    }
    wput(w, "r29     ");
    whex(w, quit.mc.regs[29]);
    wput(w, "\nlr      ");
    whex(w, quit.mc.regs[30]);
    wput(w, "\nsp      ");
    whex(w, quit.mc.sp);
    wput(w, "\npc      ");
    whex(w, quit.mc.pc);
    wput(w, "\nfault   ");
    whex(w, quit.mc.fault_address);
    wput(w, "\n");
#else
    (void)w;
#endif
}

/* Go's "goroutine 0 [idle]:" for a thread with no goroutine, else the
 * interrupted goroutine and then the others, then the registers. */
static void quit_body(wbuf *w, struct g **gs, size_t ng, bool sym)
{
    if (!quit.gp && quit.is_m) {
        wput(w, "goroutine 0 [idle]:\n");
        print_frames(w, &quit.f, sym);
        wput(w, "\n");
    }
    dump_gs(w, gs, ng, quit.gp, quit.gp ? &quit.f : NULL, sym, true);
    wput(w, "\n");
    dumpregs(w);
}

/* The interrupted code's frames by CFI (libgcc's unwinder, through the
 * signal frame; it stops at gort__gostart, whose return address is
 * undefined): right for code without frame pointers too, libc's
 * included.  backtrace(3) loads libgcc_s on its first call, which is
 * not safe in a handler: gort__traceback_init calls it once early.
 * false if the interrupted pc is not among the frames. */
static bool unwind_here(frames *f, uintptr_t pc)
{
    void *pcs[TB_MAX + 8];
    int n = backtrace(pcs, TB_MAX + 8);
    int i = 0;
    while (i < n && (uintptr_t)pcs[i] != pc)
        i++;
    if (i >= n)
        return false;
    f->n = 0;
    f->more = n == TB_MAX + 8;
    f->pc[f->n++] = pc + 1;
    for (i++; i < n && f->n < TB_MAX; i++) {
        uintptr_t ret = (uintptr_t)pcs[i];
        if (ret_is_entry(ret)) {
            /* The last frame before the entry is gort__goentry's. */
            if (f->n > 1)
                f->n--;
            break;
        }
        f->pc[f->n++] = ret;
    }
    return true;
}

void gort__traceback_init(void)
{
    void *pcs[2];
    (void)backtrace(pcs, 2);
}

void gort__sigquit(void *info_, void *ctx)
{
    siginfo_t *info = info_;
    ucontext_t *uc = ctx;
    int z = 0;
    if (gort__dying() || !atomic_compare_exchange_strong(&quit.state, &z, 1))
        return;     /* a report is on its way already */
    gort__begin_dying();
    quit.mc = uc->uc_mcontext;
    quit.code = info ? info->si_code : 0;
#if defined(__x86_64__)
    quit.pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    uintptr_t fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
#elif defined(__aarch64__)
    quit.pc = (uintptr_t)uc->uc_mcontext.pc;
    uintptr_t fp = (uintptr_t)uc->uc_mcontext.regs[29];
#else
    quit.pc = 0;
    uintptr_t fp = 0;
#endif
    struct m *mp = gort__getm();
    quit.is_m = mp != NULL;
    quit.mid = mp ? mp->id : -1;
    quit.m = mp;
    struct g *gp = mp ? mp->curg : NULL;
    quit.f.n = 0;
    if (gp && gp->stack.lo &&
        atomic_load(&gp->status) == _Grunning) {
        quit.gp = gp;
        if (!unwind_here(&quit.f, quit.pc))
            fpwalk(&quit.f, quit.pc + 1, true, fp, gp->stack.lo, gp->stack.hi, NULL);
    }
    wbuf w = {.fd = 2, .n = 0};
    wput(&w, "SIGQUIT: quit\nPC=");
    whex(&w, quit.pc);
    wput(&w, " m=");
    wdec(&w, quit.mid);
    wput(&w, " sigcode=");
    wdec(&w, quit.code);
    wput(&w, "\n\n");
    wflush(&w);
    if (gort__sysmon_running()) {
        atomic_store(&gort__sigquit_pending, 1);
        atomic_store(&sched.sysmonnote, 1);
        gort__futexwakeup(&sched.sysmonnote, 1);
        /* Hold this thread where it was while sysmon prints (it exits
         * the process); give up after 2 s, in case sysmon waits for a
         * lock this thread holds. */
        for (int i = 0; i < 200 && atomic_load(&quit.state) != 2; i++)
            gort__usleep(10 * 1000);
        return;
    }
    /* No sysmon: no goroutine has run; print what there is, raw. */
    quit_body(&w, sched.allgs, sched.nallgs, false);
    wflush(&w);
    _exit(2);
}

void gort__sigquit_dump(void)
{
    /* On sysmon, whose signals are all blocked: a fault while reading a
     * stack must reach the probe. */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGSEGV);
    sigaddset(&s, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
    /* allgs without sched.lock if the interrupted thread holds it. */
    struct g **gs = NULL;
    size_t ng = 0;
    bool locked = false;
    for (int i = 0; i < 100 && !locked; i++) {
        uint32_t zero = 0;
        locked = atomic_compare_exchange_strong(&sched.lock.key, &zero, 1);
        if (!locked)
            gort__usleep(1000);
    }
    ng = sched.nallgs;
    gs = gort__malloc((ng ? ng : 1) * sizeof *gs);
    if (gs && ng)
        memcpy(gs, sched.allgs, ng * sizeof *gs);
    if (locked) {
        gort__unlock(&sched.lock);
        /* The goroutines running elsewhere, by signal (not the
         * interrupted M: it waits in the SIGQUIT handler). */
        gort__lock(&dumplock);
        capture_running(quit.m);
    }
    wbuf w = {.fd = 2, .n = 0};
    quit_body(&w, gs ? gs : sched.allgs, ng, true);
    wflush(&w);
    atomic_store(&quit.state, 2);
    gort__exit2();
}
