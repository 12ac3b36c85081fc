#!/usr/bin/env python3
"""trace2html.py - render a gort execution trace as one self-contained HTML file.

    tools/trace2html.py trace.json [-o trace.html] [--width PX]
                        [--start US] [--end US] [--max-slices N]

The input is what GORTTRACE=file.json (or gort_trace_start) writes: Chrome
trace-event JSON, the format ui.perfetto.dev and chrome://tracing open.
This is for people without them: an SVG timeline with a row per lane (P0,
P1, ..., sysmon, Ms without a P), a goroutine's runs as bars coloured by
goroutine (hover: goroutine, function, times, why it stopped), the
instant events as ticks coloured by kind (create, block, unblock, end,
syscall, preempt, retake, timers, netpoll, dropped), a legend, and zoom
buttons (or ctrl + wheel) that widen the SVG inside a scrolling box.
--start/--end cut a window (microseconds from the trace's start);
--max-slices keeps the first N runs of a big trace (the rest are counted
in the header, never dropped silently).  Python 3 standard library only.
"""
import argparse
import html
import json
import sys

KINDS = [
    ("create", "#2ca02c"), ("block", "#d62728"), ("unblock", "#1f77b4"),
    ("end", "#7f7f7f"), ("syscall", "#9467bd"), ("syscall exit", "#c5b0d5"),
    ("preempt", "#ff7f0e"), ("preempt request", "#ffbb78"),
    ("retake", "#8c564b"), ("timers", "#17becf"), ("netpoll", "#bcbd22"),
    ("dropped", "#000000"),
]
KCOLOR = dict(KINDS)
ROW = 26
LABEL = 130
TOP = 24


