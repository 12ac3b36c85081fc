#!/usr/bin/env bash
# tests/trace/html.sh PROGRAM — make test-trace-html: runs PROGRAM under
# GORTTRACE, renders the trace with tools/trace2html.py, loads the page in
# headless Chromium and checks what it drew: the DOM holds the SVG
# timeline with its lanes, goroutine runs and events (--dump-dom), and a
# screenshot of it is not blank (many colours).  Needs python3 and
# chromium (Debian: apt-get install chromium).
set -euo pipefail
prog=$1
dir=$(dirname "$prog")/trace-html
mkdir -p "$dir"
json=$dir/trace.json html=$dir/trace.html png=$dir/trace.png
chrome=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$chrome" ] || { echo "test-trace-html: chromium not found"; exit 1; }

GORTTRACE=$json GORTMAXPROCS=2 timeout 60 "$prog" >/dev/null
python3 tools/trace2html.py "$json" -o "$html"

flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage
       --user-data-dir="$dir/profile")
timeout 120 "$chrome" "${flags[@]}" --dump-dom "file://$PWD/$html" \
    2>/dev/null >"$dir/dom.html"
count() { grep -o "class=\"$1\"" "$dir/dom.html" | wc -l; }
svg=$(grep -c '<svg id="timeline"' "$dir/dom.html" || true)
lanes=$(count lane) slices=$(count slice) events=$(count event)
echo "DOM: timeline $svg, lanes $lanes, runs $slices, events $events"
[ "$svg" -ge 1 ] && [ "$lanes" -ge 1 ] && [ "$slices" -ge 10 ] && [ "$events" -ge 10 ] ||
    { echo "test-trace-html: the page lacks the timeline's elements"; exit 1; }

rm -f "$png"
timeout 120 "$chrome" "${flags[@]}" --screenshot="$PWD/$png" \
    --window-size=1400,700 "file://$PWD/$html" >/dev/null 2>&1 || true
[ -s "$png" ] || { echo "test-trace-html: no screenshot"; exit 1; }
# A blank page has a colour or two; the timeline has dozens.
python3 - "$png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w, h, ctype = 8, b"", 0, 0, 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
bpp = {2: 3, 6: 4}.get(ctype, 4)
raw = zlib.decompress(idat)
stride = w * bpp + 1
colours = set()
for y in range(0, h, 4):   # rows are filtered; sample unfiltered-ish bytes
    line = raw[y * stride + 1:(y + 1) * stride]
    for x in range(0, len(line) - bpp, bpp * 7):
        colours.add(line[x:x + bpp])
print("screenshot: %dx%d, %d distinct sampled values" % (w, h, len(colours)))
sys.exit(0 if len(colours) >= 20 else 1)
PY
echo "test-trace-html: ok ($html)"
