# gort — Go's runtime, for C.
#
#   make            libgort.a, libgort.so, examples, tests
#   make test       the whole suite; last line "N passed, N failed"
#   make demo       builds and runs examples/tour
#   make test-http  examples/http under wrk (needs wrk: apt-get install wrk)
#   make test-gdb   gdb (batch) lists and backtraces goroutines
#   make test-trace-html  a GORTTRACE trace rendered by tools/trace2html.py,
#                   checked in headless Chromium (apt-get install chromium)
#   make bench      C workloads beside the same workloads in Go
#   make install PREFIX=/usr/local
#
# CC=clang works too; BUILD picks the output folder (default build/).

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
ARCH    ?= $(shell $(CC) -dumpmachine | cut -d- -f1)
OBJCOPY ?= objcopy
VERSION := 0.1.0

OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Werror
CFLAGS_LIB := -std=c11 $(OPT) $(WARN) -fno-omit-frame-pointer -fPIC \
              -fvisibility=hidden -D_GNU_SOURCE -Iinclude $(EXTRA_CFLAGS)
CFLAGS_APP := -std=c11 $(OPT) $(WARN) -fno-omit-frame-pointer -D_GNU_SOURCE \
              -Iinclude $(EXTRA_CFLAGS)
LDLIBS  := -pthread $(EXTRA_LDLIBS)

# aarch64: gort's atomics inline, not calls to libgcc's outline atomics,
# which would lie outside gort's code (gort_text) and so look like the
# program's code to the preemption handler (src/preempt.c).
ifeq ($(ARCH),aarch64)
CFLAGS_LIB += -mno-outline-atomics
endif

# Optional: libdw (elfutils) for file:line in backtraces.
HAVE_LIBDW ?= $(shell printf '#include <elfutils/libdwfl.h>\nint main(void){return 0;}\n' | \
	$(CC) -x c - -ldw -o /dev/null 2>/dev/null && echo 1)
ifeq ($(HAVE_LIBDW),1)
CFLAGS_LIB += -DGORT_HAVE_LIBDW=1
LDLIBS += -ldw
endif

