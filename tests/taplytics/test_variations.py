"""Experiment variations: read from the sandbox, compared by name, never written.

The API cannot edit experiments, so a variation that differs is a ``manual`` change a person
makes in the dashboard; these tests run the real provider against the in-process sandbox
and check that the plan says so, that applying it sends nothing, and that ``tapsync
import`` writes variations a plan then finds unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tapsync.changes import Action
from tapsync.engine import make_plan, read_live
from tapsync.executor import Executor
from tapsync.model import Resource, ResourceKey, State
from tapsync.normalize import canonical
from tests.ci.support import tapsync
from tests.sandboxed import config, session
from tests.taplytics.tap_support import load, stored
from tests.taplytics.test_cli_story import plant

pytestmark = pytest.mark.anyio
T = "taplytics"
CHECKOUT = ResourceKey(T, "experiment", ("Checkout colour",))
#: listed out of name order, each with the dashboard's own payload beside name and share
LIVE_VARIATIONS: list[dict[str, Any]] = [
    {"name": "Green", "distributionPercent": 50,
     "dynamicVariables": [{"name": "colour", "value": "#0f0", "variableType": "String"}]},
    {"name": "Blue", "distributionPercent": 50, "webElements": [{"selector": "#buy"}]},
]


def declared(attrs: dict[str, Any]) -> State:
    """The experiment as the manifest builder hands it to the planner: canonical."""
    return State([Resource(CHECKOUT, canonical(T, "experiment", attrs))])


async def test_variations_are_read_as_names_and_shares_in_name_order(
        app: Starlette, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await load(client, experiments=[{"name": "Checkout colour", "status": "active",
                                     "variations": LIVE_VARIATIONS}])
    desired = State([Resource(CHECKOUT, {"status": "active"})])
    async with session(app, config(tmp_path), (T,)) as s:
        live = await s.providers[T].read(desired)
        one = await s.providers[T].read_one(CHECKOUT)
    got = live.get(CHECKOUT)
    assert got is not None and got.attrs["variations"] == [
        {"name": "Blue", "distributionPercent": 50},
        {"name": "Green", "distributionPercent": 50}]
    assert one is not None and one.attrs == got.attrs


async def test_the_same_variations_in_another_order_plan_nothing(
        app: Starlette, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await load(client, experiments=[{"name": "Checkout colour", "status": "active",
                                     "variations": LIVE_VARIATIONS}])
    desired = declared({"variations": [{"name": "Green", "distributionPercent": 50},
                                       {"name": "Blue"}]})
    async with session(app, config(tmp_path), (T,)) as s:
        plan = make_plan(s, desired, await read_live(s, desired))
    assert plan.changes == () and not plan.errors


async def test_differing_variations_are_manual_and_applying_writes_nothing(
        app: Starlette, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await load(client, experiments=[{"name": "Checkout colour", "status": "active",
                                     "variations": LIVE_VARIATIONS}])
    before = await stored(client, "experiment")
    desired = declared({"variations": [{"name": "Green", "distributionPercent": 70},
                                       {"name": "Red"}]})
    async with session(app, config(tmp_path), (T,)) as s:
        plan = make_plan(s, desired, await read_live(s, desired))
        (change,) = plan.changes
        assert change.action is Action.MANUAL and change.cost == 0
        assert {f.label: (f.before, f.after) for f in change.fields} == {
            "variations.Green.distributionPercent": (50, 70),
            "variations.Red": (None, {"name": "Red"}),
            "variations.Blue": ({"name": "Blue", "distributionPercent": 50}, None)}
        assert change.reason == (
            "the taplytics API cannot edit experiments: in the dashboard, change the "
            'variations: set "Green" distributionPercent to 70 (now 50), add "Red", '
            'remove "Blue"')
        result = await Executor(s.providers).apply(plan)
    assert [r.status for r in result.results] == ["manual"]
    endpoints = (await client.get("/_sandbox/stats")).json()["endpoints"]
    assert [e for e in endpoints if not e.startswith("GET ")] == []
    assert await stored(client, "experiment") == before


def test_imported_variations_plan_no_changes(workspace: Callable[..., Path]) -> None:
    ws = workspace({})
    plant(ws, {"experiments": [{"name": "Checkout colour", "status": "active",
                                "variations": LIVE_VARIATIONS},
                               {"name": "No variations yet"}]})
    code, out, err = tapsync(ws, "import", "--sandbox", "--out", "manifests",
                             "--provider", "taplytics")
    assert code == 0, err
    text = (ws / "manifests" / "taplytics" / "experiments.yaml").read_text(encoding="utf-8")
    assert "name: Blue" in text and "distributionPercent: 50" in text
    assert "dynamicVariables" not in text and "_id" not in text
    assert tapsync(ws, "validate")[0] == 0
    code, out, err = tapsync(ws, "plan", "--sandbox", "--detailed-exitcode")
    assert code == 0, out + err
