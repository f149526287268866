"""``tapsync validate``: the offline check, the one command that needs no service.

The manifest checker is imported inside the command (as before the split), so loading the
CLI stays cheap for commands that never parse a manifest.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from tapsync.cli.common import common_options, make_options
from tapsync.errors import Problem
from tapsync.render.problems import (
    render_problems_github,
    render_problems_json,
    render_problems_text,
)


@click.command()
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

    opts = make_options(config, sandbox, env_name, verbose, quiet, no_color)
    naming: dict[str, str] = {}
    if paths:
        targets: list[str | Path] = list(paths)
        if opts.config or Path("tapsync.yaml").is_file():
            naming = dict(opts.load().naming)
    else:
        cfg = opts.load()
        targets, naming = list(cfg.manifests), dict(cfg.naming)
    checked = check(targets, LintOptions(naming=naming))
    _print_problems(checked.problems, fmt, opts.color, files=len(checked.files),
                    resources=len(checked.state))
    if not checked.ok:
        raise SystemExit(1)


def _print_problems(problems: Sequence[Problem], fmt: str, color: bool, *, files: int,
                    resources: int) -> None:
    """``validate``'s report on stdout (coloured as stdout allows); paths relative to here
    (the repository in CI)."""
    if fmt == "json":
        render_problems_json(problems, sys.stdout, files=files, resources=resources)
    elif fmt == "github":
        render_problems_github(problems, sys.stdout, base=str(Path.cwd()))
    else:
        render_problems_text(problems, sys.stdout, files=files, resources=resources,
                             color=color, base=str(Path.cwd()))
