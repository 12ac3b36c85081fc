/*
 * soak.c — minutes of mixed load on 1, 2, 4 and 8 Ps (make soak; not part
 * of make test).
 *
 *   soak [SECONDS_PER_P_COUNT]        (default: $SOAK_SECONDS, else 60)
 *
 * For each P count, one gort_run repeats rounds until its time is up.  A
 * round:
 *   - PRODUCERS goroutines send the ids [0, IDS) between them, alternating
 *     an unbuffered and a buffered channel, now and then sleeping, now and
 *     then spawning a helper goroutine that sends its id for them;
 *   - CONSUMERS goroutines select over both channels and a timeout
 *     (gort_after), count each id they receive in seen[] and add it to a
 *     sum under a gort_mutex; every 61st id they panic inside a gort_try
 *     (with a deferred call that must run) or inside a gort_scope whose
 *     deferred call recovers;
 *   - once every producer and helper is done (a WaitGroup), main closes
 *     both channels; the consumers drain them and leave.
 * Then main checks: every id seen exactly once (lost / duplicated), the
 * sum, the panics recovered and the defers run, and that the goroutine
 * count returns to 1 (main alone) within a second.  RSS is sampled after
 * every round: "start" after the first round, "plateau" the highest value
 * over the first half of the rounds, "end" after the last; a leak is an
 * end above the plateau by more than 25% + 16 MiB.
 *
 * One summary line per P count and a total, and exit status 1 on any
 * violation.
 */
#include <gort.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRODUCERS 8
#define CONSUMERS 8
#define IDS 20000
#define PANIC_EVERY 61
#define SPAWN_EVERY 97
#define SLEEP_EVERY 499

struct round {
    gort_chan *unbuf, *buf;
    gort_waitgroup prod;        /* producers and their helpers */
    gort_waitgroup cons;
    gort_mutex mu;
    uint64_t sum;               /* under mu */
    _Atomic uint8_t seen[IDS];
    _Atomic int64_t panics, recovers, defers, timeouts, ops;
};

static struct {
    int64_t ops, lost, dup, badsum, badpanic, leakedg, rounds;
} tot;

