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
# the ratio gort/Go (lower is better for gort, except where the target says
# ">=") and the target from the issues.
#
# Two workloads are servers under an outside load instead (docs/bench.md):
#   echo   bench/echo.c (gort), bench/go/echo and bench/epoll_echo.c (C on
#          epoll by hand, the baseline), each driven by bench/echoload
#          (closed loop, 100 connections, 64-byte messages); round trips/s,
#          higher is better; rows gort/Go and gort/epoll
#   http   examples/http.c (gort) and bench/go/httphello (net/http) under
#          wrk (when /usr/bin/wrk or wrk on PATH exists); requests/s
# The server runs pinned to ECHO_SERVER_CPUS with as many Ps, the load
# generator to ECHO_CLIENT_CPUS; the server is started on a free port,
# waited for until it listens, and killed after each run.
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
# The echo and http workloads:
#   ECHO_SERVER_CPUS  CPUs of the server (taskset list, default 0)
#   ECHO_CLIENT_CPUS  CPUs of the load generator (default 1), e.g.
#                     ECHO_SERVER_CPUS=0-7 ECHO_CLIENT_CPUS=8-15 on 16 cores
#   ECHO_PROCS        GORTMAXPROCS=GOMAXPROCS of the servers, and
#                     bench/epoll_echo's threads (default: the number of
#                     server CPUs)
#   ECHO_CLIENT_THREADS  echoload's and wrk's threads (default: the number
#                     of client CPUs)
#   ECHO_CONNS, ECHO_SIZE, ECHO_DURATION, ECHO_WARMUP
#                     connections (100), message bytes (64), measured
#                     seconds (3) and warm-up seconds before them (0.5)
#   HTTP_CONNS, HTTP_DURATION, HTTP_WARMUP
#                     wrk's connections (100), seconds (3), and a warm-up
#                     wrk run before the measured one (1 s; 0: none)
#   BENCH_ARGS_echo / BENCH_ARGS_http  more arguments for echoload / wrk
#   WRK               the wrk command (default: wrk on PATH)
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
#   ratio X       PASS when gort/Go <= X (gort's value is a cost)
#   min_ratio X   PASS when gort/Go >= X (gort's value is a rate)
#   max X         PASS when gort's value <= X (in the workload's unit)
ORDER=(spawn yield mutex rss defer panic pingpong buf1x1 buf4x4 select4 skynet fib
       sleepers hoglat echo http)
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
    [echo]="min_ratio 1.1"
)
# A second row for a workload, gort against a baseline other than Go (the
# row's "Go" column then holds the baseline, as the note under the table
# says): REF[w] names the baseline's language key, REF_TARGET[w] its target.
declare -A REF=(
    [echo]=epoll
)
declare -A REF_TARGET=(
    [echo]="min_ratio 0.95"
)
declare -A REF_LABEL=(
    [epoll]="bench/epoll_echo (C, epoll by hand)"
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
    [echo]=roundtrips/s
    [http]=requests/s
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
# Server workloads (run by run_net_one, not run_one): bench/run.sh starts
# the server, loads it from outside and stops it.
declare -A SERVER=(
    [echo]=1
    [http]=1
)
# Programs in bench/ that are no workload of their own: the load generator
# and the baseline server of echo, the Go server of http.
declare -A HELPER=(
    [echoload]=1
    [epoll_echo]=1
    [httphello]=1
)

say() { printf '%s\n' "$*" >&2; }

# Where a workload's programs are: bench/<w>.c and bench/go/<w>, except
# http, whose gort side is examples/http.c and Go side bench/go/httphello.
csrc() { case $1 in http) echo examples/http.c ;; *) echo "bench/$1.c" ;; esac; }
goname() { case $1 in http) echo httphello ;; *) echo "$1" ;; esac; }

# ---------------------------------------------------------------- workloads

