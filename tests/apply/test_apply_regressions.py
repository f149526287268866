"""Cases the convergence property found, pinned as plain examples.

Amplitude never lists a deleted event property (and reads it as ``Not found``), yet the
name stays taken until it is restored; and a deleted event type's properties cannot be
read at all until the event is restored. Each case must still converge in one apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tapsync.changes import Action
from tapsync.model import State
from tests.apply.support import (
    Round,
    Sandbox,
    connected,
    describe,
    failures,
    res,
    round_trip,
    workspace_config,
)
from tests.conftest import run


def converge(tmp: Path, live: dict[str, Any], desired: State) -> tuple[Round, dict[str, Any]]:
    sandbox = Sandbox()

    async def go() -> tuple[Round, dict[str, Any]]:
        await sandbox.fixtures(live)
        async with connected(sandbox, workspace_config(tmp)) as s:
            rnd = await round_trip(s, desired)
            return rnd, await sandbox.state()

    rnd, state = run(go())
    assert failures(rnd.result) == [], describe(rnd.plan)
    assert describe(rnd.replan) == [], describe(rnd.plan)
    return rnd, state


def test_redeclaring_a_deleted_event_property_restores_it(tmp_path: Path) -> None:
    live = {"event_types": ["Play"],
            "event_properties": [{"event_type": "Play", "event_property": "dur/1 %",
                                  "type": "string", "status": "deleted"},
                                 {"event_property": "shared “q”", "status": "deleted"}]}
    desired = State([res("event_type", "Play"),
                     res("event_property", "Play", "dur/1 %", type="number"),
                     res("event_property", "shared “q”", description="back")])
    rnd, state = converge(tmp_path, live, desired)
    assert [c.action for c in rnd.plan.changes] == [Action.CREATE, Action.CREATE]
    props = state["amplitude"]["event_property"]
    assert all(not p["deleted"] for p in props.values())


def test_restoring_an_event_brings_back_its_properties_and_honours_tombstones(
        tmp_path: Path) -> None:
    live = {"event_types": [{"event_type": "Old/Event", "status": "deleted"}],
            "event_properties": [
                {"event_type": "Old/Event", "event_property": "keep", "type": "string"},
                {"event_type": "Old/Event", "event_property": "drop", "status": "planned"},
                {"event_type": "Old/Event", "event_property": "gone", "status": "deleted"}]}
    desired = State([res("event_type", "Old/Event", description="back"),
                     res("event_property", "Old/Event", "keep", type="number"),
                     res("event_property", "Old/Event", "drop", absent=True),
                     res("event_property", "Old/Event", "gone", absent=True),
                     res("event_property", "Old/Event", "never", absent=True)])
    rnd, state = converge(tmp_path, live, desired)
    unseen = [c for c in rnd.plan.changes if c.meta.get("unseen")]
    assert {c.key.leaf for c in unseen} == {"drop", "gone", "never"}
    assert all(c.action is Action.DELETE and c.reason for c in unseen)
    props = state["amplitude"]["event_property"]
    assert {p["event_property"] for p in props.values() if not p["deleted"]} == {"keep"}


def test_renaming_onto_a_deleted_propertys_name_converges(tmp_path: Path) -> None:
    live = {"event_properties": [{"event_property": "old name", "type": "number"},
                                 {"event_property": "new name", "status": "deleted"}]}
    desired = State([res("event_property", "new name", renamed_from=("old name",),
                         type="string")])
    rnd, _ = converge(tmp_path, live, desired)
    assert [c.action for c in rnd.plan.changes] == [Action.RENAME]
