"""A saved plan applies only where it was made: the same environment, base URLs and
credentials. Elsewhere ``apply PLANFILE`` exits 1 before contacting anything (so nothing
is written), and the plan file records where without ever holding a secret."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tapsync.sandbox import create_app
from tapsync.sandbox.app import serve_in_thread
from tests.apply.support import Sandbox, writes
from tests.ci.support import tapsync, write_workspace
from tests.conftest import run

ENVIRONMENTS = "version: 1\nmanifests: [manifests/]\nenvironments: {staging: {}, prod: {}}\n"
API_KEY = "ak-prod-7Hq2Lw9RtX5mB3nc"
SECRET = "sk_live_9fJ2kQ7xZ3pL8vN4rT6w"


def _sandbox_db(ws: Path, env: str) -> Path:
    return ws / ".tapsync" / f"sandbox-{env}.db"


def test_a_sandbox_plan_applies_in_its_own_environment(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, config=ENVIRONMENTS)
    code, _, err = tapsync(ws, "plan", "--sandbox", "--env", "staging", "--out", "p.json")
    assert code == 0, err
    made_for = json.loads((ws / "p.json").read_text(encoding="utf-8"))["made_for"]
    assert (made_for["environment"], made_for["sandbox"]) == ("staging", True)
    code, out, err = tapsync(ws, "apply", "--sandbox", "--env", "staging", "p.json")
    assert code == 0, (out, err)
    assert "Converged" in err


@pytest.mark.parametrize("where", [("--env", "prod"), ()])
def test_a_sandbox_plan_is_refused_in_another_environment(tmp_path: Path,
                                                          where: tuple[str, ...]) -> None:
    ws = write_workspace(tmp_path, config=ENVIRONMENTS)
    code, _, err = tapsync(ws, "plan", "--sandbox", "--env", "staging", "--out", "p.json")
    assert code == 0, err
    staging_before = _sandbox_db(ws, "staging").read_bytes()
    code, out, err = tapsync(ws, "apply", "--sandbox", *where, "p.json")
    assert code == 1, (out, err)
    now = "environment prod" if where else "the default environment"
    assert ("this plan was made for environment staging (the sandbox); you are applying to "
            f"{now} (the sandbox); nothing was written") in err
    # refused before any sandbox was opened: the other environment's state was never made
    assert not _sandbox_db(ws, "prod").exists()
    assert not (ws / ".tapsync" / "sandbox.db").exists()
    assert _sandbox_db(ws, "staging").read_bytes() == staging_before


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, str]]:
    app = create_app(amplitude_credentials=(API_KEY, SECRET))
    with serve_in_thread(app) as url:
        yield Sandbox(app, url=url), url


def _env(url: str, key: str = API_KEY, secret: str = SECRET) -> dict[str, str]:
    return {"TAPSYNC_AMPLITUDE_BASE_URL": url, "AMPLITUDE_API_KEY": key,
            "AMPLITUDE_SECRET_KEY": secret}


@pytest.mark.socket
def test_the_saved_plan_records_where_it_was_made_without_the_secret(
        tmp_path: Path, served: tuple[Sandbox, str]) -> None:
    _, url = served
    ws = write_workspace(tmp_path)
    code, _, err = tapsync(ws, "plan", "--out", "p.json", env=_env(url))
    assert code == 0, err
    text = (ws / "p.json").read_text(encoding="utf-8")
    for form in (SECRET, API_KEY, base64.b64encode(f"{API_KEY}:{SECRET}".encode()).decode()):
        assert form not in text
    made_for = json.loads(text)["made_for"]
    assert made_for["environment"] is None and made_for["sandbox"] is False
    assert made_for["providers"]["amplitude"]["base_url"] == url
    assert made_for["providers"]["amplitude"]["credentials"].startswith("scrypt:")


@pytest.mark.socket
@pytest.mark.parametrize(("other", "message"), [
    ({"AMPLITUDE_SECRET_KEY": "sk_live_another_project_1"},
     "this plan was made with other amplitude credentials than the ones set now "
     "(AMPLITUDE_API_KEY, AMPLITUDE_SECRET_KEY)"),
    ({"TAPSYNC_AMPLITUDE_BASE_URL": "http://127.0.0.1:9"},
     "; you are applying to the default environment (amplitude: http://127.0.0.1:9); "
     "nothing was written"),
])
def test_a_plan_is_refused_with_other_credentials_or_another_base_url(
        tmp_path: Path, served: tuple[Sandbox, str], other: dict[str, str],
        message: str) -> None:
    sandbox, url = served
    ws = write_workspace(tmp_path)
    code, _, err = tapsync(ws, "plan", "--out", "p.json", env=_env(url))
    assert code == 0, err
    run(sandbox.admin("DELETE", "/stats"))
    code, out, err = tapsync(ws, "apply", "p.json", env={**_env(url), **other})
    stats = run(sandbox.stats())
    assert code == 1, (out, err)
    assert message in err
    assert "sk_live_another_project_1" not in err
    assert stats["requests"] == 0 and writes(stats) == 0   # refused before any call
    # where it was made, the same file applies
    code, out, err = tapsync(ws, "apply", "p.json", env=_env(url))
    assert code == 0, (out, err)


def test_an_older_plan_without_the_record_applies_with_a_warning(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path)
    code, _, err = tapsync(ws, "plan", "--sandbox", "--out", "p.json")
    assert code == 0, err
    doc = json.loads((ws / "p.json").read_text(encoding="utf-8"))
    del doc["made_for"]
    (ws / "p.json").write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = tapsync(ws, "apply", "--sandbox", "p.json")
    assert code == 0, (out, err)
    assert "does not record the environment and project it was made for" in err


def test_a_plan_whose_credentials_hash_has_no_salt_is_refused(tmp_path: Path) -> None:
    """A plan from before the per-plan salt (a short fixed-salt sha256) cannot be checked
    against the credentials set now: refused before anything is contacted, saying why."""
    ws = write_workspace(tmp_path)
    code, _, err = tapsync(ws, "plan", "--sandbox", "--out", "p.json")
    assert code == 0, err
    doc = json.loads((ws / "p.json").read_text(encoding="utf-8"))
    del doc["made_for"]["salt"]
    doc["made_for"]["providers"]["amplitude"]["credentials"] = "sha256:0123456789ab"
    (ws / "p.json").write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = tapsync(ws, "apply", "--sandbox", "p.json")
    assert code == 1, (out, err)
    assert ("this plan does not record its credentials the way this tapsync checks them "
            "(an older tapsync made it?); nothing was written: make the plan again") in err