all_workloads() {
    local -A seen=()
    local w f list=()
    for w in "${!HELPER[@]}"; do seen[$w]=1; done
    for w in "${ORDER[@]}"; do
        if [ -f "$(csrc "$w")" ] || [ -f "bench/go/$(goname "$w")/main.go" ]; then
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
cbin() { case $1 in http) echo "$BUILD/examples/http" ;; *) echo "$BUILD/bench/$1" ;; esac; }
# The C programs a workload needs: its own, and echo's load generator and
# baseline.
cneeds() { echo "$1"; [ "$1" = echo ] && echo echoload epoll_echo; }
# Build (or refresh) the C programs when run by hand and make is at hand;
# under `make bench` (MAKELEVEL set) they are built already.
if [ -z "${MAKELEVEL:-}" ] && command -v make >/dev/null 2>&1; then
    targets=()
    for w in "${WORKLOADS[@]}"; do
        for p in $(cneeds "$w"); do
            [ -f "$(csrc "$p")" ] && targets+=("$(cbin "$p")")
        done
    done
    if [ ${#targets[@]} -gt 0 ] &&
       ! make -s --no-print-directory BUILD="$BUILD" "${targets[@]}" >&2; then
        say "run.sh: building the C workloads failed; running what exists"
    fi
fi
for w in "${WORKLOADS[@]}"; do
    for p in $(cneeds "$w"); do
        [ -f "$(csrc "$p")" ] && [ ! -x "$(cbin "$p")" ] && C_MISSING+=("$p")
    done
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
        g=$(goname "$w")
        [ -f "bench/go/$g/main.go" ] || continue
        if ! (cd bench/go && GOCACHE=$gocache GOFLAGS=-mod=mod GOPROXY=off \
              GOTOOLCHAIN=local GO111MODULE=on \
              "$GOCMD" build -o "$GOBIN_DIR/$g" "./$g") >&2; then
            say "run.sh: go build of bench/go/$g failed"
            rm -f "$GOBIN_DIR/$g"
        fi
    done
fi
gobin() { echo "$GOBIN_DIR/$(goname "$1")"; }
have_go() { [ -n "$GOCMD" ] && [ -x "$(gobin "$1")" ]; }

# ------------------------------------------------------------------- running

declare -A VALS=() FAIL=() STAT=()
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

# ------------------------------------------------------- network workloads

# echo and http: the server pinned to NET_SERVER_CPUS with NET_PROCS Ps,
# the load generator (bench/echoload, wrk) pinned to NET_CLIENT_CPUS.
NET_SERVER_CPUS=${ECHO_SERVER_CPUS:-0}
NET_CLIENT_CPUS=${ECHO_CLIENT_CPUS:-1}
NET_NOTE=
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# cpu_count LIST: how many CPUs a taskset list ("0-3,8") names; 0 if bad.
cpu_count() {
    local part n=0 a b
    [[ $1 =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] || { echo 0; return; }
    local IFS=,
    for part in $1; do
        case $part in
            *-*) a=${part%-*}; b=${part#*-}; [ "$b" -ge "$a" ] && n=$((n + b - a + 1)) ;;
            *) n=$((n + 1)) ;;
        esac
    done
    echo "$n"
}

PIN_SERVER=(); PIN_CLIENT=()
net_setup() {
    local ns nc
    ns=$(cpu_count "$NET_SERVER_CPUS"); nc=$(cpu_count "$NET_CLIENT_CPUS")
    if [ "$ns" = 0 ] || [ "$nc" = 0 ]; then
        say "run.sh: bad ECHO_SERVER_CPUS='$NET_SERVER_CPUS' or ECHO_CLIENT_CPUS='$NET_CLIENT_CPUS' (want a taskset list like 0 or 0-7,9)"
        exit 2
    fi
    NET_PROCS=${ECHO_PROCS:-$ns}
    NET_CLIENT_THREADS=${ECHO_CLIENT_THREADS:-$nc}
    if command -v taskset >/dev/null 2>&1 &&
       taskset -c "$NET_SERVER_CPUS" true 2>/dev/null &&
       taskset -c "$NET_CLIENT_CPUS" true 2>/dev/null; then
        PIN_SERVER=(taskset -c "$NET_SERVER_CPUS")
        PIN_CLIENT=(taskset -c "$NET_CLIENT_CPUS")
        NET_WHERE="server on CPU $NET_SERVER_CPUS, load on CPU $NET_CLIENT_CPUS"
    else
        NET_WHERE="NOT pinned (taskset missing, or CPUs $NET_SERVER_CPUS / $NET_CLIENT_CPUS not available: $(nproc 2>/dev/null || echo '?') CPUs)"
        NET_NOTE="run.sh: echo/http: $NET_WHERE"
    fi
}
NET_PROCS=${ECHO_PROCS:-1}
for w in "${WORKLOADS[@]}"; do
    if [ -n "${SERVER[$w]:-}" ]; then net_setup; break; fi
done
FIXED_PROCS[echo]=$NET_PROCS
FIXED_PROCS[http]=$NET_PROCS

WRKCMD=$(command -v "${WRK:-wrk}" 2>/dev/null)
# wrk takes whole seconds.
for v in HTTP_DURATION HTTP_WARMUP; do
    if [ -n "${!v:-}" ] && ! [[ ${!v} =~ ^[0-9]+$ ]]; then
        say "run.sh: $v='${!v}': wrk takes whole seconds"
        exit 2
    fi
done

# port_in_use PORT: some TCP socket of this host's namespace has it.
port_in_use() {
    local hex
    hex=$(printf ':%04X' "$1")
    awk -v h="$hex" 'FNR > 1 && substr($2, length($2) - 4) == h { f = 1 }
                     END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
free_port() {
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((20000 + RANDOM % 30000))
        port_in_use "$p" || { echo "$p"; return; }
    done
    echo "$p"
}

# alive PID: PID exists and is not a zombie.
alive() {
    local s
    s=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$s" ] && [ "${s%% *}" != Z ]
}
# steal_ticks: the time every CPU of this (virtual) machine lost to the
# hypervisor, in clock ticks (/proc/stat).
steal_ticks() { awk '$1 == "cpu" { print $9 + 0; exit }' /proc/stat 2>/dev/null || echo 0; }
# cpu_ticks PID: its user + system time in clock ticks.
cpu_ticks() {
    local -a f
    read -r -a f <<<"$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null)"
    echo $(( ${f[11]:-0} + ${f[12]:-0} ))
}
# listening PID PORT: PID holds a socket listening on PORT.
listening() {
    local inode hex
    hex=$(printf ':%04X' "$2")
    for inode in $(awk -v h="$hex" 'FNR > 1 && $4 == "0A" &&
                       substr($2, length($2) - 4) == h { print $10 }' \
                       /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
        find "/proc/$1/fd" -lname "socket:\[$inode\]" 2>/dev/null | grep -q . && return 0
    done
    return 1
}

SPID=
WHY=
# start_server LOG PORT CMD...: starts CMD pinned, GORTMAXPROCS=GOMAXPROCS=
# NET_PROCS, output to LOG, and waits (10 s at most) until it listens on
# PORT.  1 with WHY set when it did not.
start_server() {
    local log=$1 port=$2 i
    shift 2
    GORTMAXPROCS=$NET_PROCS GOMAXPROCS=$NET_PROCS "${PIN_SERVER[@]}" "$@" \
        >"$log" 2>&1 </dev/null &
    SPID=$!
    for ((i = 0; i < 200; i++)); do
        listening "$SPID" "$port" && return 0
        if ! alive "$SPID"; then
            wait "$SPID"
            WHY="server exited (status $?) before listening on $port"
            SPID=
            return 1
        fi
        sleep 0.05
    done
    WHY="server not listening on $port after 10 s"
    stop_server
    return 1
}
stop_server() {
    local i
    [ -n "$SPID" ] || return 0
    kill -TERM "$SPID" 2>/dev/null
    for ((i = 0; i < 60; i++)); do
        alive "$SPID" || break
        sleep 0.05
    done
    kill -KILL "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
    SPID=
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

# server_cmd LANG NAME PORT: the server's command line, in SRV.
server_cmd() {
    case $2:$1 in
        echo:gort) SRV=("$(cbin echo)" "127.0.0.1:$3") ;;
        echo:go) SRV=("$(gobin echo)" "127.0.0.1:$3") ;;
        echo:epoll) SRV=("$(cbin epoll_echo)" -t "$NET_PROCS" "127.0.0.1:$3") ;;
        http:gort) SRV=("$(cbin http)" "$3") ;;
        http:go) SRV=("$(gobin http)" "$3") ;;
    esac
}

