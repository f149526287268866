"""Names and texts with trailing blanks, which Amplitude keeps (issue 4.1), end to end.

The planner case ``tests/cases/plan/amplitude/normalise_trailing_whitespace.yaml`` shows
the comparison; this is the provider's half against the sandbox: a live event named with a
trailing blank is read under its name without it, plans nothing when only blanks differ,
and an update is sent to the name the service knows, not a second event created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tapsync.model import State
from tests.apply.support import (
    Sandbox,
    connected,
    describe,
    failures,
    plan_only,
    res,
    round_trip,
    workspace_config,
)

pytestmark = pytest.mark.anyio

LIVE: dict[str, Any] = {
    "event_types": [{"event_type": "Checkout ", "description": "Paid  ",
                     "display_name": "Checkout\t"}],
    "event_properties": [{"event_type": "Checkout ", "event_property": "amount ",
                          "description": "In cents "}],
}


async def test_only_trailing_blanks_differ_so_nothing_is_planned(tmp_path: Path) -> None:
    sandbox = Sandbox()
    await sandbox.fixtures(LIVE)
    desired = State([res("event_type", "Checkout", description="Paid", display_name="Checkout"),
                     res("event_property", "Checkout", "amount", description="In cents")])
    async with connected(sandbox, workspace_config(tmp_path)) as s:
        assert describe(await plan_only(s, desired)) == []


async def test_an_update_is_sent_to_the_name_the_service_keeps(tmp_path: Path) -> None:
    sandbox = Sandbox()
    await sandbox.fixtures(LIVE)
    desired = State([res("event_type", "Checkout", description="Paid by card",
                         display_name="Checkout"),
                     res("event_property", "Checkout", "amount", description="In cents")])
    async with connected(sandbox, workspace_config(tmp_path)) as s:
        rnd = await round_trip(s, desired)
    assert describe(rnd.plan) == ['update amplitude.event_type["Checkout"] [\'description\']']
    assert failures(rnd.result) == [] and describe(rnd.replan) == []
    state = await sandbox.admin("GET", "/state")
    events = {e["event_type"]: e for e in state["amplitude"]["event"].values()}
    assert sorted(events) == ["Checkout "], events
    assert events["Checkout "]["description"] == "Paid by card"
    props = [(p["event_type"], p["event_property"])
             for p in state["amplitude"]["event_property"].values()]
    assert props == [("Checkout ", "amount ")]     # still under the event's live name
