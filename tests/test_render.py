"""Renderers against golden files (``tests/golden/plan_*``).

A full plan is built by the planner itself, from inputs that exercise every action, so the
golden text is what a user would really see. Set ``TAPSYNC_UPDATE_GOLDEN=1`` to rewrite the
files after an intended change, then review the diff.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from tapsync.changes import Plan, ProviderCost
from tapsync.config import BudgetConfig
from tapsync.model import Resource, ResourceKey, State
from tapsync.planner import plan
from tapsync.render import PLAN_RENDERERS, render_plan
from tapsync.render.text import cost_line, summary_line
from tests.plan_specs import SPECS

GOLDEN = Path(__file__).parent / "golden"


def _r(address: str, attrs: dict[str, object] | None = None, **kw: object) -> Resource:
    return Resource(ResourceKey.parse(address), attrs or {}, **kw)  # type: ignore[arg-type]


def full_plan() -> Plan:
    desired = State([
        _r('amplitude.category["Media"]'),
        _r('amplitude.event_type["Play Song"]', {"category": "Media",
                                                 "description": "A song started playing"},
           renamed_from=("play_song",)),
        _r('amplitude.event_property["Play Song"]["genre"]',
           {"type": "enum", "enum_values": ["jazz", "pop", "rock"]}),
        _r('amplitude.event_type["Search"]', {"description": "User searched"}),
        _r('amplitude.event_type["Checkout"]'),
        _r('amplitude.user_property["legacy_flag"]', absent=True),
        _r('amplitude.user_property["is_legacy"]', {"type": "boolean"}),
        _r('taplytics.experiment["Checkout button colour"]', {"status": "paused"}),
        _r('taplytics.push_campaign["winter-sale-2026"]',
           {"notification": {"alert": "20% off this weekend"}, "production": True}),
        _r('taplytics.push_campaign["autumn-sale-2025"]', {"notification": {"alert": "New"}}),
    ])
    live = State([
        _r('amplitude.event_type["play_song"]', {"category": None, "description": ""}),
        _r('amplitude.event_property["play_song"]["genre"]',
           {"type": "enum", "enum_values": ["pop", "rock"]}),
        _r('amplitude.event_type["Search"]', {"description": ""}),
        _r('amplitude.event_type["Checkout"]', meta={"deleted": True}),
        _r('amplitude.event_type["Debug Ping"]'),
        _r('amplitude.user_property["legacy_flag"]', {"type": "boolean"}),
        _r('taplytics.experiment["Checkout button colour"]', {"status": "active"}),
        _r('taplytics.push_campaign["autumn-sale-2025"]', {"notification": {"alert": "Old"}}),
    ])
    return plan(desired, live, SPECS, reads={"amplitude": 6, "taplytics": 3},
                budgets={"amplitude": BudgetConfig(concurrent_cost=4, hourly_cost=7200)})


CASES = {"empty": lambda: plan(State(), State(), SPECS), "full": full_plan}


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TAPSYNC_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(("fmt", "ext"), [("text", "txt"), ("json", "json")])
def test_plan_renders_like_the_golden_file(case: str, fmt: str, ext: str) -> None:
    out = io.StringIO()
    render_plan(fmt, CASES[case](), out)
    _check(f"plan_{case}.{ext}", out.getvalue())


def test_colours_only_when_asked() -> None:
    plain, coloured = io.StringIO(), io.StringIO()
    PLAN_RENDERERS["text"](full_plan(), plain)
    PLAN_RENDERERS["text"](full_plan(), coloured, color=True)
    assert "\x1b[" not in plain.getvalue()
    assert '\x1b[32m+ amplitude.category["Media"]\x1b[0m' in coloured.getvalue()
    assert "\x1b[31m- amplitude.user_property" in coloured.getvalue()
    assert "\x1b[35m! taplytics.push_campaign" in coloured.getvalue()
    assert "\x1b[36m» amplitude.event_type" in coloured.getvalue()
    assert "\x1b[33m~ amplitude.event_type" in coloured.getvalue()
    stripped = coloured.getvalue()
    for code in ("\x1b[0m", "\x1b[1m", "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[35m",
                 "\x1b[36m"):
        stripped = stripped.replace(code, "")
    assert stripped == plain.getvalue()


def test_summary_line_appends_only_non_zero_extras() -> None:
    assert summary_line(Plan()) == "Plan: 0 to create, 0 to update, 0 to rename, 0 to delete."
    assert summary_line(full_plan()) == ("Plan: 2 to create, 2 to update, 1 to rename, "
                                         "1 to delete, 1 to restore, 1 to send, 1 manual.")


def test_json_is_the_planfile_envelope() -> None:
    out = io.StringIO()
    render_plan("json", full_plan(), out)
    d = json.loads(out.getvalue())
    assert d["format_version"] == "1"
    assert d["summary"]["send"] == 1


def test_cost_header_for_one_provider_reads_like_the_contract_example() -> None:
    cost = ProviderCost(reads=70, writes=144, hourly_budget=7200, concurrent_limit=4,
                        estimated_seconds=9.0)
    assert cost_line(Plan(costs={"amplitude": cost})) == (
        "This plan costs 214 units: 3 % of the hourly budget; about 9 s at the concurrent "
        "limit.")
