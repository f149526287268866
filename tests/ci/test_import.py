"""``tapsync import``: live state → manifests that validate and plan no changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tapsync.importer import import_files
from tapsync.manifest import check
from tapsync.model import Resource, ResourceKey, State
from tapsync.normalize import canonical
from tapsync.planner import plan
from tests.ci.support import load_fixtures, sandbox_calls, tapsync
from tests.plan_specs import SPECS

PROJECT = {  # a project someone built by hand in the dashboard, then fed with data
    "categories": ["Media", "Account & Billing"],
    "event_types": [
        {"event_type": "Play Song", "category": "Media", "description": "A song started",
         "tags": ["core", "media"], "owner": "audio-team"},
        {"event_type": "Sign Up", "category": "Account & Billing", "is_active": False},
        {"event_type": "Bare"},
        {"event_type": "Old", "status": "deleted"},
    ],
    "event_properties": [
        {"event_type": "Play Song", "event_property": "genre", "type": "enum",
         "enum_values": ["rock", "pop"], "is_required": True},
        {"event_type": "Play Song", "event_property": "source", "type": "string",
         "regex": "^(search|radio)$", "description": "where from: \"quoted\", #hash"},
        {"event_type": "Sign Up", "event_property": "bad", "type": "number", "regex": "^x$"},
        {"event_property": "platform", "type": "enum", "enum_values": ["ios", "web"],
         "classifications": ["PII"]},
        {"event_property": "true", "type": "boolean", "is_array_type": True},
    ],
    "user_properties": [
        {"user_property": "plan", "type": "string", "regex": "^(free|pro)$"},
        {"user_property": "nickname", "description": "multi\nline: yes"},
    ],
    "ingest": [{"event_type": "Debug Ping", "user_id": "u", "event_properties": {"probe": 1}}],
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "tapsync.yaml").write_text("version: 1\nmanifests: [manifests/]\n",
                                           encoding="utf-8")
    load_fixtures(tmp_path, PROJECT)
    return tmp_path


def test_import_then_plan_shows_no_changes_and_drift_none(project: Path) -> None:
    code, out, err = tapsync(project, "import", "--sandbox", "--out", "manifests")
    assert code == 0, err
    assert out.splitlines() == [f"wrote manifests/amplitude/{k}.yaml" for k in (
        "categories", "event_properties", "event_types", "user_properties")]
    assert tapsync(project, "validate")[0] == 0
    code, out, _ = tapsync(project, "plan", "--sandbox", "--detailed-exitcode")
    assert (code, out) == (0, "No changes. Live state matches the manifests.\n")
    code, out, _ = tapsync(project, "drift", "--sandbox", "--format", "json")
    doc = json.loads(out)
    assert code == 0, doc["drift"]
    assert all(c["managed"] == c["live"] for c in doc["coverage"].values())


def test_imported_files_are_readable_and_say_where_they_came_from(project: Path) -> None:
    tapsync(project, "import", "--sandbox", "--out", "manifests")
    events = (project / "manifests/amplitude/event_types.yaml").read_text(encoding="utf-8")
    assert events.startswith("# Imported from amplitude (the tapsync sandbox) on ")
    assert "    - name: Play Song\n      category: Media\n" in events
    assert "tags: [core, media]" in events and "enum_values: [pop, rock]" in events
    assert "Old" not in events                             # deleted live: not imported
    assert "is_active: false" in events and "is_active: true" not in events
    assert "# Left out: amplitude.event_property[\"Sign Up\"][\"bad\"]: regex '^x$' left " \
           "out: it applies only to type string" in events
    users = (project / "manifests/amplitude/user_properties.yaml").read_text(encoding="utf-8")
    assert "device_id" not in users                        # built-ins are never imported


def test_import_refuses_to_overwrite_without_force(project: Path) -> None:
    assert tapsync(project, "import", "--sandbox", "--out", "manifests")[0] == 0
    path = project / "manifests/amplitude/categories.yaml"
    path.write_text("# mine\n", encoding="utf-8")
    code, _, err = tapsync(project, "import", "--sandbox", "--out", "manifests")
    assert code == 1 and "refusing to overwrite" in err and "--force" in err
    assert path.read_text(encoding="utf-8") == "# mine\n"
    assert tapsync(project, "import", "--sandbox", "--out", "manifests", "--force")[0] == 0
    assert path.read_text(encoding="utf-8").startswith("# Imported from amplitude")


def test_kinds_and_split_by_category_still_plan_empty(project: Path) -> None:
    code, out, err = tapsync(project, "import", "--sandbox", "--out", "manifests",
                             "--kinds", "event_type,user_property", "--split", "category")
    assert code == 0, err
    assert sorted(out.split()[1::2]) == [
        "manifests/amplitude/categories/account-billing.yaml",
        "manifests/amplitude/categories/media.yaml",
        "manifests/amplitude/uncategorized.yaml",
        "manifests/amplitude/user_properties.yaml"]
    media = (project / "manifests/amplitude/categories/media.yaml").read_text(encoding="utf-8")
    assert "  categories:\n    - name: Media\n      external: true\n" in media
    assert tapsync(project, "plan", "--sandbox", "--detailed-exitcode")[0] == 0


def test_unknown_kinds_are_a_usage_error(project: Path) -> None:
    code, _, err = tapsync(project, "import", "--sandbox", "--out", "m", "--kinds", "events")
    assert code == 1 and "unknown kind(s) events" in err


def _res(address: str, attrs: dict[str, object] | None = None) -> Resource:
    """A live object as a provider hands it over: normalised."""
    key = ResourceKey.parse(address)
    return Resource(key, canonical(key.provider, key.kind, attrs or {}))


def _live() -> State:
    return State([
        _res('amplitude.category["Media"]'),
        _res('amplitude.event_type["Play"]', {"category": {"name": "Media"}, "description": None,
                                              "tags": ["b", "a"], "is_active": True,
                                              "is_hidden_from_timeline": False}),
        _res('amplitude.event_property["Play"]["n"]',
             {"type": "enum", "enum_values": ["x,y", "z"], "description": "n"}),
        _res('amplitude.user_property["yes"]', {"type": "any", "description": "null"}),
    ])


def test_the_importer_is_pure_stable_and_round_trips(tmp_path: Path) -> None:
    files = import_files(_live(), provider="amplitude", origin="https://amplitude.com",
                         when="2026-11-22")
    assert files == import_files(_live(), provider="amplitude",
                                 origin="https://amplitude.com", when="2026-11-22")
    assert files["amplitude/categories.yaml"] == (
        "# Imported from amplitude (https://amplitude.com) on 2026-11-22 by 'tapsync import'.\n"
        "# Only fields set live are written; the rest stay unowned (edit freely).\n"
        "amplitude:\n  categories:\n    - name: Media\n")
    assert "enum_values" not in files["amplitude/event_types.yaml"].split("# Left out")[-1] \
        .split("amplitude:")[1]
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    checked = check([tmp_path])
    assert checked.ok, checked.problems
    assert plan(checked.state, _live(), SPECS).empty


def test_taplytics_experiments_round_trip_too(tmp_path: Path) -> None:
    (tmp_path / "tapsync.yaml").write_text("version: 1\nmanifests: [manifests/]\n",
                                           encoding="utf-8")
    (answer,) = sandbox_calls(tmp_path, ("POST", "/_sandbox/fixtures", {"content": json.dumps(
        {"taplytics": {"experiments": [{"name": "Checkout colour", "status": "active",
                                        "description": "green vs blue"},
                                       {"name": "Draft idea"}]}})}))
    assert answer["ok"], answer
    code, out, err = tapsync(tmp_path, "import", "--sandbox", "--out", "manifests",
                             "--provider", "taplytics")
    assert (code, out) == (0, "wrote manifests/taplytics/experiments.yaml\n"), err
    text = (tmp_path / "manifests/taplytics/experiments.yaml").read_text(encoding="utf-8")
    assert "    - name: Draft idea\n      status: draft\n" in text
    assert tapsync(tmp_path, "plan", "--sandbox", "--detailed-exitcode")[0] == 0
    assert tapsync(tmp_path, "drift", "--sandbox")[0] == 0


def test_split_by_category_gives_each_category_its_own_file(tmp_path: Path) -> None:
    """Names that reduce to the same file name ("Sign Up", "Sign-Up", "sign_up"; two names
    with no ASCII letters at all) still get a file each, numbered in name order, so every
    category stays declared: the import validates, plans no changes, and a second import
    writes the same files."""
    names = ["Sign Up", "Sign-Up", "sign_up", "登録", "購入"]
    (tmp_path / "tapsync.yaml").write_text("version: 1\nmanifests: [manifests/]\n",
                                           encoding="utf-8")
    load_fixtures(tmp_path, {"categories": names, "event_types": [
        {"event_type": f"E{i}", "category": n} for i, n in enumerate(names)]})
    code, out, err = tapsync(tmp_path, "import", "--sandbox", "--out", "manifests",
                             "--split", "category")
    assert code == 0, err
    written = sorted(out.split()[1::2])
    assert len(set(written)) == len(names), written
    for i, name in enumerate(names):
        holders = [p for p in written
                   if f"- name: {name}\n" in (tmp_path / p).read_text(encoding="utf-8")]
        assert len(holders) == 1, (name, holders)
        assert f"- name: E{i}\n" in (tmp_path / holders[0]).read_text(encoding="utf-8")
        if i < 3:  # name order: "Sign Up" < "Sign-Up" < "sign_up"
            suffix = ("", "-2", "-3")[i]
            assert holders[0] == f"manifests/amplitude/categories/sign-up{suffix}.yaml"
    code, out, err = tapsync(tmp_path, "validate")
    assert code == 0, out + err
    code, out, err = tapsync(tmp_path, "plan", "--sandbox", "--detailed-exitcode")
    assert (code, out) == (0, "No changes. Live state matches the manifests.\n"), out + err
    code, out, err = tapsync(tmp_path, "import", "--sandbox", "--out", "manifests",
                             "--split", "category", "--force")
    assert code == 0 and sorted(out.split()[1::2]) == written, err
