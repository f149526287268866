"""Request parameters the way the emulated services read them, and their error answers.

Amplitude documents form bodies, yet real clients also send ``event_type`` in the query
string, put it in the body of a GET or DELETE, or announce ``Content-Type:
application/json`` with no body at all (``amplitude-data-wrapper`` does). The sandbox
merges the query string and the body (the body wins), accepts a JSON object body too, and
treats an empty body as no parameters whatever its declared type. Starlette's own form
parser needs ``python-multipart``; url-encoded bodies are parsed here with the stdlib.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

PROPERTY_TYPES = ("string", "number", "boolean", "enum", "any")


class ApiError(Exception):
    """An answer the emulated API gives instead of success.

    ``bare`` answers ``{"success": false}`` without the ``errors`` list, as Amplitude does
    for some user-property failures.
    """

    def __init__(self, status: int, message: str, *, bare: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.bare = bare

    def response(self) -> JSONResponse:
        if self.bare:
            return JSONResponse({"success": False}, status_code=self.status)
        return envelope_error(self.status, self.message)


def envelope_error(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"success": False, "errors": [{"message": message}]}, status_code=status, headers=headers
    )


def not_found(status: int = 400) -> ApiError:
    return ApiError(status, "Not found")


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_as_text(v) for v in value)
    return "" if value is None else str(value)


async def read_params(request: Request) -> dict[str, str]:
    """Query string, then body (url-encoded or a JSON object); later values win."""
    # most calls carry no query string: skip building (and parsing) an empty one
    params: dict[str, str] = dict(request.query_params) if request.scope.get("query_string") else {}
    body = await request.body()
    if not body.strip():
        return params
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype.endswith("json"):
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            raise ApiError(400, "Request is malformed: the body is not valid JSON.") from exc
        if not isinstance(decoded, dict):
            raise ApiError(400, "Request is malformed: a JSON body must be an object.")
        params.update({str(k): _as_text(v) for k, v in decoded.items()})
    elif ctype in ("", "application/x-www-form-urlencoded", "text/plain"):
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise ApiError(400, "Request is malformed: the body is not UTF-8.") from exc
        params.update(pairs)
    else:
        raise ApiError(400, f"Request is malformed: unsupported content type {ctype!r}.")
    return params


def required(params: dict[str, str], name: str, *, bare: bool = False) -> str:
    value = params.get(name)
    if value is None or not value.strip():
        raise ApiError(400, f"Missing required parameter: {name}", bare=bare)
    return value


def parse_bool(value: str, name: str, *, bare: bool = False) -> bool:
    """Booleans travel as the strings ``true``/``false`` (any case)."""
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ApiError(400, f"Invalid value for {name}: {value!r} (expected true or false)", bare=bare)


def parse_type(value: str, *, bare: bool = False) -> str:
    lowered = value.strip().lower()
    if lowered not in PROPERTY_TYPES:
        raise ApiError(
            400, f"Invalid type {value!r}: expected one of {', '.join(PROPERTY_TYPES)}", bare=bare
        )
    return lowered


def parse_list(value: str) -> list[str] | None:
    """A comma-separated list; an empty string clears it (``None``)."""
    if not value.strip():
        return None
    return [item.strip() for item in value.split(",")]


def optional_text(value: str) -> str | None:
    """An empty string clears a nullable text field."""
    return value if value != "" else None
