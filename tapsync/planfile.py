"""A :class:`Plan` as the versioned JSON document of CONTRACT.md §5, and back.

The same dictionary is printed by ``plan --format json`` and saved by ``plan --out``; a
saved plan is what ``apply PLANFILE`` runs, so :func:`plan_from_dict` must give back
exactly the plan that was reviewed. Beyond the public fields, each change carries what the
executor needs (``from_address``, ``fingerprint``, ``order``, ``meta``) and ``names``, all
of an address's name parts (``name`` holds only the leaf).

A saved plan also records where it was made (``made_for``: the environment, each
provider's base URL and a salted, deliberately slow hash of its credentials, never the
credentials), so that ``apply PLANFILE`` refuses to run a plan reviewed for staging
against production, or for one project with another project's keys. Pure: stdlib only
(the salt is random, so :func:`binding` is not deterministic unless given one).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from tapsync.changes import Action, Change, FieldChange, Plan, PlanWarning, ProviderCost
from tapsync.errors import UsageError
from tapsync.model import ResourceKey

FORMAT_VERSION = "1"
#: The credentials' hash in a saved plan is a check anyone holding the file can run
#: offline against guessed secrets, for as long as they like: a fast hash with a salt
#: shared by every installation lets a weak secret be found in milliseconds, however few
#: digits are kept. So the salt is random per plan (precomputed tables are useless) and
#: the hash is scrypt at about 40 ms and 16 MiB per guess, per plan.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
#: bytes of random salt per saved plan, and of scrypt output kept per provider
SALT_BYTES = 16
HASH_BYTES = 16
CREDENTIAL_HASH_PREFIX = "scrypt:"
_SALT = re.compile(rf"[0-9a-f]{{{2 * SALT_BYTES}}}")


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


# ------------------------------------------------------------------ where it was made

def credential_hash(credentials: Mapping[str, str], salt: str) -> str:
    """scrypt of one provider's credentials (roles and values, in any order) with the
    plan's ``salt`` (hex): the same credentials give the same hash only with the same
    salt, so a plan is checked by hashing the current credentials with its salt."""
    text = json.dumps(sorted(credentials.items()), ensure_ascii=False)
    digest = hashlib.scrypt(f"tapsync saved-plan credentials\0{text}".encode(),
                            salt=bytes.fromhex(salt), n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=HASH_BYTES)
    return CREDENTIAL_HASH_PREFIX + digest.hex()


def new_salt() -> str:
    return secrets.token_hex(SALT_BYTES)


def salt_of(saved: Mapping[str, Any]) -> str | None:
    """The salt a saved ``made_for`` was hashed with, or ``None`` if it records none
    this tapsync can use (an older format, or a hand edit)."""
    salt = saved.get("salt")
    return salt if isinstance(salt, str) and _SALT.fullmatch(salt) else None


def binding(environment: str | None, sandbox: bool,
            providers: Mapping[str, tuple[str, Mapping[str, str]]],
            salt: str | None = None) -> dict[str, Any]:
    """The ``made_for`` record of a saved plan: ``providers`` maps a provider to the base
    URL it was read from and the credentials it was read with (only hashed here, with
    ``salt``: a new random one for a new plan, the saved plan's own to check it)."""
    salt = salt if salt is not None else new_salt()
    return {"environment": environment, "sandbox": sandbox, "salt": salt,
            "providers": {name: {"base_url": url, "credentials": credential_hash(creds, salt)}
                          for name, (url, creds) in sorted(providers.items())}}


def binding_problem(saved: Mapping[str, Any], current: Mapping[str, Any],
                    written: Collection[str],
                    credential_env: Mapping[str, Sequence[str]]) -> str | None:
    """Why a plan made for ``saved`` must not run where ``current`` points, or ``None``.

    Compared: the environment, the sandbox flag, and each provider the plan writes to
    (``written``): its base URL, then its credentials' hash, which is only comparable when
    ``current`` was made with the saved plan's salt (``binding(..., salt=salt_of(saved))``).
    ``credential_env`` names, per provider, the variables the credentials came from, for
    the message.
    """
    then, now = saved.get("providers") or {}, current.get("providers") or {}
    if (saved.get("environment"), bool(saved.get("sandbox"))) != (
            current.get("environment"), bool(current.get("sandbox"))) or any(
            (then.get(p) or {}).get("base_url") != (now.get(p) or {}).get("base_url")
            for p in written):
        return (f"this plan was made for {_where(saved, written)}; you are applying to "
                f"{_where(current, written)}; nothing was written: apply it there, or make "
                "a new plan here")
    if written and (salt_of(saved) is None or saved.get("salt") != current.get("salt")):
        return ("this plan does not record its credentials the way this tapsync checks "
                "them (an older tapsync made it?); nothing was written: make the plan again")
    other = sorted(p for p in written
                   if not _same_hash(then.get(p), now.get(p)))
    if other:
        names = ", ".join(v for p in other for v in credential_env.get(p, ()))
        return (f"this plan was made with other {', '.join(other)} credentials than the "
                f"ones set now{f' ({names})' if names else ''}: another project's keys? "
                "nothing was written: make a new plan with these credentials, or apply it "
                "with the ones it was made with")
    return None


def _same_hash(then: Mapping[str, Any] | None, now: Mapping[str, Any] | None) -> bool:
    a, b = (then or {}).get("credentials"), (now or {}).get("credentials")
    return isinstance(a, str) and isinstance(b, str) and hmac.compare_digest(a, b)


def _where(binding: Mapping[str, Any], providers: Collection[str]) -> str:
    env = binding.get("environment")
    name = f"environment {env}" if env else "the default environment"
    if binding.get("sandbox"):
        return f"{name} (the sandbox)"
    urls = binding.get("providers") or {}
    shown = [f"{p}: {(urls.get(p) or {}).get('base_url', 'not recorded')}"
             for p in sorted(providers)]
    return f"{name} ({', '.join(shown)})" if shown else name
