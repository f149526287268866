"""Benchmark: ``tapsync plan`` on 100,000 objects (5,000 event types × 20 properties).

    .venv/bin/python bench/plan_scale.py [--quick] [--events N]

Run by hand, not as a test. The live side is an in-process sandbox with no latency, seeded
directly through its fixture loader in one transaction (no HTTP: see ``_common.seed``).
The manifests are generated to match it, with deliberate differences: changed event
descriptions, changed property enum values and descriptions, new properties, new event
types, and live properties no manifest declares (unmanaged). The plan then runs the path
``tapsync plan`` runs: ``manifest.load`` → ``read_live`` (the real Amplitude provider,
HTTP in process through ``httpx.ASGITransport``, under the real budget) → ``make_plan``.

Figures, each against its goal:

* the diff, desired × live → plan (``make_plan``): ≤ 2 s. Building the desired state is
  part of ``manifest.load``, printed too but not separable from YAML parsing without
  reaching into the manifest package (``bench/validate.py`` measures that, goal 3 s);
* peak RSS while planning (load, read, plan), which includes the in-process sandbox
  (its store and its transient answers; printed separately): ≤ 500 MB;
* reads per plan ÷ the minimum (4 list calls + 1 property list per live event type the
  manifests name): exactly 1.00.

It also checks the plan is exactly the differences put in, and counts the objects that
reach ``tapsync.diff.diff`` and ``deepdiff.DeepDiff`` (by wrapping them here, not by
changing the code): DeepDiff must only ever see values that differ.

The sandbox finds one event's properties by a key-range query on its store's primary
key, so the reads are tapsync's cost, not the emulator's.
``--profile FILE`` writes a cProfile of the planner alone.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from _common import (
    Event,
    Prop,
    figure,
    make_event,
    peak_rss_mb,
    peak_since_reset_mb,
    reset_peak_rss,
    rss_mb,
    seed,
    session,
    write_config,
    write_manifests,
)

import tapsync.diff
import tapsync.manifest
from tapsync.changes import Plan
from tapsync.engine import make_plan, read_live
from tapsync.model import State
from tapsync.sandbox import create_app

GOAL_BUILD_DIFF_S = 2.0
GOAL_MB = 500.0
PROPERTIES = 20
NEW_EVENTS = 5


# --------------------------------------------------------------- live vs desired taxonomy

def taxonomies(n: int) -> tuple[list[Event], list[Event], dict[str, int]]:
    """(live, desired, expected plan summary): desired is live with known differences."""
    live: list[Event] = []
    desired: list[Event] = []
    expected = {"update": 0, "create": 0, "unmanaged": 0}
    for i in range(n):
        e = make_event(i, PROPERTIES)
        props = list(e.properties)
        if i % 250 == 7:  # live only: nobody declares it
            live.append(replace(e, properties=(*props, Prop("legacy_prop", "string",
                                                            "old", False))))
            expected["unmanaged"] += 1
        else:
            live.append(e)
        want = e
        if i % 97 == 3:
            want = replace(want, description=f"Event {i} happened (revised)")
            expected["update"] += 1
        if i % 50 == 1:
            props[0] = replace(props[0], enum_values=("huge", "large", "medium", "small"))
            expected["update"] += 1
        if i % 101 == 5:
            props[3] = replace(props[3], description=f"Property 3 of event {i}, clarified")
            expected["update"] += 1
        if i % 200 == 11:
            props.append(Prop("prop_new", "string", "added in the manifest", False))
            expected["create"] += 1
        desired.append(replace(want, properties=tuple(props)))
    for k in range(NEW_EVENTS):
        desired.append(replace(make_event(n + k, 2)))
        expected["create"] += 3
    return live, desired, expected


# -------------------------------------------------------------------------- measuring

class Counters:
    """Wraps ``diff`` (as the planner sees it) and ``deepdiff.DeepDiff`` (as
    ``tapsync.diff`` sees it), counting without changing them."""

    def __init__(self) -> None:
        self.diff_calls = 0
        self.diff_nonempty = 0
        self.deepdiff_calls = 0
        self.deepdiff_equal = 0   # calls on equal values: must stay 0

    @contextmanager
    def installed(self) -> Iterator[None]:
        import tapsync.planner

        # the names as the planner and tapsync.diff look them up (module globals)
        planner_ns, diff_ns = vars(tapsync.planner), vars(tapsync.diff)
        real_diff, real_deep = planner_ns["diff"], diff_ns["DeepDiff"]

        def diff(*args: Any, **kw: Any) -> Any:
            out = real_diff(*args, **kw)
            self.diff_calls += 1
            self.diff_nonempty += bool(out)
            return out

        def deep(before: Any, after: Any, **kw: Any) -> Any:
            self.deepdiff_calls += 1
            self.deepdiff_equal += before == after
            return real_deep(before, after, **kw)

        planner_ns["diff"], diff_ns["DeepDiff"] = diff, deep
        try:
            yield
        finally:
            planner_ns["diff"], diff_ns["DeepDiff"] = real_diff, real_deep


def check_plan(plan: Plan, expected: dict[str, int]) -> None:
    summary = plan.summary()
    got = {"update": summary["update"], "create": summary["create"],
           "unmanaged": len(plan.unmanaged)}
    others = {a: n for a, n in summary.items() if a not in ("update", "create") and n}
    if got != expected or others or plan.errors:
        raise SystemExit(f"unexpected plan: {got} (+{others}, {len(plan.errors)} errors), "
                         f"expected {expected}")


async def run(folder: Path, app: Any, n: int, expected: dict[str, int],
              counters: Counters) -> dict[str, Any]:
    cfg = write_config(folder)
    out: dict[str, Any] = {}
    with counters.installed():
        start = time.perf_counter()
        desired = tapsync.manifest.load([folder / "manifests"])
        out["load"] = time.perf_counter() - start
        async with session(app, cfg) as s:
            start = time.perf_counter()
            live = await read_live(s, desired)
            out["read"] = time.perf_counter() - start
            out["reads"] = s.reads()["amplitude"]
            start, cpu = time.perf_counter(), time.process_time()
            plan = make_plan(s, desired, live)
            out["plan"] = time.perf_counter() - start
            out["plan_cpu"] = time.process_time() - cpu
    out["objects"] = (len(desired), len(live))
    out["minimum_reads"] = 4 + n  # the 5 new event types are not live: nothing to list
    check_plan(plan, expected)
    out["changes"] = len(plan.changes)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="500 event types (10,000 objects)")
    parser.add_argument("--events", type=int, help="event types (default 5,000)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the planner into FILE")
    args = parser.parse_args(argv)
    n = args.events or (500 if args.quick else 5000)
    live_events, desired_events, expected = taxonomies(n)
    print(f"plan_scale: {n} event types × {PROPERTIES} properties "
          f"({n * (PROPERTIES + 1):,} live objects), 2 cores, in-process sandbox, no latency")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        size = write_manifests(folder / "manifests", desired_events)
        print(f"generated manifests: {size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s")
        app = create_app()
        start = time.perf_counter()
        seed(app, live_events)
        del live_events, desired_events
        gc.collect()
        baseline = rss_mb()
        print(f"seeded the sandbox store (fixture loader, one transaction) in "
              f"{time.perf_counter() - start:.1f} s; RSS now {baseline or 0:.0f} MB "
              f"(peak while seeding {peak_rss_mb():.0f} MB)")
        peak_resettable = reset_peak_rss()
        counters = Counters()
        r = asyncio.run(run(folder, app, n, expected, counters))
    peak = peak_since_reset_mb() if peak_resettable else None
    if peak is None:
        peak, what = peak_rss_mb(), "peak memory (process, seeding incl.)"
    else:
        what = "peak memory while planning"
    print(f"desired {r['objects'][0]:,} objects, live {r['objects'][1]:,}; plan: "
          f"{r['changes']} changes ({expected}) — as generated")
    print(f"  manifest.load      {r['load']:7.2f} s  (YAML, schemas, lint, build: "
          f"bench/validate.py's subject)")
    print(f"  read_live          {r['read']:7.2f} s  ({r['reads']} GETs, real provider, "
          f"ASGI in process)")
    print(f"  planner            {r['plan']:7.2f} s  (CPU {r['plan_cpu']:.2f} s)")
    print(f"  total plan time    {r['load'] + r['read'] + r['plan']:7.2f} s")
    print(f"  diff() calls {counters.diff_calls:,}, of which differ {counters.diff_nonempty:,};"
          f" DeepDiff calls {counters.deepdiff_calls} (on equal values: "
          f"{counters.deepdiff_equal})")
    print(figure("diff: desired × live → plan", r["plan"], GOAL_BUILD_DIFF_S, "s"))
    print(figure(what, peak, GOAL_MB, "MB")
          + (f"  (the sandbox's store and this process before planning: {baseline:.0f} MB;"
             f" planning added {peak - baseline:.0f} MB)" if baseline is not None else ""))
    print(figure("reads ÷ minimum", r["reads"] / r["minimum_reads"], 1.0, "", exact=True)
          + f"  ({r['reads']} / {r['minimum_reads']})")
    if counters.deepdiff_equal or counters.deepdiff_calls > counters.diff_nonempty:
        print("DeepDiff saw values that do not differ")
        return 1
    if args.profile:
        profile_planner(n, args.profile)
    return 0


def profile_planner(n: int, path: str) -> None:
    """Plan once more under cProfile, from states built in memory (no sandbox needed)."""
    import cProfile

    from tapsync.engine import all_specs
    from tapsync.planner import plan

    desired, live = states_in_memory(n)
    profiler = cProfile.Profile()
    profiler.enable()
    plan(desired, live, all_specs())
    profiler.disable()
    profiler.dump_stats(path)
    print(f"planner profile written to {path}")


def states_in_memory(n: int) -> tuple[State, State]:
    """Desired and live states shaped as the manifests and the provider produce them."""
    from tapsync.model import Resource, ResourceKey
    from tapsync.normalize import canonical

    live_events, desired_events, _ = taxonomies(n)

    def state(events: list[Event], live: bool) -> State:
        s = State()
        for i in range(10):
            s.add(Resource(ResourceKey("amplitude", "category", (f"Category {i}",))))
        for e in events:
            attrs = {"category": e.category, "description": e.description,
                     "tags": list(e.tags)}
            s.add(Resource(ResourceKey("amplitude", "event_type", (e.name,)),
                           canonical("amplitude", "event_type", attrs)))
            for p in e.properties:
                pa: dict[str, Any] = {"type": p.type, "description": p.description,
                                      "is_required": p.is_required}
                if p.enum_values:
                    pa["enum_values"] = list(p.enum_values)
                if p.regex:
                    pa["regex"] = p.regex
                s.add(Resource(ResourceKey("amplitude", "event_property", (e.name, p.name)),
                               canonical("amplitude", "event_property", pa)))
        return s

    return state(desired_events, False), state(live_events, True)


if __name__ == "__main__":
    sys.exit(main())

