#!/usr/bin/env bash
# bench/run.sh — gort's workloads beside the same workloads in Go.
#
#   bench/run.sh                 every workload
#   bench/run.sh spawn yield     a subset
#   make bench                   builds bench/*.c first, then runs this
#
# Each workload is a C program $BUILD/bench/<name> (from bench/<name>.c) and
# a Go program bench/go/bin/<name> (from bench/go/<name>/main.go); each runs
# its work once and prints one line "RESULT <name> <value> <unit>".  Runs
# alternate C and Go, BENCH_RUNS times each; the table shows the medians,
# the ratio gort/Go (lower is better for gort) and the target from the
# issues.
#
# Environment:
#   BUILD            build folder holding bench/<name> (default build)
#   BENCH_RUNS       runs per workload and language (default 5; rss 1)
#   BENCH_RUNS_<w>   runs for workload <w> alone, e.g. BENCH_RUNS_rss=5
#   BENCH_ARGS_<w>   arguments for workload <w>, e.g. BENCH_ARGS_spawn=100000
#   PROCS            GOMAXPROCS and GORTMAXPROCS (default 2); workloads
#                    in FIXED_PROCS (hoglat: 1) keep their own count
#   PROCS_LIST       a sweep, e.g. "1 2 4 8 16": one table per count
#   BENCH_TIMEOUT    seconds one run may take before it counts as hung (300)
#   BENCH_VERBOSE=1  print every run's value as it comes
#   GO               the go command (default: go on PATH, else
#                    /usr/lib/go-1.19/bin/go)
#   BENCH_NO_GO=1    run the gort side alone
#
# Exit status: 0 when every run printed its RESULT line (a MISS against a
# target is not an error), 1 when a run crashed, hung or printed nothing.
# The stderr of a failed run is kept in $BUILD/bench/logs/.

set -u
cd "$(dirname "$0")/.." || exit 1
FAILED=0
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
LOGS=$BUILD/bench/logs
TIMEOUT=${BENCH_TIMEOUT:-300}
PROCS_LIST=${PROCS_LIST:-${PROCS:-2}}
VERBOSE=${BENCH_VERBOSE:-0}

# Known workloads in table order, with the target from the issues:
#   ratio X   PASS when gort/Go <= X
#   max X     PASS when gort's value <= X (in the workload's unit)
ORDER=(spawn yield mutex rss defer panic pingpong buf1x1 buf4x4 select4 skynet fib
       sleepers hoglat)
declare -A TARGET=(
    [spawn]="ratio 0.25"
    [yield]="ratio 0.35"
    [mutex]="ratio 0.6"
    [rss]="max 4.5"
    [defer]="ratio 0.8"
    [panic]="ratio 0.5"
    [pingpong]="ratio 0.3"
    [buf1x1]="ratio 0.5"
    [buf4x4]="ratio 0.5"
    [select4]="ratio 0.4"
    [skynet]="ratio 0.3"
    [fib]="ratio 0.7"
    [sleepers]="ratio 0.35"
    [hoglat]="max 12"
)
# Units, for the table when no run succeeded (else taken from RESULT).
declare -A UNIT=(
    [spawn]=ns/goroutine
    [yield]=ns/yield
    [mutex]=ns/lock
    [rss]=KiB/goroutine
    [defer]=ns/call
    [panic]=ns/op
    [pingpong]=ns/roundtrip
    [buf1x1]=ns/item
    [buf4x4]=ns/item
    [select4]=ns/op
    [skynet]=ms
    [fib]=ms
    [sleepers]=ms
    [hoglat]=ms
)
# Default runs where BENCH_RUNS is not set: 1M parked goroutines fault in
# gigabytes of fresh pages (tens of seconds per run where page faults are
# slow, as on VMs), and the figure varies by well under 1% from run to run.
declare -A DEFAULT_RUNS=(
    [rss]=1
)
# Workloads that run with a fixed GOMAXPROCS=GORTMAXPROCS whatever PROCS or
# PROCS_LIST say (they still appear in every table): hoglat measures how
# long a spinning goroutine keeps the only P from the others, which means
# nothing with two.
declare -A FIXED_PROCS=(
    [hoglat]=1
)

say() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------- workloads

all_workloads() {
    local -A seen=()
    local w f list=()
    for w in "${ORDER[@]}"; do
        if [ -f "bench/$w.c" ] || [ -f "bench/go/$w/main.go" ]; then
            list+=("$w"); seen[$w]=1
        fi
    done
    for f in bench/*.c bench/go/*/main.go; do
        [ -e "$f" ] || continue
        case $f in
            bench/go/*) w=${f#bench/go/}; w=${w%/main.go} ;;
            *) w=${f#bench/}; w=${w%.c} ;;
        esac
        [ -n "${seen[$w]:-}" ] && continue
        seen[$w]=1; list+=("$w")
    done
    printf '%s\n' "${list[@]}"
}

mapfile -t KNOWN < <(all_workloads)
if [ $# -gt 0 ]; then
    WORKLOADS=()
    for w in "$@"; do
        case $w in -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
        ok=0
        for k in "${KNOWN[@]}"; do [ "$k" = "$w" ] && ok=1; done
        if [ $ok = 0 ]; then
            say "run.sh: unknown workload '$w' (known: ${KNOWN[*]})"
            exit 2
        fi
        WORKLOADS+=("$w")
    done
else
    WORKLOADS=("${KNOWN[@]}")
fi

envname() { printf '%s' "$1" | tr -c 'A-Za-z0-9_' '_'; }

# procs_for NAME PROCS: the P count workload NAME runs with in the table
# for PROCS.
procs_for() { echo "${FIXED_PROCS[$1]:-$2}"; }

runs_for() {
    local v
    v="BENCH_RUNS_$(envname "$1")"
    if [ -n "${!v:-}" ]; then echo "${!v}"
    elif [ -n "${BENCH_RUNS:-}" ]; then echo "$BENCH_RUNS"
    else echo "${DEFAULT_RUNS[$1]:-5}"
    fi
}

args_for() {
    local v
    v="BENCH_ARGS_$(envname "$1")"
    echo "${!v:-}"
}

# ------------------------------------------------------------------ gort side

C_MISSING=()
cbin() { echo "$BUILD/bench/$1"; }
# Build (or refresh) the C programs when run by hand and make is at hand;
# under `make bench` (MAKELEVEL set) they are built already.
if [ -z "${MAKELEVEL:-}" ] && command -v make >/dev/null 2>&1; then
    targets=()
    for w in "${WORKLOADS[@]}"; do
        [ -f "bench/$w.c" ] && targets+=("$(cbin "$w")")
    done
    if [ ${#targets[@]} -gt 0 ] &&
       ! make -s --no-print-directory BUILD="$BUILD" "${targets[@]}" >&2; then
        say "run.sh: building the C workloads failed; running what exists"
    fi
fi
for w in "${WORKLOADS[@]}"; do
    [ -f "bench/$w.c" ] && [ ! -x "$(cbin "$w")" ] && C_MISSING+=("$w")
done
[ ${#C_MISSING[@]} -gt 0 ] && FAILED=1

# -------------------------------------------------------------------- Go side

GOBIN_DIR=$ROOT/bench/go/bin
GO_VERSION=
GO_NOTE=
find_go() {
    if [ -n "${GO:-}" ]; then command -v "$GO"; return; fi
    command -v go 2>/dev/null && return
    [ -x /usr/lib/go-1.19/bin/go ] && echo /usr/lib/go-1.19/bin/go
}
if [ "${BENCH_NO_GO:-0}" = 1 ]; then
    GOCMD=; GO_NOTE="Go side skipped (BENCH_NO_GO=1)"
else
    GOCMD=$(find_go)
    [ -n "$GOCMD" ] || GO_NOTE="Go was not found (${GO:+GO=$GO, }PATH, /usr/lib/go-1.19/bin/go); gort column only"
fi
if [ -n "$GOCMD" ]; then
    GO_VERSION=$("$GOCMD" version 2>/dev/null | awk '{print $3}')
    mkdir -p "$GOBIN_DIR"
    gocache=${GOCACHE:-$("$GOCMD" env GOCACHE 2>/dev/null)}
    case $gocache in ""|off) gocache=$GOBIN_DIR/.cache ;; esac
    for w in "${WORKLOADS[@]}"; do
        [ -f "bench/go/$w/main.go" ] || continue
        if ! (cd bench/go && GOCACHE=$gocache GOFLAGS=-mod=mod GOPROXY=off \
              GOTOOLCHAIN=local GO111MODULE=on \
              "$GOCMD" build -o "$GOBIN_DIR/$w" "./$w") >&2; then
            say "run.sh: go build of bench/go/$w failed"
            rm -f "$GOBIN_DIR/$w"
        fi
    done
fi
gobin() { echo "$GOBIN_DIR/$1"; }
have_go() { [ -n "$GOCMD" ] && [ -x "$(gobin "$1")" ]; }

# ------------------------------------------------------------------- running

declare -A VALS=() FAIL=()
rm -f "$LOGS"/*.err 2>/dev/null

# run_one LANG NAME PROCS RUN BIN: one run; appends to VALS[procs:name:lang]
# or records FAIL[procs:name:lang] (with the evidence in $LOGS).  PROCS is
# the table's count; the run gets procs_for's.
run_one() {
    local lang=$1 name=$2 procs=$3 run=$4 bin=$5 key="$3:$2:$1"
    local out rc line err np
    local -a args
    read -r -a args <<<"$(args_for "$name")"
    np=$(procs_for "$name" "$procs")
    mkdir -p "$LOGS"
    err=$LOGS/$name-$lang-p$np-run$run.err
    local -a tmo=()
    command -v timeout >/dev/null 2>&1 && tmo=(timeout -k 5 "$TIMEOUT")
    out=$(GORTMAXPROCS=$np GOMAXPROCS=$np "${tmo[@]}" "$bin" "${args[@]}" 2>"$err")
    rc=$?
    line=$(printf '%s\n' "$out" | awk -v n="$name" '$1 == "RESULT" && $2 == n {print; exit}')
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
        local why
        case $rc in
            0) why="no RESULT line" ;;
            124|137) why="hung (killed after ${TIMEOUT}s)" ;;
            *) if [ $rc -gt 128 ]; then why="killed by signal $((rc - 128))"
               else why="exit status $rc"; fi ;;
        esac
        FAIL[$key]=$why
        FAILED=1
        say "  $lang $name (procs $np, run $run): $why; stderr in $err:"
        tail -n 15 "$err" | sed 's/^/    | /' >&2
        return 1
    fi
    [ -s "$err" ] || rm -f "$err"
    local val unit
    read -r _ _ val unit _ <<<"$line"
    VALS[$key]="${VALS[$key]:-} $val"
    UNIT[$name]=$unit
    [ "$VERBOSE" = 1 ] && say "  $lang $name run $run: $val $unit"
    return 0
}

median() {
    printf '%s\n' "$@" | awk 'NF' | sort -g | awk '
        { a[NR] = $1 }
        END {
            if (NR == 0) { print "-"; exit }
            if (NR % 2) printf "%.2f\n", a[(NR + 1) / 2]
            else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2
        }'
}

run_workload() {
    local name=$1 procs=$2 runs r cdead=0 godead=0
    runs=$(runs_for "$name")
    if [ -n "${FIXED_PROCS[$name]:-}" ]; then
        say "$name (procs ${FIXED_PROCS[$name]}, fixed): $runs runs each"
    else
        say "$name (procs $procs): $runs runs each"
    fi
    for ((r = 1; r <= runs; r++)); do
        if [ $cdead = 0 ] && [ -x "$(cbin "$name")" ]; then
            run_one gort "$name" "$procs" "$r" "$(cbin "$name")" || cdead=1
        fi
        if [ $godead = 0 ] && have_go "$name"; then
            run_one go "$name" "$procs" "$r" "$(gobin "$name")" || godead=1
        fi
    done
}

# ------------------------------------------------------------------- the table

print_table() {
    local procs=$1 w c g ratio tgt kind lim verdict unit cs gs
    local cpu ncpu
    cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null)
    ncpu=$(nproc 2>/dev/null || echo '?')
    echo
    printf 'gort vs %s, GOMAXPROCS=GORTMAXPROCS=%s, medians; %s CPUs (%s)\n' \
        "${GO_VERSION:-Go}" "$procs" "$ncpu" "${cpu:-unknown}"
    [ -n "$GO_NOTE" ] && echo "$GO_NOTE"
    printf '%-10s %-15s %12s %12s %9s  %-14s %s\n' \
        workload unit gort Go gort/Go target verdict
    for w in "${WORKLOADS[@]}"; do
        unit=${UNIT[$w]:--}
        # shellcheck disable=SC2086
        c=$(median ${VALS[$procs:$w:gort]:-})
        # shellcheck disable=SC2086
        g=$(median ${VALS[$procs:$w:go]:-})
        cs=$c; gs=$g
        [ -n "${FAIL[$procs:$w:gort]:-}" ] && cs=FAILED
        [ -n "${FAIL[$procs:$w:go]:-}" ] && gs=FAILED
        if [ ! -f "bench/$w.c" ]; then cs=no-program
        elif [ ! -x "$(cbin "$w")" ]; then cs=no-binary; fi
        if ! have_go "$w"; then
            if [ -n "$GOCMD" ]; then gs=no-program; else gs=no-go; fi
        fi
        ratio=-
        if [ "$cs" = "$c" ] && [ "$gs" = "$g" ] && [ "$c" != - ] && [ "$g" != - ]; then
            ratio=$(awk -v c="$c" -v g="$g" 'BEGIN { if (g > 0) printf "%.3f", c / g; else print "-" }')
        fi
        read -r kind lim <<<"${TARGET[$w]:-none -}"
        verdict=
        case $kind in
            ratio)
                tgt="<= $lim"
                if [ "$cs" != "$c" ]; then verdict=FAIL
                elif [ "$ratio" = - ]; then verdict=n/a
                else verdict=$(awk -v r="$ratio" -v l="$lim" 'BEGIN { print (r <= l) ? "PASS" : "MISS" }')
                fi ;;
            max)
                tgt="<= $lim"
                [ "$unit" != - ] && tgt="$tgt ${unit%%/*}"
                if [ "$cs" != "$c" ] || [ "$c" = - ]; then verdict=FAIL
                else verdict=$(awk -v c="$c" -v l="$lim" 'BEGIN { print (c <= l) ? "PASS" : "MISS" }')
                fi ;;
            *) tgt=-; [ "$cs" != "$c" ] && verdict=FAIL ;;
        esac
        printf '%-10s %-15s %12s %12s %9s  %-14s %s\n' \
            "$w" "$unit" "$cs" "$gs" "$ratio" "$tgt" "$verdict"
    done
    for w in "${WORKLOADS[@]}"; do
        [ -n "${FIXED_PROCS[$w]:-}" ] && [ "${FIXED_PROCS[$w]}" != "$procs" ] &&
            printf '(%s ran with GOMAXPROCS=GORTMAXPROCS=%s)\n' "$w" "${FIXED_PROCS[$w]}"
    done
    return 0
}

# ---------------------------------------------------------------------- main

[ ${#C_MISSING[@]} -gt 0 ] &&
    say "run.sh: no C binary for: ${C_MISSING[*]} (make BUILD=$BUILD bench)"
[ -n "$GO_NOTE" ] && say "run.sh: $GO_NOTE"

for procs in $PROCS_LIST; do
    for w in "${WORKLOADS[@]}"; do
        run_workload "$w" "$procs"
    done
    print_table "$procs"
done
exit $FAILED
