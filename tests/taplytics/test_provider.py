"""The Taplytics provider against the in-process sandbox: reads, writes, normalisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tapsync.changes import Action, Change, FieldChange
from tapsync.engine import PROVIDER_CLASSES
from tapsync.model import Resource, ResourceKey, State
from tapsync.providers.taplytics import TaplyticsProvider, parse_link, push_attrs
from tests.sandboxed import config, session
from tests.taplytics.tap_support import SEED_PUSH, load, stored

pytestmark = pytest.mark.anyio
T = "taplytics"


def key(kind: str, name: str) -> ResourceKey:
    return ResourceKey(T, kind, (name,))


def test_the_provider_is_registered() -> None:
    assert PROVIDER_CLASSES[T] is TaplyticsProvider
    specs = TaplyticsProvider.SPECS
    assert not specs["experiment"].can_create and not specs["experiment"].can_update
    push = specs["push_campaign"]
    assert push.sends and push.immutable and push.unmanaged_is_history
    assert not push.can_update and not push.can_delete
    assert TaplyticsProvider.method_cost("POST") == 1


@pytest.mark.parametrize("header", [
    # the seed, verbatim: single quotes and a stray trailing double quote
    "<https://api.taplytics.com/v2/users?api_token=YOUR_API_TOKEN&page=4&per_page=100>; "
    "rel='last', <https://api.taplytics.com/v2/users?api_token=YOUR_API_TOKEN&page=2&"
    "per_page=100>; rel='next', <https://api.taplytics.com/v2/users?api_token=YOUR_API_TOKEN"
    "&page=1&per_page=100>; rel='first'\"",
    '<https://api.taplytics.com/v2/users?page=4>; rel="last", '
    '<https://api.taplytics.com/v2/users?page=2>; rel="next"',
    "<https://api.taplytics.com/v2/users?page=2>;rel=next",
])
def test_link_header_is_parsed_leniently(header: str) -> None:
    links = parse_link(header)
    assert links["next"].startswith("https://api.taplytics.com/v2/users?")
    assert "page=2" in links["next"]


def test_link_header_without_next() -> None:
    assert "next" not in parse_link("<https://x/v2/push?page=1>; rel='first'\"")
    assert parse_link("") == {}


async def test_experiments_are_read_across_pages_by_name(app: Starlette,
                                                         client: httpx.AsyncClient,
                                                         tmp_path: Path) -> None:
    await load(client, experiments=[{"name": f"exp {i}", "status": "paused",
                                     "description": None} for i in range(230)])
    desired = State([Resource(key("experiment", "exp 229"), {"status": "active"})])
    async with session(app, config(tmp_path), (T,)) as s:
        live = await s.providers[T].read(desired)
        reads = s.clients[T].stats.reads
    assert len(live.of_kind(T, "experiment")) == 230
    last = live.get(key("experiment", "exp 229"))
    assert last is not None and last.attrs == {"status": "paused", "description": "",
                                               "variations": []}
    assert last.meta["id"]
    assert reads == 3  # three pages, followed through Link, nothing else


async def test_token_travels_in_the_header_never_the_url(app: Starlette,
                                                         client: httpx.AsyncClient,
                                                         tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    await load(client, experiments=[{"name": f"e{i}"} for i in range(150)])
    inner = httpx.ASGITransport(app=app)

    class Spy(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return await inner.handle_async_request(request)

    from tapsync.engine import SANDBOX_CREDENTIALS, connect

    async with connect(config(tmp_path), (T,), SANDBOX_CREDENTIALS, transport=Spy()) as s:
        await s.providers[T].read(State([Resource(key("experiment", "e1"))]))
    assert len(seen) == 2
    for request in seen:
        assert request.headers["x-access-token"] == "sandbox-token"
        assert "sandbox-token" not in str(request.url)


async def test_push_is_sent_and_read_back_in_the_manifest_shape(app: Starlette,
                                                                client: httpx.AsyncClient,
                                                                tmp_path: Path) -> None:
    attrs: dict[str, Any] = {
        "notification": {"alert": "20% off this weekend"},
        "filters": [{"type": "country", "comparator": "=", "values": ["Canada", "US"]}],
        "schedule": {"time": "2099-12-05T15:00:00Z"}, "production": True}
    everyone: dict[str, Any] = {"notification": {"alert": "hi"}, "send_to_all_users": True,
                                "schedule": "now"}
    async with session(app, config(tmp_path), (T,)) as s:
        p = s.providers[T]
        await p.apply_change(Change(Action.SEND, key("push_campaign", "winter"), None, attrs))
        await p.apply_change(Change(Action.SEND, key("push_campaign", "all"), None, everyone))
        live = await p.read(State([Resource(key("push_campaign", "winter"), attrs)]))
    winter = live.get(key("push_campaign", "winter"))
    assert winter is not None and winter.meta["status"] == "scheduled"
    assert {k: winter.attrs[k] for k in attrs} == attrs
    every = live.get(key("push_campaign", "all"))
    assert every is not None and {k: every.attrs[k] for k in everyone} == everyone
    assert every.attrs["production"] is False  # the API's default, made explicit
    raw = {p["name"]: p for p in await stored(client, "push")}
    assert "send_to_all_users" not in raw["all"] and raw["all"]["filters"] == []


def test_seed_push_normalises_to_the_manifest_shape() -> None:
    answer = {**SEED_PUSH, "id": "548013f2c703f020242ff21c", "status": "sending",
              "created_at": "2015-06-09T18:08:51.194Z", "schedule": {"now": True}}
    attrs = push_attrs(answer)
    assert attrs["schedule"] == "now" and attrs["send_to_all_users"] is False
    assert attrs["filters"] == SEED_PUSH["filters"] and attrs["is_silent"] is False
    assert "id" not in attrs and "status" not in attrs


async def test_nameless_and_duplicate_pushes_are_history(app: Starlette,
                                                         client: httpx.AsyncClient,
                                                         tmp_path: Path) -> None:
    note = {"notification": {"alert": "a"}}
    await load(client, pushes=[note, {**note, "name": "x"}, {**note, "name": "x"}])
    async with session(app, config(tmp_path), (T,)) as s:
        found = await s.providers[T].read_one(key("push_campaign", "x"))
        missing = await s.providers[T].read_one(key("push_campaign", "y"))
    assert found is not None and len(found.meta["duplicate_ids"]) == 1
    assert missing is None


async def test_only_declared_users_are_read(app: Starlette, client: httpx.AsyncClient,
                                            tmp_path: Path) -> None:
    await load(client, users=[{"user_id": "qa-1", "email": "qa-1@example.com",
                               "custom_data": {"tier": "gold"}},
                              {"user_id": "someone-else"},
                              {"email": "demo@example.com", "first_name": "Demo"}])
    desired = State([Resource(key("user", "qa-1"), {"email": "qa-1@example.com"}),
                     Resource(key("user", "demo@example.com"), {"first_name": "Demo"}),
                     Resource(key("user", "ghost"), {})])
    async with session(app, config(tmp_path), (T,)) as s:
        live = await s.providers[T].read(desired)
    assert sorted(r.key.leaf for r in live) == ["demo@example.com", "qa-1"]
    qa = live.get(key("user", "qa-1"))
    assert qa is not None and qa.attrs["custom_data"] == {"tier": "gold"}
    assert qa.attrs["email"] == "qa-1@example.com" and qa.meta["identity"] == "user_id"
    demo = live.get(key("user", "demo@example.com"))
    assert demo is not None and demo.meta["identity"] == "email"
    assert demo.attrs["first_name"] == "Demo" and "email" not in demo.attrs


async def test_user_update_removes_custom_data_keys_the_manifest_dropped(
        app: Starlette, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await load(client, users=[{"user_id": "qa-1", "custom_data": {"tier": "gold", "old": 1}}])
    async with session(app, config(tmp_path), (T,)) as s:
        p = s.providers[T]
        live = await p.read_one(key("user", "qa-1"))
        assert live is not None
        after = {"custom_data": {"tier": "silver"}}
        change = Change(Action.UPDATE, key("user", "qa-1"), {"custom_data": live.attrs[
            "custom_data"]}, after, fields=(FieldChange(("custom_data", "tier"), "gold",
                                                        "silver"),), meta=live.meta)
        await p.apply_change(change)
        again = await p.read_one(key("user", "qa-1"))
    assert again is not None and again.attrs["custom_data"] == {"tier": "silver"}


async def test_experiment_delete_of_a_gone_experiment_is_done(app: Starlette,
                                                              tmp_path: Path) -> None:
    change = Change(Action.DELETE, key("experiment", "gone"), {}, None,
                    meta={"id": "5a6a0ca339004c0094fa208f"})
    async with session(app, config(tmp_path), (T,)) as s:
        await s.providers[T].apply_change(change)  # 404 → already done, no error
