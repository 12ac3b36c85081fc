/*
 * preempt.c — preemption (Go's preempt.go and signal_unix.go doSigPreempt)
 * and the rescue of goroutines blocked in unwrapped system calls.
 *
 * Cooperative.  sysmon marks a goroutine that has run for 10 ms
 * (g.preempt) and raises gort__preempt_pending, a process-wide hint that
 * the inline gort_preempt_point() and every gort call test
 * (gort__preempt_check).  The slow path yields if its own goroutine is the
 * one marked.  sysmon lowers the hint once no running goroutine is marked.
 *
 * Asynchronous (Go 1.14).  sysmon also sends SIGURG to the goroutine's M
 * (tgkill; one signal in flight per M, m.signalpending).  The handler runs
 * on the M's signal stack and never switches stacks itself.  At a safe
 * point — the interrupted PC in the program's own code (not in gort, not
 * in the program's PLT stubs, through which gort calls libc, not in libc,
 * the vDSO, the dynamic loader or the other system libraries), a stack
 * pointer inside the goroutine's stack with room to spare — it copies the
 * kernel's signal frame (which holds every register, the vector state and
 * the signal mask) onto the goroutine's stack, below the red zone, and
 * rewrites the interrupted context to enter gort__sigtramp (switch.S) on
 * that stack.  gort__sigtramp calls gort__asyncpreempt2, which yields like
 * a cooperative preemption, and when the goroutine is scheduled again it
 * resumes the interrupted code with rt_sigreturn on the copied frame: the
 * kernel restores every register exactly as it was interrupted.  The
 * goroutine is wired to its M until then (g.runtimelocked, the locked-
 * thread machinery), so it resumes on the same thread and thread-local
 * addresses cached by the interrupted code stay right.  Elsewhere (PC in
 * gort or libc) the handler does nothing and sysmon asks again at its next
 * tick.  Nor is there a safe point, whatever the PC, while the M is in a
 * call out of gort that the program may have replaced (m.nopreempt, set
 * by gort__malloc and the others in runtime.h): a replaced malloc runs
 * outside gort's text, but gort may hold a runtime lock around the call,
 * and a goroutine switched out holding it would hang the next one that
 * wants it.  GORTDEBUG=asyncpreemptoff=1 turns this off.
 *
 * Why a copy of the signal frame is right: the kernel's rt_sigreturn
 * restores the registers, the FP/vector state and the signal mask from the
 * frame at the stack pointer; the copy is taken in the handler before the
 * context is modified, so it is the interrupted state.  On x86_64 the
 * frame's FP state is a separate area the frame points to: it is copied
 * too (64-byte aligned, as XRSTOR wants) and the pointer fixed.
 *
 * The rescue of unwrapped blocking calls.  A P whose goroutine has not
 * switched for 1 ms is probed by sysmon: /proc/self/task/TID/syscall says
 * whether the thread sleeps in a system call, which, and its arguments.
 * Calls the runtime itself blocks in while holding a P (futex, the memory
 * calls, clone) are never rescued; for others sysmon sends SIGURG with
 * PREEMPT_RESCUE.  In the handler, on the M itself, the interrupted context
 * shows whether the thread is still at that system call: either the kernel
 * rewound it for a restart (PC at the syscall instruction, the number in
 * its register) or it returned EINTR (PC just after it).  Then the handler
 * does gort_syscall_enter's bookkeeping (P to _Psyscall, M without P: no
 * lock, no allocation) and redirects the goroutine through
 * gort__sigtramp into gort__rescue_run, which re-issues the same call with
 * the same arguments, then leaves the system call like gort_syscall_exit
 * (on the same M), stores the result where the interrupted libc wrapper
 * expects it and resumes just after the syscall instruction.  sysmon
 * retakes the _Psyscall P at its next tick and hands it to another M.  A
 * call that made no progress (EINTR) is safely re-issued; a timeout may
 * stretch by the ~1 ms it waited before the rescue.  The probe's view is
 * only trusted once sysmon has seen a thread of its own asleep in a futex
 * wait shown as SYS_futex on its word (gort__preempt_calibrate); where the numbers are not
 * ours (qemu-user shows the host's) or the file cannot be read, rescues
 * are off.
 *
 * sysmon also uses the probe before a preemption signal: a thread asleep
 * in a system call is at no safe point, and a signal would only make its
 * call fail with EINTR, so it is rescued (or left alone) instead.
 */
