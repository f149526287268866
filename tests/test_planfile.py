"""Saved plans: the JSON envelope of CONTRACT.md §5 gives back exactly the plan reviewed."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapsync.changes import Action, Change, FieldChange, Plan, PlanWarning, ProviderCost
from tapsync.errors import UsageError
from tapsync.model import ResourceKey
from tapsync.planfile import (
    binding,
    credential_hash,
    credentials_problem,
    place_problem,
    plan_from_dict,
    plan_to_dict,
    salt_of,
)

_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
_names = st.sampled_from(['Play "Song"', "a/b", "Überblick ☃", "dur\\ation", "x]y[", " "])
_name = st.one_of(_text, _names)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False), _text)
_json = st.recursive(_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)), max_leaves=8)
_attrs = st.dictionaries(_text, _json, max_size=4)
_key = st.builds(ResourceKey, st.sampled_from(["amplitude", "taplytics"]),
                 st.sampled_from(["event_type", "event_property", "user"]),
                 st.lists(_name, min_size=1, max_size=2).map(tuple))
_change = st.builds(
    Change, st.sampled_from(list(Action)), _key, st.one_of(st.none(), _attrs),
    st.one_of(st.none(), _attrs),
    st.lists(st.builds(FieldChange, st.lists(st.one_of(_text, st.integers(0, 5)), min_size=1,
                                             max_size=3).map(tuple), _json, _json),
             max_size=3).map(tuple),
    _text, st.integers(0, 10), st.one_of(st.none(), _key),
    st.one_of(st.none(), st.text(min_size=1, max_size=8)), st.integers(0, 3),
    st.dictionaries(_text, _json, max_size=2))
_plans = st.builds(
    Plan, st.lists(_change, max_size=4).map(tuple), st.lists(_key, max_size=3).map(tuple),
    st.lists(st.builds(PlanWarning, _text, _text), max_size=2).map(tuple),
    st.lists(st.builds(PlanWarning, _text, _text), max_size=2).map(tuple),
    st.dictionaries(st.sampled_from(["amplitude", "taplytics"]),
                    st.builds(ProviderCost, st.integers(0, 99), st.integers(0, 99),
                              st.integers(0, 9999), st.integers(0, 8),
                              st.floats(0, 1e5, allow_nan=False)), max_size=2))


@settings(max_examples=150, deadline=None)
@given(_plans)
def test_round_trip_through_json_is_exact(plan: Plan) -> None:
    text = json.dumps(plan_to_dict(plan), ensure_ascii=False)
    assert plan_from_dict(json.loads(text)) == plan


def _sample() -> Plan:
    key = ResourceKey("amplitude", "event_property", ("Play Song", "duration"))
    return Plan(
        changes=(Change(Action.RENAME, key, {"type": "any"}, {"type": "number"},
                        (FieldChange(("type",), "any", "number"),), "", 2,
                        key.with_leaf("length"), "sha256:ab", 2, {"id": 7}),),
        unmanaged=(ResourceKey("amplitude", "event_type", ("Debug Ping",)),),
        warnings=(PlanWarning("", "partial plan"),),
        costs={"amplitude": ProviderCost(6, 2, 7200, 4, 0.125)})


def test_envelope_has_the_contract_fields() -> None:
    d = plan_to_dict(_sample())
    assert list(d) == ["format_version", "changes", "unmanaged", "warnings", "errors", "cost",
                       "summary"]
    assert d["format_version"] == "1"
    (c,) = d["changes"]
    assert c["address"] == 'amplitude.event_property["Play Song"]["duration"]'
    assert (c["provider"], c["kind"], c["name"], c["names"]) == (
        "amplitude", "event_property", "duration", ["Play Song", "duration"])
    assert c["action"] == "rename"
    assert c["from_address"] == 'amplitude.event_property["Play Song"]["length"]'
    assert c["fields"] == [{"path": ["type"], "before": "any", "after": "number"}]
    assert d["unmanaged"] == ['amplitude.event_type["Debug Ping"]']
    assert d["cost"] == {"total": 8, "providers": {"amplitude": {
        "reads": 6, "writes": 2, "hourly_budget": 7200, "concurrent_limit": 4,
        "estimated_seconds": 0.125}}}
    assert d["summary"] == {"create": 0, "update": 0, "rename": 1, "delete": 0, "restore": 0,
                            "send": 0, "manual": 0}


@pytest.mark.parametrize("version", ["2", 1, None])
def test_unknown_format_version_is_refused(version: Any) -> None:
    d = plan_to_dict(_sample())
    d["format_version"] = version
    with pytest.raises(UsageError, match=r"format_version .* is not supported"):
        plan_from_dict(d)


def test_a_damaged_plan_is_a_usage_error() -> None:
    d = plan_to_dict(_sample())
    del d["changes"][0]["action"]
    with pytest.raises(UsageError, match="not a valid saved plan"):
        plan_from_dict(d)
    d = plan_to_dict(_sample())
    d["changes"][0]["names"] = ["Other"]
    with pytest.raises(UsageError, match="does not match its names"):
        plan_from_dict(d)


# ------------------------------------------------------------------ where it was made

SECRET = "sk_live_9fJ2kQ7xZ3pL8vN4rT6w"
STAGING = binding("staging", False, {
    "amplitude": ("https://staging.example", {"api_key": "ak-staging", "secret_key": SECRET}),
    "taplytics": ("https://api.taplytics.com", {"api_token": "tok-1"})})
ENV_VARS = {"amplitude": ["AMPLITUDE_API_KEY", "AMPLITUDE_SECRET_KEY"],
            "taplytics": ["TAPLYTICS_API_TOKEN"]}


Now = tuple[str | None, bool, dict[str, str], dict[str, dict[str, str]]]


def _elsewhere(**changes: Any) -> Now:
    """Where ``apply`` runs, as STAGING with some fields replaced: ``environment``,
    ``sandbox``, ``url``, ``secret`` (amplitude's): (environment, sandbox, base URLs,
    credentials)."""
    return (changes.get("environment", "staging"), changes.get("sandbox", False),
            {"amplitude": changes.get("url", "https://staging.example"),
             "taplytics": "https://api.taplytics.com"},
            {"amplitude": {"api_key": "ak-staging", "secret_key": changes.get("secret", SECRET)},
             "taplytics": {"api_token": "tok-1"}})


def binding_problem(saved: dict[str, Any], now: Now, written: set[str]) -> str | None:
    """The two halves of the check, in the order ``apply`` asks them."""
    environment, sandbox, urls, creds = now
    return (place_problem(saved, environment, sandbox, urls, written)
            or credentials_problem(saved, creds, written, ENV_VARS))


def test_the_binding_holds_a_salted_hash_of_the_credentials_never_them() -> None:
    text = json.dumps(STAGING)
    assert SECRET not in text and "ak-staging" not in text and "tok-1" not in text
    amp = STAGING["providers"]["amplitude"]
    assert amp["base_url"] == "https://staging.example"
    assert re.fullmatch(r"scrypt:[0-9a-f]{32}", amp["credentials"])
    salt = STAGING["salt"]
    assert salt_of(STAGING) == salt and re.fullmatch(r"[0-9a-f]{32}", salt)
    assert credential_hash({"secret_key": SECRET, "api_key": "ak-staging"}, salt) == \
        amp["credentials"]                                   # roles in any order
    assert credential_hash({"api_key": "ak-staging", "secret_key": SECRET + "x"}, salt) != \
        amp["credentials"]


def test_each_plan_has_its_own_salt_so_a_hash_computed_once_checks_no_other_plan() -> None:
    """The reviewer's attack: with one salt shared by every installation, a table of
    hashes of guessed secrets, made once, would match any saved plan."""
    creds = {"api_token": "pw4821"}
    first, second = (binding(None, False, {"taplytics": ("https://x", creds)})
                     for _ in range(2))
    assert first["salt"] != second["salt"]
    assert first["providers"]["taplytics"]["credentials"] != \
        second["providers"]["taplytics"]["credentials"]
    assert credential_hash(creds, first["salt"]) == \
        first["providers"]["taplytics"]["credentials"]


def test_a_plan_applied_where_it_was_made_passes() -> None:
    assert binding_problem(STAGING, _elsewhere(), {"amplitude", "taplytics"}) is None


@pytest.mark.parametrize(("now", "expected"), [
    (_elsewhere(environment="prod"),
     "this plan was made for environment staging (amplitude: https://staging.example); you "
     "are applying to environment prod (amplitude: https://staging.example); nothing was "
     "written"),
    (_elsewhere(environment=None, url="https://amplitude.com"),
     "made for environment staging (amplitude: https://staging.example); you are applying "
     "to the default environment (amplitude: https://amplitude.com)"),
    (_elsewhere(url="https://amplitude.com"),
     "you are applying to environment staging (amplitude: https://amplitude.com)"),
    (_elsewhere(sandbox=True), "you are applying to environment staging (the sandbox)"),
    (_elsewhere(secret="sk_live_other"),
     "this plan was made with other amplitude credentials than the ones set now "
     "(AMPLITUDE_API_KEY, AMPLITUDE_SECRET_KEY)"),
])
def test_a_plan_applied_elsewhere_is_refused_saying_where(now: Now, expected: str) -> None:
    problem = binding_problem(STAGING, now, {"amplitude"})
    assert problem is not None and expected in problem
    assert SECRET not in problem and STAGING["providers"]["amplitude"]["credentials"] \
        not in problem


def test_only_the_providers_a_plan_writes_to_are_compared() -> None:
    now = _elsewhere(url="https://amplitude.com", secret="sk_live_other")
    assert binding_problem(STAGING, now, {"taplytics"}) is None
    assert binding_problem(STAGING, _elsewhere(environment="prod"), set())


@pytest.mark.parametrize("salt", [None, "", "not hex", "ab" * 8, 7])
def test_a_plan_without_a_usable_salt_is_refused_not_taken_for_other_keys(
        salt: Any) -> None:
    """An older plan (a short sha256, no salt) or a hand-edited salt cannot be checked:
    the refusal says so instead of blaming the credentials."""
    saved = {**STAGING, "salt": salt}
    if salt is None:
        del saved["salt"]
    assert salt_of(saved) is None
    problem = binding_problem(saved, _elsewhere(), {"amplitude"})
    assert problem is not None
    assert "does not record its credentials the way this tapsync checks them" in problem
    assert "nothing was written" in problem and SECRET not in problem
