/*
 * debug.c — backtraces in Go's shape:
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
