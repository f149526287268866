"""Shared fixtures: an in-process sandbox behind ``httpx.ASGITransport``, and a real one
on a loopback socket. Async tests run on anyio's pytest plugin (asyncio backend)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sandbox_support import AUTH
from starlette.applications import Starlette

from tapsync.sandbox import ManualClock, create_app, serve_in_thread


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
def app(clock: ManualClock) -> Starlette:
    return create_app(clock=clock)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sandbox.test", auth=AUTH
    ) as c:
        yield c


@pytest.fixture
def live_server(app: Starlette) -> Iterator[str]:
    with serve_in_thread(app) as base_url:
        yield base_url
