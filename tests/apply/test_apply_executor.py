"""The executor against the sandbox: dependency order, isolated failures, skipped dependents,
and Ctrl-C (the ``stop`` event) letting in-flight calls finish while starting no new ones."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tapsync.changes import Action
from tapsync.engine import apply_plan
from tapsync.executor import Journal
from tapsync.model import State
from tests.apply.support import (
    Sandbox,
    connected,
    describe,
    failures,
    key,
    plan_only,
    res,
    round_trip,
    workspace_config,
)
from tests.conftest import run


def test_should_create_parents_before_children(tmp_path: Path) -> None:
    sandbox = Sandbox()
    desired = State([
        res("category", "Media"),
        res("event_type", "Play Song", category="Media", description="played"),
        res("event_property", "Play Song", "genre", type="enum", enum_values=["rock", "pop"]),
        res("event_property", "Play Song", "duration", type="number", is_required=True),
    ])

    async def go() -> tuple[list[str], list[str], list[str]]:
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            journal = Journal(tmp_path / "journal")
            rnd = await round_trip(s, desired, journal)
            journal.close()
            assert journal.path is not None
            order = [json.loads(line)["address"] for line in
                     journal.path.read_text(encoding="utf-8").splitlines()
                     if json.loads(line)["event"] == "start"]
            return order, failures(rnd.result), describe(rnd.replan)

    order, failed, replan = run(go())
    assert failed == [] and replan == []
    cat = key("category", "Media").address
    ev = key("event_type", "Play Song").address
    props = [key("event_property", "Play Song", p).address for p in ("genre", "duration")]
    assert order.index(cat) < order.index(ev) < min(order.index(p) for p in props)


def test_one_failure_is_reported_in_the_servers_words_and_the_rest_goes_on(
        tmp_path: Path) -> None:
    sandbox = Sandbox()
    desired = State([
        res("event_type", "Broken/One"),       # its POST fails: 409 from the server
        res("event_property", "Broken/One", "child", type="string"),
        res("event_type", "Fine"),
        res("event_property", "Fine", "ok", type="number"),
        res("user_property", "plan", type="string"),
    ])

    async def go() -> tuple[dict[str, tuple[str, str]], list[str]]:
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            plan = await plan_only(s, desired)
            # Someone else creates the same event between plan and apply: a real 409.
            await sandbox.fixtures({"event_types": [{"event_type": "Broken/One",
                                                     "status": "planned"}]})
            await sandbox.faults({"kind": "status", "status": 400, "method": "POST",
                                  "path": "/api/2/taxonomy/user-property"})
            result = await apply_plan(s, plan, journal=Journal(None))
            statuses = {r.change.key.address: (r.status, r.message) for r in result.results}
            assert {r.change.key.address for r in result.failed} == {
                a for a, (status, _) in statuses.items() if status == "failed"}
            assert {r.change.key.address for r in result.not_applied} == {
                a for a, (status, _) in statuses.items() if status != "ok"}
            await sandbox.admin("DELETE", "/faults")
            return statuses, describe(await plan_only(s, desired))

    statuses, replan = run(go())
    broken = statuses[key("event_type", "Broken/One").address]
    assert broken[0] == "failed" and "already exists" in broken[1], broken
    user = statuses[key("user_property", "plan").address]
    assert user[0] == "failed" and "Sandbox fault: injected 400" in user[1], user
    child = statuses[key("event_property", "Broken/One", "child").address]
    assert child[0] == "skipped"
    assert key("event_type", "Broken/One").address in child[1]
    assert statuses[key("event_type", "Fine").address][0] == "ok"
    assert statuses[key("event_property", "Fine", "ok").address][0] == "ok"
    # What did not apply is still planned; what did is not.
    assert any("Broken/One" in line and "child" in line for line in replan)
    assert not any('"Fine"' in line for line in replan)


def test_a_failed_category_skips_the_events_that_use_it(tmp_path: Path) -> None:
    sandbox = Sandbox()
    desired = State([res("category", "Music"),
                     res("event_type", "Tune", category="Music"),
                     res("event_type", "Other")])

    async def go() -> dict[str, str]:
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            await sandbox.faults({"kind": "status", "status": 422, "method": "POST",
                                  "path": "/api/2/taxonomy/category"})
            rnd = await round_trip(s, desired)
            return {r.change.key.address: r.status for r in rnd.result.results}

    statuses = run(go())
    assert statuses == {key("category", "Music").address: "failed",
                        key("event_type", "Tune").address: "skipped",
                        key("event_type", "Other").address: "ok"}


def test_stop_lets_in_flight_calls_finish_and_starts_no_new_ones(tmp_path: Path) -> None:
    sandbox = Sandbox(latency_ms=20)
    names = [f"Event {i}" for i in range(12)]
    desired = State([res("event_type", n) for n in names])

    async def go() -> tuple[bool, dict[str, int], int, int]:
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            plan = await plan_only(s, desired)
            assert [c.action for c in plan.changes] == [Action.CREATE] * len(names)
            stop = asyncio.Event()
            task = asyncio.create_task(apply_plan(s, plan, journal=Journal(None), stop=stop))
            while (await sandbox.stats())["requests"] < 6:   # mid-way: some answered
                await asyncio.sleep(0.005)
            stop.set()
            result = await task
            stats = await sandbox.stats()
            counts: dict[str, int] = {}
            for r in result.results:
                counts[r.status] = counts.get(r.status, 0) + 1
            posts = stats["endpoints"]["POST /api/2/taxonomy/event"]["count"]
            return result.interrupted, counts, posts, stats["cost_in_flight"]

    interrupted, counts, posts, in_flight = run(go())
    assert interrupted
    assert counts.get("ok", 0) == posts          # every call that started finished
    assert counts.get("failed", 0) == 0
    assert 0 < posts < len(names)                # … and no new one started
    assert counts.get("skipped", 0) == len(names) - posts
    assert in_flight == 0


def test_a_property_waits_for_its_own_event_type_only(tmp_path: Path) -> None:
    sandbox = Sandbox()
    desired = State([
        res("event_type", "A Slow"),
        res("event_property", "A Slow", "a", type="string"),
        res("event_type", "B Quick"),
        res("event_property", "B Quick", "b", type="number"),
    ])

    async def go() -> list[tuple[str, str]]:
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            plan = await plan_only(s, desired)
            # the first event create ("A Slow", first in plan order) answers late
            await sandbox.faults({"kind": "slow", "delay_ms": 400, "times": 1,
                                  "method": "POST", "path": "/api/2/taxonomy/event"})
            journal = Journal(tmp_path / "journal")
            result = await apply_plan(s, plan, journal=journal)
            journal.close()
            assert failures(result) == []
            assert journal.path is not None
            records = [json.loads(line) for line in journal.path.read_text().splitlines()]
            return [(r["event"], r["address"]) for r in records if r["event"] == "ok"]

    done = [address for _, address in run(go())]
    slow_event = key("event_type", "A Slow").address
    quick_prop = key("event_property", "B Quick", "b").address
    slow_prop = key("event_property", "A Slow", "a").address
    # B's property did not idle behind A's unrelated, slow event type…
    assert done.index(quick_prop) < done.index(slow_event)
    # …while A's own property still waited for it
    assert done.index(slow_event) < done.index(slow_prop)
