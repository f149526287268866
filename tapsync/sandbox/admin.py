"""``/_sandbox/`` — the control panel outside the emulated APIs.

Nothing here exists on the real services; it lets tests and demos set the scene and
read what happened. No credentials are needed (the sandbox serves loopback only), and
these requests are neither charged, delayed, faulted nor counted.

=====================  ======================================================================
``POST  /reset``        forget all state, statistics, faults and limit windows; settings back
                        to their start values → ``{"ok": true}``
``POST  /fixtures``     JSON or YAML ``{"amplitude": {...}}`` (see :mod:`ingest`), loaded in
                        one transaction → ``{"ok": true, "loaded": {"amplitude": {...}}}``
``GET   /state``        every stored document, statuses included (``{namespace: {kind: …}}``)
``GET|POST /latency``   ``{"latency_ms": 50}`` → ``{"latency_ms": 50.0}``
``GET|POST|DELETE /faults``  ``{"faults": [rule, …], "seed": 0}`` replaces the rules (see
                        :mod:`faults`); DELETE clears → ``{"faults": [...]}``
``GET|DELETE /stats``   requests by status, per endpoint, 429s, cost in flight / max / spent
``GET|POST /clock``     ``{"advance": 3600}`` → ``{"now": 3600.0}``
``GET|POST /settings``  ``latency_ms``, ``legacy_delete`` / ``edition`` (``"seed"`` = legacy on),
                        ``concurrent_cost``, ``hourly_cost``
=====================  ======================================================================

Errors answer 400 ``{"ok": false, "error": "…"}``.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tapsync.sandbox.faults import FaultRule
from tapsync.sandbox.runtime import Runtime, Settings

PREFIX = "/_sandbox"
EDITIONS = ("now", "seed")


def _rt(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.sandbox
    return runtime


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=400)


async def _body(request: Request) -> Any:
    """JSON, or YAML when the content type says so or JSON does not parse."""
    raw = await request.body()
    if not raw.strip():
        return {}
    if "yaml" not in request.headers.get("content-type", ""):
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return yaml.safe_load(raw.decode("utf-8"))


def reset_runtime(runtime: Runtime, initial: Settings) -> None:
    with runtime.store.transaction():
        runtime.store.clear()
        for hook in runtime.reset_hooks:
            hook(runtime)
    runtime.stats.reset()
    runtime.limiter.reset()
    runtime.faults.clear()
    runtime.faults.fired.clear()
    runtime.settings.latency_ms = initial.latency_ms
    runtime.settings.legacy_delete = initial.legacy_delete
    runtime.limiter.concurrent_cost = initial.concurrent_cost
    runtime.limiter.hourly_cost = initial.hourly_cost


async def reset(request: Request) -> Response:
    reset_runtime(_rt(request), request.app.state.initial_settings)
    return JSONResponse({"ok": True})


def load_fixtures(runtime: Runtime, data: Any) -> dict[str, Any]:
    """Load ``{provider: data}`` in one transaction: all of it, or (on error) none of it.

    Shared by ``POST /_sandbox/fixtures`` and ``tapsync sandbox load``.
    """
    if not isinstance(data, dict):
        raise ValueError("fixtures must be a mapping of provider → data")
    unknown = set(data) - set(runtime.fixture_loaders)
    if unknown:
        raise ValueError(f"no fixture loader for {sorted(unknown)}; "
                         f"known: {sorted(runtime.fixture_loaders)}")
    with runtime.store.transaction():
        return {name: runtime.fixture_loaders[name](runtime, value)
                for name, value in data.items()}


async def fixtures(request: Request) -> Response:
    try:
        loaded = load_fixtures(_rt(request), await _body(request))
    except (ValueError, TypeError, KeyError, yaml.YAMLError) as exc:
        return _bad(str(exc))
    return JSONResponse({"ok": True, "loaded": loaded})


async def state(request: Request) -> Response:
    return JSONResponse(_rt(request).store.dump())


async def latency(request: Request) -> Response:
    runtime = _rt(request)
    if request.method == "POST":
        data = await _body(request)
        value = data.get("latency_ms", data.get("ms")) if isinstance(data, dict) else None
        if not isinstance(value, (int, float)) or value < 0:
            return _bad("send {\"latency_ms\": N} with N ≥ 0")
        runtime.settings.latency_ms = float(value)
    return JSONResponse({"latency_ms": runtime.settings.latency_ms})


async def faults(request: Request) -> Response:
    runtime = _rt(request)
    if request.method == "DELETE":
        runtime.faults.clear()
    elif request.method == "POST":
        try:
            data = await _body(request)
            raw = data.get("faults", []) if isinstance(data, dict) else data
            seed = data.get("seed", 0) if isinstance(data, dict) else 0
            if not isinstance(raw, list):
                raise ValueError("faults must be a list of rules")
            runtime.faults.configure([FaultRule.parse(item) for item in raw], seed)
        except (ValueError, TypeError, yaml.YAMLError) as exc:
            return _bad(str(exc))
    return JSONResponse({"faults": runtime.faults.rules()})


async def stats(request: Request) -> Response:
    runtime = _rt(request)
    if request.method == "DELETE":
        runtime.stats.reset()
        runtime.limiter.reset_stats()
        runtime.faults.fired.clear()
    return JSONResponse(runtime.stats_snapshot())


async def clock(request: Request) -> Response:
    runtime = _rt(request)
    if request.method == "POST":
        data = await _body(request)
        seconds = data.get("advance") if isinstance(data, dict) else None
        if not isinstance(seconds, (int, float)) or seconds < 0:
            return _bad("send {\"advance\": seconds} with seconds ≥ 0")
        runtime.clock.advance(float(seconds))
    return JSONResponse({"now": runtime.clock.now()})


_SETTING_TYPES: dict[str, tuple[type, ...]] = {
    "latency_ms": (int, float), "legacy_delete": (bool,), "edition": (str,),
    "concurrent_cost": (int,), "hourly_cost": (int,)}


def _settings_error(data: dict[str, Any]) -> str | None:
    """Why ``data`` cannot be applied (``None``: it can), checked before anything changes."""
    for key, value in data.items():
        if key not in _SETTING_TYPES or not isinstance(value, _SETTING_TYPES[key]) or (
                isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0
        ) or (key == "edition" and value not in EDITIONS):
            return f"bad setting {key!r}: {value!r}"
    if "edition" in data and "legacy_delete" in data and (
            data["legacy_delete"] != (data["edition"] == "seed")):
        return "'edition' and 'legacy_delete' disagree: send one of them"
    return None


def _apply_settings(runtime: Runtime, data: dict[str, Any]) -> None:
    """``edition`` and ``legacy_delete`` are two spellings of one switch (see Settings)."""
    if "latency_ms" in data:
        runtime.settings.latency_ms = float(data["latency_ms"])
    if "legacy_delete" in data:
        runtime.settings.legacy_delete = bool(data["legacy_delete"])
    if "edition" in data:
        runtime.settings.legacy_delete = data["edition"] == "seed"
    if "concurrent_cost" in data:
        runtime.limiter.concurrent_cost = int(data["concurrent_cost"])
    if "hourly_cost" in data:
        runtime.limiter.hourly_cost = int(data["hourly_cost"])


async def settings(request: Request) -> Response:
    runtime = _rt(request)
    if request.method == "POST":
        data = await _body(request)
        if not isinstance(data, dict):
            return _bad("settings must be an object")
        error = _settings_error(data)
        if error is not None:
            return _bad(error)
        _apply_settings(runtime, data)
    return JSONResponse({
        "latency_ms": runtime.settings.latency_ms,
        "legacy_delete": runtime.settings.legacy_delete,
        "edition": runtime.settings.edition,
        "concurrent_cost": runtime.limiter.concurrent_cost,
        "hourly_cost": runtime.limiter.hourly_cost,
    })


def routes() -> list[Route]:
    return [
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{PREFIX}/fixtures", fixtures, methods=["POST"]),
        Route(f"{PREFIX}/state", state, methods=["GET"]),
        Route(f"{PREFIX}/latency", latency, methods=["GET", "POST"]),
        Route(f"{PREFIX}/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{PREFIX}/stats", stats, methods=["GET", "DELETE"]),
        Route(f"{PREFIX}/clock", clock, methods=["GET", "POST"]),
        Route(f"{PREFIX}/settings", settings, methods=["GET", "POST"]),
    ]