#include "runtime.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define sched gort__sched

volatile int gort__preempt_pending;

/* switch.S: enters fn(frame) on the goroutine stack, then rt_sigreturn on
 * frame. */
GORT_INTERNAL void gort__sigtramp(void);

/* ------------------------------------------------------------------------ */
/* Where user code is (for the safe-point test)                             */
/* ------------------------------------------------------------------------ */

#define MAX_RANGES 64
static struct {
    uintptr_t lo, hi;
} user_text[MAX_RANGES];
static int nuser_text;
static bool async_ok;

/* gort's own code: every object of the library has its .text renamed to
 * gort_text by the build (Makefile), and the linker gathers them. */
extern char __start_gort_text[] __attribute__((weak));
extern char __stop_gort_text[] __attribute__((weak));

static bool is_system_object(const char *name)
{
    static const char *const sys[] = {
        "libc.so", "ld-linux", "ld64.so", "linux-vdso", "linux-gate",
        "libgort", "libdw", "libelf", "libpthread", "libgcc_s",
        "libstdc++", "libz.so", "liblzma", "libbz2", "libzstd", "libdl",
        "librt", "libm.so", "libasan", "libtsan", "libubsan", "liblsan",
        "libvalgrind", "vgpreload",
    };
    for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
        if (strstr(name, sys[i]))
            return true;
    return false;
}

static bool saw_libc, saw_main;
static void find_plt(uintptr_t bias);

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    if (strstr(name, "libc.so"))
        saw_libc = true;
    if (!*name && !saw_main) {
        saw_main = true;    /* the first entry: the main executable */
        find_plt(info->dlpi_addr);
    }
    if (*name && is_system_object(name))
        return 0;
    for (int i = 0; i < info->dlpi_phnum && nuser_text < MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        user_text[nuser_text].lo = info->dlpi_addr + ph->p_vaddr;
        user_text[nuser_text].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        nuser_text++;
    }
    return 0;
}

/* The main executable's PLT stubs: gort, linked into the program, calls
 * libc through them, so a PC there may be gort's call in flight (qemu-
 * user delivers signals at block boundaries, often right at a stub). */
#define MAX_PLT 8
static struct {
    uintptr_t lo, hi;
} plt[MAX_PLT];
static int nplt;

static void find_plt(uintptr_t bias)
{
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ElfW(Ehdr) eh;
    ElfW(Shdr) *sh = NULL;
    char *names = NULL;
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_shentsize != sizeof(ElfW(Shdr)) || eh.e_shnum == 0 ||
        eh.e_shstrndx >= eh.e_shnum)
        goto out;
    size_t shlen = (size_t)eh.e_shnum * sizeof *sh;
    sh = gort__malloc(shlen);
    if (!sh || pread(fd, sh, shlen, (off_t)eh.e_shoff) != (ssize_t)shlen)
        goto out;
    ElfW(Shdr) *ns = &sh[eh.e_shstrndx];
    names = gort__malloc(ns->sh_size + 1);
    if (!names ||
        pread(fd, names, ns->sh_size, (off_t)ns->sh_offset) != (ssize_t)ns->sh_size)
        goto out;
    names[ns->sh_size] = '\0';
    for (int i = 0; i < eh.e_shnum && nplt < MAX_PLT; i++) {
        if (sh[i].sh_name >= ns->sh_size || !(sh[i].sh_flags & SHF_EXECINSTR))
            continue;
        const char *n = names + sh[i].sh_name;
        if (strncmp(n, ".plt", 4) == 0 || strncmp(n, ".iplt", 5) == 0) {
            plt[nplt].lo = bias + sh[i].sh_addr;
            plt[nplt].hi = bias + sh[i].sh_addr + sh[i].sh_size;
            nplt++;
        }
    }
