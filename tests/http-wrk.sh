#!/usr/bin/env bash
# make test-http: drives examples/http with wrk and with a few hand-written
# exchanges over bash's /dev/tcp (no curl needed).
#
#   tests/http-wrk.sh build/examples/http
#
# Fails (never skips) when wrk is missing: Debian's package is "wrk".
# The server is started on port 0 and says which port it got.
set -euo pipefail

bin=${1:?usage: $0 path/to/examples/http}
WRK_ARGS=${WRK_ARGS:--t2 -c50 -d2s}

fail() { echo "test-http: FAIL: $*" >&2; exit 1; }

command -v wrk >/dev/null || fail "wrk not found (Debian: apt-get install wrk)"
[ -x "$bin" ] || fail "$bin is not built"

tmp=$(mktemp -d)
srv=
cleanup() {
    local rc=$?
    if [ -n "$srv" ]; then
        kill "$srv" 2>/dev/null || true
        wait "$srv" 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT

"$bin" 0 >"$tmp/out" 2>"$tmp/err" &
srv=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/^http: listening on :\([0-9]*\).*/\1/p' "$tmp/out")
    [ -n "$port" ] && break
    kill -0 "$srv" 2>/dev/null || fail "server exited: $(cat "$tmp/err")"
    sleep 0.05
done
[ -n "$port" ] || fail "server did not say its port"
echo "test-http: $(head -1 "$tmp/out")"

alive() {
    kill -0 "$srv" 2>/dev/null || fail "server died after $1: $(cat "$tmp/err")"
}

# exchange NAME REQUEST: sends REQUEST (printf format) on a new connection,
# then reads everything until the server closes it, at most 3 s.
exchange() {
    local name=$1 req=$2
    exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "$name: connect"
    printf %b "$req" >&3
    timeout 3 cat <&3 >"$tmp/$name" ||
        fail "$name: the server did not close the connection"
    exec 3<&-
    tr -d '\r' <"$tmp/$name" >"$tmp/$name.txt"
    alive "$name"
}
count() { grep -c "$1" "$tmp/$2.txt" || true; }

# Keep-alive: a request, its answer, then a second one on the same
# connection; the server must keep it open in between.
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "keep-alive: connect"
for i in 1 2; do
    printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >&3
    IFS= read -r -t 3 status <&3 || fail "keep-alive: no reply $i"
    [ "$status" = $'HTTP/1.1 200 OK\r' ] || fail "keep-alive: reply $i: $status"
    while IFS= read -r -t 3 line <&3 && [ "$line" != $'\r' ]; do :; done
    IFS= read -r -t 3 body <&3 || fail "keep-alive: no body $i"
    [ "$body" = "Hello, World!" ] || fail "keep-alive: body $i: $body"
done
exec 3<&-
echo "test-http: keep-alive: two requests answered on one connection"

# Three pipelined requests in one write; the last asks to close.
get='GET / HTTP/1.1\r\nHost: x\r\n\r\n'
last='GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
exchange pipelined "$get$get$last"
[ "$(count '^HTTP/1.1 200 OK$' pipelined)" = 3 ] ||
    fail "pipelined: $(cat "$tmp/pipelined.txt")"
[ "$(count '^Hello, World!$' pipelined)" = 3 ] || fail "pipelined: bodies"
[ "$(count '^Connection: close$' pipelined)" = 1 ] ||
    fail "pipelined: Connection: close"
echo "test-http: pipelining: 3 requests in one write, 3 replies, then closed"

# A body with Content-Length is skipped; the request after it is answered.
exchange body "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde$last"
[ "$(count '^HTTP/1.1 200 OK$' body)" = 2 ] || fail "body: $(cat "$tmp/body.txt")"

# HTTP/1.0 without keep-alive: one reply, then the server closes.
exchange http10 'GET / HTTP/1.0\r\n\r\n'
[ "$(count '^HTTP/1.0 200 OK$' http10)" = 1 ] ||
    fail "http10: $(cat "$tmp/http10.txt")"
grep -q '^Content-Length: 14$' "$tmp/http10.txt" || fail "http10: Content-Length"
grep -q '^Content-Type: text/plain' "$tmp/http10.txt" || fail "http10: Content-Type"
echo "test-http: HTTP/1.0: answered and closed"

# Garbage: 400, then the server closes.
exchange garbage 'hello there\r\n\r\n'
[ "$(count '^HTTP/1.1 400 Bad Request$' garbage)" = 1 ] ||
    fail "garbage: $(cat "$tmp/garbage.txt")"
echo "test-http: garbage: 400 and closed"

# wrk: some requests, no socket errors, no non-2xx answers.
# shellcheck disable=SC2086
wrk $WRK_ARGS "http://127.0.0.1:$port/" | tee "$tmp/wrk" || fail "wrk failed"
alive wrk
reqs=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' "$tmp/wrk")
[ "${reqs:-0}" -gt 0 ] || fail "wrk made no requests"
! grep -q 'Socket errors' "$tmp/wrk" || fail "wrk saw socket errors"
! grep -q 'Non-2xx' "$tmp/wrk" || fail "wrk saw non-2xx answers"
[ ! -s "$tmp/err" ] || fail "the server complained: $(cat "$tmp/err")"
echo "test-http: ok ($reqs requests, no errors)"
