"""Taplytics push foot-guns (seed 001) and the other providers' rules."""

from __future__ import annotations

import pytest

from tapsync.manifest.lint_providers import SEED_NOT_EQUAL, SEED_ORDERING

from .conftest import Run, messages, only

GOOD = """
taplytics:
  push_campaigns:
    - name: sale
      notification: {alert: hi}
      filters: [{type: country, comparator: "=", values: [CA]}]
      schedule: {time: "2027-01-01T00:00:00Z"}
"""


def push(run: Run, old: str, new: str) -> list[str]:
    assert old in GOOD
    return messages(run(GOOD.replace(old, new))) + messages(run(GOOD.replace(old, new)),
                                                            "warning")


def test_the_good_push_is_clean(run: Run) -> None:
    checked = run(GOOD)
    assert checked.ok and not checked.problems


def test_a_push_needs_filters_or_send_to_all_users(run: Run) -> None:
    got = push(run, '      filters: [{type: country, comparator: "=", values: [CA]}]\n', "")
    assert len(got) == 1 and "goes to ALL users" in got[0]
    assert run(GOOD.replace('filters: [{type: country, comparator: "=", values: [CA]}]',
                            "send_to_all_users: true")).ok


def test_a_push_needs_a_schedule(run: Run) -> None:
    got = push(run, '      schedule: {time: "2027-01-01T00:00:00Z"}\n', "")
    assert len(got) == 1 and "sent the moment it is applied" in got[0]
    assert run(GOOD.replace('{time: "2027-01-01T00:00:00Z"}', "now")).ok


IF_SENT = (": the service refuses it. If this push was already sent, mark it `sent: true` "
           "(it is then history: never sent again)")


def test_a_past_schedule_time_is_an_error_that_uses_the_injected_clock(run: Run) -> None:
    """Issue 5.3: the service refuses a push scheduled in the past, so validate does too,
    and says what to do if the push already went out."""
    checked = run(GOOD.replace("2027-01-01T00:00:00Z", "2026-11-22T11:59:59Z"))
    assert not checked.ok
    assert messages(checked) == [
        "7:24: $.taplytics.push_campaigns[0].schedule.time: schedule.time "
        f"2026-11-22T11:59:59Z is in the past (now is 2026-11-22T12:00:00Z){IF_SENT}"]
    assert messages(checked, "warning") == []


def test_a_schedule_time_equal_to_the_clock_is_already_past(run: Run) -> None:
    """The service wants the future: this very second is too late."""
    checked = run(GOOD.replace("2027-01-01T00:00:00Z", "2026-11-22T12:00:00Z"))
    assert "schedule.time 2026-11-22T12:00:00Z is in the past" in only(checked).message


def test_a_schedule_time_one_second_ahead_of_the_clock_is_clean(run: Run) -> None:
    assert not run(GOOD.replace("2027-01-01T00:00:00Z", "2026-11-22T12:00:01Z")).problems


@pytest.mark.parametrize(("local", "severity", "message"), [
    ("2026-11-21T12:00:00", "error", "is in the past in every time zone (now is "
                                     f"2026-11-22T12:00:00Z){IF_SENT}"),
    ("2026-11-22T20:00:00", "warning", "is already past in some time zones"),
    ("2026-11-24T00:00:00", None, None)])
def test_local_time_past_everywhere_is_an_error_and_only_somewhere_a_warning(
        run: Run, local: str, severity: str | None, message: str | None) -> None:
    """Past everywhere, the service refuses it; past only in the zones east of the date
    line, it still goes out to everyone else."""
    checked = run(GOOD.replace('time: "2027-01-01T00:00:00Z"', f'local_time: "{local}"'))
    assert checked.ok == (severity != "error")
    got = [(p.severity, f"{p.line}:{p.column}: {p.json_path}: {p.message}")
           for p in checked.problems]
    assert got == ([(severity, f"7:30: $.taplytics.push_campaigns[0].schedule.local_time: "
                               f"schedule.local_time {local} {message}")] if message else [])


# ------------------------------------------------------------ history: sent: true

SENT = GOOD.replace("    - name: sale\n", "    - name: sale\n      sent: true\n")


