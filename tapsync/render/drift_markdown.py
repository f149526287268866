"""A drift report as an issue or PR comment (``drift --format markdown``).

It has to read well at both ends: a clean night is two lines and a coverage table, a
neglected project with hundreds of unmanaged objects must not become a wall. So the
comment leads with counts, shows short lists as they are and folds long ones, and keeps a
marker line so a scheduled job can find and update its own issue.
"""

from __future__ import annotations

from typing import TextIO

from tapsync.drift import TYPES, DriftItem, DriftReport
from tapsync.render.markup import cell, code, details, fit, maybe_fold, show, table

MARKER = "<!-- tapsync:drift -->"

TITLES = {
    "changed": "Changed — live values differ from the manifests",
    "missing": "Missing — declared, not live",
    "unmanaged": "Unmanaged — live, declared by no manifest",
    "unexpected": "Unexpected — ingested, never planned",
}


def render_markdown(report: DriftReport, stream: TextIO, *, color: bool = False) -> None:
    del color
    stream.write(fit(lambda rows: _render(report, rows)))


def _render(report: DriftReport, rows: int) -> str:
    s = report.summary()
    total = sum(s.values())
    out = [MARKER]
    if not report.drifted:
        out += ["### tapsync drift: none", "", "✅ Live state matches the manifests."]
    else:
        out += [f"### tapsync drift: {total} difference{'s' if total != 1 else ''}", ""]
        out += table([t for t in TYPES], [[str(s[t]) for t in TYPES]],
                     align=["---:"] * len(TYPES))
        for t in TYPES:
            items = report.of_type(t)
            if items:
                out += ["", f"#### {TITLES[t]} ({len(items)})", ""]
                lines = [line for i in items[:rows] for line in _item(i)]
                if len(items) > rows:
                    lines.append(f"- … and {len(items) - rows} more (see the JSON report)")
                out += maybe_fold(f"{len(items)} {t} objects", lines, len(items))
        out += ["", "To accept today's drift as a baseline, run `tapsync drift "
                    "--write-baseline` and commit `.tapsyncignore`; to fix it, apply the "
                    "manifests (or import the live objects with `tapsync import`)."]
    if report.coverage:
        cov = [[code(k, in_table=True), str(c.managed), str(c.live), f"{c.percent:.0f} %"]
                for k, c in report.coverage.items()]
        out += ["", *details("Coverage: live objects a manifest accounts for",
                             table(["kind", "managed", "live", "coverage"], cov,
                                   align=["---", "---:", "---:", "---:"]))]
    if report.ignored:
        n = len(report.ignored)
        out += ["", *details(f"Ignored by .tapsyncignore ({n})",
                             [f"- {code(k.address)}" for k in report.ignored[:rows]])]
    notes = [*(("warning", w) for w in report.warnings), *(("error", e) for e in report.errors)]
    if notes:
        out += ["", "**Notes**", ""]
        out += [f"- {level}: " + (f"{code(n.address)}: " if n.address else "") + cell(n.message)
                for level, n in notes]
    return "\n".join(out) + "\n"


def _item(i: DriftItem) -> list[str]:
    where = i.line_of()
    line = f"- {code(i.key.address)}"
    if where is not None:
        line += f" — {code(f'{where.file}:{where.line}')}"
    fields = i.fields if i.type == "changed" else ()
    if i.reason and not fields:
        line += f" — {cell(i.reason)}"
    out = [line]
    for f in fields:
        out.append(f"  - {code(f.label)}: live {code(show(f.before))}, "
                   f"declared {code(show(f.after))}")
    if i.reason and fields:
        out.append(f"  - {cell(i.reason)}")
    return out
