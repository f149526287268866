"""Admission control that keeps tapsync inside a service's rate limits *before* it sends.

Services answer ``429`` when a key goes over its limits; tapsync promises never to cause
one. So every request first asks a :class:`Budget` to admit its cost: it waits until the
cost in flight and the spend in every sliding window leave room, in arrival order, so a
big write is never starved by a stream of small reads. When another client on the same
key causes a 429 anyway, :meth:`Budget.backoff` pauses new admissions.

The clock and the sleep are injected, and :class:`ManualClock` runs a coroutine in
virtual time, so an hour-long budget is tested (and simulated) in milliseconds.
"""

from __future__ import annotations

import asyncio
import math
import random
import selectors
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tapsync.errors import Interrupted

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

T = TypeVar("T")

#: Set by whoever runs a batch of calls (the executor, for Ctrl-C): once the event is set, a
#: request still waiting for admission is refused with :class:`Interrupted`, never sent,
#: even in the middle of a wait for the hourly window; requests already admitted finish.
STOP: ContextVar[asyncio.Event | None] = ContextVar("tapsync_budget_stop", default=None)


@dataclass
class Tally:
    """How many calls were admitted (so sent) while it was the context's :data:`SENT`."""

    calls: int = 0


#: Set by whoever needs to know whether a unit of work sent anything before it was
#: interrupted (the executor, per change): "not applied" and "half applied" differ.
SENT: ContextVar[Tally | None] = ContextVar("tapsync_budget_sent", default=None)

#: A spend remembered across runs: (wall-clock time it was released, its cost).
Spend = tuple[float, int]

_PERIOD_NAMES: Mapping[float, str] = {1.0: "per-second", 60.0: "per-minute", 3600.0: "hourly",
                                      86400.0: "daily"}


@dataclass(frozen=True)
class Window:
    """A sliding-window period limit: at most ``limit`` units in any ``seconds`` interval.

    ``weighted`` windows count each request's cost (Amplitude); unweighted ones count
    requests (Pypestream's per-minute and per-hour request limits).
    """

    limit: int
    seconds: float
    weighted: bool = True

    def __post_init__(self) -> None:
        if self.limit < 1 or not self.seconds > 0 or math.isinf(self.seconds):
            raise ValueError(f"a window needs limit >= 1 and finite seconds > 0: {self}")

    def units(self, cost: int) -> int:
        """What one request of ``cost`` counts against this window."""
        return cost if self.weighted else 1

    def describe(self) -> str:
        """A name for progress messages: ``hourly budget``, ``90-second budget``."""
        name = _PERIOD_NAMES.get(float(self.seconds), f"{self.seconds:g}-second")
        return f"{name} budget"


@dataclass(frozen=True)
class WindowUse:
    """How much of one window is spent now (``available`` already leaves out the reserve)."""

    window: Window
    spent: int
    available: int


@dataclass(frozen=True)
class Remaining:
    """A snapshot for plan cost estimates and progress displays."""

    in_flight: int
    concurrent_available: int | None  # None: no concurrent limit
    windows: tuple[WindowUse, ...]
    paused_for: float  # seconds left of a 429 backoff


class _Ledger:
    """One window's spend: in flight now, then remembered for ``seconds`` after release.

    The service saw a request somewhere between its admission and its answer, so counting
    it from admission until a full window after the answer can never undercount, whatever
    the latency; released spends are appended in release order, oldest first.
    """

    def __init__(self, window: Window, cap: int) -> None:
        self.window = window
        self.cap = cap
        self.released: deque[tuple[float, int]] = deque()
        self.in_flight = 0
        self.total = 0  # in flight + released within the window

    def prune(self, now: float) -> None:
        while self.released and self.released[0][0] + self.window.seconds <= now:
            self.total -= self.released.popleft()[1]

    def wait(self, cost: int, now: float, exhausted: bool = False) -> tuple[float, bool]:
        """Seconds until ``cost`` fits, and whether that also needs in-flight spend released.

        When it does, the seconds assume the release happens now (an estimate). With
        ``exhausted``, as if what is left of the window had just been spent.
        """
        self.prune(now)
        spent = max(self.total, self.cap) if exhausted else self.total
        excess = spent + self.window.units(cost) - self.cap
        if excess <= 0:
            return 0.0, False
        for released, units in self.released:
            excess -= units
            if excess <= 0:
                return released + self.window.seconds - now, False
        return self.window.seconds, True

    def admit(self, cost: int) -> None:
        units = self.window.units(cost)
        self.in_flight += units
        self.total += units

    def release(self, cost: int, now: float) -> None:
        units = self.window.units(cost)
        self.in_flight -= units
        self.released.append((now, units))

    def remember(self, spends: Sequence[tuple[float, int]], now: float) -> None:
        """Count earlier spends (``(released at, cost)``, on this clock) still in the window."""
        kept = [(at, self.window.units(cost)) for at, cost in spends
                if at + self.window.seconds > now]
        self.released = deque(sorted([*self.released, *kept]))
        self.total += sum(units for _, units in kept)


