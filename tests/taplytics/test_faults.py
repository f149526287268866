"""A push whose answer is lost is reconciled by reading, never sent twice.

The sandbox's ``store_then_fail`` fault stores the push and then fails the answer (a 5xx,
or a dropped connection): the executor must find it by name and stop. A fault that fails
*before* storing must lead to exactly one retry. A client timeout is the same uncertainty,
tried over a real socket (in process nothing times out). The witness is the sandbox's own
store, not the tool's report.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Message, Receive, Scope, Send

from tapsync.changes import Action, Change, Plan
from tapsync.engine import SANDBOX_CREDENTIALS, connect
from tapsync.executor import Executor
from tapsync.model import Resource, ResourceKey, State
from tapsync.sandbox import create_app
from tapsync.sandbox.app import serve_in_thread
from tests.apply.support import describe, round_trip
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


# ------------------------------------------------------- a client timeout, over a socket

class AnswersTooLate:
    """In front of the sandbox: ``POST /v2/push`` is stored, and its answer is held until
    the client gives up (its timeout), so the answer is lost whatever the machine's speed.
    A read of the pushes waits for a store in progress: the store happened before the
    client's read, as on the real service, so the test cannot race."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.posts = 0
        self.abandoned = 0            # answers the client gave up waiting for
        self._storing: asyncio.Event | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v2/push":
            await self.app(scope, receive, send)
        elif scope["method"] != "POST":
            if self._storing is not None:
                await self._storing.wait()
            await self.app(scope, receive, send)
        else:
            await self._store_then_hold(scope, receive, send)

    async def _store_then_hold(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.posts += 1
        self._storing = stored_event = asyncio.Event()
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        try:
            await self.app(scope, receive, hold)
        finally:
            stored_event.set()
        # the body is read: the next message is the client hanging up (bounded, so a client
        # that never gives up fails the test instead of hanging it)
        message = await asyncio.wait_for(receive(), timeout=30)
        if message["type"] == "http.disconnect":
            self.abandoned += 1
            return
        for m in held:
            await send(m)


@pytest.mark.parametrize("older", [0, 1, 120, 230])
def test_a_push_whose_answer_times_out_is_read_back_never_sent_twice(
        tmp_path: Path, older: int) -> None:
    """The push is stored, the client times out waiting for the answer: the executor must
    find the push by reading (on whichever page it landed) and not send it again. The
    apply converges: a second plan has nothing to do."""
    front = AnswersTooLate(create_app())
    key = ResourceKey("taplytics", "push_campaign", ("winter-sale",))
    desired = State([Resource(key, ATTRS)])
    with serve_in_thread(front) as url:  # type: ignore[arg-type]
        cfg = config(tmp_path, f"version: 1\nproviders:\n  taplytics:\n    base_url: {url}\n"
                               "    timeout: 0.25\n")

        async def go() -> tuple[Any, list[dict[str, Any]]]:
            async with httpx.AsyncClient(base_url=url) as admin:
                planted = await admin.post("/_sandbox/fixtures", json={"taplytics": {
                    "pushes": [{"name": f"older {i}", "notification": {"alert": "x"}}
                               for i in range(older)]}})
                assert planted.status_code == 200, planted.text
                async with connect(cfg, ("taplytics",), SANDBOX_CREDENTIALS) as s:
                    rnd = await round_trip(s, desired)
                return rnd, await stored(admin, "push")

        rnd, pushes = asyncio.run(go())
    assert (front.posts, front.abandoned) == (1, 1)   # one send, and its answer was lost
    assert [(r.status, r.message) for r in rnd.result.results] == [
        ("ok", "landed (confirmed by reading)")]
    assert [p["name"] for p in pushes].count("winter-sale") == 1
    assert describe(rnd.replan) == []


async def test_a_402_is_a_failure_in_the_servers_words_and_is_not_retried(
        app: Starlette, client: httpx.AsyncClient, tmp_path: Path) -> None:
    """402 ("parameters valid but the request failed", in the seed's list of status codes)
    is an answer, not an uncertainty: the push was not stored, so it is reported as failed
    with the service's message, and neither re-sent nor read back."""
    await faults(client, {"kind": "status", "status": 402})
    await client.delete("/_sandbox/stats")
    async with session(app, config(tmp_path), ("taplytics",)) as s:
        result = await Executor(s.providers).apply(Plan(changes=(send("winter-sale"),)))
    [outcome] = result.results
    assert outcome.status == "failed", outcome
    assert "402" in outcome.message and "injected" in outcome.message, outcome.message
    assert await stored(client, "push") == []
    endpoints = (await client.get("/_sandbox/stats")).json()["endpoints"]
    assert {label: e["count"] for label, e in endpoints.items()} == {"POST /v2/push": 1}
