"""The emulated Taplytics v2 API answers what the v2 reference (seed 001) documents."""

from __future__ import annotations

import re

import httpx
import pytest

from tapsync.sandbox import ManualClock
from tests.taplytics.tap_support import HEADER, SEED_PUSH, TOKEN, load, stored

pytestmark = pytest.mark.anyio

# Seed 001: "Link: <https://api.taplytics.com/v2/users?api_token=YOUR_API_TOKEN&page=4&
# per_page=100>; rel='last', <…page=2&per_page=100>; rel='next', <…page=1&per_page=100>;
# rel='first'\""
SEED_LINK = re.compile(r"^(<[^>]+>; rel='(last|next|prev|first)')(, <[^>]+>; "
                       r"rel='(last|next|prev|first)')*\"$")


def rels(link: str) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r"<([^>]+)>; rel='(\w+)'", link)}


# --- authentication ------------------------------------------------------------------------

async def test_token_is_accepted_in_the_query_the_body_and_the_header(
        client: httpx.AsyncClient) -> None:
    # seed: "sent as a query parameter called api_token … in the body of a POST request …
    # or … as an HTTP header called x-access-token"
    assert (await client.get("/v2/push", params={"api_token": TOKEN})).status_code == 200
    assert (await client.get("/v2/push", headers=HEADER)).status_code == 200
    answer = await client.post("/v2/push", json={**SEED_PUSH, "api_token": TOKEN})
    assert answer.status_code == 200, answer.text
    assert "api_token" not in answer.json()  # the token is never stored


@pytest.mark.parametrize("how", ["none", "query", "header", "body"])
async def test_missing_or_invalid_token_is_401(client: httpx.AsyncClient, how: str) -> None:
    kw: dict[str, object] = {"json": {**SEED_PUSH}}
    if how == "query":
        kw["params"] = {"api_token": "wrong"}
    elif how == "header":
        kw["headers"] = {"x-access-token": "wrong"}
    elif how == "body":
        kw["json"] = {**SEED_PUSH, "api_token": "wrong"}
    answer = await client.post("/v2/push", **kw)  # type: ignore[arg-type]
    assert answer.status_code == 401 and "error" in answer.json()
    assert await stored(client, "push") == []


async def test_unknown_path_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v2/nothing", headers=HEADER)).status_code == 404


# --- pagination ----------------------------------------------------------------------------

async def test_pages_carry_the_seeds_link_header_and_follow_to_the_end(
        client: httpx.AsyncClient) -> None:
    await load(client, experiments=[{"name": f"exp {i:03d}"} for i in range(250)])
    url: str | None = "/v2/experiments?api_token=sandbox-token&page=1&per_page=100"
    names: list[str] = []
    pages = 0
    while url:
        answer = await client.get(url)
        assert answer.status_code == 200
        link = answer.headers["link"]
        assert SEED_LINK.match(link), link  # single quotes and the stray trailing quote
        names += [e["name"] for e in answer.json()]
        pages += 1
        found = rels(link)
        assert found["first"].endswith("api_token=sandbox-token&page=1&per_page=100")
        assert found["last"].endswith("page=3&per_page=100")
        url = found.get("next")
    assert pages == 3
    assert names == [f"exp {i:03d}" for i in range(250)]  # creation order, none twice


async def test_page_size_is_capped_at_100(client: httpx.AsyncClient) -> None:
    await load(client, experiments=[{"name": f"e{i}"} for i in range(120)])
    answer = await client.get("/v2/experiments", params={"per_page": 500}, headers=HEADER)
    assert len(answer.json()) == 100
    assert "page=2&per_page=100>; rel='next'" in answer.headers["link"]


async def test_middle_page_links_prev_and_next(client: httpx.AsyncClient) -> None:
    await load(client, experiments=[{"name": f"e{i}"} for i in range(5)])
    answer = await client.get("/v2/experiments?page=2&per_page=2", headers=HEADER)
    assert [e["name"] for e in answer.json()] == ["e2", "e3"]
    found = rels(answer.headers["link"])
    assert found["next"].endswith("page=3&per_page=2")
    assert found["prev"].endswith("page=1&per_page=2")


