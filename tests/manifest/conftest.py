"""Helpers for manifest tests: write YAML into a temporary folder and check it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tapsync.errors import Problem
from tapsync.manifest import Checked, LintOptions, check

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
Write = Callable[..., Path]
Run = Callable[..., Checked]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """``write("a.yaml", text)`` dedents ``text`` into ``tmp_path/a.yaml``."""

    def make(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return make


@pytest.fixture
def run(tmp_path: Path, write: Write) -> Run:
    """``run(text)`` or ``run(files={...})``: check with a fixed clock."""

    def go(text: str | None = None, *, files: dict[str, str] | None = None,
           **options: object) -> Checked:
        if text is not None:
            write("m.yaml", text)
        for name, body in (files or {}).items():
            write(name, body)
        opts = LintOptions(now=NOW, **options)  # type: ignore[arg-type]
        return check([tmp_path], opts)

    return go


def messages(checked: Checked, severity: str = "error") -> list[str]:
    return [f"{p.line}:{p.column}: {p.json_path}: {p.message}" for p in checked.problems
            if p.severity == severity]


def only(checked: Checked, severity: str = "error") -> Problem:
    found = [p for p in checked.problems if p.severity == severity]
    assert len(found) == 1, "\n".join(str(p) for p in checked.problems)
    return found[0]
