"""GitHub Actions workflow commands: annotations on the manifest lines that cause a change.

``plan --format github`` and ``drift --format github`` print one ``::notice``/
``::warning``/``::error`` line per change or drift item, pointing at the line of the first
field that differs (else the object's declaration), so a pull request's *Files changed*
view shows each change beside the YAML that causes it. Objects no manifest declares have
no line; their annotation names the address instead. GitHub shows at most ten annotations
of each level per step: the most important come first (errors, then sends and deletes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from tapsync.changes import Action, Change, FieldChange, Plan
from tapsync.drift import DriftItem, DriftReport, relative_source
from tapsync.errors import UsageError
from tapsync.model import ResourceKey, Source, State
from tapsync.render.markup import gh_command, show

_LEVEL = {Action.SEND: "warning", Action.DELETE: "warning", Action.MANUAL: "warning"}
_DRIFT_LEVEL = {"changed": "error", "missing": "error", "unmanaged": "warning",
                "unexpected": "warning"}


def render_plan(plan: Plan, stream: TextIO, *, color: bool = False,
                desired: State | None = None, base: str | None = None) -> None:
    """One annotation per change (and per plan error), then the summary as a notice.

    ``desired`` locates each change in the manifests; paths under ``base`` are made
    relative to it (annotations need repository-relative paths).
    """
    del color
    rel = relative_source(base)
    lines = [_error(e.address, e.message, desired, rel) for e in plan.errors]
    ordered = sorted(plan.changes, key=lambda c: (c.action not in _LEVEL, c.sort_key()))
    for c in ordered:
        src = rel(_source(c, desired))
        lines.append(gh_command(
            _LEVEL.get(c.action, "notice"), _message(c),
            file=src.file if src else None, line=src.line if src else None,
            col=src.column if src else None, title=f"tapsync plan: {c.action.value}"))
    s = plan.summary()
    counts = ", ".join(f"{n} manual" if a == "manual" else f"{n} to {a}"
                       for a, n in s.items() if n) or "no changes"
    lines.append(gh_command("notice", f"{counts}; {len(plan.unmanaged)} unmanaged",
                            title="tapsync plan"))
    stream.write("\n".join(lines) + "\n")


def _error(address: str, message: str, desired: State | None,
           rel: Callable[[Source | None], Source | None]) -> str:
    """A plan error, on its object's declaration when the address names a declared one."""
    src: Source | None = None
    if address and desired is not None:
        try:
            r = desired.get(ResourceKey.parse(address))
        except UsageError:
            r = None
        src = rel(r.source) if r is not None else None
    title = f"tapsync plan error: {address}" if address else "tapsync plan error"
    return gh_command("error", message, file=src.file if src else None,
                      line=src.line if src else None, col=src.column if src else None,
                      title=title)


def _source(c: Change, desired: State | None) -> Source | None:
    r = desired.get(c.key) if desired is not None else None
    if r is None:
        return None
    for f in c.fields:
        head = f.path[0] if f.path else None
        if isinstance(head, str) and head in r.field_sources:
            return r.field_sources[head]
    return r.source


def _message(c: Change) -> str:
    head = c.key.address
    if c.action is Action.RENAME and c.from_key is not None:
        head = f"{c.from_key.address} → {head}"
    parts = [f"{c.action.value} {head}"]
    creating = c.action in (Action.CREATE, Action.SEND)
    parts += [_field(f, creating) for f in c.fields]
    if c.reason:
        parts.append(c.reason)
    return "\n".join(parts)


def _field(f: FieldChange, creating: bool) -> str:
    if creating:
        return f"  {f.label}: {show(f.after)}"
    return f"  {f.label}: {show(f.before)} → {show(f.after)}"


def render_drift(report: DriftReport, stream: TextIO, *, color: bool = False) -> None:
    """Errors for changed and missing objects (at their manifest lines), warnings for
    unmanaged and unexpected ones, then the summary as a notice."""
    del color
    lines = [gh_command(_DRIFT_LEVEL[i.type], _drift_message(i),
                        file=src.file if src else None, line=src.line if src else None,
                        col=src.column if src else None, title=f"tapsync drift: {i.type}")
             for i in report.items for src in (i.line_of(),)]
    s = report.summary()
    text = ", ".join(f"{n} {t}" for t, n in s.items()) if report.drifted else "no drift"
    lines.append(gh_command("notice", text, title="tapsync drift"))
    stream.write("\n".join(lines) + "\n")


def _drift_message(i: DriftItem) -> str:
    parts = [f"{i.type} {i.key.address}"]
    parts += [f"  {f.label}: live {show(f.before)}, declared {show(f.after)}"
              for f in i.fields if i.type == "changed"]
    if i.reason:
        parts.append(i.reason)
    return "\n".join(parts)
