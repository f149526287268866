"""``tapsync.yaml`` → a typed, validated :class:`Config`.

The workspace file says where manifests live, how to reach each service and how careful
to be. It never holds secrets: credentials are named by environment variable (``*_env``
keys) and read by the CLI alone. This module takes the environment as a plain mapping so
it stays testable and never reaches for ``os.environ`` itself.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import yaml

from tapsync.errors import ConfigError

CONFIG_NAME = "tapsync.yaml"

DEFAULT_BASE_URLS: Mapping[str, str] = {
    "amplitude": "https://amplitude.com",
    "taplytics": "https://api.taplytics.com",
    "apptimize": "https://api.apptimize.com",
    "pypestream": "https://analytics.pypestream.com",
}

#: role → default environment variable, per provider (CONTRACT.md §2)
DEFAULT_CREDENTIAL_ENV: Mapping[str, Mapping[str, str]] = {
    "amplitude": {"api_key": "AMPLITUDE_API_KEY", "secret_key": "AMPLITUDE_SECRET_KEY"},
    "taplytics": {"api_token": "TAPLYTICS_API_TOKEN"},
    "apptimize": {"api_token": "APPTIMIZE_API_TOKEN"},
    "pypestream": {"api_key": "PYPESTREAM_API_KEY"},
}

DEFAULT_BUDGETS: Mapping[str, tuple[int | None, int | None]] = {
    "amplitude": (4, 7200),
}

_SECRET_KEY = re.compile(r"(api[_-]?key|secret|token|password|passwd)", re.I)


@dataclass(frozen=True)
class BudgetConfig:
    concurrent_cost: int | None = None
    hourly_cost: int | None = None
    reserve: int = 0


@dataclass(frozen=True)
class ProviderConfig:
    """How to reach one service. ``credential_env`` maps a role to a variable *name*."""

    name: str
    base_url: str
    credential_env: Mapping[str, str]
    budget: BudgetConfig = BudgetConfig()
    timeout: float = 30.0
    dataset: str | None = None


@dataclass(frozen=True)
class SafetyConfig:
    prune: bool | tuple[str, ...] = False
    max_delete_percent: float = 30.0
    max_update_percent: float = 30.0
    min_existing: int = 10


@dataclass(frozen=True)
class Config:
    path: Path
    manifests: tuple[Path, ...]
    providers: Mapping[str, ProviderConfig]
    safety: SafetyConfig = SafetyConfig()
    naming: Mapping[str, str] = field(default_factory=dict)
    environment: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def state_dir(self) -> Path:
        """``.tapsync/`` beside tapsync.yaml: sandbox state, journals."""
        return self.root / ".tapsync"

    @property
    def sandbox_db(self) -> Path:
        """The ``--sandbox`` state: one per environment, as each stands for its own project."""
        name = f"sandbox-{self.environment}.db" if self.environment else "sandbox.db"
        return self.state_dir / name


def find_config(explicit: str | None, env: Mapping[str, str], cwd: Path) -> Path:
    """``--config`` wins, then ``TAPSYNC_CONFIG``, then ``./tapsync.yaml``."""
    raw = explicit or env.get("TAPSYNC_CONFIG")
    path = Path(raw) if raw else cwd / CONFIG_NAME
    if not path.is_absolute():
        path = cwd / path
    if path.is_dir():
        path = path / CONFIG_NAME
    if not path.is_file():
        hint = "" if raw else " (run in a workspace, or pass --config PATH)"
        raise ConfigError(f"no configuration at {path}{hint}")
    return path


def load_config(path: Path, env: Mapping[str, str], environment: str | None = None) -> Config:
    """Read, validate and type ``tapsync.yaml``; apply ``--env`` and env-var overrides."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    data, marks = _load_with_marks(path, text)
    _check(path, data, marks)
    envs = data.get("environments") or {}
    if environment is not None and environment not in envs:
        known = ", ".join(sorted(envs)) or "none are defined"
        raise ConfigError(f"{path}: unknown environment {environment!r} ({known})")
    env_block = envs.get(environment, {}) if environment else {}
    providers = _providers(path, data.get("providers") or {},
                           env_block.get("providers") or {}, env)
    safety = data.get("safety") or {}
    prune = safety.get("prune", False)
    return Config(
        path=path,
        manifests=tuple(path.parent / m for m in data.get("manifests", ["manifests/"])),
        providers=providers,
        safety=SafetyConfig(
            prune=tuple(prune) if isinstance(prune, list) else bool(prune),
            max_delete_percent=float(safety.get("max_delete_percent", 30)),
            max_update_percent=float(safety.get("max_update_percent", 30)),
            min_existing=int(safety.get("min_existing", 10)),
        ),
        naming=dict((data.get("lint") or {}).get("naming") or {}),
        environment=environment,
        overrides=dict(env_block.get("overrides") or {}),
    )


