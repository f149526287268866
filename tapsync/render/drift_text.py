"""A drift report for people (text) and for programs (the versioned JSON envelope).

The text ends, like the plan, with one fixed-shape line CI logs can grep:
``Drift: 1 changed, 2 missing, 3 unmanaged, 0 unexpected.`` The JSON is the plan's
envelope (``format_version``, warnings, errors, cost, summary) with a ``drift`` list whose
items carry ``type``: ``changed | missing | unmanaged | unexpected`` (CONTRACT.md §5).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TextIO

from tapsync.drift import TYPES, DriftItem, DriftReport
from tapsync.planfile import FORMAT_VERSION
from tapsync.render.markup import show

NO_DRIFT = "No drift. Live state matches the manifests."
_COLORS = {"changed": "33", "missing": "31", "unmanaged": "36", "unexpected": "35"}


def summary_line(report: DriftReport) -> str:
    s = report.summary()
    return "Drift: " + ", ".join(f"{s[t]} {t}" for t in TYPES) + "."


def coverage_lines(report: DriftReport) -> list[str]:
    return [f"  {kind}: {c.managed}/{c.live} managed ({c.percent:.0f} %)"
            for kind, c in report.coverage.items()]


def render_text(report: DriftReport, stream: TextIO, *, color: bool = False) -> None:
    """Every finding with its fields and manifest location, coverage, then the summary."""
    paint = _painter(color)
    out: list[str] = []
    if not report.drifted:
        out.append(NO_DRIFT)
    for i in report.items:
        out += _item(i, paint)
    if report.coverage:
        out += ["", "Coverage (live objects a manifest accounts for):", *coverage_lines(report)]
    if report.ignored:
        out += ["", f"Ignored ({len(report.ignored)}, by .tapsyncignore):"]
        out += [f"  {k.address}" for k in report.ignored]
    if report.warnings:
        out += ["", paint("Warnings:", "33")]
        out += [f"  {w.address}: {w.message}" if w.address else f"  {w.message}"
                for w in report.warnings]
    if report.errors:
        out += ["", paint("Errors:", "31")]
        out += [f"  {e.address}: {e.message}" if e.address else f"  {e.message}"
                for e in report.errors]
    out += ["", summary_line(report)]
    stream.write("\n".join(out) + "\n")


def _item(i: DriftItem, paint: Callable[[str, str], str]) -> list[str]:
    where = i.line_of()
    head = f"{i.type:<10} {i.key.address}" + (f"  ({where})" if where else "")
    lines = [paint(head, _COLORS[i.type])]
    for f in i.fields:
        if i.type == "changed":
            lines.append(f"    {f.label}: live {show(f.before)}, declared {show(f.after)}")
    if i.reason:
        lines.append(f"    # {i.reason}")
    return lines


def _painter(color: bool) -> Callable[[str, str], str]:
    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text
    return paint


def report_to_dict(report: DriftReport) -> dict[str, Any]:
    """The JSON-ready drift envelope (keys in a fixed order)."""
    return {
        "format_version": FORMAT_VERSION,
        "drift": [_item_dict(i) for i in report.items],
        "coverage": {k: {"managed": c.managed, "live": c.live,
                         "percent": round(c.percent, 1)} for k, c in report.coverage.items()},
        "ignored": [k.address for k in report.ignored],
        "warnings": [{"address": w.address, "message": w.message} for w in report.warnings],
        "errors": [{"address": e.address, "message": e.message} for e in report.errors],
        "cost": {"total": sum(report.reads.values()),
                 "providers": {p: {"reads": n} for p, n in sorted(report.reads.items())}},
        "summary": report.summary(),
    }


def _item_dict(i: DriftItem) -> dict[str, Any]:
    where = i.line_of()
    return {
        "type": i.type,
        "address": i.key.address,
        "provider": i.key.provider,
        "kind": i.key.kind,
        "name": i.key.leaf,
        "names": list(i.key.name),
        "action": i.action.value if i.action is not None else None,
        "fields": [{"path": list(f.path), "live": f.before, "declared": f.after}
                   for f in i.fields],
        "reason": i.reason,
        "from_address": i.from_key.address if i.from_key else None,
        "source": {"file": where.file, "line": where.line, "column": where.column}
        if where else None,
    }


def render_json(report: DriftReport, stream: TextIO, *, color: bool = False) -> None:
    del color
    json.dump(report_to_dict(report), stream, ensure_ascii=False, indent=2)
    stream.write("\n")
