"""Amplitude's cost limits, per API key: a concurrent cost and a sliding hourly cost.

The Taxonomy API charges GET 1 and POST/PUT/DELETE 2. Requests in flight may add up to
the concurrent limit (4); the cost admitted over any sliding hour may add up to the period
limit (7,200). Past either one the service answers 429. The limiter is also the sandbox's
witness for the budget tests: it records the largest cost it ever saw in flight and the
total cost it admitted, so "the tool never exceeded 4" is measured here, not assumed.

A request that is refused costs nothing and holds nothing. Admission and release are
synchronous, so on one event loop the check-then-increment cannot interleave; the lock
covers callers on other threads.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field

from tapsync.sandbox.clock import Clock

HOUR = 3600.0


def amplitude_cost(method: str) -> int:
    """GET (and HEAD/OPTIONS) cost 1; every other method costs 2."""
    return 1 if method.upper() in ("GET", "HEAD", "OPTIONS") else 2


@dataclass
class KeyUsage:
    """What one API key has in flight and has spent."""

    in_flight: int = 0
    max_in_flight: int = 0
    spent_total: int = 0
    throttled: int = 0
    window: deque[tuple[float, int]] = field(default_factory=deque)
    window_cost: int = 0


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused, and how long to wait before trying again."""

    limit: str  # "concurrent" | "hourly"
    retry_after: int
    message: str


class CostLimiter:
    """Weighted concurrency plus a sliding-window period budget, per key."""

    def __init__(
        self, clock: Clock, concurrent_cost: int = 4, hourly_cost: int = 7200,
        window_seconds: float = HOUR,
    ) -> None:
        self.clock = clock
        self.concurrent_cost = concurrent_cost
        self.hourly_cost = hourly_cost
        self.window_seconds = window_seconds
        self._usage: dict[str, KeyUsage] = {}
        self._lock = threading.Lock()

    def _expire(self, usage: KeyUsage, now: float) -> None:
        while usage.window and usage.window[0][0] <= now - self.window_seconds:
            usage.window_cost -= usage.window.popleft()[1]

    def acquire(self, key: str, cost: int) -> Refusal | None:
        """Admit a request of ``cost`` (returns ``None``) or refuse it without side effects."""
        with self._lock:
            usage = self._usage.setdefault(key, KeyUsage())
            now = self.clock.now()
            self._expire(usage, now)
            if usage.in_flight + cost > self.concurrent_cost:
                usage.throttled += 1
                return Refusal(
                    "concurrent", 1,
                    f"Too many concurrent requests: cost {usage.in_flight} in flight + {cost} "
                    f"exceeds the concurrent cost limit of {self.concurrent_cost}.",
                )
            if usage.window_cost + cost > self.hourly_cost:
                usage.throttled += 1
                return Refusal(
                    "hourly", self._seconds_until_room(usage, cost, now),
                    f"Period cost limit exceeded: {usage.window_cost} spent in the last hour "
                    f"+ {cost} exceeds {self.hourly_cost}.",
                )
            usage.in_flight += cost
            usage.max_in_flight = max(usage.max_in_flight, usage.in_flight)
            usage.spent_total += cost
            usage.window.append((now, cost))
            usage.window_cost += cost
            return None

    def _seconds_until_room(self, usage: KeyUsage, cost: int, now: float) -> int:
        need = usage.window_cost + cost - self.hourly_cost
        freed = 0
        for stamp, spent in usage.window:
            freed += spent
            if freed >= need:
                return max(1, math.ceil(stamp + self.window_seconds - now))
        return max(1, math.ceil(self.window_seconds))  # cost larger than the whole budget

    def release(self, key: str, cost: int) -> None:
        with self._lock:
            usage = self._usage.setdefault(key, KeyUsage())
            usage.in_flight = max(0, usage.in_flight - cost)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Per key: cost in flight, the most ever in flight, spent (total and in the window)."""
        with self._lock:
            now = self.clock.now()
            out: dict[str, dict[str, int]] = {}
            for key, usage in self._usage.items():
                self._expire(usage, now)
                out[key] = {
                    "cost_in_flight": usage.in_flight,
                    "max_cost_in_flight": usage.max_in_flight,
                    "cost_spent": usage.spent_total,
                    "cost_spent_last_hour": usage.window_cost,
                    "throttled": usage.throttled,
                }
            return out

    def reset_stats(self) -> None:
        """Forget maxima and totals, keep the windows (a statistic is not a budget)."""
        with self._lock:
            for usage in self._usage.values():
                usage.max_in_flight = usage.in_flight
                usage.spent_total = 0
                usage.throttled = 0

    def reset(self) -> None:
        """Forget windows too (requests still in flight keep their cost)."""
        self.reset_stats()
        with self._lock:
            for usage in self._usage.values():
                usage.window.clear()
                usage.window_cost = 0
