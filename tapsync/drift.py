"""Drift: how live state differs from the manifests, reported instead of applied.

A drift report is the planner's answer read the other way round. A plan *without prune*
says what apply would do; here each change becomes a finding about the present:

* ``changed`` — a declared object exists live with other values (an update, a pending
  rename, a restore that also edits, a tombstoned object that still exists, or a
  difference only a person can make);
* ``missing`` — declared, not live (a create or send is pending, or it was deleted live);
* ``unmanaged`` — live, declared by no manifest (built-ins and history never count);
* ``unexpected`` — live and undeclared, and the service says it was *ingested* without
  being planned (``meta["status"] == "unexpected"``). Only providers whose API exposes
  that status can report it; the others report such objects as ``unmanaged``.

Coverage says, per kind, how many live objects a manifest accounts for. Pure: the planner
does the comparing; ignore patterns (``.tapsyncignore``) are applied by :func:`build`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace

from tapsync.changes import Action, Change, FieldChange, KindSpec, Plan, PlanWarning
from tapsync.errors import UsageError
from tapsync.model import Resource, ResourceKey, Source, State
from tapsync.planner import plan as compute_plan

TYPES: tuple[str, ...] = ("changed", "missing", "unmanaged", "unexpected")

_MISSING = {Action.CREATE: "declared, not live",
            Action.SEND: "declared, not sent yet",
            Action.RESTORE: "declared, deleted live"}


@dataclass(frozen=True)
class DriftItem:
    """One difference between live state and the manifests.

    ``action`` is what ``apply`` would do about it (``None`` for unmanaged and unexpected
    objects, which apply leaves alone without prune); ``source`` is where the object is
    declared, ``where`` the line that causes the drift (its first differing field's).
    """

    type: str
    key: ResourceKey
    action: Action | None = None
    fields: tuple[FieldChange, ...] = ()
    reason: str = ""
    source: Source | None = None
    from_key: ResourceKey | None = None
    where: Source | None = None

    def line_of(self) -> Source | None:
        """The manifest line that causes this drift: its first changed field, else the
        object's declaration."""
        return self.where or self.source


@dataclass(frozen=True)
class Coverage:
    """Live objects of one kind, and how many of them a manifest accounts for."""

    managed: int
    live: int

    @property
    def percent(self) -> float:
        return 100.0 if not self.live else 100.0 * self.managed / self.live


@dataclass(frozen=True)
class Declared:
    """A declared object (tombstones included), for per-object reports such as JUnit."""

    key: ResourceKey
    source: Source | None = None
    absent: bool = False


@dataclass(frozen=True)
class DriftReport:
    """Everything ``tapsync drift`` prints, in every format."""

    items: tuple[DriftItem, ...] = ()
    declared: tuple[Declared, ...] = ()
    coverage: Mapping[str, Coverage] = field(default_factory=dict)
    ignored: tuple[ResourceKey, ...] = ()
    warnings: tuple[PlanWarning, ...] = ()
    errors: tuple[PlanWarning, ...] = ()
    reads: Mapping[str, int] = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        return bool(self.items)

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(TYPES, 0)
        for i in self.items:
            counts[i.type] += 1
        return counts

    def of_type(self, kind: str) -> list[DriftItem]:
        return [i for i in self.items if i.type == kind]

    def by_key(self) -> dict[ResourceKey, DriftItem]:
        return {i.key: i for i in self.items}


def build(desired: State, live: State, specs: Mapping[tuple[str, str], KindSpec], *,
          ignore: Callable[[ResourceKey], bool] = lambda _: False,
          reads: Mapping[str, int] | None = None, base: str | None = None) -> DriftReport:
    """Compare ``live`` with ``desired``; objects ``ignore`` accepts are set aside.

    ``live`` should hold whole collections (a provider read with ``prune``), otherwise
    coverage and unmanaged objects only see what the manifests named. Manifest paths under
    ``base`` (a directory) are shown relative to it, as CI annotations need.
    """
    the_plan = compute_plan(desired, live, specs, prune=False)
    rel = relative_source(base)
    items = [i for c in the_plan.changes if (i := _from_change(c, desired, rel)) is not None]
    items += _missing_by_error(the_plan, desired, live, {i.key for i in items}, rel)
    for key in the_plan.unmanaged:
        lr = live.get(key)
        unexpected = lr is not None and lr.meta.get("status") == "unexpected"
        items.append(DriftItem("unexpected" if unexpected else "unmanaged", key,
                               reason="ingested, but declared by no manifest and not "
                                      "planned in the service" if unexpected
                               else "live, declared by no manifest"))
    ignored = sorted({i.key for i in items if ignore(i.key)})
    kept = [i for i in items if i.key not in set(ignored)]
    kept.sort(key=lambda i: (TYPES.index(i.type), i.key))
    declared = tuple(Declared(r.key, rel(r.source), r.absent) for r in desired)
    return DriftReport(items=tuple(kept), declared=declared,
                       coverage=coverage(live, specs, the_plan.unmanaged),
                       ignored=tuple(ignored), warnings=the_plan.warnings,
                       errors=tuple(e for e in the_plan.errors
                                    if e.address not in {i.key.address for i in items}),
                       reads=dict(reads or {}))


_Rel = Callable[[Source | None], Source | None]


def relative_source(base: str | None) -> _Rel:
    """A function showing a :class:`Source` under ``base`` relative to it."""
    def rel(src: Source | None) -> Source | None:
        if src is None or not base or not os.path.isabs(src.file):
            return src
        try:
            if os.path.commonpath([src.file, base]) != os.path.normpath(base):
                return src
        except ValueError:  # different drives
            return src
        return replace(src, file=os.path.relpath(src.file, base).replace(os.sep, "/"))
    return rel


def _line(r: Resource | None, fields: tuple[FieldChange, ...]) -> Source | None:
    if r is None:
        return None
    for f in fields:
        head = f.path[0] if f.path else None
        if isinstance(head, str) and head in r.field_sources:
            return r.field_sources[head]
    return r.source


def _from_change(c: Change, desired: State, rel: _Rel) -> DriftItem | None:
    r: Resource | None = desired.get(c.key)
    src = rel(r.source) if r is not None else None
    where = rel(_line(r, c.fields))
    if c.action in _MISSING:
        extra = c.reason if c.reason and c.action is not Action.RESTORE else ""
        reason = _MISSING[c.action] + (f"; {extra}" if extra else "")
        return DriftItem("missing", c.key, c.action, c.fields, reason, src, c.from_key, src)
    if c.action is Action.DELETE:
        if r is None or not r.absent:
            return None  # only prune deletes undeclared objects; drift never prunes
        return DriftItem("changed", c.key, c.action, (), "declared absent (tombstone), "
                         "still live", src, None, src)
    reason = c.reason
    if c.action is Action.RENAME and c.from_key is not None:
        reason = f"live under its earlier name {c.from_key.address}"
    return DriftItem("changed", c.key, c.action, c.fields, reason, src, c.from_key, where)


def _missing_by_error(the_plan: Plan, desired: State, live: State,
                      seen: Collection[ResourceKey], rel: _Rel) -> list[DriftItem]:
    """Declared objects the API cannot create are plan *errors*; for drift they are
    simply missing."""
    out: list[DriftItem] = []
    for e in the_plan.errors:
        try:
            key = ResourceKey.parse(e.address)
        except UsageError:  # a plan-wide message, not about one object
            continue
        r = desired.get(key)
        lr = live.get(key)
        if r is None or r.absent or key in seen or (lr is not None and not lr.meta.get("deleted")):
            continue
        out.append(DriftItem("missing", key, None, (), e.message, rel(r.source)))
    return out


def coverage(live: State, specs: Mapping[tuple[str, str], KindSpec],
             unmanaged: Collection[ResourceKey]) -> dict[str, Coverage]:
    """Per ``provider.kind``: live objects that are not built-in, deleted or history, and
    how many of them are accounted for by a manifest."""
    totals: dict[str, int] = {}
    for r in live:
        spec = specs.get((r.key.provider, r.key.kind))
        if r.meta.get("deleted") or r.meta.get("builtin") or (
                spec is not None and spec.unmanaged_is_history):
            continue
        kind = f"{r.key.provider}.{r.key.kind}"
        totals[kind] = totals.get(kind, 0) + 1
    loose: dict[str, int] = {}
    for k in unmanaged:
        kind = f"{k.provider}.{k.kind}"
        loose[kind] = loose.get(kind, 0) + 1
    return {kind: Coverage(max(total - loose.get(kind, 0), 0), total)
            for kind, total in sorted(totals.items())}
