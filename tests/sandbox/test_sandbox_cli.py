"""``tapsync sandbox serve`` and ``tapsync sandbox load`` as a user runs them.

``serve`` runs as a real process on a loopback port (options parsed by click, the app
served by uvicorn, stopped with SIGTERM); ``load`` through the CLI's ``main`` in a
workspace. Both leave state in SQLite that a fresh sandbox must find again.
"""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sandbox_support import AUTH, TAXONOMY, cli_server

from tapsync.sandbox import create_app
from tapsync.sandbox.store import MissingStateFolder, Store
from tests.ci.support import tapsync, write_workspace


@pytest.mark.socket
def test_serve_applies_its_options_and_keeps_state_after_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "tmp.db"
    with cli_server("--legacy-delete", "--latency-ms", "5", "--state", str(state)) as (
            base, process):
        settings = httpx.get(f"{base}/_sandbox/settings").json()
        assert settings["latency_ms"] == 5.0 and settings["legacy_delete"] is True
        assert settings["edition"] == "seed"
        with httpx.Client(base_url=base, auth=AUTH) as client:
            made = client.post(f"{TAXONOMY}/category", data={"category_name": "Media"})
            assert made.status_code == 200, made.text
            assert client.post(f"{TAXONOMY}/category",
                               data={"category_name": "Media"}).status_code == 409
            unauthorised = httpx.get(f"{base}{TAXONOMY}/category", auth=("x", "y"))
            assert unauthorised.status_code == 403
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    # uvicorn shuts down cleanly, then re-raises the signal so the parent sees why it
    # stopped (a shell reports 143); a crash would be 1, a hang a TimeoutExpired
    assert process.returncode == -signal.SIGTERM
    again = create_app(state_path=state)
    try:
        names = [d["name"] for _, d in again.state.sandbox.store.items("amplitude", "category")]
        assert names == ["Media"]
    finally:
        again.state.sandbox.store.close()


@pytest.mark.socket
def test_serve_defaults_to_a_fresh_in_memory_state_and_no_latency(tmp_path: Path) -> None:
    with cli_server(cwd=tmp_path) as (base, _):
        settings = httpx.get(f"{base}/_sandbox/settings").json()
        assert settings["latency_ms"] == 0.0 and settings["legacy_delete"] is False
        assert httpx.get(f"{base}{TAXONOMY}/category", auth=AUTH).json()["data"] == []
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def taken_port() -> Iterator[str]:
    """A port something already listens on: should a refusal regress, serving fails at
    once (address in use) instead of hanging the test."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield str(taken.getsockname()[1])


def test_serve_refuses_a_state_folder_that_does_not_exist(tmp_path: Path,
                                                         taken_port: str) -> None:
    typo = tmp_path / "stat" / "sandbox.db"
    code, out, err = tapsync(tmp_path, "sandbox", "serve", "--port", taken_port,
                             "--state", str(typo))
    assert code == 1 and out == ""
    assert f"--state: sandbox state {typo}: {typo.parent} is not an existing folder" in err
    assert "Traceback" not in err
    assert not typo.parent.exists()


def test_serve_refuses_a_bad_port_or_latency_before_starting(tmp_path: Path,
                                                            taken_port: str) -> None:
    code, _, err = tapsync(tmp_path, "sandbox", "serve", "--port", "70000")
    assert code == 1 and "--port" in err and "70000" in err
    code, _, err = tapsync(tmp_path, "sandbox", "serve", "--port", taken_port,
                           "--latency-ms", "-5")
    assert code == 1 and "--latency-ms" in err and "-5" in err


def test_the_store_never_creates_folders(tmp_path: Path) -> None:
    with pytest.raises(MissingStateFolder, match="is not an existing folder"):
        Store(tmp_path / "a" / "b" / "s.db")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "a").write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(MissingStateFolder):
        Store(tmp_path / "a" / "s.db")
    Store(tmp_path / "s.db").close()
    assert (tmp_path / "s.db").is_file()


FIXTURE = """\
amplitude:
  categories: [{name: Media}]
  event_types:
    - {event_type: Play Song, category: Media, status: live}
    - {event_type: Old Event, status: planned}
taplytics:
  experiments:
    - {name: Checkout button colour, status: active}
"""


def test_load_fills_the_workspace_sandbox_that_plan_reads(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path)
    (ws / "fixtures.yaml").write_text(FIXTURE, encoding="utf-8")
    assert not (ws / ".tapsync").exists()
    code, out, err = tapsync(ws, "sandbox", "load", "fixtures.yaml")
    assert code == 0, err
    db = ws / ".tapsync" / "sandbox.db"
    assert out.startswith(f"Loaded into {db}: amplitude: ")
    app = create_app(state_path=db)
    try:
        store = app.state.sandbox.store
        assert [k for k, _ in store.items("amplitude", "event")] == ["Play Song", "Old Event"]
        assert len(store.items("taplytics", "experiment")) == 1
    finally:
        app.state.sandbox.store.close()
    # what was loaded is live to --sandbox: Play Song exists, so plan does not create it
    code, out, _ = tapsync(ws, "plan", "--sandbox", "--format", "json")
    assert code == 0
    actions = {c["address"]: c["action"] for c in json.loads(out)["changes"]}
    assert actions['amplitude.event_type["Log In"]'] == "create"
    assert actions['amplitude.event_type["Play Song"]'] != "create"


def test_load_is_all_or_nothing_and_names_the_file(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path)
    (ws / "bad.yaml").write_text("amplitude:\n  event_types:\n    - {event_type: A}\n"
                                 "    - {no_name: here}\n", encoding="utf-8")
    code, out, err = tapsync(ws, "sandbox", "load", "bad.yaml")
    assert code == 1 and out == "" and "bad.yaml: cannot load: " in err
    app = create_app(state_path=ws / ".tapsync" / "sandbox.db")
    try:
        assert app.state.sandbox.store.items("amplitude", "event") == []
    finally:
        app.state.sandbox.store.close()
    (ws / "broken.yaml").write_text("amplitude: [\n", encoding="utf-8")
    code, _, err = tapsync(ws, "sandbox", "load", "broken.yaml")
    assert code == 1 and "broken.yaml: malformed YAML" in err
