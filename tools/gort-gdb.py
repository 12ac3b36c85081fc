# gort-gdb.py -- gdb support for gort's goroutines (Go's runtime-gdb.py idea).
#
#   (gdb) info goroutines          every goroutine: id, status, wait reason,
#                                  the function it is in and its entry
#   (gdb) goroutine 17 bt          a gdb command run in goroutine 17's context
#   (gdb) goroutine 17 info frame  (any command: bt full, frame 2, ...)
#
# A goroutine that is not running has a saved context: gort__swapctx pushed
# its callee-saved registers (src/arch/*/switch.S) and stored the stack
# pointer in g.sp.  "goroutine N cmd" loads those registers into the
# selected thread (pc, sp, frame pointer, the callee-saved ones), runs cmd,
# and puts the thread's own registers back (gdb's CFI unwinder then walks
# the goroutine's stack; it stops at gort__gostart, whose return address is
# undefined).  A running goroutine, or one in a system call, is on its M's
# thread: cmd runs with that thread selected.
#
# Loading.  libgort carries this file in its .debug_gdb_scripts section
# (src/traceback.c), so gdb loads it for a program linked with libgort.a or
# libgort.so once the program (or the library) is in gdb's auto-load safe
# path:  add-auto-load-safe-path /path/to/program  (in ~/.gdbinit), or run
# gdb with  -iex 'add-auto-load-safe-path /path/to/program'.  Or load it by
# hand:  source /path/to/gort/tools/gort-gdb.py.
#
# Needs the program's gort to be built with debug information (-g, the
# default): the script reads gort's internal structures (gort__sched, the
# g struct) through their DWARF types.

import struct

import gdb

_G_STATUS = {0: "idle", 1: "runnable", 2: "running", 3: "syscall",
             4: "waiting", 6: "dead", 9: "preempted"}


def _arch():
    name = gdb.selected_frame().architecture().name()
    if "aarch64" in name:
        return "aarch64"
    return "x86_64"


def _u64(addr):
    mem = gdb.selected_inferior().read_memory(addr, 8)
    return struct.unpack("<Q", bytes(mem))[0]


def _gort_text():
    try:
        lo = int(gdb.parse_and_eval("(unsigned long)&__start_gort_text"))
        hi = int(gdb.parse_and_eval("(unsigned long)&__stop_gort_text"))
        return lo, hi
    except gdb.error:
        return 0, 0


def _sym(pc):
    """The name of the function containing pc, or '??'."""
    try:
        block = gdb.block_for_pc(pc)
        while block is not None and block.function is None:
            block = block.superblock
        if block is not None and block.function is not None:
            return block.function.name
    except RuntimeError:
        pass
    try:
        out = gdb.execute("info symbol 0x%x" % pc, to_string=True)
        if not out.startswith("No symbol"):
            return out.split(" + ")[0].split(" in section")[0].strip()
    except gdb.error:
        pass
    return "??"


def _allgs():
    """The live goroutines of the current gort_run, as gdb.Values (g *)."""
    sched = gdb.parse_and_eval("gort__sched")
    gen = int(sched["gen"])
    n = int(sched["nallgs"])
    allgs = sched["allgs"]
    out = []
    for i in range(n):
        gp = allgs[i]
        st = int(gp["status"])
        if st == 6 or int(gp["gen"]) != gen:
            continue
        out.append(gp)
    return out


def _find(goid):
    for gp in _allgs():
        if int(gp["goid"]) == goid:
            return gp
    return None


def _waitreason(gp):
    r = int(gp["waitreason"])
    try:
        return gdb.parse_and_eval("gort__waitreason_strings")[r].string()
    except (gdb.error, gdb.MemoryError):
        return str(r)


def _saved_regs(gp):
    """The registers gort__swapctx saved for gp: {name: value}."""
    sp = int(gp["sp"].cast(gdb.lookup_type("unsigned long")))
    if _arch() == "aarch64":
        regs = {"x29": _u64(sp), "pc": _u64(sp + 8), "x30": _u64(sp + 8),
                "sp": sp + 176}
        for i in range(10):
            regs["x%d" % (19 + i)] = _u64(sp + 16 + 8 * i)
        return regs
    return {"r15": _u64(sp + 8), "r14": _u64(sp + 16), "r13": _u64(sp + 24),
            "r12": _u64(sp + 32), "rbx": _u64(sp + 40), "rbp": _u64(sp + 48),
            "pc": _u64(sp + 56), "sp": sp + 64}


