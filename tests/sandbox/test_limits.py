"""Amplitude's cost limits: concurrent cost 4 and 7,200 per sliding hour, per API key."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from sandbox_support import AUTH
from sandbox_support import TAXONOMY as T
from starlette.applications import Starlette
from starlette.responses import Response

from tapsync.sandbox import ManualClock, create_app
from tapsync.sandbox import amplitude as amplitude_module
from tapsync.sandbox.limits import CostLimiter

pytestmark = pytest.mark.anyio


async def burst(client: httpx.AsyncClient, calls: list[tuple[str, str]]) -> list[httpx.Response]:
    return list(await asyncio.gather(*(client.request(m, f"{T}{p}") for m, p in calls)))


async def stats(client: httpx.AsyncClient) -> dict[str, object]:
    result: dict[str, object] = (await client.get("/_sandbox/stats")).json()
    return result


async def test_five_gets_at_once_with_latency_get_one_429(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/latency", json={"latency_ms": 50})
    answers = await burst(client, [("GET", "/category")] * 5)
    codes = Counter(r.status_code for r in answers)
    assert codes == {200: 4, 429: 1}
    refused = next(r for r in answers if r.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["success"] is False
    numbers = await stats(client)
    assert numbers["max_cost_in_flight"] == 4
    assert numbers["throttled"] == 1
    assert numbers["cost_in_flight"] == 0


async def test_four_gets_at_once_never_429(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/latency", json={"latency_ms": 30})
    for _ in range(3):
        answers = await burst(client, [("GET", "/category")] * 4)
        assert {r.status_code for r in answers} == {200}
    assert (await stats(client))["throttled"] == 0


async def test_writes_cost_two(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/latency", json={"latency_ms": 30})
    two_writes = await burst(client, [("POST", "/category"), ("POST", "/category")])
    assert 429 not in {r.status_code for r in two_writes}  # 400s: no name, but admitted
    mixed = await burst(client, [("POST", "/category"), ("POST", "/category"),
                                 ("GET", "/category")])
    assert Counter(r.status_code for r in mixed)[429] == 1
    assert (await stats(client))["cost_spent"] == 2 * 2 + 2 * 2 + 0


async def test_hourly_window_slides_with_the_clock() -> None:
    clock = ManualClock(0.0)
    app = create_app(clock=clock, hourly_cost=10)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://s", auth=AUTH) as client:
        for _ in range(5):
            assert (await client.get(f"{T}/event")).status_code == 200
        clock.advance(1800)
        for _ in range(5):
            assert (await client.get(f"{T}/event")).status_code == 200
        refused = await client.get(f"{T}/event")
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1800"
        clock.advance(1799)
        assert (await client.get(f"{T}/event")).status_code == 429
        answer = await client.post("/_sandbox/clock", json={"advance": 1})
        assert answer.json()["now"] == 3600.0
        for _ in range(5):  # the first five have left the window, the next five have not
            assert (await client.get(f"{T}/event")).status_code == 200
        assert (await client.get(f"{T}/event")).status_code == 429
        numbers = (await client.get("/_sandbox/stats")).json()
        assert numbers["throttled"] == 3 and numbers["by_status"]["429"] == 3


async def test_the_real_clock_can_be_advanced_over_http() -> None:
    app = create_app(hourly_cost=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://s", auth=AUTH) as client:
        await client.post(f"{T}/category", data={"category_name": "A"})
        assert (await client.get(f"{T}/category")).status_code == 429
        await client.post("/_sandbox/clock", json={"advance": 3600})
        assert (await client.get(f"{T}/category")).status_code == 200
        bad = await client.post("/_sandbox/clock", json={"advance": -5})
        assert bad.status_code == 400


async def test_cost_is_released_when_the_handler_fails(
    app: Starlette, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(*args: object) -> Response:
        raise RuntimeError("handler bug")

    monkeypatch.setitem(amplitude_module.ROUTES[("category", 0, False)], "GET", boom)
    for _ in range(5):
        with pytest.raises(RuntimeError):
            await client.get(f"{T}/category")
    numbers = await stats(client)
    assert numbers["cost_in_flight"] == 0
    assert numbers["by_status"] == {"500": 5}


async def test_cost_is_released_when_the_client_gives_up(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/latency", json={"latency_ms": 5000})
    for _ in range(3):
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.post(f"{T}/event", data={"event_type": "E"}), 0.05)
    assert (await stats(client))["cost_in_flight"] == 0
    await client.post("/_sandbox/latency", json={"latency_ms": 0})
    assert (await client.get(f"{T}/event/E")).status_code == 400  # nothing was written


async def test_limits_are_configurable() -> None:
    app = create_app(concurrent_cost=1, latency_ms=30)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://s", auth=AUTH) as client:
        answers = await burst(client, [("GET", "/event")] * 2)
        assert Counter(r.status_code for r in answers) == {200: 1, 429: 1}
        assert (await client.post(f"{T}/event", data={"event_type": "E"})).status_code == 429
        await client.post("/_sandbox/settings", json={"concurrent_cost": 4})
        assert (await client.post(f"{T}/event", data={"event_type": "E"})).status_code == 200


async def test_unauthenticated_requests_cost_nothing(client: httpx.AsyncClient) -> None:
    await client.get(f"{T}/event", auth=None)
    await client.get(f"{T}/event", auth=("a", "b"))
    assert (await stats(client))["cost_spent"] == 0


def test_retry_after_names_the_moment_enough_cost_expires() -> None:
    clock = ManualClock(0.0)
    limiter = CostLimiter(clock, concurrent_cost=100, hourly_cost=4)
    assert limiter.acquire("k", 2) is None
    clock.advance(100)
    assert limiter.acquire("k", 2) is None
    refusal = limiter.acquire("k", 2)
    assert refusal is not None and refusal.limit == "hourly"
    assert refusal.retry_after == 3500  # the first call's cost leaves the window then
    refusal = limiter.acquire("k", 4)
    assert refusal is not None and refusal.retry_after == 3600


@pytest.mark.socket
async def test_five_gets_at_once_over_a_socket(app: Starlette, live_server: str) -> None:
    app.state.sandbox.settings.latency_ms = 150
    async with httpx.AsyncClient(base_url=live_server, auth=AUTH) as client:
        answers = await burst(client, [("GET", "/category")] * 5)
        assert Counter(r.status_code for r in answers) == {200: 4, 429: 1}
        assert (await stats(client))["max_cost_in_flight"] == 4
