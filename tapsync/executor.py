"""Runs a :class:`~tapsync.changes.Plan` through the providers: the only place that writes.

Every create, update, rename, restore and send starts at once and waits only for the
changes its own parents need (:meth:`~tapsync.changes.Change.depends_on`: a property for
its event type, an event type for its category); deletes follow, in reverse dependency
order. The provider's :class:`~tapsync.http.ApiClient` admits each call through the key's
budget, so concurrency never exceeds what the service allows. A change whose parent
failed is skipped, the others go on. A write whose outcome is unknown is never repeated
blindly: the object is read first, and the write is retried only if it did not land (a
push is never sent twice), after a pause that grows, with jitter, from one attempt to the
next. Every write is journalled as JSON lines so an interrupted apply can be explained.

Ctrl-C sets ``stop``: calls in flight finish, calls still waiting for the budget (even for
the hourly window) or pausing before a retry are given up at once, and each change is
reported as applied, not applied (it never sent a call, nor did its parents) or
interrupted partway.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from itertools import groupby
from pathlib import Path
from typing import Any, TextIO

from tapsync.budget import SENT, STOP, Tally, unless_stopped
from tapsync.changes import Action, Change, FieldChange, Plan
from tapsync.errors import Interrupted, ProviderError, UncertainWrite
from tapsync.model import Resource, ResourceKey
from tapsync.providers.base import Provider

#: how many times an uncertain write is read back and, if absent, tried again
RECONCILE_ATTEMPTS = 3
#: the pause before sending a write again (it did not land) doubles from this, up to the cap
RECONCILE_BACKOFF = 0.5
RECONCILE_BACKOFF_CAP = 30.0
#: what a change that never sent a call says when Ctrl-C stopped the apply
NOT_STARTED = "not applied: interrupted before it started"


@dataclass(frozen=True)
class ChangeResult:
    change: Change
    status: str  # "ok" | "failed" | "skipped" | "manual"
    message: str = ""

    @property
    def not_started(self) -> bool:
        """Skipped because of Ctrl-C before it sent anything: nothing of it was applied."""
        return self.status == "skipped" and self.message == NOT_STARTED


@dataclass
class ApplyResult:
    results: list[ChangeResult] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> list[ChangeResult]:
        """Changes the service refused or that went wrong (not the ones skipped)."""
        return [r for r in self.results if r.status == "failed"]

    @property
    def not_applied(self) -> list[ChangeResult]:
        """Everything that did not apply: failed, skipped because a parent failed, or not
        started because of Ctrl-C."""
        return [r for r in self.results if r.status in ("failed", "skipped")]

    @property
    def applied(self) -> list[ChangeResult]:
        return [r for r in self.results if r.status == "ok"]


class Journal:
    """Append-only JSON lines, one file per apply, under ``.tapsync/journal/``."""

    def __init__(self, directory: Path | None) -> None:
        self.path: Path | None = None
        self._fh: TextIO | None = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
            self.path = directory / f"{stamp}-apply.jsonl"
            self._fh = self.path.open("a", encoding="utf-8")

    def write(self, event: str, **fields: Any) -> None:
        if self._fh is None:
            return
        record = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                  "event": event, **fields}
        self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


Progress = Callable[[ChangeResult, int, int], None]  # (result, cost done, cost total)


class Executor:
    """Applies one plan; ``stop`` (set on Ctrl-C) lets in-flight calls finish, starts none.

    ``sleep`` and ``rng`` pace the retries of writes that did not land (injected for
    tests).
    """

    def __init__(self, providers: Mapping[str, Provider], *, journal: Journal | None = None,
                 progress: Progress | None = None, stop: asyncio.Event | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: Callable[[], float] = random.random) -> None:
        self.providers = providers
        self.journal = journal or Journal(None)
        self.progress = progress
        self.stop = stop or asyncio.Event()
        self._sleep = sleep
        self._rng = rng
        self._failed: set[ResourceKey] = set()
        self._done_cost = 0
        self._total_cost = 0

    async def apply(self, plan: Plan) -> ApplyResult:
        result = ApplyResult()
        runnable = [c for c in plan.changes if c.action is not Action.MANUAL]
        result.results.extend(ChangeResult(c, "manual", c.reason) for c in plan.changes
                               if c.action is Action.MANUAL)
        self._total_cost = sum(c.cost for c in runnable)
        self.journal.write("begin", changes=len(runnable), cost=self._total_cost,
                           summary=plan.summary())
        ordered = sorted(runnable, key=Change.sort_key)
        writes = [c for c in ordered if c.action is not Action.DELETE]
        deletes = [c for c in ordered if c.action is Action.DELETE]
        token = STOP.set(self.stop)  # calls still queued in a budget are not sent after stop
        try:
            result.results.extend(await self._as_ready(writes))
            # deletes run after every other change, children before parents, phase by phase
            for _, phase in groupby(deletes, key=lambda c: c.sort_key()[:2]):
                result.results.extend(await asyncio.gather(*(self._one(c) for c in phase)))
        finally:
            STOP.reset(token)
        result.interrupted = result.interrupted or self.stop.is_set()
        statuses = [r.status for r in result.results]
        not_applied = sum(r.not_started for r in result.results)
        self.journal.write("end", ok=len(result.applied), failed=statuses.count("failed"),
                           skipped=statuses.count("skipped") - not_applied,
                           not_applied=not_applied, interrupted=result.interrupted)
        return result

    async def _as_ready(self, changes: list[Change]) -> list[ChangeResult]:
        """Start every change at once; each waits only for the changes its own parents need.

        A property waits for its event type, an event type for the category it names, and
        nothing else: no change idles behind an unrelated one, while the budget still
        admits each call in order. ``changes`` is sorted, so parents come first.
        """
        tasks: dict[ResourceKey, asyncio.Future[ChangeResult]] = {}
        started: list[asyncio.Future[ChangeResult]] = []
        for c in changes:
            parents = [tasks[k] for k in c.depends_on() if k in tasks]
            task = asyncio.ensure_future(self._after(parents, c))
            tasks[c.key] = task
            started.append(task)
        return list(await asyncio.gather(*started))

    async def _after(self, parents: list[asyncio.Future[ChangeResult]],
                     change: Change) -> ChangeResult:
        if parents:
            await asyncio.wait(parents)
        return await self._one(change)

    async def _one(self, change: Change) -> ChangeResult:
        # Stop first: a parent given up at Ctrl-C is "skipped" too, and its children, which
        # send nothing either, are not applied, not casualties of a failure that never was.
        if self.stop.is_set():
            res = ChangeResult(change, "skipped", NOT_STARTED)
        elif (blocked := self._failed_parent(change)) is not None:
            res = ChangeResult(change, "skipped", f"depends on {blocked.address}, which failed")
        else:
            res = await self._run(change)
        if res.status != "ok":
            self._failed.add(change.key)
            if change.from_key is not None:
                self._failed.add(change.from_key)
        self._done_cost += change.cost
        self.journal.write(res.status, address=change.key.address, action=change.action.value,
                           message=res.message)
        if self.progress is not None:
            self.progress(res, self._done_cost, self._total_cost)
        return res

    def _failed_parent(self, change: Change) -> ResourceKey | None:
        """A parent that did not apply, so this change cannot (deletes have none)."""
        if change.action is Action.DELETE:
            return None
        return next((p for p in change.depends_on() if p in self._failed), None)

    async def _run(self, change: Change) -> ChangeResult:
        provider = self.providers[change.key.provider]
        self.journal.write("start", address=change.key.address, action=change.action.value,
                           from_address=change.from_key.address if change.from_key else None)
        started = time.monotonic()
        sent = Tally()
        token = SENT.set(sent)  # this task's own context: counts this change's calls only
        uncertain = False
        try:
            for attempt in range(RECONCILE_ATTEMPTS + 1):
                if attempt:
                    await self._pause(attempt)
                try:
                    await provider.apply_change(change)
                    return ChangeResult(change, "ok", f"{time.monotonic() - started:.2f}s")
                except UncertainWrite as exc:
                    uncertain = True
                    self.journal.write("uncertain", address=change.key.address,
                                       message=str(exc), attempt=attempt + 1)
                    rest = await self._reconcile(provider, change)
                    if rest is None:
                        return ChangeResult(change, "ok", "landed (confirmed by reading)")
                    change, uncertain = rest, False  # known again: it did not (all) land
            return ChangeResult(change, "failed", "the outcome stayed uncertain after "
                                f"{RECONCILE_ATTEMPTS} reads; plan again to see the live state")
        except ProviderError as exc:
            return ChangeResult(change, "failed", str(exc))
        except Interrupted:
            return ChangeResult(change, "skipped", _interrupted(sent.calls, uncertain))
        finally:
            SENT.reset(token)

    async def _pause(self, attempt: int) -> None:
        """Wait before writing again what did not land: exponential, jittered, capped.

        A service that answered 5xx or timed out is often overloaded; writing again at
        once adds to that, and the jitter keeps parallel changes (and jobs) out of step.
        Ctrl-C cuts the pause short; the write that follows is then refused by the budget.
        """
        base = min(RECONCILE_BACKOFF_CAP, RECONCILE_BACKOFF * 2.0 ** (attempt - 1))
        await unless_stopped(self._sleep(base / 2 + self._rng() * base / 2), self.stop)

    async def _reconcile(self, provider: Provider, change: Change) -> Change | None:
        """Read the object; ``None`` if the change landed, else what remains to be done."""
        live = await provider.read_one(change.key)
        return remaining(change, live)


def _interrupted(calls: int, uncertain: bool) -> str:
    """Why a change stopped partway, for the report: not applied, or how far it got."""
    if uncertain:
        return ("interrupted after a write whose outcome is unknown; plan again to see "
                "whether it landed")
    if calls == 0:
        return NOT_STARTED
    return "interrupted after some of its calls were sent; plan again to see what is left"


def remaining(change: Change, live: Resource | None) -> Change | None:
    """What is left of ``change`` given the object as it is live now (``None``: nothing)."""
    exists = live is not None and not live.meta.get("deleted")
    if change.action is Action.DELETE:
        return None if not exists else change
    if not exists:
        return change
    assert live is not None
    after = change.after or {}
    left = tuple(FieldChange((k,), live.attrs.get(k), v) for k, v in after.items()
                 if live.attrs.get(k) != v
                 and (change.action is Action.CREATE or any(f.path[0] == k
                                                            for f in change.fields)))
    if not left or change.action in (Action.SEND,):
        return None
    return replace(change, action=Action.UPDATE, fields=left, from_key=None,
                   meta={**change.meta, **live.meta})