# wrk_results NAME: wrk's report on stdin, RESULT lines on stdout; 1 (with
# the reason on stderr) for socket errors, non-2xx/3xx answers or no
# requests.
wrk_results() {
    awk -v n="$1" '
        function us(v) {
            if (v ~ /us$/) return v + 0
            if (v ~ /ms$/) return (v + 0) * 1000
            if (v ~ /m$/) return (v + 0) * 60e6
            if (v ~ /s$/) return (v + 0) * 1e6
            return v + 0
        }
        /requests in/ { reqs = $1 }
        /^Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = us($2) }
        $1 == "99%" { p99 = us($2) }
        /Socket errors:/ { bad = bad "wrk: " $0 "\n" }
        /Non-2xx or 3xx responses:/ { bad = bad "wrk: " $0 "\n" }
        END {
            if (bad != "") { printf "%s", bad > "/dev/stderr"; exit 1 }
            if (reqs + 0 == 0 || rps == "") {
                print "wrk: no requests answered" > "/dev/stderr"; exit 1
            }
            printf "RESULT %s %.0f requests/s\n", n, rps
            if (p50 != "") printf "RESULT %s_p50 %.1f us\n", n, p50
            if (p99 != "") printf "RESULT %s_p99 %.1f us\n", n, p99
        }'
}

