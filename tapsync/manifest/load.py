"""Read manifest files into plain data that remembers where every value was written.

Why not ``yaml.safe_load``: it forgets positions, silently keeps the last of two duplicate
keys, expands alias bombs, and (in pure Python) needs ~10 s for a 13 MB file. Here libyaml
(``CParser``) produces *events* and one flat loop builds the values, so no node tree of
millions of objects is ever held. Mappings and sequences are :class:`MDict`/:class:`MList`
(real ``dict``/``list`` subclasses, so jsonschema and the rest treat them as JSON) whose
``marks`` hold each entry's position packed into one int (see :func:`unpack`).

Timestamps are kept as the text written (the APIs want strings, not ``datetime``); keys are
always the text written (``on:`` stays ``"on"``). Anything a file cannot give us — a
syntax error, a bomb, an unknown tag — becomes a :class:`~tapsync.errors.Problem`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from tapsync.errors import Problem
from tapsync.manifest.data import (
    COL_BITS,
    PAIR_SHIFT,
    Document,
    Loaded,
    MDict,
    MList,
    Secret,
    json_path,
    key_of,
    unpack,
    walk_containers,
)

try:  # libyaml is ~10x faster; the pure-Python parser gives the same events
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Parser  # type: ignore[assignment]

MAX_DEPTH = 200
_IMPLICIT = Resolver.yaml_implicit_resolvers
_BOOLS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}
_SCALAR_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null",
                                                    "timestamp", "value", "yaml")}
_CONTAINER_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", None, "!"}
_SECRET_WORDS = re.compile(r"(?:^|_)(?:api_?key|apikey|secret|secret_key|token|password|"
                           r"passwd|access_key|private_key|client_secret)(?:_|$)")


class _Refused(Exception):
    def __init__(self, mark: int, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


def discover(paths: Sequence[str | Path], problems: list[Problem]) -> list[Path]:
    """Files named, and ``*.yaml``/``*.yml`` under folders named (recursively, sorted)."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():  # hidden files and folders (.git, .tapsync) are not manifests
            found.extend(sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml")
                                and f.is_file() and not any(
                                    part.startswith(".") for part in f.relative_to(p).parts)))
        elif p.is_file():
            found.append(p)
        else:
            problems.append(Problem(str(p), 1, 1, "$", "no such file or folder"))
    seen: set[Path] = set()
    unique = []
    for f in found:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            unique.append(f)
    return unique


def load_files(paths: Sequence[str | Path], max_file_bytes: int) -> Loaded:
    """Read every manifest file; a file that cannot be read adds problems, not exceptions."""
    missing: list[Problem] = []
    out = read_files(discover(paths, missing), max_file_bytes)
    out.problems[:0] = missing
    return out


def read_files(files: Sequence[Path], max_file_bytes: int) -> Loaded:
    """Read the files given (already discovered), in order."""
    out = Loaded()
    for path in files:
        name = str(path)
        out.files.append(name)
        try:
            size = path.stat().st_size
            if size > max_file_bytes:
                out.problems.append(Problem(name, 1, 1, "$", f"file is {size} bytes, over the "
                                            f"limit of {max_file_bytes} bytes: split it"))
                continue
            data = path.read_bytes()
        except OSError as exc:
            out.problems.append(Problem(name, 1, 1, "$", f"cannot read: {exc.strerror}"))
            continue
        parse(data, name, out)
    return out


def parse(data: bytes | str, file: str, out: Loaded) -> None:
    """Parse one file into ``out``; on any YAML error the file contributes nothing else."""
    reader = _Reader(file, out.problems)
    try:
        docs = list(reader.run(data))
    except _Refused as exc:
        line, col = unpack(exc.mark)
        out.problems.append(Problem(file, line, col, "$", exc.message))
        return
    except yaml.reader.ReaderError as exc:
        out.problems.append(_reader_problem(file, exc, data))
        return
    except yaml.YAMLError as exc:
        out.problems.append(_syntax_problem(file, exc))
        return
    out.documents.extend(docs)
    out.secrets.extend(reader.secrets)
    if reader.pending:
        out.problems.extend(reader.located(docs))


