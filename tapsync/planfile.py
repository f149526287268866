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
    """Rebuild a plan saved by :func:`plan_to_dict`; refuses other format versions, and
    any document whose shape is not the one written (a hand edit, a truncated file) with
    where it goes wrong (``changes[3].before: …``), never a traceback."""
    if not isinstance(data, Mapping):
        raise UsageError("not a saved plan: expected a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise UsageError(f"plan format_version {version!r} is not supported: this tapsync "
                         f"reads version {FORMAT_VERSION!r}; make the plan again with it")
    try:
        return _load_plan(data)
    except _Invalid as exc:
        raise UsageError(f"not a valid saved plan: {exc}") from None


class _Invalid(Exception):
    """Where a saved plan departs from the written shape, and how."""


_MISSING: Any = object()
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               dict: "an object", list: "a list"}


def _get(obj: Mapping[str, Any], key: str, where: str, *types: type,
         default: Any = _MISSING, nullable: bool = False) -> Any:
    """``obj[key]`` when it is one of ``types`` (or ``None`` when ``nullable``); its
    ``default`` when absent, if it has one. ``where`` names ``obj`` in the plan."""
    at = f"{where}.{key}" if where else key
    if key not in obj:
        if default is _MISSING:
            raise _Invalid(f"{at}: missing")
        return default
    return _expect(obj[key], at, *types, nullable=nullable)


def _expect(value: Any, at: str, *types: type, nullable: bool = False) -> Any:
    """``value`` when it is one of ``types`` (any JSON value when none is given)."""
    if not types or (value is None and nullable):
        return value
    # JSON's true/false are ints to Python: only accepted where bool is asked for
    if isinstance(value, types) and (bool in types or not isinstance(value, bool)):
        return value
    wanted = " or ".join([_TYPE_NAMES.get(t, t.__name__) for t in types]
                         + (["null"] if nullable else []))
    raise _Invalid(f"{at}: expected {wanted}, got {json.dumps(value)[:60]}")


def _items(obj: Mapping[str, Any], key: str, where: str = "", *,
           optional: bool = False) -> list[tuple[str, Any]]:
    """``obj[key]`` (a list) as (``key[i]``, item) pairs."""
    at = f"{where}.{key}" if where else key
    items = _get(obj, key, where, list, default=[] if optional else _MISSING)
    return [(f"{at}[{i}]", item) for i, item in enumerate(items)]


def _key(address: Any, at: str) -> ResourceKey:
    try:
        return ResourceKey.parse(_expect(address, at, str))
    except UsageError as exc:
        raise _Invalid(f"{at}: {exc}") from None


def _load_plan(data: Mapping[str, Any]) -> Plan:
    """The plan in ``data``, read in the order it is written, so the first fault in the
    file is the one named."""
    changes = tuple(_load_change(_expect(c, at, dict), at)
                    for at, c in _items(data, "changes"))
    unmanaged = tuple(_key(a, at) for at, a in _items(data, "unmanaged"))
    warnings = tuple(_notice(w, at) for at, w in _items(data, "warnings"))
    errors = tuple(_notice(e, at) for at, e in _items(data, "errors", optional=True))
    providers = _get(_get(data, "cost", "", dict), "providers", "cost", dict)
    costs = {p: _cost(_expect(c, f"cost.providers.{p}", dict), f"cost.providers.{p}")
             for p, c in providers.items()}
    return Plan(changes=changes, unmanaged=unmanaged, warnings=warnings, errors=errors,
                costs=costs)


def _notice(value: Any, at: str) -> PlanWarning:
    obj = _expect(value, at, dict)
    return PlanWarning(_get(obj, "address", at, str), _get(obj, "message", at, str))


def _cost(c: Mapping[str, Any], at: str) -> ProviderCost:
    return ProviderCost(reads=_get(c, "reads", at, int), writes=_get(c, "writes", at, int),
                        hourly_budget=_get(c, "hourly_budget", at, int),
                        concurrent_limit=_get(c, "concurrent_limit", at, int, default=0),
                        estimated_seconds=_get(c, "estimated_seconds", at, int, float))


