/*
 * time.c — the runtime's clocks.  (Timers, sleep and the per-P timer heaps
 * arrive with the time/sysmon work.)
 */
#include "runtime.h"

#include <time.h>

int64_t gort_nanotime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * GORT_SEC + ts.tv_nsec;
}

