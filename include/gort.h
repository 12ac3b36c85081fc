/*
 * gort.h — Go's runtime, for C.
 *
 * The one public header of gort.  Everything it declares is named gort_ or
 * GORT_.  The names and meanings below are a contract: they are extended,
 * never renamed.  See docs/ for one page per subsystem.
 *
 * Threads and goroutines
 *   gort multiplexes goroutines (cheap, each with its own stack) over a few
 *   OS threads (Ms) with an M:N work-stealing scheduler modelled on Go's GMP.
 *   A goroutine may resume on a different OS thread after any call that can
 *   block or yield.  Two consequences for C code:
 *     - errno: glibc lets compilers cache errno's address across calls, which
 *       would read the old thread's errno after a move.  This header
 *       redefines errno through gort_errno_location(), which is not declared
 *       const, so code that includes gort.h re-reads the address each time;
 *       the runtime also saves and restores errno per goroutine on every
 *       switch.  Include gort.h after <errno.h>.
 *     - _Thread_local / __thread data belongs to the OS thread, not to the
 *       goroutine.  A goroutine that needs thread-local state to stay put
 *       calls gort_lock_os_thread().
 */
#ifndef GORT_H
#define GORT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GORT_EXPORT __attribute__((visibility("default")))
#else
#define GORT_EXPORT
#endif

#if defined(__cplusplus)
#define GORT_NORETURN [[noreturn]]
#else
#define GORT_NORETURN _Noreturn
#endif

/* ------------------------------------------------------------------------ */
/* errno                                                                    */
/* ------------------------------------------------------------------------ */

/* The calling thread's errno, read without the const attribute glibc gives
 * __errno_location, so that a compiler re-reads it after a call that may
 * have moved the goroutine to another thread. */
GORT_EXPORT int *gort_errno_location(void);
#undef errno
#define errno (*gort_errno_location())

/* ------------------------------------------------------------------------ */
/* Runtime and goroutines                                                   */
/* ------------------------------------------------------------------------ */

/* Starts the runtime with GORTMAXPROCS (or the CPU count) Ps, runs
 * main_fn(arg) as goroutine 1 and returns 0 when it returns.  Other
 * goroutines are abandoned, as in Go: they never run again and their
 * defers do not run.  gort_run may be called again after it returned.
 * Returns -1 with errno set if the runtime cannot start: EINVAL for a NULL
 * main_fn, EBUSY when called from a goroutine or while another gort_run is
 * in progress, EAGAIN or ENOMEM when threads or memory are missing. */
GORT_EXPORT int gort_run(void (*main_fn)(void *), void *arg);

typedef struct gort_attr {
    size_t stack_size;  /* bytes; 0 = default (GORTSTACK or 256 KiB).
                           Rounded up to whole pages; must be between
                           GORT_STACK_MIN and GORT_STACK_MAX. */
    const char *name;   /* shown in goroutine dumps; copied; NULL = none */
} gort_attr;

#define GORT_STACK_MIN ((size_t)16 * 1024)
#define GORT_STACK_MAX ((size_t)1024 * 1024 * 1024)

/* Starts fn(arg) in a new goroutine and returns its id (> 0).  Returns -1
 * with errno = EINVAL (NULL fn, bad attribute), ENOMEM (no memory for the
 * goroutine or its stack) or EAGAIN.  Never aborts on exhaustion.  May be
 * called from any thread; goroutines created before gort_run start when it
 * starts. */
GORT_EXPORT int64_t gort_go(void (*fn)(void *), void *arg);
GORT_EXPORT int64_t gort_go_ex(void (*fn)(void *), void *arg,
                               const gort_attr *attr);

/* Go's runtime.Gosched: lets other goroutines run; the caller stays
 * runnable and resumes later, possibly on another thread. */
GORT_EXPORT void gort_yield(void);

/* Go's runtime.Goexit: runs the calling goroutine's pending deferred calls,
 * then ends it.  Goexit from goroutine 1 ends it without gort_run returning;
 * once every other goroutine has finished, that is the fatal error
 * "no goroutines (main called runtime.Goexit) - deadlock!".  Called outside
 * a goroutine it is a fatal error. */
GORT_EXPORT GORT_NORETURN void gort_goexit(void);

/* The current goroutine's id; 0 on a thread that is not running a
 * goroutine. */
GORT_EXPORT int64_t gort_self(void);

/* GOMAXPROCS: n > 0 sets the number of Ps (at most GORT_MAXPROCS_MAX) and
 * returns the previous value; n == 0 returns the current value and changes
 * nothing; n < 0 or n > GORT_MAXPROCS_MAX returns -1 with errno = EINVAL.
 * Before gort_run it sets the value the next gort_run starts with. */
#define GORT_MAXPROCS_MAX 1024
GORT_EXPORT int gort_maxprocs(int n);

/* Number of goroutines that exist (running, runnable or blocked). */
GORT_EXPORT int64_t gort_num_goroutine(void);