LIB_SRCS := $(wildcard src/*.c)
LIB_ASM  := src/arch/$(ARCH)/switch.S
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/switch.o
LIB_A    := $(BUILD)/libgort.a
LIB_SO   := $(BUILD)/libgort.so

EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
TEST_SRCS := $(wildcard tests/*.c)
TEST_BIN := $(BUILD)/tests/run-tests
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

.PHONY: all lib examples tests test test-http test-gdb test-trace-html demo bench install clean check-exports check-helpers

all: lib examples tests

lib: $(LIB_A) $(LIB_SO)

# Every object's code goes into one section, gort_text, so that the
# preemption signal handler can tell gort's code from the program's
# (src/preempt.c; the linker defines __start_gort_text/__stop_gort_text).
GORT_TEXT := --rename-section .text=gort_text,alloc,load,readonly,code,contents \
             --rename-section .text.unlikely=gort_text,alloc,load,readonly,code,contents \
             --rename-section .text.hot=gort_text,alloc,load,readonly,code,contents \
             --rename-section .text.startup=gort_text,alloc,load,readonly,code,contents

$(BUILD)/obj/%.o: src/%.c src/runtime.h include/gort.h | $(BUILD)/obj
	$(CC) $(CFLAGS_LIB) -c $< -o $@.tmp
	$(OBJCOPY) $(GORT_TEXT) $@.tmp $@
	rm -f $@.tmp

# traceback.o carries tools/gort-gdb.py (.debug_gdb_scripts, .incbin).
$(BUILD)/obj/traceback.o: tools/gort-gdb.py

$(BUILD)/obj/switch.o: $(LIB_ASM) | $(BUILD)/obj
	$(CC) $(CFLAGS_LIB) -c $< -o $@.tmp
	$(OBJCOPY) $(GORT_TEXT) $@.tmp $@
	rm -f $@.tmp

$(LIB_A): $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(LIB_SO): $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,libgort.so.0 -o $@ $^ $(LDLIBS)

$(BUILD)/obj $(BUILD)/examples $(BUILD)/tests $(BUILD)/bench:
	mkdir -p $@

examples: $(EXAMPLES)

$(BUILD)/examples/%: examples/%.c $(LIB_A) include/gort.h | $(BUILD)/examples
	$(CC) $(CFLAGS_APP) $< -o $@ $(LIB_A) $(LDLIBS)

tests: $(TEST_BIN)

$(TEST_BIN): $(TEST_SRCS) $(wildcard tests/*.h) $(LIB_A) | $(BUILD)/tests
	$(CC) $(CFLAGS_APP) $(if $(filter 1,$(HAVE_LIBDW)),-DGORT_HAVE_LIBDW=1) \
	    -Isrc $(TEST_SRCS) -o $@ $(LIB_A) $(LDLIBS)

# The whole suite: each test in its own child with a timeout.
test: $(TEST_BIN) check-exports check-helpers
	./$(TEST_BIN)

# gdb in batch mode on 100 parked goroutines, the program linked with
# libgort.a and with libgort.so: tools/gort-gdb.py, auto-loaded from the
# .debug_gdb_scripts section, lists them and backtraces one
# (tests/gdb/run.sh; GDB_TEST_VERBOSE=1 shows gdb's output).
test-gdb: $(LIB_A) $(LIB_SO)
	mkdir -p $(BUILD)/gdb
	ln -sf ../libgort.so $(BUILD)/gdb/libgort.so.0
	$(CC) $(CFLAGS_APP) tests/gdb/parked.c -o $(BUILD)/gdb/parked-static $(LIB_A) $(LDLIBS)
	$(CC) $(CFLAGS_APP) tests/gdb/parked.c -o $(BUILD)/gdb/parked-shared \
	    -L$(BUILD) -lgort -Wl,-rpath,$(abspath $(BUILD)/gdb) -pthread
	tests/gdb/run.sh $(BUILD)/gdb/parked-static
	tests/gdb/run.sh $(BUILD)/gdb/parked-shared

# examples/workers under GORTTRACE, the trace rendered as HTML by
# tools/trace2html.py and loaded in headless Chromium: the DOM must hold
# the SVG timeline's lanes, runs and events, a screenshot must not be
# blank (tests/trace/html.sh; CHROMIUM= picks the browser).
test-trace-html: $(BUILD)/examples/workers
	tests/trace/html.sh $(BUILD)/examples/workers

# gort must call no compiler-runtime helper (libgcc's outline atomics,
# 128-bit arithmetic, ...): such code is linked into the program's text,
# where the preemption handler takes it for the program's own code and
# could stop gort inside it, a runtime lock held (src/preempt.c).
check-helpers: $(LIB_A)
	@bad=$$(nm -u $(LIB_A) | awk '{print $$2}' | grep -E '^__(aarch64_|[a-z]+[dt]i[0-9]$$|[a-z]+[sdt]f[0-9]$$|clear_cache)' | sort -u || true); \
	if [ -n "$$bad" ]; then echo "gort calls compiler helpers: $$bad"; exit 1; fi; \
	echo "helpers: none"

# Only gort_ symbols may leave the shared library.
check-exports: $(LIB_SO)
	@bad=$$(nm -D --defined-only $(LIB_SO) | awk '{print $$3}' | grep -v '^gort_' | grep -v '^_' || true); \
	if [ -n "$$bad" ]; then echo "non-gort symbols exported: $$bad"; exit 1; fi; \
	echo "exports: only gort_ symbols"

demo: $(BUILD)/examples/tour
	./$(BUILD)/examples/tour

# examples/http on a free port: keep-alive, pipelining, HTTP/1.0 and a
# 400 by hand, then wrk; fails when wrk is missing or reports any error.
test-http: $(BUILD)/examples/http
	./tests/http-wrk.sh $(BUILD)/examples/http

$(BUILD)/bench/%: bench/%.c $(wildcard bench/*.h) $(LIB_A) | $(BUILD)/bench
	$(CC) $(CFLAGS_APP) -O2 $< -o $@ $(LIB_A) $(LDLIBS)

# The http workload's gort side is an example.
BENCH_EXTRA := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/http.c))

bench: $(BENCH_BINS) $(BENCH_EXTRA)
	BUILD=$(BUILD) ./bench/run.sh

install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/gort.h $(DESTDIR)$(PREFIX)/include/gort.h
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/libgort.a
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libgort.so.0
	ln -sf libgort.so.0 $(DESTDIR)$(PREFIX)/lib/libgort.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@LIBS_PRIVATE@|$(LDLIBS)|g' gort.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/gort.pc

clean:
	rm -rf build build-*

# --- aarch64 under qemu-user -------------------------------------------------
#
#   make arch-smoke     switch.S alone (tools/arch-smoke.c), natively and for
#                       aarch64 under qemu-user
#   make test-aarch64   cross-builds library, examples and tests into
#                       build-aarch64/ and runs the suite under qemu-user
#
# Needs aarch64-linux-gnu-gcc and qemu-aarch64 (Debian: gcc-aarch64-linux-gnu,
# qemu-user); the target's libc comes from /usr/aarch64-linux-gnu.

AARCH64_CC    ?= aarch64-linux-gnu-gcc
AARCH64_BUILD ?= build-aarch64
AARCH64_QEMU  ?= qemu-aarch64 -L /usr/aarch64-linux-gnu
AARCH64_MAKE   = $(MAKE) CC=$(AARCH64_CC) ARCH=aarch64 BUILD=$(AARCH64_BUILD) \
                 OBJCOPY=aarch64-linux-gnu-objcopy \
                 HAVE_LIBDW=

# Tests the runner leaves out under qemu-user (GORT_TEST_SKIP: printed as
# "# SKIP", counted neither as passed nor failed), each for a reason of the
# emulator (qemu 7.2), not of the port:
#   mmap_exhaustion         qemu-user accepts setrlimit(RLIMIT_AS) but does
#                           not apply it (it would limit qemu itself), so
#                           gort_go never runs out of address space.
#   stack_overflow_default  qemu-user answers 0 to madvise() advice it does
#                           not know, MADV_GUARD_INSTALL included, without
#                           installing anything: the stack has no guard and
#                           the overflow is a bare SIGSEGV.  The mprotect
#                           guard (stack_overflow_mprotect) runs.
#   syscall_unwrapped_*     sysmon rescues an unwrapped blocking call after
#   syscall_many_unwrapped_1p  reading /proc/self/task/TID/syscall, which
#                           qemu-user fills with the host's (x86_64)
#                           syscall numbers; gort sees the mismatch and
#                           leaves unwrapped calls alone there
#                           (docs/preemption.md).  Wrapped calls run.
AARCH64_TEST_SKIP ?= mmap_exhaustion stack_overflow_default \
                     syscall_unwrapped_usleep_1p syscall_unwrapped_pipe_read_1p \
                     syscall_unwrapped_recv_timeout_1p syscall_many_unwrapped_1p
# Emulation slack for the per-test timeouts.
AARCH64_TIMEOUT_SCALE ?= 2

.PHONY: arch-smoke arch-smoke-native arch-smoke-aarch64 test-aarch64 test-gdb-aarch64

$(BUILD)/tools:
	mkdir -p $@

# Only switch.S and the smoke program: no scheduler, no libgort.
$(BUILD)/tools/arch-smoke: tools/arch-smoke.c $(LIB_ASM) | $(BUILD)/tools
	$(CC) $(CFLAGS_APP) $^ -o $@ -lm

arch-smoke-native: $(BUILD)/tools/arch-smoke
	./$(BUILD)/tools/arch-smoke

arch-smoke-aarch64:
	$(AARCH64_MAKE) $(AARCH64_BUILD)/tools/arch-smoke
	$(AARCH64_QEMU) $(AARCH64_BUILD)/tools/arch-smoke

ifeq ($(ARCH),aarch64)
arch-smoke: arch-smoke-native
else
arch-smoke: arch-smoke-native arch-smoke-aarch64
endif

test-aarch64:
	$(AARCH64_MAKE) tests examples check-helpers
	GORT_TEST_SKIP="$(AARCH64_TEST_SKIP)" \
	GORT_TEST_TIMEOUT_SCALE=$(AARCH64_TIMEOUT_SCALE) $(AARCH64_QEMU) \
	    $(AARCH64_BUILD)/tests/run-tests

# tools/gort-gdb.py on aarch64: tests/gdb/parked.c cross-built (static),
# run under qemu-user's gdb stub, debugged by gdb-multiarch.
test-gdb-aarch64:
	$(AARCH64_MAKE) lib
	mkdir -p $(AARCH64_BUILD)/gdb
	$(AARCH64_CC) $(CFLAGS_APP) tests/gdb/parked.c \
	    -o $(AARCH64_BUILD)/gdb/parked-static $(AARCH64_BUILD)/libgort.a -pthread
	GDB_QEMU="$(AARCH64_QEMU)" GDB_SYSROOT=/usr/aarch64-linux-gnu \
	    tests/gdb/run.sh $(AARCH64_BUILD)/gdb/parked-static
