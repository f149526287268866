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


class Clock:
    """The real (monotonic) clock, plus an offset that :meth:`advance` can only grow."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def _base(self) -> float:
        return time.monotonic()

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
