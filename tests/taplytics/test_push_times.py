"""Push schedule times: a past time is an error, unless the push is marked sent.

The service refuses a push scheduled in the past (seed 001), so validate refuses a past
``schedule.time`` too, unless ``sent: true`` marks the push as history (issue 5.3); the
planner refuses to *send* one by its own clock, and applying a saved plan refuses a send
whose time has passed since the plan was made. Clocks are fixed by hand (the planner and
the policy take ``now``); the CLI tests use times far in the past or future so the real
clock cannot change their outcome.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from tapsync import audience
from tapsync.audience import send_deadline
from tapsync.changes import Action
from tapsync.engine import make_plan, read_live
from tapsync.manifest import LintOptions, check
from tapsync.model import Resource, ResourceKey, State
from tapsync.planfile import plan_from_dict, plan_to_dict
from tapsync.planner import plan
from tapsync.policy import check_send_times, refusals
from tapsync.sandbox import taplytics_push
from tests.plan_specs import SPECS
from tests.sandboxed import config, session
from tests.taplytics.tap_support import HEADER, stored
from tests.taplytics.test_cli_story import plant, tap

T = "taplytics"
NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
SOON = "2026-03-01T00:01:00Z"
PUSH = ResourceKey(T, "push_campaign", ("spring-sale",))


def pushes(ws: Path) -> list[str]:
    """The names of the pushes the workspace's sandbox holds."""
    state = plant(ws, {}).get("taplytics") or {}
    assert isinstance(state, dict)
    return [p["name"] for p in state.get("push", {}).values()]


def push(time: str) -> State:
    return State([Resource(PUSH, {"notification": {"alert": "Spring is here"},
                                  "send_to_all_users": True, "schedule": {"time": time}})])


@pytest.mark.parametrize(("schedule", "deadline"), [
    ("now", None),
    ({"time": "2026-12-05T15:00:00Z"}, "2026-12-05T15:00:00+00:00"),
    ({"local_time": "2026-12-05T09:00:00"}, "2026-12-05T21:00:00+00:00"),  # UTC-12's 09:00
    # both given: each must be in the future, so the earlier one decides
    ({"time": "2026-12-05T15:00:00Z", "local_time": "2026-12-05T09:00:00"},
     "2026-12-05T15:00:00+00:00"),
    ({"time": "2026-12-05 15:00"}, None),  # malformed: validation's business
])
def test_the_send_deadline_follows_the_schedule(schedule: object,
                                                deadline: str | None) -> None:
    got = send_deadline({"schedule": schedule})
    assert (got[0].isoformat() if got else None) == deadline


# ------------------------------------------- one rule: linter, planner and sandbox agree

def test_the_time_rules_live_once_in_the_core_and_the_sandbox_copy_is_equal() -> None:
    """The linter reads the planner's rules (same objects); the sandbox, which imports
    nothing of ours, keeps its own copy of the service's rules, which must not drift."""
    # the package exports a function of the same name: the module itself, by its name
    lint_providers = importlib.import_module("tapsync.manifest.lint_providers")
    assert lint_providers.TIME_FORMATS is audience.TIME_FORMATS
    assert lint_providers.LATEST_ZONE is audience.LATEST_ZONE
    assert taplytics_push.TIME_FORMATS == audience.TIME_FORMATS
    assert taplytics_push.LATEST_ZONE == audience.LATEST_ZONE


@pytest.mark.anyio
@pytest.mark.parametrize(("time", "local_time", "refused"), [
    ("2020-01-01T00:00:00Z", "2099-01-01T09:00:00", "time"),
    ("2099-01-01T00:00:00Z", "2020-01-01T09:00:00", "local_time"),
    ("2099-01-01T00:00:00Z", "2099-01-01T09:00:00", None),
])
async def test_with_both_times_each_must_be_in_the_future_for_all_three(
        client: httpx.AsyncClient, tmp_path: Path, time: str, local_time: str,
        refused: str | None) -> None:
    """Seed 001: "If they both are, local time takes precedence. All times must be in the
    future." A past ``time`` is not ignored: the sandbox refuses the push, the planner
    refuses to send it, and validate says the service refuses it. (Times far from today,
    so the sandbox's real wall clock agrees with ``NOW``.)"""
    schedule = {"time": time, "local_time": local_time}
    (tmp_path / "t.yaml").write_text(
        "taplytics:\n  push_campaigns:\n    - name: spring-sale\n"
        "      notification: {alert: Spring is here}\n      send_to_all_users: true\n"
        f"      schedule: {json.dumps(schedule)}\n", encoding="utf-8")
    checked = check([tmp_path], LintOptions(now=NOW))
    refusing = [p.message for p in checked.problems if p.severity == "error"]
    assert checked.ok == (refused is None), checked.problems
    planned = plan(checked.state, State(), SPECS, now=NOW)
    answer = await client.post("/v2/push", headers=HEADER,
                               json={"name": "spring-sale", "schedule": schedule,
                                     "notification": {"alert": "Spring is here"}})
    if refused is None:
        assert (refusing, planned.errors, answer.status_code) == ([], (), 200), answer.text
        assert [c.action for c in planned.changes] == [Action.SEND]
        return
    assert len(refusing) == 1 and refusing[0].startswith(f"schedule.{refused} "), refusing
    assert "is in the past" in refusing[0] and "the service refuses it" in refusing[0]
    assert planned.changes == () and len(planned.errors) == 1
    assert f"cannot be sent: its schedule.{refused} " in planned.errors[0].message
    assert answer.status_code == 400 and f"schedule.{refused} " in answer.text
    assert await stored(client, "push") == []


