"""One set of manifests promoted through two Amplitude projects (``--env``), end to end.

Each environment is its own sandbox *project* served on a loopback socket with its own
credentials, so the test proves that ``--env`` picks the provider block (base URL and
credential variable names) and the per-field overrides, and that one environment's
apply never touches the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tapsync.sandbox import create_app, serve_in_thread
from tests.ci.support import MANIFEST, tapsync, write_workspace

pytestmark = pytest.mark.socket

CONFIG = """\
version: 1
manifests: [manifests/]
providers:
  amplitude: {{base_url: https://amplitude.com}}
environments:
  staging:
    providers:
      amplitude:
        base_url: {staging}
        api_key_env: AMPLITUDE_STAGING_API_KEY
        secret_key_env: AMPLITUDE_STAGING_SECRET_KEY
    overrides:
      'amplitude.event_type["Play Song"]': {{description: "STAGING: a song started"}}
  prod:
    providers:
      amplitude:
        base_url: {prod}
        api_key_env: AMPLITUDE_PROD_API_KEY
        secret_key_env: AMPLITUDE_PROD_SECRET_KEY
"""

CREDS = {"AMPLITUDE_STAGING_API_KEY": "stg-key", "AMPLITUDE_STAGING_SECRET_KEY": "stg-secret",
         "AMPLITUDE_PROD_API_KEY": "prd-key", "AMPLITUDE_PROD_SECRET_KEY": "prd-secret"}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    staging = create_app(amplitude_credentials=("stg-key", "stg-secret"))
    prod = create_app(amplitude_credentials=("prd-key", "prd-secret"))
    with serve_in_thread(staging) as s, serve_in_thread(prod) as p:
        yield {"staging": s, "prod": p}


@pytest.fixture
def ws(tmp_path: Path, servers: dict[str, str]) -> Iterator[Path]:
    for url in servers.values():
        httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    yield write_workspace(tmp_path, MANIFEST, CONFIG.format(**servers))


def _description(url: str, event: str) -> object:
    state = httpx.get(f"{url}/_sandbox/state").json()
    return state.get("amplitude", {}).get("event", {}).get(event, {}).get("description")


def test_each_environment_applies_to_its_own_project_with_its_overrides(
        ws: Path, servers: dict[str, str]) -> None:
    code, _, err = tapsync(ws, "apply", "--env", "staging", "--auto-approve", env=CREDS)
    assert code == 0, err
    assert _description(servers["staging"], "Play Song") == "STAGING: a song started"
    assert _description(servers["prod"], "Play Song") is None         # untouched
    code, out, _ = tapsync(ws, "plan", "--env", "prod", "--detailed-exitcode", env=CREDS)
    assert code == 2 and "Plan: 5 to create" in out
    assert tapsync(ws, "apply", "--env", "prod", "--auto-approve", env=CREDS)[0] == 0
    assert _description(servers["prod"], "Play Song") == "A song started playing"
    for env in ("staging", "prod"):
        code, out, _ = tapsync(ws, "drift", "--env", env, "--format", "json", env=CREDS)
        assert code == 0, json.loads(out)["drift"]
        assert tapsync(ws, "plan", "--env", env, "--detailed-exitcode", env=CREDS)[0] == 0


def test_the_override_is_what_drift_compares_against(ws: Path, servers: dict[str, str]) -> None:
    assert tapsync(ws, "apply", "--env", "prod", "--auto-approve", env=CREDS)[0] == 0
    # prod holds the base description; staging's override says otherwise
    creds = {**CREDS, "AMPLITUDE_STAGING_API_KEY": "prd-key",
             "AMPLITUDE_STAGING_SECRET_KEY": "prd-secret"}
    cfg = (ws / "tapsync.yaml").read_text(encoding="utf-8")
    (ws / "tapsync.yaml").write_text(cfg.replace(servers["staging"], servers["prod"]),
                                     encoding="utf-8")
    code, out, _ = tapsync(ws, "drift", "--env", "staging", "--format", "json", env=creds)
    assert code == 2
    (item,) = json.loads(out)["drift"]
    assert item["fields"] == [{"path": ["description"], "live": "A song started playing",
                               "declared": "STAGING: a song started"}]


def test_each_environment_names_its_own_credential_variables(ws: Path) -> None:
    code, _, err = tapsync(ws, "plan", "--env", "prod",
                           env={"AMPLITUDE_PROD_API_KEY": "", "AMPLITUDE_PROD_SECRET_KEY": ""})
    assert code == 1
    assert "AMPLITUDE_PROD_API_KEY" in err and "AMPLITUDE_PROD_SECRET_KEY" in err
    assert "AMPLITUDE_STAGING" not in err


def test_the_wrong_projects_keys_are_refused(ws: Path) -> None:
    wrong = {**CREDS, "AMPLITUDE_PROD_API_KEY": "stg-key",
             "AMPLITUDE_PROD_SECRET_KEY": "stg-secret"}
    code, _, err = tapsync(ws, "plan", "--env", "prod", env=wrong)
    assert code == 1 and "403" in err and "stg-secret" not in err


def test_unknown_environment_and_bad_override_are_config_errors(ws: Path) -> None:
    code, _, err = tapsync(ws, "plan", "--env", "qa", env=CREDS)
    assert code == 1 and "unknown environment 'qa'" in err and "prod, staging" in err
    cfg = (ws / "tapsync.yaml").read_text(encoding="utf-8")
    (ws / "tapsync.yaml").write_text(cfg.replace('"Play Song"', '"Play Sng"'), encoding="utf-8")
    code, _, err = tapsync(ws, "plan", "--env", "staging", env=CREDS)
    assert code == 1 and 'amplitude.event_type["Play Sng"] is not declared' in err
