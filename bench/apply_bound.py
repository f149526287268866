"""Benchmark: apply wall time against the budget's lower bound (issue 4).

    .venv/bin/python bench/apply_bound.py [--quick] [--latency-ms 50] [--only in-process|socket]

Run by hand, not as a test. A sandbox answering every call after ``--latency-ms`` (held
while the cost is in flight, as the service does) and a plan of 200 writes: 10 event
types and 19 properties on each (10 × 19 + 10 creates, all cost 2). No request can beat
the concurrent cost limit of 4, so the apply cannot take less than

    bound = Σ cost ÷ 4 × latency          (400 ÷ 4 × 50 ms = 5.0 s)

The figure is apply wall time ÷ bound (goal ≤ 1.10), measured in process (the sandbox
through ``httpx.ASGITransport``, as ``--sandbox`` runs) and over a loopback socket
(``serve_in_thread``: uvicorn in a thread of this process). For comparison, a naive client
then replays the very same requests (recorded from the apply through an httpx event hook)
one at a time on a fresh sandbox, with plain httpx: it needs Σ latency = 2 × bound.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import httpx
from _common import make_event, session, write_config, write_manifests

from tapsync.budget import Budget, ManualClock, Window
from tapsync.changes import Change, Plan
from tapsync.engine import SANDBOX_CREDENTIALS, all_specs, apply_plan, make_plan, read_live
from tapsync.executor import Executor, Journal
from tapsync.manifest import load
from tapsync.model import Resource, ResourceKey, State
from tapsync.normalize import canonical
from tapsync.planner import plan as compute_plan
from tapsync.providers.base import Provider
from tapsync.sandbox import create_app, serve_in_thread

GOAL_RATIO = 1.10
WHERE = ("in-process", "socket, server thread", "socket, server process")
CONCURRENT = 4


@dataclass(frozen=True)
class Call:
    method: str
    url: str          # path and query, relative to the base URL
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Outcome:
    seconds: float
    cpu: float        # this process's CPU seconds during the apply
    cost: int
    writes: int
    calls: list[Call]
    server: dict[str, Any]
    plan: Plan


def scenario(events: int, properties: int) -> list[Any]:
    return [replace(make_event(i, properties), category="") for i in range(events)]


async def apply_once(folder: Path, app: Any, base_url: str | None) -> Outcome:
    cfg = write_config(folder, base_url)
    desired = load([folder / "manifests"])
    calls: list[Call] = []

    async def record(request: httpx.Request) -> None:
        if request.method != "GET":
            kept = {k: v for k, v in request.headers.items() if k.lower() == "content-type"}
            url = request.url.raw_path.decode("ascii")
            calls.append(Call(request.method, url, kept, request.read()))

    async with session(app, cfg, base_url) as s:
        live = await read_live(s, desired)
        plan = make_plan(s, desired, live)
        s.clients["amplitude"].client.event_hooks["request"].append(record)
        start, cpu = time.perf_counter(), time.process_time()
        result = await apply_plan(s, plan, journal=Journal(None))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    bad = [r for r in result.results if r.status != "ok"]
    if bad or result.interrupted:
        raise SystemExit(f"apply failed: {bad[:3]}")
    server = app.state.sandbox.stats_snapshot()
    return Outcome(seconds, cpu, plan.total_cost, len(plan.changes), calls, server, plan)


async def naive(calls: Sequence[Call], app: Any, base_url: str | None) -> float:
    """One request at a time, plain httpx, on a fresh sandbox: the same calls."""
    transport = httpx.ASGITransport(app=app) if base_url is None else None
    creds = SANDBOX_CREDENTIALS["amplitude"]
    async with httpx.AsyncClient(base_url=base_url or "http://sandbox.invalid",
                                 transport=transport,
                                 auth=(creds["api_key"], creds["secret_key"])) as client:
        (await client.post("/_sandbox/reset")).raise_for_status()  # latency stays as set
        start = time.perf_counter()
        for call in calls:
            response = await client.request(call.method, call.url, headers=call.headers,
                                            content=call.body)
            if response.status_code != 200:
                raise SystemExit(f"naive {call.method} {call.url}: {response.status_code}")
        return time.perf_counter() - start


@contextmanager
def serve_in_process(latency_ms: float) -> Iterator[str]:
    """``serve()`` (what ``tapsync sandbox serve`` runs) in its own process: the server
    then has a core and an interpreter of its own, as the real service would."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (f"from tapsync.sandbox import serve; "
            f"serve('127.0.0.1', {port}, None, {latency_ms!r}, False)")
    process = subprocess.Popen([sys.executable, "-c", code])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                httpx.get(f"{base}/_sandbox/stats")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def serving(where: str, app: Any, latency_ms: float) -> AbstractContextManager[str | None]:
    if where == "socket, server thread":
        return serve_in_thread(app)
    if where == "socket, server process":
        return serve_in_process(latency_ms)
    return nullcontext(None)


