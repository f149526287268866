"""The ``tapsync`` command line.

The only module that prints, exits, or reads credentials from the environment. Every
user error is a :class:`~tapsync.errors.TapsyncError` caught once in :func:`main` and
turned into a message and an exit code; a traceback means a bug in tapsync.
Progress and diagnostics go to stderr, results to stdout, so ``plan --format json > f``
stays machine-readable.

This package holds the group, the exit-code mapping and the entry points; each command
family lives in its own module (``validate``, ``plan_apply`` with ``apply_report``,
``drift_cmd``, ``import_cmd``, ``sandbox_cmd``; what they share is in ``common``),
registered below.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from tapsync import __version__
from tapsync.cli.common import Output, error_color
from tapsync.cli.drift_cmd import drift
from tapsync.cli.import_cmd import import_
from tapsync.cli.plan_apply import apply, plan
from tapsync.cli.sandbox_cmd import sandbox
from tapsync.cli.validate import validate
from tapsync.errors import TapsyncError, UsageError


class TapsyncGroup(click.Group):
    """A group that maps every error to CONTRACT.md's exit codes, whoever calls it.

    The console script, ``main()`` and click's test runner all go through here, so a
    user error never shows a traceback and a usage error exits 1 (click's default is 2,
    which ``plan --detailed-exitcode`` reserves for "changes").
    """

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        code = _mapped(lambda: super(TapsyncGroup, self).main(
            args, prog_name, complete_var, standalone_mode=False, **extra))
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx: click.Context) -> Any:
        """Report a user error while the context still knows the command's ``--no-color``
        (once :meth:`main` sees the error, the context is gone), then exit with its code."""
        try:
            return super().invoke(ctx)
        except TapsyncError as exc:
            _report(exc, error_color(ctx, sys.stderr))
            raise click.exceptions.Exit(exc.exit_code) from None


def _mapped(call: Callable[[], Any]) -> int:
    """Run ``call`` and turn whatever it ends with into CONTRACT.md's exit code."""
    try:
        result = call()
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        return 130
    except click.exceptions.ClickException as exc:
        exc.show()
        return 1
    except TapsyncError as exc:  # raised outside any command: only NO_COLOR can say no
        _report(exc, error_color(None, sys.stderr))
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    return result if isinstance(result, int) else 0


def _report(exc: TapsyncError, color: bool) -> None:
    """One user error as one ``Error: …`` message on stderr (never a traceback)."""
    Output(color=color).error(str(exc))


@click.group(cls=TapsyncGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


for _command in (validate, plan, apply, drift, import_, sandbox):
    cli.add_command(_command)


# ---------------------------------------------------------------------------- entry

def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (see :class:`TapsyncGroup`)."""
    code = cli.main(args=list(argv) if argv is not None else None, prog_name="tapsync",
                    standalone_mode=False)
    return int(code)


def run() -> None:  # pragma: no cover - console entry point
    from tapsync.http import skip_missing_sniffio

    skip_missing_sniffio()  # this process is ours: spare httpcore a failed import per lock
    sys.exit(main())


__all__ = ["UsageError", "cli", "main", "run"]
