"""Canonical forms of field values, applied to desired *and* live attributes.

The services store the same meaning in several spellings (``null`` vs ``""``, ``"true"``
vs ``True``, enum values in any order, a comma-joined string vs a list, trailing blanks
they keep). Both sides are put through :func:`canonical` before the planner compares
them, so a converged workspace plans no changes. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def as_bool(value: Any) -> Any:
    """``"true"``/``"false"`` (any case) and 0/1 become booleans; anything else is kept."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return value


def as_text(value: Any) -> Any:
    """``None`` becomes ``""``; trailing white space (which services keep) is dropped."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.rstrip()
    return value


def as_set_list(value: Any) -> Any:
    """A list whose order carries no meaning: ``None``→``[]``; a comma string is split;
    items are stripped, de-duplicated and sorted."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in value.split(",")] if value.strip() else []
    if isinstance(value, (list, tuple)):
        items = {str(v).strip() for v in value}
        return sorted(items)
    return value


def as_named_list(value: Any) -> Any:
    """A list of named objects whose order carries no meaning (Taplytics experiment
    variations: the API documents none): ``None``→``[]``; sorted by ``name``, then by the
    rest, so the same variations in another order compare equal."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)) and all(isinstance(v, Mapping) for v in value):
        return sorted((dict(v) for v in value),
                      key=lambda v: (str(v.get("name", "")), repr(sorted(v.items(), key=str))))
    return value


def as_type(value: Any) -> Any:
    """A property ``type``: unset means ``any``; case is not meaningful."""
    if value is None or value == "":
        return "any"
    return value.strip().lower() if isinstance(value, str) else value


def as_category(value: Any) -> Any:
    """Amplitude answers ``null`` or ``{"name": …}``; manifests write a name or ``""``."""
    if isinstance(value, Mapping):
        value = value.get("name")
    if value is None or value == "":
        return None
    return value.rstrip() if isinstance(value, str) else value


_AMPLITUDE_PROPERTY: dict[str, Callable[[Any], Any]] = {
    "description": as_text,
    "type": as_type,
    "regex": as_text,
    "enum_values": as_set_list,
    "is_array_type": as_bool,
    "is_required": as_bool,
    "is_hidden": as_bool,
    "classifications": as_set_list,
}

_RULES: dict[tuple[str, str], dict[str, Callable[[Any], Any]]] = {
    ("amplitude", "category"): {},
    ("amplitude", "event_type"): {
        "category": as_category,
        "description": as_text,
        "display_name": as_text,
        "owner": as_text,
        "is_active": as_bool,
        "tags": as_set_list,
        "is_hidden_from_dropdowns": as_bool,
        "is_hidden_from_persona_results": as_bool,
        "is_hidden_from_pathfinder": as_bool,
        "is_hidden_from_timeline": as_bool,
    },
    ("amplitude", "event_property"): _AMPLITUDE_PROPERTY,
    ("amplitude", "user_property"): _AMPLITUDE_PROPERTY,
    ("taplytics", "experiment"): {"variations": as_named_list},
}


def canonical(provider: str, kind: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``attrs`` with every field it holds in canonical form (unknown fields kept)."""
    rules = _RULES.get((provider, kind), {})
    return {k: rules[k](v) if k in rules else v for k, v in attrs.items()}


def strip_gp(name: str) -> str:
    """Amplitude lists custom user properties as ``gp:name``; identity is ``name``."""
    return name[3:] if name.startswith("gp:") else name
