"""Clocks for the sandbox's sliding-window limits.

The hourly cost window must be testable without waiting an hour, so every time the
sandbox reads comes from a :class:`Clock` that can be moved forward — in-process through
:meth:`Clock.advance`, over HTTP through ``POST /_sandbox/clock {"advance": 3600}``.
Clocks only ever move forward: a limiter whose window went backwards would hand out
budget twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Clock:
    """The real (monotonic) clock, plus an offset that :meth:`advance` can only grow.

    ``source`` replaces the monotonic clock, so that a test can share one virtual time
    between the sandbox's limits and the client's budget (``tapsync.budget.ManualClock``).
    """

    def __init__(self, source: Callable[[], float] | None = None) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()
        self._source = source if source is not None else time.monotonic

    def _base(self) -> float:
        return self._source()

    def now(self) -> float:
        """Seconds on this clock's own scale (only differences are meaningful)."""
        return self._base() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (≥ 0) and return the new :meth:`now`."""
        if seconds < 0:
            raise ValueError("a sandbox clock never goes backwards")
        with self._lock:
            self._offset += seconds
        return self.now()


SystemClock = Clock


class ManualClock(Clock):
    """A clock that stands still until a test advances it."""

    def __init__(self, start: float = 0.0) -> None:
        super().__init__()
        self._start = float(start)

    def _base(self) -> float:
        return self._start