out:
    gort__free(names);
    gort__free(sh);
    close(fd);
}

static bool pc_is_gort(uintptr_t pc)
{
    return __start_gort_text && pc >= (uintptr_t)__start_gort_text &&
           pc < (uintptr_t)__stop_gort_text;
}

static bool pc_is_user(uintptr_t pc)
{
    if (pc_is_gort(pc))
        return false;
    for (int i = 0; i < nplt; i++)
        if (pc >= plt[i].lo && pc < plt[i].hi)
            return false;
    for (int i = 0; i < nuser_text; i++)
        if (pc >= user_text[i].lo && pc < user_text[i].hi)
            return true;
    return false;
}

void gort__preempt_init(void)
{
    dl_iterate_phdr(phdr_cb, NULL);
    /* Without the gort_text bounds we cannot tell gort's code from the
     * program's: no async preemption. */
    async_ok = !gort__debug.asyncpreemptoff && __start_gort_text != NULL;
    /* A static executable has libc inside the program's own text, where
     * gort's calls into it (malloc under a runtime lock) would look like
     * the program's code. */
    if (!saw_libc)
        async_ok = false;
    /* Not under ASan, TSan or Valgrind (sanitizer.h says why). */
    if (gort__san_no_async_preempt())
        async_ok = false;
#if !defined(__x86_64__) && !defined(__aarch64__)
    async_ok = false;
#endif
}

/* ------------------------------------------------------------------------ */
/* sysmon's side                                                            */
/* ------------------------------------------------------------------------ */

static void signal_m(struct m *mp, uint32_t req)
{
    atomic_fetch_or(&mp->preemptreq, req);
    uint32_t z = 0;
    if (!atomic_compare_exchange_strong(&mp->signalpending, &z, 1))
        return;
    if (syscall(SYS_tgkill, getpid(), mp->procid, SIGURG) != 0)
        atomic_store(&mp->signalpending, 0);
}

/* A goroutine dump's request: always a signal of its own (one already
 * pending may have been taken by the handler before the bit was set). */
void gort__signal_dump(struct m *mp)
{
    atomic_fetch_or(&mp->preemptreq, PREEMPT_DUMP);
    syscall(SYS_tgkill, getpid(), mp->procid, SIGURG);
}

static int rescue_state;    /* 0 not yet known (off), 1 on, -1 off */
static int read_syscall(pid_t tid, long *nr, uintptr_t args[6]);
static bool rescuable(long nr);
static bool rescue_calibrated(void);

/* mp was seen asleep in system call nr(args): have it rescued, if gort
 * never makes that call itself and the probe is to be trusted. */
static void request_rescue(struct m *mp, long nr, const uintptr_t args[6])
{
    if (!rescuable(nr) || !rescue_calibrated() ||
        atomic_load(&mp->signalpending))
        return;
    mp->rescue_nr = nr;
    memcpy(mp->rescue_args, args, 6 * sizeof args[0]);
    signal_m(mp, PREEMPT_RESCUE);
}

/* Go's preemptone: pp's goroutine has run for 10 ms.  Marked for the
 * cooperative path always; signalled only if its thread is not asleep in
 * a system call (a signal there is no safe point and would only make the
 * call fail with EINTR): such a thread is rescued instead, if it can be. */