class _Waiter:
    __slots__ = ("cost", "wake")

    def __init__(self, cost: int) -> None:
        self.cost = cost
        self.wake: asyncio.Future[None] | None = None


class Budget:
    """One API key's limits, shared by every request tapsync sends with that key.

    Admission is strictly first come, first served: only the oldest waiting request may
    be admitted, so a cost-2 write waiting for room is not overtaken by cost-1 reads.
    Spend counts against a window from admission until ``seconds`` after release: the
    service saw the request somewhere in between, whatever the latency.
    ``on_wait(seconds, reason)`` is called before each timed wait (a window or a 429
    pause), so the CLI can say "waiting 12 min for the hourly budget".

    The service keeps counting a key's spend across tapsync runs, so :meth:`preload`
    counts what earlier runs spent and :meth:`ledger` gives what this run spent, for the
    caller to store next to them. They speak wall-clock time, passed in as ``now``: the
    budget's own clock is monotonic and means nothing to another process.
    """

    def __init__(self, *, concurrent: int | None, windows: Sequence[Window] = (),
                 reserve: int = 0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 backoff_base: float = 1.0, backoff_cap: float = 60.0,
                 rng: Callable[[], float] = random.random) -> None:
        if concurrent is not None and concurrent < 1:
            raise ValueError(f"concurrent limit must be >= 1 or None, not {concurrent}")
        if reserve < 0:
            raise ValueError(f"reserve must be >= 0, not {reserve}")
        for window in windows:
            if window.limit - reserve < 1:
                raise ValueError(f"reserve {reserve} leaves nothing of the {window.describe()} "
                                 f"({window.limit} per {window.seconds:g}s)")
        self.concurrent = concurrent
        self.windows = tuple(windows)
        self.reserve = reserve
        self.on_wait: Callable[[float, str], None] | None = None
        self._clock = clock
        self._sleep = sleep
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._rng = rng
        self._ledgers = [_Ledger(w, w.limit - reserve) for w in self.windows]
        self._horizon = max((w.seconds for w in self.windows), default=0.0)
        # this run's own releases, (released at, cost), oldest first; never preloaded ones
        self._history: deque[tuple[float, int]] = deque()
        self._in_flight = 0
        self._queue: deque[_Waiter] = deque()
        self._paused_until = -math.inf
        self._last_pause = 0.0
        self._streak = 0

    @property
    def in_flight(self) -> int:
        """Cost admitted and not yet released."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Requests queued for admission."""
        return len(self._queue)

    def spent(self, window: Window) -> int:
        """Units in flight or released within the trailing ``window.seconds``."""
        ledger = self._ledgers[self.windows.index(window)]
        ledger.prune(self._clock())
        return ledger.total

    def remaining(self) -> Remaining:
        """What is in flight, spent and paused right now."""
        now = self._clock()
        uses = []
        for ledger in self._ledgers:
            ledger.prune(now)
            uses.append(WindowUse(ledger.window, ledger.total, max(0, ledger.cap - ledger.total)))
        free = None if self.concurrent is None else self.concurrent - self._in_flight
        return Remaining(self._in_flight, free, tuple(uses), max(0.0, self._paused_until - now))

    def wait_estimate(self, cost: int, *, exhausted: bool = False) -> float:
        """Seconds until the windows (and any 429 pause) would admit ``cost`` more.

        For the plan's duration estimate; spend still in flight is assumed to end now.
        With ``exhausted``, as if whatever is left in every window were spent right now:
        how long an apply bigger than the remaining budget pauses when it runs out.
        """
        self._check(cost)
        return self._delay(cost, self._clock(), exhausted)[0]

    def ledger(self, now: float) -> list[Spend]:
        """This run's own spends still inside the longest window, in wall-clock time ``now``.

        Everything admitted so far counts, released or not (in-flight spend as if released
        now), so that the next run, after :meth:`preload`, waits as this one would have.
        Preloaded spends are left out: they are already on record where they came from,
        and converting them to this clock and back would stamp them a little differently
        each run, so a record that merges runs would count them twice.
        """
        mine = self._clock()
        self._forget(mine)
        shift = now - mine
        spends = [(at + shift, cost) for at, cost in self._history]
        if self._in_flight:
            spends.append((now, self._in_flight))
        return spends

    @property
    def horizon(self) -> float:
        """How long a spend matters: the longest window (0 without windows)."""
        return self._horizon

    def preload(self, spends: Sequence[Spend], now: float) -> None:
        """Count spends an earlier run made with the same key (from :meth:`ledger`).

        ``now`` is the wall-clock time the spends' stamps are compared with; spends already
        out of a window are dropped there, and a stamp in the future counts as now. They
        count against the windows only: :meth:`ledger` never gives them back.
        """
        mine = self._clock()
        local = sorted((mine - max(0.0, now - at), cost) for at, cost in spends if cost > 0)
        for ledger in self._ledgers:
            ledger.remember(local, mine)

    def _remember(self, released: float, cost: int) -> None:
        self._history.append((released, cost))
        self._forget(released)  # a long apply keeps an hour of history, not all of it

    def _forget(self, now: float) -> None:
        while self._history and self._history[0][0] + self._horizon <= now:
            self._history.popleft()

    async def interruptible(self, waiting: Awaitable[None]) -> None:
        """Await a caller's own pause (a retry's), but no longer than until Ctrl-C.

        A read answered ``503`` with ``Retry-After: 3600`` would otherwise keep a stopped
        apply waiting an hour. Cut short, the pause just ends: the call that follows then
        asks :meth:`spend` for admission and is refused with :class:`Interrupted`.
        """
        await unless_stopped(waiting, STOP.get())

    def spend(self, cost: int) -> AbstractAsyncContextManager[None]:
        """Wait for room for ``cost``, then hold it in flight until the block exits.

        Raises ``ValueError`` at once for a cost no state of the budget could admit.
        Cancelled while waiting, it takes and releases nothing.
        """
        self._check(cost)
        return self._held(cost)

    def backoff(self, retry_after: float | None) -> None:
        """Another client on the key caused a 429: pause new admissions.

        For ``retry_after`` seconds plus a random jitter (up to ``backoff_base`` or a tenth
        of the wait, whichever is more), so that parallel jobs told the same Retry-After do
        not all come back at the same instant and collide again; never less than asked.
        Without one, for an exponential delay with jitter that grows with consecutive
        incidents. 429s arriving during a pause belong to the same incident and only
        extend it by their own ``Retry-After``.
        """
        now = self._clock()
        if retry_after is not None:
            wait = max(0.0, retry_after)
            delay = wait + self._rng() * max(self._backoff_base, wait / 10)
        elif now < self._paused_until:
            return
        else:
            if now >= self._paused_until + self._last_pause:
                self._streak = 0  # quiet for as long as the last pause: a new incident
            base = min(self._backoff_cap, self._backoff_base * 2.0 ** self._streak)
            delay = base / 2 + self._rng() * base / 2
            self._streak += 1
        self._last_pause = delay
        self._paused_until = max(self._paused_until, now + delay)

    def _check(self, cost: int) -> None:
        if cost < 1:
            raise ValueError(f"request cost must be >= 1, not {cost}")
        if self.concurrent is not None and cost > self.concurrent:
            raise ValueError(f"request cost {cost} exceeds the concurrent limit "
                             f"{self.concurrent}: it could never be sent")
        for ledger in self._ledgers:
            if ledger.window.units(cost) > ledger.cap:
                raise ValueError(f"request cost {cost} exceeds the {ledger.window.describe()} "
                                 f"of {ledger.cap} (limit - reserve): it could never be sent")

    def _delay(self, cost: int, now: float, exhausted: bool = False
               ) -> tuple[float, str, bool]:
        """(seconds to wait, why, whether in-flight spend must be released first)."""
        delay, reason, blocked = self._paused_until - now, "backoff after a 429", False
        for ledger in self._ledgers:
            wait, needs_release = ledger.wait(cost, now, exhausted)
            blocked = blocked or needs_release
            if wait > delay:
                delay, reason = wait, ledger.window.describe()
        return max(0.0, delay), reason, blocked

    def _fits(self, cost: int) -> bool:
        return self.concurrent is None or self._in_flight + cost <= self.concurrent

    @asynccontextmanager
    async def _held(self, cost: int) -> AsyncIterator[None]:
        await self._admit(cost)
        try:
            yield
        finally:
            now = self._clock()
            for ledger in self._ledgers:
                ledger.release(cost, now)
            if self._ledgers:
                self._remember(now, cost)
            self._in_flight -= cost
            self._wake_head()

    async def _admit(self, cost: int) -> None:
        me = _Waiter(cost)
        self._queue.append(me)
        stop = STOP.get()
        admitted = False
        try:
            while True:
                if stop is not None and stop.is_set():
                    raise Interrupted("interrupted before this call was sent")
                if self._queue[0] is me and self._fits(cost):
                    delay, reason, blocked = self._delay(cost, self._clock())
                    if blocked:  # the window is full of requests still in flight
                        await self._park(me, stop)
                        continue
                    if delay > 0:
                        if self.on_wait is not None:
                            self.on_wait(delay, reason)
                        await unless_stopped(self._sleep(delay), stop)
                        continue
                    for ledger in self._ledgers:
                        ledger.admit(cost)
                    self._in_flight += cost
                    self._queue.popleft()
                    admitted = True
                    tally = SENT.get()
                    if tally is not None:
                        tally.calls += 1
                    return
                await self._park(me, stop)
        finally:
            if not admitted:
                self._queue.remove(me)
            self._wake_head()

    async def _park(self, me: _Waiter, stop: asyncio.Event | None) -> None:
        me.wake = asyncio.get_running_loop().create_future()
        try:
            await unless_stopped(me.wake, stop)
        finally:
            me.wake = None

    def _wake_head(self) -> None:
        """Wake the oldest waiter, the only one that may be admitted (no thundering herd).

        Not while its cost cannot fit the concurrent limit: only a release makes room, and
        every release calls this again. Waking it on each admission of the one before it
        (as this did) cost a park per call for nothing — a task, an ``asyncio.wait`` and
        loop turns on the way from one response to the next request. A head that fits is
        woken as before and re-checks the windows and any 429 pause itself.
        """
        if self._queue:
            head = self._queue[0]
            wake = head.wake
            if wake is not None and not wake.done() and self._fits(head.cost):
                wake.set_result(None)


