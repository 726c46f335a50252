#!/usr/bin/env python3
"""Re-records the judge fixtures from real runs on the lab.

    tests/lab/record-fixtures.sh          # runs the lab tests with MAILCHECK_LAB_SAVE, then this

Every lab test run (MAILCHECK_LAB_SAVE=DIR) left DIR/<test>-<n>/<check-id>.json, the
recording of each check in that run. For every check this keeps, as
fixtures/<check-id>/recorded-<status>-<test>.json:
  - one `pass` from a run of the clean lab (a test whose name says "clean", else any pass);
  - every distinct non-pass verdict (by status and message) from runs that targeted the check
    (a run whose recording holds only a few checks: `--only`), at most MAX_PER_STATUS each.
Recordings that hold a lab secret are refused (the binary redacts; this double-checks).
Earlier recorded fixtures are replaced; hand-written ones stay."""

import json, os, re, sys
from pathlib import Path

MAX_PER_STATUS = 3

def lab_secrets():
    env = {}
    for p in ("/run/mailcheck-lab.env",):
        if os.path.exists(p):
            for line in open(p):
                k, _, v = line.strip().partition("=")
                env[k] = v
    return [v for k, v in env.items() if "PASSWORD" in k and len(v) >= 4]

def main(save_dir, fixtures):
    save_dir, fixtures = Path(save_dir), Path(fixtures)
    secrets = lab_secrets()
    runs = sorted(p for p in save_dir.iterdir() if p.is_dir() and (p / "run.json").exists())
    by_check = {}
    for run in runs:
        files = [f for f in run.glob("*.json") if f.name != "run.json"]
        targeted = len(files) <= 6
        test = re.sub(r"-\d+$", "", run.name)
        for f in files:
            text = f.read_text()
            for s in secrets:
                if s in text:
                    sys.exit(f"{f}: holds a lab secret; not recorded")
            e = json.loads(text)
            if "observation" not in e and "unobserved" not in e:
                continue  # skipped: nothing was observed
            # The judge's own message: the runner appends the causes it linked
            # ("; caused by ID: ..."), which replaying one observation does not redo.
            if isinstance(e.get("message"), str):
                e["message"] = re.split(r"; (?:perhaps )?caused by ", e["message"], maxsplit=1)[0]
            by_check.setdefault(e["check"], []).append((test, run.name, targeted, e))
    written = 0
    for check, recs in sorted(by_check.items()):
        d = fixtures / check
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("recorded-*.json"):
            old.unlink()
        chosen = []
        passes = [r for r in recs if r[3]["verdict"] == "pass"]
        passes.sort(key=lambda r: (0 if "clean" in r[0] else 1, r[1]))
        if passes:
            chosen.append(passes[0])
        seen = set()
        count = {}
        for r in sorted(recs, key=lambda r: (not r[2], r[1])):
            e = r[3]
            if e["verdict"] == "pass":
                continue
            key = (e["verdict"], e.get("message"))
            if key in seen or count.get(e["verdict"], 0) >= MAX_PER_STATUS:
                continue
            seen.add(key)
            count[e["verdict"]] = count.get(e["verdict"], 0) + 1
            chosen.append(r)
        names = set()
        for test, run, _, e in chosen:
            name = f"recorded-{e['verdict']}-{test}"
            i = 2
            while name in names:
                name = f"recorded-{e['verdict']}-{test}-{i}"
                i += 1
            names.add(name)
            e["origin"] = e["origin"] + f" (lab test {test}, run {run})"
            (d / f"{name}.json").write_text(json.dumps(e, indent=2, ensure_ascii=False) + "\n")
            written += 1
    print(f"record-fixtures: {written} fixtures for {len(by_check)} checks from {len(runs)} runs")

if __name__ == "__main__":
    main(*sys.argv[1:3])
