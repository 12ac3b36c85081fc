/*
 * list-fault.h — fault injection (test-fault.c): allocation, mapping,
 * thread creation and descriptor exhaustion in spawn, stacks, channels,
 * gort_run, listen and dial, and sweeps failing each allocation or mapping
 * of a whole program in turn.  TEST(name, timeout_seconds).
 */
TEST(fault_go_nomem_g, 60)
TEST(fault_go_nomem_stack, 60)
TEST(fault_go_nomem_stack_4p, 60)
TEST(fault_go_nomem_name, 60)
TEST(fault_chan_nomem, 60)
TEST(fault_dump_nomem, 30)
TEST(fault_preempt_in_malloc_1p, 30)
TEST(fault_thread_first_m, 60)
TEST(fault_thread_later_m, 60)
TEST(fault_thread_preempted_1p, 60)
TEST(fault_emfile_listen_dial, 60)
TEST(fault_alloc_sweep, 300)
TEST(fault_mmap_sweep, 300)
