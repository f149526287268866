"""``tapsync sandbox serve`` takes the global options (CONTRACT.md §4) and they mean
something there: ``-q`` hides the "serving on" line, ``-v`` logs each request on stderr,
``--sandbox`` serves the workspace's own sandbox state (``--config``/``--env`` say which).

The server runs as the real console script in a subprocess, as a user meets it; the
refusals, which come before anything listens, run in process.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.ci.support import AUTH, TAXONOMY, tapsync, write_workspace
from tests.sandbox.sandbox_support import cli_server


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM, as a service manager stops it; returns everything it wrote (stdout, stderr)."""
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=15)
    return out, err


@pytest.mark.socket
def test_quiet_serve_says_nothing(tmp_path: Path) -> None:
    with cli_server("-q", cwd=tmp_path) as (base, process):
        assert httpx.get(f"{base}/_sandbox/settings").status_code == 200
        out, err = stop(process)
    assert (out, err) == ("", "")


@pytest.mark.socket
def test_verbose_serve_logs_each_request_on_stderr(tmp_path: Path) -> None:
    with cli_server("-v", "--no-color", cwd=tmp_path) as (base, process):
        answer = httpx.get(f"{base}{TAXONOMY}/category", auth=AUTH)
        assert answer.status_code == 200
        out, err = stop(process)
    assert out == ""
    assert err.startswith("tapsync sandbox: serving on ")
    assert f'"GET {TAXONOMY}/category HTTP/1.1" 200' in err, err
    assert "\x1b[" not in err


@pytest.mark.socket
def test_serve_logs_no_request_without_verbose(tmp_path: Path) -> None:
    with cli_server(cwd=tmp_path) as (base, process):
        assert httpx.get(f"{base}{TAXONOMY}/category", auth=AUTH).status_code == 200
        _, err = stop(process)
    assert "HTTP/1.1" not in err and err.startswith("tapsync sandbox: serving on ")


@pytest.mark.socket
def test_serve_sandbox_serves_what_apply_sandbox_wrote(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path)
    assert tapsync(ws, "apply", "--sandbox", "--auto-approve")[0] == 0
    with cli_server("--sandbox", cwd=ws) as (base, process):
        answer = httpx.get(f"{base}{TAXONOMY}/category", auth=AUTH)
        _, err = stop(process)
    assert [c["name"] for c in answer.json()["data"]] == ["Media"]
    assert f"(state: {ws / '.tapsync' / 'sandbox.db'});" in err


@pytest.mark.socket
def test_serve_config_without_sandbox_is_said_to_be_ignored(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path)
    with cli_server("--config", "tapsync.yaml", cwd=ws) as (_, process):
        _, err = stop(process)
    first, second = err.splitlines()[:2]
    assert first == ("note: --config is ignored without --sandbox (it names the workspace "
                     "whose sandbox state --sandbox serves)")
    assert "(state: in memory)" in second


def test_serve_sandbox_and_state_together_is_a_usage_error(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path)
    code, out, err = tapsync(ws, "sandbox", "serve", "--sandbox", "--state", "s.db")
    assert (code, out) == (1, "")
    assert err == "Error: --state and --sandbox both name the state to serve: pass one\n"


def test_serve_sandbox_outside_a_workspace_names_the_missing_config(tmp_path: Path) -> None:
    code, _, err = tapsync(tmp_path, "sandbox", "serve", "--sandbox")
    assert code == 1
    assert err.startswith(f"Error: no configuration at {tmp_path / 'tapsync.yaml'}")
    assert not (tmp_path / ".tapsync").exists()
