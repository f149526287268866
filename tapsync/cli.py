"""The ``tapsync`` command line.

The only module that prints, exits, or reads credentials from the environment. Every
user error is a :class:`~tapsync.errors.TapsyncError` caught once in :func:`main` and
turned into a message and an exit code; a traceback means a bug in tapsync.
Progress and diagnostics go to stderr, results to stdout, so ``plan --format json > f``
stays machine-readable.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

import click

from tapsync import __version__
from tapsync.config import Config, find_config, load_config
from tapsync.errors import NotBuiltYet, Problem, TapsyncError, UsageError

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


def _want_color(no_color: bool, stream: TextIO) -> bool:
    if no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


def common_options(func: F) -> F:
    """Attach the global options to a command (turned into :class:`Options` by ``_options``)."""
    decorators = [
        click.option("--config", "config", metavar="PATH", envvar="TAPSYNC_CONFIG",
                     help="Workspace file (default ./tapsync.yaml; env TAPSYNC_CONFIG)."),
        click.option("--sandbox", is_flag=True,
                     help="Use the embedded sandbox (state in .tapsync/sandbox.db) instead "
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


def _options(config: str | None, sandbox: bool, env_name: str | None, verbose: int,
             quiet: int, no_color: bool) -> Options:
    return Options(config, sandbox, verbose - quiet, _want_color(no_color, sys.stdout),
                   env_name)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tapsync")
def cli() -> None:
    """Keep analytics taxonomy, experiments and push campaigns in git.

    \b
    Typical flow:
      tapsync validate            check manifests offline
      tapsync plan                show what would change, and its API cost
      tapsync apply               make the change, inside the API budgets
      tapsync drift               report live objects that differ from the manifests

    Try everything without credentials against the embedded sandbox: add --sandbox.
    """


# ---------------------------------------------------------------------------- validate

@cli.command()
@common_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="Output format (github: workflow annotations).")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def validate(config: str | None, sandbox: bool, env_name: str | None, verbose: int, quiet: int,
             no_color: bool, fmt: str, paths: Sequence[str]) -> None:
    """Check manifests offline: schemas, references and lint rules.

    Validates PATHS if given, else the manifests named in tapsync.yaml.
    Exit 0 when valid (warnings allowed), 1 when invalid.
    """
    from tapsync.manifest import LintOptions, check

    opts = _options(config, sandbox, env_name, verbose, quiet, no_color)
    naming: dict[str, str] = {}
    if paths:
        targets: list[str | Path] = list(paths)
        if opts.config or Path("tapsync.yaml").is_file():
            naming = dict(opts.load().naming)
    else:
        cfg = opts.load()
        targets, naming = list(cfg.manifests), dict(cfg.naming)
    checked = check(targets, LintOptions(naming=naming))
    _print_problems(checked.problems, fmt, opts.out, files=len(checked.files),
                    resources=len(checked.state))
    if not checked.ok:
        raise SystemExit(1)


def _print_problems(problems: Sequence[Problem], fmt: str, out: Output, *, files: int,
                    resources: int) -> None:
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity != "error"]
    if fmt == "json":
        doc = {"format_version": "1", "valid": not errors, "files": files,
               "resources": resources,
               "problems": [{"file": p.file, "line": p.line, "column": p.column,
                             "path": p.json_path, "severity": p.severity,
                             "message": p.message} for p in problems]}
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    if fmt == "github":
        for p in problems:
            level = "error" if p.severity == "error" else "warning"
            click.echo(f"::{level} file={_gh(p.file)},line={p.line},col={p.column}::"
                       f"{_gh(p.json_path + ': ' + p.message)}")
        return
    for p in problems:
        colour = "red" if p.severity == "error" else "yellow"
        click.echo(f"{p.file}:{p.line}:{p.column}: {p.json_path}: "
                   + out.style(p.severity, fg=colour) + f": {p.message}", color=out.color)
    if errors:
        click.echo(out.style(f"Invalid: {len(errors)} error(s), {len(warnings)} warning(s) "
                             f"in {files} file(s).", fg="red", bold=True), color=out.color)
    else:
        click.echo(out.style(f"Valid: {resources} object(s) in {files} file(s)", fg="green")
                   + (f", {len(warnings)} warning(s)." if warnings else "."), color=out.color)


def _gh(text: str) -> str:
    """Escape a workflow-command value (GitHub's own rules for %, CR, LF, ',' and ':')."""
    return (text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            .replace(",", "%2C").replace("::", "%3A%3A"))


# ------------------------------------------------------------------- not yet built

def _not_built(name: str, issue: str) -> NoReturn:
    raise NotBuiltYet(f"'tapsync {name}' is not built yet ({issue}).")


@cli.command()
@common_options
def plan(**_: Any) -> None:
    """Read live state and show what apply would change, and what it costs."""
    _not_built("plan", "planned: plan and apply issue")


@cli.command()
@common_options
def apply(**_: Any) -> None:
    """Apply a plan (computed now, or a saved PLANFILE)."""
    _not_built("apply", "planned: plan and apply issue")


@cli.command()
@common_options
def drift(**_: Any) -> None:
    """Compare live state with the manifests, without writing (exit 0 none, 2 drift)."""
    _not_built("drift", "planned: CI workflows issue")


@cli.command(name="import")
@common_options
def import_(**_: Any) -> None:
    """Write manifests from live state."""
    _not_built("import", "planned: CI workflows issue")


# ------------------------------------------------------------------------- sandbox

@cli.group()
def sandbox() -> None:
    """The embedded emulator of the services' APIs."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--state", "state", metavar="FILE", help="SQLite file (default: in memory).")
@click.option("--latency-ms", default=0.0, type=float, show_default=True,
              help="Added to every emulated API call.")
@click.option("--legacy-delete", is_flag=True,
              help="The seed's older rule: only planned items can be deleted.")
def serve(host: str, port: int, state: str | None, latency_ms: float,
          legacy_delete: bool) -> None:
    """Serve the emulated APIs over HTTP (all providers on one port)."""
    from tapsync.config import is_loopback
    from tapsync.sandbox import serve as run

    if not is_loopback(host):
        click.echo(f"warning: serving the sandbox on {host}, which is not a loopback "
                   "address; its credentials are public defaults", err=True)
    run(host, port, state, latency_ms, legacy_delete)


# ---------------------------------------------------------------------------- entry

def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; map every error to CONTRACT.md's exit codes (usage errors: 1)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="tapsync",
                 standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        return 130
    except click.exceptions.UsageError as exc:
        exc.show()
        return 1
    except click.exceptions.ClickException as exc:
        exc.show()
        return 1
    except TapsyncError as exc:
        Output(color=_want_color(False, sys.stderr)).error(str(exc))
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    return 0


def run() -> None:  # pragma: no cover - console entry point
    sys.exit(main())


__all__ = ["UsageError", "cli", "main", "run"]
