"""The thin httpx layer every provider sends through: budgets, retries, errors, redaction.

Providers speak in paths and JSON; this module decides what a failure means. A ``429`` was
not processed, so any call is retried after the limiter backs off. A ``5xx``, a timeout
or a dropped connection on a non-idempotent write leaves its outcome unknown: it becomes
:class:`~tapsync.errors.UncertainWrite` so the executor reads before acting, and is never
repeated blindly. Every message built here goes through :func:`redact` first.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import importlib.util
import ipaddress
import json as jsonlib
import logging
import random
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias
from urllib.parse import quote, quote_plus, urlsplit

import httpx

from tapsync.errors import ApiError, ConfigError, ProviderError, UncertainWrite

log = logging.getLogger("tapsync.http")

#: Methods that may be repeated without changing the outcome (RFC 9110 §9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
READS = frozenset({"GET", "HEAD", "OPTIONS"})
#: A Retry-After beyond the longest limit period is treated as garbage and clamped.
MAX_RETRY_AFTER = 3600.0
SNIPPET = 120

#: What :func:`make_client` sends through: the network, an ASGI app in process, a mock.
Transport: TypeAlias = httpx.AsyncBaseTransport


class Limiter(Protocol):
    """What :class:`ApiClient` needs of a :class:`tapsync.budget.Budget`."""

    def spend(self, cost: int) -> AbstractAsyncContextManager[None]: ...

    def backoff(self, retry_after: float | None) -> None: ...

    def interruptible(self, waiting: Awaitable[None]) -> Awaitable[None]:
        """Await ``waiting`` unless the run is stopped first (Ctrl-C): then return early."""
        ...


def quote_segment(name: str) -> str:
    """Encode one path segment: ``Play Song/v2`` → ``Play%20Song%2Fv2``.

    Event and property names may hold ``/``, ``?``, ``#``, ``%`` and any Unicode; left
    raw they would change the path or be cut off as a query or fragment.
    """
    return quote(name, safe="")


def redaction_forms(secrets: Sequence[str]) -> tuple[str, ...]:
    """Every way a secret may be spelled in text, longest first: as is, URL-encoded, and
    inside a Basic-auth token (``base64(secret:other)`` for every pair of secrets).

    Longest first, so a form that contains a shorter one is replaced whole.
    """
    real = [s for s in secrets if s]
    forms: set[str] = set()
    for secret in real:
        forms |= {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}
        for other in ("", *real):
            for pair in (f"{secret}:{other}", f"{other}:{secret}"):
                forms.add(base64.b64encode(pair.encode()).decode())
    return tuple(sorted(forms, key=len, reverse=True))


def redact_forms(text: str, forms: Sequence[str]) -> str:
    """Replace each of ``forms`` (from :func:`redaction_forms`) with ``***``."""
    for form in forms:
        text = text.replace(form, "***")
    return text


def redact(text: str, secrets: Sequence[str]) -> str:
    """Replace every secret with ``***``, also URL-encoded and inside Basic-auth tokens."""
    return redact_forms(text, redaction_forms(secrets))


class _RedactingFilter(logging.Filter):
    """Redacts the secrets of every live ApiClient from httpx's own log lines.

    httpx logs each request's full URL at INFO, query string included, and a token may
    travel there (Taplytics ``api_token``), so its records are rewritten before any
    handler sees them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self._forms: tuple[frozenset[str], tuple[str, ...]] = (frozenset(), ())

    def add(self, secrets: Sequence[str]) -> None:
        self.secrets.update(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):  # a malformed record: drop its arguments
                message = str(record.msg)
            record.msg = redact_forms(message, self._current_forms())
            record.args = None
        return True

    def _current_forms(self) -> tuple[str, ...]:
        """The forms of the secrets as they are now, derived again only when they changed
        (httpx logs every request at INFO: with INFO on, this ran base64 per line)."""
        key = frozenset(self.secrets)
        if key != self._forms[0]:
            self._forms = (key, redaction_forms(sorted(key)))
        return self._forms[1]


_LOG_FILTER = _RedactingFilter()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_LOG_FILTER)


