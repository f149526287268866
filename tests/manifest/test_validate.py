"""Schema validation: every error, each at the line of the offending value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tapsync.manifest.validate import SCHEMA_DIR, schemas

from .conftest import Run, messages, only


def test_every_error_is_collected_not_just_the_first(run: Run) -> None:
    checked = run("""
        amplitude:
          categories:
            - name: Media
              colour: red
          event_types:
            - name: Play
              category: 5
              properties:
                - {name: d, type: strin}
    """)
    assert messages(checked) == [
        "5:7: $.amplitude.categories[0].colour: unknown key 'colour' "
        "(expected one of: name, renamed_from, absent, external)",
        "8:17: $.amplitude.event_types[0].category: 5 is not of type 'string', 'null'",
        "10:27: $.amplitude.event_types[0].properties[0].type: 'strin' is not one of "
        "['string', 'number', 'boolean', 'enum', 'any']",
    ]


def test_unknown_keys_suggest_the_nearest_known_one(run: Run) -> None:
    p = only(run("amplitude:\n  event_types:\n    - name: A\n      descripton: x\n"))
    assert p.message == "unknown key 'descripton' (did you mean 'description'?)"
    assert (p.line, p.column) == (4, 7)


def test_unknown_top_level_section(run: Run) -> None:
    p = only(run("amplitud: {}\n"))
    assert p.json_path == "$.amplitud" and "did you mean 'amplitude'" in p.message


def test_missing_required_key_points_at_the_object(run: Run) -> None:
    p = only(run("amplitude:\n  event_types:\n    - description: x\n"))
    assert p.message == "missing required key 'name'"
    assert (p.line, p.json_path) == (3, "$.amplitude.event_types[0]")


def test_yaml_booleans_get_a_quoting_hint(run: Run) -> None:
    p = only(run("amplitude:\n  event_properties:\n    - {name: c, type: enum, "
                 "enum_values: [NO, SE]}\n"))
    assert "quote it" in p.message and p.json_path.endswith("enum_values[0]")


def test_users_need_user_id_or_email(run: Run) -> None:
    p = only(run("taplytics:\n  users:\n    - first_name: Bob\n"))
    assert p.message == "needs 'user_id' or 'email'"


def test_keys_that_are_not_identifiers_are_quoted_in_the_path(run: Run) -> None:
    p = only(run('amplitude:\n  "odd key": 1\n'))
    assert p.json_path == '$.amplitude["odd key"]'


def test_schemas_are_valid_draft_2020_12_with_ids_descriptions_examples() -> None:
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        assert schema["$id"] == f"https://tapsync.dev/schemas/{path.name}"
        assert schema.get("description"), path.name
        if path.name not in ("common.schema.json", "config.schema.json"):
            assert schema.get("examples"), path.name


def test_schema_examples_validate() -> None:
    s = schemas()
    for name in ("amplitude", "taplytics", "apptimize", "pypestream"):
        contents = s.registry[f"https://tapsync.dev/schemas/{name}.schema.json"].contents
        for example in contents["examples"]:
            assert not list(s.errors({name: example}, s.root, s.root_resolver, [])), name
        for definition in contents.get("$defs", {}).values():
            for example in definition.get("examples", []):
                res = s.registry.resolver(f"https://tapsync.dev/schemas/{name}.schema.json")
                assert not list(s.errors(example, definition, res, [])), example


# The fast checker must never say "valid" where jsonschema would not.
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False),
                     st.sampled_from(["", "now", "x", "string", "enum", "=", "!=", "country",
                                      "custom_data", "2030-01-01T00:00:00Z", "a,b", " x"]))
_keys = st.sampled_from(["name", "type", "values", "comparator", "enum_values", "schedule",
                         "notification", "alert", "filters", "absent", "user_id", "email",
                         "renamed_from", "time", "dataKey", "tags", "properties", "bogus"])
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(section=st.sampled_from(["amplitude", "taplytics", "apptimize", "pypestream"]),
       kind=_keys, body=st.lists(_json, max_size=3))
def test_fast_check_agrees_with_jsonschema(section: str, kind: str, body: list[Any]) -> None:
    s = schemas()
    lists = {"amplitude": "event_types", "taplytics": "push_campaigns",
             "apptimize": "dynamic_variables", "pypestream": "insights"}
    instance = {section: {lists[section]: body, kind: body}}
    fast = s.node(s.root, s.root_resolver).fast(instance)
    slow = Draft202012Validator(s.root, registry=s.registry).is_valid(instance)
    assert fast == slow


@pytest.mark.parametrize("path", sorted(Path(SCHEMA_DIR).glob("*.schema.json")),
                         ids=lambda p: p.name)
def test_schemas_ship_inside_the_package(path: Path) -> None:
    assert path.parent.name == "schemas" and path.parent.parent.name == "tapsync"
