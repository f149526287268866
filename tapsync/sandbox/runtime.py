"""The sandbox's live parts, shared by every emulated API and the admin endpoints.

One :class:`Runtime` hangs off ``app.state.sandbox``. Settings that the admin endpoints
can change (latency, the legacy delete rule, the limits) live here rather than in
closures, so a change applies to the very next request.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response

from tapsync.sandbox.clock import Clock
from tapsync.sandbox.faults import FaultInjector
from tapsync.sandbox.limits import CostLimiter
from tapsync.sandbox.store import Store


@dataclass(frozen=True)
class Guard:
    """How one emulated API admits a request before its handler runs.

    ``authenticate`` returns the key to charge (the API key) or the refusal to send;
    ``cost`` prices a method (``None``: the API is not cost-limited); ``label`` names the
    endpoint for the statistics from the method and the raw (still encoded) path.
    """

    name: str
    prefixes: tuple[str, ...]
    authenticate: Callable[[Headers], str | Response]
    label: Callable[[str, str], str]
    cost: Callable[[str], int] | None = None


@dataclass
class Stats:
    """Request counts kept by the sandbox itself (the budget tests' witness)."""

    requests: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    throttled: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, label: str, status: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_status[status] = self.by_status.get(status, 0) + 1
            entry = self.endpoints.setdefault(label, {"count": 0, "by_status": {}})
            entry["count"] += 1
            entry["by_status"][status] = entry["by_status"].get(status, 0) + 1

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.by_status = {}
            self.endpoints = {}
            self.throttled = 0


@dataclass
class Settings:
    """What ``/_sandbox/settings`` can change; ``/_sandbox/reset`` restores the start values.

    ``legacy_delete`` is the historical name of the *seed edition* switch (``--legacy-delete``,
    ``edition="seed"``): the older Taxonomy API that deletes only planned items and requires
    ``event_type`` on every event-property call. One switch, because the tool must cope with
    the older edition as a whole, not with a mix no real project ever had.
    """

    latency_ms: float = 0.0
    legacy_delete: bool = False
    concurrent_cost: int = 4
    hourly_cost: int = 7200

    @property
    def edition(self) -> str:
        """``"seed"`` (the older API page's rules) or ``"now"`` (the live service's)."""
        return "seed" if self.legacy_delete else "now"


FixtureLoader = Callable[["Runtime", Any], dict[str, int]]
Sleep = Callable[[float], Awaitable[None]]


async def real_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)
ResetHook = Callable[["Runtime"], None]


@dataclass
class Runtime:
    store: Store
    clock: Clock
    limiter: CostLimiter
    settings: Settings
    credentials: dict[str, Any]
    faults: FaultInjector = field(default_factory=FaultInjector)
    stats: Stats = field(default_factory=Stats)
    guards: list[Guard] = field(default_factory=list)
    fixture_loaders: dict[str, FixtureLoader] = field(default_factory=dict)
    reset_hooks: list[ResetHook] = field(default_factory=list)
    #: how latency and ``slow`` faults wait: a test swaps it to observe and release the
    #: wait deterministically instead of measuring wall time
    sleep: Sleep = real_sleep

    def guard_for(self, path: str) -> Guard | None:
        for guard in self.guards:
            if any(path == p or path.startswith(p.rstrip("/") + "/") for p in guard.prefixes):
                return guard
        return None

    def stats_snapshot(self) -> dict[str, Any]:
        keys = self.limiter.snapshot()
        return {
            "requests": self.stats.requests,
            "by_status": dict(self.stats.by_status),
            "throttled": self.stats.throttled,
            "max_cost_in_flight": max((k["max_cost_in_flight"] for k in keys.values()), default=0),
            "cost_in_flight": sum(k["cost_in_flight"] for k in keys.values()),
            "cost_spent": sum(k["cost_spent"] for k in keys.values()),
            "keys": keys,
            "endpoints": {k: {"count": v["count"], "by_status": dict(v["by_status"])}
                          for k, v in self.stats.endpoints.items()},
            "faults_fired": dict(self.faults.fired),
        }
