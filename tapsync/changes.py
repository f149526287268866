"""Value objects of a plan: what will change, why, and what it costs.

A :class:`Plan` is frozen data. The same object is rendered for review, saved with
``--out``, and consumed by the executor, so what was reviewed is exactly what runs
(Terraform's ``plans.Change``; octoDNS's ordered changes). Sorting changes by
:meth:`Change.sort_key` gives the apply order: dependency order for creates and updates,
the reverse for deletes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tapsync.model import ResourceKey

#: kind → the kind of its parent, named by the first name part (a property's event type)
PARENT_KINDS: Mapping[str, str] = {"event_property": "event_type"}
#: kind → {field: kind it names}: an object that must exist before one referring to it
REFERENCES: Mapping[str, Mapping[str, str]] = {"event_type": {"category": "category"}}


class Action(str, enum.Enum):
    """What a change does; the values are the public names used in plan JSON."""

    CREATE = "create"
    UPDATE = "update"
    RENAME = "rename"
    DELETE = "delete"
    RESTORE = "restore"
    SEND = "send"          # irreversible: a push notification goes out
    MANUAL = "manual"      # a difference the API cannot make; shown, never attempted

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_SYMBOLS = {
    Action.CREATE: "+", Action.UPDATE: "~", Action.RENAME: "»", Action.DELETE: "-",
    Action.RESTORE: "↺", Action.SEND: "!", Action.MANUAL: "?",
}


@dataclass(frozen=True)
class KindSpec:
    """What a provider's API can do with one kind of object, and what each call costs.

    Declared as data by each provider (octoDNS's ``SUPPORTS``) and read by the planner, so
    "the API cannot create experiments" is a fact here, not an ``if`` somewhere else.
    ``order`` is the dependency rank (lower goes first; deletes run in reverse).
    ``costs`` maps an :class:`Action` to its API cost in the provider's units.
    ``identity_fields`` are attrs that are part of identity and never diffed.
    """

    provider: str
    kind: str
    order: int
    can_create: bool = True
    can_update: bool = True
    can_delete: bool = True
    can_rename: bool = False
    can_restore: bool = False
    sends: bool = False                     # creating one is an irreversible send
    immutable: bool = False                 # once created it cannot change (sent pushes)
    costs: Mapping[Action, int] = field(default_factory=dict)
    #: live objects of this kind nobody declares are history, not drift (sent pushes)
    unmanaged_is_history: bool = False
    #: mapping fields owned as a whole: a key dropped from the manifest is removed live
    #: (Taplytics ``custom_data``); other mappings are compared only on the keys written
    whole_fields: tuple[str, ...] = ()
    #: says in words what a SEND of these attrs does (audience and time), for reviewers
    describe: Callable[[Mapping[str, Any]], str] | None = None
    #: the last moment a SEND of these attrs is accepted, and why, e.g.
    #: ``(2026-12-05 15:00 UTC, "schedule.time 2026-12-05T15:00:00Z is in the past")``:
    #: a push scheduled in the past is refused, so planning one after it is an error
    send_deadline: Callable[[Mapping[str, Any]], tuple[datetime, str] | None] | None = None
    identity_fields: tuple[str, ...] = ()

    def cost(self, action: Action) -> int:
        return self.costs.get(action, 0)


@dataclass(frozen=True)
class FieldChange:
    """One field's before and after; ``path`` walks into nested values."""

    path: tuple[str | int, ...]
    before: Any
    after: Any

    @property
    def label(self) -> str:
        """The path as people read it: ``filters[0].values``, ``custom_data.tier``."""
        return "".join(f"[{s}]" if isinstance(s, int) else (f".{s}" if i else s)
                       for i, s in enumerate(self.path))


@dataclass(frozen=True)
class Change:
    """One planned action on one object.

    ``key`` is the object's identity *after* the change; for a rename ``from_key`` is the
    identity it has live now. ``before``/``after`` are the owned fields (``None`` when the
    object does not exist on that side). ``fingerprint`` is a hash of the live object the
    change was computed from, checked before a saved plan is applied. ``order`` copies the
    kind's dependency rank so a plan sorts without knowing the providers.
    """

    action: Action
    key: ResourceKey
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    fields: tuple[FieldChange, ...] = ()
    reason: str = ""
    cost: int = 0
    from_key: ResourceKey | None = None
    fingerprint: str | None = None
    order: int = 0
    #: live-only facts the executor needs (ids, status); never shown as a diff
    meta: Mapping[str, Any] = field(default_factory=dict)

    def depends_on(self) -> list[ResourceKey]:
        """Objects that must exist (be created, renamed or restored) before this can run.

        The one statement of dependency order besides ``KindSpec.order``: the planner uses
        it to keep what a ``--target`` needs, the executor to start each change as soon as
        its own parents are done (and to skip it when one of them failed).
        """
        out: list[ResourceKey] = []
        parent = PARENT_KINDS.get(self.key.kind)
        if parent is not None and len(self.key.name) > 1:
            out.append(ResourceKey(self.key.provider, parent, self.key.name[:1]))
        for field_name, kind in REFERENCES.get(self.key.kind, {}).items():
            value = (self.after or {}).get(field_name)
            if isinstance(value, str):
                out.append(ResourceKey(self.key.provider, kind, (value,)))
        return out

    def sort_key(self) -> tuple[int, int, ResourceKey]:
        if self.action is Action.DELETE:
            return (1, -self.order, self.key)
        return (0, self.order, self.key)


@dataclass(frozen=True)
class PlanWarning:
    """Something a reviewer should read; never blocks on its own."""

    address: str
    message: str


@dataclass(frozen=True)
class ProviderCost:
    """API cost of a plan for one provider: reads spent to plan, writes the apply will spend."""

    reads: int = 0
    writes: int = 0
    hourly_budget: int = 0
    concurrent_limit: int = 0
    estimated_seconds: float = 0.0


@dataclass(frozen=True)
class Plan:
    """An ordered, immutable set of changes plus what a reviewer needs around them."""

    changes: tuple[Change, ...] = ()
    unmanaged: tuple[ResourceKey, ...] = ()
    warnings: tuple[PlanWarning, ...] = ()
    #: differences that make the plan impossible as written (a sent push whose content
    #: changed); a plan with errors is shown but never applied
    errors: tuple[PlanWarning, ...] = ()
    costs: Mapping[str, ProviderCost] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.changes

    def summary(self) -> dict[str, int]:
        counts = {a.value: 0 for a in Action}
        for c in self.changes:
            counts[c.action.value] += 1
        return counts

    @property
    def total_cost(self) -> int:
        return sum(c.cost for c in self.changes)