# load NAME PORT ERR: drives the server on PORT; RESULT lines on stdout.
load() {
    local name=$1 port=$2 err=$3 rc
    local -a args tmo=()
    read -r -a args <<<"$(args_for "$name")"
    command -v timeout >/dev/null 2>&1 && tmo=(timeout -k 5 "$TIMEOUT")
    case $name in
        echo)
            "${tmo[@]}" "${PIN_CLIENT[@]}" "$(cbin echoload)" \
                -c "${ECHO_CONNS:-100}" -s "${ECHO_SIZE:-64}" \
                -d "${ECHO_DURATION:-3}" -w "${ECHO_WARMUP:-0.5}" \
                -t "$NET_CLIENT_THREADS" -n echo "${args[@]}" \
                "127.0.0.1:$port" 2>>"$err" ;;
        http)
            local -a wrk=("${tmo[@]}" "${PIN_CLIENT[@]}" "$WRKCMD"
                          -t "$NET_CLIENT_THREADS" -c "${HTTP_CONNS:-100}")
            if [ "${HTTP_WARMUP:-1}" != 0 ]; then
                "${wrk[@]}" -d "${HTTP_WARMUP:-1}s" "${args[@]}" \
                    "http://127.0.0.1:$port/" >/dev/null 2>>"$err" || return $?
            fi
            local out
            out=$("${wrk[@]}" -d "${HTTP_DURATION:-3}s" --latency "${args[@]}" \
                  "http://127.0.0.1:$port/" 2>>"$err")
            rc=$?
            printf '%s\n' "$out" >>"$err"
            [ $rc = 0 ] || return $rc
            printf '%s\n' "$out" | wrk_results http 2>>"$err" || return 1 ;;
    esac
}

