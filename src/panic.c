/*
 * panic.c — defer, panic, recover and Goexit (Go's panic.go), and the ways
 * a gort program dies: throw (a runtime invariant broke), fatal (a state Go
 * treats as fatal, such as a deadlock) and unrecovered panics.  Each dying
 * path prints Go's report to stderr and exits with status 2.
 *
 * The model.  A gort_scope { } block (gort.h) is a gort__scope record on
 * the C stack of the function that holds it: the scope's deferred calls
 * (an inline array of 8, then chunks from a per-P pool: Go's _defer with
 * its "frame" being the scope), a link to the enclosing scope, and a jump
 * buffer set when the scope was entered.  The goroutine's innermost scope
 * and its chain of active panics live in gort_tls, a thread-local that the
 * scheduler saves into g.tls and restores on every switch, so the chains
 * are per goroutine and follow it across threads.  User code reaches
 * gort_tls only through asm volatile accessors (gort.h) and the runtime
 * only through gort__tlsp(), never through an address the compiler could
 * have computed on another thread.
 *
 *   - Leaving a scope normally (the cleanup attribute of its variable: fall
 *     through, return, break, continue, goto) pops and runs its records,
 *     newest first, each popped before it is called (Go's "started"), so a
 *     record runs at most once whatever happens inside it.
 *   - gort_panic pushes a panic record (on its own stack frame) and runs
 *     the records of the innermost scope, then the next, ... on top of the
 *     panicking stack.  Exhausted scopes are unlinked as it goes.
 *   - gort_recover, called while the panic runs a deferred call, marks the
 *     panic recovered.  When that call returns, the panic longjmps to the
 *     scope that held the record: its for-condition sees setjmp return 1,
 *     the loop ends, the cleanup runs the scope's remaining records, and
 *     execution resumes right after the scope.  Jumps only go up the same
 *     goroutine's stack (checked).
 *   - A panic inside a deferred call pushes a newer panic that goes on with
 *     the remaining records.  If it is recovered at a scope shallower than
 *     the older panic's frame, the older one is aborted (dropped from the
 *     chain); unrecovered, the whole chain is printed oldest first, as Go
 *     1.19 prints it ("panic: a [recovered]" / "\tpanic: b").
 *   - Goexit is a pseudo-panic that runs every record and then ends the
 *     goroutine; a panic recovered during it resumes Goexit's loop instead
 *     of jumping past it (Go 1.14's rule).
 *
 * recover's "called by a deferred function" rule cannot be checked frame
 * by frame in C.  gort's rule: recover works while the panic's deferred
 * call runs, anywhere inside it, except inside a deferred call that a
 * scope nested in it runs on its own normal exit (those belong to that
 * scope, as in Go).
 *
 * Output is written with write(2), never stdio, so that it works from a
 * signal handler and with stdio locks held by the dying goroutine.  stdout
 * is flushed first if its lock is free, so buffered output is not lost.
 */
#include "runtime.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__thread struct gort__tls gort_tls
    __attribute__((tls_model("initial-exec"), visibility("default")));

__attribute__((noinline)) struct gort__tls *gort__tlsp(void)
{
    __asm__ __volatile__("" ::: "memory");
    return &gort_tls;
}

gort__scope *gort__tls_scope_get_slow(void)
{
    return gort__tlsp()->scope;
}

void gort__tls_scope_set_slow(gort__scope *s)
{
    gort__tlsp()->scope = s;
}

/* ------------------------------------------------------------------------ */
/* Dying                                                                    */
/* ------------------------------------------------------------------------ */

static _Atomic int dying;

/* True once a fatal report has begun (signal.c: a fault while printing
 * it, on a stack that may be the corrupt one, ends the process quietly
 * with the same status). */
bool gort__dying(void)
{
    return atomic_load(&dying) != 0;
}

