/*
 * debug.c — backtraces in Go's shape, and Go's schedtrace lines:
 *
 *     funcname(...)
 *             /path/to/file.c:123 +0x1f
 *
 * Frames come from the unwinder (backtrace(3), libgcc's CFI unwinder; the
 * goroutine entry in switch.S marks its return address undefined, so walks
 * end there cleanly).  Names and file:line come from DWARF through libdw
 * (elfutils) when gort was built with it; otherwise from dladdr, which
 * names only exported symbols, and the object file +offset.  Neither needs
 * the program to be linked with -rdynamic.
 */
#include "runtime.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef GORT_HAVE_LIBDW
#include <elfutils/libdwfl.h>

static gort__mutex dwfl_lock;
static Dwfl *dwfl;

static Dwfl *get_dwfl(void)
{
    static const Dwfl_Callbacks cb = {
        .find_elf = dwfl_linux_proc_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
    };
    if (!dwfl) {
        Dwfl *d = dwfl_begin(&cb);
        if (!d)
            return NULL;
        if (dwfl_linux_proc_report(d, getpid()) != 0 ||
            dwfl_report_end(d, NULL, NULL) != 0) {
            dwfl_end(d);
            return NULL;
        }
        dwfl = d;
    }
    return dwfl;
}

static bool symbolize_dw(uintptr_t pc, char *fn, size_t fnsz, char *file,
                         size_t filesz, int *line, uintptr_t *off)
{
    bool ok = false;
    gort__lock(&dwfl_lock);
    Dwfl *d = get_dwfl();
    if (d) {
        Dwfl_Module *mod = dwfl_addrmodule(d, pc);
        if (mod) {
            GElf_Sym sym;
            GElf_Off symoff = 0;
            const char *name = dwfl_module_addrinfo(mod, pc, &symoff, &sym,
                                                    NULL, NULL, NULL);
            if (name) {
                snprintf(fn, fnsz, "%s", name);
                *off = symoff;
                ok = true;
            }
            Dwfl_Line *l = dwfl_module_getsrc(mod, pc);
            if (l) {
                const char *src = dwfl_lineinfo(l, NULL, line, NULL, NULL, NULL);
                if (src)
                    snprintf(file, filesz, "%s", src);
            }
        }
    }
    gort__unlock(&dwfl_lock);
    return ok;
}
#endif

/* Describes one return address.  pc-1 points into the call instruction,
 * which is the line that matters. */
static void print_frame(int fd, uintptr_t ret)
{
    uintptr_t pc = ret - 1;
    char fn[256] = "", file[512] = "", buf[900];
    int line = 0;
    uintptr_t off = 0;
    bool named = false;
#ifdef GORT_HAVE_LIBDW
    named = symbolize_dw(pc, fn, sizeof fn, file, sizeof file, &line, &off);
#endif
    Dl_info info;
    if (!named && dladdr((void *)pc, &info) && info.dli_sname) {
        snprintf(fn, sizeof fn, "%s", info.dli_sname);
        off = pc - (uintptr_t)info.dli_saddr;
        named = true;
    }
    if (!file[0] && dladdr((void *)pc, &info) && info.dli_fname) {
        snprintf(file, sizeof file, "%s", info.dli_fname);
        line = -1;
        off = pc - (uintptr_t)info.dli_fbase;
    }
    int n;
    if (line > 0)
        n = snprintf(buf, sizeof buf, "%s(...)\n\t%s:%d +0x%lx\n",
                     named ? fn : "??", file, line, (unsigned long)off + 1);
    else
        n = snprintf(buf, sizeof buf, "%s(...)\n\t%s +0x%lx\n",
                     named ? fn : "??", file[0] ? file : "??",
                     (unsigned long)off + 1);
    if (n > 0)
        gort__write_str(fd, buf);
}

void gort__print_backtrace(int fd, int skip)
{
    void *pcs[64];
    int n = backtrace(pcs, 64);
    for (int i = skip + 1; i < n; i++)
        print_frame(fd, (uintptr_t)pcs[i]);
    if (n == 64)
        gort__write_str(fd, "...additional frames elided...\n");
}

/* ------------------------------------------------------------------------ */
/* schedtrace (GORTDEBUG=schedtrace=MS[,scheddetail=1]), Go 1.19's format    */
/* ------------------------------------------------------------------------ */

#define sched gort__sched

static int64_t trace_start;

/* Appends to a line buffer; a line too long is cut, never overrun. */
typedef struct {
    char b[512];
    size_t n;
} line_t;

