"""``tapsync drift``: the read-only comparison of live state with the manifests.

Named ``drift_cmd`` so it is not mistaken for :mod:`tapsync.drift`, the pure report it
builds on. That module, the ignore rules and the drift renderers are imported inside the
command, as before the split, so loading the CLI does not load them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import click

from tapsync import engine
from tapsync.cli.apply_report import announce_waits
from tapsync.cli.common import (
    Prepared,
    check_writable,
    common_options,
    make_options,
    prepare,
    today,
    write_atomically,
)
from tapsync.errors import UsageError
from tapsync.model import State


@click.command()
@common_options
@click.option("--format", "fmt", default="text", show_default=True,
              type=click.Choice(["text", "json", "markdown", "junit", "github"]),
              help="text, json (versioned envelope), markdown (an issue or PR comment), "
                   "junit (one test case per declared object), github (annotations).")
@click.option("--out", "out_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write the report to FILE instead of stdout.")
@click.option("--ignore-file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Glob patterns of addresses to set aside (default: .tapsyncignore "
                   "beside tapsync.yaml, when it exists). A FILE named here must exist, "
                   "unless --write-baseline creates it.")
@click.option("--write-baseline", is_flag=True,
              help="Add today's drift to the ignore file, so tomorrow's report starts clean.")
def drift(config: str | None, sandbox: bool, env_name: str | None, verbose: int, quiet: int,
          no_color: bool, fmt: str, out_file: str | None, ignore_file: str | None,
          write_baseline: bool) -> None:
    """Compare live state with the manifests, without writing to any service.

    Reports changed objects (field by field), missing ones (declared, not live),
    unmanaged ones (live, declared by no manifest), unexpected ones (ingested without
    being planned, where the API can tell), and coverage per kind. Exit 0 no drift,
    2 drift, 1 error.
    """
    from tapsync import drift as drift_mod
    from tapsync import ignore
    from tapsync.render import render_drift

    opts = make_options(config, sandbox, env_name, verbose, quiet, no_color)
    if out_file:
        check_writable(Path(out_file))
    prep = prepare(opts)
    ignore_path = Path(ignore_file) if ignore_file else prep.config.root / ignore.FILE_NAME
    _check_ignore_file(ignore_path, explicit=ignore_file is not None,
                       write_baseline=write_baseline)
    try:  # read once: the rules now, and the text a baseline adds to
        existing = ignore_path.read_text(encoding="utf-8") if ignore_path.is_file() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{ignore_path}: cannot read the ignore file: {exc}") from None
    rules = ignore.parse(existing)
    live, reads = asyncio.run(_read_everything(prep))
    specs = engine.all_specs()
    base = str(Path.cwd())
    report = drift_mod.build(prep.desired, live, specs, ignore=rules, reads=reads, base=base)
    if write_baseline:
        text = ignore.baseline(existing, [i.key for i in report.items], when=today())
        if text != existing:
            write_atomically(ignore_path, text)
        opts.out.info(f"Baseline: {len(report.items)} address(es) added to {ignore_path}; "
                      "commit it, and later drift is reported against it.")
        report = drift_mod.build(prep.desired, live, specs, ignore=ignore.parse(text),
                                 reads=reads, base=base)
    _emit(out_file, lambda stream: render_drift(
        fmt, report, stream, color=opts.color and fmt == "text" and not out_file))
    if out_file:
        opts.out.info(f"Wrote the drift report to {out_file}.")
    if report.drifted:
        raise SystemExit(2)


def _check_ignore_file(path: Path, *, explicit: bool, write_baseline: bool) -> None:
    """Before any service is read: a baseline must be writable where it goes, and an ignore
    file named on the command line must exist (a typo would otherwise report, and fail
    CI on, everything the file sets aside). The default ``.tapsyncignore`` is optional."""
    if write_baseline:
        check_writable(path)
    elif explicit and not path.is_file():
        raise UsageError(f"--ignore-file: {path} does not exist (create it, or run "
                         "'tapsync drift --write-baseline' to start one)")


async def _read_everything(prep: Prepared) -> tuple[State, dict[str, int]]:
    """Whole collections (as prune would read them), for unmanaged objects and coverage;
    nothing is written. A wait for the budget is said on stderr, as plan and apply say it
    (a nightly job late in a busy hour can meet one)."""
    from dataclasses import replace

    cfg = prep.config
    whole = replace(cfg, safety=replace(cfg.safety, prune=True))
    async with engine.connect(whole, prep.names, prep.credentials,
                              transport=prep.transport) as session:
        announce_waits(session, prep.opts)
        live = await engine.read_live(session, prep.desired)
        return live, session.reads()


def _emit(out_file: str | None, render: Callable[[TextIO], None]) -> None:
    """Render to stdout, or whole to a file (a reader never sees half a report)."""
    if not out_file:
        render(sys.stdout)
        return
    import io

    buf = io.StringIO()
    render(buf)
    write_atomically(Path(out_file), buf.getvalue())
