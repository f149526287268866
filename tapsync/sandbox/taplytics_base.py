"""What every emulated Taplytics endpoint shares: the token, errors, ids, time, pages.

The token may travel in three places (query ``api_token``, a JSON body field
``api_token``, header ``x-access-token``), and two of them are not headers, so the
:class:`~tapsync.sandbox.runtime.Guard` admits every ``/v2/`` request and each handler
checks the token here, after the body is read. Pages carry the seed's ``Link`` header
byte for byte — single-quoted ``rel`` and the stray trailing ``"`` — because a client that
only parses the tidy form would break on the real service.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tapsync.sandbox.runtime import Runtime

NS = "taplytics"
DEFAULT_TOKEN = "sandbox-token"
MAX_PER_PAGE = 100
ID_BASE = 0x5A6A0CA339004C0094000000  # ids look like the seed's 24-hex Mongo ids


class TapError(Exception):
    """An answer other than success; the body is ``{"error": message}`` (sandbox's choice:
    the seed documents the status codes but no error body)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.message}, status_code=self.status)


def not_found(what: str) -> TapError:
    return TapError(404, f"{what} does not exist")


@dataclass
class Wall:
    """Wall-clock time that follows the runtime's clock, so ``/_sandbox/clock`` advances
    can make a scheduled push's time pass without waiting."""

    runtime: Runtime
    epoch: float = field(default_factory=time.time)
    start: float = 0.0

    def __post_init__(self) -> None:
        self.start = self.runtime.clock.now()

    def now(self) -> datetime:
        seconds = self.epoch + self.runtime.clock.now() - self.start
        return datetime.fromtimestamp(seconds, tz=timezone.utc)


def stamp(when: datetime, *, millis: bool = False) -> str:
    """Users: ``2015-01-06T03:51:57+00:00``; pushes: ``2015-06-09T18:08:51.194Z`` (seed)."""
    if millis:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def new_id(runtime: Runtime, kind: str) -> str:
    """A fresh 24-hex id; each kind counts in its own range, so ids never collide."""
    return f"{ID_BASE + (zlib.crc32(kind.encode()) << 32) + runtime.store.next_id(NS, kind):024x}"


@dataclass
class Call:
    """One request, read once: query, JSON body (``None`` when empty) and path params."""

    request: Request
    runtime: Runtime
    wall: Wall
    query: dict[str, str]
    body: Any
    path: dict[str, str]

    def param(self, name: str) -> str | None:
        """A path or query parameter, then a field of a JSON object body."""
        if self.path.get(name):
            return self.path[name]
        if self.query.get(name):
            return self.query[name]
        value = self.body.get(name) if isinstance(self.body, dict) else None
        return str(value) if isinstance(value, (str, int)) and str(value) else None


def _tokens(runtime: Runtime) -> Sequence[str]:
    configured = runtime.credentials.get(NS, DEFAULT_TOKEN)
    return (configured,) if isinstance(configured, str) else tuple(configured)


def authenticate(call: Call) -> None:
    """The first place that holds a token decides: query, then body, then header."""
    body_token = call.body.get("api_token") if isinstance(call.body, dict) else None
    token = (call.query.get("api_token") or body_token
             or call.request.headers.get("x-access-token"))
    if not token:
        raise TapError(401, "Unauthorized: send your REST API key as api_token or "
                            "x-access-token")
    if token not in _tokens(call.runtime):
        raise TapError(401, "Unauthorized: invalid API key")


Handler = Callable[[Call], Response]


def endpoint(runtime: Runtime, wall: Wall, handler: Handler
             ) -> Callable[[Request], Awaitable[Response]]:
    """Read, authenticate, then run ``handler`` in one store transaction (an error answer
    never leaves half a write behind)."""

    async def run(request: Request) -> Response:
        raw = await request.body()
        try:
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                raise TapError(400, "the body is not valid JSON") from None
            call = Call(request, runtime, wall, dict(request.query_params), body,
                        dict(request.path_params))
            authenticate(call)
            with runtime.store.transaction():
                return handler(call)
        except TapError as error:
            return error.response()

    return run


def _positive(call: Call, name: str, default: int) -> int:
    raw = call.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise TapError(400, f"{name} must be a positive integer, not {raw!r}")
    return int(raw)


def per_page(call: Call) -> int:
    """``per_page`` (default and cap: the account's 100 per page)."""
    return min(_positive(call, "per_page", MAX_PER_PAGE), MAX_PER_PAGE)


def page_of(call: Call, items: list[Any]) -> JSONResponse:
    """One page of ``items`` (already in creation order) with the seed's ``Link`` header."""
    size, page = per_page(call), _positive(call, "page", 1)
    last = max(1, math.ceil(len(items) / size))
    chunk = items[(page - 1) * size: page * size]
    rels = [("last", last)]
    if page < last:
        rels.append(("next", page + 1))
    if page > 1:
        rels.append(("prev", min(page - 1, last)))
    rels.append(("first", 1))
    links = ", ".join(f"<{_page_url(call, n, size)}>; rel='{rel}'" for rel, n in rels)
    return JSONResponse(chunk, headers={"Link": links + '"'})


def _page_url(call: Call, page: int, size: int) -> str:
    """The request's own URL with ``page``/``per_page`` replaced (a query ``api_token``
    stays in it, as in the seed's example)."""
    kept = [(k, v) for k, v in call.request.query_params.multi_items()
            if k not in ("page", "per_page")]
    query = urlencode([*kept, ("page", str(page)), ("per_page", str(size))])
    return str(call.request.url.replace(query=query))
