"""A saved plan damaged by hand (or cut short) is refused with the file and the place in it
that is wrong, and nothing is written: never a traceback, never a half-read plan."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ci.support import MANIFEST, tapsync

Damage = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Damage:
    """Replace the value at ``path`` (``changes.3.before``), or delete it if ``value`` is
    :data:`DELETE`."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]

    def damage(doc: dict[str, Any]) -> None:
        target: Any = doc
        for p in parents:
            target = target[p]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return damage


DELETE = object()

CASES: list[tuple[str, Damage, str]] = [
    ("a change that is not an object", _set("changes", ["abc"]),
     'changes[0]: expected an object, got "abc"'),
    ("a change without before", _set("changes.3.before", DELETE), "changes[3].before: missing"),
    ("an unknown action", _set("changes.1.action", "explode"),
     "changes[1].action: 'explode' is not one of create, "),
    ("fields not a list", _set("changes.2.fields", "x"),
     'changes[2].fields: expected a list, got "x"'),
    ("a name that is not text", _set("changes.0.names", [7]),
     "changes[0].names[0]: expected a string, got 7"),
    ("cost given as text", _set("changes.0.cost", "1"),
     'changes[0].cost: expected an integer, got "1"'),
    ("a malformed address", _set("unmanaged", ["nope"]), "unmanaged[0]: not an address"),
    ("no cost section", _set("cost", DELETE), "cost: missing"),
    ("a warning without its message", _set("warnings", [{"address": "x"}]),
     "warnings[0].message: missing"),
]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A workspace and a plan saved in it by ``plan --out`` (four creates)."""
    ws = tmp_path_factory.mktemp("ws")
    (ws / "tapsync.yaml").write_text("version: 1\nmanifests: [manifests/]\n", encoding="utf-8")
    (ws / "manifests").mkdir()
    (ws / "manifests" / "a.yaml").write_text(MANIFEST, encoding="utf-8")
    code, _, err = tapsync(ws, "plan", "--sandbox", "--out", "good.json")
    assert code == 0, err
    doc = json.loads((ws / "good.json").read_text(encoding="utf-8"))
    assert len(doc["changes"]) >= 4
    return ws, doc


@pytest.mark.parametrize(("damage", "where"), [(d, w) for _, d, w in CASES],
                         ids=[name for name, _, _ in CASES])
def test_a_damaged_saved_plan_is_refused_with_file_and_place(
        saved: tuple[Path, dict[str, Any]], damage: Damage, where: str) -> None:
    ws, good = saved
    doc = json.loads(json.dumps(good))
    damage(doc)
    (ws / "bad.json").write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = tapsync(ws, "apply", "--sandbox", "bad.json")
    assert code == 1, err
    assert f"bad.json: not a valid saved plan: {where}" in err, err
    assert "Traceback" not in err and "applied" not in out


def test_the_undamaged_plan_still_applies(saved: tuple[Path, dict[str, Any]]) -> None:
    """The refusals above come from the damage, not from the plan they started from."""
    ws, good = saved
    (ws / "copy.json").write_text(json.dumps(good), encoding="utf-8")
    code, out, err = tapsync(ws, "apply", "--sandbox", "copy.json")
    assert code == 0 and "applied" in out, err


def test_a_bare_plan_with_a_non_object_change_names_the_change(
        saved: tuple[Path, dict[str, Any]]) -> None:
    """The reviewer's document: the first fault in the file is the one named."""
    ws, _ = saved
    (ws / "bare.json").write_text(json.dumps({"format_version": "1", "changes": ["abc"]}),
                                  encoding="utf-8")
    code, _, err = tapsync(ws, "apply", "--sandbox", "bare.json")
    assert code == 1, err
    assert 'bare.json: not a valid saved plan: changes[0]: expected an object, got "abc"' \
        in err, err
