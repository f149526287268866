"""Property: any manifest × any live state converges in ONE apply (re-plan is empty).

Random desired states (categories, event types with properties, shared properties, user
properties; some tombstones, some ``renamed_from``) meet random live states planted in the
sandbox (planned, live and deleted objects, with values the manifest may or may not own).
Names carry the characters that break naive clients: spaces, ``/``, ``%``, ``?``, ``#``,
quotes, non-ASCII. Enum values never hold commas (the API cannot carry them).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapsync.engine import SANDBOX_CREDENTIALS, apply_plan, converge, make_plan, read_live
from tapsync.executor import Journal
from tapsync.model import Resource, ResourceKey, State
from tapsync.sandbox import create_app
from tapsync.sandbox.app import serve_in_thread
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
from tests.ci.support import tapsync
from tests.conftest import run
from tests.sandboxed import session

SANDBOX_AUTH = (SANDBOX_CREDENTIALS["amplitude"]["api_key"],
                SANDBOX_CREDENTIALS["amplitude"]["secret_key"])

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

    async def go() -> tuple[list[str], list[str], list[str], list[str]]:
        await sandbox.fixtures(scenario.live)
        async with connected(sandbox, cfg) as s:
            rnd = await round_trip(s, scenario.desired)
            after = await converge(s, scenario.desired, rnd.plan)
            return (describe(rnd.plan), failures(rnd.result), describe(rnd.replan),
                    describe(after))

    plan, failed, replan, converged = run(go())
    assert failed == [], f"plan: {plan}"
    assert replan == [], f"plan: {plan}"
    assert converged == [], f"plan: {plan}"   # the narrowed read agrees with the full one


# ------------------------------------------------------------ narrowed convergence reads

def _gets(stats: dict[str, Any]) -> dict[str, int]:
    """GET calls per endpoint, as the sandbox counted them."""
    return {label.split(" ", 1)[1]: e["count"] for label, e in stats["endpoints"].items()
            if label.startswith("GET ")}


def test_converge_reads_only_the_event_types_whose_properties_were_touched(
        tmp_path: Path) -> None:
    names = [f"Event {i:02d}" for i in range(50)]
    live = {"event_types": names,
            "event_properties": [{"event_type": n, "event_property": "dur", "type": "number"}
                                 for n in names]}
    touched = {"Event 07", "Event 31"}
    desired = State([
        *(res("event_type", n) for n in names),
        *(res("event_property", n, "dur", type="number", description="seconds played")
          for n in names if n in touched),
        *(res("event_property", n, "dur", type="number") for n in names if n not in touched)])
    sandbox = Sandbox()

    async def go() -> tuple[list[str], list[str], dict[str, int], int, dict[str, int]]:
        await sandbox.fixtures(live)
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            plan = await plan_only(s, desired)
            result = await apply_plan(s, plan, journal=Journal(None))
            await sandbox.admin("DELETE", "/stats")
            before = s.clients["amplitude"].stats.reads
            after = await converge(s, desired, plan)
            client_reads = s.clients["amplitude"].stats.reads - before
            narrowed = _gets(await sandbox.stats())
            await sandbox.admin("DELETE", "/stats")
            await read_live(s, desired)
            full = _gets(await sandbox.stats())
        return describe(plan), failures(result) + describe(after), narrowed, client_reads, full

    plan, problems, narrowed, client_reads, full = run(go())
    assert plan == [f'update amplitude.event_property["{n}"]["dur"] [\'description\']'
                    for n in sorted(touched)]
    assert problems == []
    # the event list (the parents' names and status) and the two touched property lists
    assert narrowed == {"/api/2/taxonomy/event": 1, "/api/2/taxonomy/event-property": 2}
    assert client_reads == 3
    assert sum(full.values()) == 4 + 50   # what the full read would have cost
    assert sum(narrowed.values()) < sum(full.values())


def _undo_script() -> tuple[dict[str, Any], State]:
    live = {"categories": ["Media"],
            "event_types": [{"event_type": "play_song", "category": "Media"},
                            "Gone", {"event_type": "Back", "status": "deleted"}],
            "event_properties": [{"event_type": "play_song", "event_property": "dur",
                                  "type": "number"}],
            "user_properties": ["old_plan"]}
    desired = State([
        res("category", "Media"),
        res("event_type", "Play Song", renamed_from=("play_song",), category="Media"),
        res("event_property", "Play Song", "dur", type="number", description="seconds"),
        res("event_type", "Gone", absent=True),
        res("event_type", "Back", description="restored"),
        res("user_property", "plan", renamed_from=("old_plan",), type="string")])
    return live, desired


async def _taxonomy(sandbox: Sandbox, method: str, path: str,
                    form: dict[str, str] | None = None) -> None:
    """Someone else edits the project through the API between apply and convergence."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app),
                                 base_url="http://sandbox", auth=SANDBOX_AUTH) as c:
        response = await c.request(method, "/api/2/taxonomy" + path, data=form)
    assert response.status_code == 200, response.text


