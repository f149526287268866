"""Taplytics push notifications: ``GET /v2/push``, ``GET /v2/push/{id}``, ``POST /v2/push``.

There is no update and no delete: a push, once posted, is sent (or scheduled) and stays in
the list for good. Validation follows the seed: ``notification.alert`` unless
``custom_keys``; an image URL ending in ``.jpg``/``.jpeg``/``.png``; filters with a known
``type``, one of the four comparators, a non-empty ``values`` and ``dataKey`` exactly when
the type is ``custom_data``; a schedule in the future by the sandbox's own clock. The
sandbox is stricter than the seed in one way: unknown fields are refused (400) rather than
ignored, so a client that sends its own bookkeeping (``send_to_all_users``) learns it here.
Posting is the write that fault injection's ``store_then_fail`` targets: the push is
stored, then the answer is lost, exactly the case a client must reconcile by reading.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse, Response

from tapsync.sandbox.runtime import Runtime
from tapsync.sandbox.store import Doc
from tapsync.sandbox.taplytics_base import (
    NS,
    Call,
    TapError,
    Wall,
    new_id,
    not_found,
    page_of,
    stamp,
)

PUSH = "push"
FILTER_TYPES = ("an_version", "ios_version", "os", "id", "email", "custom_data", "gender",
                "user_id", "age", "app_lang", "country", "device_model", "push_token",
                "push_token_sandbox")
COMPARATORS = ("=", "<=", ">=", "!=")
OS_VALUES = ("iOS", "Android")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
FIELDS = {"name": str, "notification": dict, "image": dict, "filters": list,
          "custom_keys": dict, "filter_duplicate_content": bool, "schedule": dict,
          "production": bool, "is_silent": bool, "badge_count": int}
#: The service's own time rules. Copied on purpose from ``tapsync.audience`` (the emulator
#: imports nothing of the tool it tests); tests/taplytics/test_push_times.py checks that
#: the two copies are equal.
TIME_FORMATS = {"time": "%Y-%m-%dT%H:%M:%SZ", "local_time": "%Y-%m-%dT%H:%M:%S"}
#: a local time happens somewhere between UTC-12 and UTC+14: past everywhere only after
LATEST_ZONE = timedelta(hours=12)


def _bad(message: str) -> TapError:
    return TapError(400, message)


def _filter(i: int, f: Any) -> dict[str, Any]:
    where = f"filters[{i}]"
    if not isinstance(f, dict):
        raise _bad(f"{where} must be an object")
    unknown = set(f) - {"type", "comparator", "values", "dataKey"}
    if unknown:
        raise _bad(f"{where}: unknown field(s) {sorted(unknown)}")
    if f.get("type") not in FILTER_TYPES:
        raise _bad(f"{where}.type must be one of {', '.join(FILTER_TYPES)}")
    if f.get("comparator") not in COMPARATORS:
        raise _bad(f"{where}.comparator must be one of {', '.join(COMPARATORS)}")
    values = f.get("values")
    if not isinstance(values, list) or not values or not all(
            isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
        raise _bad(f"{where}.values must be a non-empty list of strings or numbers")
    if f["type"] == "custom_data" and not (isinstance(f.get("dataKey"), str) and f["dataKey"]):
        raise _bad(f"{where}: a custom_data filter needs dataKey")
    if f["type"] != "custom_data" and "dataKey" in f:
        raise _bad(f"{where}: dataKey is only for type custom_data")
    if f["type"] == "os" and any(v not in OS_VALUES for v in values):
        raise _bad(f"{where}: os values are iOS or Android")
    return dict(f)


def _schedule(raw: dict[str, Any], now: datetime | None) -> dict[str, Any]:
    """A checked schedule; ``now=None`` skips the must-be-future check (fixtures)."""
    if raw == {"now": True}:
        return dict(raw)
    unknown = set(raw) - set(TIME_FORMATS)
    if unknown or not raw:
        raise _bad("schedule takes time (UTC) and/or local_time")
    for key, fmt in TIME_FORMATS.items():
        if key not in raw:
            continue
        try:
            when = datetime.strptime(str(raw[key]), fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            raise _bad(f"schedule.{key} {raw[key]!r} is not {fmt.replace('%', '')}") from None
        slack = LATEST_ZONE if key == "local_time" else timedelta(0)
        if now is not None and when + slack <= now:
            raise _bad(f"schedule.{key} {raw[key]} is not in the future")
    return dict(raw)


def validate(body: Any, now: datetime | None) -> Doc:
    """The push a body asks for, with the API's defaults filled in (or a 400)."""
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    push = {k: v for k, v in body.items() if k != "api_token"}
    unknown = set(push) - set(FIELDS)
    if unknown:
        raise _bad(f"unknown field(s): {sorted(unknown)}")
    for key, kind in FIELDS.items():
        if key in push and (not isinstance(push[key], kind)
                            or (kind is int and isinstance(push[key], bool))):
            raise _bad(f"{key} must be a {kind.__name__}")
    note = push.get("notification")
    if note is None:
        raise _bad("Missing parameter: notification")
    if not note.get("alert") and not push.get("custom_keys"):
        raise _bad("notification.alert is required unless custom_keys is set")
    ttl = note.get("time_to_live")
    if ttl is not None and (not isinstance(ttl, (int, float)) or isinstance(ttl, bool)
                            or ttl < 0):
        raise _bad("notification.time_to_live must be a number of seconds")
    image = push.get("image")
    if image is not None:
        url = image.get("url")
        if not isinstance(url, str) or not urlsplit(url).path.lower().endswith(IMAGE_SUFFIXES):
            raise _bad("image.url must point to a .jpg, .jpeg or .png file")
    if push.get("badge_count", 0) < 0:
        raise _bad("badge_count must be 0 or more")
    push["filters"] = [_filter(i, f) for i, f in enumerate(push.get("filters") or [])]
    push["schedule"] = _schedule(push["schedule"], now) if "schedule" in push \
        else {"now": True}
    push.setdefault("production", False)
    push.setdefault("filter_duplicate_content", True)
    return push


