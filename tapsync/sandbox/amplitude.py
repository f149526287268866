"""Amplitude Taxonomy API (``/api/2/taxonomy/…``): authentication, routing, categories
and event types. Event and user properties live in :mod:`amplitude_props`.

Routing is done here on the *raw* path rather than by Starlette, because a name may hold
an encoded ``/`` (``a%2Fb``) that a decoded path would split in two: each segment is
percent-decoded only after the path has been cut. Every handler runs inside one store
transaction, so an error answer never leaves half a write behind.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tapsync.sandbox import amplitude_props as props
from tapsync.sandbox.amplitude_data import (
    CATEGORY,
    CATEGORY_IDS_START,
    EVENT,
    EVENT_PROPERTY,
    HIDDEN_FLAGS,
    INGESTED,
    NS,
    delete_rule,
    event_out,
    find_category,
    new_event,
    restore_rule,
)
from tapsync.sandbox.forms import (
    ApiError,
    envelope_error,
    not_found,
    optional_text,
    parse_bool,
    parse_list,
    read_params,
    required,
)
from tapsync.sandbox.limits import amplitude_cost
from tapsync.sandbox.runtime import Guard, Runtime
from tapsync.sandbox.store import Doc

PREFIX = "/api/2/taxonomy"
Handler = Callable[[Runtime, dict[str, str], str], Response]


def ok(data: Any = None, *, with_data: bool = False) -> JSONResponse:
    return JSONResponse({"success": True, "data": data} if with_data else {"success": True})


def truthy(params: dict[str, str], name: str) -> bool:
    return params.get(name, "").strip().lower() in ("true", "1")


# --- categories --------------------------------------------------------------------------

def create_category(rt: Runtime, p: dict[str, str], _: str) -> Response:
    name = required(p, "category_name")
    if find_category(rt.store, name) is not None:
        raise ApiError(409, f'Attempted to add a category, "{name}", that already exists.')
    category_id = rt.store.next_id(NS, "category_id", CATEGORY_IDS_START)
    rt.store.put(NS, CATEGORY, str(category_id), {"id": category_id, "name": name})
    return ok()  # the real service returns no id: clients GET by name to learn it


def list_categories(rt: Runtime, p: dict[str, str], _: str) -> Response:
    data = [{"id": d["id"], "name": d["name"]} for d in rt.store.values(NS, CATEGORY)]
    return ok(data, with_data=True)


def get_category(rt: Runtime, p: dict[str, str], name: str) -> Response:
    doc = find_category(rt.store, name)
    if doc is None:
        raise not_found()
    return ok({"id": doc["id"], "name": doc["name"]}, with_data=True)


def _category_by_id(rt: Runtime, raw_id: str) -> Doc:
    doc = rt.store.get(NS, CATEGORY, raw_id.strip()) if raw_id.strip().isdigit() else None
    if doc is None:
        raise ApiError(409, "Attempted to operate on entity event_category, "
                            f'id "{raw_id}", that does not exist.')
    return doc


def update_category(rt: Runtime, p: dict[str, str], raw_id: str) -> Response:
    doc = _category_by_id(rt, raw_id)
    name = required(p, "category_name")
    other = find_category(rt.store, name)
    if other is not None and other["id"] != doc["id"]:
        raise ApiError(409, f'Attempted to add a category, "{name}", that already exists.')
    rt.store.put(NS, CATEGORY, str(doc["id"]), {**doc, "name": name})
    return ok()


def delete_category(rt: Runtime, p: dict[str, str], raw_id: str) -> Response:
    doc = _category_by_id(rt, raw_id)
    rt.store.delete(NS, CATEGORY, str(doc["id"]))
    for event in rt.store.values(NS, EVENT):
        if event["category_id"] == doc["id"]:
            rt.store.put(NS, EVENT, event["event_type"], {**event, "category_id": None})
    return ok()


# --- event types ---------------------------------------------------------------------------

def _apply_event_fields(rt: Runtime, doc: Doc, p: dict[str, str]) -> None:
    """Write the fields present in ``p``. ``category_name`` is accepted as an alias of
    ``category`` (figma-taxonomy-gen sends it); ``category`` wins when both are present."""
    category = p.get("category", p.get("category_name"))
    if category is not None:
        if not category.strip():
            doc["category_id"] = None
        else:
            found = find_category(rt.store, category)
            if found is None:
                raise ApiError(400, f'Category "{category}" not found.')
            doc["category_id"] = found["id"]
    if "description" in p:
        doc["description"] = p["description"]
    for field in ("display_name", "owner"):
        if field in p:
            doc[field] = optional_text(p[field])
    if "tags" in p:
        doc["tags"] = parse_list(p["tags"]) or []
    if "is_active" in p:
        doc["is_active"] = parse_bool(p["is_active"], "is_active")
    for flag in HIDDEN_FLAGS:
        if flag in p:
            if doc["status"] not in INGESTED:
                raise ApiError(400, f"{flag} can only be set on ingested events.")
            doc[flag] = parse_bool(p[flag], flag)


def create_event(rt: Runtime, p: dict[str, str], _: str) -> Response:
    name = required(p, "event_type")
    doc = rt.store.get(NS, EVENT, name)
    if doc is not None and not (doc["status"] == "unexpected" and not doc["deleted"]):
        raise ApiError(409, f'Attempted to add an event, "{name}", that already exists.')
    if doc is None:
        doc = new_event(name)
    else:  # adding an ingested-only event to the plan makes it live
        doc["status"] = "live"
    _apply_event_fields(rt, doc, p)
    rt.store.put(NS, EVENT, name, doc)
    return ok()


def list_events(rt: Runtime, p: dict[str, str], _: str) -> Response:
    show_deleted = truthy(p, "showDeleted")
    data = [
        event_out(rt.store, doc) for doc in rt.store.values(NS, EVENT)
        if not doc["is_hidden_from_dropdowns"] and (show_deleted or not doc["deleted"])
    ]
    return ok(data, with_data=True)


def _event(rt: Runtime, name: str) -> Doc:
    doc = rt.store.get(NS, EVENT, name)
    if doc is None:
        raise not_found()
    return doc


def get_event(rt: Runtime, p: dict[str, str], name: str) -> Response:
    return ok(event_out(rt.store, _event(rt, name)), with_data=True)


def update_event(rt: Runtime, p: dict[str, str], name: str) -> Response:
    doc = _event(rt, name)
    if doc["deleted"]:
        raise ApiError(409, f'Attempted to update an event, "{name}", that is deleted.')
    _apply_event_fields(rt, doc, p)
    new_name = p.get("new_event_type", "").strip() and p["new_event_type"]
    if new_name and new_name != name:
        if rt.store.get(NS, EVENT, new_name) is not None:
            raise ApiError(409, f'Attempted to rename an event, "{name}", to "{new_name}", '
                                "that already exists.")
        rt.store.delete(NS, EVENT, name)
        doc["event_type"] = new_name
        props.move_event_properties(rt, name, new_name)
        name = new_name
    rt.store.put(NS, EVENT, name, doc)
    return ok()


def delete_event(rt: Runtime, p: dict[str, str], name: str) -> Response:
    doc = _event(rt, name)
    action = delete_rule(doc, legacy=rt.settings.legacy_delete, what="an event", name=name)
    if action == "remove":
        rt.store.delete(NS, EVENT, name)
        for key, prop in rt.store.items(NS, EVENT_PROPERTY):
            if prop["event_type"] == name:
                rt.store.delete(NS, EVENT_PROPERTY, key)
    else:
        rt.store.put(NS, EVENT, name, {**doc, "deleted": True, "status": "live"})
    return ok()


def restore_event(rt: Runtime, p: dict[str, str], name: str) -> Response:
    doc = rt.store.get(NS, EVENT, name)
    restore_rule(doc, what="an event", name=name)
    assert doc is not None
    rt.store.put(NS, EVENT, name, {**doc, "deleted": False})
    return ok()


# --- routing -----------------------------------------------------------------------------

ROUTES: dict[tuple[str, int, bool], dict[str, Handler]] = {
    ("category", 0, False): {"GET": list_categories, "POST": create_category},
    ("category", 1, False): {"GET": get_category, "PUT": update_category,
                             "DELETE": delete_category},
    ("event", 0, False): {"GET": list_events, "POST": create_event},
    ("event", 1, False): {"GET": get_event, "PUT": update_event, "DELETE": delete_event},
    ("event", 1, True): {"POST": restore_event},
    **props.ROUTES,
}
PLACEHOLDER = {"category": "{category}", "event": "{event_type}",
               "event-property": "{event_property}", "user-property": "{user_property}"}


def _split(raw_path: str) -> tuple[str, int, bool, str] | None:
    """``/api/2/taxonomy/event/Play%20Song/restore`` → ("event", 1, True, "Play Song")."""
    rest = raw_path[len(PREFIX):].strip("/")
    parts = rest.split("/") if rest else []
    if not parts or len(parts) > 3 or (len(parts) == 3 and parts[2] != "restore"):
        return None
    try:
        name = unquote(parts[1], errors="strict") if len(parts) > 1 else ""
    except UnicodeDecodeError:
        return None
    if len(parts) > 1 and not name:
        return None
    return parts[0], min(len(parts) - 1, 1), len(parts) == 3, name


def label(method: str, raw_path: str) -> str:
    split = _split(raw_path)
    if split is None:
        return f"{method} {PREFIX}/<unknown>"
    resource, arity, restore, _ = split
    tail = f"/{PLACEHOLDER.get(resource, '{name}')}" if arity else ""
    return f"{method} {PREFIX}/{resource}{tail}{'/restore' if restore else ''}"


async def dispatch(request: Request) -> Response:
    raw_path = bytes(request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
    split = _split(raw_path)
    methods = ROUTES.get(split[:3]) if split else None
    if split is None or methods is None:
        return envelope_error(404, "Not found")
    handler = methods.get(request.method)
    if handler is None:
        body: dict[str, Any] = {"success": False}
        return JSONResponse(body, status_code=405, headers={"Allow": ", ".join(methods)})
    runtime: Runtime = request.app.state.sandbox
    try:
        params = await read_params(request)
        with runtime.store.transaction():
            return handler(runtime, params, split[3])
    except ApiError as error:
        return error.response()


def authenticator(credentials: Mapping[str, str]) -> Callable[[Headers], str | Response]:
    """HTTP Basic against ``credentials`` (API key → secret key): none → 401 (envelope);
    wrong → 403 with Amplitude's non-envelope body. The API key is what gets charged, so
    each key pair has a budget of its own, as each real project does."""

    def authenticate(headers: Headers) -> str | Response:
        header = headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic" or not token.strip():
            return JSONResponse(
                {"success": False, "errors": [{"message": "Missing credentials"}]},
                status_code=401, headers={"WWW-Authenticate": 'Basic realm="Amplitude"'},
            )
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode()
            user, _, password = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        if not user or credentials.get(user) != password:
            return JSONResponse(
                {"error": {"metadata": {"details": "Invalid API Key"}}}, status_code=403
            )
        return user

    return authenticate


def install(runtime: Runtime, credentials: Mapping[str, str]) -> list[Route]:
    """Register the Taxonomy API's guard and return its routes."""
    runtime.guards.append(Guard(
        name="amplitude", prefixes=(PREFIX,), authenticate=authenticator(credentials),
        label=label, cost=amplitude_cost,
    ))
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return [Route(PREFIX, dispatch, methods=methods),
            Route(PREFIX + "/{rest:path}", dispatch, methods=methods)]