void gort__write_str(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

void gort__exit2(void)
{
    gort__trace_fatal();
    if (ftrylockfile(stdout) == 0) {
        fflush(stdout);
        funlockfile(stdout);
    }
    _exit(2);
}

/* Only the first dying thread reports; the others wait for the exit. */
void gort__begin_dying(void)
{
    if (!gort__try_begin_dying()) {
        for (;;)
            pause();
    }
}

bool gort__try_begin_dying(void)
{
    return atomic_fetch_add(&dying, 1) == 0;
}

static void print_current_goroutine(int skip)
{
    struct g *gp = gort__getg();
    char buf[96];
    if (gp) {
        snprintf(buf, sizeof buf, "goroutine %lld [running]:\n",
                 (long long)gp->goid);
        gort__write_str(2, buf);
    } else {
        gort__write_str(2, "thread (not a goroutine):\n");
    }
    gort__print_backtrace(2, skip + 1);
}

/* The report and exit of a fatal error: the goroutine shown is the one
 * running, or (outg) one switched out, its frames read from its saved
 * context up to a page below its stack. */
static _Noreturn void die2(const char *detail, const char *prefix,
                           const char *msg, struct g *outg)
{
    gort__begin_dying();
    if (detail)
        gort__write_str(2, detail);
    gort__write_str(2, prefix);
    gort__write_str(2, msg);
    gort__write_str(2, "\n\n");
    if (outg)
        gort__print_switched_out(2, outg, (size_t)sysconf(_SC_PAGESIZE));
    else
        print_current_goroutine(2);
    gort__exit2();
}

void gort__throw(const char *msg)
{
    die2(NULL, "fatal error: ", msg, NULL);
}

void gort__fatal(const char *msg)
{
    die2(NULL, "fatal error: ", msg, NULL);
}

void gort__fatal_detail(const char *detail, const char *msg)
{
    die2(detail, "fatal error: ", msg, NULL);
}

void gort__fatal_switched_out(const char *detail, const char *msg,
                              struct g *gp)
{
    die2(detail, "fatal error: ", msg, gp);
}

/* ------------------------------------------------------------------------ */
/* Deferred-call records                                                    */
/* ------------------------------------------------------------------------ */

#define CHUNK_RECS 32
#define DEFERPOOL_MAX 8

struct gort__deferchunk {
    struct gort__deferchunk *next;
    uint32_t n;
    gort__defer rec[CHUNK_RECS];
};

static struct gort__deferchunk *chunk_alloc(void)
{
    struct m *mp = gort__getm();
    struct p *pp = mp ? mp->p : NULL;
    struct gort__deferchunk *c;
    if (pp && pp->deferpool) {
        c = pp->deferpool;
        pp->deferpool = c->next;
        pp->ndeferpool--;
    } else {
        c = gort__malloc(sizeof *c);
        if (!c)
            gort__throw("out of memory allocating defer records");
    }
    c->next = NULL;
    c->n = 0;
    return c;
}

static void chunk_free(struct gort__deferchunk *c)
{
    struct m *mp = gort__getm();
    struct p *pp = mp ? mp->p : NULL;
    if (pp && pp->ndeferpool < DEFERPOOL_MAX) {
        c->next = pp->deferpool;
        pp->deferpool = c;
        pp->ndeferpool++;
    } else {
        gort__free(c);
    }
}

void gort__defer_slow(gort__scope *s, void (*fn)(void *), void *arg)
{
    struct gort__deferchunk *c = s->more;
    if (!c || c->n == CHUNK_RECS) {
        c = chunk_alloc();
        c->next = s->more;
        s->more = c;
    }
    c->rec[c->n].fn = fn;
    c->rec[c->n].arg = arg;
    c->n++;
}

void gort__defer_noscope(void)
{
    gort__fatal("gort_defer outside gort_scope");
}

/* Pops the newest record of s into *d. */
static bool pop_record(gort__scope *s, gort__defer *d)
{
    while (s->more) {
        struct gort__deferchunk *c = s->more;
        if (c->n > 0) {
            *d = c->rec[--c->n];
            return true;
        }
        s->more = c->next;
        chunk_free(c);
    }
    if (s->n > 0) {
        *d = s->rec[--s->n];
        return true;
    }
    return false;
}

void gort__scope_leave_slow(gort__scope *s)
{
    gort__defer d;
    s->running = 1;
    while (pop_record(s, &d))
        d.fn(d.arg);
    gort__tlsp()->scope = s->link;
}

/* ------------------------------------------------------------------------ */
/* Panics                                                                   */
/* ------------------------------------------------------------------------ */

#define PANIC_MSG_MAX 1024

typedef struct panicrec {
    struct panicrec *link;      /* the older panic */
    gort_panic_info info;
    bool recovered;
    bool goexit;                /* Goexit's pseudo-panic */
    bool indefer;               /* running one of its deferred calls */
    gort__scope *defer_scope;   /* the scope whose record it is running */
    jmp_buf jb;                 /* Goexit: where its loop resumes */
    char msg[PANIC_MSG_MAX];
} panicrec;

/* A copy of a recovered panic's description, valid after the panicking
 * frames are gone; owned by the goroutine (or thread). */
typedef struct recovered_info {
    gort_panic_info info;
    char msg[PANIC_MSG_MAX];
} recovered_info;

static void print_panics(panicrec *p)
{
    if (!p)
        return;
    print_panics(p->link);
    if (p->goexit)
        return;
    if (p->link) {
        /* Not the oldest: Go indents every later panic with a tab. */
        bool older_real = false;
        for (panicrec *q = p->link; q; q = q->link)
            older_real |= !q->goexit;
        if (older_real)
            gort__write_str(2, "\t");
    }
    gort__write_str(2, "panic: ");
    gort__write_str(2, p->info.msg);
    if (p->recovered)
        gort__write_str(2, " [recovered]");
    gort__write_str(2, "\n");
}

static _Noreturn void fatalpanic(panicrec *p)
{
    gort__begin_dying();
    print_panics(p);
    gort__write_str(2, "\n");
    print_current_goroutine(2);
    gort__exit2();
}

/* Resumes the frame of scope s at its setjmp, by the mechanism the code
 * that entered it used (gort.h: __builtin_setjmp under gcc, _setjmp
 * elsewhere; the library may be built by the other compiler). */
static _Noreturn void longjmp_scope(gort__scope *s)
{
    gort__san_noreturn();   /* ASan: the skipped frames' redzones go */
    if (s->sjkind) {
#if defined(__GNUC__) && (!defined(__clang__) || defined(__x86_64__))
        __builtin_longjmp(s->jb.b, 1);
#else
        gort__throw("scope entered with __builtin_setjmp; rebuild gort with gcc");
#endif
    }
    _longjmp(s->jb.j, 1);
}

/* The recovered panic p was running a record of scope s: resume after s,
 * or go back to a Goexit in progress below s. */
static _Noreturn void recovery(panicrec *p, gort__scope *s)
{
    struct gort__tls *t = gort__tlsp();
    struct g *gp = gort__getg();
    uintptr_t target = (uintptr_t)s;
    if (gp && gp->stack.lo &&
        (target < (uintptr_t)__builtin_frame_address(0) || target >= gp->stack.hi))
        gort__throw("recovery: scope is not above the panic on this stack");
    panicrec *gx = t->goexit;
    if (gx && (uintptr_t)gx < target) {
        /* Recovering would jump past a Goexit in progress: Goexit goes on
         * with the records that remain (those of s included). */
        t->panic = gx;
        t->scope = s;
        gort__san_noreturn();
        _longjmp(gx->jb, 1);
    }
    /* Drop p and every panic whose frame the jump discards (aborted). */
    panicrec *q = p->link;
    while (q && (uintptr_t)q < target)
        q = q->link;
    t->panic = q;
    t->scope = s;
    longjmp_scope(s);
}

/* Runs the goroutine's pending records for panic p. */
static void run_defers(panicrec *p)
{
    for (;;) {
        struct gort__tls *t = gort__tlsp();
        gort__scope *s = t->scope;
        if (!s)
            return;
        gort__defer d;
        if (!pop_record(s, &d)) {
            t->scope = s->link;     /* exhausted: its frame is being left */
            continue;
        }
        p->defer_scope = s;
        p->indefer = true;
        d.fn(d.arg);
        p->indefer = false;
        if (p->recovered)
            recovery(p, s);
    }
}

static _Noreturn void gopanic(panicrec *p)
{
    struct gort__tls *t = gort__tlsp();
    struct g *gp = gort__getg();
    p->info.goid = gp ? gp->goid : 0;
    p->link = t->panic;
    t->panic = p;
    run_defers(p);
    fatalpanic(gort__tlsp()->panic);
}

static void panicrec_init(panicrec *p)
{
    /* Field by field: a memset of the record (jump buffer included) was
     * most of the cost of a panic. */
    p->link = NULL;
    p->info.msg = NULL;
    p->info.value = NULL;
    p->info.goid = 0;
    p->recovered = false;
    p->goexit = false;
    p->indefer = false;
    p->defer_scope = NULL;
}

static _Noreturn void vpanic(void *value, const char *fmt, va_list ap)
{
    panicrec p;
    panicrec_init(&p);
    /* Copy the message (a deferred call may change the caller's buffer
     * before it recovers), formatting only when there is a conversion. */
    const char *src = fmt ? fmt : "(null)";
    if (src[0] == '%' && src[1] == 's' && src[2] == '\0') {
        src = va_arg(ap, const char *);
        if (!src)
            src = "(null)";
        fmt = NULL;
    }
    size_t i = 0;
    for (; src[i] != '\0' && i < sizeof p.msg - 1; i++) {
        if (src[i] == '%' && fmt)
            break;
        p.msg[i] = src[i];
    }
    if (fmt && src[i] == '%')
        vsnprintf(p.msg, sizeof p.msg, fmt, ap);
    else
        p.msg[i] = '\0';
    p.info.msg = p.msg;
    p.info.value = value;
    gopanic(&p);
}

void gort_panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vpanic(NULL, fmt, ap);
}

