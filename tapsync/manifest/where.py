"""Turn a path inside a loaded document into text (``$.a.b[3]``) and into a file position.

Every problem and every :class:`~tapsync.model.Source` is located through here, so a
message always points at the line holding the offending value (or key, for unknown keys).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from tapsync.errors import Problem
from tapsync.manifest.data import (
    Document,
    MDict,
    MList,
    json_path,
    key_of,
    unpack,
    value_of,
    walk_containers,
)
from tapsync.model import Source

PathPart = str | int
__all__ = ["FieldSources", "PathPart", "json_path", "mark_at", "problem", "source",
           "walk_containers"]


def mark_at(doc: Document, parts: Sequence[PathPart], *, key: bool = False) -> int:
    """The packed mark of the value at ``parts`` (of its key with ``key=True``); the nearest
    known ancestor's when the path leaves the data (e.g. a missing required key)."""
    node: Any = doc.root
    mark = doc.root.mark if isinstance(doc.root, (MDict, MList)) else doc.mark
    for i, part in enumerate(parts):
        if isinstance(node, MDict) and isinstance(part, str) and part in node:
            pair = node.marks[part]
            last = i == len(parts) - 1
            mark = key_of(pair) if key and last else value_of(pair)
            node = node[part]
        elif isinstance(node, MList) and isinstance(part, int) and 0 <= part < len(node):
            mark = node.marks[part]
            node = node[part]
        else:
            break
    return mark


def problem(doc: Document, parts: Sequence[PathPart], message: str, *,
            severity: str = "error", key: bool = False) -> Problem:
    line, col = unpack(mark_at(doc, parts, key=key))
    return Problem(doc.file, line, col, json_path(parts), message, severity)


def source(doc: Document, mark: int) -> Source:
    line, col = unpack(mark)
    return Source(doc.file, line, col)


class FieldSources(Mapping[str, Source]):
    """Where each owned field's value is written, made into :class:`Source` only when
    asked: a 100,000-object workspace would otherwise build half a million of them."""

    __slots__ = ("_file", "_keys", "_marks")

    def __init__(self, file: str, marks: Mapping[str, int], keys: Iterable[str]) -> None:
        self._file = file
        self._marks = marks
        self._keys = tuple(keys)

    def __getitem__(self, key: str) -> Source:
        if key not in self._keys:
            raise KeyError(key)
        line, col = unpack(value_of(self._marks[key]))
        return Source(self._file, line, col)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"FieldSources({dict(self)!r})"
