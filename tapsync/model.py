"""The typed state model shared by manifests, providers and the planner.

A :class:`ResourceKey` names one object of one service unambiguously, whatever characters
its name holds: the address renders each name part as a JSON string inside brackets, so
``amplitude.event_property["Play Song"]["dur\\"ation"]`` parses back to the same key.
Desired and live state are both :class:`State`; the planner diffs one against the other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tapsync.errors import UsageError

PROVIDERS: tuple[str, ...] = ("amplitude", "taplytics", "apptimize", "pypestream")

_HEAD = re.compile(r"([a-z_]+)\.([a-z_]+)")


@dataclass(frozen=True, order=True, slots=True)
class ResourceKey:
    """Identity of one object: provider, kind and one or more name parts.

    Name parts: ``("Play Song",)`` for an event type, ``("Play Song", "duration")`` for a
    property of that event, ``("platform",)`` for a shared event property (one part means
    shared), ``("plan",)`` for a user property (never with the ``gp:`` prefix).
    """

    provider: str
    kind: str
    name: tuple[str, ...]

    @property
    def address(self) -> str:
        parts = "".join(f"[{json.dumps(n, ensure_ascii=False)}]" for n in self.name)
        return f"{self.provider}.{self.kind}{parts}"

    @property
    def leaf(self) -> str:
        """The last name part: what the object itself is called."""
        return self.name[-1]

    def with_leaf(self, leaf: str) -> ResourceKey:
        """The same key with its last name part replaced (a rename's target)."""
        return ResourceKey(self.provider, self.kind, (*self.name[:-1], leaf))

    def __str__(self) -> str:
        return self.address

    @classmethod
    def parse(cls, address: str) -> ResourceKey:
        """Parse an address such as ``amplitude.event_type["Play Song"]``.

        Raises :class:`UsageError` with the offending position when it is malformed.
        """
        m = _HEAD.match(address)
        if not m:
            raise UsageError(f"not an address: {address!r} (expected provider.kind[\"name\"])")
        pos = m.end()
        names: list[str] = []
        decoder = json.JSONDecoder()
        while pos < len(address):
            if address[pos] != "[":
                raise UsageError(f"not an address: {address!r}: expected '[' at {pos}")
            try:
                value, end = decoder.raw_decode(address, pos + 1)
            except json.JSONDecodeError as exc:
                raise UsageError(
                    f"not an address: {address!r}: name at {pos + 1} is not a JSON string"
                ) from exc
            if not isinstance(value, str) or end >= len(address) or address[end] != "]":
                raise UsageError(f"not an address: {address!r}: expected \"name\"] at {pos}")
            names.append(value)
            pos = end + 1
        if not names:
            raise UsageError(f"not an address: {address!r}: no name")
        return cls(m.group(1), m.group(2), tuple(names))

    def matches(self, pattern: ResourceKey) -> bool:
        """True when ``pattern`` is this key or one of its ancestors (a ``--target``)."""
        return (
            self.provider == pattern.provider
            and (self.kind == pattern.kind or (pattern.kind == "event_type"
                                               and self.kind == "event_property"))
            and self.name[: len(pattern.name)] == pattern.name
        )


@dataclass(frozen=True, slots=True)
class Source:
    """Where something was written: 1-based line and column in a file."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Resource:
    """One object, desired (from a manifest) or live (read and normalised by a provider).

    ``attrs`` holds the object's fields under the API's own parameter names. On a desired
    resource it holds *only* the fields the manifest writes (ownership: the rest is left as
    it is live). ``meta`` holds what is not configuration: live ids, status
    (``planned``/``live``/``unexpected``/``deleted``), ``builtin``. ``renamed_from`` lists
    earlier leaf names of a desired object; ``absent`` marks a tombstone.
    """

    key: ResourceKey
    attrs: Mapping[str, Any] = field(default_factory=dict)
    source: Source | None = None
    absent: bool = False
    renamed_from: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    #: per-field sources, for annotations that point at the line causing a change
    field_sources: Mapping[str, Source] = field(default_factory=dict)


class DuplicateResource(ValueError):
    """The same key was added twice to one :class:`State`."""

    def __init__(self, first: Resource, second: Resource) -> None:
        self.first = first
        self.second = second
        super().__init__(f"{second.key.address} declared twice: at {first.source} and "
                         f"{second.source}")


def key_order(key: ResourceKey) -> tuple[str, str, tuple[str, ...]]:
    """A sort key ordering keys exactly as ``ResourceKey``'s own ``<`` does, compared in C.

    Sorting 100,000 keys by their dataclass ``__lt__`` makes millions of Python calls;
    sorting by this tuple makes one per key.
    """
    return (key.provider, key.kind, key.name)


def _resource_order(resource: Resource) -> tuple[str, str, tuple[str, ...]]:
    key = resource.key
    return (key.provider, key.kind, key.name)


class State:
    """A set of resources keyed by :class:`ResourceKey`, iterated in a stable order.

    The order is computed once and kept until the next :meth:`add`: planning and reading
    iterate a state of 100,000 objects several times.
    """

    def __init__(self, resources: Iterable[Resource] = ()) -> None:
        self._by_key: dict[ResourceKey, Resource] = {}
        self._sorted: list[Resource] | None = None
        for r in resources:
            self.add(r)

    def add(self, resource: Resource) -> None:
        old = self._by_key.get(resource.key)
        if old is not None:
            raise DuplicateResource(old, resource)
        self._by_key[resource.key] = resource
        self._sorted = None

    def get(self, key: ResourceKey) -> Resource | None:
        return self._by_key.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[Resource]:
        if self._sorted is None:
            self._sorted = sorted(self._by_key.values(), key=_resource_order)
        return iter(self._sorted)

    def __len__(self) -> int:
        return len(self._by_key)

    def values(self) -> Iterator[Resource]:
        """In the order they were added: for callers to whom the order does not matter."""
        return iter(self._by_key.values())

    def keys(self) -> set[ResourceKey]:
        return set(self._by_key)

    def of_kind(self, provider: str, kind: str) -> list[Resource]:
        return [r for r in self if r.key.provider == provider and r.key.kind == kind]

    def providers(self) -> set[str]:
        return {k.provider for k in self._by_key}
