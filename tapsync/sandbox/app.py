"""Assembling the sandbox: one Starlette app for every emulated API, and serving it.

``create_app`` is what ``--sandbox`` (through ``httpx.ASGITransport``) and the tests use;
``serve`` is what ``tapsync sandbox serve`` runs; ``serve_in_thread`` gives end-to-end
tests a real socket on 127.0.0.1 without a subprocess. Each emulated API contributes its
routes and its :class:`Guard` through an ``install`` function, so another provider is
one more module and one more line here.
"""

from __future__ import annotations

import copy
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from tapsync.sandbox import admin, amplitude, ingest, taplytics
from tapsync.sandbox.clock import Clock
from tapsync.sandbox.faults import ConnectionDropped
from tapsync.sandbox.limits import CostLimiter
from tapsync.sandbox.pipeline import SandboxMiddleware
from tapsync.sandbox.runtime import Runtime, Settings
from tapsync.sandbox.store import Store

DEFAULT_AMPLITUDE_CREDENTIALS = ("sandbox-api-key", "sandbox-secret-key")


def create_app(
    *,
    state_path: str | os.PathLike[str] | None = None,
    clock: Clock | None = None,
    legacy_delete: bool = False,
    concurrent_cost: int = 4,
    hourly_cost: int = 7200,
    latency_ms: float = 0,
    amplitude_credentials: tuple[str, str] = DEFAULT_AMPLITUDE_CREDENTIALS,
    extra_amplitude_keys: Sequence[tuple[str, str]] = (),
) -> Starlette:
    """A fresh sandbox. ``state_path=None`` keeps state in memory (a new, empty project);
    a path persists it in SQLite across restarts. The runtime is ``app.state.sandbox``.

    ``extra_amplitude_keys`` are more (API key, secret key) pairs the Taxonomy API and the
    ingestion accept. They reach the same emulated project, but each key is charged and
    limited on its own (concurrent and hourly), which is what "limits per API key" means.
    """
    the_clock = clock if clock is not None else Clock()
    settings = Settings(latency_ms=float(latency_ms), legacy_delete=legacy_delete,
                        concurrent_cost=concurrent_cost, hourly_cost=hourly_cost)
    runtime = Runtime(
        store=Store(state_path),
        clock=the_clock,
        limiter=CostLimiter(the_clock, concurrent_cost=concurrent_cost, hourly_cost=hourly_cost),
        settings=settings,
        credentials={"amplitude_keys": _amplitude_keys(amplitude_credentials,
                                                       extra_amplitude_keys)},
    )
    # The Taxonomy API's routes come first: it is the hot path (a plan's writes), and
    # Starlette tries routes in order, one regex each. No two APIs share a prefix
    # (``/api/2/taxonomy``, ``/_sandbox``, ``/2/httpapi``, ``/v2``), so order is free.
    routes: list[BaseRoute] = [*amplitude.install(runtime, runtime.credentials["amplitude_keys"])]
    routes += admin.routes()
    routes += ingest.install(runtime)
    routes += taplytics.install(runtime)
    app = Starlette(routes=routes, middleware=[Middleware(SandboxMiddleware, runtime=runtime)])
    app.state.sandbox = runtime
    app.state.initial_settings = replace(settings)
    return app


def _amplitude_keys(primary: tuple[str, str], extra: Sequence[tuple[str, str]]
                    ) -> dict[str, str]:
    """API key → secret key; one API key with two secrets would make either one wrong."""
    keys: dict[str, str] = {}
    for api_key, secret in (primary, *extra):
        if not api_key or keys.get(api_key, secret) != secret:
            raise ValueError("sandbox Amplitude keys: each API key must be non-empty and "
                             "have one secret key")
        keys[api_key] = secret
    return keys


def load_fixture_file(state_path: str | os.PathLike[str], fixture_path: str | os.PathLike[str]
                      ) -> dict[str, Any]:
    """Load a YAML/JSON fixture file into the sandbox state at ``state_path`` (all or none).

    This is how a workspace's sandbox gets what the real APIs cannot create through their
    own endpoints: experiments made in a dashboard, events ingested by apps.
    """
    with open(fixture_path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    app = create_app(state_path=state_path)
    runtime: Runtime = app.state.sandbox
    try:
        return admin.load_fixtures(runtime, data)
    finally:
        runtime.store.close()


class _QuietDrops(logging.Filter):
    """Injected connection drops are intended: keep their tracebacks out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


def _config(app: Starlette, log_level: str, *, access_log: bool = False,
            use_colors: bool | None = None) -> object:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    log_config = copy.deepcopy(LOGGING_CONFIG)  # the request log is a diagnostic: stderr
    log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    return uvicorn.Config(app, log_level=log_level, lifespan="off", access_log=access_log,
                          use_colors=use_colors, log_config=log_config)


class CannotListen(Exception):
    """The sandbox could not bind its port; ``reason`` is the system's ``OSError``.

    Its own type, so the CLI turns exactly this into one line and any later ``OSError``
    while serving still shows as the bug it would be.
    """

    def __init__(self, host: str, port: int, reason: OSError) -> None:
        super().__init__(f"{host} port {port}: {reason}")
        self.host, self.port, self.reason = host, port, reason


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening, or the ``OSError`` saying why not.

    Bound here rather than by uvicorn so that a port in use is an ordinary exception the
    CLI can turn into one line (uvicorn logs its own error and exits), and so that the
    "serving on" line is printed only once the port is really ours. It listens at once,
    so a client that connects as soon as it reads that line is queued, not refused
    (uvicorn's own ``listen`` later on the same socket changes nothing). A host name is
    resolved to IPv4 unless it is an IPv6 literal, as uvicorn does: ``localhost`` means
    127.0.0.1, the address the README's examples point at.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    _, kind, proto, _, address = socket.getaddrinfo(
        host, port, family, socket.SOCK_STREAM, socket.IPPROTO_TCP)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def serve(
    host: str, port: int, state_path: str | None, latency_ms: float, legacy_delete: bool,
    *, on_ready: Callable[[str], None] | None = None, log_requests: bool = False,
    use_colors: bool | None = None,
) -> None:
    """Serve every emulated API on ``host:port`` until interrupted (blocking).

    The state is opened first (a bad ``state_path`` is reported before the port is
    touched), then the port is bound (:class:`CannotListen` when taken), then ``on_ready`` hears the
    base URL, then uvicorn serves on that very socket. ``log_requests`` logs each request
    (``sandbox serve -v``); ``use_colors`` False keeps uvicorn's log plain (``--no-color``).
    """
    import uvicorn

    app = create_app(state_path=state_path, latency_ms=latency_ms, legacy_delete=legacy_delete)
    try:
        sock = listening_socket(host, port)
    except OSError as exc:
        app.state.sandbox.store.close()
        raise CannotListen(host, port, exc) from exc
    try:
        config = _config(app, "info" if log_requests else "warning",
                         access_log=log_requests, use_colors=use_colors)
        assert isinstance(config, uvicorn.Config)
        shown = f"[{host}]" if ":" in host else host
        if on_ready is not None:
            on_ready(f"http://{shown}:{sock.getsockname()[1]}")
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


@contextmanager
def serve_in_thread(app: Starlette, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a background thread; yields the base URL."""
    import uvicorn

    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only
    # then, and without it every response stalls ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    config = _config(app, "error")
    assert isinstance(config, uvicorn.Config)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        else:
            raise RuntimeError("the sandbox server did not start")
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
