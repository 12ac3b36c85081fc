#!/usr/bin/env bash
# bench/trace-overhead.sh — what GORTTRACE costs the program being traced.
#
#   bench/trace-overhead.sh            spawn and pingpong
#   bench/trace-overhead.sh pingpong   one of them
#   make bench-trace                   builds the workloads first
#
# Each workload (bench/spawn.c, bench/pingpong.c) runs alternately without
# and with GORTTRACE=<tmp>/t.json, TRACE_RUNS times each (default 5); the
# table shows the medians of the workload's own figure (ns per goroutine,
# ns per round trip: timed inside the program, so the conversion of the
# trace at exit is not counted) and the ratio on/off, against issue 7's
# target of 2x.  The traced run's JSON is checked to be there and is
# removed after each run (pingpong's 200,000 round trips make ~200 MB).
#
# Environment:
#   BUILD             build folder holding bench/<name> (default build)
#   TRACE_RUNS        runs per side (default 5)
#   TRACE_N           the workloads' N (default 200000)
#   PROCS             GORTMAXPROCS (default 2)
#   TRACE_DIR         where the traces go (default: a mktemp -d folder)
#
# Exit status: 0 when every run printed its RESULT line (a MISS is not an
# error), 1 when a run failed.

set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RUNS=${TRACE_RUNS:-5}
N=${TRACE_N:-200000}
PROCS=${PROCS:-2}
TARGET=2.0
WORKLOADS=("$@")
[ ${#WORKLOADS[@]} -gt 0 ] || WORKLOADS=(spawn pingpong)
for w in "${WORKLOADS[@]}"; do
    case $w in
        spawn|pingpong) ;;
        -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "trace-overhead.sh: unknown workload '$w' (spawn, pingpong)" >&2
           exit 2 ;;
    esac
done
if [ -z "${MAKELEVEL:-}" ]; then
    bins=()
    for w in "${WORKLOADS[@]}"; do bins+=("$BUILD/bench/$w"); done
    make -s --no-print-directory BUILD="$BUILD" "${bins[@]}" >&2 || exit 1
fi
DIR=${TRACE_DIR:-$(mktemp -d /tmp/gort-trace-XXXXXX)}
mkdir -p "$DIR"
cleanup() { rm -f "$DIR/t.json"; [ -n "${TRACE_DIR:-}" ] || rmdir "$DIR" 2>/dev/null; }
trap cleanup EXIT

FAILED=0
declare -A VALS=()
# one NAME SIDE: a run; appends the figure to VALS[NAME:SIDE].
one() {
    local name=$1 side=$2 out line
    local -a env=(GORTMAXPROCS=$PROCS)
    [ "$side" = on ] && env+=(GORTTRACE=$DIR/t.json)
    rm -f "$DIR/t.json"
    # The last trace's pages still going to disk would slow this run.
    sync
    if ! out=$(env "${env[@]}" timeout -k 5 300 "$BUILD/bench/$name" "$N" 2>&1); then
        echo "  $name ($side): failed: $(printf '%s' "$out" | tail -n 3)" >&2
        FAILED=1; return
    fi
    line=$(printf '%s\n' "$out" | awk -v n="$name" '$1 == "RESULT" && $2 == n {print $3; exit}')
    if [ -z "$line" ]; then
        echo "  $name ($side): no RESULT line" >&2; FAILED=1; return
    fi
    if [ "$side" = on ] && ! [ -s "$DIR/t.json" ]; then
        echo "  $name (on): no trace written to $DIR/t.json" >&2; FAILED=1; return
    fi
    VALS[$name:$side]="${VALS[$name:$side]:-} $line"
}
median() {
    printf '%s\n' $1 | awk 'NF' | sort -g | awk '
        { a[NR] = $1 }
        END { if (NR == 0) { print "-"; exit }
              if (NR % 2) printf "%.2f\n", a[(NR + 1) / 2]
              else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

for w in "${WORKLOADS[@]}"; do
    for ((r = 1; r <= RUNS; r++)); do
        one "$w" off
        one "$w" on
    done
done

printf '\nGORTTRACE overhead: %s Ps, N=%s, medians of %s runs each (%s)\n\n' \
    "$PROCS" "$N" "$RUNS" "$(date -u '+%Y-%m-%d %H:%M UTC')"
printf '| workload | unit | off | on | on/off | target |\n'
printf '|---|---|---|---|---|---|\n'
for w in "${WORKLOADS[@]}"; do
    off=$(median "${VALS[$w:off]:-}")
    on=$(median "${VALS[$w:on]:-}")
    unit=ns/goroutine; [ "$w" = pingpong ] && unit=ns/roundtrip
    ratio=- verdict=-
    if [ "$off" != - ] && [ "$on" != - ]; then
        ratio=$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.2f", a / b }')
        verdict=$(awk -v r="$ratio" -v t="$TARGET" 'BEGIN { print (r <= t ? "PASS" : "MISS") }')
    fi
    printf '| %s | %s | %s | %s | %s | <= %s %s |\n' "$w" "$unit" "$off" "$on" \
        "$ratio" "$TARGET" "$verdict"
done
exit $FAILED
