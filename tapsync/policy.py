"""Safety guards and cost arithmetic for plans (pure: no I/O, clock or environment).

A plan is shown first and judged second (octoDNS's ``TooMuchChange``): each guard returns
refusal messages carrying the numbers and the remedy, and the CLI refuses to apply while
any remain. Nothing here raises, so a caller can show every refusal at once.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from tapsync.changes import Action, Change, Plan, ProviderCost
from tapsync.model import State

#: assumed wall-clock seconds of one API call, used only for the duration estimate
DEFAULT_CALL_SECONDS = 0.25


class BudgetLike(Protocol):
    """A provider's API limits (``config.BudgetConfig`` fits); ``None`` means unknown."""

    @property
    def concurrent_cost(self) -> int | None: ...

    @property
    def hourly_cost(self) -> int | None: ...


@dataclass(frozen=True)
class CostModel:
    """How long a plan's writes take and how much of the hourly budget they use.

    The estimate assumes every call takes ``call_seconds`` and that the executor keeps the
    concurrent limit full: ``seconds = writes ÷ concurrent_limit × call_seconds``. With no
    known concurrent limit, calls are assumed to run one cost unit at a time. When the
    spend exceeds the hourly budget, each further hour window the apply must wait for is
    added (3600 s each), since the budget refills only with time.
    """

    call_seconds: float = DEFAULT_CALL_SECONDS

    def estimated_seconds(self, writes: int, concurrent_limit: int = 0,
                          hourly_budget: int = 0) -> float:
        if writes <= 0:
            return 0.0
        seconds = writes / max(concurrent_limit, 1) * self.call_seconds
        if hourly_budget > 0 and writes > hourly_budget:
            seconds += 3600.0 * math.ceil(writes / hourly_budget - 1)
        return round(seconds, 3)

    @staticmethod
    def budget_percent(units: int, hourly_budget: int) -> float | None:
        """Share of the hourly budget ``units`` use, in percent; ``None`` without a budget."""
        if hourly_budget <= 0:
            return None
        return 100.0 * units / hourly_budget


def plan_costs(changes: Sequence[Change], reads: Mapping[str, int],
               budgets: Mapping[str, BudgetLike], model: CostModel) -> dict[str, ProviderCost]:
    """Per provider that is read or written: reads spent, writes to spend, limits, duration."""
    out: dict[str, ProviderCost] = {}
    for provider in sorted({c.key.provider for c in changes} | set(reads)):
        writes = sum(c.cost for c in changes if c.key.provider == provider)
        budget = budgets.get(provider)
        hourly = (budget.hourly_cost or 0) if budget else 0
        concurrent = (budget.concurrent_cost or 0) if budget else 0
        out[provider] = ProviderCost(
            reads=reads.get(provider, 0), writes=writes, hourly_budget=hourly,
            concurrent_limit=concurrent,
            estimated_seconds=model.estimated_seconds(writes, concurrent, hourly))
    return out


def check_safety(plan: Plan, live: State, *, max_delete_percent: float,
                 max_update_percent: float, min_existing: int, force: bool) -> list[str]:
    """Refuse plans that delete or change too large a share of one kind's live objects.

    Counted per provider and kind, and only when there are at least ``min_existing``
    objects to count against. Deleted objects never count. Built-in ones (Amplitude's
    ``device_id``…) count for updates but not for deletes: they can never be deleted, so
    counting them would let a plan that deletes every custom object of a kind pass as a
    small share (3 of 21) and satisfy ``min_existing`` on their own. ``force`` waives the
    guard.
    """
    if force:
        return []
    existing: Counter[tuple[str, str]] = Counter()
    deletable: Counter[tuple[str, str]] = Counter()
    for r in live:
        if r.meta.get("deleted"):
            continue
        existing[r.key.provider, r.key.kind] += 1
        if not r.meta.get("builtin"):
            deletable[r.key.provider, r.key.kind] += 1
    deletes: Counter[tuple[str, str]] = Counter()
    updates: Counter[tuple[str, str]] = Counter()
    for c in plan.changes:
        kind = (c.key.provider, c.key.kind)
        if c.action is Action.DELETE:
            deletes[kind] += 1
        elif c.action in (Action.UPDATE, Action.RENAME):
            updates[kind] += 1
    out: list[str] = []
    for kind in sorted(existing):
        for counts, total, limit, verb, option in (
            (deletes, deletable[kind], max_delete_percent, "deleted", "max_delete_percent"),
            (updates, existing[kind], max_update_percent, "updated or renamed",
             "max_update_percent"),
        ):
            n = counts[kind]
            if not n or total < min_existing or total == 0:
                continue
            pct = 100.0 * n / total
            if pct > limit:
                out.append(f"{kind[0]}.{kind[1]}: {pct:.2f}% of {total} would be {verb} ({n}), "
                           f"over {option} {limit:.2f}%; run with --force to apply anyway")
    return out


