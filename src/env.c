/*
 * env.c — the environment variables gort reads once, at start-up:
 *
 *   GORTMAXPROCS=n    number of Ps (1..1024); default: CPUs we may run on
 *   GORTSTACK=size    default goroutine stack size: bytes, or with a k/m/g
 *                     suffix (GORT_STACK_MIN..GORT_STACK_MAX)
 *   GORTTRACE=file    write an execution trace (Chrome trace-event JSON,
 *                     for Perfetto; trace.c) from start-up to exit
 *   GORTDEBUG=k=v,... runtime knobs (unknown keys are ignored, as Go does):
 *       stackguard=madvise|mprotect|canary   force a stack guard mode
 *       stackbatch=0        ready fresh stacks one madvise at a time, as on
 *                           kernels without process_madvise(PIDFD_SELF)
 *       asyncpreemptoff=1   no signal-based preemption (cooperative only)
 *       runnextcas=1        the owner takes runnext with a CAS, as thieves
 *                           do (no membarrier; runq.h)
 *       schedtrace=MS       sysmon prints Go's SCHED line every MS ms
 *       scheddetail=1       ... with Go's P, M and G lines
 *
 * A malformed value is reported once on stderr and ignored, never fatal:
 * the program runs with the default.
 */
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gort__debugvars gort__debug;

static void warn_ignored(const char *name, const char *val)
{
    fprintf(stderr, "gort: ignoring malformed %s=%s\n", name, val);
}

static bool parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return false;
    unsigned long long mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024ULL; end++; break;
    case 'm': case 'M': mul = 1024ULL * 1024; end++; break;
    case 'g': case 'G': mul = 1024ULL * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end != '\0' || v > (unsigned long long)SIZE_MAX / mul)
        return false;
    *out = (size_t)(v * mul);
    return true;
}

static void parse_gortdebug(const char *s)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    char *save = NULL;
    for (char *kv = strtok_r(buf, ",", &save); kv;
         kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *k = kv, *v = eq + 1;
        if (strcmp(k, "stackguard") == 0) {
            if (strcmp(v, "madvise") == 0)
                gort__debug.guard = STK_GUARD_MADV;
            else if (strcmp(v, "mprotect") == 0)
                gort__debug.guard = STK_GUARD_MPROT;
            else if (strcmp(v, "canary") == 0)
                gort__debug.guard = STK_CANARY;
            else
                warn_ignored("GORTDEBUG stackguard", v);
        } else if (strcmp(k, "stackbatch") == 0) {
            gort__debug.stackbatchoff = atoi(v) == 0;
        } else if (strcmp(k, "asyncpreemptoff") == 0) {
            gort__debug.asyncpreemptoff = atoi(v) != 0;
        } else if (strcmp(k, "runnextcas") == 0) {
            gort__debug.runnextcas = atoi(v) != 0;
        } else if (strcmp(k, "schedtrace") == 0) {
            gort__debug.schedtrace = atoi(v);
        } else if (strcmp(k, "scheddetail") == 0) {
            gort__debug.scheddetail = atoi(v);
        }
    }
}

void gort__parse_env(void)
{
    const char *v;
    if ((v = getenv("GORTMAXPROCS")) != NULL && *v) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end == '\0' && n >= 1 && n <= GORT_MAXPROCS_MAX)
            gort__debug.maxprocs = (int)n;
        else
            warn_ignored("GORTMAXPROCS", v);
    }
    if ((v = getenv("GORTSTACK")) != NULL && *v) {
        size_t sz;
        if (parse_size(v, &sz) && sz >= GORT_STACK_MIN && sz <= GORT_STACK_MAX)
            gort__debug.stacksize = sz;
        else
            warn_ignored("GORTSTACK", v);
    }
    if ((v = getenv("GORTTRACE")) != NULL && *v)
        gort__debug.tracefile = v;
    if ((v = getenv("GORTDEBUG")) != NULL && *v)
        parse_gortdebug(v);
}
