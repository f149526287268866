"""``.tapsyncignore``: addresses that drift reports set aside.

One pattern a line, beside ``tapsync.yaml``; ``#`` starts a comment. A pattern is an
address in which ``*`` matches any run of characters and ``?`` one character; everything
else is literal, brackets and quotes included (``fnmatch`` would read ``["…"]`` as a
character class), and ``\\*``, ``\\?``, ``\\\\`` are a literal ``*``, ``?``, ``\\``.
A pattern that covers an event type also covers the event's own properties, so one line
ignores a whole debugging event. ``tapsync drift --write-baseline`` appends today's drift
so that tomorrow's report starts clean. Pure apart from :func:`read` and :func:`baseline`'s
caller writing the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from tapsync.model import ResourceKey

FILE_NAME = ".tapsyncignore"

#: child kind → parent kind whose pattern covers the child too
_PARENTS = {"event_property": "event_type"}


def _compile(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def escape(address: str) -> str:
    """An address as a pattern matching only itself."""
    return re.sub(r"([\\*?])", r"\\\1", address)


class IgnoreRules:
    """Compiled patterns; call the object with a key to ask whether it is ignored."""

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self.patterns = tuple(patterns)
        self._compiled = tuple(_compile(p) for p in self.patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __call__(self, key: ResourceKey) -> bool:
        candidates = [key.address]
        parent = _PARENTS.get(key.kind)
        if parent is not None and len(key.name) > 1:
            candidates.append(ResourceKey(key.provider, parent, key.name[:1]).address)
        return any(rx.fullmatch(c) for rx in self._compiled for c in candidates)


def _parent_in(key: ResourceKey, keys: set[ResourceKey]) -> bool:
    parent = _PARENTS.get(key.kind)
    return (parent is not None and len(key.name) > 1
            and ResourceKey(key.provider, parent, key.name[:1]) in keys)


def parse(text: str) -> IgnoreRules:
    """Patterns from the text of an ignore file (comments and blank lines skipped)."""
    patterns = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            patterns.append(stripped)
    return IgnoreRules(tuple(patterns))


def baseline(existing: str, keys: Iterable[ResourceKey], *, when: str) -> str:
    """``existing`` ignore-file text plus today's drift, under a dated comment header.

    Addresses already covered by a pattern are not repeated; the text of the existing
    file is kept as it is.
    """
    rules = parse(existing)
    fresh = {k for k in keys if not rules(k)}
    new = sorted(k for k in fresh if not _parent_in(k, fresh))
    head: Sequence[str] = () if existing.strip() else (
        "# .tapsyncignore: addresses 'tapsync drift' sets aside, one glob pattern a line",
        "# (* any characters, ? one; \\* a literal star). Beside tapsync.yaml.",
    )
    lines = [*head]
    if new:
        lines += ["", f"# baseline written by 'tapsync drift --write-baseline' on {when}:",
                  "# drift that existed then; remove a line to report that object again."]
        lines += [escape(k.address) for k in new]
    body = existing.rstrip("\n")
    added = "\n".join(lines).strip("\n")
    if not added:
        return existing
    return (body + "\n\n" + added if body else added) + "\n"
