"""``tapsync sandbox load`` and ``tapsync sandbox serve``: the embedded emulator.

Only the CLI wires the sandbox in, and only inside these commands (and
:func:`tapsync.cli.common.sandbox_transport`): importing the CLI never imports the
sandbox, so the core stays free of it (tests/test_layering.py).
"""

from __future__ import annotations

import errno
import socket

import click
import yaml

from tapsync.cli.common import common_options, make_options
from tapsync.errors import UsageError


@click.group()
def sandbox() -> None:
    """The embedded emulator of the services' APIs."""


@sandbox.command(name="load")
@common_options
@click.argument("fixtures", type=click.Path(exists=True, dir_okay=False))
def load_fixtures(config: str | None, sandbox: bool, env_name: str | None, verbose: int,
                  quiet: int, no_color: bool, fixtures: str) -> None:
    """Load FIXTURES (YAML/JSON) into this workspace's sandbox (.tapsync/sandbox.db).

    For what the real APIs cannot create through their own endpoints: experiments made in
    a dashboard, events ingested by apps, objects already live. All or nothing.
    Format: {amplitude: {categories, event_types, event_properties, user_properties,
    ingest}, taplytics: {experiments, users, pushes}}.
    """
    from tapsync.sandbox import load_fixture_file

    opts = make_options(config, sandbox, env_name, verbose, quiet, no_color)
    cfg = opts.load()
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        loaded = load_fixture_file(cfg.sandbox_db, fixtures)
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"{fixtures}: cannot load: {exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{fixtures}: malformed YAML: {exc}") from None
    counts = ", ".join(f"{p}: " + ", ".join(f"{n} {k}" for k, n in v.items())
                       if isinstance(v, dict) else f"{p}: {v}" for p, v in loaded.items())
    click.echo(f"Loaded into {cfg.sandbox_db}: {counts}")


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, metavar="ADDRESS",
              help="Address to listen on; keep it loopback (the credentials are public "
                   "defaults).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535),
              help="TCP port to listen on.")
@click.option("--state", "state", metavar="FILE",
              help="SQLite file kept across restarts; its folder must exist "
                   "(default: in memory).")
@click.option("--latency-ms", default=0.0, type=click.FloatRange(min=0), show_default=True,
              help="Added to every emulated API call.")
@click.option("--legacy-delete", is_flag=True,
              help="Emulate the older API rule: only planned (never-ingested) events and "
                   "properties can be deleted; others answer 409.")
def serve(host: str, port: int, state: str | None, latency_ms: float,
          legacy_delete: bool) -> None:
    """Serve the emulated APIs over HTTP (all providers on one port) until stopped.

    Ctrl-C or SIGTERM stops it; with --state, what was written stays in FILE.
    """
    from tapsync.config import is_loopback
    from tapsync.sandbox import serve as run
    from tapsync.sandbox.app import CannotListen
    from tapsync.sandbox.store import MissingStateFolder

    if not is_loopback(host):
        click.echo(f"warning: serving the sandbox on {host}, which is not a loopback "
                   "address; its credentials are public defaults", err=True)
    where = f"state: {state}" if state else "state: in memory"

    def ready(url: str) -> None:
        click.echo(f"tapsync sandbox: serving on {url} ({where}); Ctrl-C to stop", err=True)

    try:
        run(host, port, state, latency_ms, legacy_delete, on_ready=ready)
    except MissingStateFolder as exc:
        raise UsageError(f"--state: {exc}") from None
    except CannotListen as exc:
        raise UsageError(_listen_problem(host, port, exc.reason)) from None


def _listen_problem(host: str, port: int, exc: OSError) -> str:
    """Why the sandbox cannot listen, in one line (uvicorn would log its own and exit)."""
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use (pick another with --port)"
    if isinstance(exc, socket.gaierror):
        return f"--host {host}: not an address to listen on ({exc.strerror})"
    return f"cannot listen on {host} port {port}: {exc.strerror or exc}"
