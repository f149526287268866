"""The real Amplitude provider against the sandbox's *seed* edition (``--legacy-delete``):
the older Taxonomy API that requires ``event_type`` on every event-property call, has no
shared properties (their list is a 400), and deletes only planned items.

The sandbox refuses any event-property call without ``event_type`` there, so every
success below is also the witness that the provider sent it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tapsync.changes import Action
from tapsync.errors import ApiError, ProviderError
from tapsync.model import State
from tests.apply.support import (
    Sandbox,
    connected,
    describe,
    failures,
    res,
    round_trip,
    workspace_config,
)
from tests.conftest import run
from tests.test_provider_amplitude import change, key

EP = "GET /api/2/taxonomy/event-property"


def seed_sandbox() -> Sandbox:
    return Sandbox(legacy_delete=True)


def test_read_without_shared_properties_treats_the_refused_list_as_none(tmp_path: Path) -> None:
    sandbox = seed_sandbox()
    desired = State([res("event_type", "Play"), res("event_property", "Play", "dur")])

    async def go() -> tuple[State, dict[str, object]]:
        await sandbox.fixtures({"event_types": ["Play"], "event_properties": [
            {"event_type": "Play", "event_property": "dur", "type": "number"}]})
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            live = await s.providers["amplitude"].read(desired)
        return live, await sandbox.stats()
    live, stats = run(go())
    props = [r.key for r in live if r.key.kind == "event_property"]
    assert props == [key("event_property", "Play", "dur")]
    # the shared list, refused once; the per-event list answered
    assert stats["endpoints"][EP]["by_status"] == {"400": 1, "200": 1}  # type: ignore[index]


def test_read_with_declared_shared_properties_is_a_clear_error(tmp_path: Path) -> None:
    sandbox = seed_sandbox()
    desired = State([res("event_property", "plan", type="string"),
                     res("event_property", "tier", type="string")])

    async def go() -> None:
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            await s.providers["amplitude"].read(desired)
    with pytest.raises(ProviderError) as info:
        run(go())
    assert not isinstance(info.value, ApiError)
    text = str(info.value)
    for part in ('amplitude.event_property["plan"], amplitude.event_property["tier"]',
                 "older edition without shared properties",
                 "Missing required parameter: event_type",
                 "declare them under their event types"):
        assert part in text, text


def test_a_shared_tombstone_needs_no_shared_list(tmp_path: Path) -> None:
    """Declared absent, a shared property is already so where none can exist."""
    sandbox = seed_sandbox()
    desired = State([res("event_property", "old", absent=True)])

    async def go() -> State:
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            return await s.providers["amplitude"].read(desired)
    live = run(go())
    assert [r for r in live if r.key.kind == "event_property"] == []


def test_create_update_rename_delete_of_event_properties_send_event_type(tmp_path: Path) -> None:
    sandbox = seed_sandbox()
    prop = key("event_property", "Play", "dur")

    async def go() -> dict[str, object]:
        await sandbox.fixtures({"event_types": ["Play"]})
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            p = s.providers["amplitude"]
            await p.apply_change(change(Action.CREATE, prop, {"type": "number"}))
            await p.apply_change(change(Action.UPDATE, prop, {"description": "seconds"}))
            await p.apply_change(change(Action.RENAME, key("event_property", "Play", "length"),
                                        {}, from_key=prop))
            await p.apply_change(change(Action.CREATE, key("event_property", "Play", "gone"),
                                        {"type": "string"}))
            await p.apply_change(change(Action.DELETE, key("event_property", "Play", "gone")))
        return await sandbox.state()
    state = run(go())
    props = state["amplitude"]["event_property"]  # type: ignore[index]
    assert list(props) == ['["Play", "length"]']
    doc = props['["Play", "length"]']
    assert (doc["type"], doc["description"]) == ("number", "seconds")


def test_plan_apply_replan_round_trip_on_the_seed_edition(tmp_path: Path) -> None:
    """A manifest without shared properties converges in one apply, re-plan empty."""
    sandbox = seed_sandbox()
    desired = State([
        res("category", "Media"),
        res("event_type", "Play Song", category="Media", description="a song started"),
        res("event_type", "Pause"),
        res("event_property", "Play Song", "duration", type="number", is_required=True),
        res("event_property", "Play Song", "genre", type="enum", enum_values=["pop", "rock"]),
        res("event_property", "Pause", "at", type="number", description="offset"),
        res("event_property", "Pause", "stale", absent=True),
        res("user_property", "plan", type="string"),
    ])

    async def go() -> tuple[list[str], list[str], list[str], dict[str, object]]:
        await sandbox.fixtures({
            "event_types": [{"event_type": "Pause", "status": "planned"}],
            "event_properties": [
                {"event_type": "Pause", "event_property": "at", "status": "planned"},
                {"event_type": "Pause", "event_property": "stale", "status": "planned"}]})
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            done = await round_trip(s, desired)
        return (describe(done.plan), failures(done.result), describe(done.replan),
                await sandbox.stats())
    plan, failed, replan, stats = run(go())
    assert {line.split(" ", 1)[0] for line in plan} == {"create", "update", "delete"}, plan
    assert failed == []
    assert replan == []
    by_status = stats["by_status"]  # type: ignore[index]
    # the only errors: the shared list's refusal, once per full read (plan, re-plan)
    assert set(by_status) == {"200", "400"}, by_status
    assert by_status["400"] == stats["endpoints"][EP]["by_status"]["400"] == 2  # type: ignore[index]
