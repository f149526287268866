"""The desired State: keys, owned attributes, canonical values, sources, tombstones."""

from __future__ import annotations

from pathlib import Path

from tapsync.manifest import check
from tapsync.model import ResourceKey, Source

from .conftest import Run, messages, only

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"


def key(*parts: str) -> ResourceKey:
    provider, kind, *name = parts
    return ResourceKey(provider, kind, tuple(name))


def test_amplitude_keys_and_owned_attributes(run: Run, tmp_path: Path) -> None:
    checked = run("""
        amplitude:
          categories:
            - name: Media
              renamed_from: Music
          event_types:
            - name: Play Song
              category: Media
              description: "Started  "
              tags: [b, a, a]
              is_active: yes
              properties:
                - {name: genre, type: enum, enum_values: [rock, pop]}
          event_properties:
            - {name: platform, description: null}
          user_properties:
            - {name: "gp:plan", type: string}
            - {name: legacy, absent: true}
    """)
    assert checked.ok, messages(checked)
    s = checked.state
    assert s.get(key("amplitude", "category", "Media")).renamed_from == ("Music",)
    assert s.get(key("amplitude", "category", "Media")).attrs == {}
    event = s.get(key("amplitude", "event_type", "Play Song"))
    assert dict(event.attrs) == {"category": "Media", "description": "Started",
                                 "tags": ["a", "b"], "is_active": True}
    prop = s.get(key("amplitude", "event_property", "Play Song", "genre"))
    assert dict(prop.attrs) == {"type": "enum", "enum_values": ["pop", "rock"]}
    assert dict(s.get(key("amplitude", "event_property", "platform")).attrs) == {
        "description": ""}
    assert dict(s.get(key("amplitude", "user_property", "plan")).attrs) == {"type": "string"}
    tomb = s.get(key("amplitude", "user_property", "legacy"))
    assert tomb.absent and tomb.attrs == {}
    assert len(s) == 6


def test_sources_point_at_the_object_and_at_each_field(run: Run, tmp_path: Path) -> None:
    checked = run("amplitude:\n  event_types:\n    - name: A\n      description: d\n"
                  "      owner:   me\n")
    r = next(iter(checked.state))
    f = str(tmp_path / "m.yaml")
    assert r.source == Source(f, 3, 7)
    assert dict(r.field_sources) == {"description": Source(f, 4, 20),
                                     "owner": Source(f, 5, 16)}


def test_attrs_are_plain_dicts_and_lists(run: Run) -> None:
    checked = run("""
        taplytics:
          push_campaigns:
            - name: p
              notification: {alert: hi}
              filters: [{type: os, comparator: "=", values: [iOS]}]
              schedule: now
    """)
    attrs = next(iter(checked.state)).attrs
    assert type(attrs["filters"]) is list and type(attrs["filters"][0]) is dict
    assert type(attrs["notification"]) is dict
    assert set(attrs) == {"notification", "filters", "schedule"}


def test_taplytics_users_are_keyed_by_user_id_else_email(run: Run) -> None:
    checked = run("taplytics:\n  users:\n    - {user_id: qa-1, email: a@x.io}\n"
                  "    - {email: b@x.io, first_name: B}\n")
    s = checked.state
    assert dict(s.get(key("taplytics", "user", "qa-1")).attrs) == {"email": "a@x.io"}
    assert dict(s.get(key("taplytics", "user", "b@x.io")).attrs) == {"first_name": "B"}


def test_sent_marks_a_push_as_history_in_meta_never_as_a_field(run: Run) -> None:
    """``sent`` is a control key like ``absent``: were it an attribute it would be compared
    with the live push (which has no such field) and read as a change to a sent push."""
    checked = run("""
        taplytics:
          push_campaigns:
            - {name: old, sent: true, notification: {alert: hi}, send_to_all_users: true,
               schedule: now}
            - {name: new, sent: false, notification: {alert: hi}, send_to_all_users: true,
               schedule: now}
    """)
    assert checked.ok, messages(checked)
    old = checked.state.get(key("taplytics", "push_campaign", "old"))
    new = checked.state.get(key("taplytics", "push_campaign", "new"))
    assert dict(old.attrs) == dict(new.attrs) == {
        "notification": {"alert": "hi"}, "send_to_all_users": True, "schedule": "now"}
    assert old.meta.get("sent") is True and "sent" not in new.meta
    assert "sent" not in old.field_sources


def test_same_object_in_two_files_names_both_places(run: Run, tmp_path: Path) -> None:
    checked = run(files={"a.yaml": "amplitude:\n  categories: [{name: Media}]\n",
                         "b.yaml": "amplitude:\n  categories:\n    - name: Media\n"})
    p = only(checked)
    assert p.file == str(tmp_path / "b.yaml") and p.line == 3
    assert f"declared twice: here and at {tmp_path / 'a.yaml'}:2:16" in p.message


def test_same_property_twice_on_one_event(run: Run) -> None:
    p = only(run("amplitude:\n  event_types:\n    - name: A\n      properties:\n"
                 "        - {name: x}\n        - {name: x}\n"))
    assert 'amplitude.event_property["A"]["x"] is declared twice' in p.message and p.line == 6


def test_gp_and_plain_user_property_names_are_the_same_object(run: Run) -> None:
    checked = run("amplitude:\n  user_properties: [{name: plan}, {name: 'gp:plan'}]\n")
    assert any("declared twice" in m for m in messages(checked))


def test_everything_buildable_is_built_even_with_errors(run: Run) -> None:
    checked = run("amplitude:\n  categories: [{name: A}, {name: B, bogus: 1}]\n")
    assert not checked.ok and len(checked.state) == 2


def test_apptimize_and_pypestream_kinds(run: Run) -> None:
    checked = run("""
        apptimize:
          probe_user_id: probe
          feature_flags: [{name: new_checkout, isFeatureFlagEnabled: true}]
          code_blocks: [{name: layout, codeBlockVariant: baseline}]
          dynamic_variables: [{name: text, type: string, defaultValue: Buy}]
        pypestream:
          actions: [{name: Signed up}]
          cohorts: [{name: Power}]
          dashboards: [{name: Growth}]
          insights: [{name: Weekly, dashboards: [Growth]}]
          event_definitions: [{name: $pageview}]
          property_definitions: [{name: plan, property_type: String}]
    """)
    assert checked.ok, messages(checked)
    kinds = {(r.key.provider, r.key.kind) for r in checked.state}
    assert kinds == {("apptimize", k) for k in ("feature_flag", "code_block",
                                                "dynamic_variable")} | {
        ("pypestream", k) for k in ("action", "cohort", "dashboard", "insight",
                                    "event_definition", "property_definition")}
    flag = checked.state.get(key("apptimize", "feature_flag", "new_checkout"))
    assert flag.meta["probe_user_id"] == "probe"
    assert dict(flag.attrs) == {"isFeatureFlagEnabled": True}


def test_the_examples_validate_cleanly() -> None:
    checked = check([EXAMPLES])
    assert checked.problems == []
    assert checked.files == [str(EXAMPLES / "amplitude.yaml"), str(EXAMPLES / "taplytics.yaml")]
    kinds = {r.key.kind for r in checked.state}
    assert kinds == {"category", "event_type", "event_property", "user_property",
                     "experiment", "push_campaign", "user"}
    assert any(r.absent for r in checked.state) and any(r.renamed_from for r in checked.state)
