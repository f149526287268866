"""Helpers for the sandbox tests (a uniquely named module: ``conftest`` is ambiguous when
several directories have one)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tapsync.sandbox import DEFAULT_AMPLITUDE_CREDENTIALS

AUTH = DEFAULT_AMPLITUDE_CREDENTIALS
TAXONOMY = "/api/2/taxonomy"


async def load(client: httpx.AsyncClient, fixture: dict[str, object]) -> None:
    """Plant Amplitude objects through ``POST /_sandbox/fixtures``."""
    response = await client.post("/_sandbox/fixtures", json={"amplitude": fixture})
    assert response.status_code == 200, response.text


def free_port() -> int:
    """A loopback port nobody listens on right now (bound, read, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tapsync_command() -> list[str]:
    """The installed ``tapsync`` console script, else the same entry point via Python."""
    script = Path(sys.executable).with_name("tapsync")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from tapsync.cli import run; run()"]


@contextmanager
def cli_server(*args: str, port: int | None = None, cwd: Path | None = None
               ) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``tapsync sandbox serve --host 127.0.0.1 --port N ARGS`` in a subprocess, ready.

    Ready means ``/_sandbox/settings`` answers (polled a bounded number of times; a server
    that dies first fails with its stderr). Stopped with SIGTERM, as a service manager
    would; the caller reads ``process.returncode`` after the block.
    """
    port = port or free_port()
    process = subprocess.Popen(
        [*tapsync_command(), "sandbox", "serve", "--host", "127.0.0.1", "--port", str(port),
         *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            if process.poll() is not None:
                _, err = process.communicate()
                raise AssertionError(f"tapsync sandbox serve exited {process.returncode}: {err}")
            try:
                httpx.get(f"{base}/_sandbox/settings", timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise AssertionError("tapsync sandbox serve did not answer in time")
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