def _providers(path: Path, base: Mapping[str, Any], over: Mapping[str, Any],
               env: Mapping[str, str]) -> dict[str, ProviderConfig]:
    out: dict[str, ProviderConfig] = {}
    for name, default_url in DEFAULT_BASE_URLS.items():
        block = {**(base.get(name) or {}), **(over.get(name) or {})}
        budget = {**(base.get(name) or {}).get("budget", {}),
                  **(over.get(name) or {}).get("budget", {})}
        variable = f"TAPSYNC_{name.upper()}_BASE_URL"
        if env.get(variable):
            url = env[variable]
            where = f"environment variable {variable} (overrides providers.{name}.base_url)"
        else:
            url = block.get("base_url", default_url)
            where = f"{path}: providers.{name}.base_url"
        check_base_url(str(url), where=where)
        creds = {role: block.get(f"{role}_env", var)
                 for role, var in DEFAULT_CREDENTIAL_ENV[name].items()}
        concurrent, hourly = DEFAULT_BUDGETS.get(name, (None, None))
        out[name] = ProviderConfig(
            name=name,
            base_url=str(url).rstrip("/"),
            credential_env=creds,
            budget=BudgetConfig(
                concurrent_cost=budget.get("concurrent_cost", concurrent),
                hourly_cost=budget.get("hourly_cost", hourly),
                reserve=int(budget.get("reserve", 0)),
            ),
            timeout=float(block.get("timeout", 30.0)),
            dataset=None if block.get("dataset") is None else str(block["dataset"]),
        )
    return out


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, where: str) -> None:
    """``https://`` everywhere; plain ``http://`` only for loopback hosts; no userinfo.

    Credentials come only from the environment: a ``user:password@`` in a URL would sit in
    a committed file and in every log line that names the URL, so it is refused without
    repeating it. Any ``@`` is refused, wherever it is: a password may hold ``#``, ``/``
    or ``?`` (``https://admin:1234#pw@host``), and then a URL parser takes ``admin`` for
    the host and the rest for a port and a fragment, so no ``@`` is left in what it calls
    userinfo. The services' base URLs never contain one, nor a fragment.
    """
    if "@" in url:
        raise ConfigError(f"{where}: {_masked(url)!r} must not carry credentials "
                          "(user:password@); credentials come only from the environment "
                          "(the *_env keys)")
    if "#" in url:
        raise ConfigError(f"{where}: the URL must not have a fragment ('#' and what follows; "
                          "a password in the URL? credentials come only from the environment)")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unbalanced or invalid ``[IPv6]`` host
        raise ConfigError(f"{where}: {url!r} is not a valid URL ({exc})") from None
    try:
        parts.port  # noqa: B018 - ``user:pass/word`` would parse as host ``user``, port ``pass``
    except ValueError:
        raise ConfigError(f"{where}: the URL's port is not a number (a password in the URL? "
                          "credentials come only from the environment)") from None
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return
    raise ConfigError(f"{where}: {url!r} must be an https:// URL "
                      "(plain http:// is allowed only on 127.0.0.0/8, ::1 and localhost)")


def _masked(url: str) -> str:
    """``url`` as ``scheme://***@host``: everything up to its last ``@`` may be a secret,
    and so may a path, query or fragment after it; only the host part is shown."""
    head, sep, _ = url.partition("://")
    scheme = f"{head}{sep}" if sep and "@" not in head else ""
    host = re.split(r"[/?#]", url.rpartition("@")[2], maxsplit=1)[0]
    return f"{scheme}***@{host}"


_SCHEMA: dict[str, Any] | None = None


def config_schema() -> dict[str, Any]:
    global _SCHEMA
    if _SCHEMA is None:
        text = resources.files("tapsync").joinpath("schemas/config.schema.json").read_text()
        _SCHEMA = json.loads(text)
    return _SCHEMA


