"""Amplitude taxonomy objects as stored, and as the live service returns them.

Stored documents carry two fields the API never shows: ``status`` (``planned``: in the
schema, no data; ``live``: in the schema and ingested; ``unexpected``: ingested, not in
the schema) and ``deleted``. The ``*_out`` functions produce exactly the documented
shapes: ``category`` is ``null`` or ``{"name": …}``, an event's ``deleted`` is ``null``
unless deleted (then ``true``), a user property's ``deleted`` is a real boolean, custom
user properties carry ``gp:``. An event is *hidden* when ``is_hidden_from_dropdowns`` is
set; hidden events are readable by name but never listed.
"""

from __future__ import annotations

import json
from typing import Any

from tapsync.sandbox.forms import ApiError, not_found
from tapsync.sandbox.store import Doc, Store

NS = "amplitude"
CATEGORY, EVENT = "category", "event"
EVENT_PROPERTY, USER_PROPERTY = "event_property", "user_property"
HIDDEN_FLAGS = (
    "is_hidden_from_dropdowns", "is_hidden_from_persona_results",
    "is_hidden_from_pathfinder", "is_hidden_from_timeline",
)
INGESTED = ("live", "unexpected")
CATEGORY_IDS_START = 412931
BUILTIN_USER_PROPERTIES = (
    "amplitude_id", "device_id", "user_id", "library", "platform", "os", "device",
    "device_type", "carrier", "country", "region", "city", "dma", "language", "version",
    "start_version", "paying", "ip_address",
)


def prop_key(event_type: str | None, name: str) -> str:
    """Event properties are keyed by (event type, name); shared ones have no event type."""
    return json.dumps([event_type, name])


def prop_prefix(event_type: str | None) -> str:
    """The common start of every :func:`prop_key` of one event type (or of shared ones)."""
    return json.dumps([event_type])[:-1] + ", "


def bare_user_property(name: str) -> str:
    return name[3:] if name.startswith("gp:") else name


def new_event(event_type: str, status: str = "planned") -> Doc:
    return {
        "event_type": event_type, "description": "" if status == "planned" else None,
        "display_name": None, "category_id": None, "deleted": False, "tags": [],
        "is_active": True, "owner": None, "status": status,
        **{flag: False for flag in HIDDEN_FLAGS},
    }


def new_event_property(event_type: str | None, name: str, status: str = "planned") -> Doc:
    return {
        "event_type": event_type, "event_property": name, "description": "", "type": "any",
        "enum_values": None, "regex": None, "is_array_type": False, "is_required": False,
        "is_hidden": False, "classifications": [], "status": status, "deleted": False,
    }


def new_user_property(name: str, status: str = "planned", builtin: bool = False) -> Doc:
    return {
        "user_property": bare_user_property(name), "description": "", "type": "any",
        "enum_values": None, "regex": None, "is_array_type": False, "status": status,
        "deleted": False, "builtin": builtin,
    }


def category_name(store: Store, category_id: int | None) -> str | None:
    if category_id is None:
        return None
    doc = store.get(NS, CATEGORY, str(category_id))
    return None if doc is None else str(doc["name"])


def find_category(store: Store, name: str) -> Doc | None:
    return next((doc for doc in store.values(NS, CATEGORY) if doc["name"] == name), None)


def event_out(store: Store, doc: Doc) -> dict[str, Any]:
    name = category_name(store, doc.get("category_id"))
    return {
        "event_type": doc["event_type"], "description": doc["description"],
        "display_name": doc["display_name"],
        "category": None if name is None else {"name": name},
        "deleted": True if doc["deleted"] else None, "tags": list(doc["tags"]),
        "is_active": doc["is_active"], "owner": doc["owner"],
        **{flag: bool(doc[flag]) for flag in HIDDEN_FLAGS},
    }


def event_property_out(doc: Doc) -> dict[str, Any]:
    keys = ("event_type", "event_property", "description", "type", "enum_values", "regex",
            "is_array_type", "is_required", "is_hidden", "classifications")
    return {key: doc[key] for key in keys}


def user_property_out(doc: Doc) -> dict[str, Any]:
    name = doc["user_property"] if doc["builtin"] else "gp:" + doc["user_property"]
    return {
        "user_property": name, "description": doc["description"], "type": doc["type"],
        "enum_values": doc["enum_values"], "regex": doc["regex"],
        "is_array_type": doc["is_array_type"], "deleted": bool(doc["deleted"]),
    }


def delete_rule(doc: Doc, *, legacy: bool, what: str, name: str, status: int = 409) -> str:
    """What DELETE does to this item: ``"remove"`` or ``"mark"`` — or the error it gets.

    Current rule: planned → removed; live → marked deleted (restorable); unexpected →
    added to the plan and marked deleted; already deleted → error. The seed's older rule
    (``legacy``): only planned items can be deleted.
    """
    if doc["deleted"]:
        raise ApiError(status, f'Attempted to remove {what}, "{name}", that is already deleted.')
    if doc["status"] == "planned":
        return "remove"
    if legacy:
        noun = what.split(" ", 1)[1]
        raise ApiError(
            status, f'Attempted to remove {what}, "{name}", that is not a planned {noun}.'
        )
    return "mark"


def restore_rule(doc: Doc | None, *, what: str, name: str, missing_status: int = 400) -> None:
    if doc is None:
        raise not_found(missing_status)
    if not doc["deleted"]:
        raise ApiError(409, f'Attempted to restore {what}, "{name}", that is not deleted.')


def builtin_user_properties() -> list[Doc]:
    return [new_user_property(name, "live", builtin=True) for name in BUILTIN_USER_PROPERTIES]


def seed_builtins(store: Store) -> None:
    """A project always has Amplitude's own user properties (listed without ``gp:``)."""
    for doc in builtin_user_properties():
        if store.get(NS, USER_PROPERTY, doc["user_property"]) is None:
            store.put(NS, USER_PROPERTY, doc["user_property"], doc)
