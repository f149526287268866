"""``tapsync validate``'s output: the text line format, and GitHub workflow commands that
GitHub decodes back to exactly the message and file written, on repository-relative paths.

``parse_command`` below is GitHub's side of the contract (the runner's ``ActionCommand``
parsing and unescaping), written from the spec rather than from our escaping, so a
wrongly escaped character shows up as a different decoded message.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from tapsync.errors import Problem
from tapsync.render.markup import gh_command
from tapsync.render.problems import problem_line, render_problems_github, render_problems_text
from tests.ci.support import tapsync

NASTY = "100% sure: a, b\r\nand %0A literally"


def _unescape(text: str, *, prop: bool) -> str:
    pairs = [("%0D", "\r"), ("%0A", "\n")] + ([("%3A", ":"), ("%2C", ",")] if prop else [])
    for escaped, raw in [*pairs, ("%25", "%")]:  # %25 last, as the runner does
        text = text.replace(escaped, raw)
    return text


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """``::level k=v,k=v::message`` → (level, properties, message), unescaped."""
    m = re.fullmatch(r"::(\w+)(?: ([^:]*))?::(.*)", line)
    assert m, f"not a workflow command: {line!r}"
    props: dict[str, str] = {}
    for item in (m[2] or "").split(","):
        key, _, value = item.partition("=")
        props[key] = _unescape(value, prop=True)
    return m[1], props, _unescape(m[3], prop=False)


def test_gh_command_round_trips_any_message_and_file() -> None:
    line = gh_command("error", NASTY, file="dir/a,b:c%.yaml", line=3, col=7, title="t: 1, 2")
    assert "\n" not in line and "\r" not in line
    assert parse_command(line) == ("error", {"file": "dir/a,b:c%.yaml", "line": "3", "col": "7",
                                             "title": "t: 1, 2"}, NASTY)
    # the message keeps commas and colons as they are: only properties escape them
    assert line.endswith("::100%25 sure: a, b%0D%0Aand %250A literally")


def test_github_annotations_decode_to_the_problem_on_a_relative_path(tmp_path: Path) -> None:
    problems = [Problem(str(tmp_path / "manifests" / "a,b.yaml"), 4, 7, "$.x", NASTY),
                Problem("/elsewhere/b.yaml", 2, 3, "$.y", "plain", severity="warning")]
    out = io.StringIO()
    render_problems_github(problems, out, base=str(tmp_path))
    first, second = out.getvalue().splitlines()
    assert parse_command(first) == (
        "error", {"file": "manifests/a,b.yaml", "line": "4", "col": "7"}, f"$.x: {NASTY}")
    assert parse_command(second) == (
        "warning", {"file": "/elsewhere/b.yaml", "line": "2", "col": "3"}, "$.y: plain")


def test_text_lines_follow_the_spec_with_a_marker_only_on_warnings(tmp_path: Path) -> None:
    error = Problem(str(tmp_path / "m" / "a.yaml"), 4, 7, "$.a", "bad")
    warning = Problem(str(tmp_path / "m" / "a.yaml"), 5, 1, "$.b", "hmm", severity="warning")
    assert problem_line(error, base=str(tmp_path)) == "m/a.yaml:4:7: $.a: bad"
    assert problem_line(warning, base=str(tmp_path)) == "m/a.yaml:5:1: $.b: warning: hmm"
    # outside the base the path stays whole; without a base it matches Problem's own str()
    assert problem_line(error, base="/somewhere/else") == f"{error.file}:4:7: $.a: bad"
    assert problem_line(warning) == str(warning)
    out = io.StringIO()
    render_problems_text([error, warning], out, files=1, resources=0, base=str(tmp_path))
    assert out.getvalue() == ("m/a.yaml:4:7: $.a: bad\nm/a.yaml:5:1: $.b: warning: hmm\n"
                              "Invalid: 1 error(s), 1 warning(s) in 1 file(s).\n")


def test_colour_marks_without_changing_the_words(tmp_path: Path) -> None:
    warning = Problem("a.yaml", 5, 1, "$.b", "hmm", severity="warning")
    painted = problem_line(warning, color=True)
    assert "\x1b[33m" in painted
    assert re.sub(r"\x1b\[[0-9;]*m", "", painted) == "a.yaml:5:1: $.b: warning: hmm"


MANIFEST = ("amplitude:\n  event_types:\n    - name: X\n      \"a,b: 100%\": 1\n"
            "  user_properties:\n    - {name: tier, type: enum, enum_values: [\"gold, silver\"]}\n")


def _workspace(ws: Path) -> Path:
    (ws / "manifests").mkdir()
    (ws / "tapsync.yaml").write_text("version: 1\nmanifests: [manifests/]\n", encoding="utf-8")
    (ws / "manifests" / "a.yaml").write_text(MANIFEST, encoding="utf-8")
    return ws


def test_validate_text_through_the_cli(tmp_path: Path) -> None:
    code, out, _ = tapsync(_workspace(tmp_path), "validate")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("manifests/a.yaml:4:7: $.amplitude.event_types[0][\"a,b: 100%\"]: "
                               "unknown key 'a,b: 100%'")
    assert lines[1] == ("manifests/a.yaml:6:46: $.amplitude.user_properties[0].enum_values[0]: "
                        "enum value 'gold, silver' contains a comma: the API sends the values "
                        "comma-separated")
    assert "error:" not in out
    assert lines[2] == "Invalid: 2 error(s), 0 warning(s) in 1 file(s)."


def test_validate_github_through_the_cli(tmp_path: Path) -> None:
    code, out, _ = tapsync(_workspace(tmp_path), "validate", "--format", "github")
    assert code == 1
    first, second = (parse_command(line) for line in out.splitlines())
    assert first[:2] == ("error", {"file": "manifests/a.yaml", "line": "4", "col": "7"})
    assert first[2].startswith("$.amplitude.event_types[0][\"a,b: 100%\"]: "
                               "unknown key 'a,b: 100%'")
    assert second == ("error", {"file": "manifests/a.yaml", "line": "6", "col": "46"},
                      "$.amplitude.user_properties[0].enum_values[0]: enum value "
                      "'gold, silver' contains a comma: the API sends the values "
                      "comma-separated")
    assert "%2C" not in out.split("::")[2]  # the message's commas are left alone


def test_validate_json_keeps_the_paths_as_found(tmp_path: Path) -> None:
    code, out, _ = tapsync(_workspace(tmp_path), "validate", "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["valid"] is False
    assert [p["file"] for p in doc["problems"]] == [str(tmp_path / "manifests" / "a.yaml")] * 2
