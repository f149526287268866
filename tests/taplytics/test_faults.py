"""A push whose answer is lost is reconciled by reading, never sent twice.

The sandbox's ``store_then_fail`` fault stores the push and then fails the answer (a 5xx,
or a dropped connection): the executor must find it by name and stop. A fault that fails
*before* storing must lead to exactly one retry. The witness is the sandbox's own store,
not the tool's report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tapsync.changes import Action, Change, Plan
from tapsync.executor import Executor
from tapsync.model import ResourceKey
from tests.sandboxed import config, session
from tests.taplytics.tap_support import stored

pytestmark = pytest.mark.anyio

ATTRS: dict[str, Any] = {
    "notification": {"alert": "20% off this weekend"},
    "filters": [{"type": "country", "comparator": "=", "values": ["Canada", "US"]}],
    "schedule": {"time": "2099-12-05T15:00:00Z"}, "production": True}

RULES: list[dict[str, Any]] = [
    {"kind": "store_then_fail", "status": 502},
    {"kind": "store_then_fail", "drop": True},
    {"kind": "store_then_fail", "status": 504},
    {"kind": "status", "status": 503},          # fails before storing: must be re-sent once
    {"kind": "drop"},                            # likewise, connection lost before storing
]


def send(name: str) -> Change:
    return Change(Action.SEND, ResourceKey("taplytics", "push_campaign", (name,)), None, ATTRS,
                  cost=1, order=1)


async def faults(client: httpx.AsyncClient, rule: dict[str, Any]) -> None:
    body = {"faults": [{**rule, "method": "POST", "path": "/v2/push", "times": 1}]}
    assert (await client.post("/_sandbox/faults", json=body)).status_code == 200


@pytest.mark.parametrize("round_", range(20))
async def test_a_lost_answer_never_sends_a_push_twice(app: Starlette, client: httpx.AsyncClient,
                                                      tmp_path: Path, round_: int) -> None:
    rule = RULES[round_ % len(RULES)]
    await client.post("/_sandbox/fixtures", json={"taplytics": {"pushes": [
        {"name": f"older {i}", "notification": {"alert": "x"}} for i in range(round_ * 7)]}})
    await faults(client, rule)
    async with session(app, config(tmp_path), ("taplytics",)) as s:
        result = await Executor(s.providers).apply(Plan(changes=(send("winter-sale"),)))
    assert [r.status for r in result.results] == ["ok"], result.results
    pushes = [p for p in await stored(client, "push") if p["name"] == "winter-sale"]
    assert len(pushes) == 1, f"{rule}: sent {len(pushes)} times"
    fired = (await client.get("/_sandbox/stats")).json()["faults_fired"]
    assert fired == {rule["kind"]: 1}
    if rule["kind"] == "store_then_fail":
        assert result.results[0].message == "landed (confirmed by reading)"


async def test_a_push_found_on_a_later_page_counts_as_landed(app: Starlette,
                                                             client: httpx.AsyncClient,
                                                             tmp_path: Path) -> None:
    await client.post("/_sandbox/fixtures", json={"taplytics": {"pushes": [
        {"name": f"older {i}", "notification": {"alert": "x"}} for i in range(230)]}})
    await faults(client, {"kind": "store_then_fail", "status": 500})
    async with session(app, config(tmp_path), ("taplytics",)) as s:
        result = await Executor(s.providers).apply(Plan(changes=(send("page-3"),)))
        reads = s.clients["taplytics"].stats.reads
    assert [r.status for r in result.results] == ["ok"]
    assert reads == 3  # all three pages were read to find it
    assert len([p for p in await stored(client, "push") if p["name"] == "page-3"]) == 1
