"""Helpers for the CI-flow tests: run the real CLI in process, and reach into the sandbox
behind its back (out-of-band edits, ingestion) the way a person in the dashboard would."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tapsync.cli import main
from tapsync.sandbox import create_app

AUTH = ("sandbox-api-key", "sandbox-secret-key")
TAXONOMY = "/api/2/taxonomy"

MANIFEST = """\
amplitude:
  categories:
    - name: Media
  event_types:
    - name: Play Song
      category: Media
      description: A song started playing
      properties:
        - name: duration
          type: number
          is_required: true
    - name: Log In
      description: A returning user signed in
  user_properties:
    - name: plan
      type: enum
      enum_values: [free, pro]
"""


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def tapsync(ws: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``tapsync ARGS`` in workspace ``ws`` through :func:`tapsync.cli.main` (the real exit
    codes); returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    env = {**(env or {}), "NO_COLOR": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with _cwd(ws), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, out.getvalue(), err.getvalue()


def sandbox_calls(ws: Path, *calls: tuple[str, str, dict[str, Any]]) -> list[Any]:
    """Make HTTP calls to the sandbox that ``--sandbox`` uses in ``ws`` (its SQLite state):
    ``("PUT", "/api/2/taxonomy/event/Play%20Song", {"data": {...}})``. Taxonomy calls
    carry the sandbox's credentials; ``/_sandbox/`` calls need none."""
    async def go() -> list[Any]:
        app = create_app(state_path=ws / ".tapsync" / "sandbox.db")
        transport = httpx.ASGITransport(app=app)
        out: list[Any] = []
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
            for method, path, kw in calls:
                r = await c.request(method, path, auth=AUTH, **kw)
                out.append(r.json())
        return out

    (ws / ".tapsync").mkdir(exist_ok=True)
    return asyncio.run(go())


def load_fixtures(ws: Path, amplitude: dict[str, Any]) -> None:
    (answer,) = sandbox_calls(ws, ("POST", "/_sandbox/fixtures",
                                   {"content": json.dumps({"amplitude": amplitude})}))
    assert answer["ok"], answer


def write_workspace(ws: Path, manifest: str = MANIFEST, config: str | None = None) -> Path:
    (ws / "manifests").mkdir(parents=True, exist_ok=True)
    (ws / "tapsync.yaml").write_text(config or "version: 1\nmanifests: [manifests/]\n",
                                     encoding="utf-8")
    (ws / "manifests" / "amplitude.yaml").write_text(manifest, encoding="utf-8")
    return ws
