"""Orchestration: config + credentials → providers; desired + live → plan → apply.

The CLI owns the terminal and the environment; this module owns the order of operations
so that ``plan``, ``apply``, saved plans and the post-apply convergence check all share one
path. Credentials arrive as plain values (the CLI read them); the transport is injected so
``--sandbox`` and the tests run the real clients against the emulator in-process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from tapsync.budget import Budget, Window
from tapsync.changes import Action, Change, KindSpec, Plan
from tapsync.config import Config, ProviderConfig
from tapsync.errors import ConfigError, StalePlanError
from tapsync.executor import ApplyResult, Executor, Journal, Progress
from tapsync.http import ApiClient, Transport, make_client
from tapsync.manifest import check_fields
from tapsync.model import ResourceKey, State
from tapsync.normalize import canonical
from tapsync.planner import fingerprint
from tapsync.planner import plan as compute_plan
from tapsync.providers.amplitude import AmplitudeProvider
from tapsync.providers.base import Provider
from tapsync.providers.taplytics import TaplyticsProvider
from tapsync.spendlog import SpendLog, path_for

PROVIDER_CLASSES: Mapping[str, type[Provider]] = {
    "amplitude": AmplitudeProvider,
    "taplytics": TaplyticsProvider,
}

#: credentials the sandbox accepts (CONTRACT.md §6); used only with --sandbox
SANDBOX_CREDENTIALS: Mapping[str, Mapping[str, str]] = {
    "amplitude": {"api_key": "sandbox-api-key", "secret_key": "sandbox-secret-key"},
    "taplytics": {"api_token": "sandbox-token"},
    "apptimize": {"api_token": "sandbox-token"},
    "pypestream": {"api_key": "sandbox-token"},
}
SANDBOX_BASE_URL = "http://sandbox.invalid"


def apply_overrides(desired: State, config: Config) -> State:
    """``environments.<env>.overrides``: per-field values, keyed by address, for one env.

    Overrides obey the manifest schema of their kind, as if written in the manifest; an
    address that is not declared, or is a tombstone, is an error rather than ignored.
    """
    if not config.overrides:
        return desired
    by_key = {r.key: r for r in desired}
    where = f"{config.path}: environments.{config.environment}.overrides"
    problems: list[str] = []
    for address, fields in config.overrides.items():
        key = ResourceKey.parse(address)
        r = by_key.get(key)
        if r is None or r.absent:
            problems.append(f"{where}: {address} is "
                            + ("a tombstone" if r else "not declared in the manifests"))
            continue
        if not isinstance(fields, Mapping):
            problems.append(f"{where}: {address}: expected a mapping of field: value")
            continue
        problems += [f"{where}: {address}: {p}" for p in check_fields(key.provider, key.kind,
                                                                      fields)]
        attrs = canonical(key.provider, key.kind, {**r.attrs, **fields})
        by_key[key] = replace(r, attrs=attrs)
    if problems:
        raise ConfigError("\n".join(problems))
    return State(by_key.values())


def all_specs() -> dict[tuple[str, str], KindSpec]:
    return {(name, kind): spec for name, cls in PROVIDER_CLASSES.items()
            for kind, spec in cls.SPECS.items()}


def used_providers(desired: State, plan: Plan | None = None) -> set[str]:
    """Only providers a manifest (or a saved plan) uses are contacted."""
    names = desired.providers()
    if plan is not None:
        names |= {c.key.provider for c in plan.changes}
    unknown = names - set(PROVIDER_CLASSES)
    if unknown:
        raise ConfigError(f"provider(s) {', '.join(sorted(unknown))} are declared in the "
                          "manifests but not supported yet by this version of tapsync")
    return names


def credentials_from(env: Mapping[str, str], config: Config, names: Sequence[str]
                     ) -> dict[str, dict[str, str]]:
    """Look up each provider's credential variables; name every missing one at once."""
    out: dict[str, dict[str, str]] = {}
    missing: list[str] = []
    for name in names:
        roles = config.providers[name].credential_env
        out[name] = {}
        for role, var in roles.items():
            value = env.get(var)
            if value:
                out[name][role] = value
            else:
                missing.append(var)
    if missing:
        raise ConfigError("missing credentials: set " + ", ".join(missing)
                          + " in the environment (or use --sandbox)")
    return out


def _budget(cfg: ProviderConfig) -> Budget:
    windows = [Window(cfg.budget.hourly_cost, 3600.0)] if cfg.budget.hourly_cost else []
    return Budget(concurrent=cfg.budget.concurrent_cost, windows=windows,
                  reserve=cfg.budget.reserve)


@dataclass
class Session:
    """Connected providers for one command, with their budgets and API statistics."""

    config: Config
    providers: dict[str, Provider] = field(default_factory=dict)
    clients: dict[str, ApiClient] = field(default_factory=dict)
    budgets: dict[str, Budget] = field(default_factory=dict)

    def reads(self) -> dict[str, int]:
        return {n: c.stats.reads for n, c in self.clients.items()}

    def specs(self) -> dict[tuple[str, str], KindSpec]:
        return all_specs()


def _spend_log(config: Config, name: str, base_url: str, creds: Mapping[str, str],
               budget: Budget, now: float) -> SpendLog | None:
    """Preload what earlier runs spent with this key in the budget's windows, if any."""
    if not budget.windows:
        return None
    spend_log = SpendLog(path_for(config.state_dir, name, base_url, creds), budget.horizon)
    budget.preload(spend_log.load(now), now)
    return spend_log


