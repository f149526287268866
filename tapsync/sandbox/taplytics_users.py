"""Taplytics users: ``/v2/users`` and ``/v2/usersByToken``.

A user is found by its Taplytics ``id`` (path), or by the project's own ``user_id`` or
``email`` (query, or a POST body), as the seed allows. ``POST`` creates or updates, and a
posted ``custom_data`` is *merged* into the stored one at the top level (the seed: "the
two will be merged"); a ``null`` value removes that key, which is how a client that owns
``custom_data`` as a whole takes a key away. Single users carry ``custom_data``; list items
carry the same data as ``metadata`` (the seed's token-paginated example).
"""

from __future__ import annotations

from typing import Any

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
    per_page,
    stamp,
)

USER = "user"
TEXT_FIELDS = ("user_id", "email", "first_name", "last_name", "gender")
OUT_FIELDS = ("id", "created_at", "user_id", "email", "first_name", "last_name", "name",
              "custom_data", "last_seen_ip", "location", "session_count", "gender")


def user_out(doc: Doc, *, listed: bool = False) -> dict[str, Any]:
    """The seed's user object; ``listed`` renames ``custom_data`` to ``metadata`` and adds
    the list-only ``experiments`` and ``devices``."""
    names = [doc.get("first_name"), doc.get("last_name")]
    full = " ".join(n for n in names if n) or None
    out = {f: doc.get(f) for f in OUT_FIELDS}
    out["name"] = doc.get("name") or full
    out["custom_data"] = dict(doc.get("custom_data") or {})
    if listed:
        out["metadata"] = out.pop("custom_data")
        out["experiments"] = list(doc.get("experiments") or [])
        out["devices"] = list(doc.get("devices") or [])
    return out


def find_user(call: Call, *, by_body: bool = False) -> Doc | None:
    """By path ``id``, else ``user_id``, else ``email`` (query; also the body on POST)."""
    store = call.runtime.store
    if call.path.get("id"):
        doc = store.get(NS, USER, call.path["id"])
        if doc is None:
            raise not_found(f"user {call.path['id']!r}")
        return doc
    for field in ("user_id", "email"):
        wanted = call.query.get(field)
        if wanted is None and by_body and isinstance(call.body, dict):
            value = call.body.get(field)
            wanted = value if isinstance(value, str) and value else None
        if wanted:
            return next((d for d in store.values(NS, USER) if d.get(field) == wanted), None)
    return None


def merge_custom_data(stored: Any, posted: Any) -> dict[str, Any]:
    if not isinstance(posted, dict):
        raise TapError(400, "custom_data must be an object")
    merged = dict(stored or {})
    for key, value in posted.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def new_user(runtime: Runtime, wall: Wall, user_id: str | None = None) -> Doc:
    return {"id": user_id or new_id(runtime, USER),
            "created_at": stamp(wall.now()), "user_id": None, "email": None,
            "first_name": None, "last_name": None, "name": None, "custom_data": {},
            "last_seen_ip": None, "location": {}, "session_count": 0, "gender": None}


def get_users(call: Call) -> Response:
    identified = call.path.get("id") or call.query.get("user_id") or call.query.get("email")
    if not identified:  # the collection itself, page by page
        return page_of(call, [user_out(d, listed=True)
                              for d in call.runtime.store.values(NS, USER)])
    doc = find_user(call)
    if doc is None:
        raise not_found("user")
    return JSONResponse(user_out(doc))


def post_user(call: Call) -> Response:
    body = call.body if call.body is not None else {}
    if not isinstance(body, dict):
        raise TapError(400, "the body must be a JSON object")
    doc = find_user(call, by_body=True)
    if doc is None:
        if not (call.param("user_id") or call.param("email")):
            raise TapError(400, "Missing parameter: user_id or email (or a user id in the path)")
        doc = new_user(call.runtime, call.wall)
        for field in ("user_id", "email"):  # named in the query only: still the identity
            doc[field] = call.query.get(field) or None
    for field in TEXT_FIELDS:
        if field in body:
            value = body[field]
            if value is not None and not isinstance(value, str):
                raise TapError(400, f"{field} must be a string")
            doc[field] = value
    if "custom_data" in body and body["custom_data"] is not None:
        doc["custom_data"] = merge_custom_data(doc.get("custom_data"), body["custom_data"])
    call.runtime.store.put(NS, USER, doc["id"], doc)
    return JSONResponse(user_out(doc))


def delete_user(call: Call) -> Response:
    doc = find_user(call)
    if doc is None:
        raise not_found("user")
    call.runtime.store.delete(NS, USER, doc["id"])
    return Response(status_code=204, media_type="application/json")


def users_by_token(call: Call) -> Response:
    """Token pagination: the token is the id of the next page's first user."""
    docs = call.runtime.store.values(NS, USER)
    size, token = per_page(call), call.query.get("paginationToken")
    start = 0
    if token:
        start = next((i for i, d in enumerate(docs) if d["id"] == token), -1)
        if start < 0:
            raise TapError(400, f"unknown paginationToken {token!r}")
    chunk = docs[start:start + size]
    after = docs[start + size] if start + size < len(docs) else None
    return JSONResponse({"nextPaginationToken": after["id"] if after else None,
                         "numEntities": len(chunk),
                         "users": [user_out(d, listed=True) for d in chunk]})


def load_users(runtime: Runtime, wall: Wall, items: list[Any]) -> int:
    """Fixture users: the seed's fields, plus ``experiments`` and ``devices``."""
    for item in items:
        if not isinstance(item, dict):
            raise ValueError(f"a taplytics user fixture must be an object: {item!r}")
        doc = new_user(runtime, wall, item.get("id"))
        doc.update({k: v for k, v in item.items()
                    if k in doc or k in ("experiments", "devices")})
        runtime.store.put(NS, USER, doc["id"], doc)
    return len(items)
