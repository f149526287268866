"""What an API key spent in recent runs, kept under ``.tapsync/spend/`` between runs.

Two applies in the same hour with one key share the service's hourly window, but every
tapsync process starts with an empty :class:`~tapsync.budget.Budget`: the second one would
believe the whole hour is free and run into 429s. So each run preloads the spends on
record (wall-clock stamps and costs) before its first call, and when it ends adds its own
to the record, pruned to the window.

A run only ever adds its own spends: the ones it preloaded stay as they were written, so
however many runs share a key, each spend is on record once. Adding is a read, a merge and
a replace (through a temporary file and a rename, so a reader never sees half a file),
done under an exclusive lock on ``.tapsync/spend/.lock`` where the platform has ``fcntl``,
so two runs ending together both count.

The file is named by provider and a keyed, deliberately slow hash of the base URL and the
credentials (never the credentials themselves): PBKDF2 keyed with a random salt that each
workspace keeps in ``.tapsync/spend/.salt`` (mode 0600). Someone who sees only the names
cannot test a guessed credential against them; someone who can also read the salt pays
milliseconds per guess instead of microseconds. The record is only a hint: a file that
cannot be read or makes no sense is ignored with a warning, and a file that cannot be
written costs a warning, never the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tapsync.budget import Spend

log = logging.getLogger("tapsync.spend")

FORMAT_VERSION = 1
FOLDER = "spend"
SALT_FILE = ".salt"
LOCK_FILE = ".lock"
SALT_BYTES = 32
#: PBKDF2-SHA256 rounds for a file name: a few ms, once per provider and run.
KDF_ITERATIONS = 20_000


def path_for(state_dir: Path, provider: str, base_url: str,
             credentials: Mapping[str, str]) -> Path:
    """``.tapsync/spend/amplitude-<hash>.json``: one file per service and key.

    The hash (64 bits of PBKDF2-SHA256 keyed with the workspace's salt) tells two keys
    apart; without the salt it says nothing about either, and with it every guess at a
    credential costs :data:`KDF_ITERATIONS` rounds.
    """
    folder = state_dir / FOLDER
    parts = ["tapsync-spend-v2", provider, base_url,
             *(f"{role}={value}" for role, value in sorted(credentials.items()))]
    secret = b"".join(part.encode("utf-8") + b"\0" for part in parts)
    digest = hashlib.pbkdf2_hmac("sha256", secret, workspace_salt(folder), KDF_ITERATIONS)
    return folder / f"{provider}-{digest.hex()[:16]}.json"


def workspace_salt(folder: Path) -> bytes:
    """The workspace's salt for spend-file names, made (mode 0600) on first use.

    When it cannot be read or made, this run gets a fresh random one with a warning: its
    spend file then has a name no other run finds, so it neither sees earlier runs'
    spend nor leaves its own behind, which costs 429-avoidance, never the run.
    """
    path = folder / SALT_FILE
    try:
        try:
            return _read_salt(path)
        except FileNotFoundError:
            return _create_salt(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("%s: cannot use the salt that names this workspace's spend records "
                    "(%s); this run neither sees earlier runs' API spend nor records its "
                    "own for the next run", path, _short(exc))
        return secrets.token_bytes(SALT_BYTES)


def _read_salt(path: Path) -> bytes:
    salt = bytes.fromhex(path.read_text(encoding="ascii").strip())
    if len(salt) < SALT_BYTES // 2:
        raise ValueError(f"{len(salt)} bytes of salt; expected {SALT_BYTES}")
    return salt


def _create_salt(path: Path) -> bytes:
    """Write a new salt beside, then link it in: no reader sees it half written, and of
    two runs making it at once, the second finds the first's and uses that."""
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_bytes(SALT_BYTES)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    try:  # mkstemp makes the file 0600, and the link keeps that
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(salt.hex() + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_salt(path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return salt


class SpendLog:
    """One key's spend file; ``horizon`` is how long a spend matters (the longest window)."""

    def __init__(self, path: Path, horizon: float) -> None:
        self.path = path
        self.horizon = horizon

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
        return [s for s in spends if s[0] + self.horizon > now]

    def save(self, mine: Sequence[Spend], now: float) -> None:
        """Add this run's own spends (:meth:`~tapsync.budget.Budget.ledger`) to the record.

        Under the lock, what is on record now (other runs', whenever they ended) is kept
        and ``mine`` added; everything is pruned to the horizon at wall-clock ``now``.
        Called once per run (:func:`tapsync.engine.connect`, as the run ends).
        """
        ours = sorted((round(at, 3), cost) for at, cost in mine)
        try:
            with _locked(self.path.parent / LOCK_FILE):
                kept = sorted(s for s in [*self._current(), *ours]
                              if s[0] + self.horizon > now)
                doc = {"format_version": FORMAT_VERSION, "horizon_seconds": self.horizon,
                       "spends": [[at, cost] for at, cost in kept]}
                _write_atomically(self.path, json.dumps(doc) + "\n")
        except OSError as exc:
            log.warning("%s: could not record this run's API spend for the next run (%s)",
                        self.path, _short(exc))

    def _current(self) -> list[Spend]:
        """What is on record now; a damaged record (already reported by :meth:`load`) is
        replaced rather than merged."""
        try:
            return self._read()
        except (OSError, UnicodeDecodeError, ValueError):
            return []

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


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (made if missing) while the block runs.

    Only against other tapsync runs saving to the same folder: the critical section is a
    read and a rename, so blocking the event loop for it is harmless. Without ``fcntl``
    (Windows) the block runs unlocked: two runs ending in the same instant may then lose
    one's spend, a hint lost, never a wrong write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        _lock(fh.fileno())
        yield  # closing the file releases the lock


if sys.platform == "win32":
    def _lock(fd: int) -> None:
        """No ``fcntl`` here: see :func:`_locked`."""
else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
