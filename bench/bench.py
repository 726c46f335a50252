#!/usr/bin/env python3
"""Interleaved whole-process benchmark: runs each command once per round, in turn, after warm-up
rounds, and records wall time (monotonic clock), CPU time and peak RSS of each run (wait4's
rusage: the largest of the process and the children it waited for, e.g. `mariadbd --version`
at 23 MiB), and the process's own peak RSS (its VmHWM, sampled every 2 ms while it runs; the
high-water mark misses at most the last 2 ms). Prints a Markdown table; writes JSON when asked.

usage: bench.py ROUNDS WARMUP OUT.json NAME=COMMAND [NAME=COMMAND ...]
"""
import json, os, shlex, statistics, subprocess, sys, threading, time


def own_peak(pid, done, seen):
    """The last VmHWM of /proc/PID/status before the process exits (kB)."""
    path = f"/proc/{pid}/status"
    while not done.is_set():
        try:
            for line in open(path):
                if line.startswith("VmHWM:"):
                    seen[0] = max(seen[0], int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.002)


def run_once(cmd):
    t0 = time.monotonic()
    # No shell: the child is the command itself, whose own VmHWM is read.
    p = subprocess.Popen(shlex.split(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done, seen = threading.Event(), [0]
    watcher = threading.Thread(target=own_peak, args=(p.pid, done, seen))
    watcher.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = (time.monotonic() - t0) * 1e3
    done.set()
    watcher.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    return {"ms": wall, "cpu_ms": (ru.ru_utime + ru.ru_stime) * 1e3,
            "rss_kib": ru.ru_maxrss, "own_rss_kib": seen[0], "exit": p.returncode}


def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]


def main():
    rounds, warmup, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    cmds = [a.split("=", 1) for a in sys.argv[4:]]
    for _ in range(warmup):
        for _, c in cmds:
            run_once(c)
    samples = {n: [] for n, _ in cmds}
    for _ in range(rounds):
        for n, c in cmds:
            samples[n].append(run_once(c))
    rows = {}
    for n, c in cmds:
        s = samples[n]
        ms = [x["ms"] for x in s]
        rows[n] = {
            "command": c, "runs": len(s), "min_ms": min(ms), "median_ms": statistics.median(ms),
            "p90_ms": q(ms, 0.9), "max_ms": max(ms),
            "cpu_median_ms": statistics.median(x["cpu_ms"] for x in s),
            "peak_rss_mib": max(x["rss_kib"] for x in s) / 1024,
            "own_peak_rss_mib": max(x["own_rss_kib"] for x in s) / 1024,
            "exit_codes": sorted({x["exit"] for x in s}),
            "p10_ms": q(ms, 0.1), "samples_ms": ms,
        }
    json.dump(rows, open(out, "w"), indent=2)
    print("| command | runs | min | median | p90 | max | CPU (median) | own peak RSS | peak RSS with children | exit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, r in rows.items():
        print(f"| {n} | {r['runs']} | {r['min_ms']:.1f} | **{r['median_ms']:.1f}** | {r['p90_ms']:.1f} | "
              f"{r['max_ms']:.1f} | {r['cpu_median_ms']:.1f} | {r['own_peak_rss_mib']:.1f} MiB | "
              f"{r['peak_rss_mib']:.1f} MiB | {r['exit_codes']} |")


if __name__ == "__main__":
    main()
