/*
 * arch-smoke.c — a standalone check of one architecture's switch.S, with
 * no scheduler behind it: `make arch-smoke` builds it natively and for
 * aarch64 (run under qemu-user) and runs both.
 *
 * Two contexts made by gort__makectx ping-pong through gort__swapctx
 * ROUNDS times, then hand back to main.  Across every switch each side
 * keeps many integer and double locals live (the compiler has to put them
 * in callee-saved registers) and checks them afterwards; the two sides
 * (and main) hold different values, so a register the switch failed to
 * save or restore shows up as a mismatch.  It also checks what a new
 * context starts with: the g argument, a 16-byte aligned stack, a null
 * caller frame pointer, the default rounding mode even when the creator
 * runs with another one, that the creator keeps its own rounding mode, that
 * makectx touched only the top few hundred bytes of the stack, and that
 * backtrace() stops at the goroutine entry instead of running off it.
 *
 * Exits 0 and prints "arch-smoke: ok (<arch>)" on success.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <execinfo.h>
#include <fenv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The switch's contract, as src/runtime.h declares it.  Declared here so
 * the program needs nothing but switch.S. */
struct g;
void gort__swapctx(void **save_sp, void *new_sp);
void *gort__makectx(uintptr_t hi, struct g *gp);
_Noreturn void gort__goentry(struct g *gp);

#define ROUNDS 1000
#define STACK_SIZE (64 * 1024)
#define TOUCH_MAX 256           /* makectx may touch this much of a stack */

struct ctx {
    void *sp;                   /* saved sp while switched out */
    struct ctx *peer;           /* the context it ping-pongs with */
    int id;                     /* 1 or 2 */
    long rounds;                /* switches it came back from */
    unsigned char *stack;
};

static void *main_sp;
static struct ctx ctxs[2];
static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "arch-smoke: %s:%d: check failed: %s\n",      \
                    __FILE__, __LINE__, #cond);                            \
            failures++;                                                    \
        }                                                                  \
    } while (0)

/* Makes v opaque: the compiler must hold its value in a register here
 * and cannot recompute it later (from base, say), so every value below
 * stays live across the call in a callee-saved register or a spill slot. */
#define OPAQUE(v) __asm__ volatile("" : "+r"(v))
#if defined(__aarch64__)
#define OPAQUE_D(v) __asm__ volatile("" : "+w"(v))
#elif defined(__x86_64__)
#define OPAQUE_D(v) __asm__ volatile("" : "+x"(v))
#else
#define OPAQUE_D(v) __asm__ volatile("" : "+m"(v))
#endif

/* Keeps 12 integers and 10 doubles live across fn(arg), then checks
 * them.  The values depend on base, so each caller holds its own. */
static __attribute__((noinline)) void
live_across(long base, void (*fn)(void *), void *arg)
{
    long a = base * 3, b = base * 5, c = base * 7, d = base * 11;
    long e = base * 13, f = base * 17, h = base * 19, i = base * 23;
    long j = base * 29, k = base * 31, l = base * 37, m = base * 41;
    double x = base * 1.5, y = base * 2.25, z = base * 3.125;
    double u = base * 4.0625, v = base * 5.5, w = base * 6.75;
    double p = base * 7.875, q = base * 8.5, r = base * 9.25;
    double t = base * 10.125;
    long base2 = base;                  /* base itself must survive too */
    OPAQUE(base2);
    OPAQUE(a); OPAQUE(b); OPAQUE(c); OPAQUE(d); OPAQUE(e); OPAQUE(f);
    OPAQUE(h); OPAQUE(i); OPAQUE(j); OPAQUE(k); OPAQUE(l); OPAQUE(m);
    OPAQUE_D(x); OPAQUE_D(y); OPAQUE_D(z); OPAQUE_D(u); OPAQUE_D(v);
    OPAQUE_D(w); OPAQUE_D(p); OPAQUE_D(q); OPAQUE_D(r); OPAQUE_D(t);

    fn(arg);

    if (base2 != base || a != base * 3 || b != base * 5 || c != base * 7 ||
        d != base * 11 || e != base * 13 || f != base * 17 ||
        h != base * 19 || i != base * 23 || j != base * 29 ||
        k != base * 31 || l != base * 37 || m != base * 41) {
        fprintf(stderr, "arch-smoke: integer callee-saved register lost "
                "(base %ld)\n", base);
        failures++;
    }
    if (x != base * 1.5 || y != base * 2.25 || z != base * 3.125 ||
        u != base * 4.0625 || v != base * 5.5 || w != base * 6.75 ||
        p != base * 7.875 || q != base * 8.5 || r != base * 9.25 ||
        t != base * 10.125) {
        fprintf(stderr, "arch-smoke: FP callee-saved register lost "
                "(base %ld)\n", base);
        failures++;
    }
}

