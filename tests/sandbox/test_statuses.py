"""Statuses (planned, live, unexpected, deleted, hidden), the delete/restore rules, and
ingestion through ``POST /2/httpapi``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sandbox_support import AUTH, load
from sandbox_support import TAXONOMY as T
from starlette.applications import Starlette

pytestmark = pytest.mark.anyio


def status_of(app: Starlette, kind: str, key: str) -> tuple[str, bool]:
    doc = app.state.sandbox.store.get("amplitude", kind, key)
    assert doc is not None, key
    return doc["status"], doc["deleted"]


async def ingest(client: httpx.AsyncClient, events: list[dict[str, Any]],
                 api_key: str = AUTH[0]) -> httpx.Response:
    return await client.post("/2/httpapi", json={"api_key": api_key, "events": events})


async def test_ingestion_makes_known_live_and_unknown_unexpected(
    app: Starlette, client: httpx.AsyncClient,
) -> None:
    await client.post(f"{T}/event", data={"event_type": "Play Song"})
    await client.post(f"{T}/event-property", data={"event_type": "Play Song",
                                                   "event_property": "duration"})
    await client.post(f"{T}/event-property", data={"event_property": "platform"})
    await client.post(f"{T}/user-property", data={"user_property": "plan"})
    assert status_of(app, "event", "Play Song") == ("planned", False)
    response = await ingest(client, [
        {"event_type": "Play Song", "user_id": "u1",
         "event_properties": {"duration": 31, "platform": "ios", "extra": 1},
         "user_properties": {"plan": "pro", "$set": {"tier": "gold"}}},
        {"event_type": "Debug Ping", "device_id": "d1"},
    ])
    assert response.status_code == 200
    assert response.json()["code"] == 200 and response.json()["events_ingested"] == 2
    assert status_of(app, "event", "Play Song") == ("live", False)
    assert status_of(app, "event", "Debug Ping") == ("unexpected", False)
    assert status_of(app, "event_property", '["Play Song", "duration"]') == ("live", False)
    assert status_of(app, "event_property", '[null, "platform"]') == ("live", False)
    assert status_of(app, "event_property", '["Play Song", "extra"]') == ("unexpected", False)
    assert status_of(app, "user_property", "plan") == ("live", False)
    assert status_of(app, "user_property", "tier") == ("unexpected", False)
    listed = [e["event_type"] for e in (await client.get(f"{T}/event")).json()["data"]]
    assert listed == ["Play Song", "Debug Ping"]


async def test_ingestion_checks_its_api_key_and_fields(client: httpx.AsyncClient) -> None:
    assert (await ingest(client, [{"event_type": "E"}], api_key="wrong")).status_code == 400
    missing = await ingest(client, [{"user_id": "u"}])
    assert missing.status_code == 400
    assert "events_missing_required_fields" in missing.json()
    no_key = await client.post("/2/httpapi", json={"events": [{"event_type": "E"}]})
    assert no_key.json()["missing_field"] == "api_key"


async def test_delete_planned_removes_it(app: Starlette, client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/event", data={"event_type": "E"})
    await client.post(f"{T}/event-property", data={"event_type": "E", "event_property": "p"})
    assert (await client.delete(f"{T}/event/E")).json() == {"success": True}
    assert (await client.get(f"{T}/event/E")).status_code == 400
    assert (await client.get(f"{T}/event?showDeleted=true")).json()["data"] == []
    assert app.state.sandbox.store.values("amplitude", "event_property") == []


async def test_delete_live_marks_deleted_then_restore(client: httpx.AsyncClient) -> None:
    await load(client, {"event_types": [{"event_type": "E", "status": "live"}]})
    assert (await client.delete(f"{T}/event/E")).json() == {"success": True}
    assert (await client.get(f"{T}/event")).json()["data"] == []
    shown = (await client.get(f"{T}/event", params={"showDeleted": "true"})).json()["data"]
    assert [(e["event_type"], e["deleted"]) for e in shown] == [("E", True)]
    again = await client.delete(f"{T}/event/E")
    assert again.status_code == 409
    assert (await client.post(f"{T}/event", data={"event_type": "E"})).status_code == 409
    assert (await client.post(f"{T}/event/E/restore")).json() == {"success": True}
    assert (await client.get(f"{T}/event/E")).json()["data"]["deleted"] is None
    assert (await client.post(f"{T}/event/E/restore")).status_code == 409
    assert (await client.post(f"{T}/event/Nope/restore")).status_code == 400


async def test_delete_unexpected_adds_to_plan_and_marks_deleted(
    app: Starlette, client: httpx.AsyncClient,
) -> None:
    await ingest(client, [{"event_type": "Stray"}])
    assert (await client.delete(f"{T}/event/Stray")).json() == {"success": True}
    assert status_of(app, "event", "Stray") == ("live", True)


async def test_create_of_an_unexpected_event_adds_it_to_the_plan(
    app: Starlette, client: httpx.AsyncClient,
) -> None:
    await ingest(client, [{"event_type": "Stray"}])
    response = await client.post(f"{T}/event", data={"event_type": "Stray", "description": "d"})
    assert response.json() == {"success": True}
    assert status_of(app, "event", "Stray") == ("live", False)


async def test_legacy_rule_deletes_only_planned(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/settings", json={"legacy_delete": True})
    await load(client, {
        "event_types": [{"event_type": "Live", "status": "live"},
                        {"event_type": "Plan", "status": "planned"}],
        "event_properties": [{"event_type": "Live", "event_property": "lp", "status": "live"}],
        "user_properties": [{"user_property": "lu", "status": "live"}]})
    refused = await client.delete(f"{T}/event/Live")
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["message"] == (
        'Attempted to remove an event, "Live", that is not a planned event.')
    assert (await client.delete(f"{T}/event/Plan")).json() == {"success": True}
    assert (await client.delete(f"{T}/event-property/lp",
                                params={"event_type": "Live"})).status_code == 409
    assert (await client.delete(f"{T}/user-property/lu")).status_code == 409


async def test_legacy_rule_from_create_app() -> None:
    from tapsync.sandbox import create_app

    app = create_app(legacy_delete=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://s", auth=AUTH) as client:
        await load(client, {"event_types": ["Live"]})
        assert (await client.delete(f"{T}/event/Live")).status_code == 409


async def test_deleted_event_property_blocks_create_until_restored(
    client: httpx.AsyncClient,
) -> None:
    await load(client, {"event_types": ["E"],
                        "event_properties": [{"event_type": "E", "event_property": "p"}]})
    form = {"event_type": "E", "event_property": "p"}
    assert (await client.request("DELETE", f"{T}/event-property/p", params=form)).json() == {
        "success": True}
    assert (await client.get(f"{T}/event-property/p", params=form)).status_code == 400
    assert (await client.get(f"{T}/event-property", params=form)).json()["data"] == []
    assert (await client.post(f"{T}/event-property", data=form)).status_code == 409
    restore = await client.post(f"{T}/event-property/p/restore", data={"event_type": "E"})
    assert (restore.status_code, restore.json()) == (200, {"success": True})
    assert (await client.get(f"{T}/event-property/p", params=form)).status_code == 200


async def test_user_property_delete_and_restore(client: httpx.AsyncClient) -> None:
    await load(client, {"user_properties": [{"user_property": "gp:plan", "status": "live"}]})
    assert (await client.delete(f"{T}/user-property/gp%3Aplan")).json() == {"success": True}
    assert "gp:plan" not in {p["user_property"] for p in
                             (await client.get(f"{T}/user-property")).json()["data"]}
    shown = (await client.get(f"{T}/user-property?showDeleted=true")).json()["data"]
    assert {"gp:plan": True}.items() <= {p["user_property"]: p["deleted"] for p in shown}.items()
    assert (await client.post(f"{T}/user-property/plan/restore")).json() == {"success": True}
    assert (await client.get(f"{T}/user-property/plan")).json()["data"]["deleted"] is False
    assert (await client.delete(f"{T}/user-property/nope")).status_code == 404


async def test_hidden_events_are_readable_but_not_listed(client: httpx.AsyncClient) -> None:
    await load(client, {"event_types": [{"event_type": "H", "status": "live"}]})
    response = await client.put(f"{T}/event/H", data={"is_hidden_from_dropdowns": "true"})
    assert response.json() == {"success": True}
    assert (await client.get(f"{T}/event")).json()["data"] == []
    assert (await client.get(f"{T}/event/H")).json()["data"]["is_hidden_from_dropdowns"] is True


async def test_hidden_flags_only_on_ingested_items(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/event", data={"event_type": "P"})
    response = await client.put(f"{T}/event/P", data={"is_hidden_from_timeline": "true"})
    assert response.status_code == 400
    await client.post(f"{T}/event-property", data={"event_property": "q"})
    response = await client.put(f"{T}/event-property/q", data={"is_hidden": "true"})
    assert response.status_code == 400


async def test_live_metadata_can_be_edited(client: httpx.AsyncClient) -> None:
    await load(client, {"event_types": [{"event_type": "L", "status": "live"}]})
    await client.put(f"{T}/event/L", data={"description": "now documented"})
    assert (await client.get(f"{T}/event/L")).json()["data"]["description"] == "now documented"
