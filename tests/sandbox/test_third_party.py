"""Third-party Amplitude clients, unmodified, against ``tapsync sandbox serve``.

``amplitude-data-wrapper`` lists and deletes event types (with ``Content-Type:
application/json`` and no body); ``figma-taxonomy-gen`` pushes categories, shared event
properties and events, sending ``category_name`` where the docs say ``category``. Both
are installed from the package index into a throwaway venv kept in pytest's cache (so
only the first run pays for it). The test skips only when the index cannot be reached at
all (a connection-level error); any other install failure fails it.
"""

from __future__ import annotations

import json
import os
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_support import AUTH, cli_server

pytestmark = [pytest.mark.socket, pytest.mark.slow]

PACKAGES = ("amplitude-data-wrapper", "figma-taxonomy-gen")
#: what pip prints when it cannot reach the index at all (connection-level failures).
#: "No matching distribution found" is *not* here: pip says it after such failures, but
#: also when the index answered and the package or version is gone, which must fail.
UNREACHABLE = ("NewConnectionError", "Temporary failure in name resolution",
               "Name or service not known", "Network is unreachable", "Connection refused",
               "ConnectTimeoutError", "ReadTimeoutError", "ProxyError")


def index_unreachable(pip_output: str) -> bool:
    """Did ``pip install`` fail because the package index could not be reached?"""
    return any(marker in pip_output for marker in UNREACHABLE)

WRAPPER = """
import json, sys
import amplitude_data_wrapper.analytics_api as api
base, key, secret = sys.argv[1:4]
api.API_DOMAINS["us"] = base
before = api.get_all_event_types(key, secret, region="us")
deleted = api.delete_event_type(key, secret, "Old Event", region="us")
after = api.get_all_event_types(key, secret, region="us")
print(json.dumps({"before": [before.status_code, before.json()],
                  "deleted": [deleted.status_code, deleted.json()],
                  "after": [after.status_code, after.json()]}))
"""

FIGMA = """
import dataclasses, json, sys
from figma_taxonomy.amplitude_push import make_client, push_taxonomy
from figma_taxonomy.models import EventProperty, TaxonomyEvent
base, key, secret = sys.argv[1:4]
events = [
    TaxonomyEvent("Checkout Started", "Checkout", "User began checkout",
                  [EventProperty("cart_value", "number", "Cart total")]),
    TaxonomyEvent("Signup Viewed", "", "Saw the signup form",
                  [EventProperty("cart_value", "number", "dup"),
                   EventProperty("source", "string", "Where from")]),
]
client = make_client(key, secret, base_url=base)
runs = [dataclasses.asdict(push_taxonomy(events, client)) for _ in range(2)]
print(json.dumps(runs))
"""


@pytest.fixture(scope="session")
def venv_python(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(request.config, "cache", None)
    root = cache.mkdir("sandbox-third-party-venv") if cache else tmp_path_factory.mktemp("tpv")
    python = root / "bin" / "python"
    probe = "import amplitude_data_wrapper.analytics_api, figma_taxonomy.amplitude_push"
    if python.exists() and subprocess.run(
        [python, "-c", probe], capture_output=True
    ).returncode == 0:
        return python
    venv.create(root, with_pip=True, clear=True)
    done = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *PACKAGES],
        capture_output=True, text=True, timeout=600,
    )
    if done.returncode != 0:
        output = done.stdout + done.stderr
        if index_unreachable(output):
            pytest.skip(f"package index unreachable, cannot install {PACKAGES}: "
                        f"{output.strip().splitlines()[-1]}")
        pytest.fail(f"pip install {PACKAGES} failed:\n{output}")
    return python


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``tapsync sandbox serve`` in a subprocess on 127.0.0.1, with its state in a file."""
    with cli_server("--state", str(tmp_path / "s.db")) as (base, _):
        yield base


def run_client(python: Path, script: str, base: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    done = subprocess.run([python, "-c", script, base, *AUTH], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_amplitude_data_wrapper_lists_and_deletes(venv_python: Path, served: str) -> None:
    fixture = {"amplitude": {"event_types": [
        {"event_type": "Old Event", "status": "planned"},
        {"event_type": "Keep", "status": "live"}]}}
    assert httpx.post(f"{served}/_sandbox/fixtures", json=fixture).status_code == 200
    out = run_client(venv_python, WRAPPER, served)
    assert out["before"][0] == 200
    assert [e["event_type"] for e in out["before"][1]["data"]] == ["Old Event", "Keep"]
    assert out["deleted"] == [200, {"success": True}]
    assert [e["event_type"] for e in out["after"][1]["data"]] == ["Keep"]


def test_figma_taxonomy_gen_pushes_a_taxonomy(venv_python: Path, served: str) -> None:
    first, second = run_client(venv_python, FIGMA, served)
    assert first["errors"] == []
    assert first["categories_created"] == ["Checkout"]
    assert first["properties_created"] == ["cart_value", "source"]
    assert first["events_created"] == ["Checkout Started", "Signup Viewed"]
    # Second push: events are found and skipped; the category and properties exist (409).
    assert second["events_skipped"] == ["Checkout Started", "Signup Viewed"]
    assert sorted(e["status"] for e in second["errors"]) == [409, 409, 409]
    with httpx.Client(base_url=served, auth=AUTH) as client:
        event = client.get("/api/2/taxonomy/event/Checkout%20Started").json()["data"]
        assert event["category"] == {"name": "Checkout"}
        assert event["description"] == "User began checkout"
        other = client.get("/api/2/taxonomy/event/Signup%20Viewed").json()["data"]
        assert other["category"] is None
        shared = client.get("/api/2/taxonomy/event-property").json()["data"]
        assert [(p["event_type"], p["event_property"], p["type"]) for p in shared] == [
            (None, "cart_value", "number"), (None, "source", "string")]


UNREACHABLE_OUTPUT = """\
WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after \
connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection \
object at 0x7f>: Failed to establish a new connection: [Errno -3] Temporary failure in name \
resolution')': /simple/amplitude-data-wrapper/
ERROR: Could not find a version that satisfies the requirement amplitude-data-wrapper \
(from versions: none)
ERROR: No matching distribution found for amplitude-data-wrapper
"""


@pytest.mark.parametrize(("output", "skip"), [
    (UNREACHABLE_OUTPUT, True),
    ("ERROR: Could not find a version that satisfies the requirement figma-taxonomy-gen==9 "
     "(from versions: 0.1.0)\nERROR: No matching distribution found for figma-taxonomy-gen==9\n",
     False),
    ("error: subprocess-exited-with-error\n  × Building wheel for x did not run successfully.\n",
     False),
])
def test_only_an_unreachable_index_skips(output: str, skip: bool) -> None:
    assert index_unreachable(output) is skip