/* Wires the calling goroutine to its current OS thread: it runs only
 * there, and no other goroutine runs there, until as many
 * gort_unlock_os_thread calls as lock calls were made.  A goroutine that
 * ends while locked takes its thread with it (the thread exits), as in Go.
 * Outside a goroutine both calls do nothing. */
GORT_EXPORT void gort_lock_os_thread(void);
GORT_EXPORT void gort_unlock_os_thread(void);

/* Per-P counters, for tests and tools.  gort_proc_stats fills up to n
 * entries of out (one per P, index = P id) and returns how many Ps exist. */
typedef struct gort_proc_stat {
    uint64_t schedtick;     /* goroutines started from the run queues */
    uint64_t steals;        /* successful steals by this P */
} gort_proc_stat;
GORT_EXPORT int gort_proc_stats(gort_proc_stat *out, int n);

/* ------------------------------------------------------------------------ */
/* Channels and select (Go's chan; docs/chan.md)                            */
/* ------------------------------------------------------------------------ */

/* A channel carries elements of a fixed size, copied by value (elem_size
 * bytes, any content; pointers are copied as bytes, ownership is the
 * program's business).  cap 0 makes an unbuffered channel: a send waits
 * for a receiver and hands the value straight to it.  cap > 0 buffers up
 * to cap elements, delivered in FIFO order.
 *
 * Every operation may be called from a goroutine, which parks while it
 * waits, or from a plain thread that is not a goroutine, which blocks on
 * a futex; the two mix freely on one channel.  A plain thread counts for
 * deadlock detection from its first channel operation on: once it has
 * used a channel, gort no longer reports "all goroutines are asleep",
 * since that thread may still wake somebody.
 *
 * Go's rules, with Go's panic messages (an unrecovered panic prints
 * "panic: <message>" and exits with status 2):
 *   - send on a closed channel panics "send on closed channel", also for
 *     a sender that was already waiting when the channel was closed;
 *   - close of a closed channel panics "close of closed channel", close
 *     of NULL "close of nil channel";
 *   - a receive on a closed channel returns the values still buffered,
 *     then returns false at once with the element zeroed;
 *   - a NULL channel is never ready: sending to or receiving from it
 *     blocks for ever (deadlock detection sees such a goroutine as
 *     asleep), and select ignores cases on it. */
typedef struct gort_chan gort_chan;

/* A new channel of cap elements of elem_size bytes.  elem_size may be 0
 * (the channel then carries only events, like Go's chan struct{}).
 * Returns NULL with errno = EINVAL when elem_size exceeds 64 KiB or the
 * buffer would exceed 1 GiB (cap slots of 8 bytes plus elem_size rounded
 * up to 8; no buffer at all for elem_size 0), ENOMEM when memory is
 * short. */
GORT_EXPORT gort_chan *gort_chan_make(size_t elem_size, size_t cap);

/* Frees a channel.  NULL is a no-op.  Nobody may use the channel during
 * or after the call (a send or receive that has not returned is still
 * using it, even if its value already shows); a goroutine or thread
 * still blocked on it (in a send, a receive or a select) is the panic
 * "gort_chan_free of channel with blocked goroutines".  Values still
 * buffered are discarded. */
GORT_EXPORT void gort_chan_free(gort_chan *c);

/* The number of elements buffered now (a snapshot), and the capacity.
 * Both are 0 for NULL. */
GORT_EXPORT size_t gort_chan_len(gort_chan *c);
GORT_EXPORT size_t gort_chan_cap(gort_chan *c);

/* Go's c <- v: copies elem_size bytes from elem into the channel,
 * blocking until a receiver takes them or the buffer has room.  elem ==
 * NULL sends the zero value.  Panics "send on closed channel" (see
 * above); blocks for ever on a NULL channel. */
GORT_EXPORT void gort_chan_send(gort_chan *c, const void *elem);

/* Go's v, ok := <-c: blocks until a value arrives or the channel is closed
 * and drained.  Returns true with the value copied into elem, or false
 * (closed and drained) with elem zeroed.  elem may be NULL to discard the
 * value.  Blocks for ever on a NULL channel. */
GORT_EXPORT bool gort_chan_recv(gort_chan *c, void *elem);

/* Go's close(c): no more sends.  Every blocked receiver wakes with the
 * zero value and false; every blocked sender wakes and panics "send on
 * closed channel".  Panics "close of closed channel" / "close of nil
 * channel". */
GORT_EXPORT void gort_chan_close(gort_chan *c);

/* Non-blocking operations, Go's select with one case and a default.
 * gort_chan_trysend returns true if the value was sent (to a waiting
 * receiver or into the buffer), false if it would block (always false
 * for NULL); it panics on a closed channel, as the send it stands for.
 * gort_chan_tryrecv returns 1 if a value was received into elem, 0 if the
 * receive would block (always 0 for NULL), -1 if the channel is closed and
 * drained (elem zeroed).  elem may be NULL for both (send the zero value,
 * discard the value). */