@pytest.mark.parametrize("schedule", [
    '{time: "2020-01-01T00:00:00Z"}',
    '{local_time: "2026-11-21T12:00:00"}',      # past everywhere
    '{local_time: "2026-11-22T20:00:00"}',      # past only in some zones
    '{time: "2020-01-01T00:00:00Z", local_time: "2020-01-01T09:00:00"}'])
def test_a_push_marked_sent_is_history_so_its_past_times_are_not_an_error(
        run: Run, schedule: str) -> None:
    unsent = run(GOOD.replace('{time: "2027-01-01T00:00:00Z"}', schedule))
    assert unsent.problems   # the same push, not marked sent: an error or a warning
    sent = run(SENT.replace('{time: "2027-01-01T00:00:00Z"}', schedule))
    assert sent.ok and not sent.problems, messages(sent, "warning")


def test_a_push_marked_sent_needs_no_schedule_but_still_a_readable_one(run: Run) -> None:
    """Without a schedule it would go out the moment it is applied; marked sent, it never
    goes out. A date that does not exist is still an error either way."""
    no_schedule = '      schedule: {time: "2027-01-01T00:00:00Z"}\n'
    assert "sent the moment it is applied" in only(run(GOOD.replace(no_schedule, ""))).message
    assert not run(SENT.replace(no_schedule, "")).problems
    for text in (GOOD, SENT):
        bad = only(run(text.replace("2027-01-01T00:00:00Z", "2027-02-30T00:00:00Z")))
        assert (bad.json_path, bad.message) == (
            "$.taplytics.push_campaigns[0].schedule.time",
            "schedule.time '2027-02-30T00:00:00Z' is not a date and time")


def test_the_other_push_rules_still_hold_for_a_push_marked_sent(run: Run) -> None:
    got = messages(run(SENT.replace(
        '      filters: [{type: country, comparator: "=", values: [CA]}]\n', "")))
    assert len(got) == 1 and "goes to ALL users" in got[0]


@pytest.mark.parametrize("value", ["yes please", 1, "[true]"])
def test_sent_is_a_boolean(run: Run, value: object) -> None:
    got = messages(run(SENT.replace("sent: true", f"sent: {value}")))
    assert len(got) == 1 and "sent" in got[0] and "is not of type 'boolean'" in got[0], got


def test_sent_is_for_pushes_only(run: Run) -> None:
    got = messages(run("taplytics:\n  users:\n    - {user_id: qa-1, sent: true}\n"))
    assert len(got) == 1 and "unknown key 'sent'" in got[0], got


# ------------------------------------------------- both times given: local time wins

def test_both_times_given_local_time_wins_but_the_utc_time_must_be_future_too(
        run: Run) -> None:
    """Seed 001: "If they both are, local time takes precedence. All times must be in the
    future." The linter says exactly that: a past UTC time is an error even though the
    local time decides, as the service refuses the push (tests/taplytics/test_push_times.py),
    and giving both draws a warning."""
    both = GOOD.replace('{time: "2027-01-01T00:00:00Z"}',
                        '{time: "2026-11-22T11:00:00Z", local_time: "2026-12-01T09:00:00"}')
    checked = run(both)
    assert messages(checked) == [
        "7:24: $.taplytics.push_campaigns[0].schedule.time: schedule.time "
        f"2026-11-22T11:00:00Z is in the past (now is 2026-11-22T12:00:00Z){IF_SENT}"]
    got = messages(checked, "warning")
    assert got == [
        "7:24: $.taplytics.push_campaigns[0].schedule.time: schedule.time does not decide "
        "when the push goes out when local_time is given (local time takes precedence), yet "
        "the service refuses the push if it is in the past: keep one of them"]
    assert not any("ignored" in m for m in got)


@pytest.mark.parametrize("comparator", [">", "<", "==", "~"])
def test_only_four_comparators_exist(run: Run, comparator: str) -> None:
    got = push(run, 'comparator: "="', f'comparator: "{comparator}"')
    assert any(f"comparator '{comparator}' is not one of =, <=, >=, !=" in m for m in got)


