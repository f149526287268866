"""Every CI renderer, plan and drift, empty and full, against golden files.

Set ``TAPSYNC_UPDATE_GOLDEN=1`` to rewrite ``tests/ci/golden/`` after an intended change,
then review the diff like code.
"""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tapsync.render import DRIFT_RENDERERS, render_drift, render_plan
from tests.ci import cases

GOLDEN = Path(__file__).parent / "golden"
EXT = {"text": "txt", "json": "json", "markdown": "md", "junit": "xml", "github": "log"}


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TAPSYNC_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", ["empty", "full"])
@pytest.mark.parametrize("fmt", ["markdown", "github"])
def test_plan_renders_like_the_golden_file(case: str, fmt: str) -> None:
    the_plan = cases.full_plan() if case == "full" else cases.empty_plan()
    out = io.StringIO()
    render_plan(fmt, the_plan, out, desired=cases.desired(), base=cases.BASE)
    _check(f"plan_{case}.{EXT[fmt]}", out.getvalue())


@pytest.mark.parametrize("case", ["empty", "full"])
@pytest.mark.parametrize("fmt", sorted(DRIFT_RENDERERS))
def test_drift_renders_like_the_golden_file(case: str, fmt: str) -> None:
    report = cases.full_report() if case == "full" else cases.empty_report()
    out = io.StringIO()
    render_drift(fmt, report, out)
    _check(f"drift_{case}.{EXT[fmt]}", out.getvalue())


def test_plan_markdown_highlights_sends_and_deletes_before_anything_else() -> None:
    out = io.StringIO()
    render_plan("markdown", cases.full_plan(), out, desired=cases.desired(), base=cases.BASE)
    text = out.getvalue()
    box = text.index("> [!WARNING]")
    assert box < text.index("| ➕ create")
    assert "**This plan sends 1 push notification** — **irreversible**" in text
    assert '**This plan deletes 1 object**: `amplitude.user_property["legacy_flag"]`' in text
    assert "| **🗑️ delete** |" in text and "| **📣 send** |" in text
    assert "`manifests/amplitude.yaml:14`" in text          # relative to the repository


def test_plan_github_points_at_the_field_that_changes() -> None:
    out = io.StringIO()
    render_plan("github", cases.full_plan(), out, desired=cases.desired(), base=cases.BASE)
    lines = out.getvalue().splitlines()
    search = next(x for x in lines if 'update amplitude.event_type["Search"]' in x)
    assert search.startswith("::notice file=manifests/amplitude.yaml,line=15,col=9,")
    first = lines[0]
    assert first.startswith("::error ")                      # plan errors come first
    assert lines[-1].startswith("::notice title=tapsync plan::")
    assert all("\n" not in x for x in lines)


def test_pipes_and_backticks_in_names_cannot_break_the_markdown() -> None:
    out = io.StringIO()
    render_plan("markdown", cases.full_plan(), out, desired=cases.desired())
    row = next(x for x in out.getvalue().splitlines() if "Pipe" in x and x.startswith("|"))
    assert "``amplitude.event_type[\"Pipe \\| and `tick`\"]``" in row
    assert row.count(" | ") == 3                           # four cells, no stray column


def test_long_drift_lists_fold_and_short_ones_do_not() -> None:
    out = io.StringIO()
    render_drift("markdown", cases.full_report(), out)
    text = out.getvalue()
    assert "<summary>12 unmanaged objects</summary>" in text   # the scratch events
    assert "<summary>" not in text.split("#### Changed")[1].split("####")[0]


def test_drift_json_is_the_plan_envelope_with_a_drift_list() -> None:
    out = io.StringIO()
    render_drift("json", cases.full_report(), out)
    doc = json.loads(out.getvalue())
    assert doc["format_version"] == "1"
    assert list(doc) == ["format_version", "drift", "coverage", "ignored", "warnings",
                         "errors", "cost", "summary"]
    assert {d["type"] for d in doc["drift"]} == {"changed", "missing", "unmanaged",
                                                 "unexpected"}
    assert doc["summary"] == {t: sum(d["type"] == t for d in doc["drift"])
                              for t in ("changed", "missing", "unmanaged", "unexpected")}


def test_junit_counts_agree_with_the_report() -> None:
    report = cases.full_report()
    out = io.StringIO()
    render_drift("junit", report, out)
    root = ET.fromstring(out.getvalue())
    cases_ = root.findall(".//testcase")
    assert int(root.get("tests", "")) == len(cases_)
    assert int(root.get("failures", "")) == len(report.items)
    declared = [c for c in cases_ if not c.get("classname", "").startswith(("unmanaged",
                                                                          "unexpected"))]
    assert len(declared) == len(report.declared)


def test_a_huge_plan_still_fits_in_one_github_comment() -> None:
    from tapsync.model import Resource, ResourceKey, State
    from tapsync.planner import plan
    from tests.plan_specs import SPECS

    desired = State(Resource(ResourceKey.parse(f'amplitude.event_type["Event {i:04d}"]'),
                             {"description": "x" * 400}) for i in range(3000))
    out = io.StringIO()
    render_plan("markdown", plan(desired, State(), SPECS), out)
    text = out.getvalue()
    assert len(text) <= 65_000
    assert "… and 2950 more (the job log has the full plan)" in text