@pytest.mark.parametrize("query", ["page=0", "page=x", "per_page=-1"])
async def test_bad_page_parameters_are_400(client: httpx.AsyncClient, query: str) -> None:
    assert (await client.get(f"/v2/push?{query}", headers=HEADER)).status_code == 400


# --- users ---------------------------------------------------------------------------------

async def test_user_create_then_get_by_id_user_id_and_email(client: httpx.AsyncClient) -> None:
    # the seed's "Create or Update a User" body
    body = {"gender": "male", "first_name": "Jonathan", "last_name": "Norris", "user_id": "42",
            "custom_data": {"occupation": "Bug Fixer",
                            "favourite movie": "You Don't Mess With The Zohan"},
            "email": "jonathan@taplytics.com"}
    created = await client.post("/v2/users", json=body, headers=HEADER)
    assert created.status_code == 200
    user = created.json()
    assert set(user) >= {"id", "created_at", "user_id", "email", "first_name", "last_name",
                         "name", "custom_data", "last_seen_ip", "location", "session_count",
                         "gender"}
    assert user["name"] == "Jonathan Norris"
    for where in (f"/v2/users/{user['id']}", "/v2/users?user_id=42",
                  "/v2/users?email=jonathan@taplytics.com"):
        again = await client.get(where, headers=HEADER)
        assert again.status_code == 200 and again.json()["id"] == user["id"], where
    assert (await client.get("/v2/users?user_id=nobody", headers=HEADER)).status_code == 404


async def test_custom_data_is_merged_and_null_removes_a_key(client: httpx.AsyncClient) -> None:
    # seed: "If the user currently has a custom data object and one is posted, the two
    # will be merged."
    await client.post("/v2/users?user_id=42", headers=HEADER,
                      json={"custom_data": {"occupation": "Bug Fixer", "favourite_color": "Red"}})
    answer = await client.post("/v2/users?user_id=42", headers=HEADER,
                               json={"custom_data": {"favourite_color": "Chartreuse",
                                                     "occupation": None, "level": 3}})
    assert answer.json()["custom_data"] == {"favourite_color": "Chartreuse", "level": 3}
    assert len(await stored(client, "user")) == 1  # updated, not created again


async def test_user_post_needs_an_identity_and_a_known_path_id(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v2/users", json={"first_name": "A"},
                              headers=HEADER)).status_code == 400
    assert (await client.post("/v2/users/5a6a0ca339004c0094000000", json={"first_name": "A"},
                              headers=HEADER)).status_code == 404
    assert (await client.post("/v2/users?user_id=1", json={"custom_data": [1]},
                              headers=HEADER)).status_code == 400


async def test_user_delete_is_204_then_404(client: httpx.AsyncClient) -> None:
    user = (await client.post("/v2/users?user_id=7", json={}, headers=HEADER)).json()
    gone = await client.delete(f"/v2/users/{user['id']}", headers=HEADER)
    assert gone.status_code == 204 and gone.content == b""
    assert (await client.delete(f"/v2/users/{user['id']}", headers=HEADER)).status_code == 404


async def test_users_by_token_pages_with_metadata(client: httpx.AsyncClient) -> None:
    await load(client, users=[{"user_id": str(i), "custom_data": {"n": i}} for i in range(5)])
    seen: list[str] = []
    token: str | None = None
    while True:
        params = {"per_page": "2", **({"paginationToken": token} if token else {})}
        body = (await client.get("/v2/usersByToken", params=params, headers=HEADER)).json()
        assert body["numEntities"] == len(body["users"])
        assert all("metadata" in u and "custom_data" not in u for u in body["users"])
        seen += [u["user_id"] for u in body["users"]]
        token = body["nextPaginationToken"]
        if token is None:
            break
    assert seen == ["0", "1", "2", "3", "4"]
    bad = await client.get("/v2/usersByToken?paginationToken=nope", headers=HEADER)
    assert bad.status_code == 400


