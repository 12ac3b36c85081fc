/*
 * madv.h — the madvise advice and the process_madvise target that gort's
 * stacks use, for C library headers older than the kernels that have them
 * (src/stack.c; tools/freshpage.c measures the same calls without gort).
 * Whether the running kernel knows them is found out at run time.
 */
#ifndef GORT_MADV_H
#define GORT_MADV_H

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23      /* Linux 5.14 */
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102      /* Linux 6.13 */
#endif
/* process_madvise on the calling process without an fd (Linux 6.15). */
#ifndef PIDFD_SELF_PROCESS
#define PIDFD_SELF_PROCESS (-10001)
#endif

#endif /* GORT_MADV_H */