def _check(path: Path, data: Any, marks: Mapping[tuple[Any, ...], tuple[int, int]]) -> None:
    """Collect every problem (secrets first, never echoing values), then raise once."""
    problems: list[str] = []
    secret_paths: set[tuple[Any, ...]] = set()
    for p, value in _walk(data, ()):
        key = p[-1] if p else None
        if (isinstance(key, str) and _SECRET_KEY.search(key) and not key.endswith("_env")
                and isinstance(value, (str, int))):
            secret_paths.add(p)
            line, col = _mark(marks, p)
            problems.append(f"{path}:{line}:{col}: {_jp(p)}: looks like a literal secret; "
                            f"secrets come only from the environment (name the variable "
                            f"with {key}_env)")
    validator = jsonschema.Draft202012Validator(config_schema())
    for name, block in ((data.get("providers") or {}) if isinstance(data, dict) else {}).items():
        url = block.get("base_url") if isinstance(block, dict) else None
        if isinstance(url, str):
            p = ("providers", name, "base_url")
            line, col = _mark(marks, p)
            try:
                check_base_url(url, where=f"{path}:{line}:{col}: {_jp(p)}")
            except ConfigError as exc:
                problems.append(str(exc))
    for err in validator.iter_errors(data):
        p = tuple(err.absolute_path)
        if any(p[: len(s)] == s for s in secret_paths):
            continue
        message = _message(err, {s[-1] for s in secret_paths if s[:-1] == p})
        if message:
            extra = _unknown_keys(err) if err.validator == "additionalProperties" else []
            # point at the first unknown key itself, keeping the path of its mapping
            line, col = _mark(marks, (*p, ("key", extra[0])) if extra else p)
            problems.append(f"{path}:{line}:{col}: {_jp(p)}: {message}")
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(problems))


def _message(err: jsonschema.ValidationError, already: set[Any]) -> str:
    """A readable message; ``already`` holds keys reported as secrets (not repeated)."""
    if err.validator == "additionalProperties":
        extra = [k for k in _unknown_keys(err) if k not in already]
        return f"unknown key(s): {', '.join(map(str, extra))}" if extra else ""
    if err.validator in ("enum", "const", "pattern", "type"):
        # jsonschema repeats the offending value; never echo what may be a secret
        _, sep, rest = err.message.partition(" is not ")
        return f"value is not {rest}" if sep else err.message
    return str(err.message)


def _unknown_keys(err: jsonschema.ValidationError) -> list[str]:
    """The keys an ``additionalProperties`` error is about, sorted."""
    schema, inst = err.schema, err.instance
    declared = set(schema.get("properties", {})) if isinstance(schema, Mapping) else set()
    return sorted(set(map(str, inst)) - declared) if isinstance(inst, Mapping) else []


def _walk(value: Any, p: tuple[Any, ...]) -> Any:
    yield p, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, (*p, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, (*p, i))


def _jp(p: tuple[Any, ...]) -> str:
    return "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in p)


def _mark(marks: Mapping[tuple[Any, ...], tuple[int, int]], p: tuple[Any, ...]) -> tuple[int, int]:
    while p not in marks and p:
        p = p[:-1]
    return marks.get(p, (1, 1))


def _load_with_marks(path: Path, text: str) -> tuple[Any, dict[tuple[Any, ...], tuple[int, int]]]:
    """Parse YAML keeping the 1-based line/column of every node (for error messages)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: malformed YAML: {problem}") from None
    if node is None:
        raise ConfigError(f"{path}: empty configuration (expected at least 'version: 1')")
    marks: dict[tuple[Any, ...], tuple[int, int]] = {}

    def build(n: yaml.Node, p: tuple[Any, ...]) -> Any:
        marks[p] = (n.start_mark.line + 1, n.start_mark.column + 1)
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for kn, vn in n.value:
                k = kn.value if isinstance(kn, yaml.ScalarNode) else str(kn.start_mark)
                kp = (*p, k)
                out[k] = build(vn, kp)
                key_mark = (kn.start_mark.line + 1, kn.start_mark.column + 1)
                key_path = (*p, ("key", k))
                marks[key_path] = key_mark
                if isinstance(vn, (yaml.MappingNode, yaml.SequenceNode)):
                    # a block's own position is its key's line, not its first child's
                    marks[kp] = key_mark
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, (*p, i)) for i, v in enumerate(n.value)]
        return loader.construct_object(n, deep=True)

    loader = yaml.SafeLoader("")

    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{path}:1:1: $: expected a mapping with 'version: 1'")
    return build(node, ()), marks
