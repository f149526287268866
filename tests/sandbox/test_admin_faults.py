"""``/_sandbox/``: reset, fixtures, latency, faults, statistics, settings."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sandbox_support import AUTH, GatedSleep
from sandbox_support import TAXONOMY as T
from starlette.applications import Starlette

from tapsync.sandbox import ConnectionDropped

pytestmark = pytest.mark.anyio


async def faults(client: httpx.AsyncClient, *rules: dict[str, object], seed: int = 0) -> None:
    response = await client.post("/_sandbox/faults", json={"faults": list(rules), "seed": seed})
    assert response.status_code == 200, response.text


async def test_status_fault_answers_without_writing(client: httpx.AsyncClient) -> None:
    await faults(client, {"kind": "status", "status": 503, "times": 2, "method": "POST",
                          "retry_after": 7})
    for _ in range(2):
        response = await client.post(f"{T}/category", data={"category_name": "A"})
        assert response.status_code == 503 and response.headers["Retry-After"] == "7"
    assert (await client.get(f"{T}/category")).json()["data"] == []
    assert (await client.post(f"{T}/category", data={"category_name": "A"})).status_code == 200
    numbers = (await client.get("/_sandbox/stats")).json()
    assert numbers["faults_fired"] == {"status": 2}
    assert numbers["by_status"] == {"503": 2, "200": 2}


async def test_fault_rate_is_a_repeatable_fraction(client: httpx.AsyncClient) -> None:
    async def run() -> list[int]:
        await faults(client, {"kind": "status", "status": 500, "rate": 0.5}, seed=42)
        return [(await client.get(f"{T}/event")).status_code for _ in range(40)]

    first, second = await run(), await run()
    assert first == second
    assert 5 < first.count(500) < 35


async def test_fault_matches_path_prefix(client: httpx.AsyncClient) -> None:
    await faults(client, {"kind": "status", "status": 513, "path": f"{T}/event"})
    assert (await client.get(f"{T}/event")).status_code == 513
    assert (await client.get(f"{T}/category")).status_code == 200


async def test_drop_in_process_raises_an_httpx_transport_error(
    client: httpx.AsyncClient,
) -> None:
    await faults(client, {"kind": "drop", "times": 1})
    with pytest.raises(httpx.RemoteProtocolError) as info:
        await client.get(f"{T}/event")
    assert isinstance(info.value, ConnectionDropped) and info.value.request is not None
    numbers = (await client.get("/_sandbox/stats")).json()
    assert numbers["by_status"] == {"dropped": 1} and numbers["cost_in_flight"] == 0


@pytest.mark.socket
async def test_drop_over_a_socket_is_a_remote_protocol_error(live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server, auth=AUTH) as client:
        await faults(client, {"kind": "drop", "times": 1})
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{T}/event")
        assert (await client.get(f"{T}/event")).status_code == 200


async def test_store_then_fail_lands_the_write(client: httpx.AsyncClient) -> None:
    await faults(client, {"kind": "store_then_fail", "status": 500, "times": 1},
                 {"kind": "store_then_fail", "drop": True, "times": 1})
    lost = await client.post(f"{T}/event", data={"event_type": "A"})
    assert lost.status_code == 500
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(f"{T}/event", data={"event_type": "B"})
    names = [e["event_type"] for e in (await client.get(f"{T}/event")).json()["data"]]
    assert names == ["A", "B"]


async def test_slow_fault_holds_the_cost(app: Starlette, client: httpx.AsyncClient) -> None:
    gate = GatedSleep()
    app.state.sandbox.sleep = gate
    await faults(client, {"kind": "slow", "delay_ms": 200, "times": 1})
    slow = asyncio.ensure_future(client.post(f"{T}/category", data={"category_name": "A"}))
    await gate.parked(1, slow)
    held = (await client.get("/_sandbox/stats")).json()
    gate.release.set()
    assert (await slow).status_code == 200
    assert gate.asked == [0.2]
    assert held["cost_in_flight"] == 2 and held["requests"] == 0  # not answered yet
    after = (await client.get("/_sandbox/stats")).json()
    assert after["cost_in_flight"] == 0 and after["faults_fired"] == {"slow": 1}


async def test_bad_fault_rules_are_refused(client: httpx.AsyncClient) -> None:
    for rule in ({"kind": "explode"}, {"kind": "status", "rate": 2}, {"kind": "drop", "x": 1}):
        response = await client.post("/_sandbox/faults", json={"faults": [rule]})
        assert response.status_code == 400
    await faults(client, {"kind": "drop"})
    assert (await client.delete("/_sandbox/faults")).json() == {"faults": []}
    assert (await client.get(f"{T}/event")).status_code == 200


async def test_fixtures_in_yaml(app: Starlette, client: httpx.AsyncClient) -> None:
    text = """
