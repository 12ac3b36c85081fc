/*
 * hoglat: preemption latency with one P.  Each of R rounds (default 21):
 * main starts a hog goroutine that spins in a loop with no call in it,
 * reading a flag with a relaxed atomic load, and then sleeps 1 ms.  The hog
 * holds the only P, so main runs again only once the hog is preempted:
 * sysmon finds it has run for 10 ms and stops it with a signal (SIGURG), no
 * gort_preempt_point needed.  The latency of a round is the time from just
 * before gort_go to main running again, less the 1 ms it asked to sleep;
 * then main sets the flag and joins the hog.  Reports the median latency
 * in ms.  Go's sysmon does the same (forcePreemptNS = 10 ms, async
 * preemption since Go 1.14); Go 1.19 measures 10-20 ms.
 * Go twin: bench/go/hoglat.
 *
 * One P whatever GORTMAXPROCS says (with two, main would run beside the
 * hog and measure nothing): bench_main calls gort_maxprocs(1), and run.sh
 * sets GORTMAXPROCS=GOMAXPROCS=1 for this workload.  A watchdog thread
 * ends the program with a message when a round takes more than 10 s (the
 * hog was never preempted), rather than leaving it hung.
 *
 *   usage: hoglat [R]
 */
#include <pthread.h>

#include "bench.h"

#define HOGLAT_MAX_ROUNDS 1000
#define HOGLAT_SLEEP_NS (1 * GORT_MS)
#define HOGLAT_WATCHDOG_NS (10 * GORT_SEC)

typedef struct {
    int64_t rounds;
    int stop;                   /* the hog spins until it is 1 */
    int64_t round_t0;           /* start of the round in progress, 0: none */
    int64_t round;
    gort_waitgroup wg;
    int64_t lat[HOGLAT_MAX_ROUNDS];
    double median_ms, min_ms, max_ms;
} hoglat_args;

static void hog(void *arg)
{
    hoglat_args *a = arg;
    while (__atomic_load_n(&a->stop, __ATOMIC_RELAXED) == 0)
        ;
    gort_waitgroup_done(&a->wg);
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static void bench_main(void *arg)
{
    hoglat_args *a = arg;
    gort_maxprocs(1);
    for (int64_t r = 0; r < a->rounds; r++) {
        __atomic_store_n(&a->stop, 0, __ATOMIC_RELAXED);
        gort_waitgroup_add(&a->wg, 1);
        int64_t t0 = bench_now_ns();
        __atomic_store_n(&a->round, r, __ATOMIC_RELAXED);
        __atomic_store_n(&a->round_t0, t0, __ATOMIC_RELEASE);
        bench_go(hog, a, r);
        gort_sleep(HOGLAT_SLEEP_NS);
        int64_t t1 = bench_now_ns();
        __atomic_store_n(&a->round_t0, 0, __ATOMIC_RELEASE);
        a->lat[r] = t1 - t0 - HOGLAT_SLEEP_NS;
        __atomic_store_n(&a->stop, 1, __ATOMIC_RELAXED);
        gort_waitgroup_wait(&a->wg);
    }
    qsort(a->lat, (size_t)a->rounds, sizeof a->lat[0], cmp_i64);
    int64_t n = a->rounds;
    double med = n % 2 ? (double)a->lat[n / 2]
                       : ((double)a->lat[n / 2 - 1] + (double)a->lat[n / 2]) / 2;
    a->median_ms = med / 1e6;
    a->min_ms = (double)a->lat[0] / 1e6;
    a->max_ms = (double)a->lat[n - 1] / 1e6;
}

/* A plain thread, not a goroutine: it must run while the hog holds the P. */
static void *watchdog(void *arg)
{
    hoglat_args *a = arg;
    for (;;) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        int64_t t0 = __atomic_load_n(&a->round_t0, __ATOMIC_ACQUIRE);
        if (t0 != 0 && bench_now_ns() - t0 > HOGLAT_WATCHDOG_NS) {
            fprintf(stderr,
                    "hoglat: round %" PRId64 ": main did not run again within "
                    "%d s: the hog was never preempted\n",
                    __atomic_load_n(&a->round, __ATOMIC_RELAXED) + 1,
                    (int)(HOGLAT_WATCHDOG_NS / GORT_SEC));
            _exit(1);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    static hoglat_args a;
    a.rounds = bench_arg(argc, argv, 1, 21);
    if (a.rounds > HOGLAT_MAX_ROUNDS) {
        fprintf(stderr, "%s: at most %d rounds\n", argv[0], HOGLAT_MAX_ROUNDS);
        return 2;
    }
    pthread_t wd;
    if (pthread_create(&wd, NULL, watchdog, &a) != 0) {
        fprintf(stderr, "hoglat: cannot start the watchdog thread\n");
        return 1;
    }
    pthread_detach(wd);
    bench_run(bench_main, &a);
    printf("hoglat: %" PRId64 " rounds, latency min %.3f median %.3f max %.3f ms\n",
           a.rounds, a.min_ms, a.median_ms, a.max_ms);
    printf("RESULT hoglat %.3f ms\n", a.median_ms);
    return 0;
}
