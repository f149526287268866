"""The plan as a pull-request comment (``plan --format markdown``).

A reviewer should see at a glance what a merge will do, and what cannot be undone: the
comment opens with a marker line (so CI can update its own comment instead of adding one
per push), a warning box naming every send and delete, a summary table and the cost; then
the changes grouped by kind, each group a table whose field-level details fold away.
An empty plan is one reassuring line. Pure: text in, text out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TextIO

from tapsync.changes import Action, Change, Plan
from tapsync.drift import relative_source
from tapsync.model import ResourceKey, Source, State
from tapsync.render.markup import (
    cell,
    code,
    details,
    fence,
    fit,
    maybe_fold,
    show,
    table,
)
from tapsync.render.text import NO_CHANGES, cost_line, summary_line

MARKER = "<!-- tapsync:plan -->"

ICONS: Mapping[Action, str] = {
    Action.CREATE: "➕", Action.UPDATE: "✏️", Action.RENAME: "🔀", Action.DELETE: "🗑️",
    Action.RESTORE: "♻️", Action.SEND: "📣", Action.MANUAL: "✋",
}
_LOUD = (Action.SEND, Action.DELETE)


def render_plan(plan: Plan, stream: TextIO, *, color: bool = False,
                desired: State | None = None, base: str | None = None) -> None:
    """Write ``plan`` as GitHub-flavoured Markdown; ``desired`` adds manifest locations
    (relative to ``base`` when under it)."""
    del color
    stream.write(fit(lambda rows: _render(plan, desired, base, rows)))


def _render(plan: Plan, desired: State | None, base: str | None, rows: int) -> str:
    out = [MARKER, f"### tapsync plan: {summary_line(plan).removeprefix('Plan: ')}"]
    if plan.empty and not plan.errors:
        out += ["", f"✅ {NO_CHANGES}"]
    else:
        out += _loud(plan)
        s = plan.summary()
        shown = [a for a in Action if s[a.value] or a in (Action.CREATE, Action.UPDATE,
                                                          Action.RENAME, Action.DELETE)]
        out += ["", *table([f"{ICONS[a]} {a.value}" for a in shown],
                           [[str(s[a.value]) for a in shown]],
                           align=["---:"] * len(shown))]
        out += ["", f"**Cost:** {cell(cost_line(plan).removeprefix('This plan costs '))}"]
        out += _groups(plan, desired, relative_source(base), rows)
    out += _notes(plan, rows)
    return "\n".join(out) + "\n"


def _loud(plan: Plan) -> list[str]:
    """A warning box for what cannot be undone, or destroys: sends and deletes."""
    lines: list[str] = []
    for action, what in ((Action.SEND, "sends"), (Action.DELETE, "deletes")):
        hits = [c for c in plan.changes if c.action is action]
        if not hits:
            continue
        noun = "push notification" if action is Action.SEND else "object"
        plural = "s" if len(hits) != 1 else ""
        extra = " — **irreversible**" if action is Action.SEND else ""
        names = ", ".join(code(c.key.address) for c in hits[:20])
        more = f" and {len(hits) - 20} more" if len(hits) > 20 else ""
        lines.append(f"> **This plan {what} {len(hits)} {noun}{plural}**{extra}: {names}{more}")
    if not lines:
        return []
    return ["", "> [!WARNING]", *(x for line in lines for x in (line, ">"))][:-1]


def _groups(plan: Plan, desired: State | None,
            rel: Callable[[Source | None], Source | None], rows: int) -> list[str]:
    kinds: dict[str, list[Change]] = {}
    for c in plan.changes:
        kinds.setdefault(f"{c.key.provider}.{c.key.kind}", []).append(c)
    out: list[str] = []
    # providers alphabetically; within one, kinds in apply order (first change first)
    for kind, changes in sorted(kinds.items(), key=lambda kv: kv[0].split(".")[0]):
        n = len(changes)
        out += ["", f"#### {code(kind)} — {n} change{'s' if n != 1 else ''}", ""]
        body = table(["Action", "Object", "Fields", "Declared at"],
                     [_row(c, desired, rel) for c in changes[:rows]])
        if n > rows:
            body.append(f"\n… and {n - rows} more (the job log has the full plan)")
        out += maybe_fold(f"{n} changes", body, n)
        diff = "\n".join(line for c in changes[:rows] for line in _diff(c))
        out += ["", *details(f"Field details ({kind})", fence(diff, "diff"))]
    return out


def _row(c: Change, desired: State | None,
         rel: Callable[[Source | None], Source | None]) -> list[str]:
    verb = f"{ICONS[c.action]} {c.action.value}"
    if c.action in _LOUD:
        verb = f"**{verb}**"
    what = code(c.key.address, in_table=True)
    if c.action is Action.RENAME and c.from_key is not None:
        what = f"{code(c.from_key.address, in_table=True)} → {what}"
    fields = ", ".join(code(f.label, in_table=True) for f in c.fields[:8])
    if len(c.fields) > 8:
        fields += f" +{len(c.fields) - 8}"
    return [verb, what, fields or "—", _where(c.key, desired, rel)]


def _where(key: ResourceKey, desired: State | None,
           rel: Callable[[Source | None], Source | None]) -> str:
    r = desired.get(key) if desired is not None else None
    src = rel(r.source) if r is not None else None
    return code(f"{src.file}:{src.line}", in_table=True) if src else "—"


def _diff(c: Change) -> list[str]:
    """``diff``-highlighted lines: ``+`` creates, ``-`` deletes, ``!`` the rest."""
    mark = {Action.CREATE: "+", Action.RESTORE: "+", Action.DELETE: "-"}.get(c.action, "!")
    head = c.key.address
    if c.action is Action.RENAME and c.from_key is not None:
        head = f"{c.from_key.address} → {head}"
    lines = [f"{mark} {c.action.value} {head}"]
    creating = c.action in (Action.CREATE, Action.SEND)
    for f in c.fields:
        lines.append(f"    {f.label}: {show(f.after)}" if creating
                     else f"    {f.label}: {show(f.before)} → {show(f.after)}")
    if c.reason:
        lines.append(f"    # {c.reason}")
    return lines


def _notes(plan: Plan, rows: int) -> list[str]:
    out: list[str] = []
    if plan.errors:
        out += ["", "> [!CAUTION]", "> **Errors — this plan cannot be applied as written:**"]
        out += [f"> - {_note(e.address, e.message)}" for e in plan.errors]
    if plan.unmanaged:
        n = len(plan.unmanaged)
        items = [f"- {code(k.address)}" for k in plan.unmanaged[:rows]]
        if n > rows:
            items.append(f"- … and {n - rows} more")
        out += ["", *details(f"Unmanaged: {n} live object{'s' if n != 1 else ''} no manifest "
                             "declares (left as they are)", items)]
    if plan.warnings:
        out += ["", "**Warnings**", ""]
        out += [f"- {_note(w.address, w.message)}" for w in plan.warnings]
    return out


def _note(address: str, message: str) -> str:
    return f"{code(address)}: {cell(message)}" if address else cell(message)
