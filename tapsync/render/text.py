"""The plan for people, Terraform-style: cost, changes, leftovers, one closing summary line.

Every change is one line ``<symbol> <address>`` followed by its field differences
(``before → after``) and, when it has one, its reason as a ``#`` comment. Values are shown
as JSON so that ``""``, ``null`` and ``"null"`` stay distinguishable. The closing line has
a fixed shape CI logs can grep: ``Plan: 3 to create, 1 to update, 1 to rename, 0 to
delete.``, with restores, sends and manual steps appended only when there are any.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TextIO

from tapsync.changes import Action, Change, FieldChange, Plan, ProviderCost
from tapsync.policy import CostModel

NO_CHANGES = "No changes. Live state matches the manifests."

_COLORS = {
    Action.CREATE: "32", Action.RESTORE: "32", Action.UPDATE: "33", Action.DELETE: "31",
    Action.RENAME: "36", Action.SEND: "35", Action.MANUAL: "1",
}


def render_plan(plan: Plan, stream: TextIO, *, color: bool = False) -> None:
    """Write ``plan`` for a reviewer; ANSI colours only when ``color`` is true."""
    paint = _painter(color)
    out: list[str] = []
    if plan.empty and not plan.errors:
        out.append(NO_CHANGES)
    else:
        out += [cost_line(plan), ""]
        for c in plan.changes:
            out += _change(c, paint)
    if plan.unmanaged:
        out += ["", "Unmanaged (live, declared in no manifest):"]
        out += [f"  {k.address}" for k in plan.unmanaged]
    if plan.warnings:
        out += ["", paint("Warnings:", "33")]
        out += [f"  {w.address}: {w.message}" if w.address else f"  {w.message}"
                for w in plan.warnings]
    if plan.errors:
        out += ["", paint("Errors (this plan cannot be applied):", "31")]
        out += [f"  {e.address}: {e.message}" if e.address else f"  {e.message}"
                for e in plan.errors]
    if not plan.empty or plan.errors:
        out += ["", summary_line(plan)]
    stream.write("\n".join(out) + "\n")


def summary_line(plan: Plan) -> str:
    """``Plan: 3 to create, 1 to update, 1 to rename, 0 to delete.`` (+ non-zero extras)."""
    s = plan.summary()
    parts = [f"{s[a]} to {a}" for a in ("create", "update", "rename", "delete")]
    parts += [f"{s[a]} to {a}" for a in ("restore", "send") if s[a]]
    if s["manual"]:
        parts.append(f"{s['manual']} manual")
    return "Plan: " + ", ".join(parts) + "."


def cost_line(plan: Plan, model: CostModel | None = None) -> str:
    """``This plan costs 214 units: 3 % of the hourly budget; about 9 s at the concurrent
    limit.`` — per provider when several are involved. Units include the reads already
    spent planning."""
    model = model or CostModel()
    costs = plan.costs
    total = sum(c.reads + c.writes for c in costs.values())
    if not costs:
        return f"This plan costs {plan.total_cost} units."
    if len(costs) == 1:
        (only,) = costs.values()
        return f"This plan costs {total} units: {_detail(only, model)}."
    per = "; ".join(f"{p} {c.reads + c.writes} ({_detail(c, model)})"
                    for p, c in sorted(costs.items()))
    return f"This plan costs {total} units: {per}."


def _detail(c: ProviderCost, model: CostModel) -> str:
    parts: list[str] = []
    pct = model.budget_percent(c.reads + c.writes, c.hourly_budget)
    if pct is not None:
        shown = "under 1" if 0 < pct < 1 else f"{pct:.0f}"
        parts.append(f"{shown} % of the hourly budget")
    secs = c.estimated_seconds
    if not c.writes:
        parts.append("no writes")
    else:
        took = "under 1 s" if secs < 1 else f"about {secs:.0f} s"
        parts.append(f"{took} at the concurrent limit" if c.concurrent_limit
                     else f"{took}, one call at a time")
    return "; ".join(parts)


def _change(c: Change, paint: Callable[[str, str], str]) -> list[str]:
    head = f"{c.action.symbol} {c.key.address}"
    if c.from_key is not None and c.action is Action.RENAME:
        head = f"{c.action.symbol} {c.from_key.address} → {c.key.address}"
    lines = [paint(head, _COLORS[c.action])]
    creating = c.action in (Action.CREATE, Action.SEND)
    lines += [f"    {_field(f, creating)}" for f in c.fields]
    if c.reason:
        lines.append(f"    # {c.reason}")
    return lines


def _field(f: FieldChange, creating: bool) -> str:
    if creating:
        return f"{f.label}: {_json(f.after)}"
    return f"{f.label}: {_json(f.before)} → {_json(f.after)}"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _painter(color: bool) -> Callable[[str, str], str]:
    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text
    return paint