GORT_EXPORT bool gort_chan_trysend(gort_chan *c, const void *elem);
GORT_EXPORT int gort_chan_tryrecv(gort_chan *c, void *elem);

/* Case operations for gort_select. */
enum { GORT_SEND = 1, GORT_RECV = 2 };

/* gort_select flag: return -1 instead of blocking (Go's default case). */
#define GORT_NONBLOCK 1

/* One case of a select.  chan may be NULL: the case is never chosen.
 * elem: GORT_SEND reads the value from it (NULL: the zero value);
 * GORT_RECV writes the value received to it (NULL: discarded; zeroed when
 * the channel is closed).  ok is written for the chosen case only: for a
 * receive, true if a value was received, false if the channel is closed
 * and drained; for a send, true. */
typedef struct gort_case {
    gort_chan *chan;
    int op;             /* GORT_SEND or GORT_RECV */
    void *elem;
    bool ok;
} gort_case;

/* Go's select over cases[0..n).  Waits until at least one case can
 * proceed, carries out exactly one of them and returns its index.  When
 * several can proceed, each is chosen with equal probability.  The same
 * channel may appear in several cases, in either direction.  A send case
 * on a closed channel that is chosen panics "send on closed channel".
 *
 * flags = GORT_NONBLOCK: if no case can proceed now, returns -1 with
 * errno = EAGAIN (Go's default).  Without it, a select with no cases, or
 * whose channels are all NULL, blocks for ever.
 *
 * Returns -1 with errno = EINVAL when n < 0 or n > 65536, cases is NULL
 * with n > 0, a case's op is neither GORT_SEND nor GORT_RECV, or flags
 * has an unknown bit; ENOMEM when more than 16 cases need memory that
 * cannot be had. */
GORT_EXPORT int gort_select(gort_case *cases, int n, int flags);

/* ------------------------------------------------------------------------ */
/* Time: sleep and timers (Go's time package; docs/time.md)                 */
/* ------------------------------------------------------------------------ */

#define GORT_NS  ((int64_t)1)
#define GORT_US  ((int64_t)1000)
#define GORT_MS  ((int64_t)1000 * 1000)
#define GORT_SEC ((int64_t)1000 * 1000 * 1000)

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC).  A cooperative
 * preemption point, so that a goroutine busy-waiting on the clock does not
 * keep its P (docs/preemption.md); not for signal handlers. */
GORT_EXPORT int64_t gort_nanotime(void);

/* Go's time.Sleep: parks the calling goroutine for at least ns
 * nanoseconds; its thread runs other goroutines meanwhile.  ns <= 0
 * returns at once.  Sub-millisecond sleeps are honoured (Go rounds an idle
 * wait up to 1 ms).  On a plain thread it is nanosleep. */
GORT_EXPORT void gort_sleep(int64_t ns);

/* A timer delivers the monotonic time (int64_t, on gort_nanotime's clock)
 * at which it was due on its channel, a channel of capacity 1 owned by the timer.
 * Timers live on per-P heaps run by the scheduler; no thread waits for
 * them.  As in Go 1.23: once gort_timer_stop or gort_timer_reset has
 * returned, no value from before the call can be received any more (a
 * value already sitting in the channel is taken out).
 *
 * gort_timer_new(d): fires once, d nanoseconds from now (d <= 0: at
 * once).  gort_ticker_new(period): fires every period (> 0, else NULL
 * with errno = EINVAL); a slow reader misses ticks rather than queueing
 * them.  gort_timer_after_func(d, fn, arg): after d, runs fn(arg) in a
 * goroutine of its own (Go's time.AfterFunc); its channel is NULL.
 * All three return NULL with errno = ENOMEM when memory is short. */
typedef struct gort_timer gort_timer;
GORT_EXPORT gort_timer *gort_timer_new(int64_t d);
GORT_EXPORT gort_timer *gort_ticker_new(int64_t period);
GORT_EXPORT gort_timer *gort_timer_after_func(int64_t d, void (*fn)(void *),
                                              void *arg);

/* The timer's channel (NULL for an after_func timer). */
GORT_EXPORT gort_chan *gort_timer_chan(gort_timer *t);

/* Stops the timer.  Returns true if the call stopped it before it
 * delivered (it was pending, or its value was still unreceived in the
 * channel), false if it had already fired and been received, or was
 * stopped.  For a ticker: true if it was running. */
GORT_EXPORT bool gort_timer_stop(gort_timer *t);

/* Re-arms the timer to fire d from now (a ticker: every d from now, d
 * > 0).  Returns what gort_timer_stop would have returned.  -- Go's
 * Timer.Reset / Ticker.Reset. */
GORT_EXPORT bool gort_timer_reset(gort_timer *t, int64_t d);

/* Stops and frees the timer and its channel.  NULL is a no-op.  Nobody may
 * be blocked on the channel (that is gort_chan_free's panic). */
GORT_EXPORT void gort_timer_free(gort_timer *t);

