"""From loaded documents to the desired :class:`~tapsync.model.State`.

:func:`declarations` walks every section once and lists each declared object with its
identity and place; the linter and the builder both work from that list, so they can never
disagree about what a manifest declares. The builder is tolerant: it builds whatever is
well-formed even when other parts have errors (the CLI still refuses to plan then).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tapsync.errors import Problem
from tapsync.manifest.data import Document, MDict, MList, unpack
from tapsync.manifest.where import FieldSources, PathPart, problem, source
from tapsync.model import DuplicateResource, Resource, ResourceKey, Source, State
from tapsync.normalize import canonical, strip_gp

#: section → list key → kind (the singular of the list key)
KINDS: Mapping[str, Mapping[str, str]] = {
    "amplitude": {"categories": "category", "event_types": "event_type",
                  "event_properties": "event_property", "user_properties": "user_property"},
    "taplytics": {"experiments": "experiment", "push_campaigns": "push_campaign",
                  "users": "user"},
    "apptimize": {"feature_flags": "feature_flag", "code_blocks": "code_block",
                  "dynamic_variables": "dynamic_variable"},
    "pypestream": {"actions": "action", "cohorts": "cohort", "dashboards": "dashboard",
                   "insights": "insight", "event_definitions": "event_definition",
                   "property_definitions": "property_definition"},
}
#: fields that say *which* object or *what to do*, never sent as an attribute; ``sent``
#: (a push that is history: never send it) travels in the resource's ``meta``
CONTROL = frozenset({"name", "renamed_from", "absent", "external", "properties", "sent"})


@dataclass(slots=True)
class Decl:
    """One declared object: identity, the mapping that declares it, and where it is."""

    provider: str
    kind: str
    name: tuple[str, ...]
    obj: MDict
    doc: Document
    path: list[PathPart]
    section: MDict

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.provider, self.kind, self.name)

    @property
    def absent(self) -> bool:
        return self.obj.get("absent") is True

    @property
    def key_source(self) -> Source:
        """Where the object is declared (its mapping's start)."""
        return source(self.doc, self.obj.mark)

    @property
    def identity_field(self) -> str:
        if self.kind == "user":
            return "user_id" if isinstance(self.obj.get("user_id"), str) else "email"
        return "name"


def declarations(documents: list[Document]) -> Iterator[Decl]:
    """Every object of every section, in file order; malformed entries are skipped (the
    schema already reported them)."""
    for doc in documents:
        if not isinstance(doc.root, dict):
            continue
        for provider, lists in KINDS.items():
            section = doc.root.get(provider)
            if not isinstance(section, MDict):
                continue
            for list_key, kind in lists.items():
                items = section.get(list_key)
                if not isinstance(items, list):
                    continue
                base: list[PathPart] = [provider, list_key]
                for i, obj in enumerate(items):
                    ident = _identity(kind, obj)
                    if ident is None:
                        continue
                    yield Decl(provider, kind, (ident,), obj, doc, [*base, i], section)
                    if kind == "event_type" and isinstance(obj.get("properties"), list):
                        for j, prop in enumerate(obj["properties"]):
                            pname = _identity("event_property", prop)
                            if pname is not None:
                                yield Decl(provider, "event_property", (ident, pname), prop,
                                           doc, [*base, i, "properties", j], section)


def _identity(kind: str, obj: Any) -> str | None:
    if not isinstance(obj, MDict):
        return None
    if kind == "user":
        ident = obj.get("user_id")
        ident = ident if isinstance(ident, str) and ident else obj.get("email")
    else:
        ident = obj.get("name")
    if not isinstance(ident, str) or not ident:
        return None
    return strip_gp(ident) if kind == "user_property" else ident


def renamed_from(obj: Mapping[str, Any], kind: str = "") -> tuple[str, ...]:
    """Earlier leaf names (one string or a list); user properties lose any ``gp:``."""
    value = obj.get("renamed_from")
    names = (value,) if isinstance(value, str) else tuple(
        v for v in value if isinstance(v, str)) if isinstance(value, list) else ()
    return tuple(strip_gp(n) for n in names) if kind == "user_property" else names


def build(decls: list[Decl]) -> tuple[State, list[Problem]]:
    """The desired state, and the problems only building finds (objects declared twice)."""
    return assemble(resources(decls))


def resources(decls: list[Decl]) -> list[tuple[Decl, Resource]]:
    """Each buildable declaration's resource (external categories build none)."""
    out = []
    for d in decls:
        resource = _resource(d)
        if resource is not None:
            out.append((d, resource))
    return out


def assemble(built: list[tuple[Decl, Resource]]) -> tuple[State, list[Problem]]:
    """One :class:`State`; the second declaration of a key is a problem naming both."""
    state = State()
    problems: list[Problem] = []
    for d, resource in built:
        try:
            state.add(resource)
        except DuplicateResource as dup:
            problems.append(problem(d.doc, [*d.path, d.identity_field],
                                    f"{dup.second.key.address} is declared twice: here and "
                                    f"at {dup.first.source}"))
    return state, problems


def _resource(d: Decl) -> Resource | None:
    obj, kind, provider = d.obj, d.kind, d.provider
    if kind == "category" and obj.get("external") is True:
        return None  # exists, managed elsewhere: satisfies references, nothing to change
    line, col = unpack(obj.mark)
    where = Source(d.doc.file, line, col)
    key = ResourceKey(provider, kind, d.name)
    # which field names a user (a user_id may well contain an "@"), tombstones included
    meta: dict[str, Any] = {"identity": d.identity_field} if kind == "user" else {}
    if obj.get("absent") is True:
        return Resource(key, {}, where, absent=True, meta=meta)
    skip = CONTROL if kind != "user" else {d.identity_field, "absent"}
    owned = {k: v for k, v in obj.items() if k not in skip}
    for k, v in owned.items():
        if v.__class__ is MDict or v.__class__ is MList:
            owned[k] = plain(v)
    if provider == "apptimize":
        meta = {"probe_user_id": d.section.get("probe_user_id"),
                "customAttributes": plain(d.section.get("customAttributes", {}))}
    if obj.get("sent") is True:
        meta = {**meta, "sent": True}  # the planner compares it, and never sends it
    earlier = renamed_from(obj, kind) if "renamed_from" in obj else ()
    return Resource(key, canonical(provider, kind, owned), where, renamed_from=earlier, meta=meta,
                    field_sources=FieldSources(d.doc.file, obj.marks, owned))


def plain(value: Any) -> Any:
    """A deep copy made of plain ``dict``/``list`` (no marks): desired attributes must
    compare equal, type included, to what a provider reads."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
