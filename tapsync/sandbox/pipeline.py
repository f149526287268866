"""The path every emulated API request takes: count → authenticate → charge → delay →
fault → handler → release.

Pure ASGI rather than ``BaseHTTPMiddleware`` so that a dropped connection can be
emulated (the response is started, then :class:`ConnectionDropped` is raised) and so the
cost is held for exactly as long as the request is in flight: latency and slow faults
sleep *while* the cost is held, which is what makes five simultaneous GETs with latency
earn a 429 on the fifth, and the ``finally`` gives the cost back even when the handler
fails or the client goes away. ``/_sandbox/`` requests bypass all of it.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tapsync.sandbox.faults import ConnectionDropped, FaultRule
from tapsync.sandbox.runtime import Runtime

ADMIN_PREFIX = "/_sandbox"


def _fault_response(rule: FaultRule) -> Response:
    headers = {}
    if rule.status in (429, 503):
        headers["Retry-After"] = str(rule.retry_after if rule.retry_after is not None else 1)
    return JSONResponse(
        {"success": False, "errors": [{"message": f"Sandbox fault: injected {rule.status}"}]},
        status_code=rule.status, headers=headers,
    )


async def _drop(send: Send) -> None:
    await send({
        "type": "http.response.start", "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
    })
    raise ConnectionDropped("sandbox fault: connection dropped")


class SandboxMiddleware:
    """Wraps the Starlette router; see the module docstring."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        runtime = self.runtime
        method: str = scope["method"]
        guard = runtime.guard_for(path)
        raw_path = bytes(scope.get("raw_path") or path.encode()).decode("latin-1")
        label = guard.label(method, raw_path) if guard else f"{method} <unknown>"
        status: dict[str, Any] = {"code": None}

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        outcome = "500"
        try:
            if guard is None:
                await self.app(scope, receive, recording_send)
                return
            key = guard.authenticate(Headers(scope=scope))
            if isinstance(key, Response):
                await key(scope, receive, recording_send)
                return
            cost = guard.cost(method) if guard.cost else 0
            if cost:
                refusal = runtime.limiter.acquire(key, cost)
                if refusal is not None:
                    runtime.stats.throttled += 1
                    answer = JSONResponse(
                        {"success": False, "errors": [{"message": refusal.message}]},
                        status_code=429, headers={"Retry-After": str(refusal.retry_after)},
                    )
                    await answer(scope, receive, recording_send)
                    return
            try:
                await self._admitted(scope, receive, recording_send, method, path)
            finally:
                if cost:
                    runtime.limiter.release(key, cost)
        except ConnectionDropped:
            outcome = "dropped"
            raise
        finally:
            if status["code"] is not None and outcome != "dropped":
                outcome = str(status["code"])
            runtime.stats.record(label, outcome)

    async def _admitted(
        self, scope: Scope, receive: Receive, send: Send, method: str, path: str
    ) -> None:
        latency = self.runtime.settings.latency_ms
        if latency > 0:
            await self.runtime.sleep(latency / 1000.0)
        rule = self.runtime.faults.pick(method, path)
        if rule is None:
            await self.app(scope, receive, send)
        elif rule.kind == "slow":
            await self.runtime.sleep(max(0.0, rule.delay_ms) / 1000.0)
            await self.app(scope, receive, send)
        elif rule.kind == "status":
            await _fault_response(rule)(scope, receive, send)
        elif rule.kind == "drop":
            await _drop(send)
        else:  # store_then_fail: let the write land, then lose the answer
            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            if rule.drop:
                await _drop(send)
            else:
                await _fault_response(rule)(scope, receive, send)
