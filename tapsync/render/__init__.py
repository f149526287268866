"""Renderers: pure functions of ``(plan, stream, *, color=False)`` (Terraform's views).

A renderer writes to the stream it is given and nothing else; the CLI picks one by
``--format``. Colour is the caller's decision (a terminal, no ``--no-color``), never
guessed here, so output is reproducible in tests and CI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from tapsync.changes import Plan
from tapsync.render.json import render_plan as render_json
from tapsync.render.text import render_plan as render_text

PlanRenderer = Callable[..., None]

#: ``--format`` name → renderer of a plan; ``fn(plan, stream, color=...)``
PLAN_RENDERERS: dict[str, PlanRenderer] = {"text": render_text, "json": render_json}


def render_plan(fmt: str, plan: Plan, stream: TextIO, *, color: bool = False) -> None:
    """Render ``plan`` in format ``fmt`` (``KeyError`` for a format nobody registered)."""
    PLAN_RENDERERS[fmt](plan, stream, color=color)


__all__ = ["PLAN_RENDERERS", "render_json", "render_plan", "render_text"]