void gort__preemptone(struct p *pp, int64_t now)
{
    struct m *mp = __atomic_load_n(&pp->m, __ATOMIC_ACQUIRE);
    if (!mp)
        return;
    struct g *gp = __atomic_load_n(&mp->curg, __ATOMIC_ACQUIRE);
    if (!gp || GORT__RELAXED_LOAD(mp->insyscall))
        return;
    atomic_store(&gp->preempt, true);
    GORT__RELAXED_STORE(gort__preempt_pending, 1);
    if (!async_ok)
        return;
    /* A thread found computing is signalled without another look for
     * 10 ms (one /proc read per slice, not per sysmon round). */
    if (pp->sm_runwhen != 0 && now - pp->sm_runwhen < 10 * GORT_MS) {
        signal_m(mp, PREEMPT_YIELD);
        return;
    }
    long nr;
    uintptr_t args[6];
    if (read_syscall(mp->procid, &nr, args) == 1) {
        pp->sm_runwhen = 0;
        request_rescue(mp, nr, args);
        return;
    }
    pp->sm_runwhen = now;
    signal_m(mp, PREEMPT_YIELD);
}

/* Reads /proc/self/task/tid/syscall: 1 and nr/args if the thread sleeps
 * in a system call, 0 if not, -1 if unreadable. */
static int read_syscall(pid_t tid, long *nr, uintptr_t args[6])
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    if (strncmp(buf, "running", 7) == 0)
        return 0;
    char *p = buf, *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 0)
        return 0;
    *nr = v;
    p = end;
    for (int i = 0; i < 6; i++) {
        unsigned long long a = strtoull(p, &end, 16);
        if (end == p)
            return 0;
        args[i] = (uintptr_t)a;
        p = end;
    }
    return 1;
}

static bool rescuable(long nr)
{
    switch (nr) {
    case SYS_futex:
#ifdef SYS_futex_waitv
    case SYS_futex_waitv:
#endif
    case SYS_mmap: case SYS_munmap: case SYS_mprotect: case SYS_madvise:
    case SYS_mremap: case SYS_brk:
#ifdef SYS_process_madvise
    case SYS_process_madvise:
#endif
    case SYS_clone:
#ifdef SYS_clone3
    case SYS_clone3:
#endif
    case SYS_rt_sigreturn: case SYS_exit: case SYS_exit_group:
        return false;
    default:
        return true;
    }
}

static bool rescue_calibrated(void)
{
    return rescue_state > 0;
}

typedef struct calib {
    _Atomic pid_t tid;
    _Atomic uint32_t word;      /* 0 while the thread is to sleep */
} calib;

static void *calib_thread(void *arg)
{
    calib *c = arg;
    atomic_store_explicit(&c->tid, (pid_t)syscall(SYS_gettid),
                          memory_order_release);
    while (atomic_load_explicit(&c->word, memory_order_acquire) == 0)
        gort__futexsleep(&c->word, 0, -1);
    return NULL;
}

/* sysmon, before its first round: is /proc/self/task/TID/syscall to be
 * trusted?  A thread of ours asleep in a futex wait on a word of ours must
 * show SYS_futex with that word's address.  (No descriptor is taken: a
 * program that fills its descriptor table early must not see slots freed
 * behind its back; no cancellation either, which would dlopen libgcc_s.)
 * No file (a sandbox), or another number (qemu-user shows the host's): no
 * rescues. */
void gort__preempt_calibrate(void)
{
    calib c = {.tid = 0, .word = 0};
    pthread_t t;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = gort__pthread_create(&t, NULL, calib_thread, &c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        rescue_state = -1;
        return;
    }
    int state = -1;     /* stays so for another number (qemu-user) */
    for (int i = 0; i < 2000; i++) {
        pid_t tid = atomic_load_explicit(&c.tid, memory_order_acquire);
        if (tid) {
            long nr;
            uintptr_t args[6];
            int r = read_syscall(tid, &nr, args);
            if (r < 0)
                break;
            if (r == 1) {
                if (nr == SYS_futex && args[0] == (uintptr_t)&c.word)
                    state = 1;
                break;
            }
        }
        gort__usleep(100);
    }
    atomic_store_explicit(&c.word, 1, memory_order_release);
    gort__futexwakeup(&c.word, 1);
    pthread_join(t, NULL);
    rescue_state = state;
}

/* sysmon: pp's goroutine has not switched for a while; if its thread is
 * asleep in a system call gort would not make, rescue it. */