/* A channel that receives the time once, d from now: Go's time.After for
 * select timeouts, without the leak.  Each goroutine (or plain thread) owns
 * one such timer, re-armed by every call: a call cancels the previous one
 * of the same goroutine (its channel is the same and holds no stale
 * value), and the timer is freed when the goroutine ends.  Use the channel
 * only in the goroutine that asked for it, until its next gort_after.
 * Returns NULL with errno = ENOMEM if the timer cannot be made. */
GORT_EXPORT gort_chan *gort_after(int64_t d);

/* ------------------------------------------------------------------------ */
/* Blocking system calls and preemption (docs/preemption.md)                */
/* ------------------------------------------------------------------------ */

/* Wrap a call that may block in the kernel (read on a pipe, waitpid, a
 * blocking library call): gort_syscall_enter hands the goroutine's P to
 * another thread at once, so other goroutines go on running; gort_syscall_
 * exit takes a P back (the old one when free, else an idle one, else the
 * goroutine waits in the global queue).  errno is preserved by both.  On
 * a plain thread, or outside a pair, they do nothing.  Inside the pair the
 * goroutine has no P: a gort call that would park it there (a channel
 * operation that waits, gort_sleep, a contended gort_mutex) is the fatal
 * error "goroutine blocked in gort while inside gort_syscall_enter/
 * gort_syscall_exit".
 *
 * Unwrapped calls are rescued too, later: sysmon notices a thread that has
 * been blocked in the kernel (not in a futex or memory call) for about a
 * millisecond and hands its P off; see docs/preemption.md.
 *
 * GORT_BLOCKING(expr) evaluates expr between the two and yields its value
 * (a GNU statement expression; for a void call write
 * (void)GORT_BLOCKING((f(), 0))). */
GORT_EXPORT void gort_syscall_enter(void);
GORT_EXPORT void gort_syscall_exit(void);
#define GORT_BLOCKING(expr)                                               \
    (__extension__({                                                      \
        gort_syscall_enter();                                             \
        __typeof__(expr) gort_blocking_r_ = (expr);                       \
        gort_syscall_exit();                                              \
        gort_blocking_r_;                                                 \
    }))

/* Go's debug.SetMaxThreads: the most OS threads gort may create (default
 * 10000).  Past it the program dies with "fatal error: thread
 * exhaustion".  Returns the previous limit; n < 1 is EINVAL (-1). */
GORT_EXPORT int gort_set_max_threads(int n);

/* Cooperative preemption point for hot loops: a load and a predictable
 * branch.  When sysmon has asked the running goroutine to yield (it has
 * run for 10 ms), yields.  Every gort call is such a point too; loops
 * without calls are also preempted asynchronously by a signal (SIGURG)
 * unless GORTDEBUG=asyncpreemptoff=1. */
GORT_EXPORT extern volatile int gort__preempt_pending;
GORT_EXPORT void gort__preempt_slow(void);
static inline void gort_preempt_point(void)
{
    if (__builtin_expect(__atomic_load_n(&gort__preempt_pending,
                                         __ATOMIC_RELAXED) != 0, 0))
        gort__preempt_slow();
}

/* ------------------------------------------------------------------------ */
/* Network and file-descriptor I/O through the netpoller (docs/net.md)      */
/* ------------------------------------------------------------------------ */
/*
 * A goroutine that would block on a descriptor parks; its thread runs
 * other goroutines, and the netpoller (epoll, edge-triggered) readies it
 * when the descriptor is ready.  On a plain thread (outside gort_run's
 * goroutines) the calls block the thread as ordinary POSIX calls would.
 * All calls return -1 with errno set on failure, as POSIX does:
 *   ETIMEDOUT  a deadline (gort_set_deadline, a dial or wait timeout) passed
 *   EBADF      the descriptor was closed by gort_close (also while waiting)
 *   EINVAL     bad arguments (a malformed "host:port")
 * and whatever the kernel said (ECONNREFUSED, ECONNRESET, EMFILE, ...).
 *
 * Descriptors made by gort_tcp_listen, gort_tcp_dial and gort_accept are
 * non-blocking, close-on-exec and registered with the poller.  Any other
 * descriptor may be passed too: a socket is made non-blocking and
 * registered on first use; a pipe, FIFO or terminal already in
 * O_NONBLOCK mode is registered; one in blocking mode is read and written
 * through the blocking-call path (gort_syscall_enter/exit: the P goes on
 * without it), since making it non-blocking would change it for every
 * process sharing it; a regular file is always "ready".  A descriptor
 * used with these calls must be closed with gort_close, which also wakes
 * (with EBADF) every goroutine blocked on it and waits for calls in
 * flight to leave before the number can be reused.
 */

#define GORT_READ  1    /* readable (or hung up, or in error) */
#define GORT_WRITE 2    /* writable */

