"""What every command shares: the global options, how to speak, and the preparation.

Kept apart from the commands so each command module reads as its own story, and so the
pieces several commands need (``prepare``, ``write_atomically``, the sandbox transport)
have one home instead of one copy per command.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from tapsync import engine
from tapsync.changes import Plan
from tapsync.config import Config, find_config, load_config
from tapsync.errors import ManifestError, PlanRefused, UsageError
from tapsync.model import State
from tapsync.planfile import binding, credentials_problem, place_problem

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
    """The options every command takes (CONTRACT.md §4).

    Colour is decided per stream: ``color`` for results on stdout, ``err_color`` for
    messages on stderr (:attr:`out`). ``plan > plan.txt`` at a terminal keeps coloured
    messages and a plain file; ``plan 2> log`` keeps the log free of escape codes.
    """

    config: str | None
    sandbox: bool
    verbosity: int
    color: bool
    env_name: str | None
    err_color: bool = False

    @property
    def out(self) -> Output:
        """Messages, progress and diagnostics: stderr, coloured as stderr allows."""
        return Output(self.verbosity, self.err_color)

    def style(self, text: str, **kw: Any) -> str:
        """``text`` styled for stdout (results), when stdout takes colour."""
        return click.style(text, **kw) if self.color else text

    def load(self) -> Config:
        path = find_config(self.config, os.environ, Path.cwd())
        return load_config(path, os.environ, self.env_name)


def want_color(no_color: bool, stream: TextIO) -> bool:
    """Colour only for a person at a terminal: NO_COLOR, TERM=dumb and pipes get plain text,
    so redirected output and CI logs carry no escape codes (FORCE_COLOR overrides)."""
    if no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


#: where ``--no-color`` is remembered in click's context, for the error printed after the
#: command has ended (``tapsync.cli.TapsyncGroup``), when its arguments are gone
NO_COLOR_KEY = "tapsync.no_color"

CONFIG_HELP = "Workspace file (default ./tapsync.yaml; env TAPSYNC_CONFIG)."
SANDBOX_HELP = ("Use the embedded sandbox (state in .tapsync/sandbox.db; with --env, "
                "sandbox-ENV.db) instead of the real services.")
ENV_HELP = "Environment from tapsync.yaml's environments: block."


def _remember_no_color(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    """Record ``--no-color`` as soon as it is parsed: an error raised anywhere in the
    command, even before ``make_options``, is then printed without colour too."""
    ctx.meta[NO_COLOR_KEY] = bool(value)
    return value


def error_color(ctx: click.Context | None, stream: TextIO) -> bool:
    """Whether the ``Error:`` prefix on ``stream`` may be coloured after a command in
    ``ctx`` failed: ``--no-color`` (recorded by the option itself) and NO_COLOR both say no."""
    no_color = bool(ctx.meta.get(NO_COLOR_KEY)) if ctx is not None else False
    return want_color(no_color, stream)


def global_options(*, config_help: str = CONFIG_HELP, sandbox_help: str = SANDBOX_HELP,
                   env_help: str = ENV_HELP) -> Callable[[F], F]:
    """The global options (CONTRACT.md §4), with wording a command may adapt to what they
    mean for it (``sandbox serve``); the names and kinds never change."""
    decorators = [
        click.option("--config", "config", metavar="PATH", envvar="TAPSYNC_CONFIG",
                     help=config_help),
        click.option("--sandbox", is_flag=True, help=sandbox_help),
        click.option("--env", "env_name", metavar="NAME", help=env_help),
        click.option("-v", "--verbose", count=True, help="More detail on stderr."),
        click.option("-q", "--quiet", count=True, help="Less detail on stderr."),
        click.option("--no-color", is_flag=True, callback=_remember_no_color,
                     help="No ANSI colours (also NO_COLOR=1)."),
    ]

    def attach(func: F) -> F:
        for d in reversed(decorators):
            func = d(func)
        return func
    return attach


def common_options(func: F) -> F:
    """Attach the global options to a command (turned into :class:`Options` by ``make_options``)."""
    return global_options()(func)


def make_options(config: str | None, sandbox: bool, env_name: str | None, verbose: int,
                 quiet: int, no_color: bool) -> Options:
    """Click hands a command its global options as loose arguments; gather them once."""
    return Options(config, sandbox, verbose - quiet, want_color(no_color, sys.stdout),
                   env_name, want_color(no_color, sys.stderr))


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
        opts.out.info(str(p))  # only warnings are left: "file:line:col: $.path: warning: …"
    desired = engine.apply_overrides(checked.state, cfg)
    names = sorted(engine.used_providers(desired, plan))
    if plan is not None and made_for is not None:
        _check_made_for_place(opts, cfg, names, plan, made_for)
    creds, transport = credentials_and_transport(opts, cfg, names)
    prep = Prepared(opts, cfg, desired, names, creds, transport)
    if plan is not None:
        _check_made_for(prep, plan, made_for)
    return prep


def credentials_and_transport(opts: Options, cfg: Config, names: Sequence[str]
                              ) -> tuple[dict[str, dict[str, str]], Any]:
    """With --sandbox: the sandbox's credentials and its app in process. Otherwise: the
    credentials from the environment (a missing one is an error naming every variable, a
    short one is warned of) and no transport (the network)."""
    if opts.sandbox:
        return ({n: dict(engine.SANDBOX_CREDENTIALS[n]) for n in names},
                sandbox_transport(cfg))
    creds = engine.credentials_from(os.environ, cfg, names)
    warn_short_credentials(opts.out, cfg, creds)
    return creds, None


#: shorter than this, a credential is surely a placeholder or a paste gone wrong
SHORT_CREDENTIAL = 8


def warn_short_credentials(out: Output, cfg: Config,
                           credentials: dict[str, dict[str, str]]) -> None:
    """Say when a credential is implausibly short. It is still masked wherever it occurs
    (safety first), which with ``s`` garbles every message; the warning explains that and
    points at the likely mistake, naming the variable, never the value."""
    for name, roles in sorted(credentials.items()):
        for role, value in sorted(roles.items()):
            if len(value) < SHORT_CREDENTIAL:
                variable = cfg.providers[name].credential_env.get(role, role)
                plural = "" if len(value) == 1 else "s"
                out.info(f"warning: {variable} is only {len(value)} character{plural} long: "
                         "check it; every occurrence of it in messages is masked")


def plan_binding(prep: Prepared) -> dict[str, Any]:
    """Where this command reads and writes, as a saved plan records it (no secret: the
    credentials are hashed with a new salt)."""
    return binding(prep.config.environment, prep.opts.sandbox, {
        n: (_base_url(prep.opts, prep.config, n), prep.credentials.get(n, {}))
        for n in prep.names})


def _base_url(opts: Options, cfg: Config, name: str) -> str:
    return engine.SANDBOX_BASE_URL if opts.sandbox else cfg.providers[name].base_url


def _check_made_for_place(opts: Options, cfg: Config, names: list[str], plan: Plan,
                          saved: dict[str, Any]) -> None:
    """The half of the saved-plan check that needs no credential: environment, sandbox
    flag and base URLs, done before credentials are read (:func:`_check_made_for` does
    the other half)."""
    problem = place_problem(saved, cfg.environment, opts.sandbox,
                            {n: _base_url(opts, cfg, n) for n in names}, _written(plan))
    if problem:
        raise PlanRefused(problem)


def _written(plan: Plan) -> set[str]:
    return {c.key.provider for c in plan.changes}


def _check_made_for(prep: Prepared, plan: Plan, saved: dict[str, Any] | None) -> None:
    """Refuse a saved plan made with other credentials; an older plan, which does not
    record where it was made, is warned of."""
    if saved is None:
        prep.opts.out.info("warning: this saved plan does not record the environment and "
                           "project it was made for (an older tapsync made it), so that "
                           "was not checked")
        return
    problem = credentials_problem(
        saved, prep.credentials, _written(plan),
        {n: list(p.credential_env.values()) for n, p in prep.config.providers.items()
         if not prep.opts.sandbox})
    if problem:
        raise PlanRefused(problem)


def write_atomically(path: Path, text: str) -> None:
    """Write beside, then rename: a reader never sees half a file (plan, report, manifest).

    A file that cannot be written (missing folder, no permission, full disk) is the user's
    to fix, so it is a :class:`UsageError` naming the file, never a traceback; the
    temporary file is removed so a failed write leaves nothing behind.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        if tmp.is_file():
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise UsageError(f"{path}: cannot write: {_reason(exc)}") from None


def check_writable(path: Path) -> None:
    """Refuse early a file that could not be written, so a run that reads live state (and
    spends API budget) does not fail only at the end. Only the folder is checked: the
    file itself is replaced by :func:`write_atomically`."""
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{path}: cannot write: {folder} is not an existing folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{path}: cannot write: no permission to create files in {folder}")


def make_folder(folder: Path) -> None:
    """``mkdir -p`` whose failure names the folder instead of showing a traceback."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{folder}: cannot create the folder: {_reason(exc)}") from None


def _reason(exc: OSError) -> str:
    """The system's words without the file name it repeats (ours may be a temporary one)."""
    return exc.strerror or str(exc)


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

    make_folder(cfg.state_dir)
    return asgi_transport(create_app(state_path=cfg.sandbox_db))
