#!/usr/bin/env bash
# tests/gdb/run.sh PROGRAM -- gdb (batch mode) on tests/gdb/parked.c built
# as PROGRAM: the auto-loaded gort-gdb.py (.debug_gdb_scripts) must list
# 101 goroutines, 100 of them parked in chan receive in gdb_parked, and
# "goroutine N bt" of a parked one must name gdb_parked and gort_chan_recv;
# the thread's registers must be back afterwards.  Exit 0 on success.
#
# GDB_QEMU="qemu-aarch64 -L /usr/aarch64-linux-gnu" runs PROGRAM under
# qemu-user's gdb stub instead, debugged by gdb-multiarch (GDB_SYSROOT:
# the target's libraries); the stub shows no thread-local storage, so
# the current goroutine is not marked there.
# GDB_TEST_VERBOSE=1 prints gdb's output.
set -u
prog=$1
safe=(-iex "add-auto-load-safe-path $(cd "$(dirname "$prog")" && pwd)"
      -iex "add-auto-load-safe-path $PWD")
checks=(-ex "info goroutines"
        -ex "printf \"PC-BEFORE %lx\\n\", \$pc"
        -ex "goroutine 5 bt"
        -ex "printf \"PC-AFTER %lx\\n\", \$pc"
        -ex "goroutine 1 bt"
        -ex "kill")
if [ -n "${GDB_QEMU:-}" ]; then
    # qemu listens for gdb a moment after it starts (longer on a loaded
    # machine: a fixed 1 s sleep once lost the race, "Connection timed
    # out").  Wait until the port is in LISTEN in /proc/net/tcp (a probe
    # connection would take qemu's one gdb connection); a port that was
    # taken, or a qemu that died, gets another try on another port.
    listening() {
        local hex
        hex=$(printf '%04X' "$1")
        cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
            awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" {f=1} END {exit !f}'
    }
    for try in 1 2 3; do
        port=$((20000 + RANDOM % 20000))
        $GDB_QEMU -g "$port" "$prog" >/dev/null 2>&1 &
        qpid=$!
        for i in $(seq 100); do
            listening "$port" && break
            kill -0 "$qpid" 2>/dev/null || break
            sleep 0.1
        done
        listening "$port" && break
        kill "$qpid" 2>/dev/null
        wait "$qpid" 2>/dev/null
    done
    out=$(timeout 300 "${GDB:-gdb-multiarch}" -q -batch -nx "${safe[@]}" \
        -ex "set pagination off" -ex "set sysroot ${GDB_SYSROOT:-/}" \
        -ex "file $prog" -ex "target remote :$port" \
        -ex "break gdb_ready" -ex "continue" "${checks[@]}" 2>&1)
    kill "$qpid" 2>/dev/null
    wait "$qpid" 2>/dev/null
else
    out=$(timeout 300 "${GDB:-gdb}" -q -batch -nx "${safe[@]}" \
        -ex "set pagination off" \
        -ex "break gdb_ready" -ex "run" "${checks[@]}" "$prog" 2>&1)
fi
[ -n "${GDB_TEST_VERBOSE:-}" ] && echo "$out"
fail() { echo "$out"; echo "FAIL: $*"; exit 1; }
n=$(echo "$out" | grep -cE '^[ *] [0-9]+ +waiting \(chan receive\) +gdb_parked +gdb_parked$')
[ "$n" = 100 ] || fail "expected 100 goroutines parked in gdb_parked, got $n"
echo "$out" | grep -qE '^101 goroutines$' || fail "expected 101 goroutines"
if [ -n "${GDB_QEMU:-}" ]; then
    echo "$out" | grep -qE '^[ *] 1 +running' || fail "goroutine 1 not running"
else
    echo "$out" | grep -qE '^\* 1 +running' || fail "goroutine 1 not marked running/current"
fi
bt5=$(echo "$out" | sed -n '/^PC-BEFORE/,/^PC-AFTER/p')
echo "$bt5" | grep -q 'in gdb_parked' || fail "goroutine 5 bt does not name gdb_parked"
echo "$bt5" | grep -q 'gort_chan_recv' || fail "goroutine 5 bt does not name gort_chan_recv"
before=$(echo "$out" | sed -n 's/^PC-BEFORE //p')
after=$(echo "$out" | sed -n 's/^PC-AFTER //p')
[ -n "$before" ] && [ "$before" = "$after" ] || fail "registers not restored ($before / $after)"
echo "$out" | sed -n '/^PC-AFTER/,$p' | grep -q 'gdb_ready' || fail "goroutine 1 bt does not name gdb_ready"
echo "gdb: ok ($prog)"
