"""The data a manifest file becomes: JSON-like values that remember where they were written.

:class:`MDict` and :class:`MList` are real ``dict``/``list`` subclasses (so jsonschema and
the rest treat them as JSON) whose ``marks`` hold each entry's position packed into one
int — 100,000 objects would otherwise need millions of libyaml ``Mark`` objects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tapsync.errors import Problem

COL_BITS = 20
PAIR_SHIFT = 48


class MDict(dict[str, Any]):
    """A mapping that knows where it starts (``mark``) and where each entry's key and
    value are (``marks[key]``: both positions packed in one int, far lighter than libyaml's
    Mark objects; see :func:`unpack`, :func:`key_of`, :func:`value_of`)."""

    __slots__ = ("mark", "marks")

    def __init__(self, mark: int = 0) -> None:
        super().__init__()
        self.mark = mark
        self.marks: dict[str, int] = {}


class MList(list[Any]):
    """A sequence that knows where it starts and where each item starts."""

    __slots__ = ("mark", "marks")

    def __init__(self, mark: int = 0) -> None:
        super().__init__()
        self.mark = mark
        self.marks: list[int] = []


def unpack(mark: int) -> tuple[int, int]:
    """The 1-based ``(line, column)`` of a packed mark (the value's, for a pair)."""
    mark &= (1 << PAIR_SHIFT) - 1
    return (mark >> COL_BITS) + 1, (mark & ((1 << COL_BITS) - 1)) + 1


def key_of(pair_mark: int) -> int:
    """The key's mark from a mapping entry's packed pair."""
    return pair_mark >> PAIR_SHIFT


def value_of(pair_mark: int) -> int:
    """The value's mark from a mapping entry's packed pair."""
    return pair_mark & ((1 << PAIR_SHIFT) - 1)


@dataclass
class Secret:
    """A secret-looking key with a literal string value (reported, never echoed)."""

    container: MDict
    key: str
    value: str


@dataclass
class Document:
    file: str
    root: Any
    mark: int


@dataclass
class Loaded:
    """Every document of every file, the problems met while reading, and secrets seen."""

    files: list[str] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    secrets: list[Secret] = field(default_factory=list)


def walk_containers(root: Any, path: list[str | int] | None = None
                    ) -> Iterator[tuple[Any, list[str | int]]]:
    """Every mapping and sequence under ``root`` with its path (iterative: no recursion
    limit; shared aliased containers are visited once)."""
    seen: set[int] = set()
    stack: list[tuple[Any, list[str | int]]] = [(root, path or [])]
    while stack:
        node, here = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node, here
        if isinstance(node, dict):
            stack.extend((v, [*here, k]) for k, v in node.items() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, [*here, i]) for i, v in enumerate(node)
                         if isinstance(v, (dict, list)))


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def json_path(parts: Sequence[str | int]) -> str:
    """``$``-rooted path; keys that are not identifiers are written as JSON strings."""
    out = ["$"]
    for p in parts:
        if isinstance(p, int):
            out.append(f"[{p}]")
        elif _IDENT.match(p):
            out.append(f".{p}")
        else:
            out.append(f"[{json.dumps(p, ensure_ascii=False)}]")
    return "".join(out)
