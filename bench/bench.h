/*
 * bench.h — helpers shared by the C workloads in bench/.
 *
 * Each workload is one program that runs its work once inside gort_run and
 * prints one line "RESULT <name> <value> <unit>" on stdout; bench/run.sh
 * runs it beside its Go twin in bench/go/<name>/ and compares medians.
 * Everything here is static: each bench/<name>.c is its own program.
 */
#ifndef GORT_BENCH_H
#define GORT_BENCH_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gort.h>

/* Wall-clock reference for every workload, read from the kernel's monotonic
 * clock rather than gort_nanotime so both languages are timed the same way. */
static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* argv[i] as a positive integer, def when absent; exits 2 on a bad value. */
static inline int64_t bench_arg(int argc, char **argv, int i, int64_t def)
{
    if (argc <= i)
        return def;
    char *end;
    errno = 0;
    long long v = strtoll(argv[i], &end, 10);
    if (errno != 0 || *end != '\0' || end == argv[i] || v <= 0) {
        fprintf(stderr, "%s: bad argument '%s'\n", argv[0], argv[i]);
        exit(2);
    }
    return (int64_t)v;
}

/* Resident set size in bytes: the second field of /proc/self/statm, in
 * pages.  Exits 1 when it cannot be read. */
static inline int64_t bench_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long size, resident;
    if (f == NULL || fscanf(f, "%lld %lld", &size, &resident) != 2) {
        fprintf(stderr, "cannot read /proc/self/statm\n");
        exit(1);
    }
    fclose(f);
    return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

/* gort_go, exiting with a message when the runtime refuses. */
static inline void bench_go(void (*fn)(void *), void *arg, int64_t i)
{
    if (gort_go(fn, arg) < 0) {
        int e = errno;
        fprintf(stderr, "gort_go failed at goroutine %" PRId64 ": %s\n", i,
                strerror(e));
        exit(1);
    }
}

/* gort_run, exiting with a message when the runtime cannot start. */
static inline void bench_run(void (*main_fn)(void *), void *arg)
{
    if (gort_run(main_fn, arg) != 0) {
        int e = errno;
        fprintf(stderr, "gort_run failed: %s\n", strerror(e));
        exit(1);
    }
}

#endif /* GORT_BENCH_H */
