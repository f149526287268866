"""The stale check of a saved plan (``engine.check_stale``) against the in-process sandbox.

Checked straight after planning, with nothing changed, a plan is never stale, whatever
it does; in particular a change to a child of a renamed event type, which the plan names
under the parent's new name while the object still lives under the old one (its
``meta["live_address"]``). And an edit of that child behind the plan's back is still
found, even when the manifest no longer says where the parent came from.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tapsync.changes import Plan
from tapsync.engine import check_stale
from tapsync.errors import StalePlanError
from tapsync.model import Resource, State
from tests.apply.support import Sandbox, connected, describe, plan_only, res, workspace_config
from tests.apply.test_apply_convergence import Scenario, _taxonomy, scenarios
from tests.conftest import run

LIVE = {"event_types": ["play_song"],
        "event_properties": [
            {"event_type": "play_song", "event_property": "genre", "type": "string"},
            {"event_type": "play_song", "event_property": "dur", "type": "number"},
            {"event_type": "play_song", "event_property": "old", "type": "string"}]}
PARENT = res("event_type", "Play Song", renamed_from=("play_song",))
#: the parent renamed, and under it one child of each kind of change a plan can name
#: by the new parent while the child still lives under the old one
CHILDREN: list[Resource] = [
    res("event_property", "Play Song", "genre", type="enum", enum_values=["rock", "pop"]),
    res("event_property", "Play Song", "dur", absent=True),
    res("event_property", "Play Song", "new", renamed_from=("old",), type="string")]
PLANNED = ['rename amplitude.event_type["Play Song"] []',
           'update amplitude.event_property["Play Song"]["genre"] [\'type\', \'enum_values\']',
           'delete amplitude.event_property["Play Song"]["dur"] []',
           'rename amplitude.event_property["Play Song"]["new"] []']


async def _planned(sandbox: Sandbox, tmp_path: Path) -> Plan:
    await sandbox.fixtures(LIVE)
    async with connected(sandbox, workspace_config(tmp_path)) as s:
        return await plan_only(s, State([PARENT, *CHILDREN]))


async def _stale(sandbox: Sandbox, tmp_path: Path, desired: State, plan: Plan) -> str:
    """What the stale check refuses the plan for ("" when it passes)."""
    async with connected(sandbox, workspace_config(tmp_path)) as s:
        try:
            await check_stale(s, desired, plan)
        except StalePlanError as exc:
            return str(exc)
    return ""


@pytest.mark.parametrize("manifest", ["unchanged", "renamed_from dropped", "emptied"])
def test_children_of_a_renamed_parent_are_not_stale_straight_after_planning(
        tmp_path: Path, manifest: str) -> None:
    """Each child is checked where it was read (``play_song``), not where the plan puts
    it (``Play Song``, which does not exist yet). The old parent's property list is read
    because the plan says so, not only because the manifest still has ``renamed_from``."""
    desired = {"unchanged": State([PARENT, *CHILDREN]),
               "renamed_from dropped": State([res("event_type", "Play Song"), *CHILDREN]),
               "emptied": State()}[manifest]
    sandbox = Sandbox()

    async def go() -> tuple[list[str], str]:
        plan = await _planned(sandbox, tmp_path)
        return describe(plan), await _stale(sandbox, tmp_path, desired, plan)

    plan, stale = run(go())
    assert sorted(plan) == sorted(PLANNED)
    assert stale == ""


@pytest.mark.parametrize("child", ["genre", "dur", "old"])
def test_an_edit_of_a_child_under_the_old_parent_makes_the_plan_stale(
        tmp_path: Path, child: str) -> None:
    sandbox = Sandbox()

    async def go() -> str:
        plan = await _planned(sandbox, tmp_path)
        await _taxonomy(sandbox, "PUT", f"/event-property/{child}",
                        {"event_type": "play_song", "description": "someone else's"})
        return await _stale(sandbox, tmp_path, State(), plan)

    stale = run(go())
    assert stale.startswith("stale plan: these objects changed since it was made, nothing "
                            f'was written: amplitude.event_property["play_song"]["{child}"];')


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenario=scenarios())
def test_a_plan_checked_straight_after_planning_is_never_stale(
        tmp_path: Path, scenario: Scenario) -> None:
    """Any manifest × any live state of the convergence property (renames of parents and
    children, restores, deletes, odd names)."""
    sandbox = Sandbox()

    async def go() -> tuple[list[str], str]:
        await sandbox.fixtures(scenario.live)
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            plan = await plan_only(s, scenario.desired)
        return describe(plan), await _stale(sandbox, tmp_path, scenario.desired, plan)

    plan, stale = run(go())
    assert stale == "", f"plan: {plan}"
