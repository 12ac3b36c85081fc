/*
 * freshpage: what the machine charges for a goroutine stack nobody has
 * used before, measured without gort.  It maps N slots of SLOT bytes (as
 * gort's stack pool does: one reservation, MAP_NORESERVE) and readies each
 * slot the way a fresh stack is readied, in one of these ways:
 *
 *   touch         one write into the slot's top page (a plain fault)
 *   populate      madvise(MADV_POPULATE_WRITE) on the top page, per slot
 *   guard+touch   MADV_GUARD_INSTALL on the bottom page, then the write;
 *                 guards through process_madvise, BATCH slots a call
 *   guard+populate  both through process_madvise, BATCH slots a call
 *                 (gort's way on Linux 6.15+: src/stack.c, prepare_batch)
 *
 * It prints the CPU time per slot of each way (one thread; the work is
 * the kernel's).  With the per-slot cost of the cheapest way that keeps a
 * guard page, a workload whose goroutines are all alive at once cannot
 * start its last goroutine before N * cost / CPUs has passed, whatever
 * the runtime does: docs/bench.md, "2026-12-08", uses this for sleepers.
 *
 *   cc -O2 tools/freshpage.c -o freshpage && ./freshpage [N [SLOT_KIB]]
 *   (make build/tools/freshpage builds it too)
 *
 * A way the kernel refuses (before Linux 6.13 for the guards, 6.15 for
 * process_madvise on oneself, 5.14 for MADV_POPULATE_WRITE) is reported
 * as such and skipped.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../src/madv.h"    /* the advice's numbers, nothing of gort */

enum { BATCH = 16, ROUNDS = 3 };

static long nslots;
static size_t slotsz, pagesz;

static double cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static char *top(char *base, long i)
{
    return base + (size_t)(i + 1) * slotsz - pagesz;
}

static char *bottom(char *base, long i)
{
    return base + (size_t)i * slotsz;
}

/* One process_madvise over slots [i, i+n): their bottoms or their tops. */
static int batch(char *base, long i, long n, int advice)
{
#ifdef SYS_process_madvise
    struct iovec v[BATCH];
    for (long k = 0; k < n; k++) {
        char *p = advice == MADV_GUARD_INSTALL ? bottom(base, i + k)
                                               : top(base, i + k);
        v[k] = (struct iovec){p, pagesz};
    }
    long r = syscall(SYS_process_madvise, PIDFD_SELF_PROCESS, v, (size_t)n,
                     advice, 0);
    return r == (long)(pagesz * (size_t)n) ? 0 : -1;
#else
    (void)base; (void)i; (void)n; (void)advice;
    errno = ENOSYS;
    return -1;
#endif
}

enum way { TOUCH, POPULATE, GUARD_TOUCH, GUARD_POPULATE, NWAYS };
static const char *const names[NWAYS] = {
    "touch", "populate", "guard+touch", "guard+populate",
};

/* Readies every slot of a fresh mapping one way; CPU ms, or -1. */
static double run(enum way w)
{
    size_t len = (size_t)nslots * slotsz;
    char *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        fprintf(stderr, "freshpage: mmap %zu bytes: %s\n", len, strerror(errno));
        exit(1);
    }
    double t0 = cpu_ms();
    int err = 0;
    for (long i = 0; i < nslots && !err; i += BATCH) {
        long n = nslots - i < BATCH ? nslots - i : BATCH;
        switch (w) {
        case TOUCH:
            for (long k = 0; k < n; k++)
                *(volatile char *)top(base, i + k) = 1;
            break;
        case POPULATE:
            for (long k = 0; k < n && !err; k++)
                err = madvise(top(base, i + k), pagesz, MADV_POPULATE_WRITE);
            break;
        case GUARD_TOUCH:
            err = batch(base, i, n, MADV_GUARD_INSTALL);
            for (long k = 0; k < n && !err; k++)
                *(volatile char *)top(base, i + k) = 1;
            break;
        case GUARD_POPULATE:
            err = batch(base, i, n, MADV_GUARD_INSTALL);
            if (!err)
                err = batch(base, i, n, MADV_POPULATE_WRITE);
            break;
        default:
            break;
        }
    }
    double ms = cpu_ms() - t0;
    int saved = errno;
    munmap(base, len);
    if (err) {
        printf("%-15s refused here (%s)\n", names[w], strerror(saved));
        return -1;
    }
    return ms;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    nslots = argc > 1 ? atol(argv[1]) : 100000;
    long kib = argc > 2 ? atol(argv[2]) : 256;
    pagesz = (size_t)sysconf(_SC_PAGESIZE);
    slotsz = (size_t)kib * 1024;
    if (nslots <= 0 || slotsz < 2 * pagesz || slotsz % pagesz != 0) {
        fprintf(stderr, "usage: freshpage [N [SLOT_KIB]] (N > 0; a slot of "
                        "at least two pages, whole pages)\n");
        return 2;
    }
    printf("%ld slots of %ld KiB, median of %d rounds, CPU time per slot\n",
           nslots, kib, ROUNDS);
    for (int w = 0; w < NWAYS; w++) {
        double ms[ROUNDS];
        int ok = 1;
        for (int r = 0; r < ROUNDS && ok; r++)
            ok = (ms[r] = run((enum way)w)) >= 0;
        if (!ok)
            continue;
        qsort(ms, ROUNDS, sizeof ms[0], cmp);
        printf("%-15s %8.1f ms  %6.2f us/slot\n", names[w], ms[ROUNDS / 2],
               ms[ROUNDS / 2] * 1e3 / (double)nslots);
    }
    return 0;
}
