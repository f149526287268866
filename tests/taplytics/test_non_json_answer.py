"""A Taplytics page that is not JSON (a proxy's or a maintenance page) is shown, briefly
and redacted, in the error: the user sees what came back instead of "expected JSON".

The sandbox always answers JSON, so the bad day is played by ``httpx.MockTransport``
behind the real client and provider, as tests/test_http.py does for the shared layer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tapsync import engine
from tapsync.config import load_config
from tapsync.errors import ProviderError

TOKEN = "tok-0123456789-secret"


def _read_experiments(tmp_path: Path, body: str) -> str:
    (tmp_path / "tapsync.yaml").write_text("version: 1\n", encoding="utf-8")
    cfg = load_config(tmp_path / "tapsync.yaml", {})

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=body, headers={"content-type": "text/html"})

    async def go() -> None:
        async with engine.connect(cfg, ["taplytics"], {"taplytics": {"api_token": TOKEN}},
                                  transport=httpx.MockTransport(answer)) as session:
            await session.providers["taplytics"].read_all(("experiment",))

    with pytest.raises(ProviderError) as caught:
        asyncio.run(go())
    return str(caught.value)


def test_a_non_json_page_is_shown_shortened_and_redacted(tmp_path: Path) -> None:
    page = ("<html><body><h1>Down for maintenance</h1>\n<p>token " + TOKEN
            + "</p>" + "x" * 500 + "</body></html>")
    message = _read_experiments(tmp_path, page)
    assert message.startswith("taplytics GET /v2/experiments: HTTP 200: expected JSON, got "
                              "'<html><body><h1>Down for maintenance</h1> <p>token ***</p>")
    assert TOKEN not in message
    assert message.endswith("…'") and len(message) < 250


def test_an_empty_answer_says_so(tmp_path: Path) -> None:
    assert _read_experiments(tmp_path, "").endswith("expected JSON, got an empty body")
