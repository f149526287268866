"""Amplitude HTTP V2 ingestion (``POST /2/httpapi``) and the Amplitude fixtures.

The real Taxonomy API cannot make an event *live*: only data can. Ingesting an event
makes a known event type (and the known properties it carries) live, and records unknown
ones as *unexpected* — ingested but not in the schema — which is what drift reports must
find. A deleted event or property stays deleted (the real service blocks its data).
Fixtures (``POST /_sandbox/fixtures``, key ``amplitude``) plant schema objects with any
status and replay ingested events, so tests can start from a realistic project.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tapsync.sandbox.amplitude_data import (
    CATEGORY,
    CATEGORY_IDS_START,
    EVENT,
    EVENT_PROPERTY,
    HIDDEN_FLAGS,
    NS,
    USER_PROPERTY,
    bare_user_property,
    find_category,
    new_event,
    new_event_property,
    new_user_property,
    prop_key,
    seed_builtins,
)
from tapsync.sandbox.runtime import Guard, Runtime
from tapsync.sandbox.store import Doc, Store

PATH = "/2/httpapi"
STATUSES = ("planned", "live", "unexpected")


def _mark(store: Store, kind: str, key: str, doc: Doc | None, fresh: Doc) -> None:
    if doc is None:
        store.put(NS, kind, key, fresh)
    elif doc["status"] == "planned" and not doc["deleted"]:
        store.put(NS, kind, key, {**doc, "status": "live"})


def _user_properties(raw: Any) -> list[str]:
    """Names set by an event: plain keys, or the keys inside ``$set``-style operations."""
    names: list[str] = []
    for key, value in (raw or {}).items():
        if str(key).startswith("$") and isinstance(value, dict):
            names.extend(str(k) for k in value)
        elif not str(key).startswith("$"):
            names.append(str(key))
    return names


def ingest_events(store: Store, events: list[dict[str, Any]]) -> None:
    """Apply what ingesting ``events`` does to the schema's statuses."""
    for event in events:
        event_type = str(event["event_type"])
        _mark(store, EVENT, event_type, store.get(NS, EVENT, event_type),
              new_event(event_type, "unexpected"))
        for name in (event.get("event_properties") or {}):
            own = store.get(NS, EVENT_PROPERTY, prop_key(event_type, str(name)))
            shared = store.get(NS, EVENT_PROPERTY, prop_key(None, str(name)))
            if own is None and shared is not None:
                _mark(store, EVENT_PROPERTY, prop_key(None, str(name)), shared, shared)
            else:
                _mark(store, EVENT_PROPERTY, prop_key(event_type, str(name)), own,
                      new_event_property(event_type, str(name), "unexpected"))
        for name in _user_properties(event.get("user_properties")):
            bare = bare_user_property(name)
            _mark(store, USER_PROPERTY, bare, store.get(NS, USER_PROPERTY, bare),
                  new_user_property(bare, "unexpected"))


def _error(message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"code": 400, "error": message, **extra}, status_code=400)


async def httpapi(request: Request) -> Response:
    runtime: Runtime = request.app.state.sandbox
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return _error("Invalid JSON request body")
    if not isinstance(body, dict) or not body.get("api_key"):
        return _error("Request missing required field", missing_field="api_key")
    if body["api_key"] not in runtime.credentials["amplitude_keys"]:
        return _error(f"Invalid API key: {body['api_key']}")
    events = body.get("events")
    if not isinstance(events, list) or not events:
        return _error("Request missing required field", missing_field="events")
    missing = {str(i): ["event_type"] for i, e in enumerate(events)
               if not isinstance(e, dict) or not e.get("event_type")}
    if missing:
        return _error("Request missing required field",
                      events_missing_required_fields=missing)
    with runtime.store.transaction():
        ingest_events(runtime.store, events)
    return JSONResponse({
        "code": 200, "events_ingested": len(events),
        "payload_size_bytes": len(await request.body()),
        "server_upload_time": int(time.time() * 1000),
    })


# --- fixtures ----------------------------------------------------------------------------

