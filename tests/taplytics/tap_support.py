"""Helpers shared by the Taplytics tests."""

from __future__ import annotations

from typing import Any

import httpx

TOKEN = "sandbox-token"
HEADER = {"x-access-token": TOKEN}

#: the seed's own "Send a New Push Notification" body (001, POST /v2/push), verbatim
SEED_PUSH: dict[str, Any] = {
    "name": "Test",
    "filters": [
        {"type": "an_version", "comparator": ">=", "values": ["5.0.0"]},
        {"type": "ios_version", "comparator": "!=", "values": ["8.0.1"]},
        {"type": "country", "comparator": "=", "values": ["Canada", "US"]},
        {"type": "custom_data", "comparator": ">=", "values": [16], "dataKey": "dollars spent"},
    ],
    "notification": {"alert": "Congratulations, you've won a new VCR!"},
    "image": {"url": "https://images.g2crowd.com/uploads/product/image/social_landscape/"
                     "social_landscape_1489698170/taplytics.jpg", "tl_cdn": True},
    "filter_duplicate_content": True,
    "production": False,
    "is_silent": False,
}


async def load(client: httpx.AsyncClient, **fixture: Any) -> dict[str, Any]:
    """Plant Taplytics objects through ``POST /_sandbox/fixtures``."""
    response = await client.post("/_sandbox/fixtures", json={"taplytics": fixture})
    assert response.status_code == 200, response.text
    loaded: dict[str, Any] = response.json()["loaded"]["taplytics"]
    return loaded


async def stored(client: httpx.AsyncClient, kind: str) -> list[dict[str, Any]]:
    """What the sandbox itself holds (the witness, not the API's answer)."""
    state = (await client.get("/_sandbox/state")).json()
    return list(state.get("taplytics", {}).get(kind, {}).values())
