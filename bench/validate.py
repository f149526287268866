"""Benchmark: ``tapsync validate`` on 100,000 resources (5,000 event types × 20 properties).

Run by hand (``python bench/validate.py``), not as a test. Generates the manifest set into
a temporary folder (51 files: categories plus 50 files of 100 event types), then runs
:func:`tapsync.manifest.check` in a fresh child process so the peak memory measured is that
of validation alone. Prints wall time and peak RSS with ratios against the goals
(≤ 3 s, ≤ 500 MB). ``--single-file`` writes everything into one file instead (no
parallel reading possible); ``--keep DIR`` writes there and keeps it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 3.0
GOAL_MB = 500.0
EVENTS, PROPERTIES, PER_FILE = 5000, 20, 100


def event_block(i: int) -> str:
    out = [f"    - name: Event Number {i}\n      category: Category {i % 10}\n"
           f"      description: \"Event {i} happened\"\n      tags: [bench, group-{i % 7}]\n"
           "      properties:\n"]
    for j in range(PROPERTIES):
        kind = ("enum", "string", "number", "boolean")[j % 4]
        out.append(f"        - name: prop_{j}\n          type: {kind}\n"
                   f"          description: Property {j} of event {i}\n"
                   f"          is_required: {'true' if j % 2 else 'false'}\n")
        if kind == "enum":
            out.append("          enum_values: [small, medium, large]\n")
        elif kind == "string" and j % 8 == 1:
            out.append("          regex: \"^[a-z]+$\"\n")
    return "".join(out)


def generate(folder: Path, single: bool) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    cats = "amplitude:\n  categories:\n" + "".join(f"    - name: Category {i}\n"
                                                   for i in range(10))
    (folder / "categories.yaml").write_text(cats, encoding="utf-8")
    files = [(folder / "events.yaml", range(EVENTS))] if single else [
        (folder / f"events_{k:03}.yaml", range(k * PER_FILE, (k + 1) * PER_FILE))
        for k in range(EVENTS // PER_FILE)]
    size = len(cats)
    for path, events in files:
        with path.open("w", encoding="utf-8") as out:
            out.write("amplitude:\n  event_types:\n")
            for i in events:
                out.write(event_block(i))
        size += path.stat().st_size
    return size


def child(folder: str) -> None:
    """Run inside the fresh process: check, then report as one JSON line."""
    from tapsync.manifest import check

    start, cpu = time.perf_counter(), time.process_time()
    checked = check([folder])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    kid = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu": cpu, "worker_cpu": kid.ru_utime + kid.ru_stime,
                      "rss_mb": own, "worker_rss_mb": kids,
                      "resources": len(checked.state), "problems": len(checked.problems),
                      "ok": checked.ok, "files": len(checked.files)}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single-file", action="store_true")
    parser.add_argument("--keep", metavar="DIR")
    parser.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        t0 = time.perf_counter()
        size = generate(folder, args.single_file)
        print(f"generated {size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s "
              f"({'one file' if args.single_file else 'many files'})")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        out = subprocess.run([sys.executable, __file__, "--child", str(folder)], env=env,
                             check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    assert r["ok"] and r["resources"] == EVENTS * (PROPERTIES + 1) + 10, r
    print(f"check(): {r['resources']} resources from {r['files']} files")
    print(f"wall time   {r['seconds']:6.2f} s   goal {GOAL_SECONDS:.0f} s   "
          f"ratio {r['seconds'] / GOAL_SECONDS:.2f}   (CPU: main {r['cpu']:.2f} s, "
          f"workers {r['worker_cpu']:.2f} s; other load on the machine inflates wall time)")
    peak = max(r["rss_mb"], r["worker_rss_mb"])
    print(f"peak memory {peak:6.0f} MB  goal {GOAL_MB:.0f} MB  ratio {peak / GOAL_MB:.2f}  "
          f"(main process {r['rss_mb']:.0f} MB, largest worker {r['worker_rss_mb']:.0f} MB)")
    if r["seconds"] > GOAL_SECONDS or peak > GOAL_MB:
        print("OVER GOAL (a figure, not a failure: `make bench` runs on shared machines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