/* Listens on addr, "host:port": "127.0.0.1:8080", "[::1]:0", ":8080"
 * (every address, IPv4 and IPv6), "localhost:0" (resolved).  Port 0 picks
 * a free port (getsockname tells which).  backlog <= 0 means SOMAXCONN.
 * SO_REUSEADDR is set, as Go does. */
GORT_EXPORT int gort_tcp_listen(const char *addr, int backlog);

/* Connects to addr ("host:port"; names are resolved by getaddrinfo on the
 * blocking-call path, each address tried in turn).  timeout > 0 bounds the
 * whole dial in nanoseconds (ETIMEDOUT); <= 0 waits as long as the kernel
 * does; a resolver that hangs can overrun it, as getaddrinfo cannot be
 * interrupted (numeric addresses skip the resolver).  TCP_NODELAY and
 * 15 s keep-alive probes are set, as Go does.  An unknown host is
 * EADDRNOTAVAIL, a temporary resolver failure EAGAIN. */
GORT_EXPORT int gort_tcp_dial(const char *addr, int64_t timeout);

/* Accepts a connection (parks until one comes).  sa/len may be NULL.
 * The new descriptor is non-blocking, close-on-exec, with TCP_NODELAY and
 * 15 s keep-alive, as Go's.
 * A connection aborted before it was accepted is skipped; EMFILE/ENFILE
 * are returned (the connection stays queued for a later call). */
GORT_EXPORT int gort_accept(int lfd, struct sockaddr *sa, socklen_t *len);

/* Reads up to n bytes: parks until some are available.  0 at end of
 * stream. */
GORT_EXPORT ssize_t gort_read(int fd, void *buf, size_t n);

/* Writes all n bytes, parking while the descriptor is full.  Returns n;
 * if an error or a deadline stops it after some bytes went out, that
 * (short) count with errno saying why; -1 if none did.  Concurrent
 * gort_writes on one descriptor do not interleave (each is whole, as in
 * Go).  Sockets are written with MSG_NOSIGNAL: a reset peer is EPIPE,
 * never SIGPIPE. */
GORT_EXPORT ssize_t gort_write(int fd, const void *buf, size_t n);

/* Closes fd: goroutines blocked on it in gort calls wake with EBADF, and
 * calls in flight finish before the descriptor is closed.  0, or -1 with
 * errno (EBADF if already closed). */
GORT_EXPORT int gort_close(int fd);

/* Go's SetReadDeadline/SetWriteDeadline: calls on fd in the directions
 * dirs (GORT_READ|GORT_WRITE) fail with ETIMEDOUT once gort_nanotime()
 * passes abs_ns, including calls already waiting; abs_ns == 0 clears the
 * deadline, a time in the past expires at once.  A deadline stays until
 * it is set again. */
GORT_EXPORT int gort_set_deadline(int fd, int64_t abs_ns, int dirs);

/* Waits until fd is ready for any of events (GORT_READ|GORT_WRITE) and
 * returns the ready ones (level-triggered: already-ready returns at once).
 * timeout in nanoseconds: < 0 waits forever, 0 polls; when it passes,
 * -1 with ETIMEDOUT.  A deadline (gort_set_deadline) that passed for one
 * direction drops it from events; ETIMEDOUT when none is left.  For any
 * pollable descriptor: pipes, eventfds, UDP sockets, terminals.  The
 * descriptor's mode is not changed. */
GORT_EXPORT int gort_wait_fd(int fd, int events, int64_t timeout);

/* ------------------------------------------------------------------------ */
/* defer / panic / recover                                                  */
/* ------------------------------------------------------------------------ */
/*
 *   gort_scope {
 *       FILE *f = fopen(path, "r");
 *       gort_defer(close_file, f);      // runs when control leaves the block
 *       ...
 *   }
 *
 * gort_scope { ... } is a block whose gort_defer(fn, arg) calls run
 * last-in first-out, exactly once, when control leaves it by any path:
 * falling off the end, return, break, continue, goto out of it,
 * gort_goexit, or a panic.  `arg` is evaluated when gort_defer runs.
 * gort_scope is a one-iteration `for` statement: a `break` or `continue`
 * written directly inside it leaves the scope (running its defers); it
 * does not reach an enclosing loop.  Scopes nest, a function may hold
 * several, and gort_defer attaches to the innermost active scope of the
 * goroutine (which may belong to a caller).  gort_defer outside any scope
 * is the fatal error "gort_defer outside gort_scope".
 *
 * A panic runs the pending deferred calls of the goroutine, innermost
 * first, on top of the panicking stack.  gort_recover(), called while a
 * deferred call runs because of a panic, stops the panic and returns its
 * description: the rest of that scope's deferred calls run, then execution
 * resumes right after the gort_scope that deferred the recovering call.
 * As with setjmp, locals of that function changed inside the scope and
 * read after a recovery must be volatile.  Unrecovered, the panic prints
 * Go's report (panic: msg, the goroutine and its backtrace) and the
 * process exits with status 2.  A longjmp out of a gort_scope by user code
 * skips its deferred calls and leaves the scope chain broken: don't.
 * See docs/defer.md.
 */

