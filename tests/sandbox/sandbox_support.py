"""Helpers for the sandbox tests (a uniquely named module: ``conftest`` is ambiguous when
several directories have one)."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tapsync.sandbox import DEFAULT_AMPLITUDE_CREDENTIALS

AUTH = DEFAULT_AMPLITUDE_CREDENTIALS
TAXONOMY = "/api/2/taxonomy"


class GatedSleep:
    """The sandbox's sleep, held until the test lets it go: what it was asked to wait is
    recorded, and the request is provably parked inside it while the test looks."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.entered.set()
        await self.release.wait()

    async def parked(self, count: int, *requests: asyncio.Future[Any]) -> None:
        """Return once ``count`` waits have begun; a request answered meanwhile (it never
        waited) fails the test at once instead of hanging it."""
        while len(self.asked) < count:
            self.entered.clear()
            waiter = asyncio.ensure_future(self.entered.wait())
            await asyncio.wait([waiter, *requests], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            finished = [r for r in requests if r.done()]
            assert not finished, f"answered without waiting: {finished[0].result()!r}"


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
