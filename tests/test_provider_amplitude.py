"""The Amplitude provider against the sandbox app, in process: reads, writes, editions."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tapsync.changes import Action, Change, FieldChange
from tapsync.errors import ApiError
from tapsync.model import Resource, ResourceKey, State
from tapsync.sandbox import create_app
from tests.conftest import run
from tests.sandboxed import config, session

A = "amplitude"


def key(kind: str, *name: str) -> ResourceKey:
    return ResourceKey(A, kind, name)


def change(action: Action, k: ResourceKey, after: dict[str, object] | None = None,
           **kw: object) -> Change:
    fields = tuple(FieldChange((f,), None, v) for f, v in (after or {}).items())
    return Change(action, k, None, after, fields=fields, **kw)  # type: ignore[arg-type]


def admin(app: object, method: str, path: str, **kw: object) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
            return await c.request(method, path, **kw)  # type: ignore[arg-type]
    return run(go())


def gets(app: object) -> dict[str, int]:
    """GET calls per endpoint (query strings aside), as the sandbox itself counted them."""
    stats = admin(app, "GET", "/_sandbox/stats").json()
    return {label.split(" ", 1)[1].removeprefix("/api/2/taxonomy"): e["count"]
            for label, e in stats["endpoints"].items() if label.startswith("GET ")}


LISTS = {"/category": 1, "/event": 1, "/user-property": 1}


def test_read_empty_project_costs_four_list_calls(tmp_path: Path) -> None:
    app = create_app()

    async def go() -> tuple[State, int]:
        async with session(app, config(tmp_path)) as s:
            live = await s.providers[A].read(State())
            return live, s.clients[A].stats.reads
    live, reads = run(go())
    assert [r for r in live if not r.meta.get("builtin")] == []
    assert reads == 4
    assert gets(app) == {**LISTS, "/event-property": 1}   # the shared properties' list


LIVE_EVENTS = [f"E{i:02d}" for i in range(12)]


@pytest.mark.parametrize(("prune", "listed"), [
    # declared E00 (with a property), E01 (none), New ← E02 (renamed_from); E11 is
    # declared but deleted live: its properties cannot be read
    (False, {"E00", "E01", "E02"}),
    # prune: every live event type's properties may be pruned, so all are listed
    (True, set(LIVE_EVENTS) - {"E11"}),
])
def test_read_lists_properties_of_the_event_types_the_manifests_need(
        tmp_path: Path, prune: bool, listed: set[str]) -> None:
    """Four list calls, then one property list per event type the manifests need (never
    one per live event type), counted by the sandbox."""
    app = create_app()
    admin(app, "POST", "/_sandbox/fixtures", json={"amplitude": {
        "event_types": [*LIVE_EVENTS[:11], {"event_type": "E11", "status": "deleted"}],
        "event_properties": [{"event_type": e, "event_property": "p"}
                             for e in LIVE_EVENTS]}})
    desired = State([Resource(key("event_type", "E00")),
                     Resource(key("event_property", "E00", "p"), {"type": "any"}),
                     Resource(key("event_type", "E01")),
                     Resource(key("event_type", "New"), renamed_from=("E02",)),
                     Resource(key("event_type", "E11"))])

    async def go() -> State:
        async with session(app, config(tmp_path)) as s:
            return await s.providers[A].read(desired, prune=prune)
    live = run(go())
    assert gets(app) == {**LISTS, "/event-property": 1 + len(listed)}
    assert {r.key.name[0] for r in live
            if r.key.kind == "event_property" and len(r.key.name) == 2} == listed


@pytest.mark.parametrize(("target", "lists"), [
    # a property: its event type's list (the parent's name and status matter), and its
    # own event type's property list
    (key("event_property", "E07", "p"), {"/event": 1, "/event-property": 1}),
    # …and the categories, when that event type names one (a change to it needs it)
    (key("event_property", "E05", "p"), {"/category": 1, "/event": 1, "/event-property": 1}),
    (key("event_type", "E03"), {"/category": 1, "/event": 1, "/event-property": 1}),
    (key("event_property", "shared"), {"/event-property": 1}),
    (key("user_property", "plan"), {"/user-property": 1}),
    (key("category", "Media"), {"/category": 1}),
])
def test_read_some_lists_only_what_a_re_plan_of_the_targets_needs(
        tmp_path: Path, target: ResourceKey, lists: dict[str, int]) -> None:
    app = create_app()
    admin(app, "POST", "/_sandbox/fixtures", json={"amplitude": {
        "categories": ["Media"],
        "event_types": [{"event_type": e, "category": "Media"} for e in LIVE_EVENTS[:6]]
        + LIVE_EVENTS[6:],
        "event_properties": [*({"event_type": e, "event_property": "p"}
                               for e in LIVE_EVENTS), "shared"],
        "user_properties": ["plan"]}})
    desired = State([*(Resource(key("event_type", e), {"category": "Media"})
                       for e in LIVE_EVENTS[:6]),
                     *(Resource(key("event_type", e)) for e in LIVE_EVENTS[6:]),
                     *(Resource(key("event_property", e, "p")) for e in LIVE_EVENTS),
                     Resource(key("event_property", "shared")),
                     Resource(key("user_property", "plan")), Resource(key("category", "Media"))])

    async def go() -> State:
        async with session(app, config(tmp_path)) as s:
            return await s.providers[A].read_some(desired, [target])
    live = run(go())
    assert gets(app) == lists
    assert target in live


def test_create_then_read_back_normalised(tmp_path: Path) -> None:
    app = create_app()
    desired = State([Resource(key("event_type", "Play Song"))])

    async def go() -> State:
        async with session(app, config(tmp_path)) as s:
            p = s.providers[A]
            await p.apply_change(change(Action.CREATE, key("category", "Media")))
            await p.apply_change(change(Action.CREATE, key("event_type", "Play Song"),
                                        {"category": "Media", "description": "A song"}))
            await p.apply_change(change(Action.CREATE, key("event_property", "Play Song", "genre"),
                                        {"type": "enum", "enum_values": ["rock", "pop"],
                                         "is_required": True}))
            await p.apply_change(change(Action.CREATE, key("user_property", "plan"),
                                        {"type": "string", "regex": "^(free|pro)$"}))
            return await p.read(desired)
    live = run(go())
    cat = live.get(key("category", "Media"))
    assert cat is not None and isinstance(cat.meta["id"], int)
    ev = live.get(key("event_type", "Play Song"))
    assert ev is not None
    assert (ev.attrs["category"], ev.attrs["description"]) == ("Media", "A song")
    prop = live.get(key("event_property", "Play Song", "genre"))
    assert prop is not None
    assert prop.attrs["enum_values"] == ["pop", "rock"]  # canonical: order carries no meaning
    assert prop.attrs["is_required"] is True and prop.attrs["regex"] == ""
    up = live.get(key("user_property", "plan"))
    assert up is not None and up.meta["api_name"] == "gp:plan" and not up.meta.get("builtin")
    assert up.attrs["regex"] == "^(free|pro)$"


def test_builtin_user_properties_are_marked(tmp_path: Path) -> None:
    app = create_app()

    async def go() -> State:
        async with session(app, config(tmp_path)) as s:
            return await s.providers[A].read(State())
    builtins = [r for r in run(go()) if r.meta.get("builtin")]
    assert all(r.key.kind == "user_property" for r in builtins)
    assert ResourceKey(A, "user_property", ("device_id",)) in {r.key for r in builtins}


def test_rename_event_keeps_its_properties(tmp_path: Path) -> None:
    app = create_app()
    new = key("event_type", "Song Played")

    async def go() -> State:
        async with session(app, config(tmp_path)) as s:
            p = s.providers[A]
            await p.apply_change(change(Action.CREATE, key("event_type", "play_song")))
            await p.apply_change(change(Action.CREATE, key("event_property", "play_song", "dur")))
            await p.apply_change(Change(Action.RENAME, new, {}, {"description": "renamed"},
                                        fields=(FieldChange(("description",), "", "renamed"),),
                                        from_key=key("event_type", "play_song")))
            return await p.read(State([Resource(new)]))
    live = run(go())
    assert key("event_type", "play_song") not in live
    ev = live.get(new)
    assert ev is not None and ev.attrs["description"] == "renamed"
    assert key("event_property", "Song Played", "dur") in live


def test_names_with_awkward_characters_round_trip(tmp_path: Path) -> None:
    app = create_app()
    names = ["Play Song", "a/b?c#d", "100% done", "naïve “quotes” 'x'", "back\\slash"]
    desired = State([Resource(key("event_type", n)) for n in names])

    async def go() -> tuple[State, list[Resource | None]]:
        async with session(app, config(tmp_path)) as s:
            p = s.providers[A]
            for n in names:
                await p.apply_change(change(Action.CREATE, key("event_type", n)))
                await p.apply_change(change(Action.CREATE, key("event_property", n, "p/1 %")))
            ones = [await p.read_one(key("event_property", n, "p/1 %")) for n in names]
            return await p.read(desired), ones
    live, ones = run(go())
    for n in names:
        assert key("event_type", n) in live
        assert key("event_property", n, "p/1 %") in live
    assert all(r is not None for r in ones)


def test_delete_then_restore_event(tmp_path: Path) -> None:
    app = create_app()
    ev = key("event_type", "Old")
    admin(app, "POST", "/_sandbox/fixtures", json={"amplitude": {"ingest": [
        {"event_type": "Old", "event_properties": {}}]}})

    async def go() -> tuple[Resource | None, Resource | None]:
        async with session(app, config(tmp_path)) as s:
            p = s.providers[A]
            await p.apply_change(change(Action.DELETE, ev))
            deleted = (await p.read(State([Resource(ev)]))).get(ev)
            await p.apply_change(change(Action.RESTORE, ev, {"description": "back"}))
            return deleted, (await p.read(State([Resource(ev)]))).get(ev)
    deleted, restored = run(go())
    assert deleted is not None and deleted.meta.get("deleted") is True
    assert restored is not None and not restored.meta.get("deleted")
    assert restored.attrs["description"] == "back"


def test_legacy_delete_refusal_is_explained(tmp_path: Path) -> None:
    app = create_app(legacy_delete=True)
    admin(app, "POST", "/_sandbox/fixtures", json={"amplitude": {"ingest": [
        {"event_type": "Live One"}]}})

    async def go() -> None:
        async with session(app, config(tmp_path)) as s:
            await s.providers[A].apply_change(change(Action.DELETE, key("event_type", "Live One")))
    with pytest.raises(ApiError) as info:
        run(go())
    assert info.value.status == 409
    assert "not a planned event" in info.value.message
    assert "deletes only planned" in info.value.message


def test_wrong_credentials_are_an_error_without_the_secret(tmp_path: Path) -> None:
    app = create_app()
    creds = {A: {"api_key": "wrong-key-XYZ", "secret_key": "wrong-secret-QRS"}}

    async def go() -> None:
        async with session(app, config(tmp_path), credentials=creds) as s:
            await s.providers[A].read(State())
    with pytest.raises(ApiError) as info:
        run(go())
    assert info.value.status == 403
    for text in (str(info.value), repr(info.value)):
        assert "wrong-secret-QRS" not in text and "wrong-key-XYZ" not in text
