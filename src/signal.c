/*
 * signal.c — the runtime's signal handling: every M runs its handlers on
 * its own alternate signal stack (goroutine stacks may be exhausted, and
 * a guard-page hit must still be reportable), and SIGSEGV/SIGBUS on a
 * goroutine's guard page becomes "fatal error: stack overflow" with the
 * goroutine's id and backtrace instead of a bare crash.  Faults that are
 * not stack overflows are passed to the handler that was installed before
 * gort (or the default action), so the program dies as it would have.
 *
 * SIGQUIT, unless the program had its own handler when gort started,
 * prints every goroutine and exits 2, as Go does (traceback.c).
 *
 * A fault while gort__probe_jmp is set (the goroutine dumper reading a
 * stack that may be unmapped under it) jumps back to the dumper.
 */
#include "runtime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

static struct sigaction old_segv, old_bus, old_urg;
__thread sigjmp_buf *gort__probe_jmp;
static size_t altsz;
static sigset_t initsigmask;    /* the mask of the thread that started us */

static void forward(int sig, siginfo_t *info, void *ctx)
{
    struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
    if (old->sa_flags & SA_SIGINFO) {
        if (old->sa_sigaction) {
            old->sa_sigaction(sig, info, ctx);
            return;
        }
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    /* Default action: reinstall it and return; the fault repeats. */
    signal(sig, SIG_DFL);
}

static uintptr_t context_sp(void *ctx)
{
    ucontext_t *uc = ctx;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.sp;
#else
    (void)uc;
    return 0;
#endif
}

static void fault_handler(int sig, siginfo_t *info, void *ctx)
{
    sigjmp_buf *probe = gort__probe_jmp;
    if (probe) {
        gort__probe_jmp = NULL;
        siglongjmp(*probe, 1);
    }
    if (gort__dying()) {
        /* The report of a fatal error faulted (say, unwinding a smashed
         * stack): what was printed stands; exit as the report would. */
        gort__write_str(2, "\n[the backtrace faulted]\n");
        gort__exit2();
    }
    struct m *mp = gort__getm();
    struct g *gp = mp ? mp->curg : NULL;
    if (gp && gp->stack.lo) {
        uintptr_t a = (uintptr_t)info->si_addr;
        uintptr_t sp = context_sp(ctx);
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        /* The guard page, or just below it for a frame that jumped it;
         * or (canary stacks, no guard) a stack pointer already below
         * the stack (by up to 64 MiB), that ran through whatever lay
         * beneath before it hit something unmapped. */
        if ((a < gp->stack.lo && a + 64 * page >= gp->stack.lo) ||
            (sp != 0 && sp < gp->stack.lo && gp->stack.lo - sp < ((uintptr_t)64 << 20))) {
            char buf[128];
            snprintf(buf, sizeof buf,
                     "runtime: goroutine stack exceeds %zu-byte limit\n",
                     (size_t)(gp->stack.hi - gp->stack.lo));
            gort__write_str(2, buf);
            gort__fatal("stack overflow");
        }
    }
    forward(sig, info, ctx);
}

/* Our SIGURGs come from tgkill by this process (sysmon); anything else
 * (out-of-band data, kill -URG) goes to the handler installed before us. */
static void urg_handler(int sig, siginfo_t *info, void *ctx)
{
    if (info && info->si_code == SI_TKILL && info->si_pid == getpid()) {
        gort__sigurg(sig, info, ctx);
        return;
    }
    if (old_urg.sa_flags & SA_SIGINFO) {
        if (old_urg.sa_sigaction)
            old_urg.sa_sigaction(sig, info, ctx);
    } else if (old_urg.sa_handler != SIG_DFL && old_urg.sa_handler != SIG_IGN) {
        old_urg.sa_handler(sig);
    }
}

static void quit_handler(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    int saved = errno;
    gort__sigquit(info, ctx);
    errno = saved;
}

void gort__signal_init(void)
{
    pthread_sigmask(SIG_SETMASK, NULL, &initsigmask);
    long sz = sysconf(_SC_SIGSTKSZ);
    altsz = (size_t)(sz > 0 ? sz : SIGSTKSZ);
    if (altsz < 256 * 1024)
        altsz = 256 * 1024; /* room for a DWARF-symbolized backtrace */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);

    /* SIGURG: asynchronous preemption (preempt.c).  SA_RESTART so that
     * slow calls interrupted by it restart where the kernel can. */
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = urg_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigfillset(&sa.sa_mask);
    sigaction(SIGURG, &sa, &old_urg);
    sigdelset(&initsigmask, SIGURG);

    /* SIGQUIT: Go's goroutine dump, unless the program handles it.  An
     * inherited SIG_IGN is overridden, as Go does (a shell starts
     * background jobs with SIGQUIT ignored). */
    struct sigaction oq;
    if (sigaction(SIGQUIT, NULL, &oq) == 0 && !(oq.sa_flags & SA_SIGINFO) &&
        (oq.sa_handler == SIG_DFL || oq.sa_handler == SIG_IGN)) {
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = quit_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
        sigfillset(&sa.sa_mask);
        sigaction(SIGQUIT, &sa, NULL);
    }
}

void gort__minit(struct m *mp)
{
    (void)mp;
    stack_t ss;
    void *mem = gort__mmap(NULL, altsz, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem != MAP_FAILED) {
        ss.ss_sp = mem;
        ss.ss_size = altsz;
        ss.ss_flags = 0;
        sigaltstack(&ss, NULL);
        pthread_sigmask(SIG_SETMASK, &initsigmask, NULL);
        return;
    }
    /* No signal stack: the handlers would run on the goroutine's stack.
     * SIGURG stays blocked (asynchronous preemption rewrites the
     * interrupted stack below its pointer, where the handler's own frame
     * would then be: this M's goroutines are preempted cooperatively
     * only), but the faults are unblocked: the thread starts with every
     * signal blocked, and a fault while SIGSEGV is blocked kills the
     * process with no report (a guard-page hit, say). */
    sigset_t set = initsigmask;
    sigaddset(&set, SIGURG);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
}

void gort__unminit(struct m *mp)
{
    (void)mp;
    stack_t ss, old;
    memset(&ss, 0, sizeof ss);
    ss.ss_flags = SS_DISABLE;
    if (sigaltstack(&ss, &old) == 0 && old.ss_sp)
        gort__munmap(old.ss_sp, old.ss_size);
}
