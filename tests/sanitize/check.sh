#!/usr/bin/env bash
# check.sh BUILD_ASAN BUILD_TSAN — the user's-program half of make
# test-sanitize: builds tests/sanitize/*.c against the ASan and the TSan
# libgort, buggy and -DFIXED, and checks each report (or its absence).
set -u
asan=$1 tsan=$2
cc=${SAN_CC:-clang}
dir=$(dirname "$0")
flags="-std=c11 -O1 -g -fno-omit-frame-pointer -D_GNU_SOURCE -Iinclude -Wall -Wextra -Werror"
libs="-pthread $(echo "${SAN_LDLIBS:-}")"
pass=0 fail=0
check() {   # name, output file, status, want-status(0|nonzero), grep patterns...
    local name=$1 out=$2 st=$3 want=$4; shift 4
    local ok=1
    if [ "$want" = 0 ]; then [ "$st" = 0 ] || ok=0; else [ "$st" != 0 ] || ok=0; fi
    for pat in "$@"; do
        case $pat in
        !*) ! grep -q -- "${pat#!}" "$out" || ok=0 ;;
        *)  grep -q -- "$pat" "$out" || ok=0 ;;
        esac
    done
    if [ $ok = 1 ]; then
        echo "ok - $name"; pass=$((pass + 1))
    else
        echo "not ok - $name (exit $st)"; sed 's/^/# /' "$out" | head -40
        fail=$((fail + 1))
    fi
}
build() {   # out src lib sanflags extra
    $cc $flags $4 $5 "$2" -o "$1" "$3" $libs $4
}
mkdir -p "$asan/sanitize" "$tsan/sanitize"
A="-fsanitize=address"
T="-fsanitize=thread"
build "$asan/sanitize/heap_overflow" "$dir/heap_overflow.c" "$asan/libgort.a" "$A" "" || exit 1
build "$asan/sanitize/heap_overflow_fixed" "$dir/heap_overflow.c" "$asan/libgort.a" "$A" -DFIXED || exit 1
build "$tsan/sanitize/data_race" "$dir/data_race.c" "$tsan/libgort.a" "$T" "" || exit 1
build "$tsan/sanitize/data_race_fixed" "$dir/data_race.c" "$tsan/libgort.a" "$T" -DFIXED || exit 1

o=$(mktemp)
ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 "$asan/sanitize/heap_overflow" >"$o" 2>&1
check "asan reports the goroutine's heap overflow" "$o" $? nonzero \
    "ERROR: AddressSanitizer: heap-buffer-overflow" "WRITE of size 4" \
    "in writer .*heap_overflow.c" "0 bytes \\(to the right of\\|after\\) 64-byte region"
ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 "$asan/sanitize/heap_overflow_fixed" >"$o" 2>&1
check "asan: the fixed program reports nothing" "$o" $? 0 "!Sanitizer" "!WARNING"
TSAN_OPTIONS=halt_on_error=1 "$tsan/sanitize/data_race" >"$o" 2>&1
check "tsan reports the goroutines' data race" "$o" $? nonzero \
    "WARNING: ThreadSanitizer: data race" "#0 adder .*data_race.c" \
    "Location is global 'counter'"
TSAN_OPTIONS=halt_on_error=1 "$tsan/sanitize/data_race_fixed" >"$o" 2>&1
check "tsan: the fixed program reports nothing" "$o" $? 0 "!Sanitizer" "!WARNING" \
    "counter = 2000000 (of 2000000)"
rm -f "$o"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