@asynccontextmanager
async def connect(config: Config, names: Sequence[str],
                  credentials: Mapping[str, Mapping[str, str]], *,
                  transport: Transport | None = None,
                  wall: Callable[[], float] = time.time) -> AsyncIterator[Session]:
    """Open one client per provider; close them all however the block ends.

    Each budget starts with what earlier runs spent with the same key in the last window
    (``.tapsync/spend/``, see :mod:`tapsync.spendlog`), and what this run spent is added
    there at the end, however the block ends. ``wall`` is the wall clock those records
    are stamped with.
    """
    session = Session(config)
    logs: dict[str, SpendLog] = {}
    try:
        for name in sorted(names):
            cls = PROVIDER_CLASSES[name]
            pcfg = config.providers[name]
            creds = credentials.get(name, {})
            base_url = SANDBOX_BASE_URL if transport is not None else pcfg.base_url
            client = make_client(base_url, transport=transport, timeout=pcfg.timeout,
                                 allow_insecure=transport is not None,
                                 **cls.client_options(creds))
            budget = _budget(pcfg)
            spend_log = _spend_log(config, name, base_url, creds, budget, wall())
            api = ApiClient(name, client, limiter=budget, cost=cls.method_cost,
                            secrets=[v for v in creds.values() if v])
            session.providers[name] = cls(api)
            session.clients[name] = api
            session.budgets[name] = budget
            if spend_log is not None:
                logs[name] = spend_log
        yield session
    finally:
        try:
            for name, spend_log in logs.items():
                now = wall()
                spend_log.save(session.budgets[name].ledger(now), now)
        finally:
            for api in session.clients.values():
                await api.aclose()


def _prune(config: Config) -> bool | frozenset[str]:
    prune = config.safety.prune
    return prune if isinstance(prune, bool) else frozenset(prune)


async def read_live(session: Session, desired: State) -> State:
    """Every provider reads concurrently; the union is the live state."""
    states = await asyncio.gather(*(p.read(desired, prune=_prune(session.config))
                                    for p in session.providers.values()))
    live = State()
    for s in states:
        for r in s:
            live.add(r)
    return live


def make_plan(session: Session, desired: State, live: State,
              targets: Sequence[ResourceKey] = (), now: datetime | None = None) -> Plan:
    """The plan, as of ``now`` (default: the real UTC clock; a push scheduled before it
    cannot be sent)."""
    budgets = {n: session.config.providers[n].budget for n in session.providers}
    return compute_plan(desired, live, session.specs(), prune=_prune(session.config),
                        targets=targets, reads=session.reads(), budgets=budgets,
                        now=now if now is not None else datetime.now(timezone.utc))


async def check_stale(session: Session, desired: State, plan: Plan) -> None:
    """Re-read only the objects a saved plan touches; refuse if any changed since.

    The objects are read the way the plan read them (the same list calls, narrowed by
    :func:`read_touched`), so a fingerprint is compared with one made from the same
    shape: a deleted event about to be restored, or a name stored with trailing blanks,
    is found by a list and not by a GET of its name. It also costs fewer calls than one
    GET per change once a plan touches more than a handful of objects.
    """
    changes = [c for c in plan.changes if c.action is not Action.MANUAL]
    if not changes:
        return
    live = await read_touched(session, desired, changes)
    changed = sorted({read_under(c).address for c in changes
                      if _fingerprint_now(live, read_under(c)) != c.fingerprint})
    if changed:
        raise StalePlanError("stale plan: these objects changed since it was made, nothing was "
                             "written: " + ", ".join(changed) + "; run tapsync plan again")


def read_under(change: Change) -> ResourceKey:
    """The address the planner read ``change``'s live object under, which its fingerprint
    was made from: ``meta["live_address"]`` when that differs from both the change's
    keys (a child of a renamed parent is planned under the parent's new name but still
    lives under the old one until the rename runs), else the rename's old key, else the
    key itself."""
    address = change.meta.get("live_address")
    if isinstance(address, str):
        return ResourceKey.parse(address)
    return change.from_key or change.key


def _fingerprint_now(live: State, key: ResourceKey) -> str | None:
    found = live.get(key)
    return fingerprint(found) if found is not None else None


async def apply_plan(session: Session, plan: Plan, *, journal: Journal,
                     progress: Progress | None = None,
                     stop: asyncio.Event | None = None) -> ApplyResult:
    return await Executor(session.providers, journal=journal, progress=progress,
                          stop=stop).apply(plan)


async def converge(session: Session, desired: State, applied: Plan) -> Plan:
    """Read again what the apply touched and re-plan it: the result must be empty.

    Narrowed on both sides: only the touched objects (and what their re-plan depends on)
    are read, see :func:`read_touched`, and the plan is targeted at them, so a change
    anywhere else (someone editing the UI meanwhile) is not blamed on this apply.
    """
    done = [c for c in applied.changes if c.action is not Action.MANUAL]
    if not done:
        return Plan()
    live = await read_touched(session, desired, done)
    return make_plan(session, desired, live, targets=[c.key for c in done])


async def read_touched(session: Session, desired: State, changes: Sequence[Change]) -> State:
    """The live state a re-plan of ``changes`` needs, each provider reading concurrently
    only around the keys touched: a rename's old key too (it must be gone), and the
    address a change was read under (:func:`read_under`: a child of a renamed parent
    still lives under the old parent, whose property list the stale check must read)."""
    touched: dict[str, set[ResourceKey]] = {}
    for c in changes:
        for key in (c.key, c.from_key, read_under(c)):
            if key is not None:
                touched.setdefault(key.provider, set()).add(key)
    prune = _prune(session.config)
    states = await asyncio.gather(*(session.providers[name].read_some(desired, keys,
                                                                      prune=prune)
                                    for name, keys in sorted(touched.items())))
    live = State()
    for s in states:
        for r in s:
            live.add(r)
    return live