# run_net_one LANG NAME PROCS RUN: one run of a server workload: the server
# on a free port, the load, the server stopped.  Appends the rate to
# VALS[procs:name:lang], latency and CPU figures to STAT[procs:name:lang:x].
run_net_one() {
    local lang=$1 name=$2 procs=$3 run=$4 key="$3:$2:$1"
    local err log port try out rc line why='' c0 c1 t0 t1 s0 s1 val unit
    mkdir -p "$LOGS"
    err=$LOGS/$name-$lang-p$NET_PROCS-run$run.err
    log=$LOGS/$name-$lang-p$NET_PROCS-run$run.server
    : >"$err"
    for try in 1 2 3; do
        port=$(free_port)
        server_cmd "$lang" "$name" "$port"
        start_server "$log" "$port" "${SRV[@]}" && break
        printf 'try %s: %s\n' "$try" "$WHY" >>"$err"
        cat "$log" >>"$err" 2>/dev/null
    done
    if [ -z "$SPID" ]; then
        why=$WHY
    else
        s0=$(steal_ticks); c0=$(cpu_ticks "$SPID"); t0=$(date +%s%N)
        out=$(load "$name" "$port" "$err")
        rc=$?
        t1=$(date +%s%N); c1=$(cpu_ticks "$SPID"); s1=$(steal_ticks)
        if ! alive "$SPID"; then
            wait "$SPID"
            why="server died during the load (status $?)"
            SPID=
        fi
        stop_server
        cat "$log" >>"$err" 2>/dev/null
        line=$(printf '%s\n' "$out" | awk -v n="$name" '$1 == "RESULT" && $2 == n {print; exit}')
        if [ -z "$why" ]; then
            case $rc in
                0) [ -z "$line" ] && why="no RESULT line" ;;
                124|137) why="load hung (killed after ${TIMEOUT}s)" ;;
                *) why="load generator failed (status $rc)" ;;
            esac
        fi
    fi
    rm -f "$log"
    if [ -n "$why" ]; then
        FAIL[$key]=$why
        FAILED=1
        say "  $lang $name (procs $NET_PROCS, run $run): $why; log in $err:"
        tail -n 15 "$err" | sed 's/^/    | /' >&2
        return 1
    fi
    read -r _ _ val unit _ <<<"$line"
    VALS[$key]="${VALS[$key]:-} $val"
    UNIT[$name]=$unit
    local x v
    for x in p50 p99 cpu; do
        v=$(printf '%s\n' "$out" | awk -v n="${name}_$x" '$1 == "RESULT" && $2 == n {print $3; exit}')
        [ -n "$v" ] && STAT[$key:client_$x]="${STAT[$key:client_$x]:-} $v"
    done
    v=$(awk -v c="$((c1 - c0))" -v t="$((t1 - t0))" -v hz="$CLK_TCK" \
            'BEGIN { if (t > 0) printf "%.0f", 100 * c / hz / (t / 1e9) }')
    STAT[$key:server_cpu]="${STAT[$key:server_cpu]:-} $v"
    [ "$VERBOSE" = 1 ] && say "  $lang $name run $run: $val $unit (server CPU $v%)"
    v=$(awk -v c="$((s1 - s0))" -v t="$((t1 - t0))" -v hz="$CLK_TCK" -v n="$(nproc 2>/dev/null || echo 1)" \
            'BEGIN { if (t > 0) printf "%.0f", 100 * c / hz / (t / 1e9) / n }')
    STAT[$key:steal]="${STAT[$key:steal]:-} $v"
    rm -f "$err"
    return 0
}

# The languages of a server workload, in run order.
net_langs() { echo gort go; [ -n "${REF[$1]:-}" ] && echo "${REF[$1]}"; }
# net_have LANG NAME: the program for that side is built.
net_have() {
    case $1 in
        gort) [ -x "$(cbin "$2")" ] ;;
        go) have_go "$2" ;;
        epoll) [ -x "$(cbin epoll_echo)" ] ;;
    esac && { [ "$2" != echo ] || [ -x "$(cbin echoload)" ]; }
}

