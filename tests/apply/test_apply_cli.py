"""The apply side through the real CLI, against a sandbox served on a real socket
(``TAPSYNC_AMPLITUDE_BASE_URL`` + credentials from the environment, as in production):
stale saved plans are refused with nothing written, and no secret ever reaches stdout,
stderr, a journal or a saved plan — not even when the server echoes it back."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from starlette.types import Message, Receive, Scope, Send

from tapsync.cli import cli
from tapsync.sandbox import create_app
from tapsync.sandbox.app import DEFAULT_AMPLITUDE_CREDENTIALS, serve_in_thread
from tests.apply.support import Sandbox, writes
from tests.sandboxed import send_json

pytestmark = pytest.mark.socket

MANIFEST = """\
amplitude:
  event_types:
    - name: Play Song
      description: new words
      properties:
        - name: "dur/1 %"
          type: number
    - name: "Fresh “one”"
  user_properties:
    - name: plan
      type: string
"""
SANDBOX = DEFAULT_AMPLITUDE_CREDENTIALS
LIVE = {"event_types": [{"event_type": "Play Song", "description": "old words"}]}


def write_workspace(root: Path, manifest: str = MANIFEST) -> Path:
    (root / "manifests").mkdir(parents=True, exist_ok=True)
    (root / "tapsync.yaml").write_text("version: 1\nmanifests: [manifests/]\n", encoding="utf-8")
    (root / "manifests" / "a.yaml").write_text(manifest, encoding="utf-8")
    return root


def tapsync(root: Path, url: str, creds: tuple[str, str], *args: str) -> tuple[int, str, str]:
    env = {"TAPSYNC_CONFIG": str(root / "tapsync.yaml"), "TAPSYNC_AMPLITUDE_BASE_URL": url,
           "AMPLITUDE_API_KEY": creds[0], "AMPLITUDE_SECRET_KEY": creds[1], "NO_COLOR": "1"}
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, str]]:
    app = create_app()
    with serve_in_thread(app) as url:
        yield Sandbox(app, url=url), url


def other_client_put(url: str, path: str, form: dict[str, str]) -> None:
    """Someone else edits the project (the UI, another pipeline) between plan and apply."""
    response = httpx.put(url + "/api/2/taxonomy" + path, data=form,
                         auth=DEFAULT_AMPLITUDE_CREDENTIALS)
    assert response.status_code == 200, response.text


def other_client_post(url: str, path: str, form: dict[str, str]) -> None:
    response = httpx.post(url + "/api/2/taxonomy" + path, data=form,
                          auth=DEFAULT_AMPLITUDE_CREDENTIALS)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("edit", ["changed", "created", "deleted"])
def test_stale_plan_is_refused_and_nothing_is_written(tmp_path: Path,
                                                      served: tuple[Sandbox, str],
                                                      edit: str) -> None:
    sandbox, url = served
    ws = write_workspace(tmp_path)
    asyncio.run(sandbox.fixtures(LIVE))
    code, _, err = tapsync(ws, url, SANDBOX, "plan", "--out", str(ws / "p.json"))
    assert code == 0, err
    if edit == "changed":
        other_client_put(url, "/event/Play%20Song", {"description": "someone else's"})
        address = 'amplitude.event_type["Play Song"]'
    elif edit == "created":
        other_client_post(url, "/event", {"event_type": "Fresh “one”", "description": "x"})
        address = 'amplitude.event_type["Fresh “one”"]'
    else:
        httpx.delete(url + "/api/2/taxonomy/event/Play%20Song",
                     auth=DEFAULT_AMPLITUDE_CREDENTIALS).raise_for_status()
        address = 'amplitude.event_type["Play Song"]'
    asyncio.run(sandbox.admin("DELETE", "/stats"))

    code, _, err = tapsync(ws, url, SANDBOX, "apply", str(ws / "p.json"))
    stats = asyncio.run(sandbox.stats())
    assert code == 1
    assert "stale plan" in err and address in err
    assert writes(stats) == 0, stats["endpoints"]   # measured by the sandbox: no write at all


def test_fresh_saved_plan_applies_and_converges(tmp_path: Path,
                                                served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    ws = write_workspace(tmp_path)
    asyncio.run(sandbox.fixtures(LIVE))
    code, _, err = tapsync(ws, url, SANDBOX, "plan", "--out", str(ws / "p.json"))
    assert code == 0, err
    asyncio.run(sandbox.admin("DELETE", "/stats"))
    code, out, err = tapsync(ws, url, SANDBOX, "apply", str(ws / "p.json"))
    assert code == 0, err
    assert "Converged" in err
    assert writes(asyncio.run(sandbox.stats())) == 4   # 1 update + 3 creates, each once
    code, out, err = tapsync(ws, url, DEFAULT_AMPLITUDE_CREDENTIALS, "plan",
                             "--detailed-exitcode")
    assert code == 0, out


# ------------------------------------------------------------------------ no secret

API_KEY = "ak-prod-7Hq2Lw9RtX5mB3nc"
SECRET = "sk_live_9fJ2kQ7xZ3pL8vN4rT6w"
WRONG_SECRET = "sk_live_Wr0ngWr0ngWr0ng77"


class Echoing:
    """A server on a bad day that quotes the request's credentials back in its errors:
    403s say which key/secret was refused; POST /user-property answers 500 with them."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        auth = dict(scope["headers"]).get(b"authorization", b"").decode()
        decoded = base64.b64decode(auth.partition(" ")[2] or "").decode(errors="replace")
        echo = f"refused {auth} ({decoded}); key={decoded.partition(':')[0]} " \
               f"secret={decoded.partition(':')[2]}"
        if scope["method"] == "POST" and scope["path"].endswith("/user-property"):
            await send_json(send, 500, {"success": False, "errors": [{"message": echo}]})
            return
        started: dict[str, Any] = {}

        async def rewrite(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 403:
                started["403"] = True
                return
            if message["type"] == "http.response.body" and started.get("403"):
                await send_json(send, 403, {"error": {"metadata": {"details": echo}}})
                return
            await send(message)

        await self.app(scope, receive, rewrite)


def forms_of(*secrets: str) -> list[str]:
    out = []
    for s in secrets:
        out += [s, base64.b64encode(f"{API_KEY}:{s}".encode()).decode()]
    return out


def test_no_secret_in_any_output_journal_or_plan(tmp_path: Path) -> None:
    app = create_app(amplitude_credentials=(API_KEY, SECRET))
    ws = write_workspace(tmp_path)
    outputs: list[str] = []
    with serve_in_thread(Echoing(app)) as url:   # type: ignore[arg-type]
        good = (API_KEY, SECRET)
        code, out, err = tapsync(ws, url, good, "plan", "-v", "--out", str(ws / "p.json"))
        outputs += [out, err]
        assert code == 0, err
        code, out, err = tapsync(ws, url, good, "plan", "--format", "json")
        outputs += [out, err]
        assert code == 0, err
        # apply: the user property's POST fails with the secret in the server's words
        code, out, err = tapsync(ws, url, good, "apply", "-v", str(ws / "p.json"))
        outputs += [out, err]
        assert code == 1 and 'amplitude.user_property["plan"]' in out, (out, err)
        assert "Apply complete: 3 applied, 1 failed" in out
        # a 403 that quotes the refused credentials back
        code, out, err = tapsync(ws, url, (API_KEY, WRONG_SECRET), "apply", "-v",
                                 "--auto-approve")
        outputs += [out, err]
        assert code == 1 and "403" in err and "***" in err, err
        code, out, err = tapsync(ws, url, (API_KEY, WRONG_SECRET), "plan")
        outputs += [out, err]
        assert code == 1
    files = [p for p in (ws / ".tapsync").rglob("*") if p.is_file()] + [ws / "p.json"]
    journals = [p for p in files if "journal" in p.parts]
    assert journals, "the failing apply wrote no journal"
    assert any("uncertain" in p.read_text(encoding="utf-8") for p in journals)
    texts = outputs + [p.read_text(encoding="utf-8") for p in files]
    assert any("***" in t for t in texts)             # the echo did reach us, redacted
    for text in texts:
        for form in [*forms_of(SECRET, WRONG_SECRET), API_KEY]:
            assert form not in text


# ------------------------------------------------------------------ stale check reads

RESTORE = """\
amplitude:
  event_types:
    - name: Play Song
      description: old words
      properties:
""" + "".join(f"        - {{name: p{i}, type: number}}\n" for i in range(10))


def test_a_saved_plan_restoring_a_deleted_event_is_not_taken_for_stale(
        tmp_path: Path, served: tuple[Sandbox, str]) -> None:
    """The stale check reads objects as the plan did (lists, deleted ones included): a
    deleted event the plan restores still matches its fingerprint; and ten property
    creates under it are checked with a few list calls, not one GET each."""
    sandbox, url = served
    ws = write_workspace(tmp_path, RESTORE)
    asyncio.run(sandbox.fixtures({"ingest": [{"event_type": "Play Song"}], **LIVE}))
    httpx.delete(url + "/api/2/taxonomy/event/Play%20Song",
                 auth=DEFAULT_AMPLITUDE_CREDENTIALS).raise_for_status()
    code, out, err = tapsync(ws, url, SANDBOX, "plan", "--out", str(ws / "p.json"))
    assert code == 0, err
    assert "1 to restore" in out and "10 to create" in out, out
    asyncio.run(sandbox.admin("DELETE", "/stats"))

    code, out, err = tapsync(ws, url, SANDBOX, "apply", str(ws / "p.json"))
    stats = asyncio.run(sandbox.stats())
    assert code == 0, err
    assert "Converged" in err
    reads = {label: e["count"] for label, e in stats["endpoints"].items()
             if label.startswith("GET")}
    # the stale check: the event list (the event is deleted, so it has no property list
    # to read); the convergence check: the event list and the event's property list.
    # Never a GET per object (that would be 11 before the writes).
    assert reads == {"GET /api/2/taxonomy/event": 2,
                     "GET /api/2/taxonomy/event-property": 1}, reads
