"""Renderers: pure functions of ``(plan or report, stream, *, color=False)`` (Terraform's
views).

A renderer writes to the stream it is given and nothing else; the CLI picks one by
``--format``. Colour is the caller's decision (a terminal, no ``--no-color``), never
guessed here, so output is reproducible in tests and CI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from tapsync.changes import Plan
from tapsync.drift import DriftReport
from tapsync.model import State
from tapsync.render import drift_markdown, drift_text, github, junit, markdown
from tapsync.render.json import render_plan as render_json
from tapsync.render.text import render_plan as render_text

PlanRenderer = Callable[..., None]

#: ``--format`` name → renderer of a plan; ``fn(plan, stream, color=...)``
PLAN_RENDERERS: dict[str, PlanRenderer] = {"text": render_text, "json": render_json,
                                           "markdown": markdown.render_plan,
                                           "github": github.render_plan}
#: plan formats that point at manifest lines: they also take ``desired=``, ``base=``
PLAN_WITH_SOURCES = frozenset({"markdown", "github"})

DriftRenderer = Callable[..., None]

#: ``drift --format`` name → renderer of a drift report; ``fn(report, stream, color=...)``
DRIFT_RENDERERS: dict[str, DriftRenderer] = {
    "text": drift_text.render_text, "json": drift_text.render_json,
    "markdown": drift_markdown.render_markdown, "junit": junit.render_junit,
    "github": github.render_drift,
}


def render_plan(fmt: str, plan: Plan, stream: TextIO, *, color: bool = False,
                desired: State | None = None, base: str | None = None) -> None:
    """Render ``plan`` in format ``fmt`` (``KeyError`` for a format nobody registered).

    ``desired`` (the manifests' state) lets the reviewer formats name the file and line
    that cause each change (paths under the directory ``base`` relative to it); the
    others do not need it.
    """
    if fmt in PLAN_WITH_SOURCES:
        PLAN_RENDERERS[fmt](plan, stream, color=color, desired=desired, base=base)
    else:
        PLAN_RENDERERS[fmt](plan, stream, color=color)


def render_drift(fmt: str, report: DriftReport, stream: TextIO, *,
                 color: bool = False) -> None:
    """Render a drift report in format ``fmt`` (``KeyError`` for an unknown one)."""
    DRIFT_RENDERERS[fmt](report, stream, color=color)


__all__ = ["DRIFT_RENDERERS", "PLAN_RENDERERS", "render_drift", "render_json", "render_plan",
           "render_text"]