# ------------------------------------------------------------------- apply-time re-check

def test_a_saved_send_is_refused_once_its_time_has_passed() -> None:
    made = plan(push(SOON), State(), SPECS, now=NOW)
    assert [c.action for c in made.changes] == [Action.SEND] and not made.errors
    saved = plan_from_dict(json.loads(json.dumps(plan_to_dict(made))))
    assert check_send_times(saved, NOW + timedelta(seconds=59)) == []
    late = NOW + timedelta(seconds=60)
    assert check_send_times(saved, late) == [
        'taplytics.push_campaign["spring-sale"]: its schedule passed at 2026-03-01T00:01:00Z, '
        "after this plan was made (now is 2026-03-01T00:01:00Z), and the service refuses a "
        "push scheduled in the past; give it a future time and plan again"]
    assert refusals(saved, allow_send=True, now=late) == check_send_times(saved, late)
    assert refusals(saved, allow_send=True) == []  # no clock given: not checked


@pytest.mark.parametrize("send_by", ["2026-01-01T00:00:00", "2099-01-01T00:00:00",
                                     "next tuesday", "", 1767225600, None])
def test_a_hand_edited_send_by_without_a_utc_offset_is_refused_not_a_traceback(
        send_by: object) -> None:
    """A naive time cannot be compared with the aware ``now`` (Python raises TypeError);
    like any send_by that is not an aware date and time, it is refused, whether it would
    be past or future in some zone."""
    doc = plan_to_dict(plan(push(SOON), State(), SPECS, now=NOW))
    doc["changes"][0]["meta"]["send_by"] = send_by
    saved = plan_from_dict(json.loads(json.dumps(doc)))
    assert check_send_times(saved, NOW) == [
        f'taplytics.push_campaign["spring-sale"]: the plan\'s send_by {send_by!r} is not a '
        "date and time with a UTC offset (such as 2026-01-01T09:00:00+00:00); plan again"]
    assert refusals(saved, allow_send=True, now=NOW) == check_send_times(saved, NOW)


# ------------------------------------------------------------------ engine and sandbox

@pytest.mark.anyio
async def test_the_engine_plans_with_the_clock_it_is_given(
        app: Starlette, client: httpx.AsyncClient, tmp_path: Path) -> None:
    async with session(app, config(tmp_path), (T,)) as s:
        live = await read_live(s, push(SOON))
        before = make_plan(s, push(SOON), live, now=NOW)
        after = make_plan(s, push(SOON), live, now=NOW + timedelta(minutes=1))
    assert [c.action for c in before.changes] == [Action.SEND] and not before.errors
    assert after.changes == ()
    assert [(e.address, e.message.split(" and ")[0]) for e in after.errors] == [
        (PUSH.address, "cannot be sent: its schedule.time 2026-03-01T00:01:00Z is in the past "
                       "(now is 2026-03-01T00:01:00Z)")]


# ---------------------------------------------------------------------------------- CLI

HISTORY = """\
taplytics:
  push_campaigns:
    - name: new-year-2020
      notification: {alert: Happy new year}
      send_to_all_users: true
      schedule: {time: "2020-01-01T00:00:00Z"}
"""
UNSENT = HISTORY.replace("new-year-2020", "forgotten-2020")
FUTURE = HISTORY.replace("new-year-2020", "new-year-2099").replace("2020-01-01", "2099-01-01")