void gort_panic_value(void *value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vpanic(value, fmt, ap);
}

void gort__panicmsg(const char *msg)
{
    gort_panic("%s", msg);
}

const gort_panic_info *gort_recover(void)
{
    struct gort__tls *t = gort__tlsp();
    panicrec *p = t->panic;
    if (!p || p->goexit || p->recovered || !p->indefer)
        return NULL;
    /* A deferred call run by the normal exit of a scope nested inside the
     * panic's deferred call does not get to recover. */
    for (gort__scope *s = t->scope; s && s != p->defer_scope; s = s->link)
        if (s->running)
            return NULL;
    recovered_info *ri = t->recovered;
    if (!ri) {
        ri = gort__malloc(sizeof *ri);
        if (!ri)
            gort__throw("out of memory in recover");
        t->recovered = ri;
    }
    size_t len = strnlen(p->info.msg, sizeof ri->msg - 1);
    memcpy(ri->msg, p->info.msg, len);
    ri->msg[len] = '\0';
    ri->info = p->info;
    ri->info.msg = ri->msg;
    p->recovered = true;
    return &ri->info;
}

/* ------------------------------------------------------------------------ */
/* Goexit and try                                                           */
/* ------------------------------------------------------------------------ */

void gort_goexit(void)
{
    struct g *gp = gort__getg();
    if (!gp)
        gort__fatal("gort_goexit called outside a goroutine");
    panicrec gx;
    panicrec_init(&gx);
    gx.goexit = true;
    gx.info.msg = "goexit";
    struct gort__tls *t = gort__tlsp();
    gx.link = t->panic;
    t->panic = &gx;
    t->goexit = &gx;
    /* A panic recovered during the loop comes back here to go on. */
    if (_setjmp(gx.jb) != 0)
        gort__tlsp()->panic = &gx;
    run_defers(&gx);
    t = gort__tlsp();
    t->goexit = NULL;
    t->panic = NULL;
    gort__goexit_end();
}

struct tryctx {
    gort_panic_info *out;
    bool panicked;
};

static void try_recover(void *arg)
{
    struct tryctx *c = arg;
    const gort_panic_info *pi = gort_recover();
    if (pi) {
        c->panicked = true;
        if (c->out)
            *c->out = *pi;
    }
}

bool gort_try(void (*fn)(void *), void *arg, gort_panic_info *out)
{
    volatile struct tryctx ctx = {out, false};
    gort_scope {
        gort_defer(try_recover, (struct tryctx *)&ctx);
        fn(arg);
    }
    return !ctx.panicked;
}