def skip_missing_sniffio() -> None:
    """Make httpcore's per-request ``import sniffio`` fail at once when sniffio is absent.

    A process-wide change, so only the ``tapsync`` command's entry point (which owns its
    process) and the benchmarks call it; importing :mod:`tapsync.http` as a library
    changes nothing.

    httpcore (and httpx's ASGI transport) ask sniffio which event loop runs each time they
    create a lock, event or semaphore: about five times per request. anyio no longer needs
    sniffio, so it is often not installed, and then every one of those imports fails only
    after searching all of ``sys.path`` again (Python does not remember a failed import):
    about 40 µs each, 0.1–0.2 ms of CPU per request, a tenth of all the client's CPU per
    call in ``bench/apply_bound.py``. ``None`` in ``sys.modules`` is Python's own way of
    saying "not importable": the import raises the same ``ImportError`` immediately, and
    httpcore assumes asyncio exactly as it did. Nothing changes when sniffio *is* there.
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]  # "absent", by design



def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str, *, allow_insecure: bool = False) -> None:
    """Refuse a base URL that would send credentials in clear or embed them.

    ``https://`` is required, except on loopback hosts (127.0.0.0/8, ::1, localhost) or
    with ``allow_insecure`` (an in-process ASGI transport, where nothing leaves memory).
    """
    try:
        parts = urlsplit(base_url)
        host = parts.hostname or ""
    except ValueError as exc:
        raise ConfigError(f"base URL is not a URL: {exc}") from None
    shown = f"{parts.scheme}://{host}" if parts.scheme else "(no scheme)"
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"base URL {shown} must not hold credentials: "
                          "pass them through the environment")
    if not host:
        raise ConfigError(f"base URL {shown} has no host")
    if parts.scheme == "https" or (parts.scheme == "http"
                                   and (allow_insecure or _is_loopback(host))):
        return
    raise ConfigError(f"base URL {shown} must use https:// "
                      "(http:// is allowed only on loopback hosts: 127.0.0.0/8, ::1, localhost)")


def make_client(base_url: str, *, auth: httpx.Auth | tuple[str, str] | None = None,
                headers: Mapping[str, str] | None = None,
                transport: Transport | None = None, timeout: float = 30.0,
                allow_insecure: bool = False) -> httpx.AsyncClient:
    """One ``httpx.AsyncClient`` per provider, after checking its base URL.

    Redirects are not followed: a service redirecting an API call is an error to show,
    not a reason to send credentials somewhere else.
    """
    check_base_url(base_url, allow_insecure=allow_insecure)
    return httpx.AsyncClient(base_url=base_url, auth=auth, headers=headers,
                             transport=transport, timeout=timeout, follow_redirects=False)


def _seconds(value: float | None) -> str:
    return "with backoff" if value is None else f"for {value:g}s"


def asgi_transport(app: Any) -> Transport:
    """Serve an ASGI app (the sandbox) in process: real HTTP semantics without sockets."""
    return httpx.ASGITransport(app=app)


def snippet(text: str) -> str:
    """An answer's text on one line, cut short: enough to recognise an HTML error page or
    a proxy's message in an error, never a whole body."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= SNIPPET else flat[:SNIPPET] + "…")


def _message_in(body: Any) -> str | None:
    """The service's own words from any of the error shapes the services use."""
    if isinstance(body, str):
        return body or None
    if not isinstance(body, dict):
        return None
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        found = [_message_in(e) or "" for e in errors]
        return "; ".join(m for m in found if m) or None
    error = body.get("error")
    if isinstance(error, dict):  # Amplitude 403: {"error": {"metadata": {"details": …}}}
        metadata = error.get("metadata")
        return _message_in(metadata.get("details") if isinstance(metadata, dict) else None) \
            or _message_in(error)
    if isinstance(error, str) and error:
        return error
    detail = body.get("detail")  # Pypestream: {"type", "code", "detail", "attr"}
    if isinstance(detail, str) and detail:
        attr = body.get("attr")
        return f"{attr}: {detail}" if isinstance(attr, str) and attr else detail
    for key in ("message", "details"):
        if isinstance(body.get(key), str) and body[key]:
            return str(body[key])
    if body.get("success") is False:
        return 'the service answered {"success": false} without saying why'
    return None


