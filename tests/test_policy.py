"""Safety guards: refusals carry the numbers and the remedy (octoDNS's TooMuchChange)."""

from __future__ import annotations

from typing import Any

import pytest

from tapsync.changes import Action, Change, Plan, PlanWarning
from tapsync.model import Resource, ResourceKey, State
from tapsync.policy import (
    CostModel,
    check_cost,
    check_errors,
    check_safety,
    check_sends,
    refusals,
)


def _key(i: int, kind: str = "event_type") -> ResourceKey:
    return ResourceKey("amplitude", kind, (f"e{i}",))


def _live(n: int, kind: str = "event_type", deleted: int = 0) -> list[Resource]:
    return [Resource(_key(i, kind), meta={"deleted": True} if i < deleted else {})
            for i in range(n)]


def _plan(action: Action, n: int, kind: str = "event_type", cost: int = 2) -> Plan:
    return Plan(changes=tuple(Change(action, _key(i, kind), None, None, cost=cost)
                              for i in range(n)))


GUARDS: dict[str, Any] = {"max_delete_percent": 30.0, "max_update_percent": 30.0,
                          "min_existing": 10}


def test_too_many_deletes_are_refused_with_numbers_and_remedy() -> None:
    got = check_safety(_plan(Action.DELETE, 21), State(_live(50)), **GUARDS, force=False)
    assert got == ["amplitude.event_type: 42.00% of 50 would be deleted (21), over "
                   "max_delete_percent 30.00%; run with --force to apply anyway"]


def test_updates_and_renames_count_together() -> None:
    plan = Plan(changes=_plan(Action.UPDATE, 10).changes
                + tuple(Change(Action.RENAME, _key(i + 10), None, None) for i in range(6)))
    got = check_safety(plan, State(_live(40)), **GUARDS, force=False)
    assert got == ["amplitude.event_type: 40.00% of 40 would be updated or renamed (16), "
                   "over max_update_percent 30.00%; run with --force to apply anyway"]


def test_exactly_at_the_limit_passes() -> None:
    assert check_safety(_plan(Action.DELETE, 3), State(_live(10)), **GUARDS, force=False) == []


def test_guards_ignore_small_kinds_and_deleted_objects() -> None:
    assert check_safety(_plan(Action.DELETE, 9), State(_live(9)), **GUARDS, force=False) == []
    # 12 listed, 3 of them already deleted: 9 exist, under min_existing
    live = State(_live(12, deleted=3))
    assert check_safety(_plan(Action.DELETE, 9), live, **GUARDS, force=False) == []


def test_guards_are_per_kind() -> None:
    live = State(_live(20) + _live(20, "user_property"))
    plan = Plan(changes=_plan(Action.DELETE, 5).changes
                + _plan(Action.DELETE, 7, "user_property").changes)
    assert check_safety(plan, live, **GUARDS, force=False) == [
        "amplitude.user_property: 35.00% of 20 would be deleted (7), over max_delete_percent "
        "30.00%; run with --force to apply anyway"]


def test_force_waives_safety_but_not_errors() -> None:
    plan = Plan(changes=_plan(Action.DELETE, 20).changes,
                errors=(PlanWarning('taplytics.push_campaign["x"]', "immutable"),))
    live = State(_live(20))
    assert check_safety(plan, live, **GUARDS, force=True) == []
    assert refusals(plan, guards=check_safety(plan, live, **GUARDS, force=True)) == [
        'taplytics.push_campaign["x"]: immutable']


def test_cost_ceiling() -> None:
    plan = _plan(Action.CREATE, 60)
    assert check_cost(plan, None) == []
    assert check_cost(plan, 120) == []
    assert check_cost(plan, 100) == [
        "this plan's writes cost 120 units, over --max-cost 100; raise --max-cost or narrow "
        "the plan with --target"]


def test_sends_need_allow_send() -> None:
    key = ResourceKey("taplytics", "push_campaign", ("winter-sale-2026",))
    plan = Plan(changes=(Change(Action.SEND, key, None, {}),))
    assert check_sends(plan, allow_send=True) == []
    assert check_sends(plan, allow_send=False) == [
        'this plan sends 1 push notification(s), which cannot be undone: '
        'taplytics.push_campaign["winter-sale-2026"]; run with --allow-send to send them']
    assert check_sends(_plan(Action.CREATE, 3), allow_send=False) == []


def test_errors_are_refusals() -> None:
    plan = Plan(errors=(PlanWarning("", "general"), PlanWarning("a.b[\"c\"]", "specific")))
    assert check_errors(plan) == ["general", 'a.b["c"]: specific']


def test_refusals_collects_everything_errors_first() -> None:
    key = ResourceKey("taplytics", "push_campaign", ("p",))
    send = Change(Action.SEND, key, None, {}, cost=1)
    plan = Plan(changes=(*_plan(Action.DELETE, 20).changes, send),
                errors=(PlanWarning("", "broken"),))
    got = refusals(plan, guards=check_safety(plan, State(_live(20)), **GUARDS, force=False),
                   max_cost=10)
    assert got[0] == "broken"
    assert [r.split(":")[0].split(";")[0] for r in got[1:]] == [
        "amplitude.event_type", "this plan's writes cost 41 units, over --max-cost 10",
        "this plan sends 1 push notification(s), which cannot be undone"]


@pytest.mark.parametrize(("writes", "concurrent", "hourly", "seconds"), [
    (0, 4, 7200, 0.0),
    (8, 4, 7200, 0.5),
    (8, 0, 0, 2.0),          # unknown concurrency: one unit at a time
    (7300, 4, 7200, 3600 + 456.25),   # over the hourly budget: wait for the next window
])
def test_cost_model_estimates(writes: int, concurrent: int, hourly: int,
                              seconds: float) -> None:
    assert CostModel().estimated_seconds(writes, concurrent, hourly) == seconds


def test_budget_percent() -> None:
    assert CostModel.budget_percent(72, 7200) == 1.0
    assert CostModel.budget_percent(72, 0) is None
