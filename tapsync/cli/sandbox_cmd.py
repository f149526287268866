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
from click.core import ParameterSource

from tapsync.cli.common import Options, common_options, global_options, make_folder, make_options
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
    make_folder(cfg.state_dir)
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
@global_options(
    config_help="With --sandbox: the workspace whose sandbox state to serve (default "
                "./tapsync.yaml; env TAPSYNC_CONFIG). Ignored without --sandbox.",
    sandbox_help="Serve this workspace's sandbox state, the one other commands' --sandbox "
                 "use (.tapsync/sandbox.db; with --env, sandbox-ENV.db), instead of --state.",
    env_help="With --sandbox: serve the state of this environment (sandbox-ENV.db).")
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
              help="Emulate the older edition of the API: only planned (never-ingested) "
                   "events and properties can be deleted (others answer 409), and every "
                   "event-property call needs event_type (no shared properties).")
def serve(config: str | None, sandbox: bool, env_name: str | None, verbose: int, quiet: int,
          no_color: bool, host: str, port: int, state: str | None, latency_ms: float,
          legacy_delete: bool) -> None:
    """Serve the emulated APIs over HTTP (all providers on one port) until stopped.

    Ctrl-C or SIGTERM stops it; with --state, what was written stays in FILE. With
    --sandbox it serves the workspace's own sandbox state, so what 'apply --sandbox' wrote
    can be read with any HTTP client. -v logs each request on stderr; -q hides the
    "serving on" line.
    """
    from tapsync.config import is_loopback
    from tapsync.sandbox import serve as run
    from tapsync.sandbox.app import CannotListen
    from tapsync.sandbox.store import MissingStateFolder

    opts = make_options(config, sandbox, env_name, verbose, quiet, no_color)
    state = _state_to_serve(opts, state)
    if not is_loopback(host):  # a safety warning: said even with -q
        click.echo(f"warning: serving the sandbox on {host}, which is not a loopback "
                   "address; its credentials are public defaults", err=True)
    where = f"state: {state}" if state else "state: in memory"

    def ready(url: str) -> None:
        opts.out.info(f"tapsync sandbox: serving on {url} ({where}); Ctrl-C to stop")

    try:
        run(host, port, state, latency_ms, legacy_delete, on_ready=ready,
            log_requests=opts.verbosity > 0, use_colors=opts.err_color)
    except MissingStateFolder as exc:
        raise UsageError(f"--state: {exc}") from None
    except CannotListen as exc:
        raise UsageError(_listen_problem(host, port, exc.reason)) from None


def _state_to_serve(opts: Options, state: str | None) -> str | None:
    """The state file to serve: ``--state``, or with ``--sandbox`` the workspace's own.

    Without ``--sandbox`` the workspace is not read at all, so serve keeps working outside
    one (and a TAPSYNC_CONFIG set for other commands changes nothing); an explicit
    ``--config``/``--env`` without it is said to be ignored rather than silently dropped.
    """
    if not opts.sandbox:
        ctx = click.get_current_context()
        given = [flag for flag, param in (("--config", "config"), ("--env", "env_name"))
                 if ctx.get_parameter_source(param) is ParameterSource.COMMANDLINE]
        if given:
            one = len(given) == 1
            opts.out.info(f"note: {' and '.join(given)} {'is' if one else 'are'} ignored "
                          f"without --sandbox ({'it names' if one else 'they name'} the "
                          "workspace whose sandbox state --sandbox serves)")
        return state
    if state is not None:
        raise UsageError("--state and --sandbox both name the state to serve: pass one")
    cfg = opts.load()
    make_folder(cfg.state_dir)
    return str(cfg.sandbox_db)


def _listen_problem(host: str, port: int, exc: OSError) -> str:
    """Why the sandbox cannot listen, in one line (uvicorn would log its own and exit)."""
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use (pick another with --port)"
    if isinstance(exc, socket.gaierror):
        return f"--host {host}: not an address to listen on ({exc.strerror})"
    return f"cannot listen on {host} port {port}: {exc.strerror or exc}"