amplitude:
  categories: [Media]
  event_types:
    - {event_type: Play Song, category: Media, status: live}
    - {name: Old, status: deleted}
  user_properties: [plan]
  ingest:
    - {event_type: Debug Ping}
"""
    response = await client.post("/_sandbox/fixtures", content=text,
                                 headers={"Content-Type": "application/yaml"})
    assert response.json()["loaded"]["amplitude"]["event_types"] == 2
    state = (await client.get("/_sandbox/state")).json()["amplitude"]["event"]
    assert {k: (v["status"], v["deleted"]) for k, v in state.items()} == {
        "Play Song": ("live", False), "Old": ("live", True), "Debug Ping": ("unexpected", False)}


async def test_bad_fixtures_write_nothing(client: httpx.AsyncClient) -> None:
    bad = {"amplitude": {"categories": ["A"], "event_types": [{"event_type": "E",
                                                                "status": "weird"}]}}
    assert (await client.post("/_sandbox/fixtures", json=bad)).status_code == 400
    assert (await client.get(f"{T}/category")).json()["data"] == []
    unknown = await client.post("/_sandbox/fixtures", json={"mixpanel": {}})
    assert unknown.status_code == 400 and "mixpanel" in unknown.json()["error"]


async def test_reset_forgets_state_keeps_builtins_and_never_reuses_ids(
    client: httpx.AsyncClient,
) -> None:
    await client.post(f"{T}/category", data={"category_name": "A"})
    first = (await client.get(f"{T}/category/A")).json()["data"]["id"]
    await client.post("/_sandbox/faults", json={"faults": [{"kind": "drop"}]})
    assert (await client.post("/_sandbox/reset")).json() == {"ok": True}
    assert (await client.get(f"{T}/category")).json()["data"] == []
    assert (await client.get(f"{T}/user-property/device_id")).status_code == 200
    await client.post(f"{T}/category", data={"category_name": "A"})
    assert (await client.get(f"{T}/category/A")).json()["data"]["id"] != first
    assert (await client.get("/_sandbox/stats")).json()["requests"] == 4


async def test_stats_per_endpoint_and_admin_is_not_counted(client: httpx.AsyncClient) -> None:
    await client.get(f"{T}/event/A%20B")
    await client.get(f"{T}/event/C")
    await client.post(f"{T}/event/C/restore")
    await client.get("/_sandbox/state")
    numbers = (await client.get("/_sandbox/stats")).json()
    assert numbers["endpoints"] == {
        f"GET {T}/event/{{event_type}}": {"count": 2, "by_status": {"400": 2}},
        f"POST {T}/event/{{event_type}}/restore": {"count": 1, "by_status": {"400": 1}},
    }
    assert numbers["cost_spent"] == 4 and numbers["requests"] == 3
    cleared = (await client.delete("/_sandbox/stats")).json()
    assert cleared["requests"] == 0 and cleared["endpoints"] == {}


async def test_settings_roundtrip_and_validation(client: httpx.AsyncClient) -> None:
    response = await client.post("/_sandbox/settings", json={"latency_ms": 5,
                                                             "hourly_cost": 100})
    assert response.json() == {"latency_ms": 5.0, "legacy_delete": False, "edition": "now",
                               "concurrent_cost": 4, "hourly_cost": 100}
    assert (await client.post("/_sandbox/settings", json={"nope": 1})).status_code == 400
    assert (await client.post("/_sandbox/latency", json={"latency_ms": -1})).status_code == 400
    assert (await client.get("/_sandbox/latency")).json() == {"latency_ms": 5.0}
    await client.post("/_sandbox/reset")
    assert (await client.get("/_sandbox/settings")).json() == {
        "latency_ms": 0.0, "legacy_delete": False, "edition": "now", "concurrent_cost": 4,
        "hourly_cost": 7200}
