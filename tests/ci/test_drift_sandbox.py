"""``tapsync drift`` against the sandbox: out-of-band edits, deletions and ingestion are
found, reported in every format, set aside by ``.tapsyncignore``, and baselined."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.ci.support import TAXONOMY, load_fixtures, sandbox_calls, tapsync, write_workspace

INGEST = [{"event_type": "Debug Ping", "user_id": "u1", "event_properties": {"probe": 1},
           "user_properties": {"beta_tester": True}},
          {"event_type": "Play Song", "user_id": "u1", "event_properties": {"duration": 3}}]


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    ws = write_workspace(tmp_path)
    code, _, err = tapsync(ws, "apply", "--sandbox", "--auto-approve")
    assert code == 0, err
    return ws


def _tamper(ws: Path) -> None:
    """What people do in the dashboard, and what data does to the schema."""
    answers = sandbox_calls(
        ws,
        ("PUT", f"{TAXONOMY}/event/Play%20Song", {"data": {"description": "edited in the UI"}}),
        ("DELETE", f"{TAXONOMY}/event/Log%20In", {}),
    )
    assert all(a.get("success") for a in answers), answers
    load_fixtures(ws, {"ingest": INGEST})


def test_a_converged_workspace_has_no_drift(applied: Path) -> None:
    code, out, _ = tapsync(applied, "drift", "--sandbox")
    assert code == 0
    assert out.startswith("No drift. Live state matches the manifests.")
    assert "amplitude.event_type: 2/2 managed (100 %)" in out
    assert out.rstrip().endswith("Drift: 0 changed, 0 missing, 0 unmanaged, 0 unexpected.")


def test_drift_finds_out_of_band_edits_deletions_and_ingested_objects(applied: Path) -> None:
    _tamper(applied)
    code, out, _ = tapsync(applied, "drift", "--sandbox", "--format", "json")
    assert code == 2
    doc = json.loads(out)
    found = {(d["type"], d["address"]) for d in doc["drift"]}
    assert found == {
        ("changed", 'amplitude.event_type["Play Song"]'),
        ("missing", 'amplitude.event_type["Log In"]'),
        ("unmanaged", 'amplitude.event_type["Debug Ping"]'),
        ("unmanaged", 'amplitude.event_property["Debug Ping"]["probe"]'),
        ("unmanaged", 'amplitude.user_property["beta_tester"]'),
    }
    changed = next(d for d in doc["drift"] if d["type"] == "changed")
    assert changed["fields"] == [{"path": ["description"], "live": "edited in the UI",
                                  "declared": "A song started playing"}]
    assert changed["source"] == {"file": "manifests/amplitude.yaml", "line": 7, "column": 20}
    # Amplitude's Taxonomy API does not say which objects were ingested without being
    # planned, so ingested objects are unmanaged here, never "unexpected"
    assert doc["summary"] == {"changed": 1, "missing": 1, "unmanaged": 3, "unexpected": 0}
    assert doc["coverage"]["amplitude.event_type"] == {"managed": 1, "live": 2,
                                                       "percent": 50.0}
    # built-in user properties (device_id…) are neither unmanaged nor counted
    assert doc["coverage"]["amplitude.user_property"]["live"] == 2


def test_drift_never_writes(applied: Path) -> None:
    _tamper(applied)
    before = sandbox_calls(applied, ("GET", "/_sandbox/state", {}))
    for fmt in ("text", "json", "markdown", "junit", "github"):
        assert tapsync(applied, "drift", "--sandbox", "--format", fmt)[0] == 2
    assert sandbox_calls(applied, ("GET", "/_sandbox/state", {})) == before


def test_every_format_can_be_written_to_a_file(applied: Path) -> None:
    _tamper(applied)
    code, out, err = tapsync(applied, "drift", "--sandbox", "--format", "junit",
                             "--out", "drift.xml")
    assert code == 2 and out == "" and "drift.xml" in err
    root = ET.parse(applied / "drift.xml").getroot()
    assert root.get("failures") == "5"
    failed = {c.get("name") for c in root.iter("testcase") if c.find("failure") is not None}
    assert 'amplitude.event_type["Play Song"]' in failed
    code, out, _ = tapsync(applied, "drift", "--sandbox", "--format", "markdown")
    assert code == 2 and out.startswith("<!-- tapsync:drift -->\n### tapsync drift: 5 ")
    code, out, _ = tapsync(applied, "drift", "--sandbox", "--format", "github")
    assert "::error file=manifests/amplitude.yaml,line=7,col=20,title=tapsync drift%3A " \
           "changed::" in out


def test_the_ignore_file_sets_drift_aside(applied: Path) -> None:
    _tamper(applied)
    (applied / ".tapsyncignore").write_text(
        "# scratch events from the QA app, and anything beta\n"
        'amplitude.event_type["Debug *"]\n'
        "amplitude.user_property[\"beta_*\"]\n", encoding="utf-8")
    code, out, _ = tapsync(applied, "drift", "--sandbox", "--format", "json")
    doc = json.loads(out)
    assert code == 2
    assert doc["summary"] == {"changed": 1, "missing": 1, "unmanaged": 0, "unexpected": 0}
    assert doc["ignored"] == ['amplitude.event_property["Debug Ping"]["probe"]',
                              'amplitude.event_type["Debug Ping"]',
                              'amplitude.user_property["beta_tester"]']


def test_a_baseline_starts_tomorrow_clean(applied: Path) -> None:
    _tamper(applied)
    code, out, err = tapsync(applied, "drift", "--sandbox", "--write-baseline")
    assert code == 0, out
    assert "Baseline: 5 address(es) added" in err
    text = (applied / ".tapsyncignore").read_text(encoding="utf-8")
    assert text.startswith("# .tapsyncignore:")
    assert 'amplitude.event_type["Debug Ping"]\n' in text
    assert "probe" not in text                   # covered by its event type's line
    assert tapsync(applied, "drift", "--sandbox")[0] == 0
    # new drift after the baseline is reported again
    sandbox_calls(applied, ("PUT", f"{TAXONOMY}/user-property/plan",
                            {"data": {"enum_values": "free,pro,team"}}))
    code, out, _ = tapsync(applied, "drift", "--sandbox", "--format", "json")
    assert code == 2
    assert [d["address"] for d in json.loads(out)["drift"]] == ['amplitude.user_property["plan"]']


def test_errors_exit_1(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, "amplitude:\n  event_types:\n    - name: X\n      colour: 1\n")
    code, _, err = tapsync(ws, "drift", "--sandbox")
    assert code == 1 and "colour" in err