def test_custom_data_needs_a_data_key_and_only_it_takes_one(run: Run) -> None:
    got = push(run, "type: country", "type: custom_data")
    assert got == ["6:17: $.taplytics.push_campaigns[0].filters[0]: a custom_data filter needs "
                   "dataKey (the custom data key to compare)"]
    got = push(run, "values: [CA]", "values: [CA], dataKey: x")
    assert len(got) == 1 and "dataKey is only for type custom_data" in got[0]


def test_not_equal_with_several_values_warns_with_the_seeds_reason(run: Run) -> None:
    checked = run(GOOD.replace('comparator: "=", values: [CA]', 'comparator: "!=", '
                               "values: [CA, US]"))
    assert checked.ok
    assert only(checked, "warning").message == SEED_NOT_EQUAL


def test_ordering_on_a_string_field_warns_but_not_on_versions(run: Run) -> None:
    checked = run(GOOD.replace('type: country, comparator: "="', 'type: app_lang, '
                               'comparator: ">="'))
    assert checked.ok and only(checked, "warning").message == SEED_ORDERING
    assert not run(GOOD.replace('type: country, comparator: "=", values: [CA]',
                                'type: an_version, comparator: ">=", values: ["5.0.0"]')
                   ).problems


def test_image_must_be_jpg_jpeg_or_png(run: Run) -> None:
    base = GOOD.replace("notification: {alert: hi}", "notification: {alert: hi}\n"
                        "      image: {url: 'https://x.example/a.GIF'}")
    assert "must end in .jpg, .jpeg or .png" in only(run(base)).message
    assert run(base.replace("a.GIF", "a.JPEG?v=2")).ok


def test_alert_is_required_unless_custom_keys(run: Run) -> None:
    no_alert = GOOD.replace("{alert: hi}", "{time_to_live: 60}")
    assert "notification.alert is required" in only(run(no_alert)).message
    assert run(no_alert.replace("      schedule:", "      custom_keys: {deep_link: x}\n"
                                "      schedule:")).ok


def test_apptimize_default_value_must_match_the_declared_type(run: Run) -> None:
    checked = run("""
        apptimize:
          probe_user_id: tapsync-probe
          dynamic_variables:
            - {name: a, type: int, defaultValue: 1.5}
            - {name: b, type: string-array, defaultValue: [x, 1]}
            - {name: c, type: bool-dictionary, defaultValue: {k: true}}
            - {name: d, type: double, defaultValue: 2}
    """)
    got = messages(checked)
    assert len(got) == 2 and "defaultValue is not of type int" in got[0]
    assert "defaultValue is not of type string-array" in got[1]


def test_insights_referring_to_undeclared_dashboards_warn(run: Run) -> None:
    checked = run("pypestream:\n  dashboards: [{name: Growth}]\n"
                  "  insights: [{name: I, dashboards: [Growth, Nope]}]\n")
    assert checked.ok
    assert "'Nope' is not declared" in only(checked, "warning").message


def test_experiment_variations_are_matched_by_name_so_a_name_is_unique(run: Run) -> None:
    base = """
taplytics:
  experiments:
    - name: Checkout colour
      variations:
        - {name: Green, distributionPercent: 50}
        - {name: Blue}
"""
    assert not run(base).problems
    got = messages(run(base.replace("name: Blue", "name: Green")))
    assert got == ["7:18: $.taplytics.experiments[0].variations[1].name: variation 'Green' "
                   "is declared twice: variations are matched by name"]


@pytest.mark.parametrize(("item", "error"), [
    ("{distributionPercent: 50}", "missing required key 'name'"),
    ("{name: Green, weight: 50}", "unknown key 'weight'"),
    ("{name: Green, distributionPercent: half}", "is not of type 'number'"),
    ("{name: Green, distributionPercent: -1}", "less than the minimum of 0"),
])
def test_a_variation_is_a_name_and_a_share(run: Run, item: str, error: str) -> None:
    got = messages(run(f"""
taplytics:
  experiments:
    - name: Checkout colour
      variations: [{item}]
"""))
    assert len(got) == 1 and error in got[0], got