typedef struct gort_panic_info {
    const char *msg;        /* the formatted message */
    void *value;            /* gort_panic_value's value, else NULL */
    int64_t goid;           /* the panicking goroutine (0: a plain thread) */
} gort_panic_info;

GORT_EXPORT GORT_NORETURN void gort_panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
GORT_EXPORT GORT_NORETURN void gort_panic_value(void *value, const char *fmt,
                                                ...)
    __attribute__((format(printf, 2, 3)));

/* Non-NULL only while a deferred call runs during a panic of the calling
 * goroutine (and not inside a deferred call nested in it); stops that
 * panic.  The info stays valid until the recovering scope is left. */
GORT_EXPORT const gort_panic_info *gort_recover(void);

/* Runs fn(arg).  Returns true if it returned normally; false if it
 * panicked, with *out (if not NULL) describing the panic (out->msg stays
 * valid until the next gort_try of this thread or goroutine). */
GORT_EXPORT bool gort_try(void (*fn)(void *), void *arg, gort_panic_info *out);

/* --- the machinery behind gort_scope (not for direct use) --------------- */

#define GORT__DEFER_INLINE 8

typedef struct gort__defer {
    void (*fn)(void *);
    void *arg;
} gort__defer;

/* gcc: __builtin_setjmp (three words, no call).  Other compilers: libc's
 * _setjmp (clang 14 miscompiles code around __builtin_setjmp at -O3 on
 * x86-64, and lacks it on aarch64).  The library longjmps either kind. */
#include <setjmp.h>
#if defined(__GNUC__) && !defined(__clang__)
#define GORT__SJ_BUILTIN 1
#define GORT__SETJMP(jbuf) __builtin_setjmp((jbuf).b)
#else
#define GORT__SJ_BUILTIN 0
#define GORT__SETJMP(jbuf) _setjmp((jbuf).j)
#endif
/* Room for either kind, so that the layout is the same for every
 * compiler (the library may be built by another one than the program). */
typedef union gort__jmpbuf {
    void *b[5];
    jmp_buf j;
} gort__jmpbuf;

typedef struct gort__scope {
    struct gort__scope *link;       /* enclosing scope of this goroutine */
    uint32_t n;                     /* records in rec[] */
    uint8_t running;                /* running its records on normal exit */
    uint8_t sjkind;                 /* GORT__SJ_BUILTIN of the user's compiler */
    struct gort__deferchunk *more;  /* records past the inline ones */
    gort__defer rec[GORT__DEFER_INLINE];
    gort__jmpbuf jb;                /* where a recovered panic resumes */
} gort__scope;

/* Per-thread state, swapped on every goroutine switch so it follows the
 * goroutine: the innermost scope and the panic chain. */
struct gort__tls {
    gort__scope *scope;
    void *panic;
    void *goexit;
    void *recovered;
};
extern __thread struct gort__tls gort_tls
    __attribute__((tls_model("initial-exec")));

GORT_EXPORT void gort__defer_slow(gort__scope *s, void (*fn)(void *), void *arg);
GORT_EXPORT void gort__scope_leave_slow(gort__scope *s);
GORT_EXPORT GORT_NORETURN void gort__defer_noscope(void);
GORT_EXPORT gort__scope *gort__tls_scope_get_slow(void);
GORT_EXPORT void gort__tls_scope_set_slow(gort__scope *s);

/* The scope chain head lives in TLS that the runtime swaps per goroutine.
 * It is read and written with asm volatile so that no compiler can reuse
 * a thread-local address computed before a call that moved the goroutine
 * to another thread (the errno problem, DESIGN 3.3). */
#if defined(__x86_64__) && defined(__GNUC__)
static inline gort__scope *gort__tls_scope_get(void)
{
    gort__scope *v;
    __asm__ __volatile__("movq gort_tls@gottpoff(%%rip), %0\n\t"
                         "movq %%fs:(%0), %0"
                         : "=r"(v)::"memory");
    return v;
}
static inline void gort__tls_scope_set(gort__scope *s)
{
    void *off;
    __asm__ __volatile__("movq gort_tls@gottpoff(%%rip), %0\n\t"
                         "movq %1, %%fs:(%0)"
                         : "=&r"(off)
                         : "r"(s)
                         : "memory");
}
#elif defined(__aarch64__) && defined(__GNUC__)
static inline gort__scope *gort__tls_scope_get(void)
{
    gort__scope *v;
    void *off;
    __asm__ __volatile__("adrp %1, :gottprel:gort_tls\n\t"
                         "ldr %1, [%1, #:gottprel_lo12:gort_tls]\n\t"
                         "mrs %0, tpidr_el0\n\t"
                         "ldr %0, [%0, %1]"
                         : "=&r"(v), "=&r"(off)::"memory");
    return v;
}
static inline void gort__tls_scope_set(gort__scope *s)
{
    void *off, *tp;
    __asm__ __volatile__("adrp %0, :gottprel:gort_tls\n\t"
                         "ldr %0, [%0, #:gottprel_lo12:gort_tls]\n\t"
                         "mrs %1, tpidr_el0\n\t"
                         "str %2, [%1, %0]"
                         : "=&r"(off), "=&r"(tp)
                         : "r"(s)
                         : "memory");
}
#else
#define gort__tls_scope_get() gort__tls_scope_get_slow()
#define gort__tls_scope_set(s) gort__tls_scope_set_slow(s)
#endif

