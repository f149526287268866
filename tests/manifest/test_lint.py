"""Semantic rules: references, names, renames, property fields, conventions, secrets."""

from __future__ import annotations

import pytest

from tapsync.manifest import LintOptions

from .conftest import Run, messages, only


def test_a_category_must_be_declared(run: Run) -> None:
    p = only(run("amplitude:\n  event_types:\n    - {name: Play, category: Media}\n"))
    assert "category 'Media' is not declared" in p.message
    assert p.json_path == "$.amplitude.event_types[0].category" and p.line == 3


def test_an_external_category_satisfies_references_but_builds_nothing(run: Run) -> None:
    checked = run("""
        amplitude:
          categories: [{name: Billing, external: true}]
          event_types: [{name: Pay, category: Billing}]
    """)
    assert checked.ok, messages(checked)
    assert [r.key.kind for r in checked.state] == ["event_type"]


def test_a_category_being_deleted_cannot_be_referenced(run: Run) -> None:
    p = only(run("""
        amplitude:
          categories: [{name: Old, absent: true}]
          event_types: [{name: Pay, category: Old}]
    """))
    assert "is being deleted" in p.message


def test_regexes_must_compile(run: Run) -> None:
    p = only(run("amplitude:\n  user_properties: [{name: p, type: string, regex: '(a'}]\n"))
    assert p.message.startswith("regex does not compile")


def test_enum_values_may_not_contain_commas(run: Run) -> None:
    p = only(run("amplitude:\n  event_properties:\n"
                 "    - {name: c, type: enum, enum_values: [a, 'b,c']}\n"))
    assert "contains a comma" in p.message and p.json_path.endswith("enum_values[1]")


@pytest.mark.parametrize(("fields", "expected"), [
    ("type: number, regex: '^x$'", "regex applies only to type string (this property's type "
                                    "is number)"),
    ("regex: '^x$'", "regex applies only to type string (this property's type is any)"),
    ("type: string, enum_values: [a]", "enum_values applies only to type enum"),
])
def test_type_specific_fields_only_with_their_type(run: Run, fields: str, expected: str) -> None:
    p = only(run(f"amplitude:\n  user_properties: [{{name: p, {fields}}}]\n"))
    assert expected in p.message


@pytest.mark.parametrize(("name", "expected"), [
    ("' padded '", "leading or trailing white space"),
    ("\"tab\\there\"", "control character"),
    ("\"x" + "y" * 260 + "\"", "at most 255"),
])
def test_bad_names(run: Run, name: str, expected: str) -> None:
    checked = run(f"amplitude:\n  categories: [{{name: {name}}}]\n")
    assert any(expected in m for m in messages(checked)), messages(checked)


def test_names_may_hold_spaces_slashes_quotes_percent_and_non_ascii(run: Run) -> None:
    names = ["Play Song", "a/b?c#d", "it's \"quoted\"", "100% done", "Ünïcødé 音楽"]
    quoted = "".join(f"    - name: '{n.replace(chr(39), chr(39) * 2)}'\n" for n in names)
    checked = run("amplitude:\n  event_types:\n" + quoted)
    assert checked.ok, messages(checked)
    assert sorted(r.key.name[0] for r in checked.state) == sorted(names)


def test_renamed_from_cannot_name_itself_or_another_object(run: Run) -> None:
    checked = run("""
        amplitude:
          categories:
            - {name: A, renamed_from: A}
            - {name: B, renamed_from: [C]}
            - {name: C}
            - {name: D, renamed_from: [E]}
            - {name: F, renamed_from: [E]}
    """)
    got = messages(checked)
    assert len(got) == 3, got
    assert "names the object itself" in got[0]
    assert "is itself declared as a category" in got[1]
    assert "is also claimed by 'D'" in got[2]


def test_renames_of_event_properties_are_scoped_to_their_event(run: Run) -> None:
    checked = run("""
        amplitude:
          event_types:
            - name: A
              properties: [{name: x}]
            - name: B
              properties: [{name: y, renamed_from: [x]}]
    """)
    assert checked.ok, messages(checked)