def _name(item: Any, *fields: str) -> str:
    if isinstance(item, str):
        return item
    for field in (*fields, "name"):
        if isinstance(item, dict) and item.get(field):
            return str(item[field])
    raise ValueError(f"fixture item without a name: {item!r}")


def _status(item: Any, default: str) -> tuple[str, bool]:
    status = str(item.get("status", default)) if isinstance(item, dict) else default
    deleted = bool(item.get("deleted", False)) if isinstance(item, dict) else False
    if status == "deleted":
        status, deleted = "live", True
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES} or deleted, not {status!r}")
    return status, deleted


def _fields(item: Any, doc: Doc, skip: tuple[str, ...]) -> Doc:
    if isinstance(item, dict):
        for key, value in item.items():
            if key in doc and key not in skip:
                doc[key] = value
    return doc


def load_fixtures(runtime: Runtime, data: Any) -> dict[str, int]:
    """``{categories, event_types, event_properties, user_properties, ingest}``; items are
    names or objects in the API's own field names plus ``status`` (planned, live,
    unexpected, deleted) and ``deleted``. Default status: live. A category may name its
    ``id`` (to replay documentation that uses a fixed one)."""
    if not isinstance(data, dict):
        raise ValueError("the amplitude fixture must be a mapping")
    unknown = set(data) - {"categories", "event_types", "event_properties", "user_properties",
                           "ingest"}
    if unknown:
        raise ValueError(f"unknown amplitude fixture keys: {sorted(unknown)}")
    store, counts = runtime.store, {}
    for item in data.get("categories") or []:
        name = _name(item, "category_name")
        if find_category(store, name) is None:
            wanted = item.get("id") if isinstance(item, dict) else None
            cid = int(wanted) if wanted else store.next_id(NS, "category_id", CATEGORY_IDS_START)
            store.put(NS, CATEGORY, str(cid), {"id": cid, "name": name})
    for item in data.get("event_types") or []:
        name = _name(item, "event_type")
        status, deleted = _status(item, "live")
        doc = _fields(item, new_event(name, status), ("event_type", "status", "deleted"))
        doc["deleted"] = deleted
        category = item.get("category") if isinstance(item, dict) else None
        if category:
            found = find_category(store, str(category))
            if found is None:
                raise ValueError(f"event type {name!r}: unknown category {category!r}")
            doc["category_id"] = found["id"]
        doc.update({flag: bool(doc[flag]) for flag in HIDDEN_FLAGS})
        store.put(NS, EVENT, name, doc)
    for item in data.get("event_properties") or []:
        name = _name(item, "event_property")
        event_type = item.get("event_type") if isinstance(item, dict) else None
        status, deleted = _status(item, "live")
        doc = _fields(item, new_event_property(event_type, name, status),
                      ("event_type", "event_property", "status", "deleted"))
        doc["deleted"] = deleted
        store.put(NS, EVENT_PROPERTY, prop_key(event_type, name), doc)
    for item in data.get("user_properties") or []:
        name = bare_user_property(_name(item, "user_property"))
        status, deleted = _status(item, "live")
        doc = _fields(item, new_user_property(name, status),
                      ("user_property", "status", "deleted", "builtin"))
        doc["deleted"] = deleted
        store.put(NS, USER_PROPERTY, name, doc)
    ingest_events(store, list(data.get("ingest") or []))
    for key in ("categories", "event_types", "event_properties", "user_properties", "ingest"):
        counts[key] = len(data.get(key) or [])
    return counts


def install(runtime: Runtime) -> list[Route]:
    """The ingestion API authenticates by the ``api_key`` in its body, and is not
    charged against the Taxonomy API's cost limits."""
    runtime.guards.append(Guard(
        name="amplitude-ingest", prefixes=(PATH,), authenticate=lambda headers: "ingest",
        label=lambda method, raw_path: f"{method} {PATH}",
    ))
    runtime.fixture_loaders["amplitude"] = load_fixtures
    runtime.reset_hooks.append(lambda rt: seed_builtins(rt.store))
    seed_builtins(runtime.store)
    return [Route(PATH, httpapi, methods=["POST"])]
