"""The httpx layer: what each failure means, how it is retried, and that secrets never leak.

Services are played by ``httpx.MockTransport`` handlers; sleeps are recorded, not slept.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json as jsonlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from tapsync.budget import STOP, Budget, ManualClock
from tapsync.errors import (
    ApiError,
    ConfigError,
    Interrupted,
    ProviderError,
    UncertainWrite,
)
from tapsync.http import (
    ApiClient,
    asgi_transport,
    error_message,
    make_client,
    quote_segment,
    redact,
    retry_after,
)

SECRET = "s3cr3t-KEY"
OTHER = "p@ss/w0rd+="
BASE = "https://amplitude.example"
Handler = Callable[[httpx.Request], httpx.Response]


def amplitude_cost(method: str) -> int:
    return 1 if method == "GET" else 2


class RecordingLimiter:
    """Stands in for a Budget: records what was spent and every backoff asked for."""

    def __init__(self) -> None:
        self.spent: list[int] = []
        self.backoffs: list[float | None] = []

    def spend(self, cost: int) -> AbstractAsyncContextManager[None]:
        @asynccontextmanager
        async def held() -> Any:
            self.spent.append(cost)
            yield

        return held()

    def backoff(self, retry_after: float | None) -> None:
        self.backoffs.append(retry_after)

    async def interruptible(self, waiting: Awaitable[None]) -> None:
        await waiting


class Harness:
    def __init__(self, handler: Handler, *, limiter: Any = "recording", retries: int = 3,
                 base: str = BASE) -> None:
        self.limiter = RecordingLimiter() if limiter == "recording" else limiter
        self.sleeps: list[float] = []
        self.requests: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return handler(request)

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        client = make_client(base, auth=(SECRET, OTHER), transport=httpx.MockTransport(record))
        self.api = ApiClient("amplitude", client, limiter=self.limiter, cost=amplitude_cost,
                             secrets=[SECRET, OTHER], retries=retries, sleep=sleep,
                             rng=lambda: 0.5)

    def run(self, method: str, path: str = "/api/2/taxonomy/event", **kw: Any) -> httpx.Response:
        return asyncio.run(self.api.request(method, path, **kw))

    def fails(self, method: str, path: str = "/api/2/taxonomy/event",
              **kw: Any) -> ProviderError:
        with pytest.raises(ProviderError) as info:
            self.run(method, path, **kw)
        return info.value


def answers(*responses: httpx.Response | Exception) -> Handler:
    """A handler giving these answers in turn (the last one forever)."""
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle


def ok(body: Any = None) -> httpx.Response:
    return httpx.Response(200, json={"success": True} if body is None else body)


# --- base URLs ---------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "https://amplitude.com", "https://analytics.eu.amplitude.com/", "http://127.0.0.1:8000",
    "http://127.8.9.10", "http://[::1]:9000", "http://localhost:8080", "http://LOCALHOST",
])
def test_https_or_loopback_base_urls_are_accepted(url: str) -> None:
    asyncio.run(make_client(url).aclose())


@pytest.mark.parametrize(("url", "words"), [
    ("http://amplitude.com", "must use https://"),
    ("http://10.0.0.1:8000", "must use https://"),
    ("http://localhost.evil.com", "must use https://"),
    ("ftp://amplitude.com", "must use https://"),
    ("amplitude.com", "has no host"),
    (f"https://{SECRET}:{OTHER}@amplitude.com", "must not hold credentials"),
])
def test_insecure_base_urls_are_refused(url: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        make_client(url)
    assert SECRET not in str(info.value)


def test_an_in_process_transport_may_use_any_http_url_when_allowed() -> None:
    transport = httpx.MockTransport(lambda request: ok())
    with pytest.raises(ConfigError):
        make_client("http://sandbox.local", transport=transport)
    client = make_client("http://sandbox.local", transport=transport, allow_insecure=True)
    asyncio.run(client.aclose())


# --- paths -------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "segment"), [
    ("Play Song", "Play%20Song"),
    ("a/b", "a%2Fb"),
    ("what?#", "what%3F%23"),
    ("100%", "100%25"),
    ("gp:plan", "gp%3Aplan"),
    ("café ♫", "caf%C3%A9%20%E2%99%AB"),
])
def test_quote_segment_encodes_everything_that_would_change_the_path(
        name: str, segment: str) -> None:
    assert quote_segment(name) == segment
    harness = Harness(answers(ok()))
    harness.run("GET", f"/api/2/taxonomy/event/{quote_segment(name)}")
    assert harness.requests[0].url.raw_path.decode() == f"/api/2/taxonomy/event/{segment}"


def test_absolute_links_must_stay_on_the_base_origin() -> None:
    harness = Harness(answers(ok()))
    harness.run("GET", f"{BASE}/api/datasets/1/actions/?offset=100")
    error = harness.fails("GET", "https://elsewhere.example/api/?offset=100")
    assert "refusing to follow" in str(error)
    assert len(harness.requests) == 1


# --- retries -----------------------------------------------------------------------------

@pytest.mark.parametrize("status", [500, 502, 503, 504, 513])
def test_server_errors_on_get_are_retried_with_backoff(status: int) -> None:
    harness = Harness(answers(httpx.Response(status), httpx.Response(status), ok()))
    assert harness.run("GET").status_code == 200
    assert len(harness.requests) == 3
    assert harness.sleeps == [0.375, 0.75]  # base 0.5·2ⁿ, jittered into [½, 1]
    assert harness.api.stats.retries == 2
    assert (harness.api.stats.reads, harness.api.stats.cost) == (3, 3)
    assert harness.limiter.spent == [1, 1, 1]  # every attempt goes through the budget


def test_a_server_error_with_retry_after_is_honoured() -> None:
    harness = Harness(answers(httpx.Response(503, headers={"Retry-After": "12"}), ok()))
    harness.run("GET")
    assert harness.sleeps == [12.0]


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_retry_after_zero_on_a_server_error_still_backs_off(method: str) -> None:
    busy = httpx.Response(503, headers={"Retry-After": "0"})
    harness = Harness(answers(busy, busy, busy, ok()))
    harness.run(method)
    assert harness.sleeps == [0.375, 0.75, 1.5]  # our own backoff, not three at once


def test_get_gives_up_after_the_retries_with_the_service_message() -> None:
    body = {"success": False, "errors": [{"message": "database unavailable"}]}
    harness = Harness(answers(httpx.Response(503, json=body)), retries=2)
    error = harness.fails("GET")
    assert isinstance(error, ApiError) and not isinstance(error, UncertainWrite)
    assert error.status == 503
    assert "database unavailable (gave up after 3 attempts)" in str(error)
    assert len(harness.requests) == 3


@pytest.mark.parametrize("status", [500, 503, 513])
def test_a_server_error_on_post_is_an_uncertain_write_never_repeated(status: int) -> None:
    harness = Harness(answers(httpx.Response(status), ok()))
    error = harness.fails("POST", data={"event_type": "Play Song"})
    assert isinstance(error, UncertainWrite)
    assert f"HTTP {status}" in str(error) and "read before retrying" in str(error)
    assert len(harness.requests) == 1 and harness.sleeps == []


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_idempotent_writes_are_retried(method: str) -> None:
    harness = Harness(answers(httpx.Response(502), ok()))
    harness.run(method)
    assert len(harness.requests) == 2
    assert harness.api.stats.writes == 2 and harness.api.stats.cost == 4


def test_the_caller_may_declare_idempotency() -> None:
    harness = Harness(answers(httpx.Response(502), ok()))
    harness.run("POST", idempotent=True)
    assert len(harness.requests) == 2
    harness = Harness(answers(httpx.Response(502), ok()))
    assert isinstance(harness.fails("PUT", idempotent=False), UncertainWrite)


def test_a_timeout_on_post_is_uncertain_and_on_get_is_retried() -> None:
    timeout = httpx.ReadTimeout("timed out")
    harness = Harness(answers(timeout, ok()))
    error = harness.fails("POST")
    assert isinstance(error, UncertainWrite) and "ReadTimeout" in str(error)
    assert len(harness.requests) == 1
    harness = Harness(answers(timeout, httpx.RemoteProtocolError("reset"), ok()))
    assert harness.run("GET").status_code == 200
    assert len(harness.requests) == 3


def test_a_connection_that_never_opened_is_retried_even_for_post() -> None:
    harness = Harness(answers(httpx.ConnectError("refused"), ok()))
    harness.run("POST")
    assert len(harness.requests) == 2


def test_connection_failures_give_up_with_a_provider_error() -> None:
    harness = Harness(answers(httpx.ConnectError("refused")), retries=1)
    error = harness.fails("GET")
    assert type(error) is ProviderError
    assert "ConnectError: refused, gave up after 2 attempts" in str(error)


# --- 429 ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_429_backs_off_through_the_limiter_and_retries_any_method(method: str) -> None:
    throttled = httpx.Response(429, headers={"Retry-After": "7"},
                               json={"success": False, "errors": [{"message": "slow down"}]})
    harness = Harness(answers(throttled, ok()))
    assert harness.run(method).status_code == 200
    assert harness.limiter.backoffs == [7.0]
    assert harness.sleeps == []  # the limiter holds the retry back, not a private sleep
    assert harness.api.stats.throttled == 1 and harness.api.stats.retries == 1


def test_429_without_retry_after_asks_the_limiter_for_its_own_backoff() -> None:
    harness = Harness(answers(httpx.Response(429), httpx.Response(429), ok()))
    harness.run("GET")
    assert harness.limiter.backoffs == [None, None]


def test_429_without_a_limiter_sleeps_itself() -> None:
    harness = Harness(answers(httpx.Response(429, headers={"Retry-After": "3"}),
                              httpx.Response(429), ok()), limiter=None)
    harness.run("GET")
    assert harness.sleeps == [3.0, 0.75]


def test_persistent_429_gives_up_with_an_api_error() -> None:
    body = {"type": "throttled_error", "code": "throttled",
            "detail": "Request was throttled. Expected available in 59 seconds.", "attr": None}
    harness = Harness(answers(httpx.Response(429, json=body, headers={"Retry-After": "59"})),
                      retries=2)
    error = harness.fails("GET")
    assert isinstance(error, ApiError) and error.status == 429
    assert "Expected available in 59 seconds. (still throttled after 3 attempts)" in str(error)


def test_a_429_pauses_a_real_budget_in_virtual_time() -> None:
    clock = ManualClock()
    budget = Budget(concurrent=4, clock=clock, sleep=clock.sleep, rng=lambda: 0.0)
    sent_at: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock())
        if len(sent_at) == 1:
            return httpx.Response(429, headers={"Retry-After": "7"})
        return ok()

    async def main() -> None:
        client = make_client(BASE, transport=httpx.MockTransport(handle))
        api = ApiClient("amplitude", client, limiter=budget, cost=amplitude_cost)
        async with client:
            await api.request("GET", "/api/2/taxonomy/category")

    clock.run(main())
    assert sent_at == [0.0, 7.0]


def test_ctrl_c_cuts_a_retry_after_pause_short_and_sends_nothing_more() -> None:
    # A read answered 503 + Retry-After: 3600 (say, the reconcile read after an uncertain
    # write) must not keep a stopped apply waiting the hour: the pause ends at Ctrl-C and
    # the retry is refused at admission.
    clock = ManualClock()
    budget = Budget(concurrent=4, clock=clock, sleep=clock.sleep)
    sent_at: list[float] = []
    outcome: list[tuple[float, BaseException]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock())
        return httpx.Response(503, headers={"Retry-After": "3600"})

    async def main() -> None:
        stop = asyncio.Event()
        STOP.set(stop)   # as the executor does for the calls of an apply
        client = make_client(BASE, transport=httpx.MockTransport(handle))
        api = ApiClient("amplitude", client, limiter=budget, cost=amplitude_cost,
                        sleep=clock.sleep)
        asyncio.get_running_loop().call_later(10, stop.set)   # Ctrl-C at 10 s
        async with client:
            with pytest.raises(Interrupted) as info:
                await api.request("GET", "/api/2/taxonomy/event")
        outcome.append((clock(), info.value))

    clock.run(main())
    assert clock.sleeps == [3600.0]                   # the pause that was asked for …
    assert sent_at == [0.0]                           # … yet no retry was sent
    assert outcome[0][0] == 10.0                      # and it ended at Ctrl-C
    assert "interrupted before this call was sent" in str(outcome[0][1])


def test_concurrent_calls_never_exceed_the_concurrent_cost_limit() -> None:
    clock = ManualClock()
    budget = Budget(concurrent=4, clock=clock, sleep=clock.sleep)
    load = {"now": 0, "peak": 0}

    async def handle(request: httpx.Request) -> httpx.Response:
        cost = amplitude_cost(request.method)
        load["now"] += cost
        load["peak"] = max(load["peak"], load["now"])
        await asyncio.sleep(0.25)
        load["now"] -= cost
        return ok()

    async def main() -> None:
        client = make_client(BASE, transport=httpx.MockTransport(handle))
        api = ApiClient("amplitude", client, limiter=budget, cost=amplitude_cost)
        async with client:
            await asyncio.gather(*(api.request("POST" if i % 3 else "GET", f"/e/{i}")
                                   for i in range(30)))
        assert api.stats.cost == 50

    clock.run(main())
    assert load["peak"] == 4


# --- error messages ----------------------------------------------------------------------

@pytest.mark.parametrize(("body", "message"), [
    ({"success": False, "errors": [{"message": "Event type already exists"}]},
     "Event type already exists"),
    ({"success": False, "errors": [{"message": "a"}, {"message": "b"}]}, "a; b"),
    ({"success": False}, 'the service answered {"success": false} without saying why'),
    ({"error": {"metadata": {"details": "Invalid API Key"}}}, "Invalid API Key"),
    ({"error": "experiment not found"}, "experiment not found"),
    ({"type": "validation_error", "code": "required", "detail": "This field is required.",
      "attr": "name"}, "name: This field is required."),
    ({"type": "not_found", "code": "not_found", "detail": "Not found.", "attr": None},
     "Not found."),
    ({"message": "Bad things"}, "Bad things"),
    ("plain JSON string", "plain JSON string"),
])
def test_the_service_message_is_found_in_every_body_shape(body: Any, message: str) -> None:
    assert error_message(httpx.Response(400, json=body)) == message
    error = Harness(answers(httpx.Response(409, json=body))).fails("POST", "/api/2/taxonomy/x")
    assert isinstance(error, ApiError)
    assert (error.status, error.message) == (409, message)
    assert str(error) == f"amplitude POST /api/2/taxonomy/x: HTTP 409: {message}"


@pytest.mark.parametrize(("response", "words"), [
    (httpx.Response(400, text="<html><body>\n  <h1>Bad   Request</h1></body></html>",
                    headers={"content-type": "text/html; charset=utf-8"}),
     "unexpected non-JSON answer (text/html): '<html><body> <h1>Bad Request</h1></body></html>'"),
    (httpx.Response(400, text='{"success": fal'), "unexpected non-JSON answer"),
    (httpx.Response(405), "empty body"),
    (httpx.Response(400, json={"weird": 1}), "unrecognised error body: '{\"weird\":1}'"),
    (httpx.Response(400, text="x" * 500), "'" + "x" * 120 + "…'"),
])
def test_garbage_bodies_give_a_clear_short_message(response: httpx.Response,
                                                   words: str) -> None:
    assert words in error_message(response)
    error = Harness(answers(response)).fails("GET")
    assert isinstance(error, ApiError) and words in str(error)
    assert len(str(error)) < 250


def test_a_redirect_is_an_error_not_followed() -> None:
    harness = Harness(answers(httpx.Response(302, headers={"Location": "http://x.example/"})))
    error = harness.fails("GET")
    assert isinstance(error, ApiError) and "unexpected redirect to http://x.example/" in str(error)
    assert len(harness.requests) == 1


def test_json_decodes_and_refuses_non_json_success_bodies() -> None:
    harness = Harness(answers(ok({"success": True, "data": [1]})))
    assert asyncio.run(harness.api.json("GET", "/x")) == {"success": True, "data": [1]}
    harness = Harness(answers(httpx.Response(204)))
    assert asyncio.run(harness.api.json("DELETE", "/x")) is None
    harness = Harness(answers(httpx.Response(200, text="<html>maintenance</html>")))
    with pytest.raises(ProviderError, match="expected JSON, got '<html>maintenance</html>'"):
        asyncio.run(harness.api.json("GET", "/x"))


@pytest.mark.parametrize(("value", "seconds"), [
    ("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("99999", 3600.0), ("soon", None), ("nan", None),
])
def test_retry_after_is_parsed_and_clamped(value: str, seconds: float | None) -> None:
    assert retry_after(httpx.Response(429, headers={"Retry-After": value})) == seconds


def test_retry_after_may_be_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    seconds = retry_after(httpx.Response(429, headers={"Retry-After": when}))
    assert seconds is not None and 28 <= seconds <= 30


# --- secrets -----------------------------------------------------------------------------

BASIC = base64.b64encode(f"{SECRET}:{OTHER}".encode()).decode()
LEAKS = (SECRET, OTHER, "p%40ss%2Fw0rd%2B%3D", "p%40ss/w0rd%2B%3D", BASIC)


def echo_everything(status: int) -> Handler:
    """A hostile service that quotes the credentials back in every way it can."""
    def handle(request: httpx.Request) -> httpx.Response:
        text = f"{request.headers['authorization']} {request.url} {SECRET} {OTHER}"
        return httpx.Response(status, json={"success": False, "errors": [{"message": text}]})
    return handle


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


def assert_clean(*texts: str) -> None:
    for text in texts:
        for leak in LEAKS:
            assert leak not in text


@pytest.mark.parametrize(("handler", "method"), [
    (echo_everything(400), "GET"),
    (echo_everything(403), "DELETE"),
    (echo_everything(503), "POST"),
    (echo_everything(503), "GET"),
    (echo_everything(429), "GET"),
    (answers(httpx.ReadTimeout(f"timed out on {BASE}/x?api_token={SECRET}")), "POST"),
    (answers(httpx.ConnectError(f"refused: api_token={SECRET}")), "GET"),
    (answers(httpx.Response(200, text=f"not json {SECRET}")), "GET"),
])
def test_secrets_never_appear_in_errors_reprs_or_logs(
        handler: Handler, method: str, logged: pytest.LogCaptureFixture) -> None:
    harness = Harness(handler)
    path = f"/v2/experiments?api_token={SECRET}"
    with pytest.raises(ProviderError) as info:
        asyncio.run(harness.api.json(method, path, params={"token": OTHER}))
    error = info.value
    assert "***" in str(error)
    assert_clean(str(error), repr(error), str(error.args), logged.text, repr(harness.api))
    assert error.__cause__ is None  # no chained httpx exception quoting the URL
    assert error.__context__ is None or error.__suppress_context__
    if isinstance(error, ApiError):
        assert_clean(error.message, error.path)


def test_redact_covers_plain_url_encoded_and_basic_auth_forms() -> None:
    text = f"{SECRET} {OTHER} p%40ss%2Fw0rd%2B%3D p%40ss/w0rd%2B%3D Basic {BASIC}"
    assert redact(text, [SECRET, OTHER, ""]) == "*** *** *** *** Basic ***"
    assert redact("nothing here", []) == "nothing here"


def test_an_asgi_app_is_served_in_process_and_the_client_closes() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = jsonlib.dumps({"path": scope["raw_path"].decode()}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    async def main() -> Any:
        client = make_client("http://sandbox.invalid", transport=asgi_transport(app),
                             allow_insecure=True)
        api = ApiClient("sandbox", client, limiter=None, cost=amplitude_cost)
        try:
            return await api.json("GET", f"/v2/{quote_segment('a/b c')}")
        finally:
            await api.aclose()
            assert client.is_closed

    assert asyncio.run(main()) == {"path": "/v2/a%2Fb%20c"}


def test_the_log_filter_also_redacts_the_secrets_of_a_client_made_after_it_first_ran(
        logged: pytest.LogCaptureFixture) -> None:
    # the filter derives the forms of the secrets once and keeps them: a client created
    # later (another provider, another run) must still have its own secrets redacted
    harness = Harness(answers(ok()))
    harness.run("GET")  # httpx logs the request: the filter has now derived its forms
    late = "l4te-T0KEN/for+later"
    client = make_client(BASE, transport=httpx.MockTransport(lambda r: ok()))
    ApiClient("taplytics", client, limiter=None, cost=amplitude_cost, secrets=[late])
    basic = base64.b64encode(f"{late}:{SECRET}".encode()).decode()
    logging.getLogger("httpx").info("GET %s?api_token=%s Basic %s", late,
                                    quote_segment(late), basic)
    assert "***" in logged.text
    for leak in (late, quote_segment(late), basic, *LEAKS):
        assert leak not in logged.text


def test_httpcore_does_not_search_for_a_missing_sniffio_on_every_request(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # httpcore imports sniffio for every lock it makes (about five per request); absent,
    # each import searched sys.path again. The tapsync command marks it absent once.
    import importlib
    import importlib.util
    import sys

    import httpcore._synchronization as sync

    from tapsync.http import skip_missing_sniffio

    marked_absent = "sniffio" in sys.modules and sys.modules["sniffio"] is None
    if not marked_absent and importlib.util.find_spec("sniffio") is not None:
        pytest.skip("sniffio is installed here: there is no failed import to spare")
    # whatever the call leaves in sys.modules is undone after the test (a library import
    # of tapsync changes nothing; only the console entry point calls this)
    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    skip_missing_sniffio()
    assert "sniffio" in sys.modules  # None: "not importable", answered without a search
    with pytest.raises(ImportError):
        importlib.import_module("sniffio")
    assert sync.current_async_library() == "asyncio"  # what httpcore assumed all along