def test_a_sent_push_kept_as_history_must_say_so_then_validates_and_plans_nothing(
        workspace: Callable[..., Path]) -> None:
    """Kept in the manifest after it went out, a push's time is past: every command says
    to mark it ``sent: true``; marked, it validates and plans nothing."""
    ws = workspace({"manifests/t.yaml": HISTORY})
    plant(ws, {"pushes": [{"name": "new-year-2020", "notification": {"alert": "Happy new year"},
                           "schedule": {"time": "2020-01-01T00:00:00Z"}}]})
    for command in (("validate",), ("plan", "--sandbox", "--detailed-exitcode")):
        code, out, err = tap(ws, *command)
        assert code == 1, (command, out + err)
        assert "t.yaml:6:24: $.taplytics.push_campaigns[0].schedule.time: schedule.time " \
            "2020-01-01T00:00:00Z is in the past" in out + err, (command, out + err)
        assert "If this push was already sent, mark it `sent: true`" in out + err
    (ws / "manifests/t.yaml").write_text(HISTORY.replace(
        "      notification:", "      sent: true\n      notification:"), encoding="utf-8")
    code, out, err = tap(ws, "validate")
    assert code == 0 and "in the past" not in out + err, out + err
    code, out, err = tap(ws, "plan", "--sandbox", "--detailed-exitcode")
    assert code == 0, out + err
    assert "Errors" not in out


def test_an_unsent_push_with_a_past_time_is_an_error_and_nothing_is_sent(
        workspace: Callable[..., Path]) -> None:
    ws = workspace({"manifests/t.yaml": UNSENT})
    plant(ws, {})
    for command in (("validate",), ("plan", "--sandbox"),
                    ("apply", "--sandbox", "--auto-approve", "--allow-send")):
        code, out, err = tap(ws, *command)
        assert code == 1, (command, out + err)
        assert "schedule.time 2020-01-01T00:00:00Z is in the past" in out + err, out + err
    assert pushes(ws) == []


def test_a_saved_plan_applied_after_its_send_time_is_refused(
        workspace: Callable[..., Path]) -> None:
    ws = workspace({"manifests/t.yaml": FUTURE})
    plant(ws, {})
    code, _, err = tap(ws, "plan", "--sandbox", "--out", str(ws / "p.json"))
    assert code == 0, err
    # the same plan, as if it had been saved long ago for a time that has since passed
    old = (ws / "p.json").read_text(encoding="utf-8").replace("2099-01-01", "2020-01-01")
    assert '"send_by": "2020-01-01T00:00:00+00:00"' in old
    (ws / "p.json").write_text(old, encoding="utf-8")
    code, _, err = tap(ws, "apply", "--sandbox", "--allow-send", str(ws / "p.json"))
    assert code == 1
    assert ('taplytics.push_campaign["new-year-2099"]: its schedule passed at '
            "2020-01-01T00:00:00Z, after this plan was made") in err, err
    assert pushes(ws) == []


@pytest.mark.anyio
async def test_the_sandbox_refuses_a_push_scheduled_in_the_past_too(
        client: httpx.AsyncClient) -> None:
    """What the plan error spares the user, seen from the service (by its own clock)."""
    answer = await client.post("/v2/push", headers=HEADER,
                               json={"name": "late", "notification": {"alert": "x"},
                                     "schedule": {"time": "2020-01-01T00:00:00Z"}})
    assert answer.status_code == 400 and "not in the future" in answer.text
    assert await stored(client, "push") == []


def test_a_push_whose_time_passes_while_the_prompt_is_open_is_not_sent(
        workspace: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The send times are checked again after the confirmation prompt: someone who
    answers "y" after the push's time has passed gets a refusal, not a send the service
    would refuse anyway (or, worse, a send at a moment nobody reviewed)."""
    import tapsync.cli.plan_apply as plan_apply

    ws = workspace({"manifests/t.yaml": FUTURE})
    plant(ws, {})
    later = datetime(2099, 1, 2, tzinfo=timezone.utc)  # past new-year-2099's time

    class Clock(datetime):
        answered = False

        @classmethod
        def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
            return later if cls.answered else datetime.now(timezone.utc)

    def confirm(_opts: object) -> None:
        Clock.answered = True  # the user took their time

    monkeypatch.setattr(plan_apply, "datetime", Clock)
    monkeypatch.setattr(plan_apply, "_confirm", confirm)
    code, _, err = tap(ws, "apply", "--sandbox", "--allow-send")
    assert Clock.answered
    assert code == 1
    assert ('taplytics.push_campaign["new-year-2099"]: its schedule passed at '
            "2099-01-01T00:00:00Z") in err, err
    assert pushes(ws) == []
