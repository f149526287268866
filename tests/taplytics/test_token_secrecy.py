"""The Taplytics API token never reaches output, a journal, a saved plan or an exception.

The Amplitude equivalent is ``tests/apply/test_apply_cli.py::test_no_secret_in_any_output_
journal_or_plan``; this one follows it for Taplytics, with a hostile server in front of the
real sandbox (configured to accept a distinctive token) that quotes the token back
everywhere it can: in 401 bodies, in the 500 that answers a push, and in every page link
(``?api_token=…``, the query-string form the seed's own ``Link`` examples use), which the
provider follows verbatim, so the token also travels in request URLs. The provider itself
only ever sends the token in the ``x-access-token`` header.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus

import httpx
import pytest
from click.testing import CliRunner
from starlette.types import Message, Receive, Scope, Send

from tapsync.changes import Action
from tapsync.cli import cli
from tapsync.engine import connect, make_plan, read_live
from tapsync.errors import ApiError
from tapsync.executor import Executor, Journal
from tapsync.http import asgi_transport
from tapsync.model import Resource, ResourceKey, State
from tapsync.render import render_plan
from tapsync.sandbox import create_app
from tapsync.sandbox.app import serve_in_thread
from tests.sandboxed import config, send_json
from tests.taplytics.tap_support import load

TOKEN = "tl-live-Zq8vW3nK5rX2pL7m+/="      # '+', '/', '=' change under URL-encoding
WRONG = "tl-live-Wr0ngWr0ngWr0ng9+/="
MANIFEST = """\
taplytics:
  experiments:
    - name: Checkout colour
      status: paused
      variations: [{name: Green, distributionPercent: 70}]
  push_campaigns:
    - name: winter-sale-2099
      notification: {alert: "20% off"}
      send_to_all_users: true
      schedule: {time: "2099-12-05T15:00:00Z"}
  users:
    - user_id: qa-1
      email: qa-1@example.com
