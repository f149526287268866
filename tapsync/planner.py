"""Desired state × live state × what the APIs can do → an ordered, costed :class:`Plan`.

Pure: no I/O, no clock, no environment, so the same inputs always give the same plan and
the plan can be reviewed, saved and applied as data. What each API can do is read from
:class:`KindSpec` data declared by the providers (octoDNS's ``SUPPORTS``), never from an
``if`` on a provider name.

Rules (CONTRACT.md §3):

* Only owned fields (those a manifest writes) are compared; values arrive canonical.
* ``renamed_from`` renames in place; renames and field edits fold into one change (one
  PUT). When a parent (an event type) is renamed, its live children (the event's
  properties) follow it: they are matched under the new parent's name, not deleted and
  re-created. A change on such a child carries ``meta["live_address"]``, the address the
  object was read under, so a saved plan can be re-checked before anything runs.
* A deleted live object declared again is restored; field differences are folded into the
  same RESTORE change (the executor restores, then updates ``fields``), so the two calls can
  never be reordered or run concurrently. Its cost is the restore plus, when fields
  differ, one update.
* Only tombstones and ``prune`` delete; built-ins are never deleted nor unmanaged.
* A send whose deadline (``KindSpec.send_deadline``: a push's schedule) is not after
  ``now`` is an error, not a change: the service refuses it. The planner reads no clock;
  the caller passes ``now``. A push already sent plans nothing, however old its time.
* A desired object marked sent (``meta["sent"]``, a manifest's ``sent: true``) is history:
  found live it compares as any other; not found live it is an error, never a send (an
  imported push applied to another project must not go out again to everyone).
* A difference the API cannot make is a ``manual`` change saying what to do by hand; a
  list of named objects (experiment variations) is described name by name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from tapsync.changes import (
    PARENT_KINDS,
    Action,
    Change,
    FieldChange,
    KindSpec,
    Plan,
    PlanWarning,
)
from tapsync.diff import diff
from tapsync.model import Resource, ResourceKey, State, key_order
from tapsync.policy import BudgetLike, CostModel, plan_costs

_Note = tuple[ResourceKey | None, PlanWarning]


def fingerprint(resource: Resource) -> str:
    """A stable hash of a live object's attrs and meta, to detect change since planning."""
    text = json.dumps({"attrs": resource.attrs, "meta": resource.meta}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def plan(desired: State, live: State, specs: Mapping[tuple[str, str], KindSpec], *,
         prune: bool | Collection[str] = False, targets: Sequence[ResourceKey] = (),
         reads: Mapping[str, int] | None = None,
         budgets: Mapping[str, BudgetLike] | None = None,
         cost_model: CostModel | None = None, now: datetime | None = None) -> Plan:
    """Plan the changes that make ``live`` match ``desired``.

    ``prune`` is ``True`` for every kind or a collection of kind names (``event_type`` or
    ``amplitude.event_type``). ``targets`` keeps only changes at or under those addresses.
    ``reads`` is the API cost already spent reading, per provider; ``budgets`` the
    providers' limits, for the cost estimate. ``now`` (timezone-aware) is when the plan
    is made, to refuse sends scheduled before it; ``None`` skips that check.
    """
    p = _Planner(desired, live, specs, prune, now)
    p.run()
    changes, unmanaged = p.changes, sorted(p.unmanaged)
    warnings, errors = p.warnings + _suggest_renames(p), p.errors
    if targets:
        changes, unmanaged, warnings, errors = _narrow(targets, p, changes, unmanaged,
                                                       warnings, errors)
    changes.sort(key=Change.sort_key)
    return Plan(changes=tuple(changes), unmanaged=tuple(unmanaged),
                warnings=tuple(w for _, w in warnings), errors=tuple(e for _, e in errors),
                costs=plan_costs(changes, reads or {}, budgets or {}, cost_model or CostModel()))


class _Planner:
    """One planning run: a mutable scratchpad that produces immutable changes."""

    def __init__(self, desired: State, live: State,
                 specs: Mapping[tuple[str, str], KindSpec],
                 prune: bool | Collection[str], now: datetime | None = None) -> None:
        self.desired, self.live, self.specs, self.prune = desired, live, specs, prune
        self.now = now
        #: key an object will have once parents are renamed → key it is read under now
        self.view: dict[ResourceKey, ResourceKey] = {r.key: r.key for r in live.values()}
        self.renames: dict[ResourceKey, ResourceKey] = {}    # new key → old (view) key
        self.claimed: set[ResourceKey] = set()               # live keys a manifest accounts for
        self.changes: list[Change] = []
        self.deleted_from: dict[ResourceKey, ResourceKey] = {}  # delete key → live key
        self.unmanaged: list[ResourceKey] = []
        self.warnings: list[_Note] = []
        self.errors: list[_Note] = []
        #: (provider, child kind, parent leaf) → child leaves; built after run(), see children
        self._children: dict[bool, dict[tuple[str, str, str], set[str]]] = {}

    def spec(self, key: ResourceKey) -> KindSpec | None:
        return self.specs.get((key.provider, key.kind))

    def rank(self, r: Resource) -> int:
        spec = self.spec(r.key)
        return spec.order if spec else 0

    def run(self) -> None:
        # desired iterates in key order and sorts are stable: this is (rank, key) order
        ordered = sorted(self.desired, key=self.rank)
        for r in ordered:
            if not r.absent and r.renamed_from:
                self.find_rename(r)
        for r in ordered:
            spec = self.spec(r.key)
            if spec is None:
                self.error(r.key, f"no provider declares {r.key.provider}.{r.key.kind}")
            elif r.absent:
                self.tombstone(r, spec)
            else:
                self.declared(r, spec)
        self.leftovers()

    def children(self, desired: bool) -> dict[tuple[str, str, str], set[str]]:
        """Declared (``desired``) or live, not deleted, children by parent: one pass.

        Only valid once :meth:`run` has re-keyed the children of renamed parents.
        """
        index = self._children.get(desired)
        if index is None:
            if desired:
                keys = [r.key for r in self.desired if not r.absent]
            else:
                keys = [k for k, orig in self.view.items()
                        if (lr := self.live.get(orig)) is not None and not lr.meta.get("deleted")]
            index = {}
            for k in keys:
                if len(k.name) > 1:
                    index.setdefault((k.provider, k.kind, k.name[0]), set()).add(k.leaf)
            self._children[desired] = index
        return index

    def error(self, key: ResourceKey, message: str) -> None:
        self.errors.append((key, PlanWarning(key.address, message)))

    def warn(self, key: ResourceKey | None, message: str) -> None:
        self.warnings.append((key, PlanWarning(key.address if key else "", message)))

    def live_at(self, key: ResourceKey) -> Resource | None:
        orig = self.view.get(key)
        return self.live.get(orig) if orig is not None else None

    def find_rename(self, r: Resource) -> None:
        spec = self.spec(r.key)
        if spec is None or r.key in self.view:
            return
        for old in r.renamed_from:
            old_key = r.key.with_leaf(old)
            found = self.live_at(old_key)
            if found is None or found.meta.get("deleted") or old_key in self.renames.values():
                continue
            other = self.desired.get(old_key)
            if other is not None and not other.absent:
                self.warn(r.key, f"renamed_from {json.dumps(old, ensure_ascii=False)} ignored: "
                                 f"{old_key.address} is still declared")
                continue
            if not spec.can_rename:
                self.warn(r.key, f"the {r.key.provider} API cannot rename a {r.key.kind}: "
                                 f"{r.key.address} will be created and {old_key.address} "
                                 f"left as it is")
                return
            self.renames[r.key] = old_key
            self.follow_parent(r.key, old_key)
            return

    def follow_parent(self, new: ResourceKey, old: ResourceKey) -> None:
        """Re-key the live children of a renamed parent under the parent's new name."""
        if len(old.name) != 1:
            return
        for child_kind, parent_kind in PARENT_KINDS.items():
            if parent_kind != old.kind:
                continue
            for eff in [k for k in self.view if k.provider == old.provider
                        and k.kind == child_kind and len(k.name) > 1 and k.name[0] == old.leaf]:
                moved = ResourceKey(eff.provider, eff.kind, (new.leaf, *eff.name[1:]))
                self.view[moved] = self.view.pop(eff)

    def make(self, action: Action, key: ResourceKey, spec: KindSpec, *,
             desired: Resource | None = None, live_key: ResourceKey | None = None,
             from_key: ResourceKey | None = None, reason: str = "", extra_cost: int = 0,
             fields: tuple[FieldChange, ...] | None = None,
             meta: Mapping[str, Any] | None = None) -> Change:
        after = dict(desired.attrs) if desired is not None else None
        lr = self.live.get(live_key) if live_key is not None else None
        before: dict[str, Any] | None = None
        meta = dict(meta or {})
        if desired is not None and "identity" in desired.meta:
            meta["identity"] = desired.meta["identity"]  # how the manifest names a user
        if lr is not None and live_key is not None:
            before = dict(lr.attrs) if after is None else {f: lr.attrs.get(f) for f in after}
            meta.update(lr.meta)
            if live_key != (from_key or key):
                meta["live_address"] = live_key.address
        if fields is None:
            fields = _diff(desired, lr, spec) if desired is not None else ()
        change = Change(action, key, before, after, fields, reason,
                        spec.cost(action) + extra_cost, from_key,
                        fingerprint(lr) if lr is not None else None, spec.order, meta)
        self.changes.append(change)
        return change

    def declared(self, r: Resource, spec: KindSpec) -> None:
        key = r.key
        if key in self.renames:
            old = self.renames[key]
            self.claimed.add(self.view[old])
            self.make(Action.RENAME, key, spec, desired=r, live_key=self.view[old], from_key=old)
            return
        lr = self.live_at(key)
        if lr is not None and not (lr.meta.get("deleted") and not spec.can_restore):
            self.claimed.add(lr.key)
            self.existing(r, lr, spec)
        elif r.meta.get("sent"):
            self.error(key, "declared as sent (sent: true) but not found live in this "
                            "project; it will not be sent — remove `sent: true` to send it")
        elif not spec.can_create:
            self.error(key, f"{key.address} does not exist and cannot be created through "
                            f"the {key.provider} API: create it in the dashboard")
        elif spec.sends:
            self.send(r, spec)
        else:
            reason = "re-creates a deleted object (the API cannot restore it)" if lr else ""
            self.make(Action.CREATE, key, spec, desired=r, reason=reason)

    def send(self, r: Resource, spec: KindSpec) -> None:
        """A declared push that is not live: sent, unless its time has passed. The
        deadline travels in ``meta["send_by"]`` so applying a saved plan can check it
        again (``policy.check_send_times``)."""
        deadline = spec.send_deadline(r.attrs) if spec.send_deadline is not None else None
        if deadline is not None and self.now is not None and deadline[0] <= self.now:
            now = self.now.astimezone(timezone.utc)
            self.error(r.key, f"cannot be sent: its {deadline[1]} (now is "
                              f"{now:%Y-%m-%dT%H:%M:%SZ}) and the service refuses a push "
                              f"scheduled in the past; give it a future time (or "
                              f"schedule: now) to send it")
            return
        what = spec.describe(r.attrs) if spec.describe is not None else \
            "sends it to users now or at its schedule"
        meta = {"send_by": deadline[0].isoformat()} if deadline is not None else None
        self.make(Action.SEND, r.key, spec, desired=r, meta=meta,
                  reason=f"{what}; this cannot be undone")

    def existing(self, r: Resource, lr: Resource, spec: KindSpec) -> None:
        fields = _diff(r, lr, spec)
        if lr.meta.get("deleted"):
            self.make(Action.RESTORE, r.key, spec, desired=r, live_key=lr.key, fields=fields,
                      reason="restores a deleted object" + (", then updates it" if fields else ""),
                      extra_cost=spec.cost(Action.UPDATE) if fields else 0)
        elif not fields:
            return
        elif spec.immutable:
            self.error(r.key, f"a sent {r.key.kind.replace('_', ' ')} is immutable, and its "
                              f"{', '.join(f.label for f in fields)} changed: give it a "
                              f"new name to send a new one")
        elif not spec.can_update:
            fields, named = _by_name(fields, r.attrs, lr.attrs)
            todo = _by_hand(fields, named)
            self.make(Action.MANUAL, r.key, spec, desired=r, live_key=lr.key, fields=fields,
                      reason=f"the {r.key.provider} API cannot edit "
                             f"{r.key.kind.replace('_', ' ')}s: in the dashboard, {todo}")
        else:
            self.make(Action.UPDATE, r.key, spec, desired=r, live_key=lr.key, fields=fields)

    def tombstone(self, r: Resource, spec: KindSpec) -> None:
        if r.key in self.renames.values():
            return      # renamed away by another declaration
        lr = self.live_at(r.key)
        if lr is None:
            if spec.can_delete and self.under_restored_parent(r.key):
                # a deleted parent's children cannot be read; the restore brings them back
                self.make(Action.DELETE, r.key, spec, meta={"unseen": True},
                          reason="its parent is deleted, so it could not be read: deleted "
                                 "if the parent's restore brings it back")
            return
        self.claimed.add(lr.key)
        if lr.meta.get("deleted"):
            return
        if lr.meta.get("builtin"):
            self.error(r.key, f"{r.key.address} is built into {r.key.provider} and cannot be "
                              f"deleted: remove its tombstone")
        elif not spec.can_delete:
            self.error(r.key, f"{r.key.address} cannot be deleted through the "
                              f"{r.key.provider} API: remove its tombstone")
        else:
            self.deleted_from[r.key] = lr.key
            self.make(Action.DELETE, r.key, spec, live_key=lr.key)

    def under_restored_parent(self, key: ResourceKey) -> bool:
        """Whether ``key``'s parent is deleted live and declared again (so restored)."""
        kind = PARENT_KINDS.get(key.kind)
        if kind is None or len(key.name) < 2:
            return False
        parent_key = ResourceKey(key.provider, kind, key.name[:1])
        parent, live = self.desired.get(parent_key), self.live_at(parent_key)
        spec = self.spec(parent_key)
        return (parent is not None and not parent.absent and live is not None
                and bool(live.meta.get("deleted")) and spec is not None and spec.can_restore)

    def pruned(self, key: ResourceKey) -> bool:
        if isinstance(self.prune, bool):
            return self.prune
        return key.kind in self.prune or f"{key.provider}.{key.kind}" in self.prune

    def leftovers(self) -> None:
        """Live objects no manifest accounts for: pruned, history, or unmanaged."""
        refused: set[str] = set()
        unclaimed = [(eff, orig) for eff, orig in self.view.items() if orig not in self.claimed]
        for eff, orig in sorted(unclaimed, key=lambda item: key_order(item[0])):
            lr = self.live.get(orig)
            if orig in self.claimed or lr is None or lr.meta.get("deleted") \
                    or lr.meta.get("builtin"):
                continue
            spec = self.spec(eff)
            if spec is not None and spec.unmanaged_is_history:
                continue
            if self.pruned(eff) and spec is not None and spec.can_delete:
                self.deleted_from[eff] = orig
                self.make(Action.DELETE, eff, spec, live_key=orig,
                          reason="no manifest declares it (prune)")
                continue
            if self.pruned(eff) and self.prune is not True and eff.kind not in refused:
                refused.add(eff.kind)
                self.warn(None, f"prune names {eff.provider}.{eff.kind}, which the "
                                f"{eff.provider} API cannot delete: left as it is")
            self.unmanaged.append(eff)


def _diff(desired: Resource, live: Resource | None, spec: KindSpec) -> tuple[FieldChange, ...]:
    scope = [f for f in desired.attrs if f not in spec.identity_fields]
    return diff(desired.attrs, live.attrs if live is not None else {}, scope,
                spec.whole_fields)


def _suggest_renames(p: _Planner) -> list[_Note]:
    """Warn when a delete and a create of the same kind look like one rename."""
    out: list[_Note] = []
    deletes = _Deletes(p)
    used: set[ResourceKey] = set()
    for c in p.changes:
        if c.action is not Action.CREATE or c.after is None:
            continue
        kids = _children(p, c.key, desired=True)
        if not c.after and not kids:
            continue    # nothing but a name to compare: any pair would "match"
        for d, lr in deletes.candidates(c.key, c.after):
            if d.key in used or any(lr.attrs.get(f) != v for f, v in c.after.items()):
                continue
            if kids != _children(p, d.key, desired=False):
                continue
            used.add(d.key)
            out.append((c.key, PlanWarning(
                c.key.address,
                f"looks like a rename of {d.key.address}, which this plan deletes: to rename "
                f"it in place, add to its manifest entry: "
                f"renamed_from: [{json.dumps(d.key.leaf, ensure_ascii=False)}]")))
            break
    return out


_Group = tuple[str, str, tuple[str, ...]]
_Deleted = tuple[Change, Resource]


class _Deletes:
    """The plan's deletes (with the live object each deletes) that a create may match.

    Grouped by provider, kind and parent name, then bucketed by the hashes of the fields a
    create compares, always in plan order: equal values hash alike, so a bucket holds
    every delete that can match, and the first match is the one a scan of all deletes
    would find. Comparing every create with every delete was quadratic (an hour for
    5,000 event types renamed without ``renamed_from`` under prune).
    """

    def __init__(self, p: _Planner) -> None:
        self.groups: dict[_Group, list[_Deleted]] = {}
        for c in p.changes:
            lr = p.live.get(p.deleted_from[c.key]) if c.key in p.deleted_from else None
            if c.action is Action.DELETE and lr is not None:
                self.groups.setdefault(_group(c.key), []).append((c, lr))
        self.buckets: dict[tuple[_Group, tuple[str, ...]],
                           dict[tuple[int, ...], list[_Deleted]] | None] = {}

    def candidates(self, key: ResourceKey, after: Mapping[str, Any]) -> list[_Deleted]:
        group, fields = _group(key), tuple(after)
        members = self.groups.get(group, [])
        if (group, fields) not in self.buckets:
            self.buckets[group, fields] = _bucket(members, fields)
        buckets = self.buckets[group, fields]
        try:
            wanted = tuple(hash(_frozen(after[f])) for f in fields)
        except TypeError:
            buckets = None
        return members if buckets is None else buckets.get(wanted, [])


def _group(key: ResourceKey) -> _Group:
    return (key.provider, key.kind, key.name[:-1])


def _bucket(members: list[_Deleted], fields: tuple[str, ...]
            ) -> dict[tuple[int, ...], list[_Deleted]] | None:
    """Members by the hashes of ``fields``; ``None`` if a value cannot be hashed."""
    out: dict[tuple[int, ...], list[_Deleted]] = {}
    try:
        for member in members:
            attrs = member[1].attrs
            out.setdefault(tuple(hash(_frozen(attrs.get(f))) for f in fields), []).append(member)
    except TypeError:
        return None
    return out


def _frozen(value: Any) -> Any:
    """A hashable stand-in equal (and hashing alike) whenever the values are ``==``."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return frozenset((k, _frozen(v)) for k, v in value.items())
    return value


def _children(p: _Planner, parent: ResourceKey, *, desired: bool) -> set[str]:
    kinds = {c for c, k in PARENT_KINDS.items() if k == parent.kind}
    if not kinds or len(parent.name) != 1:
        return set()
    index = p.children(desired)
    out: set[str] = set()
    for kind in kinds:
        out |= index.get((parent.provider, kind, parent.leaf), set())
    return out


def _narrow(targets: Sequence[ResourceKey], p: _Planner, changes: list[Change],
            unmanaged: list[ResourceKey], warnings: list[_Note],
            errors: list[_Note]) -> tuple[list[Change], list[ResourceKey], list[_Note],
                                          list[_Note]]:
    """Keep what is at or under a ``--target`` plus the creates, renames and restores those
    changes depend on (Terraform's rule), and say the plan is partial."""
    def hit(key: ResourceKey | None) -> bool:
        return key is not None and any(key.matches(t) for t in targets)

    known = p.desired.keys() | set(p.view) | set(p.renames.values())
    notes: list[_Note] = [(None, PlanWarning(
        "", "partial plan (--target): only changes at or under "
            f"{', '.join(t.address for t in targets)} are shown; other differences are "
            "left as they are"))]
    for t in targets:
        if not any(k.matches(t) for k in known):
            notes.append((None, PlanWarning(t.address, "--target matches no declared or "
                                                       "live object")))
    keep = {i for i, c in enumerate(changes) if hit(c.key) or hit(c.from_key)}
    while True:
        needed = {d for i in keep for d in changes[i].depends_on()}
        more = {i for i, c in enumerate(changes) if i not in keep and c.key in needed
                and c.action in (Action.CREATE, Action.RENAME, Action.RESTORE)}
        if not more:
            break
        keep |= more
    return ([changes[i] for i in sorted(keep)],
            [u for u in unmanaged if hit(u)],
            [w for w in warnings if w[0] is None or hit(w[0])] + notes,
            [e for e in errors if e[0] is None or hit(e[0])])


def _by_name(fields: Sequence[FieldChange], desired: Mapping[str, Any],
             live: Mapping[str, Any]) -> tuple[tuple[FieldChange, ...], set[str]]:
    """``fields`` with those under a list of named objects (experiment variations) said by
    name, and the names of such lists: ``variations.Green.distributionPercent: 50 → 70``,
    ``variations.Red: null → {…}``.

    Both sides are sorted by name (:func:`tapsync.normalize.as_named_list`), so positions
    pair up only while the names are the same; a variation added or removed would shift
    every later one and read as renames. Only the keys a desired item writes are compared.
    """
    out: list[FieldChange] = []
    named: set[str] = set()
    for f in fields:
        top = str(f.path[0])
        if not (_named_list(desired.get(top)) or _named_list(live.get(top))):
            out.append(f)
        elif top not in named:
            named.add(top)
            out.extend(_named_changes(top, live.get(top), desired.get(top)))
    return tuple(out), named


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(v, Mapping) and isinstance(v.get("name"), str) for v in value)


def _named_changes(field: str, live: Any, desired: Any) -> list[FieldChange]:
    have = {v["name"]: v for v in live if isinstance(v, Mapping)} \
        if isinstance(live, list) else {}
    want = {v["name"]: v for v in desired if isinstance(v, Mapping)} \
        if isinstance(desired, list) else {}
    out: list[FieldChange] = []
    for name, item in want.items():
        if name not in have:
            out.append(FieldChange((field, name), None, item))
            continue
        out += [FieldChange((field, name, k), have[name].get(k), v)
                for k, v in item.items() if k != "name" and have[name].get(k) != v]
    out += [FieldChange((field, name), item, None) for name, item in have.items()
            if name not in want]
    # nothing differs by name (duplicate names): the whole list, as it differs
    return out or [FieldChange((field,), live, desired)]


def _by_hand(fields: Sequence[FieldChange], named: Collection[str]) -> str:
    """What a person must do in a dashboard: ``set status to "paused" (now "active")``;
    the changes to a list of named objects make one step naming each object:
    ``change the variations: set "Green" distributionPercent to 70 (now 50), add "Red",
    remove "Blue"``."""
    steps: list[tuple[str, list[str]]] = []
    groups: dict[str, list[str]] = {}
    for f in fields:
        top = str(f.path[0])
        if top in named and len(f.path) > 1:
            if top not in groups:
                groups[top] = []
                steps.append((f"change the {top.replace('_', ' ')}: ", groups[top]))
            groups[top].append(_named_step(f))
        else:
            steps.append(("", [f"set {f.label} to {_show(f.after)} (now {_show(f.before)})"]))
    return "; ".join(head + ", ".join(parts) for head, parts in steps)


def _named_step(f: FieldChange) -> str:
    name = _show(f.path[1])
    if len(f.path) > 2:
        inner = ".".join(str(p) for p in f.path[2:])
        return f"set {name} {inner} to {_show(f.after)} (now {_show(f.before)})"
    if f.before is None:
        extra = [f"{k} {_show(v)}" for k, v in (f.after or {}).items() if k != "name"]
        return f"add {name}" + (f" with {', '.join(extra)}" if extra else "")
    return f"remove {name}"


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
