/*
 * list-debug.h — tests of goroutine dumps (gort_dump_goroutines, SIGQUIT,
 * the deadlock report) and gort_read_stats (test-debug.c).
 * TEST(name, timeout_seconds); timeouts only catch hangs.
 */
TEST(debug_dump_wait_reasons_1p, 60)
TEST(debug_dump_wait_reasons_2p, 60)
TEST(debug_dump_wait_minutes, 30)
TEST(debug_dump_running_2p, 30)
TEST(debug_dump_preempted_1p, 30)
TEST(debug_dump_from_thread, 30)
TEST(debug_deadlock_backtraces, 60)
TEST(debug_sigquit_raise, 60)
TEST(debug_sigquit_from_parent, 60)
TEST(debug_stats_1p, 60)
TEST(debug_stats_coop_1p, 30)
TEST(debug_stats_idle_2p, 30)