run_net_workload() {
    local name=$1 procs=$2 runs r lang
    local -A dead=()
    runs=$(runs_for "$name")
    if [ "$name" = http ] && [ -z "$WRKCMD" ]; then
        say "$name: skipped, wrk not found (apt-get install wrk)"
        return
    fi
    say "$name (procs $NET_PROCS, $NET_WHERE): $runs runs each"
    for ((r = 1; r <= runs; r++)); do
        for lang in $(net_langs "$name"); do
            [ -z "${dead[$lang]:-}" ] && net_have "$lang" "$name" || continue
            run_net_one "$lang" "$name" "$procs" "$r" || dead[$lang]=1
        done
    done
}

run_workload() {
    local name=$1 procs=$2 runs r cdead=0 godead=0
    if [ -n "${SERVER[$name]:-}" ]; then
        run_net_workload "$name" "$procs"
        return
    fi
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

# table_row LABEL UNIT CS C GS G TARGETSPEC: one row.  CS/GS are what the
# columns show (the median, or why there is none), C/G the medians.
table_row() {
    local label=$1 unit=$2 cs=$3 c=$4 gs=$5 g=$6 kind lim ratio tgt verdict=
    ratio=-
    if [ "$cs" = "$c" ] && [ "$gs" = "$g" ] && [ "$c" != - ] && [ "$g" != - ]; then
        ratio=$(awk -v c="$c" -v g="$g" 'BEGIN { if (g > 0) printf "%.3f", c / g; else print "-" }')
    fi
    read -r kind lim <<<"${7:-none -}"
    case $kind in
        ratio|min_ratio)
            if [ "$kind" = ratio ]; then tgt="<= $lim"; else tgt=">= $lim"; fi
            if [ "$cs" != "$c" ]; then verdict=FAIL
            elif [ "$ratio" = - ]; then verdict=n/a
            else verdict=$(awk -v r="$ratio" -v l="$lim" -v k="$kind" \
                    'BEGIN { ok = (k == "ratio") ? (r <= l) : (r >= l); print ok ? "PASS" : "MISS" }')
            fi ;;
        max)
            tgt="<= $lim"
            [ "$unit" != - ] && tgt="$tgt ${unit%%/*}"
            if [ "$cs" != "$c" ] || [ "$c" = - ]; then verdict=FAIL
            else verdict=$(awk -v c="$c" -v l="$lim" 'BEGIN { print (c <= l) ? "PASS" : "MISS" }')
            fi ;;
        *) tgt=-; [ "$cs" != "$c" ] && verdict=FAIL ;;
    esac
    [ "$cs" = skipped ] && verdict=skipped
    printf '%-10s %-15s %12s %12s %9s  %-14s %s\n' \
        "$label" "$unit" "$cs" "$gs" "$ratio" "$tgt" "$verdict"
}

# shown PROCS NAME LANG MEDIAN: what a column shows for that side.
shown() {
    local procs=$1 w=$2 lang=$3 v=$4
    [ -n "${FAIL[$procs:$w:$lang]:-}" ] && v=FAILED
    case $lang in
        gort)
            if [ ! -f "$(csrc "$w")" ]; then v=no-program
            elif [ ! -x "$(cbin "$w")" ]; then v=no-binary; fi ;;
        go)
            if ! have_go "$w"; then
                if [ -n "$GOCMD" ]; then v=no-program; else v=no-go; fi
            fi ;;
        epoll)
            if [ ! -f bench/epoll_echo.c ]; then v=no-program
            elif [ ! -x "$(cbin epoll_echo)" ]; then v=no-binary; fi ;;
    esac
    [ "$w" = http ] && [ -z "$WRKCMD" ] && v=skipped
    echo "$v"
}

