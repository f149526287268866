"""Ctrl-C through the real CLI in a child process, with a real SIGINT.

The first Ctrl-C starts no new call and lets those in flight finish, then exits 130 saying
what was applied, what was not, and where the journal is, even when the apply was
waiting for the hourly window (which could last an hour). A second Ctrl-C quits at once,
without waiting for calls in flight.

No timing is asserted: the child is only given a generous deadline to exit, against
waits that would otherwise last an hour (or forever).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from tapsync.sandbox import create_app
from tapsync.sandbox.app import DEFAULT_AMPLITUDE_CREDENTIALS, serve_in_thread
from tests.ci.support import sandbox_calls, write_workspace

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

DEADLINE = 60.0  # seconds: far below the hour an uninterrupted wait would take
EVENTS = 5
MANIFEST = "amplitude:\n  event_types:\n" + "".join(f"    - name: E{i}\n"
                                                     for i in range(EVENTS))
ENTRY = "import sys; from tapsync.cli import main; sys.exit(main())"


class Child:
    """``tapsync ARGS`` in a child process, its stderr read line by line as it comes."""

    def __init__(self, ws: Path, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "NO_COLOR": "1", "TAPSYNC_CONFIG": str(ws / "tapsync.yaml"),
                    **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-c", ENTRY, *args], cwd=ws,
                                     env=full_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.err: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self.proc.stderr is not None
        threading.Thread(target=self._pump, args=(self.proc.stderr,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, pattern: str) -> str:
        """The first stderr line matching ``pattern``; fails with all of stderr if none."""
        while True:
            try:
                line = self._lines.get(timeout=DEADLINE)
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"no line matching {pattern!r} on stderr:\n"
                                     + "".join(self.err))
            self.err.append(line)
            if re.search(pattern, line):
                return line

    def finish(self) -> tuple[int, str, str]:
        """Exit code, stdout and the whole of stderr, once the child has exited."""
        code = self.proc.wait(timeout=DEADLINE)
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        while (line := self._lines.get(timeout=DEADLINE)) is not None:
            self.err.append(line)
        return code, out, "".join(self.err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def child(ws: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Child]:
    c = Child(ws, *args, env=env)
    try:
        yield c
    finally:
        c.kill()


def test_ctrl_c_while_waiting_for_the_hourly_budget_exits_130_saying_what_applied(
        tmp_path: Path) -> None:
    # The plan's reads and the first writes fit in 12 units; the last write must wait
    # for the hourly window, about an hour.
    ws = write_workspace(tmp_path, MANIFEST, "version: 1\nmanifests: [manifests/]\n"
                         "providers:\n  amplitude:\n"
                         "    budget: {concurrent_cost: 4, hourly_cost: 12}\n")
    with child(ws, "apply", "--sandbox", "--auto-approve") as c:
        c.wait_for(r"amplitude: waiting \d+ min for the hourly budget")
        c.proc.send_signal(signal.SIGINT)
        code, out, err = c.finish()

    assert code == 130, err
    found = re.search(r"Apply interrupted: (\d+) applied, (\d+) not applied\.", out)
    assert found, out
    applied, not_applied = int(found[1]), int(found[2])
    assert applied + not_applied == EVENTS and not_applied >= 1
    journal = re.search(r"the journal is (\S+\.jsonl)", err)
    assert journal, err
    assert f"{applied} change(s) applied, {not_applied} not" in err
    end = json.loads(Path(journal[1]).read_text(encoding="utf-8").splitlines()[-1])
    assert (end["event"], end["ok"], end["not_applied"], end["interrupted"]) == \
        ("end", applied, not_applied, True)
    # measured by the sandbox: exactly what was reported applied exists
    (state,) = sandbox_calls(ws, ("GET", "/_sandbox/state", {}))
    assert len(state["amplitude"]["event"]) == applied


class HeldWrites:
    """The sandbox, except that every POST is held until ``release``: a call in flight
    that does not end by itself."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.arrived = threading.Event()
        self.release = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        import asyncio

        if scope["type"] == "http" and scope["method"] == "POST" \
                and not scope["path"].startswith("/_sandbox"):
            self.arrived.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
        with contextlib.suppress(ClientDisconnect):  # the client quit while held: expected
            await self.app(scope, receive, send)


@pytest.mark.socket
def test_a_second_ctrl_c_quits_without_waiting_for_calls_in_flight(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, MANIFEST)
    held = HeldWrites(create_app())
    key, secret = DEFAULT_AMPLITUDE_CREDENTIALS
    try:
        with serve_in_thread(held) as url:  # type: ignore[arg-type]
            env = {"TAPSYNC_AMPLITUDE_BASE_URL": url, "AMPLITUDE_API_KEY": key,
                   "AMPLITUDE_SECRET_KEY": secret}
            with child(ws, "apply", "--auto-approve", env=env) as c:
                assert held.arrived.wait(DEADLINE), "no write reached the server"
                c.proc.send_signal(signal.SIGINT)
                c.wait_for("press Ctrl-C again to quit at once")
                assert c.proc.poll() is None      # the first one waits for the held call
                c.proc.send_signal(signal.SIGINT)
                code, _, err = c.finish()
            held.release.set()
    finally:
        held.release.set()
    assert code == 130, err
    assert "Interrupted." in err and "Traceback" not in err