def test_converge_is_exact_for_renames_deletes_and_restores(tmp_path: Path) -> None:
    """Converged, the narrowed read finds every new name and no old one; undone behind
    apply's back, it reports what a full read reports, change for change."""
    live, desired = _undo_script()
    sandbox = Sandbox()

    async def go() -> tuple[list[str], list[str], list[str], list[str]]:
        await sandbox.fixtures(live)
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            plan = await plan_only(s, desired)
            result = await apply_plan(s, plan, journal=Journal(None))
            assert failures(result) == [], describe(plan)
            converged = describe(await converge(s, desired, plan))
            await _taxonomy(sandbox, "PUT", "/event/Play%20Song",
                            {"new_event_type": "play_song"})
            await _taxonomy(sandbox, "POST", "/event/Gone/restore")
            await _taxonomy(sandbox, "DELETE", "/event/Back")
            await _taxonomy(sandbox, "PUT", "/user-property/plan",
                            {"new_user_property_value": "old_plan"})
            narrowed = describe(await converge(s, desired, plan))
            full = describe(make_plan(s, desired, await read_live(s, desired),
                                      targets=[c.key for c in plan.changes]))
        return describe(plan), converged, narrowed, full

    plan, converged, narrowed, full = run(go())
    undone = {"rename amplitude.event_type[\"Play Song\"]",
              "restore amplitude.event_type[\"Back\"]",
              "rename amplitude.user_property[\"plan\"]",
              "delete amplitude.event_type[\"Gone\"]"}
    assert {p.rsplit(" [", 1)[0] for p in plan} == {
        *undone, "update amplitude.event_property[\"Play Song\"][\"dur\"]"}
    assert converged == []
    assert narrowed == full
    assert {p.rsplit(" [", 1)[0] for p in narrowed} == undone


def test_a_field_the_service_stores_differently_is_named_by_the_re_plan(
        tmp_path: Path) -> None:
    """Between apply and the convergence read, the stored row is rewritten (through the
    sandbox's admin panel): the re-plan names the object and the field."""
    sandbox = Sandbox()
    desired = State([res("event_type", "Play Song", description="new words"),
                     res("event_type", "Log In", description="same")])

    async def go() -> tuple[list[str], list[str]]:
        await sandbox.fixtures({"event_types": [
            {"event_type": "Play Song", "description": "old words"},
            {"event_type": "Log In", "description": "same"}]})
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            plan = await plan_only(s, desired)
            await apply_plan(s, plan, journal=Journal(None))
            await sandbox.fixtures({"event_types": [
                {"event_type": "Play Song", "description": "new words, trimmed by a rule"}]})
            return describe(plan), describe(await converge(s, desired, plan))

    plan, after = run(go())
    assert plan == ['update amplitude.event_type["Play Song"] [\'description\']']
    assert after == plan


