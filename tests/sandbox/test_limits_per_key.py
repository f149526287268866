"""Limits are per API key: ``create_app(extra_amplitude_keys=...)`` accepts more key pairs,
and each is charged against a concurrent and an hourly budget of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sandbox_support import AUTH, GatedSleep
from sandbox_support import TAXONOMY as T
from starlette.applications import Starlette

from tapsync.sandbox import ManualClock, create_app

pytestmark = pytest.mark.anyio

B = ("second-api-key", "second-secret-key")


@asynccontextmanager
async def as_key(app: Starlette, auth: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://s", auth=auth) as client:
        yield client


async def test_one_key_exhausting_its_hour_leaves_another_keys_budget_alone() -> None:
    app = create_app(clock=ManualClock(0.0), hourly_cost=10, extra_amplitude_keys=[B])
    async with as_key(app, AUTH) as a, as_key(app, B) as b:
        for _ in range(10):
            assert (await a.get(f"{T}/event")).status_code == 200
        assert (await a.get(f"{T}/event")).status_code == 429   # A's hour is spent
        for _ in range(10):
            assert (await b.get(f"{T}/event")).status_code == 200   # B's is not
        assert (await b.get(f"{T}/event")).status_code == 429   # and is just as large
        keys = (await a.get("/_sandbox/stats")).json()["keys"]
    assert {k: (v["cost_spent_last_hour"], v["throttled"]) for k, v in keys.items()} == {
        AUTH[0]: (10, 1), B[0]: (10, 1)}


async def test_parallel_requests_share_their_keys_concurrent_budget_only() -> None:
    """Two writes of key A in flight (cost 4) fill A's concurrent budget: A's next request
    is refused, while key B's is admitted at the same moment."""
    app = create_app(latency_ms=1, extra_amplitude_keys=[B])
    gate = GatedSleep()
    app.state.sandbox.sleep = gate  # the latency wait holds each admitted request
    async with as_key(app, AUTH) as a, as_key(app, B) as b:
        held = [asyncio.ensure_future(a.post(f"{T}/category", data={"category_name": n}))
                for n in ("A1", "A2")]
        await gate.parked(2, *held)   # both admitted, their cost (2 + 2) held
        refused = await a.get(f"{T}/category")
        admitted = asyncio.ensure_future(b.get(f"{T}/category"))
        await gate.parked(3, *held, admitted)
        in_flight = (await a.get("/_sandbox/stats")).json()["keys"]
        gate.release.set()
        answers = [await h for h in held]
        b_answer = await admitted
    assert refused.status_code == 429
    assert "concurrent cost limit of 4" in refused.json()["errors"][0]["message"]
    assert [r.status_code for r in answers] == [200, 200]
    assert b_answer.status_code == 200
    assert (in_flight[AUTH[0]]["cost_in_flight"], in_flight[B[0]]["cost_in_flight"]) == (4, 1)


async def test_each_extra_key_needs_its_own_secret() -> None:
    app = create_app(extra_amplitude_keys=[B])
    async with as_key(app, (B[0], AUTH[1])) as wrong, as_key(app, (AUTH[0], B[1])) as crossed:
        assert (await wrong.get(f"{T}/event")).status_code == 403
        assert (await crossed.get(f"{T}/event")).status_code == 403
    async with as_key(create_app(), B) as unknown:   # not configured: not accepted
        assert (await unknown.get(f"{T}/event")).status_code == 403


async def test_ingestion_accepts_every_configured_key() -> None:
    app = create_app(extra_amplitude_keys=[B])
    async with as_key(app, B) as b:
        answer = await b.post("/2/httpapi", json={"api_key": B[0],
                                                  "events": [{"event_type": "E"}]})
        assert answer.status_code == 200, answer.text
        assert [e["event_type"] for e in (await b.get(f"{T}/event")).json()["data"]] == ["E"]


@pytest.mark.parametrize("extra", [[(AUTH[0], "another-secret")], [("", "x")]])
def test_an_api_key_with_two_secrets_or_none_is_refused(extra: list[tuple[str, str]]) -> None:
    with pytest.raises(ValueError, match="one secret key") as info:
        create_app(extra_amplitude_keys=extra)
    assert "another-secret" not in str(info.value)