"""
EXPERIMENTS = [{"name": "Checkout colour", "status": "active",
                "variations": [{"name": "Green", "distributionPercent": 50}]}]


def forms(*tokens: str) -> list[str]:
    return [f for t in tokens for f in (t, quote(t, safe=""), quote(t), quote_plus(t))]


class Echoing:
    """A server on a bad day in front of the sandbox. It quotes the token it was sent in
    every 401, answers ``POST /v2/push`` with a 500 quoting it, and writes it into every
    page link, as ``api_token=…``, including a ``next`` link to a (last, empty) page."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.urls: list[str] = []    # every /v2/ request's path and query, as received

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v2/"):
            await self.app(scope, receive, send)
            return
        query = scope["query_string"].decode()
        self.urls.append(f"{scope['path']}?{query}")
        token = (parse_qs(query).get("api_token") or [""])[0] \
            or dict(scope["headers"]).get(b"x-access-token", b"").decode()
        echo = f"token {token} (api_token={quote(token, safe='')}) refused"
        if scope["method"] == "POST" and scope["path"] == "/v2/push":
            await send_json(send, 500, {"error": f"push failed for {echo}"})
            return
        await self.app(scope, receive, self._rewrite(send, token, echo, scope))

    def _rewrite(self, send: Send, token: str, echo: str, scope: Scope) -> Send:
        status: dict[str, int] = {}

        async def rewritten(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                if message["status"] == 401:
                    return
                message = {**message, "headers": [
                    (k, _with_token(v, token, scope) if k.lower() == b"link" else v)
                    for k, v in message["headers"]]}
            elif message["type"] == "http.response.body" and status.get("code") == 401:
                await send_json(send, 401, {"error": echo})
                return
            await send(message)

        return rewritten


def _with_token(link: bytes, token: str, scope: Scope) -> bytes:
    """Every link URL with ``api_token`` added; on a first page, a ``next`` link too."""
    text = link.decode().rstrip('"')
    if "api_token=" not in text:
        text = text.replace(">;", f"&api_token={quote(token, safe='')}>;")
    if "rel='next'" not in text and "page" not in parse_qs(scope["query_string"].decode()):
        url = f"http://{_host(scope)}{scope['path']}?page=2&per_page=100&api_token=" \
              f"{quote(token, safe='')}"
        text += f", <{url}>; rel='next'"
    return (text + '"').encode()


def _host(scope: Scope) -> str:
    return dict(scope["headers"]).get(b"host", b"").decode()


def sandbox() -> Echoing:
    app = create_app()
    app.state.sandbox.credentials["taplytics"] = TOKEN
    return Echoing(app)


def assert_clean(texts: list[str]) -> None:
    for text in texts:
        for form in forms(TOKEN, WRONG):
            assert form not in text, f"{form!r} leaked in:\n{text}"


# ------------------------------------------------------------------------ the CLI

@pytest.mark.socket
def test_no_taplytics_token_in_any_output_journal_or_plan(
        workspace: Callable[..., Path]) -> None:
    ws = workspace({"manifests/t.yaml": MANIFEST})
    echoing = sandbox()
    outputs: list[str] = []
    with serve_in_thread(echoing) as url:   # type: ignore[arg-type]
        planted = httpx.post(f"{url}/_sandbox/fixtures",
                             json={"taplytics": {"experiments": EXPERIMENTS}})
        assert planted.status_code == 200, planted.text

        def tap(token: str, *args: str) -> tuple[int, str, str]:
            env = {"TAPSYNC_CONFIG": str(ws / "tapsync.yaml"), "NO_COLOR": "1",
                   "TAPSYNC_TAPLYTICS_BASE_URL": url, "TAPLYTICS_API_TOKEN": token}
            result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
            outputs.extend([result.stdout, result.stderr])
            return result.exit_code, result.stdout, result.stderr

        code, out, err = tap(TOKEN, "plan", "-vv", "--out", str(ws / "p.json"))
        assert code == 0, err
        assert 'taplytics.push_campaign["winter-sale-2099"]' in out
        assert 'change the variations: set "Green" distributionPercent to 70' in out
        assert tap(TOKEN, "plan", "--format", "json")[0] == 0
        assert tap(TOKEN, "drift", "-v")[0] == 2
        assert tap(TOKEN, "drift", "--format", "json")[0] == 2
        # the push's POST fails with the token in the server's words
        code, out, err = tap(TOKEN, "apply", "-vv", "--allow-send", str(ws / "p.json"))
        assert code == 1 and 'taplytics.push_campaign["winter-sale-2099"]' in out + err
        # a 401 that quotes the refused token back, from every command
        for args in (("plan",), ("plan", "--format", "json"), ("drift", "--format", "json"),
                     ("apply", "-vv", "--auto-approve", "--allow-send")):
            code, out, err = tap(WRONG, *args)
            assert code == 1 and "401" in err and "***" in err, (args, out, err)
    # the hostile links were followed: the token did travel in a query string
    assert any("api_token=" in u for u in echoing.urls)
    files = [p for p in (ws / ".tapsync").rglob("*") if p.is_file()] + [ws / "p.json"]
    journals = [p for p in files if "journal" in p.parts]
    assert journals, "the failing apply wrote no journal"
    texts = outputs + [p.read_text(encoding="utf-8") for p in files]
    assert any("***" in t for t in texts)             # the echoes did reach us, redacted
    assert_clean(texts)


# ------------------------------------------------------------------ in process

T = "taplytics"
DESIRED = State([
    Resource(ResourceKey(T, "experiment", ("Checkout colour",)), {"status": "paused"}),
    Resource(ResourceKey(T, "push_campaign", ("winter-sale-2099",)), {
        "notification": {"alert": "x"}, "send_to_all_users": True,
        "schedule": {"time": "2099-12-05T15:00:00Z"}}),
])


async def no_wait(_seconds: float) -> None:
    """The executor's pause before writing again: skipped, nothing here is timed."""


async def planted() -> Echoing:
    echoing = sandbox()
    async with httpx.AsyncClient(transport=asgi_transport(echoing.app),
                                 base_url="http://s") as raw:
        await load(raw, experiments=EXPERIMENTS)
    return echoing


@pytest.mark.anyio
async def test_no_taplytics_token_in_a_refused_reads_exception(tmp_path: Path) -> None:
    echoing = await planted()
    async with connect(config(tmp_path), (T,), {T: {"api_token": WRONG}},
                       transport=asgi_transport(echoing)) as s:
        with pytest.raises(ApiError) as info:
            await read_live(s, DESIRED)
        client = repr(s.clients[T])
    error = info.value
    assert error.status == 401 and "***" in error.message
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    assert_clean([str(error), repr(error), str(error.args), error.message, error.path, client])


@pytest.mark.anyio
async def test_no_taplytics_token_in_results_renderings_or_the_journal(tmp_path: Path) -> None:
    echoing = await planted()
    texts: list[str] = []
    async with connect(config(tmp_path), (T,), {T: {"api_token": TOKEN}},
                       transport=asgi_transport(echoing)) as s:
        plan = make_plan(s, DESIRED, await read_live(s, DESIRED))
        assert {c.action for c in plan.changes} == {Action.SEND, Action.MANUAL}
        journal = Journal(tmp_path / "journal")
        try:
            result = await Executor(s.providers, journal=journal, sleep=no_wait).apply(plan)
        finally:
            journal.close()
        texts.append(repr(s.clients[T]))
    failed = [r for r in result.results if r.status == "failed"]
    assert [r.change.key.kind for r in failed] == ["push_campaign"]
    texts += [str(r.message) for r in result.results]
    journals = [p.read_text(encoding="utf-8") for p in (tmp_path / "journal").iterdir()]
    assert any("uncertain" in j and "***" in j for j in journals)  # the echo, redacted
    texts += journals
    for fmt in ("text", "json", "markdown"):
        out = io.StringIO()
        render_plan(fmt, plan, out)
        texts.append(out.getvalue())
    # the reads followed the hostile page links: the token travelled in a query string
    assert any("api_token=" in u for u in echoing.urls)
    assert_clean(texts)
