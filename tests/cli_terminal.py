"""Run the real CLI as if a person sat at a terminal, and keep the sandbox it talks to.

What the command line does differently for a person (colours, the confirmation prompt,
the progress bar) hinges on ``isatty()``; :class:`Terminal` is a stream that says yes and
keeps what was written, so those paths run for real without a pseudo-terminal.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

import tapsync.sandbox
from tapsync.cli import main


class Terminal(io.StringIO):
    """A text stream that is a terminal: what it is given to read, and what was written."""

    def isatty(self) -> bool:
        return True


def at_terminal(ws: Path, monkeypatch: pytest.MonkeyPatch, *args: str, typed: str = "",
                err_tty: bool = True) -> tuple[int, str, str]:
    """``tapsync ARGS`` in ``ws`` through :func:`tapsync.cli.main` (the real exit codes),
    with ``typed`` on a terminal stdin and stderr a terminal unless ``err_tty`` is False;
    stdout is a plain buffer (results stay plain). Colour is not turned off by the
    environment: NO_COLOR, FORCE_COLOR and TERM are removed. Returns (code, stdout, stderr).
    """
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ws)
    monkeypatch.setattr("sys.stdin", Terminal(typed))
    out = io.StringIO()
    err = Terminal() if err_tty else io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def record_sandboxes(monkeypatch: pytest.MonkeyPatch) -> list[Starlette]:
    """Keep every sandbox app created from now on: ``--sandbox`` makes its own, and its
    statistics (``/_sandbox/stats``, in memory) are the witness of what the CLI sent."""
    apps: list[Starlette] = []
    real = tapsync.sandbox.create_app

    def recording(*args: Any, **kwargs: Any) -> Starlette:
        app = real(*args, **kwargs)
        apps.append(app)
        return app

    monkeypatch.setattr(tapsync.sandbox, "create_app", recording)
    return apps
