/*
 * list-trace.h — tests of the execution trace (gort_trace_start/stop,
 * GORTTRACE; test-trace.c).  TEST(name, timeout_seconds).
 */
TEST(trace_events_1p, 60)
TEST(trace_many_2p, 60)
TEST(trace_midrun_1p, 60)
TEST(trace_env_atexit, 60)
TEST(trace_fatal_valid, 60)