static void switch_to_peer(void *arg)
{
    struct ctx *c = arg;
    gort__swapctx(&c->sp, c->peer->sp);
}

static void switch_to_ctx1(void *arg)
{
    (void)arg;
    gort__swapctx(&main_sp, ctxs[0].sp);
}

void gort__goentry(struct g *gp)
{
    struct ctx *c = (struct ctx *)gp;
    void **fp = __builtin_frame_address(0);

    CHECK(c == &ctxs[0] || c == &ctxs[1]);
    CHECK(((uintptr_t)fp & 15) == 0);
    CHECK(fp[0] == NULL);               /* caller's frame pointer is null */
    CHECK((unsigned char *)fp > c->stack &&
          (unsigned char *)fp < c->stack + STACK_SIZE);
    CHECK(fegetround() == FE_TONEAREST); /* default FP control state */

    void *pcs[64];
    int n = backtrace(pcs, 64);         /* must stop at the entry */
    CHECK(n >= 1 && n < 8);

    for (int i = 0; i < ROUNDS; i++) {
        live_across(1000 * c->id + i, switch_to_peer, c);
        c->rounds++;
    }
    if (c->id == 1)                     /* let ctx 2 finish its last round */
        gort__swapctx(&c->sp, c->peer->sp);
    gort__swapctx(&c->sp, main_sp);     /* ctx 2 returns to main */
    fprintf(stderr, "arch-smoke: a finished context was resumed\n");
    abort();
}

int main(void)
{
    for (int i = 0; i < 2; i++) {
        struct ctx *c = &ctxs[i];
        c->id = i + 1;
        c->peer = &ctxs[1 - i];
        c->stack = malloc(STACK_SIZE);
        if (c->stack == NULL)
            return 1;
        memset(c->stack, 0xa5, STACK_SIZE);
        /* An unaligned top: makectx must align it down itself. */
        c->sp = gort__makectx((uintptr_t)(c->stack + STACK_SIZE - 8),
                              (struct g *)c);
        CHECK(((uintptr_t)c->sp & 15) == 0);
        size_t lo = 0;
        while (lo < STACK_SIZE && c->stack[lo] == 0xa5)
            lo++;
        CHECK(STACK_SIZE - lo <= TOUCH_MAX);
        CHECK((unsigned char *)c->sp >= c->stack + lo);
    }

    /* Main runs with another rounding mode: the contexts must not see it,
     * and main must get it back. */
    CHECK(fesetround(FE_UPWARD) == 0);
    live_across(-5000, switch_to_ctx1, NULL);
    CHECK(fegetround() == FE_UPWARD);
    fesetround(FE_TONEAREST);

    CHECK(ctxs[0].rounds == ROUNDS);
    CHECK(ctxs[1].rounds == ROUNDS);

#if defined(__aarch64__)
    const char *arch = "aarch64";
#elif defined(__x86_64__)
    const char *arch = "x86_64";
#else
    const char *arch = "unknown";
#endif
    if (failures) {
        fprintf(stderr, "arch-smoke: %d failures (%s)\n", failures, arch);
        return 1;
    }
    printf("arch-smoke: ok (%s, %d round trips)\n", arch, ROUNDS);
    return 0;
}
