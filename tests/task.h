/*
 * task.h — what a test file needs: the TEST_IMPL signature, assertions that
 * print both sides, and helpers to run code in a child and capture output.
 * Modelled on libuv's test/task.h.
 */
#ifndef GORT_TESTS_TASK_H
#define GORT_TESTS_TASK_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gort.h"

/* A test is a function returning 0 on success; a failed assertion prints
 * and aborts the (forked) child. */
#define TEST_IMPL(name) int run_test_##name(void)

#define TEST_FAIL_(fmt, ...)                                               \
    do {                                                                   \
        fprintf(stderr, "Assertion failed in %s on line %d: " fmt "\n",    \
                __FILE__, __LINE__, __VA_ARGS__);                          \
        fflush(stderr);                                                    \
        abort();                                                           \
    } while (0)

#define ASSERT(expr)                                                       \
    do {                                                                   \
        if (!(expr))                                                       \
            TEST_FAIL_("%s", #expr);                                       \
    } while (0)

#define ASSERT_CMP_(a, op, b)                                              \
    do {                                                                   \
        int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                      \
        if (!(a_ op b_))                                                   \
            TEST_FAIL_("%s %s %s (%" PRId64 " %s %" PRId64 ")", #a, #op,   \
                       #b, a_, #op, b_);                                   \
    } while (0)

#define ASSERT_EQ(a, b) ASSERT_CMP_(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_CMP_(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_CMP_(a, <, b)
#define ASSERT_LE(a, b) ASSERT_CMP_(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_CMP_(a, >, b)
#define ASSERT_GE(a, b) ASSERT_CMP_(a, >=, b)

#define ASSERT_STR_CONTAINS(hay, needle)                                   \
    do {                                                                   \
        const char *h_ = (hay), *n_ = (needle);                            \
        if (strstr(h_, n_) == NULL)                                        \
            TEST_FAIL_("expected to find \"%s\" in:\n---\n%s\n---", n_, h_); \
    } while (0)

/* Runs fn(arg) in a forked child with stdout and stderr captured into out
 * (NUL-terminated, at most outsz-1 bytes).  The child exits 0 if fn
 * returns.  Returns the child's exit status as waitpid gives it; use
 * WIFEXITED/WEXITSTATUS.  Kills the child after timeout_s seconds. */
int test_run_child(void (*fn)(void *), void *arg, char *out, size_t outsz,
                   int timeout_s);

/* Runs fn(arg) in a child (test_run_child, 64 KiB of output kept) and
 * fails the test unless it exits with exit_code, its output contains
 * needle (may be NULL) and not forbidden (may be NULL).  Prints the output
 * (the runner shows it if the test fails).  Returns the output (static,
 * overwritten by the next call). */
const char *test_expect_child(void (*fn)(void *), void *arg, int exit_code,
                              const char *needle, const char *forbidden,
                              int timeout_s);

/* Runs fn(arg) under gort_run on `procs` Ps (GORTMAXPROCS is set too, so
 * the caller's environment cannot win) and fails unless it returns 0. */
void test_start(int procs, void (*fn)(void *), void *arg);

/* gort_go / gort_chan_make that fail the test instead of returning an
 * error. */
void test_go(void (*fn)(void *), void *arg);
gort_chan *test_chan_make(size_t elem, size_t cap);

/* Sets an environment variable for gort before gort_run reads it. */
#define TEST_SETENV(k, v) setenv((k), (v), 1)

#endif
