"""Connect the real providers to a sandbox app in process (no sockets, real HTTP semantics)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.types import Send

from tapsync.config import Config, load_config
from tapsync.engine import SANDBOX_CREDENTIALS, Session, connect
from tapsync.http import asgi_transport


def config(tmp: Path, text: str = "version: 1\n") -> Config:
    path = tmp / "tapsync.yaml"
    if not path.exists():
        path.write_text(text, encoding="utf-8")
    return load_config(path, {})


@asynccontextmanager
async def session(app: Any, cfg: Config, names: tuple[str, ...] = ("amplitude",),
                  credentials: Mapping[str, Mapping[str, str]] = SANDBOX_CREDENTIALS
                  ) -> AsyncIterator[Session]:
    async with connect(cfg, names, credentials, transport=asgi_transport(app)) as s:
        yield s


async def send_json(send: Send, status: int, body: Any) -> None:
    """Answer an ASGI request with ``body`` as JSON (for middlewares that rewrite answers)."""
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