def status(push: Doc, now: datetime) -> str:
    """``sending`` right after an immediate post; ``scheduled`` until its time; then sent."""
    schedule = push.get("schedule") or {}
    if schedule.get("now"):
        return "sent"
    text = schedule.get("time") or schedule.get("local_time")
    try:
        when = datetime.strptime(str(text)[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=timezone.utc)
    except ValueError:
        return str(push.get("status") or "sent")
    return "scheduled" if when > now else "sent"


def push_out(push: Doc, now: datetime) -> dict[str, Any]:
    return {**push, "status": status(push, now)}


def list_pushes(call: Call) -> Response:
    now = call.wall.now()
    return page_of(call, [push_out(p, now) for p in call.runtime.store.values(NS, PUSH)])


def get_push(call: Call) -> Response:
    doc = call.runtime.store.get(NS, PUSH, call.path["id"])
    if doc is None:
        raise not_found(f"push {call.path['id']!r}")
    return JSONResponse(push_out(doc, call.wall.now()))


def create_push(call: Call) -> Response:
    now = call.wall.now()
    push = validate(call.body, now)
    doc = {"id": new_id(call.runtime, PUSH), "created_at": stamp(now, millis=True), **push}
    call.runtime.store.put(NS, PUSH, doc["id"], doc)
    answer = push_out(doc, now)
    if answer["status"] == "sent":
        answer["status"] = "sending"
    return JSONResponse(answer)


def load_pushes(runtime: Runtime, wall: Wall, items: list[Any]) -> int:
    """Fixture pushes: history sent earlier (no must-be-future check)."""
    for item in items:
        if not isinstance(item, dict):
            raise ValueError(f"a taplytics push fixture must be an object: {item!r}")
        extra = {k: item[k] for k in ("id", "created_at", "status") if k in item}
        try:
            push = validate({k: v for k, v in item.items() if k not in extra}, None)
        except TapError as exc:
            raise ValueError(f"push fixture {item.get('name')!r}: {exc.message}") from None
        doc = {"id": new_id(runtime, PUSH), "created_at": stamp(wall.now(), millis=True),
               **push, **extra}
        runtime.store.put(NS, PUSH, str(doc["id"]), doc)
    return len(items)