def _frames(gp, limit=32):
    """Return addresses of a parked goroutine by its frame-pointer chain."""
    regs = _saved_regs(gp)
    lo = int(gp["stack"]["lo"])
    hi = int(gp["stack"]["hi"])
    fp = regs["x29"] if "x29" in regs else regs["rbp"]
    pcs = [regs["pc"]]
    while len(pcs) < limit and lo <= fp and fp + 16 <= hi:
        nxt, ret = _u64(fp), _u64(fp + 8)
        if ret == 0:
            break
        pcs.append(ret)
        if nxt <= fp:
            break
        fp = nxt
    return pcs


def _where(gp):
    """The innermost function outside gort a goroutine is in, if any."""
    st = int(gp["status"])
    if st == 3:
        pc = int(gp["syscallpc"])
        return _sym(pc - 1) if pc else None
    if st not in (1, 4, 9) or int(gp["sp"].cast(gdb.lookup_type("long"))) == 0:
        return None
    lo, hi = _gort_text()
    try:
        pcs = _frames(gp)
    except gdb.MemoryError:
        return None
    for pc in pcs:
        if not (lo <= pc - 1 < hi):
            name = _sym(pc - 1)
            if name not in ("gort__gostart", "??"):
                return name
    return _sym(pcs[0] - 1) if pcs else None


def _current_goid():
    try:
        mp = gdb.parse_and_eval("gort__tls_m")
        if int(mp) != 0 and int(mp["curg"]) != 0:
            return int(mp["curg"]["goid"])
    except gdb.error:
        pass
    return 0


class InfoGoroutines(gdb.Command):
    """info goroutines -- list every goroutine of the running gort_run:
id, status (with the wait reason of a parked one), the function it is
in (the innermost one outside gort), and the function it started in."""

    def __init__(self):
        gdb.Command.__init__(self, "info goroutines", gdb.COMMAND_STACK,
                             gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        cur = _current_goid()
        rows = []
        for gp in _allgs():
            st = int(gp["status"])
            status = _G_STATUS.get(st, str(st))
            if st == 4 and int(gp["waitreason"]) != 0:
                status = "waiting (%s)" % _waitreason(gp)
            where = _where(gp) or ""
            fn = int(gp["fn"].cast(gdb.lookup_type("unsigned long")))
            entry = _sym(fn) if fn else ""
            goid = int(gp["goid"])
            rows.append((("*" if goid == cur else " "), goid, status, where,
                         entry))
        w = max([len(r[2]) for r in rows] + [6])
        print("  %-6s %-*s %-24s %s" % ("Id", w, "Status", "Function",
                                        "Entry"))
        for mark, goid, status, where, entry in rows:
            print("%s %-6d %-*s %-24s %s" % (mark, goid, w, status,
                                             where or "-", entry))
        print("%d goroutines" % len(rows))


def _thread_of(gp):
    mp = gp["m"]
    if int(mp) == 0:
        return None
    lwp = int(mp["procid"])
    for th in gdb.selected_inferior().threads():
        if th.ptid[1] == lwp:
            return th
    return None


class GoroutineCmd(gdb.Command):
    """goroutine N CMD -- run gdb command CMD (bt, info frame, ...) in the
context of goroutine N: a parked one's saved registers are loaded into
the selected thread for the command and restored after it."""

    def __init__(self):
        gdb.Command.__init__(self, "goroutine", gdb.COMMAND_STACK,
                             gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        parts = arg.split(None, 1)
        if len(parts) != 2:
            raise gdb.GdbError("usage: goroutine N CMD")
        try:
            goid = int(parts[0])
        except ValueError:
            raise gdb.GdbError("goroutine: not an id: %s" % parts[0])
        cmd = parts[1]
        gp = _find(goid)
        if gp is None:
            raise gdb.GdbError("goroutine %d not found" % goid)
        st = int(gp["status"])
        if st in (2, 3):
            th = _thread_of(gp)
            if th is None:
                raise gdb.GdbError("goroutine %d: its thread is not found"
                                   % goid)
            old = gdb.selected_thread()
            th.switch()
            try:
                gdb.execute(cmd, from_tty)
            finally:
                old.switch()
            return
        if int(gp["sp"].cast(gdb.lookup_type("long"))) == 0:
            raise gdb.GdbError("goroutine %d has not started" % goid)
        regs = _saved_regs(gp)
        gdb.newest_frame().select()
        saved = {}
        for r in regs:
            saved[r] = int(gdb.parse_and_eval("(unsigned long)$" + r))
        try:
            for r, v in regs.items():
                gdb.execute("set $%s = 0x%x" % (r, v), to_string=True)
            gdb.execute(cmd, from_tty)
        finally:
            for r, v in saved.items():
                gdb.execute("set $%s = 0x%x" % (r, v), to_string=True)
            gdb.newest_frame().select()


InfoGoroutines()
GoroutineCmd()