# --- experiments ---------------------------------------------------------------------------

async def test_experiments_list_get_and_delete(client: httpx.AsyncClient) -> None:
    await load(client, experiments=[{"name": "ANYTHING", "status": "active"}])
    [exp] = (await client.get("/v2/experiments", headers=HEADER)).json()
    assert {"id", "project_id", "name", "status", "variations", "goal_ids"} <= set(exp)
    one = await client.get(f"/v2/experiments/{exp['id']}", headers=HEADER)
    assert one.json()["name"] == "ANYTHING"
    gone = await client.delete(f"/v2/experiments/{exp['id']}", headers=HEADER)
    assert (gone.status_code, gone.json()) == (200, {"deleted": True, "id": exp["id"]})
    assert (await client.get(f"/v2/experiments/{exp['id']}", headers=HEADER)).status_code == 404


async def test_experiment_fixtures_carry_variations_in_the_seeds_shape(
        client: httpx.AsyncClient) -> None:
    await load(client, experiments=[{"name": "Checkout colour", "variations": [
        {"name": "Green", "distributionPercent": 50}, {"name": "Blue"}]}])
    [exp] = (await client.get("/v2/experiments", headers=HEADER)).json()
    green, blue = exp["variations"]
    assert (green["name"], green["distributionPercent"]) == ("Green", 50)
    assert (blue["name"], blue["distributionPercent"]) == ("Blue", 0)
    for v in (green, blue):  # the seed's list item: an id, dynamic variables, web elements
        assert isinstance(v["_id"], str) and len(v["_id"]) == 24
        assert (v["dynamicVariables"], v["webElements"]) == ([], [])
    assert green["_id"] != blue["_id"]
    assert exp["baseline"]["name"] == "Baseline"
    one = (await client.get(f"/v2/experiments/{exp['id']}", headers=HEADER)).json()
    assert one["variations"] == exp["variations"]


@pytest.mark.parametrize("variation", [{"distributionPercent": 50}, "Green",
                                       {"name": "Green", "distributionPercent": "half"},
                                       {"name": "Green", "distributionPercent": True}])
async def test_a_malformed_fixture_variation_is_refused_whole(client: httpx.AsyncClient,
                                                              variation: object) -> None:
    answer = await client.post("/_sandbox/fixtures", json={"taplytics": {"experiments": [
        {"name": "Checkout colour", "variations": [variation]}]}})
    assert answer.status_code == 400 and "variation" in answer.text
    assert await stored(client, "experiment") == []