def error_message(response: httpx.Response) -> str:
    """The best human explanation of an error response, whatever its body holds."""
    text = response.text
    if not text.strip():
        return "empty body"
    try:
        body = jsonlib.loads(text)
    except ValueError:
        kind = response.headers.get("content-type", "no content-type").split(";")[0]
        return f"unexpected non-JSON answer ({kind}): {snippet(text)}"
    return _message_in(body) or f"unrecognised error body: {snippet(text)}"


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (either form), clamped to [0, MAX_RETRY_AFTER]; or None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


@dataclass
class Stats:
    """Requests actually sent (retries included) and what they cost."""

    reads: int = 0
    writes: int = 0
    cost: int = 0
    retries: int = 0
    throttled: int = 0  # 429s seen


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_UNKNOWN = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class ApiClient:
    """One provider's way to the network: admission, retries and error mapping.

    ``cost(method)`` prices a call for the limiter; ``secrets`` are redacted from every
    message. ``stats`` counts what was sent.
    """

    def __init__(self, provider: str, client: httpx.AsyncClient, *, limiter: Limiter | None,
                 cost: Callable[[str], int], secrets: Sequence[str] = (), retries: int = 5,
                 backoff_base: float = 0.5, backoff_cap: float = 30.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: Callable[[], float] = random.random) -> None:
        self.provider = provider
        self.client = client
        self.limiter = limiter
        self.stats = Stats()
        self._cost = cost
        self._secrets = tuple(secrets)
        # derived once: the secrets never change, and base64 of every pair per message
        # was most of tapsync's own CPU per call
        self._forms = redaction_forms(self._secrets)
        _LOG_FILTER.add(self._secrets)
        self._retries = retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._sleep = sleep
        self._rng = rng

    def __repr__(self) -> str:
        return self.redact(f"ApiClient({self.provider!r}, base_url={str(self.client.base_url)!r})")

    def redact(self, text: str) -> str:
        return redact_forms(text, self._forms)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def request(self, method: str, path: str, *, params: Any = None, data: Any = None,
                      json: Any = None, headers: Mapping[str, str] | None = None,
                      idempotent: bool | None = None) -> httpx.Response:
        """Send one call; return its 2xx response or raise a :mod:`tapsync.errors` error.

        ``path`` is relative to the base URL with each name already :func:`quote_segment`-ed;
        an absolute URL (a ``next`` link) must stay on the base URL's origin.
        """
        method = method.upper()
        safe = method in IDEMPOTENT if idempotent is None else idempotent
        self._check_origin(path)
        attempt = 0
        while True:
            try:
                response = await self._send(method, path, params=params, data=data,
                                            json=json, headers=headers)
            except httpx.HTTPError as exc:
                problem = self._transport_failure(exc, self._where(method, path), safe,
                                                  attempt)
                delay = None
            else:
                if response.status_code < 300:
                    return response
                problem, delay = self._http_failure(response, method, path, safe, attempt)
            attempt += 1
            self.stats.retries += 1
            wait = self._backoff(attempt) if delay is None else delay
            log.warning("%s: %s, retrying %s (attempt %d of %d)", self._where(method, path),
                        problem,
                        "when admitted" if wait == 0 else f"in {wait:.1f}s", attempt + 1,
                        self._retries + 1)
            if wait > 0:
                await self._pause(wait)

    def _where(self, method: str, path: str) -> str:
        """``amplitude POST /api/…`` (redacted) for messages: built only when one is
        written, not for every call that succeeds."""
        return f"{self.provider} {method} {self.redact(path)}"

    async def _pause(self, seconds: float) -> None:
        """Sleep between attempts; with a limiter, Ctrl-C cuts it short (up to an hour).

        The next attempt then asks the limiter for admission, which refuses it with
        :class:`~tapsync.errors.Interrupted`: a stopped run sends nothing more.
        """
        if self.limiter is None:
            await self._sleep(seconds)
        else:
            await self.limiter.interruptible(self._sleep(seconds))

    def _transport_failure(self, exc: httpx.HTTPError, where: str, safe: bool,
                           attempt: int) -> str:
        """Raise for a failure that must not be retried; else describe it for the log."""
        problem = self._describe(exc)
        if not isinstance(exc, (*_NOT_SENT, *_UNKNOWN)):
            raise ProviderError(f"{where}: {problem}") from None
        if not safe and not isinstance(exc, _NOT_SENT):
            raise UncertainWrite(f"{where}: {problem}: the write may or may not have landed; "
                                 "read before retrying") from None
        if attempt >= self._retries:
            raise ProviderError(f"{where}: {problem}, gave up after {attempt + 1} attempts"
                                ) from None
        return problem

    def _http_failure(self, response: httpx.Response, method: str, path: str, safe: bool,
                      attempt: int) -> tuple[str, float | None]:
        """Raise for a status that must not be retried; else (what happened, delay)."""
        status = response.status_code
        delay = retry_after(response)
        if status == 429:  # not processed: safe to repeat, whatever the method
            self.stats.throttled += 1
            if self.limiter is not None:
                self.limiter.backoff(delay)
            if attempt >= self._retries:
                raise self._api_error(response, method, path,
                                      f" (still throttled after {attempt + 1} attempts)")
            if self.limiter is None:
                return "HTTP 429", self._honoured(delay, attempt)
            # The limiter now holds every request back, this one included.
            return f"HTTP 429 (pausing the budget {_seconds(delay)})", 0.0
        if status < 500:
            raise self._api_error(response, method, path)
        if not safe:
            raise UncertainWrite(self.redact(
                f"{self.provider} {method} {path}: HTTP {status}: {error_message(response)}: "
                "the write may or may not have landed; read before retrying"))
        if attempt >= self._retries:
            raise self._api_error(response, method, path,
                                  f" (gave up after {attempt + 1} attempts)")
        return f"HTTP {status}", self._honoured(delay, attempt)

    def _honoured(self, retry_after: float | None, attempt: int) -> float | None:
        """A Retry-After, but never shorter than our own backoff for this attempt.

        ``Retry-After: 0`` on a 503 would otherwise have a PUT repeated six times in a
        row with no pause at all against a service that is struggling.
        """
        return None if retry_after is None else max(retry_after, self._backoff(attempt + 1))

    async def json(self, method: str, path: str, **kw: Any) -> Any:
        """:meth:`request`, decoded: ``None`` for 204, ProviderError for a non-JSON body."""
        response = await self.request(method, path, **kw)
        if response.status_code == 204:
            return None
        return self.decode(response, method, path)

    def decode(self, response: httpx.Response, method: str, path: str) -> Any:
        """The answer's JSON; otherwise a ProviderError showing what came back instead (a
        proxy's HTML, a maintenance page), shortened and redacted, so the user sees why.
        For callers that need the response itself too (its ``Link`` header, say)."""
        try:
            return response.json()
        except ValueError:
            text = response.text
            shown = snippet(text) if text.strip() else "an empty body"
            raise ProviderError(self.redact(
                f"{self.provider} {method.upper()} {path}: HTTP {response.status_code}: "
                f"expected JSON, got {shown}")) from None

    async def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        cost = self._cost(method)
        if self.limiter is None:
            return await self._count_and_send(method, path, cost, **kw)
        async with self.limiter.spend(cost):
            return await self._count_and_send(method, path, cost, **kw)

    async def _count_and_send(self, method: str, path: str, cost: int,
                              **kw: Any) -> httpx.Response:
        if method in READS:
            self.stats.reads += 1
        else:
            self.stats.writes += 1
        self.stats.cost += cost
        return await self.client.request(method, path, **kw)

    def _backoff(self, attempt: int) -> float:
        base = min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        return base / 2 + self._rng() * base / 2

    def _api_error(self, response: httpx.Response, method: str, path: str,
                   suffix: str = "") -> ApiError:
        if 300 <= response.status_code < 400:
            message = f"unexpected redirect to {response.headers.get('location', '?')}"
        else:
            message = error_message(response)
        return ApiError(self.provider, response.status_code, self.redact(message + suffix),
                        method=method, path=self.redact(path))

    def _describe(self, exc: Exception) -> str:
        # httpx messages may quote the URL (with any query token): redact, keep it short.
        detail = " ".join(str(exc).split())[:SNIPPET]
        name = type(exc).__name__
        return self.redact(f"{name}: {detail}" if detail else name)

    def _check_origin(self, path: str) -> None:
        if "://" not in path.split("?", 1)[0]:
            return
        target, base = httpx.URL(path), self.client.base_url
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise ProviderError(self.redact(
                f"{self.provider}: refusing to follow a link to {target.scheme}://{target.host} "
                f"outside {base.scheme}://{base.host}: credentials would go with it"))
