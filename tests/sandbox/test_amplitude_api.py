"""The Taxonomy API's documented answers and errors, one behaviour per test."""

from __future__ import annotations

import base64

import httpx
import pytest
from sandbox_support import TAXONOMY as T
from sandbox_support import load

pytestmark = pytest.mark.anyio
NOT_FOUND = {"success": False, "errors": [{"message": "Not found"}]}


async def test_no_credentials_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{T}/event", auth=None)
    assert response.status_code == 401
    assert response.json()["success"] is False


async def test_wrong_credentials_is_403_without_the_envelope(client: httpx.AsyncClient) -> None:
    for auth in (("sandbox-api-key", "nope"), ("nope", "sandbox-secret-key")):
        response = await client.get(f"{T}/event", auth=auth)
        assert response.status_code == 403
        assert response.json() == {"error": {"metadata": {"details": "Invalid API Key"}}}
    garbage = {"Authorization": "Basic !!!not-base64"}
    response = await client.get(f"{T}/event", auth=None, headers=garbage)
    assert response.status_code == 403


async def test_category_create_returns_no_id_and_get_by_name_does(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(f"{T}/category", data={"category_name": "Media"})
    assert response.json() == {"success": True}
    one = (await client.get(f"{T}/category/Media")).json()
    assert one["success"] is True and set(one["data"]) == {"id", "name"}
    assert isinstance(one["data"]["id"], int)
    assert (await client.get(f"{T}/category")).json()["data"] == [one["data"]]


async def test_category_duplicate_is_409(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/category", data={"category_name": "Media"})
    response = await client.post(f"{T}/category", data={"category_name": "Media"})
    assert response.status_code == 409


async def test_category_rename_and_delete_by_unknown_id_is_409(
    client: httpx.AsyncClient,
) -> None:
    for method in ("PUT", "DELETE"):
        response = await client.request(method, f"{T}/category/999", data={"category_name": "X"})
        assert response.status_code == 409
        assert response.json()["errors"][0]["message"] == (
            'Attempted to operate on entity event_category, id "999", that does not exist.')


async def test_missing_category_is_400_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{T}/category/Nope")
    assert (response.status_code, response.json()) == (400, NOT_FOUND)


async def test_event_shape_and_category_null_or_name(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/category", data={"category_name": "Media"})
    await client.post(f"{T}/event", data={"event_type": "Play Song", "category": "Media"})
    await client.post(f"{T}/event", data={"event_type": "Bare"})
    bare = (await client.get(f"{T}/event/Bare")).json()["data"]
    assert bare == {
        "event_type": "Bare", "description": "", "display_name": None, "category": None,
        "deleted": None, "tags": [], "is_active": True, "owner": None,
        "is_hidden_from_dropdowns": False, "is_hidden_from_persona_results": False,
        "is_hidden_from_pathfinder": False, "is_hidden_from_timeline": False,
    }
    song = (await client.get(f"{T}/event/Play%20Song")).json()["data"]
    assert song["category"] == {"name": "Media"}


async def test_event_create_with_now_fields_and_update(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/event", data={"event_type": "E", "tags": "a, b", "owner": "me",
                                          "is_active": "false"})
    data = (await client.get(f"{T}/event/E")).json()["data"]
    assert (data["tags"], data["owner"], data["is_active"]) == (["a", "b"], "me", False)
    await client.put(f"{T}/event/E", data={"display_name": "Eee", "description": "d"})
    data = (await client.get(f"{T}/event/E")).json()["data"]
    assert (data["display_name"], data["description"]) == ("Eee", "d")


async def test_event_duplicate_is_409_and_missing_is_400(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/event", data={"event_type": "E"})
    assert (await client.post(f"{T}/event", data={"event_type": "E"})).status_code == 409
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(method, f"{T}/event/Nope")
        assert (response.status_code, response.json()) == (400, NOT_FOUND)


async def test_event_with_unknown_category_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{T}/event", data={"event_type": "E", "category": "Nope"})
    assert response.status_code == 400
    assert (await client.get(f"{T}/event/E")).status_code == 400


async def test_category_name_is_an_alias_of_category(client: httpx.AsyncClient) -> None:
    """figma-taxonomy-gen sends ``category_name`` on event create (see README)."""
    await client.post(f"{T}/category", data={"category_name": "Flow"})
    await client.post(f"{T}/event", data={"event_type": "E", "category_name": "Flow"})
    await client.post(f"{T}/event", data={"event_type": "F", "category_name": ""})
    assert (await client.get(f"{T}/event/E")).json()["data"]["category"] == {"name": "Flow"}
    assert (await client.get(f"{T}/event/F")).json()["data"]["category"] is None


async def test_rename_event_keeps_its_properties(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/event", data={"event_type": "Old"})
    await client.post(f"{T}/event-property", data={"event_type": "Old", "event_property": "p"})
    await client.put(f"{T}/event/Old", data={"new_event_type": "New"})
    assert (await client.get(f"{T}/event/Old")).status_code == 400
    props = (await client.get(f"{T}/event-property", params={"event_type": "New"})).json()
    assert [p["event_property"] for p in props["data"]] == ["p"]


async def test_event_property_defaults_and_409(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/event", data={"event_type": "Play Song"})
    form = {"event_type": "Play Song", "event_property": "duration"}
    assert (await client.post(f"{T}/event-property", data=form)).json() == {"success": True}
    got = (await client.get(f"{T}/event-property/duration", params={"event_type": "Play Song"}))
    assert got.json()["data"] == {
        "event_type": "Play Song", "event_property": "duration", "description": "",
        "type": "any", "enum_values": None, "regex": None, "is_array_type": False,
        "is_required": False, "is_hidden": False, "classifications": []}
    again = await client.post(f"{T}/event-property", data=form)
    assert again.status_code == 409
    assert again.json()["errors"][0]["message"] == (
        'Attempted to add an event property, "duration" for event "Play Song", '
        "that already exists.")


async def test_event_property_typed_fields(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/event-property", data={
        "event_property": "genre", "type": "enum", "enum_values": "rock,pop",
        "is_array_type": "TRUE", "is_required": "false", "classifications": "PII"})
    data = (await client.get(f"{T}/event-property/genre")).json()["data"]
    assert data["enum_values"] == ["rock", "pop"]
    assert (data["is_array_type"], data["is_required"]) == (True, False)
    assert data["classifications"] == ["PII"]
    bad = await client.post(f"{T}/event-property", data={"event_property": "x", "type": "int"})
    assert bad.status_code == 400
    bad = await client.post(f"{T}/event-property", data={"event_property": "y",
                                                         "is_required": "maybe"})
    assert bad.status_code == 400


async def test_shared_event_properties_have_null_event_type(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/event", data={"event_type": "E"})
    await client.post(f"{T}/event-property", data={"event_property": "platform"})
    await client.post(f"{T}/event-property", data={"event_type": "E", "event_property": "own"})
    shared = (await client.get(f"{T}/event-property")).json()["data"]
    assert [(p["event_type"], p["event_property"]) for p in shared] == [(None, "platform")]


async def test_missing_event_property_is_400(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/event", data={"event_type": "E"})
    response = await client.get(f"{T}/event-property/nope", params={"event_type": "E"})
    assert (response.status_code, response.json()) == (400, NOT_FOUND)
    response = await client.get(f"{T}/event-property", params={"event_type": "No Event"})
    assert response.status_code == 400


async def test_event_type_in_query_or_in_a_get_or_delete_body(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/event", data={"event_type": "E"})
    await client.post(f"{T}/event-property", data={"event_type": "E", "event_property": "p"})
    in_body = await client.request("GET", f"{T}/event-property/p", data={"event_type": "E"})
    assert in_body.json()["data"]["event_type"] == "E"
    as_json = await client.request("GET", f"{T}/event-property/p", json={"event_type": "E"})
    assert as_json.json()["data"]["event_type"] == "E"
    deleted = await client.request("DELETE", f"{T}/event-property/p", data={"event_type": "E"})
    assert deleted.json() == {"success": True}


async def test_rename_event_property_with_either_parameter(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/event-property", data={"event_property": "a"})
    await client.put(f"{T}/event-property/a", data={"new_event_property_value": "b"})
    await client.put(f"{T}/event-property/b", data={"new_event_property": "c"})
    names = [p["event_property"] for p in (await client.get(f"{T}/event-property")).json()["data"]]
    assert names == ["c"]


async def test_override_scope(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/event", data={"event_type": "E"})
    await client.post(f"{T}/event-property", data={"event_property": "p", "description": "s"})
    await client.put(f"{T}/event-property/p", data={
        "event_type": "E", "overrideScope": "override", "description": "mine"})
    own = await client.get(f"{T}/event-property/p", params={"event_type": "E"})
    shared = await client.get(f"{T}/event-property/p")
    assert (own.json()["data"]["description"], shared.json()["data"]["description"]) == (
        "mine", "s")
    await client.put(f"{T}/event-property/p", data={
        "event_type": "E", "overrideScope": "shared", "description": "all"})
    assert (await client.get(f"{T}/event-property/p")).json()["data"]["description"] == "all"


async def test_user_property_gp_prefix_either_way(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/user-property", data={"user_property": "plan", "type": "string"})
    for name in ("plan", "gp:plan", "gp%3Aplan"):
        data = (await client.get(f"{T}/user-property/{name}")).json()["data"]
        assert data["user_property"] == "gp:plan" and data["deleted"] is False
    await client.put(f"{T}/user-property/gp:plan", data={"description": "tier"})
    assert (await client.get(f"{T}/user-property/plan")).json()["data"]["description"] == "tier"
    listed = (await client.get(f"{T}/user-property")).json()["data"]
    names = {p["user_property"] for p in listed}
    assert "gp:plan" in names and "device_id" in names and "plan" not in names


async def test_user_property_errors(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"{T}/user-property/nope")
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)
    await client.post(f"{T}/user-property", data={"user_property": "plan"})
    duplicate = await client.post(f"{T}/user-property", data={"user_property": "gp:plan"})
    assert (duplicate.status_code, duplicate.json()) == (409, {"success": False})
    bad = await client.post(f"{T}/user-property", data={"user_property": "x", "type": "nope"})
    assert (bad.status_code, bad.json()) == (400, {"success": False})
    builtin = await client.delete(f"{T}/user-property/device_id")
    assert builtin.status_code == 400
    assert (await client.get(f"{T}/user-property/device_id")).status_code == 200


async def test_rename_user_property_with_either_parameter(client: httpx.AsyncClient) -> None:
    await client.post(f"{T}/user-property", data={"user_property": "a"})
    await client.put(f"{T}/user-property/a", data={"new_user_property_value": "gp:b"})
    await client.put(f"{T}/user-property/b", data={"new_user_property": "c"})
    assert (await client.get(f"{T}/user-property/gp:c")).status_code == 200
    assert (await client.get(f"{T}/user-property/a")).status_code == 404


async def test_url_encoded_names_with_reserved_characters(client: httpx.AsyncClient) -> None:
    name = "a/b ?#%:é"
    await client.post(f"{T}/event", data={"event_type": name})
    encoded = "a%2Fb%20%3F%23%25%3A%C3%A9"
    assert (await client.get(f"{T}/event/{encoded}")).json()["data"]["event_type"] == name
    await client.post(f"{T}/event-property", data={"event_type": name, "event_property": name})
    got = await client.get(f"{T}/event-property/{encoded}", params={"event_type": name})
    assert got.json()["data"]["event_property"] == name


async def test_json_content_type_with_no_body(client: httpx.AsyncClient) -> None:
    """amplitude-data-wrapper sends GET and DELETE like this."""
    await load(client, {"event_types": [{"event_type": "E", "status": "planned"}]})
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    assert (await client.get(f"{T}/event", headers=headers)).status_code == 200
    assert (await client.delete(f"{T}/event/E", headers=headers)).json() == {"success": True}


async def test_malformed_json_body_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{T}/event", content=b"{nope",
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["success"] is False


async def test_unknown_path_is_404_and_wrong_method_405(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{T}/nothing")).status_code == 404
    response = await client.put(f"{T}/user-property", data={"user_property": "age"})
    assert (response.status_code, response.json()) == (405, {"success": False})


async def test_an_error_leaves_no_half_write(client: httpx.AsyncClient) -> None:
    """The category exists, the flag is refused: the description must not change either."""
    await client.post(f"{T}/event", data={"event_type": "E", "description": "before"})
    response = await client.put(f"{T}/event/E", data={
        "description": "after", "is_hidden_from_dropdowns": "true"})
    assert response.status_code == 400
    assert (await client.get(f"{T}/event/E")).json()["data"]["description"] == "before"


async def test_basic_auth_header_built_by_hand(client: httpx.AsyncClient) -> None:
    token = base64.b64encode(b"sandbox-api-key:sandbox-secret-key").decode()
    response = await client.get(f"{T}/category", auth=None,
                                headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200
