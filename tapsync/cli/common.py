"""What every command shares: the global options, how to speak, and the preparation.

Kept apart from the commands so each command module reads as its own story, and so the
pieces several commands need (``prepare``, ``write_atomically``, the sandbox transport)
have one home instead of one copy per command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from tapsync import engine
from tapsync.changes import Plan
from tapsync.config import Config, find_config, load_config
from tapsync.errors import ManifestError, PlanRefused
from tapsync.model import State
from tapsync.planfile import binding, binding_problem, salt_of

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Output:
    """Where and how to speak: colours only on a terminal and unless turned off."""

    verbosity: int = 0
    color: bool = False

    def style(self, text: str, **kw: Any) -> str:
        return click.style(text, **kw) if self.color else text

    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            click.echo(message, err=True, color=self.color)

    def debug(self, message: str) -> None:
        if self.verbosity > 0:
            click.echo(message, err=True, color=self.color)

    def error(self, message: str) -> None:
        click.echo(self.style("Error: ", fg="red", bold=True) + message, err=True,
                   color=self.color)


@dataclass
class Options:
    """The options every command takes (CONTRACT.md §4)."""

    config: str | None
    sandbox: bool
    verbosity: int
    color: bool
    env_name: str | None

    @property
    def out(self) -> Output:
        return Output(self.verbosity, self.color)

    def load(self) -> Config:
        path = find_config(self.config, os.environ, Path.cwd())
        return load_config(path, os.environ, self.env_name)


def want_color(no_color: bool, stream: TextIO) -> bool:
    """Colour only for a person at a terminal: NO_COLOR, TERM=dumb and pipes get plain text,
    so redirected output and CI logs carry no escape codes (FORCE_COLOR overrides)."""
    if no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


def common_options(func: F) -> F:
    """Attach the global options to a command (turned into :class:`Options` by ``make_options``)."""
    decorators = [
        click.option("--config", "config", metavar="PATH", envvar="TAPSYNC_CONFIG",
                     help="Workspace file (default ./tapsync.yaml; env TAPSYNC_CONFIG)."),
        click.option("--sandbox", is_flag=True,
                     help="Use the embedded sandbox (state in .tapsync/sandbox.db; with --env, "
                          "sandbox-ENV.db) instead "
                          "of the real services."),
        click.option("--env", "env_name", metavar="NAME",
                     help="Environment from tapsync.yaml's environments: block."),
        click.option("-v", "--verbose", count=True, help="More detail on stderr."),
        click.option("-q", "--quiet", count=True, help="Less detail on stderr."),
        click.option("--no-color", is_flag=True, help="No ANSI colours (also NO_COLOR=1)."),
    ]
    for d in reversed(decorators):
        func = d(func)
    return func


def make_options(config: str | None, sandbox: bool, env_name: str | None, verbose: int,
                 quiet: int, no_color: bool) -> Options:
    """Click hands a command its global options as loose arguments; gather them once."""
    return Options(config, sandbox, verbose - quiet, want_color(no_color, sys.stdout),
                   env_name)


# ------------------------------------------------------- before a service is contacted

@dataclass
class Prepared:
    """Everything a plan or apply needs before it talks to any service."""

    opts: Options
    config: Config
    desired: State
    names: list[str]
    credentials: dict[str, dict[str, str]]
    transport: Any


def prepare(opts: Options, plan: Plan | None = None,
            made_for: dict[str, Any] | None = None) -> Prepared:
    """Config, manifests (warnings to stderr), credentials and, with --sandbox, the app.

    For a saved ``plan``, refuses before anything is contacted when the plan was made for
    another environment, base URL or credentials than this command has (``made_for``).
    """
    from tapsync.manifest import LintOptions, check

    cfg = opts.load()
    checked = check(list(cfg.manifests), LintOptions(naming=dict(cfg.naming)))
    if not checked.ok:
        raise ManifestError([p for p in checked.problems if p.severity == "error"])
    for p in checked.problems:
        opts.out.info(f"{p.file}:{p.line}:{p.column}: {p.json_path}: warning: {p.message}")
    desired = engine.apply_overrides(checked.state, cfg)
    names = sorted(engine.used_providers(desired, plan))
    if opts.sandbox:
        creds = {n: dict(engine.SANDBOX_CREDENTIALS[n]) for n in names}
    else:
        creds = engine.credentials_from(os.environ, cfg, names)
    prep = Prepared(opts, cfg, desired, names, creds, None)
    if plan is not None:
        _check_made_for(prep, plan, made_for)
    if opts.sandbox:
        prep.transport = sandbox_transport(cfg)
    return prep


def plan_binding(prep: Prepared, salt: str | None = None) -> dict[str, Any]:
    """Where this command reads and writes, as a saved plan records it (no secret); the
    credentials are hashed with ``salt`` (a saved plan's, to compare) or a new one."""
    return binding(prep.config.environment, prep.opts.sandbox, {
        n: (engine.SANDBOX_BASE_URL if prep.opts.sandbox else prep.config.providers[n].base_url,
            prep.credentials.get(n, {}))
        for n in prep.names}, salt)


def _check_made_for(prep: Prepared, plan: Plan, saved: dict[str, Any] | None) -> None:
    """Refuse a saved plan made elsewhere; an older plan, which does not say, is warned of."""
    if saved is None:
        prep.opts.out.info("warning: this saved plan does not record the environment and "
                           "project it was made for (an older tapsync made it), so that "
                           "was not checked")
        return
    problem = binding_problem(
        saved, plan_binding(prep, salt_of(saved)), {c.key.provider for c in plan.changes},
        {n: list(p.credential_env.values()) for n, p in prep.config.providers.items()
         if not prep.opts.sandbox})
    if problem:
        raise PlanRefused(problem)


def write_atomically(path: Path, text: str) -> None:
    """Write beside, then rename: a reader never sees half a file (plan, report, manifest)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def today() -> str:
    """The UTC date stamped into imported manifests and drift baselines."""
    return datetime.now(timezone.utc).date().isoformat()


def sandbox_transport(cfg: Config) -> Any:
    """The embedded sandbox app for --sandbox, on this workspace's state file.

    The sandbox is imported here, not at module load: only the CLI wires it in, and only
    when asked, so the core never depends on it (tests/test_layering.py).
    """
    from tapsync.http import asgi_transport
    from tapsync.sandbox import create_app

    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    return asgi_transport(create_app(state_path=cfg.sandbox_db))