static long rss_kib(void)
{
    long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

struct helper {
    struct round *r;
    int id;
};

static void send_id(struct round *r, int id)
{
    gort_chan_send((id & 1) ? r->buf : r->unbuf, &id);
    atomic_fetch_add(&r->ops, 1);
}

static void helper(void *arg)
{
    struct helper h = *(struct helper *)arg;
    free(arg);
    send_id(h.r, h.id);
    gort_waitgroup_done(&h.r->prod);
}

struct prodarg {
    struct round *r;
    int which;
};

static void producer(void *arg)
{
    struct prodarg *pa = arg;
    struct round *r = pa->r;
    for (int id = pa->which; id < IDS; id += PRODUCERS) {
        if (id % SPAWN_EVERY == 0) {
            struct helper *h = malloc(sizeof *h);
            if (!h)
                abort();
            h->r = r;
            h->id = id;
            gort_waitgroup_add(&r->prod, 1);
            if (gort_go(helper, h) < 0) {
                perror("gort_go");
                exit(1);
            }
            atomic_fetch_add(&r->ops, 1);
            continue;
        }
        if (id % SLEEP_EVERY == 0)
            gort_sleep((id % 5) * 20 * GORT_US);
        send_id(r, id);
    }
    gort_waitgroup_done(&r->prod);
}

static void count_defer(void *arg)
{
    atomic_fetch_add(&((struct round *)arg)->defers, 1);
}

static void do_panic(void *arg)
{
    gort_scope {
        gort_defer(count_defer, arg);
        gort_panic("soak panic");
    }
}

static void recoverer(void *arg)
{
    if (gort_recover())
        atomic_fetch_add(&((struct round *)arg)->recovers, 1);
}

static void panic_recovered_in_scope(struct round *r)
{
    gort_scope {
        gort_defer(recoverer, r);
        gort_defer(count_defer, r);
        gort_panic("soak panic %d", 2);
    }
}

static void got(struct round *r, int id)
{
    atomic_fetch_add(&r->seen[id], 1);
    gort_mutex_lock(&r->mu);
    r->sum += (uint64_t)id;
    gort_mutex_unlock(&r->mu);
    if (id % PANIC_EVERY == 0) {
        atomic_fetch_add(&r->panics, 1);
        if (id & 1) {
            gort_panic_info pi;
            if (!gort_try(do_panic, r, &pi))
                atomic_fetch_add(&r->recovers, 1);
        } else {
            panic_recovered_in_scope(r);
        }
    }
    atomic_fetch_add(&r->ops, 1);
}

static void consumer(void *arg)
{
    struct round *r = arg;
    bool open_u = true, open_b = true;
    while (open_u || open_b) {
        int a, b;
        gort_case cs[3] = {
            {open_u ? r->unbuf : NULL, GORT_RECV, &a, false},
            {open_b ? r->buf : NULL, GORT_RECV, &b, false},
            {gort_after(2 * GORT_MS), GORT_RECV, NULL, false},
        };
        int i = gort_select(cs, 3, 0);
        if (i == 0 || i == 1) {
            if (!cs[i].ok) {
                *(i == 0 ? &open_u : &open_b) = false;
                continue;
            }
            got(r, i == 0 ? a : b);
        } else if (i == 2) {
            atomic_fetch_add(&r->timeouts, 1);
        } else {
            perror("gort_select");
            exit(1);
        }
    }
    gort_waitgroup_done(&r->cons);
}

static int run_round(void)
{
    struct round *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->unbuf = gort_chan_make(sizeof(int), 0);
    r->buf = gort_chan_make(sizeof(int), 16);
    struct prodarg pa[PRODUCERS];
    gort_waitgroup_add(&r->cons, CONSUMERS);
    for (int i = 0; i < CONSUMERS; i++)
        if (gort_go(consumer, r) < 0)
            abort();
    gort_waitgroup_add(&r->prod, PRODUCERS);
    for (int i = 0; i < PRODUCERS; i++) {
        pa[i] = (struct prodarg){r, i};
        if (gort_go(producer, &pa[i]) < 0)
            abort();
    }
    gort_waitgroup_wait(&r->prod);
    gort_chan_close(r->unbuf);
    gort_chan_close(r->buf);
    gort_waitgroup_wait(&r->cons);

    int bad = 0;
    int64_t lost = 0, dup = 0;
    uint64_t want = 0;
    for (int id = 0; id < IDS; id++) {
        uint8_t n = atomic_load(&r->seen[id]);
        lost += n == 0;
        dup += n > 1;
        want += (uint64_t)id;
    }
    int64_t npanic = atomic_load(&r->panics);
    tot.lost += lost;
    tot.dup += dup;
    if (r->sum != want) {
        tot.badsum++;
        bad = 1;
    }
    /* Each panic runs one counted defer and is recovered once. */
    if (atomic_load(&r->recovers) != npanic || atomic_load(&r->defers) != npanic) {
        tot.badpanic++;
        bad = 1;
    }
    tot.ops += atomic_load(&r->ops) + atomic_load(&r->timeouts) + 2 * npanic;
    /* Finished goroutines leave the count as they switch away: give the
     * last ones a moment. */
    int64_t ng = 0;
    for (int i = 0; i < 1000; i++) {
        ng = gort_num_goroutine();
        if (ng == 1)
            break;
        gort_sleep(GORT_MS);
    }
    if (ng != 1) {
        tot.leakedg += ng - 1;
        bad = 1;
    }
    if (lost || dup || bad)
        fprintf(stderr, "soak: round %lld: lost=%lld duplicated=%lld sum %s "
                "panics %lld recovers %lld defers %lld goroutines %lld\n",
                (long long)tot.rounds, (long long)lost, (long long)dup,
                r->sum == want ? "ok" : "WRONG", (long long)npanic,
                (long long)atomic_load(&r->recovers),
                (long long)atomic_load(&r->defers), (long long)ng);
    gort_chan_free(r->unbuf);
    gort_chan_free(r->buf);
    free(r);
    tot.rounds++;
    return bad || lost || dup;
}

static double seconds;
static int violations;
static long rss_start, rss_plateau, rss_end;

static void soak_main(void *arg)
{
    (void)arg;
    int64_t t0 = gort_nanotime();
    int64_t until = t0 + (int64_t)(seconds * 1e9);
    int64_t half = t0 + (until - t0) / 2;
    bool first = true;
    do {
        violations += run_round();
        long rss = rss_kib();
        if (first)
            rss_start = rss;
        first = false;
        if (gort_nanotime() < half || rss_plateau == 0)
            rss_plateau = rss > rss_plateau ? rss : rss_plateau;
        rss_end = rss;
    } while (gort_nanotime() < until);
}

int main(int argc, char **argv)
{
    const char *env = getenv("SOAK_SECONDS");
    seconds = argc > 1 ? atof(argv[1]) : env ? atof(env) : 60;
    if (seconds <= 0)
        seconds = 60;
    static const int ps[] = {1, 2, 4, 8};
    int64_t all_ops = 0, all_lost = 0, all_dup = 0, all_leaked = 0;
    long first_start = 0, max_plateau = 0, last_end = 0;
    int64_t t0 = gort_nanotime();
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        memset(&tot, 0, sizeof tot);
        rss_start = rss_plateau = rss_end = 0;
        gort_maxprocs(ps[i]);
        int64_t s0 = gort_nanotime();
        if (gort_run(soak_main, NULL) != 0) {
            perror("gort_run");
            return 1;
        }
        double min = (double)(gort_nanotime() - s0) / 60e9;
        bool leak = rss_end > rss_plateau + rss_plateau / 4 + 16 * 1024;
        if (leak)
            violations++;
        printf("soak: Ps=%d minutes=%.2f rounds=%lld ops=%lld lost=%lld "
               "duplicated=%lld leaked goroutines=%lld bad sums=%lld "
               "bad panics=%lld RSS start/plateau/end=%ld/%ld/%ld KiB%s\n",
               ps[i], min, (long long)tot.rounds, (long long)tot.ops,
               (long long)tot.lost, (long long)tot.dup,
               (long long)tot.leakedg, (long long)tot.badsum,
               (long long)tot.badpanic, rss_start, rss_plateau, rss_end,
               leak ? " (GREW)" : "");
        fflush(stdout);
        all_ops += tot.ops;
        all_lost += tot.lost;
        all_dup += tot.dup;
        all_leaked += tot.leakedg;
        if (i == 0)
            first_start = rss_start;
        if (rss_plateau > max_plateau)
            max_plateau = rss_plateau;
        last_end = rss_end;
    }
    bool ok = violations == 0 && all_lost == 0 && all_dup == 0 && all_leaked == 0;
    printf("soak: %s: operations=%lld Ps=1,2,4,8 minutes=%.2f lost=%lld "
           "duplicated=%lld leaked goroutines=%lld "
           "RSS start/plateau/end=%ld/%ld/%ld KiB\n",
           ok ? "PASS" : "FAIL", (long long)all_ops,
           (double)(gort_nanotime() - t0) / 60e9, (long long)all_lost,
           (long long)all_dup, (long long)all_leaked, first_start,
           max_plateau, last_end);
    return ok ? 0 : 1;
}