def check_cost(plan: Plan, max_cost: int | None) -> list[str]:
    """Refuse a plan whose writes cost more than ``--max-cost`` units."""
    if max_cost is None or plan.total_cost <= max_cost:
        return []
    return [f"this plan's writes cost {plan.total_cost} units, over --max-cost {max_cost}; "
            f"raise --max-cost or narrow the plan with --target"]


def check_sends(plan: Plan, allow_send: bool) -> list[str]:
    """Refuse to send pushes (irreversible) unless ``--allow-send`` says so."""
    sends = [c.key.address for c in plan.changes if c.action is Action.SEND]
    if not sends or allow_send:
        return []
    return [f"this plan sends {len(sends)} push notification(s), which cannot be undone: "
            f"{', '.join(sends)}; run with --allow-send to send them"]


def check_send_times(plan: Plan, now: datetime | None) -> list[str]:
    """Refuse sends whose time has passed since the plan was made (a saved plan applied
    late): the service refuses a push scheduled in the past. The planner put each send's
    deadline in ``meta["send_by"]``, always with its UTC offset; ``now`` is
    timezone-aware, ``None`` skips the check. A ``send_by`` that is not such a date and
    time (a hand-edited plan: no offset, say) is refused too, never guessed at."""
    if now is None:
        return []
    out: list[str] = []
    for c in plan.changes:
        if c.action is not Action.SEND or "send_by" not in c.meta:
            continue
        send_by = c.meta["send_by"]
        deadline = _aware(send_by)
        if deadline is None:
            out.append(f"{c.key.address}: the plan's send_by {send_by!r} is not a date and "
                       f"time with a UTC offset (such as 2026-01-01T09:00:00+00:00); plan "
                       f"again")
        elif deadline <= now:
            out.append(f"{c.key.address}: its schedule passed at "
                       f"{deadline.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}, after this "
                       f"plan was made (now is {now.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ})"
                       f", and the service refuses a push scheduled in the past; give it a "
                       f"future time and plan again")
    return out


def _aware(value: object) -> datetime | None:
    """``value`` as a timezone-aware datetime, or ``None``: a naive one cannot be compared
    with ``now`` (which zone would it be in?)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


def check_errors(plan: Plan) -> list[str]:
    """A plan with errors is impossible as written; ``--force`` does not waive these."""
    return [f"{e.address}: {e.message}" if e.address else e.message for e in plan.errors]


def refusals(plan: Plan, *, guards: Sequence[str] = (), max_cost: int | None = None,
             allow_send: bool = False, now: datetime | None = None) -> list[str]:
    """Every reason not to apply ``plan``, errors first; empty means go. ``guards`` are
    :func:`check_safety`'s refusals (made against live state when planning, or carried by a
    saved plan); ``now`` is the moment of applying, to refuse sends whose time has passed
    since planning."""
    return [*check_errors(plan), *guards, *check_cost(plan, max_cost),
            *check_sends(plan, allow_send), *check_send_times(plan, now)]
