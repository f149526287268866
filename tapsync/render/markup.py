"""Small, safe building blocks for Markdown and GitHub workflow commands.

Names are user data and may hold any character: a backtick, a pipe or ``</details>``
must not break a PR comment's table or fold, and a comma or newline must not end a
workflow command early. Everything the renderers emit goes through here.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

#: a list longer than this is folded into ``<details>``
FOLD_AFTER = 10
#: rows shown in one table or list before "… and N more", tried in turn until it fits
ROW_LIMITS = (200, 50, 10)
#: GitHub refuses comments and issue bodies longer than 65,536 characters
COMMENT_LIMIT = 65_000


def fit(render: Callable[[int], str]) -> str:
    """The longest rendering (most rows per list) that fits in one GitHub comment."""
    text = ""
    for rows in ROW_LIMITS:
        text = render(rows)
        if len(text) <= COMMENT_LIMIT:
            break
    return text


def show(value: Any) -> str:
    """A value as JSON, so ``""``, ``null`` and ``"null"`` stay distinguishable."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def code(text: str, *, in_table: bool = False) -> str:
    """``text`` as an inline code span that survives any backticks it holds."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    tick = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    out = f"{tick}{pad}{text}{pad}{tick}"
    return out.replace("|", "\\|") if in_table else out


def cell(text: str) -> str:
    """Plain text safe inside a table cell (no pipes, no line breaks, no raw HTML)."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def fence(body: str, lang: str = "") -> list[str]:
    """A fenced code block whose fence is longer than any backtick run in ``body``."""
    longest = max((len(m) for m in re.findall(r"`{3,}", body)), default=0)
    tick = "`" * max(3, longest + 1)
    return [f"{tick}{lang}", body, tick]


def details(summary: str, lines: Sequence[str], *, open_: bool = False) -> list[str]:
    """A ``<details>`` fold; ``summary`` is escaped, ``lines`` are Markdown."""
    tag = "<details open>" if open_ else "<details>"
    return [tag, f"<summary>{html.escape(summary, quote=False)}</summary>", "", *lines, "",
            "</details>"]


def maybe_fold(summary: str, lines: Sequence[str], count: int) -> list[str]:
    """Short lists are shown as they are; long ones are folded under ``summary``."""
    if count <= FOLD_AFTER:
        return list(lines)
    return details(summary, lines)


def table(head: Sequence[str], rows: Sequence[Sequence[str]], *,
          align: Sequence[str] = ()) -> list[str]:
    """A GitHub-flavoured Markdown table; cells must already be escaped."""
    marks = [align[i] if i < len(align) else "---" for i in range(len(head))]
    return ["| " + " | ".join(head) + " |", "| " + " | ".join(marks) + " |",
            *("| " + " | ".join(r) + " |" for r in rows)]


def gh_data(text: str) -> str:
    """Escape a workflow command's message (GitHub's ``escapeData``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def gh_property(text: str) -> str:
    """Escape a workflow command's property value (GitHub's ``escapeProperty``)."""
    return gh_data(text).replace(":", "%3A").replace(",", "%2C")


def gh_command(level: str, message: str, *, file: str | None = None,
               line: int | None = None, col: int | None = None,
               title: str | None = None) -> str:
    """``::warning file=…,line=…,title=…::message`` (properties only when known)."""
    props: list[str] = []
    if file:
        props.append(f"file={gh_property(file)}")
        if line:
            props.append(f"line={line}")
        if col:
            props.append(f"col={col}")
    if title:
        props.append(f"title={gh_property(title)}")
    head = f"::{level} " + ",".join(props) if props else f"::{level}"
    return f"{head}::{gh_data(message)}"