class _Timed:
    """Stands in for the provider: each API call holds cost 2 for exactly the latency."""

    def __init__(self, budget: Budget, seconds: float) -> None:
        self.budget, self.seconds = budget, seconds

    async def apply_change(self, change: Change) -> None:
        for _ in range(max(1, change.cost // 2)):
            async with self.budget.spend(2):
                await asyncio.sleep(self.seconds)

    async def read_one(self, key: Any) -> None:
        return None


def scheduling(plan: Plan, latency_ms: float) -> float:
    """The executor and the budget alone, in virtual time (no HTTP, no CPU cost): their
    makespan ÷ the bound. Anything above 1.000 is idle capacity they leave."""
    clock = ManualClock()
    budget = Budget(concurrent=CONCURRENT, windows=[Window(7200, 3600.0)], clock=clock,
                    sleep=clock.sleep)
    fake = cast(Provider, _Timed(budget, latency_ms / 1000))
    result = clock.run(Executor({"amplitude": fake}).apply(plan))
    assert all(r.status == "ok" for r in result.results)
    return clock.now / (plan.total_cost / CONCURRENT * latency_ms / 1000)


def shape_plan(categories: int, events: int, properties: int) -> Plan:
    """Creates only: ``categories``, ``events`` (each in one of them), ``properties`` each."""
    desired = State()
    for c in range(categories):
        desired.add(Resource(ResourceKey("amplitude", "category", (f"C{c}",))))
    for e in range(events):
        attrs = {"description": "x", **({"category": f"C{e % categories}"} if categories else {})}
        desired.add(Resource(ResourceKey("amplitude", "event_type", (f"E{e}",)),
                             canonical("amplitude", "event_type", attrs)))
        for p in range(properties):
            desired.add(Resource(ResourceKey("amplitude", "event_property", (f"E{e}", f"p{p}")),
                                 canonical("amplitude", "event_property", {"type": "string"})))
    return compute_plan(desired, State(), all_specs())


SHAPES = ((0, 10, 19), (0, 11, 19), (1, 40, 2), (3, 7, 5), (0, 3, 3), (1, 1, 19))


def run(where: str, events: int, properties: int, latency_ms: float) -> float:
    """Apply, then replay naively; print the figures; return apply seconds ÷ bound."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_manifests(folder / "manifests", scenario(events, properties), categories=0)
        app = create_app(latency_ms=latency_ms)
        with serving(where, app, latency_ms) as base_url:
            out = asyncio.run(apply_once(folder, app, base_url))
            if base_url is not None and "process" in where:
                server = httpx.get(f"{base_url}/_sandbox/stats").json()
            else:
                server = app.state.sandbox.stats_snapshot()
            sequential = asyncio.run(naive(out.calls, app, base_url))
    bound = out.cost / CONCURRENT * latency_ms / 1000
    print(f"-- {where}: {out.writes} writes, Σ cost {out.cost}, bound "
          f"{out.cost} ÷ {CONCURRENT} × {latency_ms:g} ms = {bound:.2f} s")
    print(f"   sandbox saw: max cost in flight {server.get('max_cost_in_flight')}, "
          f"throttled {server.get('throttled')}, by status {server.get('by_status')}")
    rounds = out.cost / CONCURRENT
    if bound <= 0:
        print(f"   apply {out.seconds:.2f} s ({out.seconds / rounds * 1000:.2f} ms per round "
              f"of {CONCURRENT} cost units: pure overhead); naive {sequential:.2f} s")
        return 0.0
    ratio = out.seconds / bound
    if where == WHERE[0]:
        print(f"   executor + budget alone (virtual time, no HTTP): makespan ÷ bound = "
              f"{scheduling(out.plan, latency_ms):.3f}")
    verdict = "ok" if ratio <= GOAL_RATIO else "OVER"
    print(f"   tapsync apply     {out.seconds:6.2f} s   ÷ bound = {ratio:.3f}   "
          f"goal ≤ {GOAL_RATIO:.2f}   {verdict}")
    print(f"   naive sequential  {sequential:6.2f} s   ÷ bound = {sequential / bound:.3f}   "
          f"({len(out.calls)} calls one at a time, plain httpx; no goal)")
    whose = "tapsync and httpx only" if where.endswith("server process") else "sandbox incl."
    print(f"   above the bound: {out.seconds - bound:.2f} s = "
          f"{(out.seconds - bound) / rounds * 1000:.1f} ms per round of {CONCURRENT} cost "
          f"units in flight; CPU of this process {out.cpu / len(out.calls) * 1000:.2f} ms "
          f"per call ({whose})")
    return ratio


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="4 event types × 9 properties")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--only", choices=WHERE)
    args = parser.parse_args(argv)
    events, properties = (4, 9) if args.quick else (10, 19)
    print(f"apply_bound: {events} event types × {properties} properties + {events} event "
          f"types = {events * (properties + 1)} writes; latency {args.latency_ms:g} ms; "
          "2 cores")
    for where in WHERE:
        if args.only in (None, where):
            run(where, events, properties, args.latency_ms)
    print("-- executor + budget alone on other plan shapes (virtual time, creates only; "
          "phases wait for whole earlier phases):")
    for shape in SHAPES:
        plan = shape_plan(*shape)
        print(f"   {shape[0]} categories, {shape[1]:2} event types × {shape[2]:2} properties: "
              f"{len(plan.changes):3} changes, makespan ÷ bound = "
              f"{scheduling(plan, args.latency_ms or 50.0):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
