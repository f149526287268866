"""Executor-level convergence: apply hand-built changes, read again, nothing is left to do.

Changes are built by hand (what the planner would produce) so these tests hold whatever
the planner's state; the last tests run the real planner too, as the round trip a user
sees: plan → apply → plan again is empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tapsync.changes import Action, Change, FieldChange, Plan
from tapsync.engine import make_plan, read_live
from tapsync.executor import Executor, remaining
from tapsync.model import Resource, ResourceKey, State
from tests.sandboxed import config, session
from tests.taplytics.tap_support import load, stored

pytestmark = pytest.mark.anyio
T = "taplytics"


def key(kind: str, name: str) -> ResourceKey:
    return ResourceKey(T, kind, (name,))


def fields(after: dict[str, Any], before: Mapping[str, Any] | None = None
           ) -> tuple[FieldChange, ...]:
    return tuple(FieldChange((k,), (before or {}).get(k), v) for k, v in after.items())


async def test_user_create_update_delete_converge(app: Starlette, client: httpx.AsyncClient,
                                                  tmp_path: Path) -> None:
    k = key("user", "qa-1")
    created = {"email": "qa-1@example.com", "custom_data": {"tier": "gold", "beta": True}}
    async with session(app, config(tmp_path), (T,)) as s:
        p, ex = s.providers[T], Executor(s.providers)
        result = await ex.apply(Plan(changes=(
            Change(Action.CREATE, k, None, created, fields(created), cost=1, order=1),)))
        assert [r.status for r in result.results] == ["ok"]
        live = await p.read_one(k)
        assert live is not None and remaining(result.results[0].change, live) is None

        # the manifest drops "beta" and changes the tier: custom_data is owned whole
        after = {"custom_data": {"tier": "silver"}}
        update = Change(Action.UPDATE, k, {"custom_data": live.attrs["custom_data"]}, after,
                        fields(after, live.attrs), cost=1, order=1, meta=live.meta)
        result = await Executor(s.providers).apply(Plan(changes=(update,)))
        assert [r.status for r in result.results] == ["ok"]
        live = await p.read_one(k)
        assert live is not None and live.attrs["custom_data"] == {"tier": "silver"}
        assert remaining(update, live) is None

        delete = Change(Action.DELETE, k, live.attrs, None, cost=1, order=1, meta=live.meta)
        result = await Executor(s.providers).apply(Plan(changes=(delete,)))
        assert [r.status for r in result.results] == ["ok"]
        assert await p.read_one(k) is None
    assert await stored(client, "user") == []


async def test_experiment_delete_converges_even_when_the_answer_is_lost(
        app: Starlette, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await load(client, experiments=[{"name": "Old onboarding test", "status": "archived"},
                                    {"name": "Keep me", "status": "active"}])
    rule = {"kind": "store_then_fail", "status": 500, "method": "DELETE", "times": 1}
    await client.post("/_sandbox/faults", json={"faults": [rule]})
    k = key("experiment", "Old onboarding test")
    async with session(app, config(tmp_path), (T,)) as s:
        live = await s.providers[T].read_one(k)
        assert live is not None
        change = Change(Action.DELETE, k, live.attrs, None, cost=1, meta=live.meta)
        result = await Executor(s.providers).apply(Plan(changes=(change,)))
        assert [r.status for r in result.results] == ["ok"], result.results
        assert await s.providers[T].read_one(k) is None
    assert [e["name"] for e in await stored(client, "experiment")] == ["Keep me"]


def desired_state() -> State:
    return State([
        Resource(key("experiment", "Checkout button colour"), {"status": "active"}),
        Resource(key("experiment", "Old onboarding test"), absent=True),
        Resource(key("push_campaign", "winter-sale-2026"), {
            "notification": {"alert": "20% off this weekend"},
            "filters": [{"type": "country", "comparator": "=", "values": ["Canada", "US"]}],
            "schedule": {"time": "2099-12-05T15:00:00Z"}, "production": True}),
        Resource(key("push_campaign", "hello-everyone"), {
            "notification": {"alert": "hi"}, "send_to_all_users": True, "schedule": "now"}),
        Resource(key("user", "qa-1"), {"email": "qa-1@example.com",
                                       "custom_data": {"tier": "gold"}}),
    ])


async def test_plan_apply_plan_again_is_empty(app: Starlette, client: httpx.AsyncClient,
                                              tmp_path: Path) -> None:
    await load(client, experiments=[{"name": "Checkout button colour", "status": "active"},
                                    {"name": "Old onboarding test"}],
               pushes=[{"name": "last-year", "notification": {"alert": "old"}}])
    desired = desired_state()
    async with session(app, config(tmp_path), (T,)) as s:
        plan = make_plan(s, desired, await read_live(s, desired))
        assert not plan.errors, plan.errors
        actions = sorted((c.action.value, c.key.leaf) for c in plan.changes)
        assert actions == [("create", "qa-1"), ("delete", "Old onboarding test"),
                           ("send", "hello-everyone"), ("send", "winter-sale-2026")]
        assert plan.unmanaged == ()  # last year's push is history, not drift
        result = await Executor(s.providers).apply(plan)
        assert all(r.status == "ok" for r in result.results), result.results
        again = make_plan(s, desired, await read_live(s, desired))
    assert again.changes == () and not again.errors
    assert len(await stored(client, "push")) == 3


async def test_an_edited_sent_push_is_a_plan_error_and_experiment_edits_are_manual(
        app: Starlette, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await load(client, experiments=[{"name": "Checkout button colour", "status": "paused"}],
               pushes=[{"name": "winter-sale-2026", "notification": {"alert": "10% off"},
                        "filters": [{"type": "country", "comparator": "=",
                                     "values": ["Canada", "US"]}],
                        "schedule": {"time": "2099-12-05T15:00:00Z"}, "production": True}])
    desired = State([r for r in desired_state() if r.key.kind != "user"
                     and r.key.leaf != "hello-everyone"])
    async with session(app, config(tmp_path), (T,)) as s:
        plan = make_plan(s, desired, await read_live(s, desired))
    assert [e.address for e in plan.errors] == [key("push_campaign", "winter-sale-2026").address]
    assert [(c.action, c.key.leaf) for c in plan.changes] == [
        (Action.MANUAL, "Checkout button colour")]


async def test_undeclared_experiments_are_unmanaged_and_pushes_history(
        app: Starlette, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await load(client, experiments=[{"name": "Stray test"}],
               pushes=[{"name": "last-year", "notification": {"alert": "old"}}])
    desired = State([Resource(key("user", "qa-1"), {"email": "qa-1@example.com"}),
                     Resource(key("push_campaign", "new"), {"notification": {"alert": "x"},
                                                            "schedule": "now"})])
    async with session(app, config(tmp_path), (T,)) as s:
        plan = make_plan(s, desired, await read_live(s, desired))
    assert [k.address for k in plan.unmanaged] == ['taplytics.experiment["Stray test"]']


async def test_a_custom_data_key_dropped_from_the_manifest_is_planned_away(
        app: Starlette, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await load(client, users=[{"user_id": "qa-1", "custom_data": {"tier": "gold", "old": 1}}])
    desired = State([Resource(key("user", "qa-1"), {"custom_data": {"tier": "gold"}})])
    async with session(app, config(tmp_path), (T,)) as s:
        plan = make_plan(s, desired, await read_live(s, desired))
        assert [(c.action, c.key.leaf) for c in plan.changes] == [(Action.UPDATE, "qa-1")]
        result = await Executor(s.providers).apply(plan)
        assert [r.status for r in result.results] == ["ok"]
        live = await read_live(s, desired)
        again = make_plan(s, desired, live)
    user = live.get(key("user", "qa-1"))
    assert user is not None and user.attrs["custom_data"] == {"tier": "gold"}
    assert again.changes == ()
