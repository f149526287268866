"""``tapsync validate`` findings: for people, for programs, and for GitHub.

Text is one ``path:line:column: $.json.path: message`` line per problem, the shape
compilers use, so terminals and editors turn it into a link. A warning carries a
``warning:`` marker before its message (as the warnings ``plan`` prints on stderr do); an
error carries none, since the closing ``Invalid: …`` line and exit code 1 already say so.
GitHub gets one ``::error``/``::warning`` workflow command per problem, built by
:func:`~tapsync.render.markup.gh_command` like every other annotation.

Paths under ``base`` (the current directory: the repository root in CI) are shown
relative to it: GitHub places an annotation on a pull request's diff only for a
repository-relative path, and shorter paths read better. JSON keeps the paths as found.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO

from tapsync.drift import relative_source
from tapsync.errors import Problem
from tapsync.model import Source
from tapsync.render.markup import gh_command

_RED, _YELLOW, _GREEN, _BOLD_RED = "31", "33", "32", "1;31"


def shown_path(file: str, base: str | None) -> str:
    """``file`` relative to ``base`` when it lies under it, else unchanged."""
    src = relative_source(base)(Source(file, 1, 1))
    return src.file if src is not None else file


def problem_line(p: Problem, *, base: str | None = None, color: bool = False) -> str:
    """``path:line:column: $.json.path: message`` (``warning: message`` for a warning)."""
    where = f"{shown_path(p.file, base)}:{p.line}:{p.column}: {p.json_path}: "
    if p.severity == "error":
        return where + _paint(p.message, _RED, color)
    return where + _paint(f"{p.severity}:", _YELLOW, color) + f" {p.message}"


def render_problems_text(problems: Sequence[Problem], stream: TextIO, *, files: int,
                         resources: int, color: bool = False, base: str | None = None) -> None:
    """Every problem, then one closing line a CI log can grep (``Valid:``/``Invalid:``)."""
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors
    lines = [problem_line(p, base=base, color=color) for p in problems]
    if errors:
        lines.append(_paint(f"Invalid: {errors} error(s), {warnings} warning(s) in {files} "
                            "file(s).", _BOLD_RED, color))
    else:
        lines.append(_paint(f"Valid: {resources} object(s) in {files} file(s)", _GREEN, color)
                     + (f", {warnings} warning(s)." if warnings else "."))
    stream.write("\n".join(lines) + "\n")


def render_problems_github(problems: Sequence[Problem], stream: TextIO, *,
                           base: str | None = None) -> None:
    """One workflow command per problem, on its file, line and column."""
    lines = [gh_command("error" if p.severity == "error" else "warning",
                        f"{p.json_path}: {p.message}", file=shown_path(p.file, base),
                        line=p.line, col=p.column)
             for p in problems]
    stream.write("".join(line + "\n" for line in lines))


def render_problems_json(problems: Sequence[Problem], stream: TextIO, *, files: int,
                         resources: int) -> None:
    """The machine-readable report (``format_version`` 1)."""
    doc = {"format_version": "1", "valid": not any(p.severity == "error" for p in problems),
           "files": files, "resources": resources,
           "problems": [{"file": p.file, "line": p.line, "column": p.column,
                         "path": p.json_path, "severity": p.severity,
                         "message": p.message} for p in problems]}
    stream.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text
