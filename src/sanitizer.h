/*
 * sanitizer.h — what ASan, TSan and Valgrind must be told about gort's
 * stack switching, in one place (DESIGN section 5; docs/reliability.md).
 *
 * Every wrapper is an empty inline function unless the tool is on, so a
 * normal build pays nothing:
 *   GORT_ASAN   the library is built with -fsanitize=address
 *   GORT_TSAN   the library is built with -fsanitize=thread
 *   GORT_VG     built with -DGORT_VALGRIND=1 and <valgrind/valgrind.h>
 *               is installed (valgrind-dev / valgrind's own headers)
 *
 * The switch protocol (proc.c's execute and switch_out, g.c's goentry):
 *
 *   gort__san_switch(&save, lo, hi, fiber)   just before gort__swapctx:
 *       ASan: __sanitizer_start_switch_fiber(save, lo, hi - lo), the
 *       target's stack bounds; save is where the leaving context's fake
 *       stack is kept, NULL when the leaving goroutine dies (its fake
 *       frames go with it).  TSan: __tsan_switch_to_fiber(fiber, 0) —
 *       flags 0, so everything the leaving context did happens before
 *       what the target does next: the M runs them one after the other.
 *       It must be called from the function that switches (TSan keeps a
 *       shadow call stack per fiber), hence always_inline.
 *   gort__san_arrived(save)   first thing on the new context, after the
 *       swapctx returns (or in gort__goentry, with NULL: a new fiber).
 *
 * Stacks are recycled (stack.c pools): a goroutine that died deep in its
 * calls leaves ASan's poisoned redzones of its frames behind, so a stack
 * is unpoisoned before a new goroutine starts on it (gort__san_stack_fresh).
 * TSan fibers are per goroutine life: created at the first run,
 * destroyed by goexit0 (on the next context, never on the dying one).
 * Valgrind learns each stack's bounds once, when it is mapped, and
 * forgets them when it is unmapped (pooled stacks never are).
 *
 * Asynchronous preemption and the rescue of unwrapped system calls are
 * off under ASan, TSan and Valgrind (preempt.c): they rewrite a signal
 * context to run gort__sigtramp on the goroutine's stack, which the tools
 * do not expect — TSan delivers signals late, on a context copy of its
 * own; the tools' runtimes (clang links ASan's into the program's text)
 * would look like the program's own code, and a goroutine stopped inside
 * their allocator with its spin lock held could starve every other M.
 * Cooperative preemption (gort_preempt_point, every gort call) still runs.
 */
#ifndef GORT_SANITIZER_H
#define GORT_SANITIZER_H

#include <stddef.h>
#include <stdint.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif

#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define GORT_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define GORT_TSAN 1
#include <sanitizer/tsan_interface.h>
#endif

#if defined(GORT_VALGRIND) && GORT_VALGRIND
#if __has_include(<valgrind/valgrind.h>)
#define GORT_VG 1
#include <valgrind/valgrind.h>
#endif
#endif

#if defined(GORT_ASAN) || defined(GORT_TSAN) || defined(GORT_VG)
#define GORT_SAN_ANY 1
#endif

#define GORT__SAN_INLINE static inline __attribute__((always_inline))

/* On a function whose reads race by design and are validated afterwards
 * (the goroutine dump reads another thread's G and re-checks its status
 * and sp before it trusts what it read): TSan does not instrument it. */
#if defined(GORT_TSAN) && defined(__clang__)
#define GORT__RACY __attribute__((no_sanitize("thread"), noinline))
#elif defined(GORT_TSAN)
#define GORT__RACY __attribute__((no_sanitize_thread, noinline))
#else
#define GORT__RACY
#endif

/* Just before switching to a context whose stack is [lo, hi). */
GORT__SAN_INLINE void gort__san_switch(void **fakesave, uintptr_t lo,
                                       uintptr_t hi, void *fiber)
{
#ifdef GORT_ASAN
    __sanitizer_start_switch_fiber(fakesave, (const void *)lo, hi - lo);
#else
    (void)fakesave, (void)lo, (void)hi;
#endif
#ifdef GORT_TSAN
    __tsan_switch_to_fiber(fiber, 0);
#else
    (void)fiber;
#endif
}

/* First thing on the context switched to. */
GORT__SAN_INLINE void gort__san_arrived(void *fakesave)
{
#ifdef GORT_ASAN
    __sanitizer_finish_switch_fiber(fakesave, NULL, NULL);
#else
    (void)fakesave;
#endif
}

/* A new goroutine is about to start on [lo, hi), maybe a recycled stack:
 * ASan forgets the old frames' redzones; TSan gets a fiber for it. */
GORT__SAN_INLINE void gort__san_stack_fresh(void **fiber, uintptr_t lo,
                                            uintptr_t hi)
{
#ifdef GORT_ASAN
    __asan_unpoison_memory_region((void *)lo, hi - lo);
#else
    (void)lo, (void)hi;
#endif
#ifdef GORT_TSAN
    if (!*fiber)
        *fiber = __tsan_create_fiber(0);
#else
    (void)fiber;
#endif
}

/* A goroutine is dead (called on another context). */
GORT__SAN_INLINE void gort__san_fiber_destroy(void **fiber)
{
#ifdef GORT_TSAN
    if (*fiber) {
        __tsan_destroy_fiber(*fiber);
        *fiber = NULL;
    }
#else
    (void)fiber;
#endif
}

/* The calling thread's own fiber (an M's g0). */
GORT__SAN_INLINE void *gort__san_current_fiber(void)
{
#ifdef GORT_TSAN
    return __tsan_get_current_fiber();
#else
    return NULL;
#endif
}

/* Before a jump that skips frames (panic's longjmp to a scope). */
GORT__SAN_INLINE void gort__san_noreturn(void)
{
#ifdef GORT_ASAN
    __asan_handle_no_return();
#endif
}

/* Happens-before edges TSan cannot see (synchronisation through fences
 * or through the kernel): release on the publishing side, acquire on the
 * side that then reads what was published. */
GORT__SAN_INLINE void gort__san_release(void *addr)
{
#ifdef GORT_TSAN
    __tsan_release(addr);
#else
    (void)addr;
#endif
}

GORT__SAN_INLINE void gort__san_acquire(void *addr)
{
#ifdef GORT_TSAN
    __tsan_acquire(addr);
#else
    (void)addr;
#endif
}

/* Valgrind: a stack was mapped / is about to be unmapped. */
GORT__SAN_INLINE unsigned gort__san_stack_register(uintptr_t lo, uintptr_t hi)
{
#ifdef GORT_VG
    return VALGRIND_STACK_REGISTER(lo, hi - 1);
#else
    (void)lo, (void)hi;
    return 0;
#endif
}

GORT__SAN_INLINE void gort__san_stack_deregister(unsigned id)
{
#ifdef GORT_VG
    VALGRIND_STACK_DEREGISTER(id);
#else
    (void)id;
#endif
}

/* True when async preemption must stay off (see the top). */
GORT__SAN_INLINE int gort__san_no_async_preempt(void)
{
#if defined(GORT_ASAN) || defined(GORT_TSAN)
    return 1;
#elif defined(GORT_VG)
    return RUNNING_ON_VALGRIND != 0;
#else
    return 0;
#endif
}

#endif /* GORT_SANITIZER_H */