async def unless_stopped(waiting: Awaitable[None], stop: asyncio.Event | None) -> None:
    """Await ``waiting``, or give it up as soon as ``stop`` is set (the caller re-checks).

    A request may wait up to an hour for the window; Ctrl-C must not wait with it.
    """
    if stop is None:
        await waiting
        return
    inner = asyncio.ensure_future(waiting)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((inner, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        inner.cancel()
        stopped.cancel()
    if inner.done() and not inner.cancelled():
        inner.result()  # an error of the wait itself is the caller's


class ManualClock:
    """Virtual time for tests and simulations: waiting an hour takes no real time.

    ``clock()`` reads it and ``clock.advance(s)`` moves it. ``clock.run(main())`` runs a
    coroutine on an event loop whose time *is* this clock: whenever every task is waiting
    on a timer, time jumps to the next timer. So ``clock.sleep``, ``asyncio.sleep`` and
    httpx timeouts all follow it, and concurrent sleepers wake in the right order. Pass
    ``Budget(clock=clock, sleep=clock.sleep)``; ``clock.sleeps`` records each sleep.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        if not (isinstance(loop, _VirtualLoop) and loop.clock is self):
            raise RuntimeError("ManualClock.sleep only works inside ManualClock.run(...)")
        self.sleeps.append(seconds)
        await asyncio.sleep(seconds)

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Like ``asyncio.run``, in this clock's virtual time."""
        loop = _VirtualLoop(self)
        try:
            asyncio.set_event_loop(loop)
            return loop.run_until_complete(main)
        finally:
            try:
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()


class _JumpSelector(selectors.BaseSelector):
    """A selector that, instead of blocking until the next timer, moves the clock there."""

    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock
        self._real = selectors.DefaultSelector()

    def register(self, fileobj: FileDescriptorLike, events: int,
                 data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def select(self, timeout: float | None = None
               ) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer pending: only real I/O (a thread, a socket) can help
            return self._real.select(None)
        self._clock.now += timeout
        return []

    def get_map(self) -> Mapping[FileDescriptorLike, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        super().__init__(_JumpSelector(clock))

    def time(self) -> float:
        return self.clock.now
