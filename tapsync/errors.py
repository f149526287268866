"""The one exception tree of tapsync, and the exit code each branch maps to.

The CLI catches :class:`TapsyncError` once and exits with its ``exit_code``; anything else
escaping is a bug and is shown as one. Messages never carry secrets: whoever raises is
responsible for redacting (``http.redact``) before building the message.

::

    TapsyncError (exit 1)
    ├── UsageError            bad command-line use (unknown target, conflicting flags)
    ├── ConfigError           tapsync.yaml missing, malformed, or insecure
    ├── ManifestError         one or more problems in the manifests, each with file:line
    ├── ProviderError         a service answered with an error, or garbage
    │   ├── ApiError          …with an HTTP status and the service's own message
    │   └── UncertainWrite    a write whose outcome is unknown (timeout, reset, 5xx):
    │                         read before retrying, never repeat it blindly
    ├── PlanRefused           safety guard, cost ceiling, sends without --allow-send
    ├── StalePlanError        a saved plan whose live objects changed since it was made
    ├── ApplyFailed           some changes failed; the others were applied
    └── Interrupted (130)     Ctrl-C; in-flight calls finished first
"""

from __future__ import annotations

from dataclasses import dataclass


class TapsyncError(Exception):
    """Root of every error a user can cause or meet; carries its process exit code."""

    exit_code: int = 1


class UsageError(TapsyncError):
    """The command line asks for something impossible."""


class ConfigError(TapsyncError):
    """``tapsync.yaml`` (or its environment overrides) cannot be used."""


@dataclass(frozen=True)
class Problem:
    """One validation finding, located in a file.

    ``severity`` is ``"error"`` or ``"warning"``; ``json_path`` is ``$``-rooted
    (``$.amplitude.event_types[3].name``).
    """

    file: str
    line: int
    column: int
    json_path: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        tag = "" if self.severity == "error" else f"{self.severity}: "
        return f"{where}: {self.json_path}: {tag}{self.message}"


class ManifestError(TapsyncError):
    """Manifests that cannot be used; holds *every* problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(str(p) for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the manifests:\n{lines}")


class ProviderError(TapsyncError):
    """A service could not be read or written (network failure, garbage answer, refusal)."""


class ApiError(ProviderError):
    """A service answered with an HTTP error; ``message`` is the service's own words."""

    def __init__(self, provider: str, status: int, message: str, *, method: str = "",
                 path: str = "") -> None:
        self.provider = provider
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        where = f" {method} {path}" if method else ""
        super().__init__(f"{provider}{where}: HTTP {status}: {message}")


class UncertainWrite(ProviderError):
    """A non-idempotent write may or may not have landed; the caller must read to find out."""


class PlanRefused(TapsyncError):
    """The plan is valid but policy refuses to run it; the message says how to proceed."""


class StalePlanError(TapsyncError):
    """A saved plan's live objects changed since it was made; nothing was written."""


class ApplyFailed(TapsyncError):
    """Some changes failed; the rest were applied and journalled."""


class Interrupted(TapsyncError):
    """The user interrupted; calls already in flight were allowed to finish."""

    exit_code = 130
