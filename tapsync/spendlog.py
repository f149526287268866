"""What an API key spent in recent runs, kept under ``.tapsync/spend/`` between runs.

Two applies in the same hour with one key share the service's hourly window, but every
tapsync process starts with an empty :class:`~tapsync.budget.Budget`: the second one would
believe the whole hour is free and run into 429s. So each run records, when it ends, the
spends still inside the window (wall-clock stamps and costs), and the next run preloads
them before its first call.

The file is named by provider and a hash of the credentials and base URL (never the
credentials themselves), and replaced whole through a temporary file and a rename, so a
reader never sees half of it. It is only a hint: a file that cannot be read or makes no
sense is ignored with a warning, and a file that cannot be written costs a warning, never
the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tapsync.budget import Spend

log = logging.getLogger("tapsync.spend")

FORMAT_VERSION = 1
FOLDER = "spend"


def path_for(state_dir: Path, provider: str, base_url: str,
             credentials: Mapping[str, str]) -> Path:
    """``.tapsync/spend/amplitude-<hash>.json``: one file per service and key.

    The hash is a truncated SHA-256, so the name tells two keys apart without saying
    anything usable about either.
    """
    digest = hashlib.sha256()
    parts = ["tapsync-spend-v1", provider, base_url,
             *(f"{role}={value}" for role, value in sorted(credentials.items()))]
    for part in parts:
        digest.update(part.encode("utf-8") + b"\0")
    return state_dir / FOLDER / f"{provider}-{digest.hexdigest()[:16]}.json"


class SpendLog:
    """One key's spend file; ``horizon`` is how long a spend matters (the longest window)."""

    def __init__(self, path: Path, horizon: float) -> None:
        self.path = path
        self.horizon = horizon
        self._loaded: list[Spend] = []

    def load(self, now: float) -> list[Spend]:
        """The spends of earlier runs still within the horizon at wall-clock ``now``.

        A missing file is an empty history; an unreadable or corrupt one is reported and
        ignored (this run then knows only its own spend).
        """
        try:
            spends = self._read()
        except FileNotFoundError:
            spends = []
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            log.warning("%s: ignoring the record of earlier runs' API spend (%s); this "
                        "run's budget starts empty", self.path, _short(exc))
            spends = []
        self._loaded = spends
        return [s for s in spends if s[0] + self.horizon > now]

    def save(self, spends: Sequence[Spend], now: float) -> None:
        """Record ``spends`` (this run's, preloaded ones included) for the next run.

        A run that finished in the meantime may have written the file since it was
        loaded: what it added is kept, so parallel jobs on one key add up instead of the
        last one to finish winning.
        """
        try:
            current = self._read()
        except (OSError, UnicodeDecodeError, ValueError):
            current = []
        theirs = Counter(current) - Counter(self._loaded)
        kept = sorted([*((round(at, 3), cost) for at, cost in spends), *theirs.elements()])
        kept = [s for s in kept if s[0] + self.horizon > now]
        doc = {"format_version": FORMAT_VERSION, "horizon_seconds": self.horizon,
               "spends": [[at, cost] for at, cost in kept]}
        try:
            _write_atomically(self.path, json.dumps(doc) + "\n")
        except OSError as exc:
            log.warning("%s: could not record this run's API spend for the next run (%s)",
                        self.path, _short(exc))
            return
        self._loaded = kept

    def _read(self) -> list[Spend]:
        doc = json.loads(self.path.read_text(encoding="utf-8"))
        return _parse(doc)


def _parse(doc: Any) -> list[Spend]:
    """Validate the file's content; ``ValueError`` saying what is wrong."""
    if not isinstance(doc, dict) or doc.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"not a format_version {FORMAT_VERSION} spend record")
    raw = doc.get("spends")
    if not isinstance(raw, list):
        raise ValueError("'spends' is not a list")
    spends: list[Spend] = []
    for i, item in enumerate(raw):
        if not (isinstance(item, list) and len(item) == 2 and _number(item[0])
                and isinstance(item[1], int) and not isinstance(item[1], bool)
                and item[1] > 0):
            raise ValueError(f"spends[{i}] is not [time, cost]")
        spends.append((float(item[0]), item[1]))
    return spends


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _write_atomically(path: Path, text: str) -> None:
    """Write beside, then rename: a reader (another run) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
