"""A :class:`Plan` as the versioned JSON document of CONTRACT.md §5, and back.

The same dictionary is printed by ``plan --format json`` and saved by ``plan --out``; a
saved plan is what ``apply PLANFILE`` runs, so :func:`plan_from_dict` must give back
exactly the plan that was reviewed. Beyond the public fields, each change carries what the
executor needs (``from_address``, ``fingerprint``, ``order``, ``meta``) and ``names``, all
of an address's name parts (``name`` holds only the leaf). Pure: stdlib ``json`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tapsync.changes import Action, Change, FieldChange, Plan, PlanWarning, ProviderCost
from tapsync.errors import UsageError
from tapsync.model import ResourceKey

FORMAT_VERSION = "1"


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The JSON-ready envelope of ``plan`` (keys in the documented order)."""
    reads = sum(c.reads for c in plan.costs.values())
    return {
        "format_version": FORMAT_VERSION,
        "changes": [_change(c) for c in plan.changes],
        "unmanaged": [k.address for k in plan.unmanaged],
        "warnings": [{"address": w.address, "message": w.message} for w in plan.warnings],
        "errors": [{"address": e.address, "message": e.message} for e in plan.errors],
        "cost": {
            "total": reads + plan.total_cost,
            "providers": {
                p: {"reads": c.reads, "writes": c.writes, "hourly_budget": c.hourly_budget,
                    "concurrent_limit": c.concurrent_limit,
                    "estimated_seconds": c.estimated_seconds}
                for p, c in plan.costs.items()
            },
        },
        "summary": plan.summary(),
    }


def _change(c: Change) -> dict[str, Any]:
    return {
        "address": c.key.address,
        "provider": c.key.provider,
        "kind": c.key.kind,
        "name": c.key.leaf,
        "names": list(c.key.name),
        "action": c.action.value,
        "before": _plain(c.before),
        "after": _plain(c.after),
        "fields": [{"path": list(f.path), "before": f.before, "after": f.after}
                   for f in c.fields],
        "cost": c.cost,
        "reason": c.reason,
        "from_address": c.from_key.address if c.from_key else None,
        "fingerprint": c.fingerprint,
        "order": c.order,
        "meta": dict(c.meta),
    }


def _plain(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else dict(value)


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    """Rebuild a plan saved by :func:`plan_to_dict`; refuses other format versions."""
    if not isinstance(data, Mapping):
        raise UsageError("not a tapsync plan: expected a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise UsageError(f"plan format_version {version!r} is not supported: this tapsync "
                         f"reads version {FORMAT_VERSION!r}; make the plan again with it")
    try:
        return Plan(
            changes=tuple(_load_change(c) for c in data["changes"]),
            unmanaged=tuple(ResourceKey.parse(a) for a in data["unmanaged"]),
            warnings=tuple(PlanWarning(w["address"], w["message"]) for w in data["warnings"]),
            errors=tuple(PlanWarning(e["address"], e["message"])
                         for e in data.get("errors", [])),
            costs={p: ProviderCost(reads=c["reads"], writes=c["writes"],
                                   hourly_budget=c["hourly_budget"],
                                   concurrent_limit=c.get("concurrent_limit", 0),
                                   estimated_seconds=c["estimated_seconds"])
                   for p, c in data["cost"]["providers"].items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"not a valid tapsync plan: {type(exc).__name__}: {exc}") from exc


def _load_change(c: Mapping[str, Any]) -> Change:
    names = c.get("names")
    key = (ResourceKey(c["provider"], c["kind"], tuple(names)) if names is not None
           else ResourceKey.parse(c["address"]))
    if key.address != c["address"]:
        raise ValueError(f"address {c['address']!r} does not match its names {names!r}")
    return Change(
        action=Action(c["action"]),
        key=key,
        before=c["before"],
        after=c["after"],
        fields=tuple(FieldChange(tuple(f["path"]), f["before"], f["after"])
                     for f in c["fields"]),
        reason=c["reason"],
        cost=c["cost"],
        from_key=ResourceKey.parse(c["from_address"]) if c.get("from_address") else None,
        fingerprint=c.get("fingerprint"),
        order=c.get("order", 0),
        meta=c.get("meta", {}),
    )