def _load_change(c: Mapping[str, Any], at: str) -> Change:
    address = _get(c, "address", at, str)
    names = _get(c, "names", at, list, default=None, nullable=True)
    if names is not None:
        parts = tuple(_expect(n, f"{at}.names[{i}]", str) for i, n in enumerate(names))
        key = ResourceKey(_get(c, "provider", at, str), _get(c, "kind", at, str), parts)
        if key.address != address:
            raise _Invalid(f"{at}: address {address!r} does not match its names {names!r}")
    else:
        key = _key(address, f"{at}.address")
    action = _get(c, "action", at, str)
    try:
        act = Action(action)
    except ValueError:
        raise _Invalid(f"{at}.action: {action!r} is not one of "
                       f"{', '.join(a.value for a in Action)}") from None
    from_address = _get(c, "from_address", at, str, default=None, nullable=True)
    return Change(
        action=act,
        key=key,
        before=_get(c, "before", at, dict, nullable=True),
        after=_get(c, "after", at, dict, nullable=True),
        fields=tuple(_field_change(f, where) for where, f in _items(c, "fields", at)),
        reason=_get(c, "reason", at, str),
        cost=_get(c, "cost", at, int),
        from_key=_key(from_address, f"{at}.from_address") if from_address else None,
        fingerprint=_get(c, "fingerprint", at, str, default=None, nullable=True),
        order=_get(c, "order", at, int, default=0),
        meta=_get(c, "meta", at, dict, default={}),
    )


def _field_change(value: Any, at: str) -> FieldChange:
    f = _expect(value, at, dict)
    path = tuple(_expect(p, f"{at}.path[{i}]", str, int)
                 for i, p in enumerate(_get(f, "path", at, list)))
    return FieldChange(path, _get(f, "before", at), _get(f, "after", at))


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


def place_problem(saved: Mapping[str, Any], environment: str | None, sandbox: bool,
                  base_urls: Mapping[str, str], written: Collection[str]) -> str | None:
    """Why a plan made for ``saved`` must not run in ``environment`` (``sandbox`` or not,
    with these ``base_urls``), or ``None``. Needs no credential, so ``apply`` asks it
    before reading any: a sandbox plan applied without --sandbox is told so, not asked
    for keys. Only the providers the plan writes to (``written``) are compared."""
    then = saved.get("providers") or {}
    if (saved.get("environment"), bool(saved.get("sandbox"))) == (environment, sandbox) \
            and all((then.get(p) or {}).get("base_url") == base_urls.get(p) for p in written):
        return None
    current = {"environment": environment, "sandbox": sandbox,
               "providers": {p: {"base_url": url} for p, url in base_urls.items()}}
    return (f"this plan was made for {_where(saved, written)}; you are applying to "
            f"{_where(current, written)}; nothing was written: apply it there, or make "
            "a new plan here")


def credentials_problem(saved: Mapping[str, Any],
                        credentials: Mapping[str, Mapping[str, str]], written: Collection[str],
                        credential_env: Mapping[str, Sequence[str]]) -> str | None:
    """Why the ``credentials`` set now are not the ones a saved plan was made with, or
    ``None``. Each provider the plan writes to is hashed once, with the plan's own salt
    (scrypt is slow on purpose: nothing else is hashed). ``credential_env`` names, per
    provider, the variables the credentials came from, for the message."""
    if not written:
        return None
    salt = salt_of(saved)
    if salt is None:
        return ("this plan does not record its credentials the way this tapsync checks "
                "them (an older tapsync made it?); nothing was written: make the plan again")
    then = saved.get("providers") or {}
    other = sorted(p for p in written if not _same_hash(
        (then.get(p) or {}).get("credentials"), credential_hash(credentials.get(p, {}), salt)))
    if not other:
        return None
    names = ", ".join(v for p in other for v in credential_env.get(p, ()))
    return (f"this plan was made with other {', '.join(other)} credentials than the "
            f"ones set now{f' ({names})' if names else ''}: another project's keys? "
            "nothing was written: make a new plan with these credentials, or apply it "
            "with the ones it was made with")


def _same_hash(saved: Any, now: str) -> bool:
    return isinstance(saved, str) and hmac.compare_digest(saved, now)


def _where(binding: Mapping[str, Any], providers: Collection[str]) -> str:
    env = binding.get("environment")
    name = f"environment {env}" if env else "the default environment"
    if binding.get("sandbox"):
        return f"{name} (the sandbox)"
    urls = binding.get("providers") or {}
    shown = [f"{p}: {(urls.get(p) or {}).get('base_url', 'not recorded')}"
             for p in sorted(providers)]
    return f"{name} ({', '.join(shown)})" if shown else name
