"""Amplitude event properties (per event and shared) and user properties.

Event properties are keyed by (event type, name); a property created without
``event_type`` is a *shared* property and reads back with ``"event_type": null`` — in the
current edition; the seed edition requires ``event_type`` on every event-property call.
A deleted event property is invisible (not listed, ``Not found`` by name) yet still
blocks a create with 409 — the trap the tool must get out of by restoring.
User properties are stored under their bare name and answered with ``gp:`` for custom
ones; either spelling addresses the same property. Their create/update validation
failures answer a bare ``{"success": false}``, as the real service does.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import JSONResponse, Response

from tapsync.sandbox.amplitude_data import (
    EVENT,
    EVENT_PROPERTY,
    INGESTED,
    NS,
    USER_PROPERTY,
    bare_user_property,
    delete_rule,
    event_property_out,
    new_event_property,
    new_user_property,
    prop_key,
    prop_prefix,
    restore_rule,
    user_property_out,
)
from tapsync.sandbox.forms import (
    ApiError,
    not_found,
    optional_text,
    parse_bool,
    parse_list,
    parse_type,
    required,
)
from tapsync.sandbox.runtime import Runtime
from tapsync.sandbox.store import Doc

Handler = Callable[[Runtime, dict[str, str], str], Response]


def _ok(data: object = None, *, with_data: bool = False) -> JSONResponse:
    return JSONResponse({"success": True, "data": data} if with_data else {"success": True})


def _apply_property_fields(doc: Doc, p: dict[str, str], *, user: bool) -> None:
    bare = user
    if "description" in p:
        doc["description"] = p["description"]
    if "type" in p:
        doc["type"] = parse_type(p["type"], bare=bare) if p["type"].strip() else "any"
    if "regex" in p:
        doc["regex"] = optional_text(p["regex"])
    if "enum_values" in p:
        doc["enum_values"] = parse_list(p["enum_values"])
    flags = ("is_array_type",) if user else ("is_array_type", "is_required")
    for flag in flags:
        if flag in p:
            doc[flag] = parse_bool(p[flag], flag, bare=bare)
    if user:
        return
    if "classifications" in p:
        doc["classifications"] = parse_list(p["classifications"]) or []
    if "is_hidden" in p:
        if doc["status"] not in INGESTED:
            raise ApiError(400, "is_hidden can only be set on ingested event properties.")
        doc["is_hidden"] = parse_bool(p["is_hidden"], "is_hidden")


# --- event properties --------------------------------------------------------------------

def _event_type(rt: Runtime, p: dict[str, str]) -> str | None:
    """The event a call names (``None``: shared properties); it must exist.

    The seed edition has no shared properties: every event-property call there requires
    ``event_type`` (a list without it is an error, not the shared list).
    """
    if rt.settings.edition == "seed":
        required(p, "event_type")
    event_type = p.get("event_type") or None
    if event_type is not None:
        event = rt.store.get(NS, EVENT, event_type)
        if event is None or event["deleted"]:
            raise not_found()
    return event_type


def _label(name: str, event_type: str | None) -> str:
    return f'"{name}" for event "{event_type}"' if event_type else f'"{name}"'


def create_event_property(rt: Runtime, p: dict[str, str], _: str) -> Response:
    name = required(p, "event_property")
    event_type = _event_type(rt, p)
    key = prop_key(event_type, name)
    doc = rt.store.get(NS, EVENT_PROPERTY, key)
    if doc is not None and not (doc["status"] == "unexpected" and not doc["deleted"]):
        raise ApiError(409, f"Attempted to add an event property, {_label(name, event_type)}, "
                            "that already exists.")
    if doc is None:
        doc = new_event_property(event_type, name)
    else:
        doc["status"] = "live"
    _apply_property_fields(doc, p, user=False)
    rt.store.put(NS, EVENT_PROPERTY, key, doc)
    return _ok()


def list_event_properties(rt: Runtime, p: dict[str, str], _: str) -> Response:
    event_type = _event_type(rt, p)
    data = [event_property_out(doc) for _, doc in
            rt.store.items_with_prefix(NS, EVENT_PROPERTY, prop_prefix(event_type))
            if doc["event_type"] == event_type and not doc["deleted"]]
    return _ok(data, with_data=True)


def _live_property(rt: Runtime, event_type: str | None, name: str) -> Doc:
    doc = rt.store.get(NS, EVENT_PROPERTY, prop_key(event_type, name))
    if doc is None or doc["deleted"]:
        raise not_found()
    return doc


def get_event_property(rt: Runtime, p: dict[str, str], name: str) -> Response:
    return _ok(event_property_out(_live_property(rt, _event_type(rt, p), name)), with_data=True)


def update_event_property(rt: Runtime, p: dict[str, str], name: str) -> Response:
    """``overrideScope=shared`` edits the shared property even when ``event_type`` is given;
    ``override`` gives that event its own copy of a shared property first."""
    event_type = _event_type(rt, p)
    scope = p.get("overrideScope", "").strip().lower()
    if event_type is not None and scope == "shared":
        event_type = None
    key = prop_key(event_type, name)
    doc = rt.store.get(NS, EVENT_PROPERTY, key)
    if (doc is None or doc["deleted"]) and event_type is not None and scope == "override":
        shared = _live_property(rt, None, name)
        doc = {**shared, "event_type": event_type}
    if doc is None or doc["deleted"]:
        raise not_found()
    _apply_property_fields(doc, p, user=False)
    new_name = p.get("new_event_property_value") or p.get("new_event_property") or name
    if new_name != name:
        new_key = prop_key(event_type, new_name)
        if rt.store.get(NS, EVENT_PROPERTY, new_key) is not None:
            raise ApiError(409, f"Attempted to rename an event property to "
                                f"{_label(new_name, event_type)}, that already exists.")
        rt.store.delete(NS, EVENT_PROPERTY, key)
        doc["event_property"], key = new_name, new_key
    rt.store.put(NS, EVENT_PROPERTY, key, doc)
    return _ok()


def delete_event_property(rt: Runtime, p: dict[str, str], name: str) -> Response:
    event_type = _event_type(rt, p)
    key = prop_key(event_type, name)
    doc = rt.store.get(NS, EVENT_PROPERTY, key)
    if doc is None:
        raise not_found()
    action = delete_rule(doc, legacy=rt.settings.legacy_delete, what="an event property",
                         name=name)
    if action == "remove":
        rt.store.delete(NS, EVENT_PROPERTY, key)
    else:
        rt.store.put(NS, EVENT_PROPERTY, key, {**doc, "deleted": True, "status": "live"})
    return _ok()


def restore_event_property(rt: Runtime, p: dict[str, str], name: str) -> Response:
    key = prop_key(p.get("event_type") or None, name)
    doc = rt.store.get(NS, EVENT_PROPERTY, key)
    restore_rule(doc, what="an event property", name=name)
    assert doc is not None
    rt.store.put(NS, EVENT_PROPERTY, key, {**doc, "deleted": False})
    return _ok()  # 200, although the documentation says 201


def move_event_properties(rt: Runtime, old: str, new: str) -> None:
    """A renamed event keeps its properties."""
    for key, doc in rt.store.items(NS, EVENT_PROPERTY):
        if doc["event_type"] == old:
            rt.store.delete(NS, EVENT_PROPERTY, key)
            rt.store.put(NS, EVENT_PROPERTY, prop_key(new, doc["event_property"]),
                         {**doc, "event_type": new})


# --- user properties ---------------------------------------------------------------------

def _user_property(rt: Runtime, raw: str) -> Doc | None:
    doc = rt.store.get(NS, USER_PROPERTY, bare_user_property(raw))
    if doc is not None and doc["builtin"] and raw.startswith("gp:"):
        return None  # gp: names only custom properties
    return doc


def create_user_property(rt: Runtime, p: dict[str, str], _: str) -> Response:
    raw = required(p, "user_property", bare=True)
    name = bare_user_property(raw)
    doc = rt.store.get(NS, USER_PROPERTY, name)
    if doc is not None and not (doc["status"] == "unexpected" and not doc["deleted"]):
        return JSONResponse({"success": False}, status_code=409)
    if doc is None:
        doc = new_user_property(name)
    else:
        doc["status"] = "live"
    _apply_property_fields(doc, p, user=True)
    rt.store.put(NS, USER_PROPERTY, name, doc)
    return _ok()


def list_user_properties(rt: Runtime, p: dict[str, str], _: str) -> Response:
    show_deleted = p.get("showDeleted", "").strip().lower() in ("true", "1")
    data = [user_property_out(doc) for doc in rt.store.values(NS, USER_PROPERTY)
            if show_deleted or not doc["deleted"]]
    return _ok(data, with_data=True)


def get_user_property(rt: Runtime, p: dict[str, str], raw: str) -> Response:
    doc = _user_property(rt, raw)
    if doc is None:
        raise not_found(404)
    return _ok(user_property_out(doc), with_data=True)


def update_user_property(rt: Runtime, p: dict[str, str], raw: str) -> Response:
    doc = _user_property(rt, raw)
    if doc is None or doc["deleted"]:
        raise not_found(404)
    _apply_property_fields(doc, p, user=True)
    name = doc["user_property"]
    new_raw = p.get("new_user_property_value") or p.get("new_user_property")
    new_name = bare_user_property(new_raw) if new_raw else name
    if new_name != name:
        if doc["builtin"]:
            raise ApiError(400, f'Cannot rename a built-in user property, "{name}".')
        if rt.store.get(NS, USER_PROPERTY, new_name) is not None:
            raise ApiError(409, f'Attempted to rename a user property to "gp:{new_name}", '
                                "that already exists.")
        rt.store.delete(NS, USER_PROPERTY, name)
        doc["user_property"] = name = new_name
    rt.store.put(NS, USER_PROPERTY, name, doc)
    return _ok()


def delete_user_property(rt: Runtime, p: dict[str, str], raw: str) -> Response:
    doc = _user_property(rt, raw)
    if doc is None:
        raise not_found(404)
    name = doc["user_property"]
    if doc["builtin"]:
        raise ApiError(400, f'Cannot delete a built-in user property, "{name}".')
    action = delete_rule(doc, legacy=rt.settings.legacy_delete, what="a user property",
                         name=raw)
    if action == "remove":
        rt.store.delete(NS, USER_PROPERTY, name)
    else:
        rt.store.put(NS, USER_PROPERTY, name, {**doc, "deleted": True, "status": "live"})
    return _ok()


def restore_user_property(rt: Runtime, p: dict[str, str], raw: str) -> Response:
    doc = _user_property(rt, raw)
    restore_rule(doc, what="a user property", name=raw, missing_status=404)
    assert doc is not None
    rt.store.put(NS, USER_PROPERTY, doc["user_property"], {**doc, "deleted": False})
    return _ok()


ROUTES: dict[tuple[str, int, bool], dict[str, Handler]] = {
    ("event-property", 0, False): {"GET": list_event_properties, "POST": create_event_property},
    ("event-property", 1, False): {"GET": get_event_property, "PUT": update_event_property,
                                   "DELETE": delete_event_property},
    ("event-property", 1, True): {"POST": restore_event_property},
    ("user-property", 0, False): {"GET": list_user_properties, "POST": create_user_property},
    ("user-property", 1, False): {"GET": get_user_property, "PUT": update_user_property,
                                  "DELETE": delete_user_property},
    ("user-property", 1, True): {"POST": restore_user_property},
}
