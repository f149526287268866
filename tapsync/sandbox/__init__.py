"""The sandbox: faithful emulators of the services tapsync manages, in one ASGI app.

Used in-process through ``httpx.ASGITransport(app=create_app())`` (by ``--sandbox`` and
by the tests) and over HTTP by ``tapsync sandbox serve``. The tool's core never imports
this package, and this package imports nothing of the core: it must answer what the real
services answer, not what the tool expects. See README.md for the admin endpoints.
"""

from tapsync.sandbox.app import (
    DEFAULT_AMPLITUDE_CREDENTIALS,
    create_app,
    load_fixture_file,
    serve,
    serve_in_thread,
)
from tapsync.sandbox.clock import Clock, ManualClock, SystemClock
from tapsync.sandbox.faults import ConnectionDropped, FaultRule

__all__ = [
    "DEFAULT_AMPLITUDE_CREDENTIALS",
    "Clock",
    "ConnectionDropped",
    "FaultRule",
    "ManualClock",
    "SystemClock",
    "create_app",
    "load_fixture_file",
    "serve",
    "serve_in_thread",
]