def gcolor(goid):
    """A stable colour per goroutine id."""
    h = (goid * 137) % 360
    return "hsl(%d,60%%,%d%%)" % (h, 55 + (goid % 3) * 8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace")
    ap.add_argument("-o", "--output")
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--start", type=float)
    ap.add_argument("--end", type=float)
    ap.add_argument("--max-slices", type=int, default=200000)
    a = ap.parse_args()
    with open(a.trace) as f:
        doc = json.load(f)
    evs = doc["traceEvents"] if isinstance(doc, dict) else doc
    other = doc.get("otherData", {}) if isinstance(doc, dict) else {}

    names, sort = {}, {}
    slices, instants, flows = [], [], 0
    for e in evs:
        ph = e.get("ph")
        if ph == "M":
            if e.get("name") == "thread_name":
                names[e["tid"]] = e["args"]["name"]
            elif e.get("name") == "thread_sort_index":
                sort[e["tid"]] = e["args"]["sort_index"]
        elif ph == "X":
            slices.append(e)
        elif ph == "i":
            instants.append(e)
        elif ph in ("s", "f"):
            flows += 1

    t_lo = a.start if a.start is not None else 0.0
    t_hi = max([s["ts"] + s["dur"] for s in slices] +
               [i["ts"] for i in instants] + [1.0])
    if a.end is not None:
        t_hi = a.end
    span = max(t_hi - t_lo, 1e-3)

    def inwin(t0, t1):
        return t1 >= t_lo and t0 <= t_hi

    slices = [s for s in slices if inwin(s["ts"], s["ts"] + s["dur"])]
    instants = [i for i in instants if inwin(i["ts"], i["ts"])]
    slices.sort(key=lambda s: s["ts"])
    cut = max(0, len(slices) - a.max_slices)
    slices = slices[:a.max_slices]

    tids = set(names) | {s["tid"] for s in slices} | {i["tid"] for i in instants}
    lanes = sorted(tids, key=lambda t: (sort.get(t, t), t))
    row = {t: k for k, t in enumerate(lanes)}
    W = a.width
    H = TOP + ROW * len(lanes) + 10

    def x(t):
        return LABEL + (t - t_lo) / span * (W - LABEL - 10)

    out = []
    out.append('<svg id="timeline" xmlns="http://www.w3.org/2000/svg" '
               'width="%d" height="%d" viewBox="0 0 %d %d" '
               'preserveAspectRatio="none" font-family="sans-serif" '
               'font-size="11">' % (W, H, W, H))
    # Time axis: ten ticks.
    for k in range(11):
        t = t_lo + span * k / 10
        out.append('<line class="tick" x1="%.1f" y1="%d" x2="%.1f" y2="%d" '
                   'stroke="#ddd"/>' % (x(t), TOP - 4, x(t), H))
        out.append('<text x="%.1f" y="%d" fill="#555">%.1f&#181;s</text>'
                   % (x(t) + 2, TOP - 8, t))
    for t in lanes:
        y = TOP + row[t] * ROW
        out.append('<rect class="lanebg" x="0" y="%d" width="%d" height="%d" '
                   'fill="%s"/>' % (y, W, ROW, "#f7f7f7" if row[t] % 2 else "#fff"))
        out.append('<text class="lane" x="4" y="%d">%s</text>'
                   % (y + ROW // 2 + 4, html.escape(names.get(t, "tid %s" % t))))
    for s in slices:
        y = TOP + row[s["tid"]] * ROW + 3
        x0, x1 = x(max(s["ts"], t_lo)), x(min(s["ts"] + s["dur"], t_hi))
        args = s.get("args", {})
        goid = int(args.get("goid", 0))
        tip = "%s\nts %.3f us, dur %.3f us\nstop: %s" % (
            s["name"], s["ts"], s["dur"], args.get("stop", "?"))
        out.append('<rect class="slice" x="%.2f" y="%d" width="%.2f" '
                   'height="%d" fill="%s"><title>%s</title></rect>'
                   % (x0, y, max(x1 - x0, 0.5), ROW - 10, gcolor(goid),
                      html.escape(tip)))
    for i in instants:
        y = TOP + row[i["tid"]] * ROW
        col = KCOLOR.get(i["name"], "#444")
        tip = "%s @ %.3f us %s" % (i["name"], i["ts"],
                                   json.dumps(i.get("args", {})))
        out.append('<rect class="event" x="%.2f" y="%d" width="1.5" '
                   'height="%d" fill="%s"><title>%s</title></rect>'
                   % (x(i["ts"]) - 0.75, y + ROW - 8, 7, col, html.escape(tip)))
    out.append("</svg>")

    counts = {}
    for i in instants:
        counts[i["name"]] = counts.get(i["name"], 0) + 1
    legend = "".join(
        '<span class="key"><svg width="12" height="12"><rect width="12" '
        'height="12" fill="%s"/></svg> %s (%d)</span>'
        % (c, html.escape(k), counts.get(k, 0)) for k, c in KINDS)
    gids = sorted({int(s.get("args", {}).get("goid", 0)) for s in slices})
    glegend = "".join(
        '<span class="key"><svg width="12" height="12"><rect width="12" '
        'height="12" fill="%s"/></svg> G%d</span>' % (gcolor(g), g)
        for g in gids[:40])
    if len(gids) > 40:
        glegend += " ... %d goroutines in all" % len(gids)
    note = ""
    if cut:
        note += " %d later runs not drawn (--max-slices)." % cut
    if other.get("dropped"):
        note += " The runtime dropped %d events." % other["dropped"]

    page = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>gort trace: %(title)s</title>
<style>
body { font-family: sans-serif; margin: 12px; }
#box { overflow-x: auto; border: 1px solid #ccc; }
.key { margin-right: 14px; white-space: nowrap; }
button { margin-right: 4px; }
</style></head><body>
<h3>gort execution trace: %(title)s</h3>
<p>%(nslices)d goroutine runs on %(nlanes)d lanes, %(ninst)d events,
%(nflows)d flow ends, %(span).1f&#181;s shown.%(note)s</p>
<p id="legend">%(legend)s</p>
<p id="glegend">%(glegend)s</p>
<p><button onclick="zoom(2)">zoom in</button><button onclick="zoom(0.5)">zoom
out</button><button onclick="zoom(0)">fit</button> (or ctrl + wheel over the
timeline; hover a bar or tick for details)</p>
<div id="box">%(svg)s</div>
<script>
var svg = document.getElementById("timeline"), w0 = %(width)d, w = w0;
function zoom(f) {
  w = f ? Math.max(200, w * f) : w0;
  svg.setAttribute("width", w);
}
document.getElementById("box").addEventListener("wheel", function (e) {
  if (!e.ctrlKey) return;
  e.preventDefault();
  zoom(e.deltaY < 0 ? 1.25 : 0.8);
}, {passive: false});
</script>
</body></html>
""" % {
        "title": html.escape(a.trace), "nslices": len(slices),
        "nlanes": len(lanes), "ninst": len(instants), "nflows": flows,
        "span": span, "note": html.escape(note), "legend": legend,
        "glegend": glegend, "svg": "\n".join(out), "width": W,
    }
    dest = a.output or (a.trace.rsplit(".", 1)[0] + ".html")
    with open(dest, "w") as f:
        f.write(page)
    print("%s: %d runs, %d events, %d lanes" % (dest, len(slices),
                                               len(instants), len(lanes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
