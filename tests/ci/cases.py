"""Plans and drift reports that exercise every branch of the CI renderers.

Built by the planner and :func:`tapsync.drift.build` themselves, from data, so the golden
files show what a user would really see. Manifest locations are real ``Source`` values
under ``/repo`` so that relative paths (``base="/repo"``) are exercised too.
"""

from __future__ import annotations

from tapsync import drift
from tapsync.changes import Plan
from tapsync.config import BudgetConfig
from tapsync.ignore import parse
from tapsync.model import Resource, ResourceKey, Source, State
from tapsync.planner import plan
from tests.plan_specs import SPECS

BASE = "/repo"
AMP = "/repo/manifests/amplitude.yaml"
TAP = "/repo/manifests/taplytics.yaml"


def _r(address: str, attrs: dict[str, object] | None = None, *, line: int = 0,
       file: str = AMP, fields: dict[str, int] | None = None, **kw: object) -> Resource:
    src = Source(file, line, 5) if line else None
    fsrc = {f: Source(file, n, 9) for f, n in (fields or {}).items()}
    return Resource(ResourceKey.parse(address), attrs or {}, source=src,  # type: ignore[arg-type]
                    field_sources=fsrc, **kw)


def desired() -> State:
    return State([
        _r('amplitude.category["Media"]', line=3),
        _r('amplitude.event_type["Play Song"]', {"category": "Media",
                                                 "description": "A song started playing"},
           line=6, fields={"category": 7, "description": 8}, renamed_from=("play_song",)),
        _r('amplitude.event_property["Play Song"]["genre"]',
           {"type": "enum", "enum_values": ["jazz", "pop", "rock"]}, line=10,
           fields={"type": 11, "enum_values": 12}),
        _r('amplitude.event_type["Search"]', {"description": "User searched"}, line=14,
           fields={"description": 15}),
        _r('amplitude.event_type["Checkout"]', line=17),
        _r('amplitude.event_type["Pipe | and `tick`"]', {"description": "a|b"}, line=19,
           fields={"description": 20}),
        _r('amplitude.user_property["legacy_flag"]', line=22, absent=True),
        _r('amplitude.user_property["is_legacy"]', {"type": "boolean"}, line=25,
           fields={"type": 26}),
        _r('taplytics.experiment["Checkout button colour"]', {"status": "paused"}, line=3,
           file=TAP, fields={"status": 4}),
        _r('taplytics.experiment["Never made"]', {"status": "active"}, line=6, file=TAP),
        _r('taplytics.push_campaign["winter-sale-2026"]',
           {"notification": {"alert": "20% off this weekend"}, "production": True},
           line=9, file=TAP, fields={"notification": 10}),
    ])


def live() -> State:
    return State([
        _r('amplitude.category["Media"]'),
        _r('amplitude.event_type["play_song"]', {"category": None, "description": ""}),
        _r('amplitude.event_property["play_song"]["genre"]',
           {"type": "enum", "enum_values": ["pop", "rock"]}),
        _r('amplitude.event_type["Search"]', {"description": ""}),
        _r('amplitude.event_type["Checkout"]', meta={"deleted": True}),
        _r('amplitude.event_type["Pipe | and `tick`"]', {"description": ""}),
        _r('amplitude.event_type["Debug Ping"]', meta={"status": "unexpected"}),
        _r('amplitude.event_type["Old Thing"]'),
        *(_r(f'amplitude.event_type["Scratch {i:02d}"]') for i in range(12)),
        _r('amplitude.user_property["legacy_flag"]', {"type": "boolean"}),
        _r('amplitude.user_property["device_id"]', meta={"builtin": True}),
        _r('taplytics.experiment["Checkout button colour"]', {"status": "active"}),
        _r('taplytics.push_campaign["autumn-sale-2025"]', {"notification": {"alert": "Old"}}),
    ])


def full_plan() -> Plan:
    return plan(desired(), live(), SPECS, reads={"amplitude": 6, "taplytics": 3},
                budgets={"amplitude": BudgetConfig(concurrent_cost=4, hourly_cost=7200)})


def empty_plan() -> Plan:
    return plan(State(), State(), SPECS)


def full_report() -> drift.DriftReport:
    return drift.build(desired(), live(), SPECS, ignore=parse('amplitude.event_type["Old*"]'),
                       reads={"amplitude": 24, "taplytics": 3}, base=BASE)


def empty_report() -> drift.DriftReport:
    d = State([_r('amplitude.category["Media"]', line=3)])
    return drift.build(d, State([_r('amplitude.category["Media"]')]), SPECS,
                       reads={"amplitude": 4}, base=BASE)
