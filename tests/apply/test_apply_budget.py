"""Budgets, measured by the sandbox: a plan bigger than the hourly budget runs without a
single 429, and 429s caused by another client on the key are waited out, not hammered.

The sandbox's limits and tapsync's :class:`Budget` share one virtual clock
(:class:`tapsync.budget.ManualClock`), so "wait for the hourly window" takes no real time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from tapsync.budget import ManualClock
from tapsync.model import State
from tests.apply.support import (
    Round,
    Sandbox,
    connected,
    describe,
    failures,
    res,
    round_trip,
    virtual_app,
    virtual_budget,
    workspace_config,
)

HOURLY = 60


@dataclass
class Recorder:
    """ASGI wrapper noting, in virtual time, when each emulated API call came and its answer."""

    app: Any
    clock: ManualClock
    calls: list[tuple[float, str, int, float | None]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        started = self.clock()
        answer: dict[str, Any] = {"status": 0, "retry_after": None}

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"retry-after":
                        answer["retry_after"] = float(value)
            await send(message)

        await self.app(scope, receive, noting)
        self.calls.append((started, scope["method"], answer["status"], answer["retry_after"]))


def virtual_sandbox(clock: ManualClock, **options: Any) -> tuple[Sandbox, Recorder]:
    app = virtual_app(clock, **options)
    return Sandbox(app), Recorder(app, clock)


def big_desired(events: int, props: int) -> State:
    resources = [res("category", "Bulk")]
    for i in range(events):
        resources.append(res("event_type", f"Bulk event {i}", category="Bulk"))
    for i in range(props):
        resources.append(res("event_property", f"Bulk event {i}", f"prop {i}", type="number"))
    return State(resources)


def budget_config(tmp: Path, hourly: int) -> Any:
    return workspace_config(tmp, "providers:\n  amplitude:\n    budget: "
                                 f"{{concurrent_cost: 4, hourly_cost: {hourly}}}\n")


@pytest.mark.parametrize("latency_ms", [0, 40])
def test_plan_over_the_hourly_budget_completes_without_a_429(tmp_path: Path,
                                                             latency_ms: int) -> None:
    clock = ManualClock()
    sandbox, recorder = virtual_sandbox(clock, hourly_cost=HOURLY, latency_ms=latency_ms)
    recorder_app = Sandbox(recorder)  # type: ignore[arg-type]
    desired = big_desired(events=30, props=12)

    async def go() -> tuple[Round, dict[str, Any], float]:
        async with connected(recorder_app, budget_config(tmp_path, HOURLY)) as s:
            virtual_budget(s, clock, HOURLY)
            rnd = await round_trip(s, desired)
            return rnd, await sandbox.stats(), clock()

    rnd, stats, elapsed = clock.run(go())
    assert failures(rnd.result) == [] and describe(rnd.replan) == []
    assert rnd.plan.total_cost > HOURLY                       # really bigger than an hour
    assert stats["cost_spent"] > 2 * HOURLY
    assert stats["by_status"].get("429", 0) == 0 and stats["throttled"] == 0
    assert 3 <= stats["max_cost_in_flight"] <= 4 if latency_ms else \
        stats["max_cost_in_flight"] <= 4
    # the sandbox's own sliding window: no hour ever held more than the limit
    starts = sorted((t, 1 if method == "GET" else 2) for t, method, _, _ in recorder.calls)
    for i, (t0, _) in enumerate(starts):
        assert sum(c for t, c in starts[i:] if t < t0 + 3600.0) <= HOURLY
    assert elapsed >= 3600.0 * (stats["cost_spent"] // HOURLY - 1)


def other_client_429s(sandbox: Sandbox, retry_after: int | None) -> Iterator[dict[str, Any]]:
    rule: dict[str, Any] = {"kind": "status", "status": 429, "rate": 0.25, "times": 6}
    if retry_after is not None:
        rule["retry_after"] = retry_after
    yield rule


@pytest.mark.parametrize("retry_after", [30, None])
def test_429s_from_another_client_are_waited_out_and_it_converges(
        tmp_path: Path, retry_after: int | None) -> None:
    clock = ManualClock()
    sandbox, recorder = virtual_sandbox(clock)
    desired = big_desired(events=12, props=8)

    async def go() -> tuple[Round, dict[str, Any]]:
        if retry_after is None:
            # the sandbox always sends Retry-After; strip it to test the header-less case
            recorder.app = _without_retry_after(sandbox.app)
        await sandbox.faults(*other_client_429s(sandbox, retry_after), seed=7)
        async with connected(Sandbox(recorder), budget_config(tmp_path, 7200)) as s:  # type: ignore[arg-type]
            virtual_budget(s, clock, 7200)
            rnd = await round_trip(s, desired)
            return rnd, await sandbox.stats()

    rnd, stats = clock.run(go())
    assert failures(rnd.result) == [] and describe(rnd.replan) == []
    throttled = [(t, ra) for t, _, status, ra in recorder.calls if status == 429]
    assert len(throttled) == stats["faults_fired"]["status"] == 6
    assert stats["max_cost_in_flight"] <= 4
    for t, ra in throttled:
        pause = ra if ra is not None else 0.5  # the budget's smallest jittered backoff
        early = [c for c in recorder.calls if t < c[0] < t + pause]
        assert early == [], f"sent {len(early)} call(s) within {pause}s of a 429 at {t}"


def _without_retry_after(app: Any) -> Any:
    async def stripped(scope: Scope, receive: Receive, send: Send) -> None:
        async def strip(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [(k, v) for k, v in message.get("headers", [])
                                                  if k.lower() != b"retry-after"]}
            await send(message)
        await app(scope, receive, strip)
    return stripped
