"""Who a push reaches and when, in words, for the plan line of an irreversible send.

A reviewer approving ``tapsync apply --allow-send`` should not have to evaluate filter
algebra in their head. The rules come from the Taplytics v2 reference (seed 001): no
filters → every user; filters combine with AND, except ``an_version`` and
``ios_version``, which combine with OR; an ``an_version`` filter alone sends to Android
only, an ``ios_version`` filter alone to iOS only; a user matches a filter if ANY value
matches (so ``!=`` with several values matches everyone); no schedule → now; a
``local_time`` takes precedence over ``time`` for when it goes out, yet "all times must be
in the future"; ``production`` defaults to false (sandbox devices).
It also says until when a push can still be sent at all (:func:`send_deadline`). The
time-zone rule and the time formats live here once: the linter warns with them and the
planner refuses with them, so the two cannot disagree (the sandbox, an emulator that
imports nothing of ours, keeps its own copy, which a test compares with this one).
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

VERSION_TYPES = {"an_version": "Android", "ios_version": "iOS"}
#: a wall-clock ``local_time`` happens first in UTC+14 and last in UTC-12: it has passed
#: somewhere 14 hours before the same reading in UTC, and everywhere only 12 hours after it
EARLIEST_ZONE = timedelta(hours=14)
LATEST_ZONE = timedelta(hours=12)
#: the seed's formats: ``time`` in UTC, ``local_time`` a wall clock without a zone
TIME_FORMATS = {"time": "%Y-%m-%dT%H:%M:%SZ", "local_time": "%Y-%m-%dT%H:%M:%S"}
LABELS = {"id": "Taplytics id", "email": "email", "gender": "gender", "user_id": "user_id",
          "age": "age", "app_lang": "app language", "device_model": "device model",
          "push_token": "push token", "push_token_sandbox": "sandbox push token"}


def describe_push(attrs: Mapping[str, Any]) -> str:
    """E.g. ``sends to users in Canada or US at 2026-12-05 15:00 UTC, production``."""
    filters = [f for f in attrs.get("filters") or [] if isinstance(f, Mapping)]
    who = _audience(filters) if filters and attrs.get("send_to_all_users") is not True \
        else "all users"
    devices = "production" if attrs.get("production") is True else "sandbox devices only"
    extra = ", silently (no alert shown)" if attrs.get("is_silent") is True else ""
    return f"sends to {who} {_when(attrs.get('schedule'))}, {devices}{extra}"


def _values(values: Any) -> str:
    items = values if isinstance(values, Sequence) and not isinstance(values, str) else [values]
    return " or ".join(str(v) for v in items)


def _everyone(f: Mapping[str, Any]) -> str:
    values = f.get("values")
    if f.get("comparator") == "!=" and isinstance(values, list) and len(values) > 1:
        return " (matches everyone: != with several values)"
    return ""


def _condition(f: Mapping[str, Any]) -> str:
    comp, values = str(f.get("comparator", "=")), _values(f.get("values"))
    if f.get("type") == "country":
        where = "in" if comp == "=" else ("not in" if comp == "!=" else f"in country {comp}")
        return f"{where} {values}{_everyone(f)}"
    if f.get("type") == "custom_data":
        label = f"custom data \"{f.get('dataKey', '?')}\""
    else:
        label = LABELS.get(str(f.get("type")), str(f.get("type")))
    return f"with {label} {comp} {values}{_everyone(f)}"


def _version(f: Mapping[str, Any]) -> str:
    return f"{f.get('comparator', '=')} {_values(f.get('values'))}{_everyone(f)}"


def _platforms(filters: list[Mapping[str, Any]]) -> str:
    """The OS part: version filters OR'ed together, or an ``os`` filter."""
    versions = {os_name: [f for f in filters if f.get("type") == t]
                for t, os_name in VERSION_TYPES.items()}
    android, ios = versions["Android"], versions["iOS"]
    if android and ios:
        parts = [f"Android version {_version(f)}" for f in android]
        parts += [f"iOS version {_version(f)}" for f in ios]
        return "on " + " or ".join(parts)
    if android or ios:
        name, only = ("Android", android) if android else ("iOS", ios)
        return f"{name} only (version {' and '.join(_version(f) for f in only)})"
    os_filters = [f for f in filters if f.get("type") == "os"]
    if os_filters:
        f = os_filters[0]
        if f.get("comparator") == "!=":
            return f"not on {_values(f.get('values'))}{_everyone(f)}"
        return f"{_values(f.get('values'))} only"
    return ""


def _audience(filters: list[Mapping[str, Any]]) -> str:
    conditions = [_condition(f) for f in filters
                  if f.get("type") not in (*VERSION_TYPES, "os")]
    platform = _platforms(filters)
    if not conditions:
        return f"users {platform}" if platform.startswith(("on ", "not on ")) else platform
    who = "users " + " and ".join(conditions)
    return f"{who}, {platform}," if platform else who


def _clock(text: str) -> str:
    """``2026-12-05T15:00:00Z`` → ``2026-12-05 15:00`` (seconds only when not zero)."""
    day, _, time = text.rstrip("Z").partition("T")
    return f"{day} {time[:5] if time.endswith(':00') else time}".strip()


def _when(schedule: Any) -> str:
    if not isinstance(schedule, Mapping) or schedule.get("now"):
        return "now"
    local, utc = schedule.get("local_time"), schedule.get("time")
    if local:
        wins = " (local time takes precedence over its UTC time)" if utc else ""
        return f"at {_clock(str(local))} in each user's own time zone{wins}"
    return f"at {_clock(str(utc))} UTC" if utc else "now"


def read_time(key: str, text: Any) -> datetime | None:
    """A schedule's ``time`` or ``local_time`` as a UTC-aware moment (a local time's wall
    clock read as if in UTC); ``None`` when absent or not in the key's format (validation
    says so)."""
    fmt = TIME_FORMATS.get(key)
    if fmt is None or not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def send_deadline(attrs: Mapping[str, Any]) -> tuple[datetime, str] | None:
    """The last moment the service accepts this push, and what is past after it.

    ``None`` when it is sent ``now`` (or has no schedule). The seed says "all times must
    be in the future"; a ``local_time`` is past everywhere only once it has passed in
    UTC-12. When both times are given, ``local_time`` decides when it goes out but the
    service checks both, so the earlier deadline counts.
    """
    schedule = attrs.get("schedule")
    if not isinstance(schedule, Mapping):
        return None
    found: list[tuple[datetime, str]] = []
    for key in TIME_FORMATS:
        text = schedule.get(key)
        when = read_time(key, text)
        if when is None:
            continue  # absent, or malformed (validation has said so)
        if key == "local_time":
            found.append((when + LATEST_ZONE,
                          f"schedule.local_time {text} is in the past in every time zone"))
        else:
            found.append((when, f"schedule.time {text} is in the past"))
    return min(found, key=lambda item: item[0]) if found else None
