"""``tapsync apply`` with a person at the terminal: the confirmation and the progress bar.

Run through :func:`tapsync.cli.main` with terminal streams (:mod:`tests.cli_terminal`);
what reached the sandbox is read from the sandbox's own statistics, not from the CLI's
report.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette

from tests.apply.support import Sandbox, writes
from tests.ci.support import tapsync, write_workspace
from tests.cli_terminal import at_terminal, record_sandboxes
from tests.conftest import run

PROMPT = "Apply these changes? [y/N]"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return write_workspace(tmp_path)


def received(apps: list[Starlette]) -> tuple[int, int]:
    """(requests, writes) that the one sandbox the command opened received."""
    [app] = apps
    stats = run(Sandbox(app).stats())
    return stats["requests"], writes(stats)


def test_answering_yes_applies_and_converges(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    apps = record_sandboxes(monkeypatch)
    code, out, err = at_terminal(ws, monkeypatch, "apply", "--sandbox", typed="y\n")
    assert code == 0, err
    assert PROMPT in err
    assert "Apply complete: 5 applied, 0 failed, 0 skipped." in out
    assert "Converged: a new plan shows no changes." in err
    assert received(apps)[1] >= 5  # one write per change at least
    assert tapsync(ws, "plan", "--sandbox", "--detailed-exitcode")[0] == 0


def test_answering_no_writes_nothing(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    apps = record_sandboxes(monkeypatch)
    code, out, err = at_terminal(ws, monkeypatch, "apply", "--sandbox", typed="n\n")
    assert code == 1
    assert PROMPT in err
    assert err.rstrip().endswith("apply cancelled; nothing was written"), err
    assert "Apply complete" not in out
    requests, wrote = received(apps)
    assert requests > 0 and wrote == 0  # the plan read live state; nothing was written
    assert tapsync(ws, "plan", "--sandbox", "--detailed-exitcode")[0] == 2


def test_the_default_answer_is_no(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Enter alone must not write: the prompt's capital N promises it."""
    apps = record_sandboxes(monkeypatch)
    code, _, err = at_terminal(ws, monkeypatch, "apply", "--sandbox", typed="\n")
    assert code == 1 and "apply cancelled; nothing was written" in err
    assert received(apps)[1] == 0


@pytest.mark.parametrize("err_tty", [True, False], ids=["terminal", "pipe"])
def test_the_progress_bar_is_drawn_only_on_a_terminal(
        ws: Path, monkeypatch: pytest.MonkeyPatch, err_tty: bool) -> None:
    code, _, err = at_terminal(ws, monkeypatch, "apply", "--sandbox", typed="y\n",
                               err_tty=err_tty)
    assert code == 0, err
    assert ("Applying  [" in err) == err_tty, err


def test_quiet_draws_no_bar_even_on_a_terminal(ws: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = at_terminal(ws, monkeypatch, "apply", "--sandbox", "-q", typed="y\n")
    assert code == 0, err
    assert "Applying" not in err
