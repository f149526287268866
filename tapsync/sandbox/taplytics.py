"""Taplytics REST API v2 (``/v2/…``): routes, experiments, events and fixtures.

Users live in :mod:`taplytics_users`, pushes in :mod:`taplytics_push`, what they share in
:mod:`taplytics_base`. Experiments cannot be created or edited through the API (they are
made in the dashboard), so they enter the sandbox only as fixtures:
``POST /_sandbox/fixtures {"taplytics": {"experiments": [...], "users": [...],
"pushes": [...]}}``. The API is not cost-limited (the seed documents no limit); it does
pass through the pipeline, so latency and faults — ``store_then_fail`` on ``POST
/v2/push`` above all — apply to it like to any emulated API.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tapsync.sandbox import taplytics_push as push
from tapsync.sandbox import taplytics_users as users
from tapsync.sandbox.runtime import Guard, Runtime
from tapsync.sandbox.store import Doc
from tapsync.sandbox.taplytics_base import (
    DEFAULT_TOKEN,
    NS,
    Call,
    Handler,
    TapError,
    Wall,
    endpoint,
    new_id,
    not_found,
    page_of,
    stamp,
)

PREFIX = "/v2"
EXPERIMENT, EVENT = "experiment", "event"
STATUSES = ("draft", "active", "paused", "archived")
MAX_EVENTS = 100
PROJECT_ID = "5a68fdea39003c0094fa1d6a"
_ONE = re.compile(r"^/v2/(users|experiments|push)/[^/]+/?$")


# --- experiments ---------------------------------------------------------------------------

def _experiment(call: Call) -> Doc:
    doc = call.runtime.store.get(NS, EXPERIMENT, call.path["id"])
    if doc is None:
        raise not_found(f"experiment {call.path['id']!r}")
    return doc


def list_experiments(call: Call) -> Response:
    return page_of(call, call.runtime.store.values(NS, EXPERIMENT))


def get_experiment(call: Call) -> Response:
    return JSONResponse(_experiment(call))


def delete_experiment(call: Call) -> Response:
    doc = _experiment(call)
    call.runtime.store.delete(NS, EXPERIMENT, doc["id"])
    return JSONResponse({"deleted": True, "id": doc["id"]})


# --- events --------------------------------------------------------------------------------

def post_events(call: Call) -> Response:
    """At most 100 events, each with a ``name``; ``value`` a number, ``metaData`` an object."""
    session_id = call.query.get("session_id")
    if not session_id:
        raise TapError(400, "Missing parameter: session_id")
    events = call.body
    if not isinstance(events, list) or not events:
        raise TapError(400, "the body must be a non-empty JSON array of events")
    if len(events) > MAX_EVENTS:
        raise TapError(400, f"at most {MAX_EVENTS} events per request, not {len(events)}")
    for i, event in enumerate(events):
        if not isinstance(event, dict) or not isinstance(event.get("name"), str) \
                or not event["name"]:
            raise TapError(400, f"events[{i}] needs a name")
        value = event.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise TapError(400, f"events[{i}].value must be a number")
        if event.get("metaData") is not None and not isinstance(event["metaData"], dict):
            raise TapError(400, f"events[{i}].metaData must be an object")
    for event in events:
        event_id = new_id(call.runtime, EVENT)
        call.runtime.store.put(NS, EVENT, event_id, {
            "id": event_id, "session_id": session_id, "name": event["name"],
            "date": event.get("date") or stamp(call.wall.now()), "value": event.get("value"),
            "metaData": event.get("metaData") or {}})
    return JSONResponse({"count": len(events)})  # the seed shows a bare 200: our choice


# --- fixtures ------------------------------------------------------------------------------

def load_experiments(runtime: Runtime, wall: Wall, items: list[Any]) -> int:
    """Experiments in the seed's shape; ``name`` required, the rest defaulted."""
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError(f"a taplytics experiment fixture needs a name: {item!r}")
        status = item.get("status", "draft")
        if status not in STATUSES:
            raise ValueError(f"experiment status must be one of {STATUSES}, not {status!r}")
        now = wall.now().strftime("%Y-%m-%dT%H:%M:%S.000Z")
        doc: Doc = {"id": new_id(runtime, EXPERIMENT), "project_id": PROJECT_ID,
                    "description": "", "goal_ids": [], "filters": [],
                    "baseline": {"name": "Baseline", "distributionPercent": 0,
                                 "dynamicVariables": []},
                    "created_at": now, "updated_at": now, "status": status}
        doc.update(item)
        doc["variations"] = [_variation(runtime, v) for v in item.get("variations") or []]
        runtime.store.put(NS, EXPERIMENT, str(doc["id"]), doc)
    return len(items)