void gort__rescue_probe(struct p *pp)
{
    if (!async_ok || !rescue_calibrated())
        return;
    struct m *mp = __atomic_load_n(&pp->m, __ATOMIC_ACQUIRE);
    if (!mp || GORT__RELAXED_LOAD(mp->insyscall))
        return;
    struct g *gp = __atomic_load_n(&mp->curg, __ATOMIC_ACQUIRE);
    if (!gp)
        return;
    long nr;
    uintptr_t args[6];
    if (read_syscall(mp->procid, &nr, args) == 1)
        request_rescue(mp, nr, args);
}

/* ------------------------------------------------------------------------ */
/* The handler's side (on the M's signal stack)                             */
/* ------------------------------------------------------------------------ */

#if defined(__x86_64__)
#define CTX_PC(uc) ((uintptr_t)(uc)->uc_mcontext.gregs[REG_RIP])
#define CTX_SP(uc) ((uintptr_t)(uc)->uc_mcontext.gregs[REG_RSP])
#define CTX_FP(uc) ((uintptr_t)(uc)->uc_mcontext.gregs[REG_RBP])
/* The kernel's rt_sigframe starts with the restorer address, 8 bytes
 * before the ucontext the handler is given. */
#define FRAME_HEAD 8
#define RED_ZONE 128
#elif defined(__aarch64__)
#define CTX_PC(uc) ((uintptr_t)(uc)->uc_mcontext.pc)
#define CTX_SP(uc) ((uintptr_t)(uc)->uc_mcontext.sp)
#define CTX_FP(uc) ((uintptr_t)(uc)->uc_mcontext.regs[29])
/* rt_sigframe: the siginfo, then the ucontext. */
#define FRAME_HEAD sizeof(siginfo_t)
#define RED_ZONE 0
#else
#define CTX_PC(uc) ((uintptr_t)0)
#define CTX_SP(uc) ((uintptr_t)0)
#define CTX_FP(uc) ((uintptr_t)0)
#define FRAME_HEAD 0
#define RED_ZONE 0
#endif

/* Room the redirection needs below the interrupted sp: the frame copy
 * (x86_64 with AVX-512: ~3.5 KiB) and the C code the trampoline calls. */
#define PREEMPT_ROOM (24 * 1024)

/* Copies the signal frame below sp (past the red zone) and points the
 * live context at gort__sigtramp(fn, copy) on the goroutine's stack. */
static void redirect(ucontext_t *uc, void (*fn)(void *))
{
    uintptr_t sp = CTX_SP(uc) - RED_ZONE;
    char *frame = (char *)uc - FRAME_HEAD;
    size_t len = FRAME_HEAD + sizeof(ucontext_t);
#if defined(__x86_64__)
    /* The FP/vector area the frame points to. */
    char *fp = (char *)uc->uc_mcontext.fpregs;
    size_t fplen = 0;
    if (fp) {
        uint32_t magic, ext;
        memcpy(&magic, fp + 464, 4);
        memcpy(&ext, fp + 468, 4);
        fplen = magic == 0x46505853u ? ext : 512;
        sp = (sp - fplen) & ~(uintptr_t)63;
        memcpy((void *)sp, fp, fplen);
    }
    uintptr_t fpcopy = sp;
#endif
    sp = (sp - len) & ~(uintptr_t)63;
    memcpy((void *)sp, frame, len);
    uintptr_t copy = sp;
#if defined(__x86_64__)
    if (fp)
        ((ucontext_t *)(copy + FRAME_HEAD))->uc_mcontext.fpregs =
            (fpregset_t)fpcopy;
    sp = copy - 64;         /* 16-byte aligned below the copy */
    uc->uc_mcontext.gregs[REG_RSP] = (greg_t)sp;
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)gort__sigtramp;
    uc->uc_mcontext.gregs[REG_RDI] = (greg_t)copy;
    uc->uc_mcontext.gregs[REG_RSI] = (greg_t)(uintptr_t)fn;
    uc->uc_mcontext.gregs[REG_RBP] = 0;    /* ends frame-pointer walks */