static inline gort__scope *gort__scope_enter(gort__scope *s)
{
    s->link = gort__tls_scope_get();
    s->n = 0;
    s->running = 0;
    s->sjkind = GORT__SJ_BUILTIN;
    s->more = NULL;
    gort__tls_scope_set(s);
    return s;
}

static inline void gort__scope_leave(gort__scope *s)
{
    s->running = 1;
    for (;;) {
        /* Checked before every record: a deferred call may itself defer
         * (onto this scope) past the inline records. */
        if (__builtin_expect(s->more != NULL, 0)) {
            gort__scope_leave_slow(s);
            return;
        }
        if (s->n == 0)
            break;
        gort__defer *d = &s->rec[--s->n];   /* popped before the call */
        d->fn(d->arg);
    }
    gort__tls_scope_set(s->link);
}

static inline void gort__defer_push(void (*fn)(void *), void *arg)
{
    gort__scope *s = gort__tls_scope_get();
    if (__builtin_expect(s == NULL, 0))
        gort__defer_noscope();
    if (__builtin_expect(s->n < GORT__DEFER_INLINE, 1)) {
        s->rec[s->n].fn = fn;
        s->rec[s->n].arg = arg;
        s->n++;
        return;
    }
    gort__defer_slow(s, fn, arg);
}

#define GORT__CAT2(a, b) a##b
#define GORT__CAT(a, b) GORT__CAT2(a, b)
#define GORT__UNIQ(n) GORT__CAT(n, __LINE__)

#define gort_scope                                                          \
    for (gort__scope GORT__UNIQ(gort__s_)                                  \
             __attribute__((cleanup(gort__scope_leave))),                  \
         *GORT__UNIQ(gort__p_) = gort__scope_enter(&GORT__UNIQ(gort__s_)); \
         GORT__UNIQ(gort__p_) != NULL &&                                   \
         GORT__SETJMP(GORT__UNIQ(gort__s_).jb) == 0;                       \
         GORT__UNIQ(gort__p_) = NULL)

#define gort_defer(fn, arg) gort__defer_push((fn), (void *)(arg))

/* ------------------------------------------------------------------------ */
/* sync: zero-initialised, blocking parks the goroutine (a plain thread     */
/* that is not a goroutine blocks on a futex instead).                      */
/* ------------------------------------------------------------------------ */

/* Go's sync.Mutex.  Unlocking an unlocked mutex is the fatal error
 * "sync: unlock of unlocked mutex".  Not recursive; any goroutine may
 * unlock it (as in Go). */
typedef struct gort_mutex {
    int32_t state;
    uint32_t sema;
} gort_mutex;
#define GORT_MUTEX_INIT {0, 0}
GORT_EXPORT void gort_mutex_lock(gort_mutex *m);
GORT_EXPORT void gort_mutex_unlock(gort_mutex *m);
GORT_EXPORT bool gort_mutex_trylock(gort_mutex *m);

/* Go's sync.RWMutex: writers exclude readers and each other; a blocked
 * writer keeps new readers out.  Misuse is fatal with Go's words
 * ("sync: RUnlock of unlocked RWMutex", "sync: Unlock of unlocked
 * RWMutex"). */
typedef struct gort_rwmutex {
    gort_mutex w;
    uint32_t writer_sem;
    uint32_t reader_sem;
    int32_t reader_count;
    int32_t reader_wait;
} gort_rwmutex;
GORT_EXPORT void gort_rwmutex_lock(gort_rwmutex *rw);
GORT_EXPORT void gort_rwmutex_unlock(gort_rwmutex *rw);
GORT_EXPORT void gort_rwmutex_rlock(gort_rwmutex *rw);
GORT_EXPORT void gort_rwmutex_runlock(gort_rwmutex *rw);
GORT_EXPORT bool gort_rwmutex_trylock(gort_rwmutex *rw);
GORT_EXPORT bool gort_rwmutex_tryrlock(gort_rwmutex *rw);

/* Go's sync.WaitGroup.  A negative counter is the panic
 * "sync: negative WaitGroup counter". */
typedef struct gort_waitgroup {
    uint64_t state;         /* counter in the high 32 bits, waiters low */
    uint32_t sema;
} gort_waitgroup;
GORT_EXPORT void gort_waitgroup_add(gort_waitgroup *wg, int64_t delta);
GORT_EXPORT void gort_waitgroup_done(gort_waitgroup *wg);
GORT_EXPORT void gort_waitgroup_wait(gort_waitgroup *wg);

