#!/usr/bin/env python3
"""How long a receiver holds data before ACKing it, from `grid --linux --pcap`.

For every ACK that advances the cumulative acknowledgement, the wait is the
time from the arrival of the oldest segment it newly covers to the ACK. That
is what a sender's RTT sample (Linux: the oldest newly acked segment) adds
on top of the path. Also counts segments covered per advancing ACK.

usage: ack_wait.py FILE.pcap...   (needs tshark)
"""
import collections
import subprocess
import sys

FIELDS = ["frame.time_epoch", "tcp.srcport", "tcp.seq_raw", "tcp.len", "tcp.ack_raw"]


def packets(path):
    cmd = ["tshark", "-r", path, "-T", "fields"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        p = line.split("\t")
        if len(p) == len(FIELDS) and all(p):
            yield float(p[0]), int(p[1]), int(p[2]), int(p[3]), int(p[4])


def analyse(path):
    rows = list(packets(path))
    # The data sender is the side that sends payload.
    by_port = collections.Counter(port for _, port, _, ln, _ in rows if ln > 0)
    if not by_port:
        print(f"{path}: no data")
        return
    sender = by_port.most_common(1)[0][0]
    arrived = {}  # start sequence number -> arrival time (last copy)
    waits, per_ack = [], collections.Counter()
    mss = max(ln for _, port, _, ln, _ in rows if port == sender)
    prev = None
    for t, port, seq, ln, ack in rows:
        if port == sender:
            if ln > 0:
                arrived[seq] = t
            continue
        advance = None if prev is None else (ack - prev) & 0xFFFFFFFF
        if advance and advance < 1 << 30:
            if prev in arrived:
                waits.append((t - arrived[prev]) * 1e6)
            per_ack[min(advance // mss, 10)] += 1
        prev = ack
    waits.sort()
    n = len(waits)
    if n == 0:
        print(f"{path}: no advancing ACK")
        return
    pct = {q: round(waits[min(int(n * q), n - 1)]) for q in (0.25, 0.5, 0.75, 0.9)}
    print(
        f"{path}: {n} advancing ACKs, wait of the oldest newly ACKed segment "
        f"(µs) p25 {pct[0.25]} p50 {pct[0.5]} p75 {pct[0.75]} p90 {pct[0.9]} "
        f"mean {sum(waits) / n:.0f}; segments per ACK "
        + " ".join(f"{k}{'+' if k == 10 else ''}:{v}" for k, v in sorted(per_ack.items()))
    )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for f in sys.argv[1:]:
        analyse(f)
