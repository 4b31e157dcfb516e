#!/usr/bin/env python3
"""Checks that trace files hold only whole records, and counts them.

    trace-check.py [--text] [--seq] [--allow-torn=N] FILE...

Every record must be one whole JSON object (or, with --text, one whole text
line) with the fields every record has. Records still staged in FILE.tail
(include/p11-trace-ring.h: e.g. of a process killed before it wrote them)
are read from there, after the file's, as `p11shim trace` reads them. NUL
bytes between and after records are skipped (the file holds NULs where
records are still staged); a NUL inside a record breaks it, and so is
reported. With --seq, the sequence numbers of each process must run without
a gap or a repeat (no record lost, none written twice). With --allow-torn=N,
up to N records (JSON Lines) may be cut off where the disk was full: the
beginning of one record, alone on its line (the next record must not be
glued to it); they are not counted.

Prints "records N", then "pid PID N", "fn NAME N", "rv NAME N" and
"crash FN SIGNAL" lines; exits 1 naming the first broken record.
"""
import collections
import json
import os
import re
import struct
import sys

TEXT = re.compile(rb"^(\S+) (\d+):(\d+) #(\d+) (C_\w+)\((.*)\)(?: -> \{.*\})?"
                  rb" = (CKR_\w+|0x[0-9a-f]+|CRASHED \w+)(?: \((\d+) us\))?(?: notes: .*)?$")
CRASH_TEXT = re.compile(rb"^(\S+) (\d+):(\d+) #(\d+) (C_\w+)\(.*\) = CRASHED (\w+)$")


def staged(path):
    """The records processes still stage for path in path.tail (written by a
    process that died without writing them out, e.g. under a sanitizer's own
    fault handler): read as `p11shim trace` reads them, from the layout in
    include/p11-trace-ring.h, an independent reader of it."""
    try:
        with open(path + ".tail", "rb") as f:
            ring = f.read()
        st = os.stat(path)
    except OSError:
        return b""
    head, bufs, buf_size, gen_shift = 4096, 32, 32 * 1024, 48
    if len(ring) < head + bufs * buf_size or ring[:8] != b"p11shimR" or \
            struct.unpack_from("<I", ring, 8)[0] != 2:
        return b""
    word, = struct.unpack_from("<Q", ring, 64)
    ino, dev = struct.unpack_from("<QQ", ring, 128)
    if (ino, dev) != (st.st_ino, st.st_dev):
        return b""
    recs = []
    for b in range(bufs):
        state, pos, done, end = struct.unpack_from("<QQQQ", ring, 1024 + 64 * b)
        if state != 1:
            continue
        data, at, end = head + b * buf_size, 0, min(end, buf_size)
        while at + 16 <= end:
            w, n, mark = struct.unpack_from("<QII", ring, data + at)
            size = 16 + ((n + 7) & ~7)
            if n == 0 or at + size > end:
                break
            if mark == 0x31434552 and w >> gen_shift == word >> gen_shift:
                recs.append((w & ((1 << gen_shift) - 1), ring[data + at + 16:data + at + 16 + n]))
            at += size
    with open(path, "rb") as f:
        out = b""
        for off, rec in sorted(recs):
            f.seek(off)
            if f.read(len(rec)) != rec:
                out += rec
    return out


def main(argv):
    text = "--text" in argv
    seq = "--seq" in argv
    torn_max = sum(int(a.split("=", 1)[1]) for a in argv if a.startswith("--allow-torn="))
    torn = 0
    files = [a for a in argv if not a.startswith("--")]
    pids = collections.Counter()
    fns = collections.Counter()
    rvs = collections.Counter()
    crashes = []
    seqs = collections.defaultdict(list)
    total = 0
    for path in files:
        data = open(path, "rb").read()
        data += staged(path)
        # Records end in '\n'; NUL runs separate them too (padding).
        end = data.rstrip(b"\0")
        if end and not end.endswith(b"\n") and not torn_max:
            sys.exit("%s: the last record is cut off" % path)
        for i, rec in enumerate(re.split(rb"[\n\0]+", data), 1):
            if not rec:
                continue
            if text:
                m = CRASH_TEXT.match(rec)
                if m:
                    pid, s, fn, rv = m.group(2), m.group(4), m.group(5), None
                    crashes.append((fn.decode(), m.group(6).decode()))
                else:
                    m = TEXT.match(rec)
                    if not m:
                        sys.exit("%s: piece %d is not a whole text record: %r" % (path, i, rec[:300]))
                    pid, s, fn, rv = m.group(2), m.group(4), m.group(5), m.group(7)
                pid, s, fn = int(pid), int(s), fn.decode()
                rv = rv.decode() if rv else None
            else:
                try:
                    r = json.loads(rec)
                except ValueError as e:
                    # A record the disk could not hold whole: a beginning,
                    # alone (the next record must not be glued to it).
                    if torn < torn_max and rec.startswith(b'{"ts":"') and rec.count(b'{"ts":"') == 1:
                        torn += 1
                        continue
                    sys.exit("%s: piece %d is not a whole JSON record (%s): %r" % (path, i, e, rec[:300]))
                if not isinstance(r, dict) or list(r)[:5] != ["ts", "pid", "tid", "seq", "fn"] or "rv" not in r:
                    sys.exit("%s: piece %d lacks ts,pid,tid,seq,fn,rv: %r" % (path, i, rec[:300]))
                pid, s, fn, rv = r["pid"], r["seq"], r["fn"], r["rv"]
                if "crash" in r:
                    crashes.append((fn, r["crash"]))
            total += 1
            pids[pid] += 1
            fns[fn] += 1
            rvs[rv if rv is not None else "null"] += 1
            seqs[pid].append(s)
    if seq:
        for pid, ss in seqs.items():
            ss.sort()
            want = list(range(ss[0], ss[0] + len(ss)))
            if ss != want:
                missing = sorted(set(want) - set(ss))[:5]
                dup = [x for x, c in collections.Counter(ss).items() if c > 1][:5]
                sys.exit("pid %s: sequence numbers %d..%d: missing %s, repeated %s"
                         % (pid, ss[0], ss[-1], missing, dup))
    print("records %d" % total)
    if torn:
        print("torn %d" % torn)
    for pid, n in sorted(pids.items()):
        print("pid %s %d" % (pid, n))
    for fn, n in sorted(fns.items()):
        print("fn %s %d" % (fn, n))
    for rv, n in sorted(rvs.items()):
        print("rv %s %d" % (rv, n))
    for fn, sig in crashes:
        print("crash %s %s" % (fn, sig))


if __name__ == "__main__":
    main(sys.argv[1:])