#elif defined(__aarch64__)
    sp = copy - 64;
    uc->uc_mcontext.sp = sp;
    uc->uc_mcontext.pc = (uintptr_t)gort__sigtramp;
    uc->uc_mcontext.regs[0] = copy;
    uc->uc_mcontext.regs[1] = (uintptr_t)fn;
    uc->uc_mcontext.regs[29] = 0;
#else
    (void)fn;
#endif
}

static ucontext_t *frame_uc(void *frame)
{
    return (ucontext_t *)((char *)frame + FRAME_HEAD);
}

void gort__sigframe_regs(void *frame, uintptr_t *pc, uintptr_t *fp)
{
    ucontext_t *uc = frame_uc(frame);
    *pc = CTX_PC(uc);
    *fp = CTX_FP(uc);
}

/* A preempted goroutine yields to the global queue, behind the others
 * (Go's gopreempt_m); dumps show it as "preempted" meanwhile. */
static void preempt_yield(struct g *gp, bool async)
{
    struct p *pp = gort__getm()->p;
    gort__count(async ? &pp->npreempt_async : &pp->npreempt_coop);
    GORT_TRACE(TEV_PREEMPT, pp->id, gp->goid, async, 0);
    gp->waitreason = waitReasonPreempted;
    gort__gswitch(ACT_YIELD_GLOBAL);
    gp->waitreason = waitReasonZero;
}

/* Called by gort__sigtramp on the goroutine's stack. */
GORT_INTERNAL void gort__asyncpreempt2(void *frame);
void gort__asyncpreempt2(void *frame)
{
    struct m *mp = gort__getm();
    struct g *gp = mp->curg;
    bool wired = gort__wire(mp, gp);
    gp->sigframe = frame;   /* dumps unwind through it (traceback.c) */
    preempt_yield(gp, true);
    gp->sigframe = NULL;
    if (wired)
        gort__unwire(gp);
}

/* The cooperative slow path (gort_preempt_point and gort calls). */
void gort__preempt_slow(void)
{
    struct m *mp = gort__getm();
    if (!mp || !mp->curg || !mp->p || mp->insyscall)
        return;
    struct g *gp = mp->curg;
    if (atomic_load_explicit(&gp->preempt, memory_order_relaxed))
        preempt_yield(gp, false);
}

/* Leaves a rescued system call (syscall.c). */
GORT_INTERNAL void gort__exitsyscall_rescued(struct m *mp, struct g *gp);

