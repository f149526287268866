"""Requests per second the sandbox serves, in-process and over HTTP (run by hand).

    .venv/bin/python bench/sandbox_rps.py [--seconds 2]

Measures reads (GET one event, GET the list of 50 events, GET a user property) and writes
(POST a new event, PUT an existing one) with 4 concurrent clients, in-process through
``httpx.ASGITransport`` and over loopback HTTP (server in a thread of this process, and
``serve()`` in its own process). The cost limits are raised out of the way: this measures
the emulator, not Amplitude's budget (7,200 per hour is 2 GETs per second).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import httpx

from tapsync.sandbox import DEFAULT_AMPLITUDE_CREDENTIALS, create_app, serve_in_thread

T = "/api/2/taxonomy"
Call = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


def reads(client: httpx.AsyncClient, i: int) -> Awaitable[httpx.Response]:
    choice = i % 3
    if choice == 0:
        return client.get(f"{T}/event/Event%20{i % 50}")
    if choice == 1:
        return client.get(f"{T}/event")
    return client.get(f"{T}/user-property/device_id")


def writes(client: httpx.AsyncClient, i: int) -> Awaitable[httpx.Response]:
    if i % 2 == 0:
        return client.post(f"{T}/event", data={"event_type": f"W{i}"})
    return client.put(f"{T}/event/Event%20{i % 50}", data={"description": f"d{i}"})


async def measure(client: httpx.AsyncClient, call: Call, seconds: float, workers: int) -> float:
    counter = itertools.count()
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            response = await call(client, next(counter))
            assert response.status_code == 200, response.text
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return done / (time.perf_counter() - started)


async def prepare(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/reset")
    limits = {"concurrent_cost": 10**6, "hourly_cost": 10**9}
    (await client.post("/_sandbox/settings", json=limits)).raise_for_status()
    events = [{"event_type": f"Event {i}", "status": "live"} for i in range(50)]
    response = await client.post("/_sandbox/fixtures", json={"amplitude": {"event_types": events}})
    response.raise_for_status()


@contextmanager
def serve_in_subprocess() -> Iterator[str]:
    """``serve()`` — what ``tapsync sandbox serve`` runs — in its own process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from tapsync.sandbox import serve; serve('127.0.0.1', {port}, None, 0, False)"
    process = subprocess.Popen([sys.executable, "-c", code])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/_sandbox/stats")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


async def main(seconds: float) -> None:
    auth = DEFAULT_AMPLITUDE_CREDENTIALS
    for where in ("in-process", "HTTP, server thread", "HTTP, serve() process"):
        for name, call in (("reads", reads), ("writes", writes)):
            app = create_app()
            if where == "in-process":
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://s",
                                             auth=auth) as client:
                    await prepare(client)
                    rps = await measure(client, call, seconds, 4)
            else:
                server = serve_in_thread(app) if "thread" in where else serve_in_subprocess()
                with server as base:
                    async with httpx.AsyncClient(base_url=base, auth=auth) as client:
                        await prepare(client)
                        rps = await measure(client, call, seconds, 4)
            print(f"sandbox {where:22} {name:6}: {rps:8.0f} requests/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    asyncio.run(main(parser.parse_args().seconds))