def test_converge_finds_a_parent_renamed_back_through_its_renamed_from(
        tmp_path: Path) -> None:
    """Only a property was touched, under an event type renamed by an earlier apply; the
    rename is undone before the convergence read. Its properties are then listed under
    the old name, which only the manifest's ``renamed_from`` tells the narrowed read."""
    sandbox = Sandbox()
    desired = State([res("event_type", "Play Song", renamed_from=("play_song",)),
                     res("event_property", "Play Song", "dur", description="seconds")])

    async def go() -> tuple[list[str], list[str], list[str]]:
        await sandbox.fixtures({"event_types": ["Play Song"], "event_properties": [
            {"event_type": "Play Song", "event_property": "dur"}]})
        async with connected(sandbox, workspace_config(tmp_path)) as s:
            plan = await plan_only(s, desired)
            await apply_plan(s, plan, journal=Journal(None))
            await _taxonomy(sandbox, "PUT", "/event/Play%20Song",
                            {"new_event_type": "play_song"})
            full = make_plan(s, desired, await read_live(s, desired),
                             targets=[c.key for c in plan.changes])
            return describe(plan), describe(await converge(s, desired, plan)), describe(full)

    plan, narrowed, full = run(go())
    assert plan == ['update amplitude.event_property["Play Song"]["dur"] [\'description\']']
    assert narrowed == full == []


class RewritesAfterWrite:
    """A service that keeps another value than the one written: once a write to ``path``
    has been answered, the stored row is replaced through the sandbox's admin panel."""

    def __init__(self, app: Any, path: str, fixture: dict[str, Any]) -> None:
        self.app, self.path, self.fixture = app, path, fixture

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http" and scope["method"] in ("PUT", "POST") \
                and scope["path"] == self.path:
            await Sandbox(self.app).fixtures(self.fixture)


@pytest.mark.socket
def test_apply_exits_1_naming_the_address_and_field_that_did_not_converge(
        workspace: Callable[..., Path]) -> None:
    ws = workspace({"manifests/a.yaml": (
        "amplitude:\n  event_types:\n    - name: Play Song\n      description: new words\n"
        "    - name: Log In\n      description: same\n")})
    app = create_app()
    run(Sandbox(app).fixtures({"event_types": [
        {"event_type": "Play Song", "description": "old words"},
        {"event_type": "Log In", "description": "same"}]}))
    served = RewritesAfterWrite(app, "/api/2/taxonomy/event/Play Song", {"event_types": [
        {"event_type": "Play Song", "description": "new words, as a server rule rewrote them"}]})
    with serve_in_thread(served) as url:  # type: ignore[arg-type]
        code, out, err = tapsync(ws, "apply", "--auto-approve", env={
            "TAPSYNC_AMPLITUDE_BASE_URL": url, "AMPLITUDE_API_KEY": SANDBOX_AUTH[0],
            "AMPLITUDE_SECRET_KEY": SANDBOX_AUTH[1]})
    assert code == 1, (out, err)
    assert "Apply complete: 1 applied, 0 failed, 0 skipped." in out
    assert "did not converge" in err
    assert 'amplitude.event_type["Play Song"]: description' in err
    assert "Log In" not in err


def test_taplytics_converge_reads_only_the_touched_users(tmp_path: Path) -> None:
    """The default narrowed read (a workspace declaring only the targets): the experiment
    list, which Taplytics always reads, and the one touched user, not all twenty."""
    users = [f"qa-{i:02d}" for i in range(20)]
    sandbox = Sandbox()
    desired = State([Resource(ResourceKey("taplytics", "user", (u,)),
                              {"custom_data": {"tier": "gold" if u == "qa-07" else "free"}})
                     for u in users])

    async def go() -> tuple[list[str], list[str], int, int]:
        await sandbox.admin("POST", "/fixtures", {"taplytics": {"users": [
            {"user_id": u, "custom_data": {"tier": "free"}} for u in users]}})
        async with session(sandbox.app, workspace_config(tmp_path), ("taplytics",)) as s:
            plan = await plan_only(s, desired)
            await apply_plan(s, plan, journal=Journal(None))
            api = s.clients["taplytics"]
            before = api.stats.reads
            after = await converge(s, desired, plan)
            narrowed = api.stats.reads - before
            await read_live(s, desired)
            return describe(plan), describe(after), narrowed, api.stats.reads - before - narrowed

    plan, after, narrowed, full = run(go())
    assert plan == ['update taplytics.user["qa-07"] [\'custom_data.tier\']']
    assert after == []
    assert (narrowed, full) == (2, 21)
