"""Provider-specific foot-guns, mostly from the Taplytics v2 reference (seed 001).

A push is irreversible once applied, so anything that would send it to the wrong people or
at the wrong time is an error here, before a plan is ever made. Warnings quote the seed's
own reason so the reader need not look it up. A schedule in the past is an error (issue
5.3): the service refuses such a push, and a push that did go out says so with ``sent:
true``, which makes it history, of which nothing is said about when it would go out. The
planner still checks the time against its own clock when it would send (a manifest valid
yesterday may be past today). A ``local_time`` already past in only some zones is a
warning: the service still takes it. The time-zone rule and time formats are
:mod:`tapsync.audience`'s, the ones the planner refuses with.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from tapsync.audience import EARLIEST_ZONE, LATEST_ZONE, TIME_FORMATS, read_time
from tapsync.errors import Problem
from tapsync.manifest.build import Decl
from tapsync.manifest.where import PathPart, problem

COMPARATORS = ("=", "<=", ">=", "!=")
#: filter types whose values are text: an ordering comparator compares character codes
STRING_TYPES = frozenset({"os", "id", "email", "gender", "user_id", "app_lang", "country",
                          "device_model", "push_token", "push_token_sandbox"})
SEED_NOT_EQUAL = ("a user matches if ANY value matches, so != with several values matches "
                  "everyone (the seed: \"If they are on 8.0.1, then obviously they are NOT on "
                  "8.1.3. They will pass the check\"): write one filter per value")
SEED_ORDERING = ("an ordering comparator on a string compares character codes (the seed: "
                 "\"This will try and match on numerical ASCII values and will produce "
                 "unexpected results\")")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: what to do about a past time: the push cannot go out, unless it already has
_IF_SENT = (": the service refuses it. If this push was already sent, mark it `sent: true` "
            "(it is then history: never sent again)")
#: the shape the schema asks of each schedule key; a value of that shape which still does
#: not read as a time (``2026-02-30``) is this linter's to report
_SHAPE = {"time": re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z"),
          "local_time": re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\Z")}
_DV_TYPES = {"bool": (bool,), "double": (int, float), "int": (int,), "string": (str,)}


def lint_providers(decls: list[Decl], now: datetime) -> list[Problem]:
    """Provider rules that look at one object at a time."""
    out: list[Problem] = []
    for d in decls:
        if d.absent:
            continue
        if d.kind == "push_campaign":
            out.extend(_push(d, now))
        elif d.kind == "user":
            out.extend(_user(d))
        elif d.kind == "experiment":
            out.extend(_experiment(d))
        elif d.kind == "dynamic_variable":
            out.extend(_dynamic_variable(d))
    return out


def lint_provider_references(decls: list[Decl]) -> list[Problem]:
    """Provider rules across the workspace: insights name declared dashboards."""
    out: list[Problem] = []
    dashboards = {d.name[0] for d in decls if d.kind == "dashboard"}
    for d in decls:
        if d.kind == "insight" and not d.absent:
            for i, name in enumerate(d.obj.get("dashboards") or ()):
                if isinstance(name, str) and name not in dashboards:
                    out.append(problem(d.doc, [*d.path, "dashboards", i], f"dashboard {name!r} "
                                       "is not declared in pypestream.dashboards",
                                       severity="warning"))
    return out


def _push(d: Decl, now: datetime) -> list[Problem]:
    obj, here, out = d.obj, d.path, []
    filters = obj.get("filters")
    everyone = obj.get("send_to_all_users") is True
    if everyone and filters:
        out.append(problem(d.doc, [*here, "send_to_all_users"], "send_to_all_users: true "
                           "contradicts filters: keep one"))
    elif not everyone and not filters:
        out.append(problem(d.doc, [*here, "name"], "a push without filters goes to ALL users: "
                           "add filters, or say send_to_all_users: true"))
    sent = obj.get("sent") is True  # history: it will never be sent from here
    if "schedule" not in obj and not sent:
        out.append(problem(d.doc, [*here, "name"], "a push without schedule is sent the moment "
                           "it is applied: add schedule: now, {time: …} or {local_time: …}"))
    elif isinstance(obj.get("schedule"), dict):
        out.extend(_schedule(d, obj["schedule"], None if sent else now))
    note = obj.get("notification")
    if isinstance(note, dict) and not note.get("alert") and not obj.get("custom_keys"):
        out.append(problem(d.doc, [*here, "notification"], "notification.alert is required "
                           "unless custom_keys is set"))
    image = obj.get("image")
    if isinstance(image, dict) and isinstance(image.get("url"), str):
        path = urlsplit(image["url"]).path.lower()
        if not path.endswith(IMAGE_SUFFIXES):
            out.append(problem(d.doc, [*here, "image", "url"], "image.url must end in .jpg, "
                               ".jpeg or .png"))
    if isinstance(filters, list):
        for i, f in enumerate(filters):
            if isinstance(f, dict):
                out.extend(_filter(d, f, [*here, "filters", i]))
    return out


def _filter(d: Decl, f: dict[str, Any], here: list[PathPart]) -> list[Problem]:
    out = []
    ftype, comp, values = f.get("type"), f.get("comparator"), f.get("values")
    if isinstance(comp, str) and comp not in COMPARATORS:
        out.append(problem(d.doc, [*here, "comparator"], f"comparator {comp!r} is not one of "
                           f"{', '.join(COMPARATORS)} (the only ones Taplytics knows)"))
    if ftype == "custom_data" and "dataKey" not in f:
        out.append(problem(d.doc, here, "a custom_data filter needs dataKey (the custom data "
                           "key to compare)"))
    if ftype != "custom_data" and "dataKey" in f:
        out.append(problem(d.doc, [*here, "dataKey"], "dataKey is only for type custom_data",
                           key=True))
    if comp == "!=" and isinstance(values, list) and len(values) > 1:
        out.append(problem(d.doc, [*here, "values"], SEED_NOT_EQUAL, severity="warning"))
    if comp in ("<=", ">=", "<", ">") and isinstance(values, list) and (
            ftype in STRING_TYPES
            or (ftype == "custom_data" and any(isinstance(v, str) for v in values))):
        out.append(problem(d.doc, [*here, "comparator"], SEED_ORDERING, severity="warning"))
    return out


def _schedule(d: Decl, sched: dict[str, Any], now: datetime | None) -> list[Problem]:
    """Times that cannot be read, and (unless ``now`` is ``None``: a sent push) times the
    service would refuse or that are already past somewhere."""
    out, here = [], [*d.path, "schedule"]
    for key in TIME_FORMATS:
        text = sched.get(key)
        if not isinstance(text, str) or not _SHAPE[key].match(text):
            continue  # absent, or the schema reported the format
        when = read_time(key, text)
        if when is None:
            out.append(problem(d.doc, [*here, key], f"schedule.{key} {text!r} is not a date and "
                               "time"))
        elif now is not None:
            out.extend(_past(d, [*here, key], key, text, when, now))
    if now is not None and "time" in sched and "local_time" in sched:
        out.append(problem(d.doc, [*here, "time"], "schedule.time does not decide when the push "
                           "goes out when local_time is given (local time takes precedence), "
                           "yet the service refuses the push if it is in the past: keep one "
                           "of them", severity="warning"))
    return out


def _past(d: Decl, where: list[PathPart], key: str, text: str, when: datetime,
          now: datetime) -> list[Problem]:
    """A past time of a push not marked sent: an error, as the service refuses it; a local
    time past only in some zones is a warning, as the service still takes it."""
    stamp = f"(now is {now:%Y-%m-%dT%H:%M:%SZ})"
    if key == "local_time":  # the same wall-clock time happens 26 hours apart worldwide
        if when + LATEST_ZONE <= now:
            return [problem(d.doc, where, f"schedule.local_time {text} is in the past in every "
                            f"time zone {stamp}{_IF_SENT}")]
        if when - EARLIEST_ZONE <= now:
            return [problem(d.doc, where, f"schedule.local_time {text} is already past in some "
                            "time zones", severity="warning")]
    elif when <= now:
        return [problem(d.doc, where, f"schedule.time {text} is in the past {stamp}{_IF_SENT}")]
    return []


def _experiment(d: Decl) -> list[Problem]:
    """Variations are compared by name (the API documents no order), so a name is unique."""
    out, seen = list[Problem](), set[str]()
    variations = d.obj.get("variations")
    for i, v in enumerate(variations if isinstance(variations, list) else ()):
        name = v.get("name") if isinstance(v, dict) else None
        if isinstance(name, str) and name in seen:
            out.append(problem(d.doc, [*d.path, "variations", i, "name"], f"variation "
                               f"{name!r} is declared twice: variations are matched by name"))
        elif isinstance(name, str):
            seen.add(name)
    return out


def _user(d: Decl) -> list[Problem]:
    data = d.obj.get("custom_data")
    if not isinstance(data, dict):
        return []
    return [problem(d.doc, [*d.path, "custom_data", k], "custom_data nested more than one "
                    "level deep is not reliably merged by Taplytics", severity="warning")
            for k, v in data.items() if isinstance(v, dict)
            and any(isinstance(x, (dict, list)) for x in v.values())]


def _dynamic_variable(d: Decl) -> list[Problem]:
    obj, out = d.obj, list[Problem]()
    dtype = obj.get("type")
    if not isinstance(dtype, str):
        return out
    base, _, shape = dtype.partition("-")
    for field in ("defaultValue", "value"):
        if field in obj and not _of_type(obj[field], _DV_TYPES.get(base, ()), shape):
            out.append(problem(d.doc, [*d.path, field], f"{field} is not of type {dtype}"))
    return out


def _of_type(value: Any, types: tuple[type, ...], shape: str) -> bool:
    """Is ``value`` of an Apptimize dynamic-variable type (``int``, ``string-array``…)?"""
    def one(v: Any) -> bool:
        return bool in types if isinstance(v, bool) else isinstance(v, types)
    if shape == "array":
        return isinstance(value, list) and all(one(v) for v in value)
    if shape == "dictionary":
        return isinstance(value, dict) and all(one(v) for v in value.values())
    return one(value)
