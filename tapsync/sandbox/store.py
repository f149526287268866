"""The sandbox's state: JSON documents in SQLite, keyed by (namespace, kind, key).

One table serves every emulated provider, so adding Taplytics or Apptimize needs no
schema change: each provider picks a namespace and kinds of its own. ``seq`` keeps the
order in which documents were first written, because the real APIs list objects in
creation order and the tool must not depend on anything else. A path of ``None`` gives a
fresh in-memory database (what tests want); a file survives restarts
(``tapsync sandbox serve --state``), in a folder that must already exist. One connection,
guarded by a re-entrant lock, is shared by every request: the handlers are short and
synchronous, so the lock is never held across an ``await``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    namespace TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
    seq INTEGER NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (namespace, kind, key));
CREATE TABLE IF NOT EXISTS counters (
    namespace TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (namespace, name));
"""

Doc = dict[str, Any]

#: ``json.dumps(value, sort_keys=True)``, without building a new encoder on every call (a
#: keyword argument other than the defaults makes ``json.dumps`` construct one each time).
_encode = json.JSONEncoder(sort_keys=True).encode


class MissingStateFolder(FileNotFoundError):
    """The folder meant to hold the state file does not exist.

    Never created on the caller's behalf: a typo in ``--state`` should be an error, not
    a new directory tree holding an empty sandbox. (``--sandbox`` creates its own
    ``.tapsync/`` beside tapsync.yaml before opening the store.)
    """


def _check_parent(target: str) -> None:
    parent = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(parent):
        raise MissingStateFolder(f"sandbox state {target}: {parent} is not an existing folder "
                                 "(create it first, or check the path for a typo)")


class Store:
    """Documents by (namespace, kind, key); every method is atomic, and
    :meth:`transaction` makes a group of them atomic too."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        target = ":memory:" if path is None else os.fspath(path)
        if path is not None:
            _check_parent(target)
        self.path = None if path is None else target
        self._lock = threading.RLock()
        self._depth = 0
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All writes inside commit together or not at all (nested calls join the outer one)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def get(self, namespace: str, kind: str, key: str) -> Doc | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM docs WHERE namespace=? AND kind=? AND key=?",
                (namespace, kind, key),
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, namespace: str, kind: str, key: str, value: Doc) -> None:
        """Insert or replace; a replaced document keeps its place in the listing order."""
        text = _encode(value)
        with self.transaction():
            updated = self._db.execute(
                "UPDATE docs SET value=? WHERE namespace=? AND kind=? AND key=?",
                (text, namespace, kind, key),
            ).rowcount
            if not updated:
                self._db.execute(
                    "INSERT INTO docs (namespace, kind, key, seq, value) VALUES (?,?,?,?,?)",
                    (namespace, kind, key, self._bump("_seq", "docs", 1), text),
                )

    def delete(self, namespace: str, kind: str, key: str) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM docs WHERE namespace=? AND kind=? AND key=?", (namespace, kind, key)
            )
        return cursor.rowcount > 0

    def items(self, namespace: str, kind: str) -> list[tuple[str, Doc]]:
        """(key, document) pairs in the order the keys were first written."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM docs WHERE namespace=? AND kind=? ORDER BY seq",
                (namespace, kind),
            ).fetchall()
        return [(str(key), dict(json.loads(value))) for key, value in rows]

    def items_with_prefix(self, namespace: str, kind: str, prefix: str
                          ) -> list[tuple[str, Doc]]:
        """Like :meth:`items`, for keys starting with ``prefix`` only: a primary-key range
        scan, so one event's properties are found without decoding everyone else's."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM docs WHERE namespace=? AND kind=? AND key>=? AND key<? "
                "ORDER BY seq", (namespace, kind, prefix, prefix + "\U0010ffff"),
            ).fetchall()
        return [(str(key), dict(json.loads(value))) for key, value in rows]

    def values(self, namespace: str, kind: str) -> list[Doc]:
        return [doc for _, doc in self.items(namespace, kind)]

    def next_id(self, namespace: str, name: str, start: int = 1) -> int:
        """A fresh integer id, never reused within the namespace (even after a reset of docs)."""
        return self._next(namespace, name, start)

    def _next(self, namespace: str, name: str, start: int = 1) -> int:
        with self.transaction():
            return self._bump(namespace, name, start)

    def _bump(self, namespace: str, name: str, start: int) -> int:
        """``start`` for a new counter, else its value + 1 — one upsert statement rather
        than a read and a write (every create runs this). Inside a transaction only."""
        rows = self._db.execute(
            "INSERT INTO counters (namespace, name, value) VALUES (?,?,?) "
            "ON CONFLICT (namespace, name) DO UPDATE SET value = value + 1 RETURNING value",
            (namespace, name, start),
        ).fetchall()
        return int(rows[0][0])

    def clear(self, namespace: str | None = None) -> None:
        """Forget every document (of one namespace, or all); id counters survive."""
        with self.transaction():
            if namespace is None:
                self._db.execute("DELETE FROM docs")
            else:
                self._db.execute("DELETE FROM docs WHERE namespace=?", (namespace,))

    def dump(self) -> dict[str, dict[str, dict[str, Doc]]]:
        """Everything, as {namespace: {kind: {key: document}}}, for ``GET /_sandbox/state``."""
        out: dict[str, dict[str, dict[str, Doc]]] = {}
        with self._lock:
            rows = self._db.execute(
                "SELECT namespace, kind, key, value FROM docs ORDER BY seq"
            ).fetchall()
        for namespace, kind, key, value in rows:
            out.setdefault(namespace, {}).setdefault(kind, {})[key] = json.loads(value)
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()