def test_a_tombstone_carries_only_its_name(run: Run) -> None:
    p = only(run("amplitude:\n  user_properties:\n    - {name: p, absent: true, type: string}\n"))
    assert "carries no other field than name" in p.message and p.json_path.endswith(".type")


@pytest.mark.parametrize(("convention", "good", "bad"), [
    ("Title Case", "Play Song", "play song"),
    ("snake_case", "play_song", "PlaySong"),
    ("camelCase", "playSong", "play_song"),
    ("kebab-case", "play-song", "play_song"),
])
def test_naming_conventions_when_configured(run: Run, convention: str, good: str,
                                            bad: str) -> None:
    checked = run(f"amplitude:\n  event_types: [{{name: {good}}}, {{name: {bad}}}]\n",
                  naming={"event_type": convention})
    p = only(checked)
    assert f"'{bad}' is not {convention}" in p.message


def test_no_naming_convention_by_default(run: Run) -> None:
    assert run("amplitude:\n  event_types: [{name: whatever Name_x}]\n").ok


def test_an_unknown_convention_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown naming convention"):
        LintOptions(naming={"event_type": "SHOUTING"})


def test_a_literal_secret_is_an_error_that_does_not_echo_it(run: Run) -> None:
    checked = run("""
        taplytics:
          users:
            - user_id: qa-1
              custom_data: {api_key: sk-live-0123456789, tier: gold}
              apiToken: tok-ABCDEFGH
    """)
    text = "\n".join(str(p) for p in checked.problems)
    assert "sk-live-0123456789" not in text and "tok-ABCDEFGH" not in text
    secrets = [p for p in checked.problems if "literal secret" in p.message]
    assert [p.json_path for p in secrets] == ["$.taplytics.users[0].custom_data.api_key",
                                              "$.taplytics.users[0].apiToken"]


def test_secret_like_keys_without_a_literal_are_fine(run: Run) -> None:
    assert run("taplytics:\n  users:\n    - user_id: q\n"
               "      custom_data: {token_count: 3, password_env: X, secret: ''}\n").ok


def test_gp_prefix_on_a_user_property_is_a_warning(run: Run) -> None:
    checked = run("amplitude:\n  user_properties: [{name: 'gp:plan'}]\n")
    assert checked.ok and "without the 'gp:' prefix" in only(checked, "warning").message
    assert next(iter(checked.state)).key.name == ("plan",)


def test_a_secret_quoted_by_another_message_is_redacted(run: Run) -> None:
    checked = run("""
        taplytics:
          push_campaigns:
            - name: p
              notification: {alert: hi}
              custom_keys: {api_key: sk-XYZ-123}
              badge_count: sk-XYZ-123
              send_to_all_users: true
              schedule: now
    """)
    text = "\n".join(str(p) for p in checked.problems)
    assert "sk-XYZ-123" not in text
    assert "'***' is not of type 'integer'" in text and "literal secret in 'api_key'" in text


def test_user_property_renames_ignore_the_gp_prefix(run: Run) -> None:
    checked = run("amplitude:\n  user_properties: [{name: plan, renamed_from: ['gp:tier']}]\n")
    assert checked.ok and next(iter(checked.state)).renamed_from == ("tier",)


def test_renamed_from_entries_are_names_too(run: Run) -> None:
    p = only(run("amplitude:\n  categories: [{name: A, renamed_from: [' old']}]\n"))
    assert p.message.startswith("renamed_from entry has leading or trailing white space")


def test_a_short_secret_is_redacted_only_where_quoted(run: Run) -> None:
    checked = run("taplytics:\n  users:\n    - user_id: q\n      custom_data: {pin_token: ab}\n"
                  "      first_name: ab\n      last_name: 5\n      gender: [ab]\n")
    text = "\n".join(p.message for p in checked.problems)
    assert "'ab'" not in text and "['***'] is not of type 'string'" in text
