#!/usr/bin/env python3
"""Helpers of benches/fleet.sh: convergence checks, RSS sampling and the table row."""
import json
import os
import re
import statistics
import sys
import time
from datetime import datetime


def report(d, i):
    try:
        with open(os.path.join(d, f"host{i}", "report.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def converged(d, n, wanted):
    for i in range(1, n + 1):
        r = report(d, i)
        if not r or r["result"] != "success" or r["names"]["present"] != wanted:
            return False
    return True


def holds(d, n, ref):
    for i in range(1, n + 1):
        try:
            with open(os.path.join(d, f"host{i}", "store", "index.json")) as f:
                if ref not in f.read():
                    return False
        except OSError:
            return False
    return True


def rss(pids, samples=10):
    """Per daemon, the smallest RSS seen over the window (between runs), in KiB."""
    period = float(os.environ.get("RSS_WINDOW", "30")) / samples
    low, anon = {}, {}
    for _ in range(samples):
        for p in pids:
            try:
                with open(f"/proc/{p}/smaps_rollup") as f:
                    fields = dict(
                        (line.split(":")[0], int(line.split()[1]))
                        for line in f
                        if line.split(":")[0] in ("Rss", "Anonymous")
                    )
                if fields.get("Rss", 1 << 40) < low.get(p, 1 << 40):
                    low[p], anon[p] = fields["Rss"], fields["Anonymous"]
            except (OSError, KeyError, ValueError):
                pass
        time.sleep(period)
    print(json.dumps({"rss": low, "anon": anon}))


UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def duration(text):
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(ns|µs|us|ms|s|m)", text):
        total += float(num) * UNITS[unit]
    return total


def upstream_requests(log, start, end):
    """(end time, duration) of every request the upstream answered within [start, end]."""
    out = []
    pat_t = re.compile(r'time="([^"]+)"')
    pat_d = re.compile(r'http\.response\.duration="?([^" ]+)"?')
    with open(log, errors="replace") as f:
        for line in f:
            if "response completed" not in line:
                continue
            t = pat_t.search(line)
            d = pat_d.search(line)
            if not t or not d:
                continue
            stamp = t.group(1)
            # 2026-12-06T06:26:02.979978132Z: keep microseconds for fromisoformat.
            stamp = re.sub(r"\.(\d{6})\d*Z$", r".\1+00:00", stamp).replace("Z", "+00:00")
            ts = datetime.fromisoformat(stamp).timestamp()
            if start <= ts <= end:
                out.append((ts, duration(d.group(1))))
    return out


def peak(requests):
    events = []
    for end, dur in requests:
        events.append((end - dur, 1))
        events.append((end, -1))
    events.sort()
    cur = best = 0
    for _, e in events:
        cur += e
        best = max(best, cur)
    return best


def snapshot(d, n):
    """Each host's requests in its latest run, taken while every run is a no-op."""
    out = []
    for i in range(1, int(n) + 1):
        r = report(d, i)
        if r and r["result"] == "success" and not r["actions"]:
            out.append(sum(c["requests"] for c in r["registry_requests"]))
    with open(os.path.join(d, "noop-requests.json"), "w") as f:
        json.dump(out, f)


def row(name, n, jitter, d, start, end, cycles, pushed, converged_at, cold, up):
    n, cycles = int(n), int(cycles)
    start, end, pushed, converged_at = map(float, (start, end, pushed, converged_at))
    log = os.path.join(d, "upstream", "registry.log")
    noop = upstream_requests(log, start, end)
    with open(os.path.join(d, "noop-requests.json")) as f:
        per_host = json.load(f) or [0]
    newtag = upstream_requests(log, pushed, converged_at)
    with open(os.path.join(d, "rss")) as f:
        sampled = json.load(f)
    rss_kib = list(sampled["rss"].values())
    anon_kib = list(sampled["anon"].values())
    mode = name.split("-")[0]
    print(
        f"{mode:<7} {n:>4} {jitter:>6} {len(noop) / cycles:>12.1f} "
        f"{statistics.mean(per_host):>8.1f},{max(per_host):<5} {peak(noop):>10} "
        f"{float(cold):>10.1f} {converged_at - pushed:>10.1f} {len(newtag):>10} "
        f"{statistics.mean(rss_kib) / 1024:>7.1f},{max(rss_kib) / 1024:.1f}"
        f" ({max(anon_kib) / 1024:.1f})",
        flush=True,
    )


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "converged":
        sys.exit(0 if converged(args[0], int(args[1]), int(args[2])) else 1)
    if cmd == "holds":
        sys.exit(0 if holds(args[0], int(args[1]), args[2]) else 1)
    if cmd == "snapshot":
        snapshot(*args)
    elif cmd == "rss":
        rss([int(p) for p in args])
    elif cmd == "row":
        row(*args)