/* Go's sync.Once: fn(arg) runs exactly once; every caller returns after
 * it has finished. */
typedef struct gort_once {
    uint32_t done;
    gort_mutex m;
} gort_once;
GORT_EXPORT void gort_once_do(gort_once *o, void (*fn)(void *), void *arg);

/* Go's sync.Cond, with the lock passed to wait (as pthread_cond_wait):
 * wait unlocks mu, parks until signal/broadcast, then relocks mu.
 * Waiters are woken in FIFO order. */
typedef struct gort_cond {
    uint32_t lock;
    uint32_t wait_ticket;
    uint32_t notify_ticket;
    void *head, *tail;
} gort_cond;
GORT_EXPORT void gort_cond_wait(gort_cond *c, gort_mutex *mu);
GORT_EXPORT void gort_cond_signal(gort_cond *c);
GORT_EXPORT void gort_cond_broadcast(gort_cond *c);

/* ------------------------------------------------------------------------ */
/* Observability (docs/debugging.md)                                        */
/* ------------------------------------------------------------------------ */

/* Prints every goroutine of the running gort_run to fd in Go's form:
 *
 *     goroutine 7 [chan receive, 2 minutes]:
 *     gort_chan_recv(...)
 *             /path/src/chan.c:412 +0x8b
 *     consumer(...)
 *             /path/app.c:31 +0x2f
 *     created by main_goroutine
 *             /path/app.c:52 +0x4c
 *
 * The status is the wait reason of a parked goroutine, else runnable,
 * running or syscall; ", N minutes" follows when it has waited a minute or
 * more (as Go).  Parked, runnable and syscall goroutines are unwound from
 * their saved context; the caller's own goroutine shows its own stack; a
 * goroutine running on another thread is asked for its frames by a
 * signal (SIGURG, as preemption uses), and shows "goroutine running on
 * other thread; stack unavailable" (Go's line) if it does not answer
 * within 100 ms.  Safe to call from any thread; the program is not
 * stopped meanwhile (one dump at a time).  SIGQUIT prints the same dump (after Go's
 * "SIGQUIT: quit" lines, with the registers after it) and exits 2, unless
 * the program installed its own SIGQUIT handler before gort started. */
GORT_EXPORT void gort_dump_goroutines(int fd);

/* Counters of the runtime since the process started (all runs), summed
 * from per-P counters at read time (each a snapshot; they need not be
 * mutually consistent to the last event). */
typedef struct gort_stats {
    int64_t goroutines;         /* alive now (gort_num_goroutine) */
    int64_t ms;                 /* Ms (threads running goroutines) alive */
    int64_t idle_ms;            /* ... of which idle */
    int32_t procs;              /* Ps (GORTMAXPROCS) */
    int32_t idle_procs;         /* Ps idle now */
    uint64_t goroutines_created;/* made by gort_go since the start */
    uint64_t context_switches;  /* goroutines switched to */
    uint64_t steals;            /* successful run-queue steals */
    uint64_t parks;             /* goroutines parked (blocked) */
    uint64_t preempt_coop;      /* preempted at a gort call/preempt point */
    uint64_t preempt_async;     /* preempted by signal (SIGURG) */
    uint64_t syscall_handoffs;  /* Ps handed off by gort_syscall_enter */
    uint64_t syscall_retakes;   /* Ps sysmon took from a blocked call */
    uint64_t timers_fired;      /* runtime timer callbacks run (sleeps,
                                   timers, tickers, gort_after) */
    uint64_t netpoll_waits;     /* blocking waits of the netpoller */
} gort_stats;
/* Fills *out; 0, or -1 with errno = EINVAL for NULL. */
GORT_EXPORT int gort_read_stats(gort_stats *out);

/* Go's runtime/trace.Start/Stop: an execution trace of the whole process
 * (every P's goroutine runs; creates, blocks with their wait reason,
 * wake-ups as flow arrows, system calls, sysmon's retakes and preemption
 * requests, preemptions, timers, netpoll wake-ups) written to path in the
 * Chrome trace-event JSON format, which ui.perfetto.dev and
 * chrome://tracing open (tools/trace2html.py renders it without them).
 * GORTTRACE=path starts one at start-up that ends at exit.  Events go to
 * per-thread buffers that a writer thread formats; if it falls behind,
 * events are dropped and the count is recorded in the trace.  The file
 * is valid JSON once gort_trace_stop returned (or the process exited, a
 * fatal error included).  gort_trace_start: 0, or -1 with errno (EBUSY:
 * a trace is running; EINVAL: NULL path; open(2)'s errors).
 * gort_trace_stop: 0, or -1 (no trace running, or a write failed). */
GORT_EXPORT int gort_trace_start(const char *path);
GORT_EXPORT int gort_trace_stop(void);

#ifdef __cplusplus
}
#endif
#endif /* GORT_H */
