#!/usr/bin/env bash
# tests/gdb/run.sh PROGRAM -- gdb (batch mode) on tests/gdb/parked.c built
# as PROGRAM: the auto-loaded gort-gdb.py (.debug_gdb_scripts) must list
# 101 goroutines, 100 of them parked in chan receive in gdb_parked, and
# "goroutine N bt" of a parked one must name gdb_parked and gort_chan_recv;
# the thread's registers must be back afterwards.  Exit 0 on success.
set -u
prog=$1
out=$(gdb -q -batch -nx \
    -iex "add-auto-load-safe-path $(cd "$(dirname "$prog")" && pwd)" \
    -iex "add-auto-load-safe-path $PWD" \
    -ex "set pagination off" \
    -ex "break gdb_ready" -ex "run" \
    -ex "info goroutines" \
    -ex "printf \"PC-BEFORE %lx\\n\", \$pc" \
    -ex "goroutine 5 bt" \
    -ex "printf \"PC-AFTER %lx\\n\", \$pc" \
    -ex "goroutine 1 bt" \
    -ex "kill" "$prog" 2>&1)
[ -n "${GDB_TEST_VERBOSE:-}" ] && echo "$out"
fail() { echo "$out"; echo "FAIL: $*"; exit 1; }
n=$(echo "$out" | grep -cE '^[ *] [0-9]+ +waiting \(chan receive\) +gdb_parked +gdb_parked$')
[ "$n" = 100 ] || fail "expected 100 goroutines parked in gdb_parked, got $n"
echo "$out" | grep -qE '^101 goroutines$' || fail "expected 101 goroutines"
echo "$out" | grep -qE '^\* 1 +running' || fail "goroutine 1 not marked running/current"
bt5=$(echo "$out" | sed -n '/^PC-BEFORE/,/^PC-AFTER/p')
echo "$bt5" | grep -q 'in gdb_parked' || fail "goroutine 5 bt does not name gdb_parked"
echo "$bt5" | grep -q 'gort_chan_recv' || fail "goroutine 5 bt does not name gort_chan_recv"
before=$(echo "$out" | sed -n 's/^PC-BEFORE //p')
after=$(echo "$out" | sed -n 's/^PC-AFTER //p')
[ -n "$before" ] && [ "$before" = "$after" ] || fail "registers not restored ($before / $after)"
echo "$out" | sed -n '/^PC-AFTER/,$p' | grep -q 'gdb_ready' || fail "goroutine 1 bt does not name gdb_ready"
echo "gdb: ok ($prog)"
