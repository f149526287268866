"""Helpers for the apply tests: a sandbox with its admin panel, and plan → apply → re-plan.

Everything runs the real engine, executor, provider and HTTP client against the real
sandbox app in process (``httpx.ASGITransport``); the sandbox's own ``/_sandbox/stats``
is the witness for what was sent, never the client's belief.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from tapsync.budget import Budget, ManualClock, Window
from tapsync.changes import Plan
from tapsync.config import Config, load_config
from tapsync.engine import (
    SANDBOX_CREDENTIALS,
    Session,
    apply_plan,
    connect,
    make_plan,
    read_live,
)
from tapsync.executor import ApplyResult, Journal
from tapsync.http import asgi_transport
from tapsync.model import Resource, ResourceKey, State
from tapsync.normalize import canonical
from tapsync.sandbox import create_app
from tapsync.sandbox.clock import Clock

A = "amplitude"


def key(kind: str, *name: str) -> ResourceKey:
    return ResourceKey(A, kind, name)


def res(kind: str, *name: str, absent: bool = False, renamed_from: tuple[str, ...] = (),
        **attrs: Any) -> Resource:
    """A desired resource as the manifest builder makes it (attrs in canonical form)."""
    k = key(kind, *name)
    if absent:
        return Resource(k, {}, absent=True)
    return Resource(k, canonical(A, kind, attrs), renamed_from=renamed_from)


def workspace_config(tmp: Path, extra: str = "") -> Config:
    path = tmp / "tapsync.yaml"
    path.write_text("version: 1\nmanifests: [manifests/]\n" + extra, encoding="utf-8")
    return load_config(path, {})


class Sandbox:
    """One in-process sandbox app and the ``/_sandbox/`` calls the tests need."""

    def __init__(self, app: Starlette | None = None, *, url: str | None = None,
                 **options: Any) -> None:
        self.app = app if app is not None else create_app(**options)
        self.url = url  # served on a socket: talk to it there

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        transport = None if self.url else httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport,
                                     base_url=self.url or "http://sandbox") as c:
            response = await c.request(method, "/_sandbox" + path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def fixtures(self, amplitude: Mapping[str, Any]) -> None:
        await self.admin("POST", "/fixtures", {"amplitude": dict(amplitude)})

    async def faults(self, *rules: Mapping[str, Any], seed: int = 0) -> None:
        await self.admin("POST", "/faults", {"faults": [dict(r) for r in rules], "seed": seed})

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self.admin("GET", "/stats")
        return stats

    async def state(self) -> dict[str, Any]:
        state: dict[str, Any] = await self.admin("GET", "/state")
        return state


def writes(stats: Mapping[str, Any]) -> int:
    """Write calls the sandbox received (any answer), from its per-endpoint statistics."""
    return sum(e["count"] for label, e in stats["endpoints"].items()
               if label.split(" ", 1)[0] in ("POST", "PUT", "DELETE", "PATCH"))


@asynccontextmanager
async def connected(sandbox: Sandbox, cfg: Config,
                    credentials: Mapping[str, Mapping[str, str]] = SANDBOX_CREDENTIALS
                    ) -> AsyncIterator[Session]:
    async with connect(cfg, ("amplitude",), credentials,
                       transport=asgi_transport(sandbox.app)) as s:
        yield s


@dataclass
class Round:
    """One plan → apply → re-plan round."""

    plan: Plan
    result: ApplyResult
    replan: Plan


async def plan_only(s: Session, desired: State) -> Plan:
    return make_plan(s, desired, await read_live(s, desired))


async def round_trip(s: Session, desired: State, journal: Journal | None = None) -> Round:
    plan = await plan_only(s, desired)
    result = await apply_plan(s, plan, journal=journal or Journal(None))
    return Round(plan, result, await plan_only(s, desired))


def describe(plan: Plan) -> list[str]:
    """A readable list of a plan's changes, for assertion messages."""
    return [f"{c.action.value} {c.key.address} {[f.label for f in c.fields]}"
            for c in plan.changes]


def failures(result: ApplyResult) -> list[str]:
    return [f"{r.status} {r.change.action.value} {r.change.key.address}: {r.message}"
            for r in result.not_applied]


def virtual_app(clock: ManualClock, **options: Any) -> Starlette:
    """A sandbox whose limits read the same virtual time as the client's budget."""
    return create_app(clock=Clock(source=clock), **options)


def virtual_budget(s: Session, clock: ManualClock, hourly: int) -> Budget:
    """The budget the engine would build from the config, on the virtual clock."""
    cfg = s.config.providers[A].budget
    assert (cfg.concurrent_cost, cfg.hourly_cost) == (4, hourly)
    budget = Budget(concurrent=cfg.concurrent_cost, windows=[Window(hourly, 3600.0)],
                    reserve=cfg.reserve, clock=clock, sleep=clock.sleep)
    s.clients[A].limiter = budget
    s.budgets[A] = budget
    return budget
