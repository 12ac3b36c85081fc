/*
 * debug.c — backtraces in Go's shape, and Go's schedtrace lines:
 *
 *     funcname(...)
 *             /path/to/file.c:123 +0x1f
 *
 * Frames come from the unwinder (backtrace(3), libgcc's CFI unwinder; the
 * goroutine entry in switch.S marks its return address undefined, so walks
 * end there cleanly).  Names and file:line come from DWARF through libdw
 * (elfutils) when gort was built with it.  Without libdw (or where it
 * knows no name), names come from the object's own symbol table (.symtab,
 * read from the file once per object, static functions included), then
 * from dladdr (exported symbols only), with the object file +offset in
 * place of file:line.  None of them needs the program to be linked with
 * -rdynamic.
 */
#include "runtime.h"

#include <dlfcn.h>
#include <elf.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
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

/* ------------------------------------------------------------------------ */
/* Symbol tables read from the objects' files (no libdw)                    */
/* ------------------------------------------------------------------------ */

typedef struct symobj {
    uintptr_t base;             /* load bias (dlpi_addr) */
    uintptr_t lo, hi;           /* its executable segments' span */
    Elf64_Sym *syms;            /* STT_FUNC symbols only, or NULL */
    size_t nsyms;
    char *strs;
} symobj;

#define SYMOBJ_MAX 32
static gort__mutex symtab_lock;
static symobj symobjs[SYMOBJ_MAX];
static int nsymobjs;

/* Reads the .symtab (else .dynsym) of path into o (its functions). */
static void symobj_load(symobj *o, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    Elf64_Ehdr eh;
    Elf64_Shdr *sh = NULL;
    Elf64_Sym *all = NULL;
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof *sh ||
        eh.e_shnum == 0)
        goto out;
    sh = gort__malloc((size_t)eh.e_shnum * sizeof *sh);
    if (!sh || pread(fd, sh, (size_t)eh.e_shnum * sizeof *sh,
                     (off_t)eh.e_shoff) != (ssize_t)(eh.e_shnum * sizeof *sh))
        goto out;
    int tab = -1;
    for (int i = 0; i < eh.e_shnum; i++) {
        if (sh[i].sh_type == SHT_SYMTAB)
            tab = i;
        else if (sh[i].sh_type == SHT_DYNSYM && tab < 0)
            tab = i;
    }
    if (tab < 0 || sh[tab].sh_link >= eh.e_shnum)
        goto out;
    Elf64_Shdr *st = &sh[tab], *ss = &sh[st->sh_link];
    size_t n = st->sh_size / sizeof(Elf64_Sym);
    all = gort__malloc(st->sh_size ? st->sh_size : 1);
    char *strs = gort__malloc(ss->sh_size + 1);
    if (!all || !strs ||
        pread(fd, all, st->sh_size, (off_t)st->sh_offset) != (ssize_t)st->sh_size ||
        pread(fd, strs, ss->sh_size, (off_t)ss->sh_offset) != (ssize_t)ss->sh_size) {
        gort__free(strs);
        goto out;
    }
    strs[ss->sh_size] = '\0';
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ELF64_ST_TYPE(all[i].st_info) == STT_FUNC && all[i].st_value &&
            all[i].st_name < ss->sh_size)
            all[k++] = all[i];
    o->syms = all;
    o->nsyms = k;
    o->strs = strs;
    all = NULL;
out:
    gort__free(all);
    gort__free(sh);
    close(fd);
}

struct findobj {
    uintptr_t pc;
    uintptr_t base, lo, hi;
    char path[512];
    bool found;
};

static int findobj_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct findobj *f = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (f->pc >= lo && f->pc < hi) {
            f->base = info->dlpi_addr;
            f->lo = lo;
            f->hi = hi;
            const char *name = info->dlpi_name;
            snprintf(f->path, sizeof f->path, "%s",
                     name && name[0] ? name : "/proc/self/exe");
            f->found = true;
            return 1;
        }
    }
    return 0;
}

/* The function containing pc from the symbol tables; false if none. */
static bool symbolize_symtab(uintptr_t pc, char *fn, size_t fnsz,
                             uintptr_t *off)
{
    bool ok = false;
    gort__lock(&symtab_lock);
    symobj *o = NULL;
    for (int i = 0; i < nsymobjs; i++)
        if (pc >= symobjs[i].lo && pc < symobjs[i].hi)
            o = &symobjs[i];
    if (!o && nsymobjs < SYMOBJ_MAX) {
        struct findobj f = {.pc = pc, .found = false};
        dl_iterate_phdr(findobj_cb, &f);
        if (f.found) {
            o = &symobjs[nsymobjs++];
            o->base = f.base;
            o->lo = f.lo;
            o->hi = f.hi;
            symobj_load(o, f.path);
        }
    }
    if (o && o->syms) {
        uintptr_t a = pc - o->base;
        const Elf64_Sym *best = NULL;
        for (size_t i = 0; i < o->nsyms && !best; i++) {
            const Elf64_Sym *sy = &o->syms[i];
            if (a >= sy->st_value && a < sy->st_value + sy->st_size)
                best = sy;
        }
        if (best) {
            snprintf(fn, fnsz, "%s", o->strs + best->st_name);
            *off = a - best->st_value;
            ok = true;
        }
    }
    gort__unlock(&symtab_lock);
    return ok;
}

void gort__symbolize(uintptr_t pc, gort__sym *out)
{
    out->fn[0] = out->file[0] = '\0';
    out->line = 0;
    out->off = 0;
    bool named = false;
#ifdef GORT_HAVE_LIBDW
    named = symbolize_dw(pc, out->fn, sizeof out->fn, out->file,
                         sizeof out->file, &out->line, &out->off);
#endif
    if (!named)
        named = symbolize_symtab(pc, out->fn, sizeof out->fn, &out->off);
    Dl_info info;
    if (!named && dladdr((void *)pc, &info) && info.dli_sname) {
        snprintf(out->fn, sizeof out->fn, "%s", info.dli_sname);
        out->off = pc - (uintptr_t)info.dli_saddr;
        named = true;
    }
    if (!out->file[0] && dladdr((void *)pc, &info) && info.dli_fname) {
        snprintf(out->file, sizeof out->file, "%s", info.dli_fname);
        out->line = -1;
        out->off = pc - (uintptr_t)info.dli_fbase;
    }
}

/* Describes one return address.  pc-1 points into the call instruction,
 * which is the line that matters. */
void gort__print_frame(int fd, uintptr_t ret)
{
    gort__sym s;
    char buf[900];
    gort__symbolize(ret - 1, &s);
    int n;
    if (s.line > 0)
        n = snprintf(buf, sizeof buf, "%s(...)\n\t%s:%d +0x%lx\n",
                     s.fn[0] ? s.fn : "??", s.file, s.line,
                     (unsigned long)s.off + 1);
    else
        n = snprintf(buf, sizeof buf, "%s(...)\n\t%s +0x%lx\n",
                     s.fn[0] ? s.fn : "??", s.file[0] ? s.file : "??",
                     (unsigned long)s.off + 1);
    if (n > 0)
        gort__write_str(fd, buf);
}

void gort__print_backtrace(int fd, int skip)
{
    void *pcs[64];
    int n = backtrace(pcs, 64);
    for (int i = skip + 1; i < n; i++)
        gort__print_frame(fd, (uintptr_t)pcs[i]);
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
    int64_t now = gort__nanotime();
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