def _syntax_problem(file: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    if isinstance(exc, yaml.MarkedYAMLError):
        words = " ".join(w for w in (exc.context, exc.problem) if w)
    else:
        words = str(exc).splitlines()[0]
    return Problem(file, line, col, "$", f"YAML syntax error: {words}")


def _reader_problem(file: str, exc: yaml.reader.ReaderError, data: bytes | str) -> Problem:
    """Bytes that are not text (bad UTF-8) or characters YAML forbids, at their real place.

    The reader's ``position`` is a byte offset, not a line and column, so it is located
    here: libyaml reads a ``str`` as its UTF-8 encoding, so a ``str`` is encoded the same
    way first (counting its characters instead would put ``b: éééé \x07`` on the next
    line). For bad UTF-8 Python's own decoder names the first bad byte, which is what an
    editor's "go to line:column" needs.
    """
    text = isinstance(data, str)
    raw = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else data
    utf16 = not text and raw[:2] in (b"\xff\xfe", b"\xfe\xff")
    if not text and not utf16:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            line, col = _locate(raw, bad.start)
            return Problem(file, line, col, "$",
                           f"not valid UTF-8 (byte 0x{raw[bad.start]:02x})")
    # UTF-16 (rare) is not located: its offsets would count code units, not characters
    line, col = (1, 1) if utf16 else _locate(raw, exc.position)
    return Problem(file, line, col, "$", f"character U+{exc.character:04X} is not allowed "
                                         f"in YAML ({exc.reason})")


def _locate(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of the byte ``offset`` into UTF-8 ``data``."""
    start = data.rfind(b"\n", 0, offset) + 1
    start += 3 if start == 0 and data.startswith(b"\xef\xbb\xbf") else 0  # the BOM
    column = len(data[start:offset].decode("utf-8", errors="replace"))
    return data.count(b"\n", 0, offset) + 1, column + 1


class _Reader:
    """One pass over libyaml events: build values, record marks, refuse what is unsafe."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        self.secrets: list[Secret] = []
        self._ctor = SafeConstructor()
        self._secret_keys: dict[str, bool] = {}
        self.pending: list[tuple[Any, str, int, str]] = []

    def _problem(self, mark: int, message: str, box: Any = None, key: str | None = None
                 ) -> None:
        """Report now at ``$``, or, given the container and key, once paths are known."""
        if box is not None and key is not None:
            self.pending.append((box, key, mark, message))
            return
        line, col = unpack(mark)
        self.problems.append(Problem(self.file, line, col, "$", message))

    def located(self, docs: list[Document]) -> Iterator[Problem]:
        """The pending problems, each with the JSON path of its container."""
        paths: dict[int, list[str | int]] = {}
        for doc in docs:
            for container, here in walk_containers(doc.root):
                paths.setdefault(id(container), here)
        for box, key, mark, message in self.pending:
            line, col = unpack(mark)
            here = paths.get(id(box), [])
            yield Problem(self.file, line, col, json_path([*here, key]), message)

    def _scalar(self, ev: Any, mark: int) -> Any:
        value: str = ev.value
        tag = ev.tag
        if tag is None or tag == "!":
            if not ev.implicit[0]:
                return value
            for rtag, regexp in _IMPLICIT.get(value[:1], ()):
                if regexp.match(value):
                    tag = rtag
                    break
            else:
                return value
        elif tag not in _SCALAR_TAGS:
            self._problem(mark, f"unsupported YAML tag {tag!r}: write plain YAML values")
            return value
        kind = tag.rsplit(":", 1)[-1]
        if kind == "null":
            return None
        if kind == "bool":
            return _BOOLS.get(value.lower(), value)
        if kind in ("int", "float"):
            node = ScalarNode(tag, value)
            try:
                return getattr(self._ctor, f"construct_yaml_{kind}")(node)
            except (ValueError, yaml.YAMLError):
                self._problem(mark, f"{value!r} is not a valid {kind}")
                return value
        return value

    def _is_secret_key(self, key: str) -> bool:
        hit = self._secret_keys.get(key)
        if hit is None:
            snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()
            snake = re.sub(r"[^a-z0-9]+", "_", snake)
            hit = not snake.endswith("_env") and bool(_SECRET_WORDS.search(snake))
            self._secret_keys[key] = hit
        return hit

    def run(self, data: bytes | str) -> Iterator[Document]:
        parser = _Parser(data)
        get = parser.get_event
        ScalarEvent, AliasEvent = yaml.ScalarEvent, yaml.AliasEvent
        MappingStart, SequenceStart = yaml.MappingStartEvent, yaml.SequenceStartEvent
        MappingEnd, SequenceEnd = yaml.MappingEndEvent, yaml.SequenceEndEvent
        DocumentStart, StreamEnd = yaml.DocumentStartEvent, yaml.StreamEndEvent
        implicit, intern, secret_keys = _IMPLICIT, sys.intern, self._secret_keys
        anchors: dict[str, tuple[Any, int]] = {}
        open_anchors: set[str] = set()
        # frame: [container, is_map, pending_key, key_mark, anchor, size_at_start, merges]
        stack: list[list[Any]] = []
        frame: list[Any] = []
        events = 0
        extra = 0  # values that aliases add on top of the events read
        doc_mark = 0
        while True:
            ev: Any = get()
            events += 1
            t = type(ev)
            sm = ev.start_mark
            mark = (sm.line << COL_BITS) | sm.column
            if t is ScalarEvent:
                value = ev.value
                if stack and frame[1] and frame[2] is None:  # a key: kept as written
                    plain = ev.implicit[0] and ev.tag is None
                    frame[2] = _MERGE if plain and value == "<<" else intern(value)
                    frame[3] = mark
                    if ev.anchor is not None:
                        anchors[ev.anchor] = (value, 1)
                    continue
                if ev.tag is not None or (ev.implicit[0] and value[:1] in implicit):
                    value = self._scalar(ev, mark)
                if ev.anchor is not None:
                    anchors[ev.anchor] = (value, 1)
            elif t is MappingStart or t is SequenceStart:
                if len(stack) >= MAX_DEPTH:
                    raise _Refused(mark, f"nesting deeper than {MAX_DEPTH} levels")
                if ev.tag not in _CONTAINER_TAGS:
                    self._problem(mark, f"unsupported YAML tag {ev.tag!r}: write plain YAML")
                is_map = t is MappingStart
                box: Any = MDict(mark) if is_map else MList(mark)
                if ev.anchor is not None:
                    open_anchors.add(ev.anchor)
                frame = [box, is_map, None, 0, ev.anchor, events + extra, None]
                stack.append(frame)
                continue
            elif t is MappingEnd or t is SequenceEnd:
                done = stack.pop()
                frame = stack[-1] if stack else []
                value = done[0]
                if done[6]:
                    self._merge(value, done[6])
                if done[4] is not None:
                    open_anchors.discard(done[4])
                    anchors[done[4]] = (value, events + extra - done[5])
                mark = value.mark
            elif t is AliasEvent:
                name = ev.anchor
                if name in open_anchors:
                    raise _Refused(mark, f"recursive alias *{name} refers to its own container")
                if name not in anchors:
                    raise _Refused(mark, f"alias *{name} names no anchor defined before it")
                value, weight = anchors[name]
                extra += weight
                if extra > 9 * events + 10_000:
                    raise _Refused(mark, "aliases expand to more than ten times the document "
                                         f"(over {events + extra} values): refusing a "
                                         "possible alias bomb")
            elif t is DocumentStart:
                doc_mark = mark
                continue
            elif t is StreamEnd:
                return
            else:
                continue
            if not stack:
                yield Document(self.file, value, doc_mark)
                continue
            box = frame[0]
            if not frame[1]:
                box.append(value)
                box.marks.append(mark)
                continue
            key = frame[2]
            if key is None:  # a container or an alias in key position
                frame[2] = value if isinstance(value, str) else _BAD_KEY
                frame[3] = mark
                if frame[2] is _BAD_KEY:
                    self._problem(mark, "a mapping key must be a plain string")
                continue
            frame[2] = None
            if key.__class__ is str:
                if key in box:
                    first = unpack(key_of(box.marks[key]))[0]
                    self._problem(frame[3], f"duplicate key {key!r} (first at line {first})",
                                  box, key)
                    continue
                box[key] = value
                box.marks[key] = (frame[3] << PAIR_SHIFT) | mark
                if value.__class__ is str and value:
                    hit = secret_keys.get(key)
                    if hit is None:
                        hit = self._is_secret_key(key)
                    if hit:
                        self.secrets.append(Secret(box, key, value))
            elif key is _MERGE:
                frame[6] = (frame[6] or []) + [(value, mark)]

    def _merge(self, box: MDict, merges: list[tuple[Any, int]]) -> None:
        """YAML ``<<`` merge keys: explicit keys win, then earlier merged mappings."""
        for value, mark in merges:
            sources = value if isinstance(value, list) else [value]
            for src in sources:
                if not isinstance(src, MDict):
                    self._problem(mark, "a << merge key needs a mapping or a list of mappings",
                                  box, "<<")
                    continue
                for k, v in src.items():
                    if k not in box:
                        box[k] = v
                        box.marks[k] = src.marks[k]


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_MERGE = _Sentinel("<<")
_BAD_KEY = _Sentinel("<bad key>")
