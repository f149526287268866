"""The seed edition (``--legacy-delete``, ``edition: "seed"``): the older Taxonomy API page's
rules beyond deletion. There every event-property call requires ``event_type`` — a list
without it is an error, not the shared-property list the current edition answers."""

from __future__ import annotations

import httpx
import pytest
from sandbox_support import TAXONOMY as T
from sandbox_support import load

pytestmark = pytest.mark.anyio

MISSING = {"success": False, "errors": [{"message": "Missing required parameter: event_type"}]}


async def seed(client: httpx.AsyncClient) -> None:
    response = await client.post("/_sandbox/settings", json={"edition": "seed"})
    assert response.status_code == 200, response.text
    await load(client, {"event_types": ["E"],
                        "event_properties": [{"event_type": "E", "event_property": "p",
                                              "status": "planned"}]})


@pytest.mark.parametrize(("method", "path", "data"), [
    ("GET", "/event-property", None),
    ("POST", "/event-property", {"event_property": "q", "type": "string"}),
    ("GET", "/event-property/p", None),
    ("PUT", "/event-property/p", {"description": "d"}),
    ("DELETE", "/event-property/p", None),
])
async def test_seed_edition_requires_event_type_on_every_event_property_call(
    client: httpx.AsyncClient, method: str, path: str, data: dict[str, str] | None,
) -> None:
    await seed(client)
    refused = await client.request(method, T + path, data=data)
    assert (refused.status_code, refused.json()) == (400, MISSING)
    # the same call naming its event is answered
    params = {"event_type": "E"} if method in ("GET", "DELETE") else None
    body = {**data, "event_type": "E"} if data is not None else None
    answered = await client.request(method, T + path, params=params, data=body)
    assert answered.status_code == 200, answered.text
    assert answered.json()["success"] is True


async def test_seed_edition_writes_nothing_when_it_refuses(client: httpx.AsyncClient) -> None:
    await seed(client)
    await client.post(f"{T}/event-property", data={"event_property": "shared"})
    state = (await client.get("/_sandbox/state")).json()
    assert list(state["amplitude"]["event_property"]) == ['["E", "p"]']


async def test_current_edition_answers_shared_properties_without_event_type(
    client: httpx.AsyncClient,
) -> None:
    """The control: the same calls the seed edition refuses are the shared properties now."""
    created = await client.post(f"{T}/event-property", data={"event_property": "s"})
    assert created.json() == {"success": True}
    listed = (await client.get(f"{T}/event-property")).json()
    assert [(d["event_type"], d["event_property"]) for d in listed["data"]] == [(None, "s")]


async def test_edition_and_legacy_delete_are_one_switch(client: httpx.AsyncClient) -> None:
    start = (await client.get("/_sandbox/settings")).json()
    assert (start["edition"], start["legacy_delete"]) == ("now", False)
    on = (await client.post("/_sandbox/settings", json={"legacy_delete": True})).json()
    assert (on["edition"], on["legacy_delete"]) == ("seed", True)
    off = (await client.post("/_sandbox/settings", json={"edition": "now"})).json()
    assert (off["edition"], off["legacy_delete"]) == ("now", False)
    await client.post("/_sandbox/settings", json={"edition": "seed"})
    await client.post("/_sandbox/reset")
    assert (await client.get("/_sandbox/settings")).json()["edition"] == "now"


@pytest.mark.parametrize("body", [
    {"edition": "old"}, {"edition": 1}, {"edition": "seed", "legacy_delete": False},
])
async def test_bad_edition_settings_are_refused_whole(
    client: httpx.AsyncClient, body: dict[str, object],
) -> None:
    response = await client.post("/_sandbox/settings", json={**body, "latency_ms": 9})
    assert response.status_code == 400
    assert response.json()["ok"] is False
    settings = (await client.get("/_sandbox/settings")).json()
    assert (settings["edition"], settings["latency_ms"]) == ("now", 0.0)
