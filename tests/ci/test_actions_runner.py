"""The small GitHub Actions runner behind ``test_workflow.py`` follows GitHub's rules;
otherwise the example workflow could pass here and misbehave there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.ci.actions import Workflow, condition, evaluate, render

CTX: dict[str, Any] = {
    "github": {"event_name": "push", "ref": "refs/heads/main", "event": {}},
    "inputs": {}, "secrets": {"TOKEN": "s3cret"},
    "steps": {"plan": {"outputs": {"exitcode": "2"}}},
}


@pytest.mark.parametrize(("expression", "value"), [
    ("github.event_name == 'PUSH'", True),                       # strings ignore case
    ("inputs.run == 'drift'", False),                            # a missing input is null
    ("inputs.run == ''", True),                                  # null and '' both read 0
    ("steps.plan.outputs.exitcode == 2", True),                  # '2' compares as a number
    ("github.event_name == 'push' && 'yes' || 'no'", "yes"),     # && and || give operands
    ("github.event_name == 'schedule' && 'yes' || 'no'", "no"),
    ("!(github.ref == 'refs/heads/main')", False),
    ("startsWith(github.ref, 'refs/heads/')", True),
    ("github.event.pull_request.number", None),
])
def test_expressions_evaluate_as_on_github(expression: str, value: Any) -> None:
    assert evaluate(expression, CTX) == value


def test_unknown_contexts_and_functions_are_errors_not_nulls() -> None:
    with pytest.raises(ValueError, match="unknown context 'secret'"):
        evaluate("secret.TOKEN", CTX)
    with pytest.raises(ValueError, match="does not know the function endsWith"):
        evaluate("endsWith(github.ref, 'main')", CTX)


def test_conditions_without_a_status_function_mean_success_and() -> None:
    assert condition("steps.plan.outputs.exitcode == '2'", CTX)
    assert not condition("steps.plan.outputs.exitcode == '2'", CTX, failed=True)
    assert condition("always()", CTX, failed=True)
    assert condition("${{ failure() }}", CTX, failed=True)
    assert not condition("failure()", CTX)


def test_templates_render_booleans_and_nulls_as_github_does() -> None:
    assert render("${{ github.ref == 'refs/heads/main' }}", CTX) == "true"
    assert render("pr-${{ github.event.pull_request.number }}", CTX) == "pr-"
    assert render("${{ secrets.TOKEN }}", CTX) == "s3cret"


def test_a_job_runs_bash_with_pipefail_outputs_and_skips_after_a_failure(
        tmp_path: Path) -> None:
    path = tmp_path / "wf.yml"
    path.write_text("""
on: {push: {}}
jobs:
  j:
    if: github.ref == 'refs/heads/main'
    steps:
      - uses: actions/checkout@0000000000000000000000000000000000000000
      - {id: a, name: out, run: 'echo "code=2" >> "$GITHUB_OUTPUT"'}
      - {name: only on 2, if: "steps.a.outputs.code == '2'", run: "echo ran"}
      - {name: only on 3, if: "steps.a.outputs.code == '3'", run: "echo never"}
      - {name: piped, run: "false | true"}
      - {name: after, run: "echo skipped"}
      - {name: cleanup, if: "always()", run: "echo always"}
""", encoding="utf-8")
    ws = tmp_path / "ws"
    ws.mkdir()
    wf = Workflow(path)
    assert wf.run_steps() == {("j", n) for n in ("out", "only on 2", "only on 3", "piped",
                                                 "after", "cleanup")}
    github = {"event_name": "push", "ref": "refs/heads/main", "repository": "o/r"}
    (job,) = wf.trigger(github, ws, {"PATH": os.environ["PATH"]}).values()
    assert job.outputs("a") == {"code": "2"}
    assert job.ran == ["out", "only on 2", "piped", "cleanup"]
    assert job.failed_at == "piped"
    assert wf.trigger({**github, "ref": "refs/heads/x"}, ws, {}) == {}   # the job's if:
    with pytest.raises(AssertionError, match="not triggered by schedule"):
        wf.trigger({**github, "event_name": "schedule"}, ws, {})
