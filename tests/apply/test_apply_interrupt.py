"""Ctrl-C and retries inside the executor, in virtual time against the sandbox.

Ctrl-C (the executor's ``stop`` event) must not wait for the hourly window with the calls
it holds back: those are given up at once and reported as not applied, while the calls in
flight finish. A write that did not land is sent again only after a growing, jittered
pause, and the happy path never pauses.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tapsync.budget import ManualClock
from tapsync.changes import Action
from tapsync.engine import apply_plan
from tapsync.executor import NOT_STARTED, ApplyResult, Executor, Journal
from tapsync.model import State
from tests.apply.support import (
    Sandbox,
    connected,
    describe,
    failures,
    plan_only,
    res,
    virtual_app,
    virtual_budget,
    workspace_config,
    writes,
)

HOURLY = 20


def events(n: int) -> State:
    return State([res("event_type", f"Event {i}") for i in range(n)])


def test_ctrl_c_while_waiting_for_the_hourly_window_returns_without_waiting(
        tmp_path: Path) -> None:
    clock = ManualClock()
    sandbox = Sandbox(virtual_app(clock))
    cfg = workspace_config(tmp_path, "providers:\n  amplitude:\n    budget: "
                                     f"{{concurrent_cost: 4, hourly_cost: {HOURLY}}}\n")
    waits: list[tuple[float, str]] = []

    async def go() -> tuple[ApplyResult, dict[str, Any], float, Path | None]:
        async with connected(sandbox, cfg) as s:
            budget = virtual_budget(s, clock, HOURLY)
            plan = await plan_only(s, events(12))     # 24 units of writes: over the hour
            stop = asyncio.Event()

            def on_wait(seconds: float, reason: str) -> None:
                waits.append((seconds, reason))
                stop.set()                            # Ctrl-C, as the wait begins

            budget.on_wait = on_wait
            journal = Journal(tmp_path / "journal")
            result = await apply_plan(s, plan, journal=journal, stop=stop)
            journal.close()
            return result, await sandbox.stats(), clock(), journal.path

    result, stats, elapsed, journal_path = clock.run(go())
    assert result.interrupted
    assert waits and waits[0][1] == "hourly budget" and waits[0][0] > 3000
    assert elapsed < 60                       # virtual seconds: nobody waited the hour
    statuses = [r.status for r in result.results]
    posts = stats["endpoints"]["POST /api/2/taxonomy/event"]["count"]
    assert statuses.count("ok") == posts == writes(stats) > 0  # what was sent finished
    not_applied = [r for r in result.results if r.not_started]
    assert len(not_applied) == 12 - posts     # the rest: not applied, never "failed"
    assert all(r.message == NOT_STARTED for r in not_applied)
    assert "failed" not in statuses
    assert journal_path is not None
    end = json.loads(journal_path.read_text(encoding="utf-8").splitlines()[-1])
    assert end == {**end, "event": "end", "ok": posts, "failed": 0, "skipped": 0,
                   "not_applied": 12 - posts, "interrupted": True}


def test_a_write_that_did_not_land_is_sent_again_after_a_growing_jittered_pause(
        tmp_path: Path) -> None:
    clock = ManualClock()
    sandbox = Sandbox(virtual_app(clock))
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        await clock.sleep(seconds)

    async def go() -> tuple[ApplyResult, dict[str, Any], list[str], list[float]]:
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            virtual_budget(s, clock, 7200)
            quiet = await Executor(s.providers, sleep=sleep).apply(
                await plan_only(s, events(3)))       # no fault: no pause at all
            calm = list(pauses)
            plan = await plan_only(s, State([res("event_type", "Flaky")]))
            # three 503s: each POST's outcome is unknown; the read says it did not land
            await sandbox.faults({"kind": "status", "status": 503, "times": 3,
                                  "method": "POST", "path": "/api/2/taxonomy/event"})
            await sandbox.admin("DELETE", "/stats")
            result = await Executor(s.providers, sleep=sleep, rng=lambda: 0.5).apply(plan)
            assert failures(quiet) == []
            return result, await sandbox.stats(), describe(await plan_only(s, State([
                res("event_type", "Flaky")]))), calm

    result, stats, replan, calm = clock.run(go())
    assert calm == []
    assert failures(result) == [] and replan == []
    assert [r.change.action for r in result.results] == [Action.CREATE]
    assert stats["endpoints"]["POST /api/2/taxonomy/event"]["count"] == 4
    assert pauses == [0.375, 0.75, 1.5]   # 0.5 s doubling, jittered into [½, 1] of it


def test_ctrl_c_cuts_short_a_read_pausing_for_retry_after_and_sends_nothing_more(
        tmp_path: Path) -> None:
    # The POST's outcome is unknown (stored, then 500), so the executor reads it back; the
    # read meets 503 + Retry-After: 3600. Ctrl-C 10 s later must not wait out the hour.
    clock = ManualClock()
    sandbox = Sandbox(virtual_app(clock))
    stop = asyncio.Event()

    async def go() -> tuple[ApplyResult, dict[str, Any], float]:
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            plan = await plan_only(s, State([res("event_type", "E")]))
            await sandbox.faults(
                {"kind": "store_then_fail", "method": "POST", "status": 500, "times": 1},
                {"kind": "status", "method": "GET", "status": 503, "retry_after": 3600,
                 "times": 1})
            await sandbox.admin("DELETE", "/stats")
            asyncio.get_running_loop().call_later(10, stop.set)   # Ctrl-C
            result = await apply_plan(s, plan, journal=Journal(None), stop=stop)
            return result, await sandbox.stats(), clock()

    result, stats, ended = clock.run(go())
    assert ended < 60                         # virtual seconds: the hour was not waited
    assert result.interrupted
    (only,) = result.results
    assert only.status == "skipped" and "outcome is unknown" in only.message
    sent = sorted(label for label, e in stats["endpoints"].items() for _ in range(e["count"]))
    assert [label.split(" ", 1)[0] for label in sent] == ["GET", "POST"]  # no retried read


def test_after_ctrl_c_the_children_of_a_change_not_started_are_not_applied_either(
        tmp_path: Path) -> None:
    # Ctrl-C before anything started: the event type is not applied, and its property,
    # which sent nothing and whose parent did not fail, is "not applied" too.
    sandbox = Sandbox()
    desired = State([res("event_type", "E"), res("event_property", "E", "p", type="string")])
    stop = asyncio.Event()

    async def go() -> tuple[ApplyResult, Path | None]:
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            plan = await plan_only(s, desired)
            stop.set()
            journal = Journal(tmp_path / "journal")
            result = await apply_plan(s, plan, journal=journal, stop=stop)
            journal.close()
            return result, journal.path

    result, journal_path = asyncio.run(go())
    assert [r.change.key.kind for r in result.results] == ["event_type", "event_property"]
    assert [(r.status, r.message) for r in result.results] == [("skipped", NOT_STARTED)] * 2
    assert all(r.not_started for r in result.results)
    assert journal_path is not None
    end = json.loads(journal_path.read_text(encoding="utf-8").splitlines()[-1])
    assert end == {**end, "event": "end", "ok": 0, "failed": 0, "skipped": 0,
                   "not_applied": 2, "interrupted": True}