async def test_experiments_cannot_be_created(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v2/experiments", json={"name": "x"}, headers=HEADER)
    assert answer.status_code == 404
    assert await stored(client, "experiment") == []


# --- events --------------------------------------------------------------------------------

async def test_events_need_a_session_names_and_at_most_100(client: httpx.AsyncClient) -> None:
    event = {"name": "Purchase", "date": "2015-01-06T03:50:57+00:00", "value": 42,
             "metaData": {"occupation": "Bug Fixer"}}
    ok = await client.post("/v2/events?session_id=s1", json=[event] * 100, headers=HEADER)
    assert ok.status_code == 200
    assert (await client.post("/v2/events?session_id=s1", json=[event] * 101,
                              headers=HEADER)).status_code == 400
    assert (await client.post("/v2/events", json=[event], headers=HEADER)).status_code == 400
    assert (await client.post("/v2/events?session_id=s1", json=[{"value": 1}],
                              headers=HEADER)).status_code == 400
    assert len(await stored(client, "event")) == 100


# --- push ----------------------------------------------------------------------------------

async def test_seed_push_is_sent_now_and_listed(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v2/push", json=SEED_PUSH, headers=HEADER)
    assert answer.status_code == 200
    body = answer.json()
    # seed answer: "status": "sending", "schedule": {"now": true}, "production": false
    assert body["status"] == "sending" and body["schedule"] == {"now": True}
    assert body["production"] is False and body["filters"] == SEED_PUSH["filters"]
    [listed] = (await client.get("/v2/push", headers=HEADER)).json()
    assert listed["id"] == body["id"] and listed["name"] == "Test"
    one = await client.get(f"/v2/push/{body['id']}", headers=HEADER)
    assert one.json()["notification"] == SEED_PUSH["notification"]
    assert (await client.get("/v2/push/missing", headers=HEADER)).status_code == 404


BAD_PUSHES = {
    "no notification": {"name": "x"},
    "no alert, no custom_keys": {"notification": {}},
    "comparator >": {"notification": {"alert": "a"},
                     "filters": [{"type": "app_lang", "comparator": ">", "values": ["en"]}]},
    "custom_data without dataKey": {
        "notification": {"alert": "a"},
        "filters": [{"type": "custom_data", "comparator": ">=", "values": [16]}]},
    "dataKey on another type": {
        "notification": {"alert": "a"},
        "filters": [{"type": "country", "comparator": "=", "values": ["US"], "dataKey": "k"}]},
    "unknown filter type": {"notification": {"alert": "a"},
                            "filters": [{"type": "android_version", "comparator": "=",
                                         "values": ["5"]}]},
    "empty values": {"notification": {"alert": "a"},
                     "filters": [{"type": "country", "comparator": "=", "values": []}]},
    "gif image": {"notification": {"alert": "a"}, "image": {"url": "https://x/a.gif"}},
    "past time": {"notification": {"alert": "a"}, "schedule": {"time": "2015-11-05T13:15:30Z"}},
    "bad time format": {"notification": {"alert": "a"}, "schedule": {"time": "tomorrow"}},
    "empty schedule": {"notification": {"alert": "a"}, "schedule": {}},
    "our own field": {"notification": {"alert": "a"}, "send_to_all_users": True},
}


@pytest.mark.parametrize("case", sorted(BAD_PUSHES))
async def test_invalid_push_is_400_and_not_stored(client: httpx.AsyncClient, case: str) -> None:
    answer = await client.post("/v2/push", json=BAD_PUSHES[case], headers=HEADER)
    assert answer.status_code == 400, answer.text
    assert await stored(client, "push") == []


async def test_custom_keys_make_the_alert_optional(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v2/push", headers=HEADER,
                               json={"notification": {}, "custom_keys": {"deep_link": "x"}})
    assert answer.status_code == 200


async def test_schedule_must_be_in_the_future_by_the_sandbox_clock(
        client: httpx.AsyncClient, clock: ManualClock) -> None:
    now = (await client.post("/v2/push", headers=HEADER,
                             json={"notification": {"alert": "probe"}})).json()["created_at"]
    soon = _plus_hours(now, 1)
    scheduled = await client.post("/v2/push", headers=HEADER, json={
        "name": "later", "notification": {"alert": "a"}, "schedule": {"time": soon}})
    assert scheduled.status_code == 200 and scheduled.json()["status"] == "scheduled"
    clock.advance(2 * 3600)  # the same time is now in the past
    again = await client.post("/v2/push", headers=HEADER, json={
        "name": "later 2", "notification": {"alert": "a"}, "schedule": {"time": soon}})
    assert again.status_code == 400
    listed = (await client.get("/v2/push", headers=HEADER)).json()
    assert [p["status"] for p in listed] == ["sent", "sent"]


def _plus_hours(stamp: str, hours: int) -> str:
    from datetime import datetime, timedelta

    when = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S") + timedelta(hours=hours)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_store_then_fail_on_push_stores_and_loses_the_answer(
        client: httpx.AsyncClient) -> None:
    rule = {"kind": "store_then_fail", "status": 502, "method": "POST", "path": "/v2/push",
            "times": 1}
    assert (await client.post("/_sandbox/faults", json={"faults": [rule]})).status_code == 200
    answer = await client.post("/v2/push", json=SEED_PUSH, headers=HEADER)
    assert answer.status_code == 502
    assert [p["name"] for p in await stored(client, "push")] == ["Test"]
    stats = (await client.get("/_sandbox/stats")).json()
    assert stats["endpoints"]["POST /v2/push"]["by_status"] == {"502": 1}
