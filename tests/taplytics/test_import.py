"""``tapsync import`` for every Taplytics kind: experiments by default, sent pushes and users
when ``--kinds`` names them; each imports into manifests that validate and plan no changes."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.applications import Starlette

from tapsync import importer
from tapsync.changes import Action
from tapsync.importer import import_files
from tapsync.manifest import check
from tapsync.model import Resource, ResourceKey, State
from tapsync.planner import plan
from tapsync.providers import taplytics
from tapsync.providers.taplytics import TaplyticsProvider, push_attrs
from tests.ci.support import sandbox_calls, tapsync
from tests.plan_specs import SPECS
from tests.sandboxed import config, session
from tests.taplytics.tap_support import SEED_PUSH, load

T = "taplytics"
NO_CHANGES = "No changes. Live state matches the manifests.\n"

PUSHES: list[dict[str, Any]] = [
    {**SEED_PUSH, "name": "vcr-winners", "notification": {"alert": "You won!",
                                                          "time_to_live": 3600},
     "custom_keys": {"deep_link": "app://vcr"}, "badge_count": 0, "production": True,
     "schedule": {"time": "2099-12-05T15:00:00Z"}},
    {"name": "welcome", "notification": {"alert": "Welcome: yes, \"really\" #1"}},
    {"name": "silent-refresh", "notification": {}, "custom_keys": {"refresh": True},
     "is_silent": True, "filter_duplicate_content": False,
     "filters": [{"type": "os", "comparator": "=", "values": ["iOS"]}],
     "schedule": {"local_time": "2099-01-01T09:00:00"}},
    {"name": "welcome", "notification": {"alert": "a later namesake"}},
    {"notification": {"alert": "an old push with no name"}},
]
EXPERIMENTS = [{"name": "Checkout colour", "status": "active", "description": "green vs blue"},
               {"name": "Draft idea"}]


def workspace(ws: Path, **fixture: Any) -> Path:
    """A workspace whose sandbox holds ``fixture`` (Taplytics objects made live earlier)."""
    (ws / "tapsync.yaml").write_text("version: 1\nmanifests: [manifests/]\n", encoding="utf-8")
    (answer,) = sandbox_calls(ws, ("POST", "/_sandbox/fixtures",
                                   {"content": json.dumps({T: fixture})}))
    assert answer["ok"], answer
    return ws


def imported(ws: Path, *args: str) -> list[str]:
    """Import, then check that validate passes and plan shows no changes; the paths written."""
    code, out, err = tapsync(ws, "import", "--sandbox", "--out", "manifests",
                             "--provider", T, *args)
    assert code == 0, err
    code, out_v, err_v = tapsync(ws, "validate")
    assert code == 0, out_v + err_v
    code, out_p, err_p = tapsync(ws, "plan", "--sandbox", "--detailed-exitcode")
    assert (code, out_p) == (0, NO_CHANGES), out_p + err_p
    return out.split()[1::2]


def read(ws: Path, name: str) -> str:
    return (ws / "manifests" / T / name).read_text(encoding="utf-8")


def body(text: str) -> str:
    """A file without its first line (which carries today's date)."""
    return text.split("\n", 1)[1]


# --- defaults and help -------------------------------------------------------------------

def test_by_default_only_experiments_are_imported(tmp_path: Path) -> None:
    ws = workspace(tmp_path, experiments=EXPERIMENTS, pushes=PUSHES[:2],
                   users=[{"user_id": "qa-1"}])
    assert imported(ws) == ["manifests/taplytics/experiments.yaml"]
    text = read(ws, "experiments.yaml")
    assert "    - name: Checkout colour\n      status: active\n      description: green vs " \
           "blue\n" in text
    assert "    - name: Draft idea\n      status: draft\n" in text


def test_experiment_variations_are_carried_through_and_plan_no_changes(tmp_path: Path) -> None:
    """The importer has no table entry for ``variations``: whatever the provider reads
    and the manifest format accepts is carried, in name order as the provider gives it."""
    ws = workspace(tmp_path, experiments=[
        {"name": "Checkout colour", "status": "active",
         "variations": [{"name": "Green", "distributionPercent": 50},
                        {"name": "Blue", "distributionPercent": 25.5}]}])
    imported(ws, "--kinds", "experiment")
    assert yaml.safe_load(read(ws, "experiments.yaml"))[T]["experiments"] == [
        {"name": "Checkout colour", "status": "active",
         "variations": [{"name": "Blue", "distributionPercent": 25.5},
                        {"name": "Green", "distributionPercent": 50}]}]


def test_help_says_which_kinds_are_default_and_which_need_kinds(tmp_path: Path) -> None:
    code, out, _ = tapsync(tmp_path, "import", "--help")
    assert code == 0
    text = " ".join(out.split())
    by_default = re.findall(r"\w+", text.split("Imported by default:")[1]
                            .split("Only when --kinds")[0])
    opt_in = text.split("Only when --kinds names them:")[1]
    for provider in ("amplitude", "taplytics"):
        for kind in importer.default_kinds(provider):
            assert kind in by_default, kind
        for kind in importer.OPT_IN.get(provider, {}):
            assert f"{provider} {kind}" in opt_in and kind not in by_default
    assert "--max-users" in text


# --- pushes ------------------------------------------------------------------------------

def test_sent_pushes_import_as_declared_pushes_that_plan_no_send(tmp_path: Path) -> None:
    ws = workspace(tmp_path, pushes=PUSHES)
    assert imported(ws, "--kinds", "push_campaign") == [
        "manifests/taplytics/push_campaigns.yaml"]
    text = read(ws, "push_campaigns.yaml")
    assert "# These pushes were sent (or scheduled) already, so each says sent: true" in text
    doc = yaml.safe_load(text)[T]["push_campaigns"]
    assert [p["name"] for p in doc] == ["silent-refresh", "vcr-winners", "welcome"]
    refresh, vcr, welcome = doc
    assert welcome == {"name": "welcome", "sent": True,
                       "notification": {"alert": "Welcome: yes, \"really\" #1"},
                       "send_to_all_users": True, "schedule": "now"}   # the first namesake
    assert "    - name: welcome\n      sent: true\n" in text         # said up front
    assert vcr["sent"] is True
    assert refresh == {"name": "silent-refresh", "sent": True, "notification": {},
                       "filters": [{"type": "os", "comparator": "=", "values": ["iOS"]}],
                       "schedule": {"local_time": "2099-01-01T09:00:00"},
                       "custom_keys": {"refresh": True}, "filter_duplicate_content": False,
                       "is_silent": True}
    assert vcr["filters"] == SEED_PUSH["filters"] and vcr["image"] == SEED_PUSH["image"]
    assert (vcr["badge_count"], vcr["production"]) == (0, True)
    assert "send_to_all_users" not in vcr and "is_silent" not in vcr
    assert "values: [Canada, US]" in text and "values: [16]" in text
    # and applying them sends nothing: the store still holds the five pushes it started with
    assert tapsync(ws, "apply", "--sandbox", "--auto-approve")[0] == 0
    (state,) = sandbox_calls(ws, ("GET", "/_sandbox/state", {}))
    assert len(state[T]["push"]) == len(PUSHES)


def test_imported_pushes_applied_to_a_project_without_them_send_nothing(
        tmp_path: Path) -> None:
    """Imported from one project (prod) and applied with --allow-send to another where they
    are not live (staging, a fresh sandbox): each is a plan error, and nothing is sent,
    although as imported they say ``schedule: now`` and ``send_to_all_users: true``."""
    for name in ("prod", "staging/manifests/taplytics"):
        (tmp_path / name).mkdir(parents=True)
    prod = workspace(tmp_path / "prod", pushes=PUSHES[:3])
    imported(prod, "--kinds", "push_campaign")
    staging = workspace(tmp_path / "staging")                      # its sandbox: no pushes
    (staging / "manifests" / T / "push_campaigns.yaml").write_text(
        read(prod, "push_campaigns.yaml"), encoding="utf-8")
    code, out, err = tapsync(staging, "plan", "--sandbox")
    assert code == 1, out + err
    for name in ("silent-refresh", "vcr-winners", "welcome"):
        assert (f'taplytics.push_campaign["{name}"]: declared as sent (sent: true) but not '
                "found live in this project; it will not be sent") in out, out + err
    assert "remove `sent: true` to send it" in out
    code, out, err = tapsync(staging, "apply", "--sandbox", "--auto-approve", "--allow-send")
    assert code == 1 and "refusing to apply" in err, out + err
    (state,) = sandbox_calls(staging, ("GET", "/_sandbox/state", {}))
    assert not state.get(T, {}).get("push"), state


def test_an_imported_push_never_plans_a_send(tmp_path: Path) -> None:
    """The reviewer's case: a push sent ``now`` to everyone, imported, then planned against
    a project that does not hold it; and against the one it came from."""
    live = State([_push("spring-sale", notification={"alert": "Spring sale!"},
                        schedule={"now": True})])
    files = _round_trip(tmp_path, live, ["push_campaign"])       # plans nothing where live
    text = files["taplytics/push_campaigns.yaml"]
    assert yaml.safe_load(text)[T]["push_campaigns"] == [
        {"name": "spring-sale", "sent": True, "notification": {"alert": "Spring sale!"},
         "send_to_all_users": True, "schedule": "now"}]
    desired = check([tmp_path]).state
    elsewhere = plan(desired, State(), SPECS, now=datetime(2026, 1, 2, tzinfo=timezone.utc))
    assert elsewhere.changes == ()
    assert [(e.address, e.message) for e in elsewhere.errors] == [
        ('taplytics.push_campaign["spring-sale"]', "declared as sent (sent: true) but not found "
         "live in this project; it will not be sent — remove `sent: true` to send it")]
    # the same manifest without the mark is the send it would otherwise have been
    (tmp_path / "taplytics" / "push_campaigns.yaml").write_text(
        text.replace("      sent: true\n", ""), encoding="utf-8")
    unmarked = plan(check([tmp_path]).state, State(), SPECS)
    assert [c.action for c in unmarked.changes] == [Action.SEND]


def test_a_push_sent_in_the_past_imports_and_validates(tmp_path: Path) -> None:
    """Its schedule is history: marked sent, it draws no past-time warning either."""
    ws = workspace(tmp_path, pushes=[{"name": "spring-sale", "notification": {"alert": "Hi"},
                                      "schedule": {"time": "2020-03-01T10:00:00Z"},
                                      "status": "sent"}])
    imported(ws, "--kinds", "push_campaign")
    assert "schedule:\n        time: '2020-03-01T10:00:00Z'\n" in read(ws, "push_campaigns.yaml")
    code, out, err = tapsync(ws, "validate")
    assert code == 0 and "in the past" not in out + err, out + err


def test_an_edited_imported_push_is_refused_not_sent(tmp_path: Path) -> None:
    ws = workspace(tmp_path, pushes=PUSHES[1:2])
    imported(ws, "--kinds", "push_campaign")
    path = ws / "manifests" / T / "push_campaigns.yaml"
    path.write_text(read(ws, "push_campaigns.yaml").replace("really", "truly"),
                    encoding="utf-8")
    code, out, err = tapsync(ws, "plan", "--sandbox", "--detailed-exitcode")
    assert code == 1 and "a sent push campaign is immutable" in out + err
    assert "give it a new name" in out + err


# --- users -------------------------------------------------------------------------------

def _users(n: int) -> list[dict[str, Any]]:
    """``n`` users: most with a user_id, every seventh known by email only, every
    eleventh anonymous (no identity a manifest could write)."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        if i % 11 == 0:
            out.append({"first_name": f"Anon {i}"})
        elif i % 7 == 0:
            out.append({"email": f"user{i:03}@example.com", "gender": "f"})
        else:
            out.append({"user_id": f"u{i:03}", "email": f"u{i}@example.com",
                        "first_name": "Kim" if i % 2 else None,
                        "custom_data": {"tier": "gold", "n": i, "tags": ["a", "b"],
                                        "prefs": {"lang": "fr"}} if i % 3 else {}})
    return out


def test_users_import_across_token_pages_and_plan_no_changes(tmp_path: Path) -> None:
    users = _users(230)          # three pages of at most 100
    ws = workspace(tmp_path, users=users)
    assert imported(ws, "--kinds", "user") == ["manifests/taplytics/users.yaml"]
    text = read(ws, "users.yaml")
    doc = yaml.safe_load(text)[T]["users"]
    identified = [u for u in users if u.get("user_id") or u.get("email")]
    assert len(doc) == len(identified) == 209
    assert {"user_id": "u001", "email": "u1@example.com", "first_name": "Kim",
            "custom_data": {"tier": "gold", "n": 1, "tags": ["a", "b"],
                            "prefs": {"lang": "fr"}}} in doc
    assert {"user_id": "u006", "email": "u6@example.com"} in doc     # empty custom_data
    assert {"email": "user007@example.com", "gender": "f"} in doc    # known by email only
    assert "Anon" not in text and "# custom_data is owned whole" in text
    first = body(text)
    assert tapsync(ws, "import", "--sandbox", "--out", "manifests", "--provider", T,
                   "--kinds", "user", "--force")[0] == 0
    assert body(read(ws, "users.yaml")) == first                     # stable output


def test_users_past_the_cap_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    ws = workspace(tmp_path, users=[{"user_id": f"u{i}"} for i in range(5)])
    code, out, err = tapsync(ws, "import", "--sandbox", "--out", "manifests", "--kinds",
                             "user", "--max-users", "4")
    assert code == 1 and out == ""
    assert "taplytics holds more than 4 users: nothing was written" in err
    assert "--max-users N" in err and not (ws / "manifests").exists()
    assert imported(ws, "--kinds", "user", "--max-users", "5") == [
        "manifests/taplytics/users.yaml"]


@pytest.mark.anyio
async def test_read_all_pages_users_by_token_and_stops_past_the_limit(
        app: Starlette, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await load(client, users=[{"user_id": f"u{i}", "custom_data": {"i": i}} for i in range(5)])
    monkeypatch.setattr(taplytics, "PER_PAGE", "2")
    async with session(app, config(tmp_path), (T,)) as s:
        provider = s.providers[T]
        assert isinstance(provider, TaplyticsProvider)
        everyone = await provider.read_all(["user"])
        assert s.reads()[T] == 3                                     # pages of 2, 2, 1
        assert [r.key.leaf for r in everyone] == [f"u{i}" for i in range(5)]
        assert everyone.get(ResourceKey(T, "user", ("u4",))).attrs["custom_data"] == {"i": 4}
        capped = await provider.read_all(["user"], limit=2)
        assert len(capped) == 4 and s.reads()[T] == 5               # stopped after 2 pages


# --- the importer alone: what does not fit the format -------------------------------------

def _push(name: str, **live: Any) -> Resource:
    return Resource(ResourceKey(T, "push_campaign", (name,)),
                    attrs=push_attrs({"name": name, **live}))


def _round_trip(tmp_path: Path, live: State, kinds: list[str]) -> dict[str, str]:
    files = import_files(live, provider=T, origin="https://api.taplytics.com",
                         when="2026-11-22", kinds=kinds)
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    checked = check([tmp_path])
    assert checked.ok, checked.problems
    result = plan(checked.state, live, SPECS)
    assert result.empty, result.changes
    return files


def test_what_the_schema_refuses_is_left_out_and_named(tmp_path: Path) -> None:
    live = State([
        _push("p1", notification={"alert": "hi", "sound": "ding\nding"}),
        _push("p2", notification={"alert": "hi"},
              filters=[{"type": "planet", "comparator": "=", "values": ["Mars"]}]),
        Resource(ResourceKey(T, "experiment", ("E",)),
                 attrs={"status": "active", "description": "", "goal_ids": ["g1"]}),
    ])
    files = _round_trip(tmp_path, live, ["push_campaign", "experiment"])
    pushes = files["taplytics/push_campaigns.yaml"]
    assert '# Left out: taplytics.push_campaign["p1"]: notification.sound: left out: ' \
           "Additional properties are not allowed ('sound' was unexpected)\n" in pushes
    assert '# Left out: taplytics.push_campaign["p2"] skipped: filters.0.type: ' in pushes
    assert "p2" not in pushes.split("taplytics:\n")[1]       # a narrower audience: skipped
    assert "      notification:\n        alert: hi\n" in pushes and "ding" not in \
        pushes.split("taplytics:\n")[1]
    experiments = files["taplytics/experiments.yaml"]
    assert '# Left out: taplytics.experiment["E"]: goal_ids: left out: ' in experiments
    assert "# These pushes" not in experiments


def test_an_attribute_the_importer_does_not_list_is_still_carried(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As when a provider starts reading a field the manifest format already has."""
    shape = importer._SHAPES[T, "push_campaign"]
    fewer = {k: v for k, v in shape.defaults.items() if k != "badge_count"}
    monkeypatch.setitem(importer._SHAPES,  # type: ignore[arg-type]
                        (T, "push_campaign"), importer._Shape(fewer))
    live = State([_push("p", notification={"alert": "hi"}, badge_count=3)])
    files = _round_trip(tmp_path, live, ["push_campaign"])
    assert files["taplytics/push_campaigns.yaml"].endswith(
        "      schedule: now\n      badge_count: 3\n")


def test_a_fault_inside_a_list_leaves_the_whole_field_out_unless_it_is_vital(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One filter left out would widen the audience: pushes skip instead (above); a field
    that is not vital is left out whole, never cut down to the items the schema accepts."""
    live = State([_push("p", notification={"alert": "hi"}, filters=[
        {"type": "country", "comparator": "=", "values": ["CA"]},
        {"type": "planet", "comparator": "=", "values": ["Mars"]}])])
    shape = importer._SHAPES[T, "push_campaign"]
    monkeypatch.setitem(importer._SHAPES,  # type: ignore[arg-type]
                        (T, "push_campaign"), importer._Shape(shape.defaults))
    (text,) = import_files(live, provider=T, origin="o", when="w",
                           kinds=["push_campaign"]).values()
    assert '# Left out: taplytics.push_campaign["p"]: filters: left out (for filters.1.type): ' \
           "'planet' is not one of" in text
    assert yaml.safe_load(text)[T]["push_campaigns"] == [
        {"name": "p", "sent": True, "notification": {"alert": "hi"}, "schedule": "now"}]
