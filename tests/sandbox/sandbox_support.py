"""Helpers for the sandbox tests (a uniquely named module: ``conftest`` is ambiguous when
several directories have one)."""

from __future__ import annotations

import httpx

from tapsync.sandbox import DEFAULT_AMPLITUDE_CREDENTIALS

AUTH = DEFAULT_AMPLITUDE_CREDENTIALS
TAXONOMY = "/api/2/taxonomy"


async def load(client: httpx.AsyncClient, fixture: dict[str, object]) -> None:
    """Plant Amplitude objects through ``POST /_sandbox/fixtures``."""
    response = await client.post("/_sandbox/fixtures", json={"amplitude": fixture})
    assert response.status_code == 200, response.text