# net_notes PROCS: what the echo and http rows measured, and their
# latencies and CPU use (medians), under the table.
net_notes() {
    local procs=$1 w lang x v line any=0
    for w in "${WORKLOADS[@]}"; do
        [ -n "${SERVER[$w]:-}" ] || continue
        [ "$w" = http ] && [ -z "$WRKCMD" ] && continue
        any=1
        case $w in
            echo) printf '(echo: %s, %s Ps (epoll_echo: %s thread(s)); bench/echoload, %s thread(s), %s connections, %s-byte messages, %s s after %s s warm-up' \
                      "$NET_WHERE" "$NET_PROCS" "$NET_PROCS" "$NET_CLIENT_THREADS" \
                      "${ECHO_CONNS:-100}" "${ECHO_SIZE:-64}" "${ECHO_DURATION:-3}" "${ECHO_WARMUP:-0.5}"
                  printf '; the "vs epoll" row holds %s in the Go column)\n' "${REF_LABEL[epoll]}" ;;
            http) printf '(http: %s, %s Ps; wrk -t%s -c%s -d%ss after a %ss warm-up run; examples/http vs bench/go/httphello; no target)\n' \
                      "$NET_WHERE" "$NET_PROCS" "$NET_CLIENT_THREADS" "${HTTP_CONNS:-100}" \
                      "${HTTP_DURATION:-3}" "${HTTP_WARMUP:-1}" ;;
        esac
        for x in client_p50 client_p99 server_cpu client_cpu steal; do
            line=
            for lang in $(net_langs "$w"); do
                # shellcheck disable=SC2086
                v=$(median ${STAT[$procs:$w:$lang:$x]:-})
                [ "$v" = - ] || line="$line $lang ${v%.00}"
            done
            [ -n "$line" ] || continue
            case $x in
                client_p50) printf '  %-5s p50 latency, us:%s\n' "$w" "$line" ;;
                client_p99) printf '  %-5s p99 latency, us:%s\n' "$w" "$line" ;;
                server_cpu) printf '  %-5s server CPU, %% of one:%s\n' "$w" "$line" ;;
                client_cpu) printf '  %-5s echoload CPU, %% of one:%s\n' "$w" "$line" ;;
                steal) printf '  %-5s CPU time stolen by the hypervisor, %% of all CPUs:%s\n' "$w" "$line" ;;
            esac
        done
    done
    [ $any = 1 ] && [ -n "$NET_NOTE" ] && echo "$NET_NOTE"
    return 0
}

print_table() {
    local procs=$1 w c g e unit cpu ncpu ref
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
        table_row "$w" "$unit" "$(shown "$procs" "$w" gort "$c")" "$c" \
            "$(shown "$procs" "$w" go "$g")" "$g" "${TARGET[$w]:-}"
        ref=${REF[$w]:-}
        if [ -n "$ref" ]; then
            # shellcheck disable=SC2086
            e=$(median ${VALS[$procs:$w:$ref]:-})
            table_row "  vs $ref" "$unit" "$(shown "$procs" "$w" gort "$c")" "$c" \
                "$(shown "$procs" "$w" "$ref" "$e")" "$e" "${REF_TARGET[$w]:-}"
        fi
    done
    for w in "${WORKLOADS[@]}"; do
        [ -n "${FIXED_PROCS[$w]:-}" ] && [ "${FIXED_PROCS[$w]}" != "$procs" ] &&
            printf '(%s ran with GOMAXPROCS=GORTMAXPROCS=%s)\n' "$w" "${FIXED_PROCS[$w]}"
    done
    net_notes "$procs"
    return 0
}

# ---------------------------------------------------------------------- main

[ ${#C_MISSING[@]} -gt 0 ] &&
    say "run.sh: no C binary for: ${C_MISSING[*]} (make BUILD=$BUILD bench)"
[ -n "$GO_NOTE" ] && say "run.sh: $GO_NOTE"
[ -n "$NET_NOTE" ] && say "$NET_NOTE"

for procs in $PROCS_LIST; do
    for w in "${WORKLOADS[@]}"; do
        run_workload "$w" "$procs"
    done
    print_table "$procs"
done
exit $FAILED
