"""Property: any manifest × any live state converges in ONE apply (re-plan is empty).

Random desired states (categories, event types with properties, shared properties, user
properties; some tombstones, some ``renamed_from``) meet random live states planted in the
sandbox (planned, live and deleted objects, with values the manifest may or may not own).
Names carry the characters that break naive clients: spaces, ``/``, ``%``, ``?``, ``#``,
quotes, non-ASCII. Enum values never hold commas (the API cannot carry them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapsync.model import Resource, State
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

EVENTS = ["Play Song", "a/b", "100% done", 'say "hi"', "naïve ü", "it's", "x?y#z", "日本語"]
CATEGORIES = ["Media", "x/y cat", "Ünï %"]
PROPERTIES = ["dur", "p/1 %", "q'1", "ünï", "a b", "h#sh"]
ENUM_VALUES = ["a", "b b", "ü", "x/y", "100%", 'q"', "it's"]
DESCRIPTIONS = ["", "d", "two words", "ünï “q”", "with, comma"]
REGEXES = ["", "^[a-z]+$", "^(free|pro)$"]
TYPES = ["string", "number", "boolean", "enum", "any"]
STATUSES = ["planned", "live", "unexpected", "deleted"]
TAGS = ["t1", "two words", "ü/x"]


@st.composite
def property_attrs(draw: st.DrawFn, *, user: bool = False) -> dict[str, Any]:
    """Owned fields of a property: a random subset, consistent with its type."""
    out: dict[str, Any] = {}
    kind = draw(st.sampled_from([*TYPES, None]))
    if kind is not None:
        out["type"] = kind
    if kind == "enum" and draw(st.booleans()):
        out["enum_values"] = draw(st.lists(st.sampled_from(ENUM_VALUES), max_size=3,
                                           unique=True))
    if kind == "string" and draw(st.booleans()):
        out["regex"] = draw(st.sampled_from(REGEXES))
    if draw(st.booleans()):
        out["description"] = draw(st.sampled_from(DESCRIPTIONS))
    if draw(st.booleans()):
        out["is_array_type"] = draw(st.booleans())
    if not user and draw(st.booleans()):
        out["is_required"] = draw(st.booleans())
    return out


class Scenario:
    def __init__(self, live: dict[str, Any], desired: State) -> None:
        self.live = live
        self.desired = desired

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        lines = [f"live={self.live!r}", "desired="]
        for r in self.desired:
            extra = " ABSENT" if r.absent else (f" renamed_from={r.renamed_from}"
                                               if r.renamed_from else "")
            lines.append(f"  {r.key.address}{extra} {dict(r.attrs)}")
        return "\n".join(lines)


@st.composite
def live_states(draw: st.DrawFn) -> dict[str, Any]:
    cats = draw(st.lists(st.sampled_from(CATEGORIES), max_size=2, unique=True))
    events: list[dict[str, Any]] = []
    props: list[dict[str, Any]] = []
    for name in draw(st.lists(st.sampled_from(EVENTS), max_size=4, unique=True)):
        ev: dict[str, Any] = {"event_type": name, "status": draw(st.sampled_from(STATUSES))}
        if draw(st.booleans()):
            ev["description"] = draw(st.sampled_from(DESCRIPTIONS))
        if cats and draw(st.booleans()):
            ev["category"] = draw(st.sampled_from(cats))
        events.append(ev)
        for pname in draw(st.lists(st.sampled_from(PROPERTIES), max_size=2, unique=True)):
            props.append({"event_type": name, "event_property": pname,
                          "status": draw(st.sampled_from(STATUSES)),
                          **draw(property_attrs())})
    for pname in draw(st.lists(st.sampled_from(PROPERTIES), max_size=2, unique=True)):
        props.append({"event_property": pname, "status": draw(st.sampled_from(STATUSES)),
                      **draw(property_attrs())})
    users = [{"user_property": n, "status": draw(st.sampled_from(STATUSES)),
              **draw(property_attrs(user=True))}
             for n in draw(st.lists(st.sampled_from(PROPERTIES), max_size=3, unique=True))]
    return {"categories": cats, "event_types": events, "event_properties": props,
            "user_properties": users}


def _renamed_from(draw: st.DrawFn, candidates: list[str]) -> tuple[str, ...]:
    """Maybe rename from one live name that nothing else declares (each used once)."""
    if not candidates or not draw(st.booleans()):
        return ()
    old = draw(st.sampled_from(candidates))
    candidates.remove(old)
    return (old,)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    live = draw(live_states())
    out: list[Resource] = []

    live_cats = list(live["categories"])
    cats = draw(st.lists(st.sampled_from(CATEGORIES), max_size=2, unique=True))
    spare = [c for c in live_cats if c not in cats]
    for c in cats:
        out.append(res("category", c, renamed_from=_renamed_from(draw, spare)))
    for c in spare:  # live categories nobody declares: maybe tombstoned
        if draw(st.booleans()):
            out.append(res("category", c, absent=True))

    live_events = [e["event_type"] for e in live["event_types"]]
    names = draw(st.lists(st.sampled_from(EVENTS), max_size=4, unique=True))
    spare = [e for e in live_events if e not in names]
    for name in names:
        if draw(st.integers(0, 5)) == 0:
            out.append(res("event_type", name, absent=True))
            continue
        attrs: dict[str, Any] = {}
        if draw(st.booleans()):
            attrs["description"] = draw(st.sampled_from(DESCRIPTIONS))
        if draw(st.booleans()):
            attrs["category"] = draw(st.sampled_from([*cats, ""]))
        if draw(st.integers(0, 3)) == 0:
            attrs["tags"] = draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True))
        if draw(st.integers(0, 3)) == 0:
            attrs["owner"] = draw(st.sampled_from(DESCRIPTIONS))
        renamed = _renamed_from(draw, spare)
        out.append(res("event_type", name, renamed_from=renamed, **attrs))
        old_name = renamed[0] if renamed else name
        spare_props = [p["event_property"] for p in live["event_properties"]
                       if p.get("event_type") == old_name]
        pnames = draw(st.lists(st.sampled_from(PROPERTIES), max_size=3, unique=True))
        spare_props = [p for p in spare_props if p not in pnames]
        for pname in pnames:
            if draw(st.integers(0, 4)) == 0:
                out.append(res("event_property", name, pname, absent=True))
            else:
                out.append(res("event_property", name, pname,
                               renamed_from=_renamed_from(draw, spare_props),
                               **draw(property_attrs())))

    shared = draw(st.lists(st.sampled_from(PROPERTIES), max_size=2, unique=True))
    spare = [p["event_property"] for p in live["event_properties"]
             if p.get("event_type") is None and p["event_property"] not in shared]
    for pname in shared:
        if draw(st.integers(0, 4)) == 0:
            out.append(res("event_property", pname, absent=True))
        else:
            out.append(res("event_property", pname, renamed_from=_renamed_from(draw, spare),
                           **draw(property_attrs())))

    live_users = [u["user_property"] for u in live["user_properties"]]
    users = draw(st.lists(st.sampled_from(PROPERTIES), max_size=3, unique=True))
    spare = [u for u in live_users if u not in users]
    for uname in users:
        if draw(st.integers(0, 4)) == 0:
            out.append(res("user_property", uname, absent=True))
        else:
            out.append(res("user_property", uname, renamed_from=_renamed_from(draw, spare),
                           **draw(property_attrs(user=True))))
    return Scenario(live, State(out))


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenario=scenarios())
def test_any_manifest_converges_in_one_apply(tmp_path: Path, scenario: Scenario) -> None:
    cfg = workspace_config(tmp_path)
    sandbox = Sandbox()

    async def go() -> tuple[list[str], list[str], list[str]]:
        await sandbox.fixtures(scenario.live)
        async with connected(sandbox, cfg) as s:
            rnd = await round_trip(s, scenario.desired)
            return describe(rnd.plan), failures(rnd.result), describe(rnd.replan)

    plan, failed, replan = run(go())
    assert failed == [], f"plan: {plan}"
    assert replan == [], f"plan: {plan}"
