"""Fault injection: answers the real services give on bad days, on demand.

Rules are set through ``POST /_sandbox/faults`` and tried in order for every emulated API
request (never for ``/_sandbox/``). A rule fires for a fraction ``rate`` of the matching
calls (decided by a seeded RNG, so a test is repeatable), at most ``times`` times:

- ``status``: answer ``status`` (with an envelope error; ``Retry-After`` for 429/503)
  without touching the state;
- ``drop``: drop the connection (see :class:`ConnectionDropped`);
- ``slow``: wait ``delay_ms`` more, then answer normally (cost stays in flight meanwhile);
- ``store_then_fail``: perform the request — the write lands — then answer ``status``,
  or drop the connection if ``drop`` is true. This is the uncertain write the executor
  must reconcile by reading.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

import httpx

KINDS = ("status", "drop", "slow", "store_then_fail")


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised by the app after it has started a response, to drop the connection.

    Over a socket, uvicorn closes the connection mid-response and the client sees
    ``httpx.RemoteProtocolError`` ("peer closed connection without sending complete
    message body"). In-process, ``httpx.ASGITransport`` (with its default
    ``raise_app_exceptions=True``) re-raises the app's exception inside the client's
    request context, so the caller sees this very exception — also an
    ``httpx.RemoteProtocolError``, with ``.request`` set. Both roads lead to the same
    ``httpx.TransportError`` handling in the client.
    """


@dataclass
class FaultRule:
    kind: str
    rate: float = 1.0
    status: int = 500
    delay_ms: float = 0.0
    times: int | None = None
    method: str | None = None
    path: str | None = None  # prefix of the decoded request path
    retry_after: int | None = None
    drop: bool = False  # store_then_fail: drop the connection instead of answering

    @classmethod
    def parse(cls, raw: Any) -> FaultRule:
        if not isinstance(raw, dict):
            raise ValueError("a fault rule must be an object")
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault rule keys: {sorted(unknown)}")
        rule = cls(**raw)
        if rule.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {KINDS}, not {rule.kind!r}")
        if not 0.0 <= float(rule.rate) <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if not 100 <= int(rule.status) <= 599:
            raise ValueError("status must be an HTTP status code")
        if rule.times is not None and rule.times < 0:
            raise ValueError("times must be ≥ 0")
        return rule

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return not (self.path and not path.startswith(self.path))


class FaultInjector:
    """The active rules, and how often each kind fired."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._rng = random.Random(0)
        self._lock = threading.Lock()
        self.fired: dict[str, int] = {}

    def configure(self, rules: list[FaultRule], seed: int | None = 0) -> None:
        with self._lock:
            self._rules = list(rules)
            self._rng = random.Random(seed)

    def clear(self) -> None:
        self.configure([])

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(rule) for rule in self._rules]

    def pick(self, method: str, path: str) -> FaultRule | None:
        """The first matching rule that fires for this call, if any (and count it)."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path) or rule.times == 0:
                    continue
                if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                self.fired[rule.kind] = self.fired.get(rule.kind, 0) + 1
                return rule
        return None