def _variation(runtime: Runtime, item: Any) -> Doc:
    """A fixture variation in the seed's list shape: ``name`` required; ``_id``,
    ``distributionPercent``, ``dynamicVariables`` and ``webElements`` defaulted."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ValueError(f"a taplytics experiment variation needs a name: {item!r}")
    share = item.get("distributionPercent", 0)
    if isinstance(share, bool) or not isinstance(share, (int, float)):
        raise ValueError(f"variation {item['name']!r}: distributionPercent must be a number")
    return {"name": item["name"], "distributionPercent": share,
            "_id": new_id(runtime, "variation"), "dynamicVariables": [], "webElements": [],
            **item}


def fixture_loader(wall: Wall) -> Any:
    loaders = {"experiments": load_experiments, "users": users.load_users,
               "pushes": push.load_pushes}

    def load(runtime: Runtime, data: Any) -> dict[str, int]:
        if not isinstance(data, dict):
            raise ValueError("the taplytics fixture must be a mapping")
        unknown = set(data) - set(loaders)
        if unknown:
            raise ValueError(f"unknown taplytics fixture keys: {sorted(unknown)}; "
                             f"known: {sorted(loaders)}")
        counts = {}
        for key, loader in loaders.items():
            items = data.get(key) or []
            if not isinstance(items, list):
                raise ValueError(f"taplytics.{key} must be a list")
            counts[key] = loader(runtime, wall, items)
        return counts

    return load


# --- routing -------------------------------------------------------------------------------

def label(method: str, raw_path: str) -> str:
    path = raw_path.split("?", 1)[0]
    match = _ONE.match(path)
    return f"{method} /v2/{match.group(1)}/{{id}}" if match else f"{method} {path}"


async def _unknown(request: Any) -> Response:
    return JSONResponse({"error": "Not found"}, status_code=404)


def install(runtime: Runtime) -> list[Route]:
    """Register the guard (every ``/v2/`` request is admitted; handlers check the token,
    which may sit in the query or the body) and the fixtures; return the routes."""
    runtime.credentials.setdefault(NS, DEFAULT_TOKEN)
    runtime.guards.append(Guard(name=NS, prefixes=(PREFIX,),
                                authenticate=lambda headers: NS, label=label))
    wall = Wall(runtime)
    runtime.fixture_loaders[NS] = fixture_loader(wall)

    def route(path: str, methods: dict[str, Handler]) -> Route:
        handlers = {m: endpoint(runtime, wall, h) for m, h in methods.items()}

        async def dispatch(request: Any) -> Response:
            return await handlers[request.method](request)

        return Route(path, dispatch, methods=list(methods))

    return [
        route("/v2/users", {"GET": users.get_users, "POST": users.post_user,
                            "DELETE": users.delete_user}),
        route("/v2/users/{id}", {"GET": users.get_users, "POST": users.post_user,
                                 "DELETE": users.delete_user}),
        route("/v2/usersByToken", {"GET": users.users_by_token}),
        route("/v2/experiments", {"GET": list_experiments}),
        route("/v2/experiments/{id}", {"GET": get_experiment, "DELETE": delete_experiment}),
        route("/v2/events", {"POST": post_events}),
        route("/v2/push", {"GET": push.list_pushes, "POST": push.create_push}),
        route("/v2/push/{id}", {"GET": push.get_push}),
        Route("/v2/{rest:path}", _unknown, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]
