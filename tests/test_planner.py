"""Planner cases as data: ``tests/cases/plan/<provider>/<case>.yaml``.

Each case gives desired and live resources and the plan expected from them. Both sides go
through :func:`tapsync.normalize.canonical` first, as the manifest builder and providers do,
so a case may write live values the way the API answers them (``null``, unordered enums).
Expected changes are listed in apply order; ``warnings`` and ``errors`` are substrings, and
leaving either out means none are expected. ``options.now`` fixes the clock the planner is
given (a push scheduled before it cannot be sent). ``refusals`` are the safety guards'
verdict on the plan (substrings, none unless listed), with ``options.safety`` over the
workspace defaults.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tapsync.changes import Action, Change, KindSpec, Plan
from tapsync.config import SafetyConfig
from tapsync.diff import diff
from tapsync.model import Resource, ResourceKey, State
from tapsync.normalize import canonical
from tapsync.planfile import plan_from_dict, plan_to_dict
from tapsync.planner import fingerprint, plan
from tapsync.policy import check_safety
from tests.plan_specs import SPECS

CASES = Path(__file__).parent / "cases" / "plan"
_CASE_FILES = sorted(CASES.glob("*/*.yaml"))


def _resource(item: dict[str, Any]) -> Resource:
    key = ResourceKey.parse(item["address"])
    return Resource(key, canonical(key.provider, key.kind, item.get("attrs") or {}),
                    absent=bool(item.get("absent", False)),
                    renamed_from=tuple(item.get("renamed_from") or ()),
                    meta=item.get("meta") or {})


def run_case(case: dict[str, Any]) -> Plan:
    """``options.now`` (``"2026-03-01T00:00:00Z"``) fixes the planning clock; without it
    the planner is given none, as drift does."""
    opts = case.get("options") or {}
    prune = opts.get("prune", False)
    now = opts.get("now")
    return plan(State(_resource(r) for r in case.get("desired") or []),
                State(_resource(r) for r in case.get("live") or []), SPECS,
                prune=tuple(prune) if isinstance(prune, list) else bool(prune),
                targets=[ResourceKey.parse(t) for t in opts.get("targets") or []],
                reads=opts.get("reads") or {},
                now=datetime.fromisoformat(now.replace("Z", "+00:00")) if now else None)


def refusals(case: dict[str, Any], result: Plan) -> list[str]:
    """The safety guards on ``result``: ``options.safety`` over the workspace defaults."""
    d = SafetyConfig()
    opts = {"max_delete_percent": d.max_delete_percent,
            "max_update_percent": d.max_update_percent, "min_existing": d.min_existing,
            "force": False, **((case.get("options") or {}).get("safety") or {})}
    return check_safety(result, State(_resource(r) for r in case.get("live") or []), **opts)


def _check_change(got: Change, want: dict[str, Any]) -> None:
    where = f"{want['action']} {want['address']}"
    assert got.action is Action(want["action"]), where
    assert got.key.address == want["address"], where
    assert (got.from_key.address if got.from_key else None) == want.get("from"), where
    if "fields" in want:
        got_fields = {f.label: [f.before, f.after] for f in got.fields}
        assert got_fields == want["fields"], where
    if "cost" in want:
        assert got.cost == want["cost"], where
    if "reason" in want:
        assert want["reason"] in got.reason, where
    for k, v in (want.get("meta") or {}).items():
        assert got.meta.get(k) == v, f"{where}: meta {k}"


def _check_messages(got: list[str], want: list[str], what: str) -> None:
    assert len(got) == len(want), f"{what}: {got}"
    for w in want:
        assert any(w in g for g in got), f"{what}: no {w!r} in {got}"


@pytest.mark.parametrize("path", _CASE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_plan_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    result = run_case(case)
    expect = case["expect"]
    wanted = expect.get("changes") or []
    assert [f"{c.action.value} {c.key.address}" for c in result.changes] == \
        [f"{w['action']} {w['address']}" for w in wanted]
    for got, want in zip(result.changes, wanted, strict=True):
        _check_change(got, want)
    assert [k.address for k in result.unmanaged] == (expect.get("unmanaged") or [])
    _check_messages([f"{w.address}: {w.message}" for w in result.warnings],
                    expect.get("warnings") or [], "warnings")
    _check_messages([f"{e.address}: {e.message}" for e in result.errors],
                    expect.get("errors") or [], "errors")
    _check_messages(refusals(case, result), expect.get("refusals") or [], "refusals")
    # every plan is data: it survives a trip through its JSON form unchanged
    assert plan_from_dict(json.loads(json.dumps(plan_to_dict(result)))) == result


def test_there_are_enough_cases() -> None:
    assert len(_CASE_FILES) >= 25


def test_changes_carry_the_fingerprint_of_the_live_object_they_came_from() -> None:
    key = ResourceKey("amplitude", "event_type", ("Play Song",))
    live = Resource(key, {"description": "old"}, meta={"status": "live"})
    result = plan(State([Resource(key, {"description": "new"})]), State([live]), SPECS)
    (change,) = result.changes
    assert change.fingerprint == fingerprint(live)
    edited = Resource(key, {"description": "edited in the UI"}, meta={"status": "live"})
    assert fingerprint(edited) != change.fingerprint


def test_plan_is_deterministic_and_does_not_mutate_its_inputs() -> None:
    case = yaml.safe_load((CASES / "amplitude" / "rename_event_carries_properties.yaml")
                          .read_text(encoding="utf-8"))
    assert run_case(case) == run_case(case)


def test_estimated_seconds_use_the_concurrent_limit_and_an_assumed_call_latency() -> None:
    from tapsync.config import BudgetConfig

    desired = State(Resource(ResourceKey("amplitude", "event_type", (f"e{i}",)))
                    for i in range(10))
    result = plan(desired, State(), SPECS, reads={"amplitude": 3},
                  budgets={"amplitude": BudgetConfig(concurrent_cost=4, hourly_cost=7200)})
    cost = result.costs["amplitude"]
    assert (cost.reads, cost.writes, cost.hourly_budget, cost.concurrent_limit) == \
        (3, 20, 7200, 4)
    assert cost.estimated_seconds == 20 / 4 * 0.25


def test_prune_naming_a_kind_the_api_cannot_delete_warns_once_and_leaves_it() -> None:
    spec = KindSpec("taplytics", "user", 0, can_delete=False)
    live = State(Resource(ResourceKey("taplytics", "user", (f"u{i}",))) for i in range(3))
    result = plan(State(), live, {("taplytics", "user"): spec}, prune=["user"])
    assert result.changes == ()
    assert [k.leaf for k in result.unmanaged] == ["u0", "u1", "u2"]
    assert [w.message for w in result.warnings] == [
        "prune names taplytics.user, which the taplytics API cannot delete: left as it is"]


def test_renamed_from_on_a_kind_the_api_cannot_rename_creates_and_says_so() -> None:
    new, old = ResourceKey("taplytics", "user", ("qa-2",)), ResourceKey("taplytics", "user",
                                                                       ("qa-1",))
    result = plan(State([Resource(new, renamed_from=("qa-1",))]), State([Resource(old)]),
                  SPECS)
    assert [(c.action, c.key) for c in result.changes] == [(Action.CREATE, new)]
    assert result.unmanaged == (old,)
    assert "cannot rename a user" in result.warnings[0].message


def test_a_kind_no_provider_declares_is_a_plan_error() -> None:
    key = ResourceKey("apptimize", "experiment", ("x",))
    result = plan(State([Resource(key)]), State(), SPECS)
    assert result.changes == ()
    assert result.errors[0].message == "no provider declares apptimize.experiment"


@pytest.mark.parametrize(("desired", "live", "expected"), [
    ({"a": 1}, {"a": 1, "b": 2}, []),
    ({"a": None}, {}, []),
    ({"a": ""}, {}, [(("a",), None, "")]),
    ({"d": {"x": 1}}, {"d": {"x": 1, "y": 2}}, []),
    ({"d": {"x": 1, "z": 3}}, {"d": {"x": 2}}, [(("d", "x"), 2, 1), (("d", "z"), None, 3)]),
    ({"l": ["a", "b"]}, {"l": ["a"]}, [(("l",), ["a"], ["a", "b"])]),
    ({"f": [{"v": ["x", "y"]}]}, {"f": [{"v": ["x"]}]}, [(("f", 0, "v"), ["x"], ["x", "y"])]),
    ({"f": [{"v": 1}, {"v": 2}]}, {"f": [{"v": 1}]}, [(("f", 1), None, {"v": 2})]),
    ({"t": {"k": 1}}, {"t": "text"}, [(("t",), "text", {"k": 1})]),
])
def test_diff_reports_only_owned_differences_with_field_paths(
        desired: dict[str, Any], live: dict[str, Any],
        expected: list[tuple[tuple[str | int, ...], Any, Any]]) -> None:
    got = diff(desired, live, desired)
    assert [(f.path, f.before, f.after) for f in got] == expected


def test_diff_never_calls_deepdiff_for_equal_values(monkeypatch: pytest.MonkeyPatch) -> None:
    import tapsync.diff as module

    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("deepdiff called for equal values")

    monkeypatch.setattr(module, "DeepDiff", boom)
    same = {"custom_data": {"a": [1, {"b": 2}]}, "tags": ["x"]}
    assert diff(same, dict(same), same) == ()