__attribute__((format(printf, 2, 3))) static void lput(line_t *l,
                                                      const char *fmt, ...)
{
    if (l->n >= sizeof l->b)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(l->b + l->n, sizeof l->b - l->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        l->n += (size_t)k < sizeof l->b - l->n ? (size_t)k : sizeof l->b - l->n - 1;
}

static void lflush(line_t *l)
{
    if (l->n && write(2, l->b, l->n) < 0)
        return;
    l->n = 0;
}

static int64_t m_id(struct m *mp)
{
    return mp ? mp->id : -1;
}

/* Go's schedtrace(detailed), printed by sysmon.  Reads the scheduler's
 * state without its lock, as Go's does for the per-P and per-G parts (a
 * snapshot that may be a little inconsistent). */
void gort__schedtrace(bool detailed)
{
    int64_t now = gort_nanotime();
    if (trace_start == 0)
        trace_start = now;
    line_t l = {.n = 0};
    int32_t procs = atomic_load(&sched.gomaxprocs);
    gort__lock(&sched.lock);
    int64_t threads = sched.mnext - sched.nmfreed + 1;   /* + sysmon, as Go */
    int32_t nmidle = sched.nmidle, nmidlelocked = sched.nmidlelocked;
    int64_t runq = sched.runq.size;
    gort__unlock(&sched.lock);
    lput(&l, "SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%lld "
             "spinningthreads=%d idlethreads=%d runqueue=%lld",
         (long long)((now - trace_start) / GORT_MS), procs,
         atomic_load(&sched.npidle), (long long)threads,
         atomic_load(&sched.nmspinning), nmidle, (long long)runq);
    if (detailed)
        lput(&l, " gcwaiting=0 nmidlelocked=%d stopwait=0 sysmonwait=%d"
                 " unstranded=%lld\n",
             nmidlelocked, atomic_load(&sched.sysmonwait) ? 1 : 0,
             (long long)atomic_load(&gort__nunstranded));
    for (int32_t i = 0; i < procs && i < sched.nallp; i++) {
        struct p *pp = gort__allp(i);
        uint32_t h = atomic_load(&pp->runqhead), t = atomic_load(&pp->runqtail);
        int64_t qlen = (int32_t)(t - h) + (atomic_load(&pp->runnext) ? 1 : 0);
        if (qlen < 0)
            qlen = 0;
        if (detailed) {
            lflush(&l);
            lput(&l, "  P%d: status=%u schedtick=%u syscalltick=%u m=%lld "
                     "runqsize=%lld gfreecnt=%d timerslen=%lld\n",
                 pp->id, atomic_load(&pp->status), pp->schedtick,
                 pp->syscalltick, (long long)m_id(pp->m), (long long)qlen,
                 pp->gfreecnt,
                 (long long)(pp->ntimers + (int64_t)(pp->ftail - pp->fhead)));
        } else {
            lput(&l, "%s%lld%s", i == 0 ? " [" : " ", (long long)qlen,
                 i == procs - 1 ? "]\n" : "");
        }
    }
    lflush(&l);
    if (!detailed)
        return;
    gort__lock(&sched.lock);
    for (struct m *mp = sched.allm; mp; mp = mp->alllink) {
        struct g *cg = mp->curg;
        lput(&l, "  M%lld: p=%d curg=%lld mallocing=0 throwing=0 preemptoff= "
                 "locks=0 dying=0 spinning=%s blocked=%s lockedg=%lld\n",
             (long long)mp->id, mp->p ? mp->p->id : -1,
             (long long)(cg ? cg->goid : -1), mp->spinning ? "true" : "false",
             mp->blocked ? "true" : "false",
             (long long)(mp->lockedg ? mp->lockedg->goid : -1));
        lflush(&l);
    }
    size_t ng = sched.nallgs;
    gort__unlock(&sched.lock);
    uint64_t gen = atomic_load(&sched.gen);
    for (size_t i = 0; i < ng; i++) {
        struct g *gp = sched.allgs[i];
        uint32_t st = atomic_load(&gp->status);
        if (st == _Gdead || gp->gen != gen)
            continue;
        struct m *gm = gp->m;
        lput(&l, "  G%lld: status=%u(%s) m=%lld lockedm=%lld\n",
             (long long)gp->goid, st,
             st == _Gwaiting ? gort__waitreason_string(gp->waitreason) : "",
             (long long)(st == _Grunning || st == _Gsyscall ? m_id(gm) : -1),
             (long long)m_id(gp->lockedm));
        lflush(&l);
    }
}