GORT_INTERNAL void gort__rescue_run(void *frame);
void gort__rescue_run(void *frame)
{
    struct m *mp = gort__getm();
    struct g *gp = mp->curg;
    ucontext_t *uc = frame_uc(frame);
    uintptr_t *a = mp->rescue_args;
    int saved = errno;
    long r = syscall(mp->rescue_nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    long raw = r == -1 ? -(long)errno : r;
    errno = saved;
#if defined(__x86_64__)
    uc->uc_mcontext.gregs[REG_RAX] = (greg_t)raw;
#elif defined(__aarch64__)
    uc->uc_mcontext.regs[0] = (uintptr_t)raw;
#else
    (void)uc;
    (void)raw;
#endif
    gort__exitsyscall_rescued(mp, gp);
}

/* In the handler: is the thread still at the system call sysmon saw?
 * Then hand its P off and redirect it through gort__rescue_run. */
static bool try_rescue(struct m *mp, struct g *gp, ucontext_t *uc)
{
    uintptr_t pc = CTX_PC(uc);
    uintptr_t *a = mp->rescue_args;
    uintptr_t resume;
    uintptr_t sp = CTX_SP(uc);
    if (sp < gp->stack.lo + PREEMPT_ROOM || sp > gp->stack.hi ||
        pc_is_gort(pc))
        return false;
#if defined(__x86_64__)
    greg_t *r = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)pc;
    if ((uintptr_t)r[REG_RDI] != a[0] || (uintptr_t)r[REG_RSI] != a[1] ||
        (uintptr_t)r[REG_RDX] != a[2] || (uintptr_t)r[REG_R10] != a[3] ||
        (uintptr_t)r[REG_R8] != a[4] || (uintptr_t)r[REG_R9] != a[5])
        return false;
    if (ip[0] == 0x0f && ip[1] == 0x05 && r[REG_RAX] == mp->rescue_nr)
        resume = pc + 2;            /* rewound for a restart */
    else if (ip[-2] == 0x0f && ip[-1] == 0x05 && r[REG_RAX] == -EINTR)
        resume = pc;                /* returned EINTR: re-issue */
    else
        return false;
    r[REG_RIP] = (greg_t)resume;
#elif defined(__aarch64__)
    uint64_t *x = (uint64_t *)uc->uc_mcontext.regs;
    const uint32_t svc = 0xd4000001u;
    if ((long)x[8] != mp->rescue_nr || x[1] != a[1] || x[2] != a[2] ||
        x[3] != a[3] || x[4] != a[4] || x[5] != a[5])
        return false;
    if (*(const uint32_t *)pc == svc && x[0] == a[0])
        resume = pc + 4;
    else if (*(const uint32_t *)(pc - 4) == svc && (long)x[0] == -EINTR)
        resume = pc;
    else
        return false;
    uc->uc_mcontext.pc = resume;
#else
    (void)a;
    (void)pc;
    (void)resume;
    return false;
#endif
    /* gort_syscall_enter's bookkeeping, lazily (Go's entersyscall): the
     * P stays ours in _Psyscall until sysmon retakes it. */
    struct p *pp = mp->p;
    mp->syscalltick = pp->syscalltick;
    mp->oldp = pp;
    GORT__RELAXED_STORE(mp->insyscall, 1);
    gp->rescued = true;
    gp->syscallpc = pc + 1;     /* an exact pc, stored as a return address */
    gp->syscallfp = CTX_FP(uc);
    gp->waitsince = atomic_load_explicit(&gort__coarse.now, memory_order_relaxed);
    atomic_store_explicit(&gp->status, _Gsyscall, memory_order_relaxed);
    __atomic_store_n(&pp->m, NULL, __ATOMIC_RELAXED);
    mp->p = NULL;
    atomic_store_explicit(&pp->status, _Psyscall, memory_order_release);
    redirect(uc, gort__rescue_run);
    return true;
}

void gort__sigurg(int sig, void *info_, void *ctx)
{
    (void)sig;
    (void)info_;
    int saved = errno;
    struct m *mp = gort__getm();
    if (!mp)
        goto out;
    uint32_t req = atomic_exchange(&mp->preemptreq, 0);
    atomic_store(&mp->signalpending, 0);
    if (req & PREEMPT_DUMP)
        gort__dump_capture(mp, ctx);
    struct g *gp = mp->curg;
    /* nopreempt: in a call out of gort (the allocator...) that may hold a
     * runtime lock; whatever the PC, no safe point, and no rescue. */
    if (!gp || !mp->p || mp->insyscall || !async_ok ||
        atomic_load_explicit(&mp->nopreempt, memory_order_relaxed) != 0 ||
        atomic_load_explicit(&gp->status, memory_order_relaxed) != _Grunning)
        goto out;
    ucontext_t *uc = ctx;
    if ((req & PREEMPT_RESCUE) && try_rescue(mp, gp, uc))
        goto out;
    if (!(req & PREEMPT_YIELD) ||
        !atomic_load_explicit(&gp->preempt, memory_order_relaxed))
        goto out;
    uintptr_t pc = CTX_PC(uc), sp = CTX_SP(uc);
    if (sp < gp->stack.lo + PREEMPT_ROOM || sp > gp->stack.hi ||
        !pc_is_user(pc))
        goto out;   /* not a safe point: sysmon asks again */
    redirect(uc, gort__asyncpreempt2);
out:
    errno = saved;
}

