"""``examples/ci/github-actions.yml`` run end to end against the sandbox.

Every ``run:`` step of the example workflow is executed as GitHub would (``bash -e``,
``$GITHUB_OUTPUT``, ``$GITHUB_STEP_SUMMARY``, step ``if:`` conditions on outputs), in a
workspace made from ``examples/``. Three stand-ins make that possible offline, and
nothing else is changed: ``tapsync`` runs this checkout's CLI with ``--sandbox`` added,
``gh`` records its arguments (and can pretend an issue exists), and ``python -m pip
install`` is recorded instead of reaching PyPI. ``uses:`` steps (checkout, setup-python,
artifacts) are GitHub's own and skipped.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.ci.support import TAXONOMY, sandbox_calls

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
KNOWN_ACTIONS = ("actions/checkout@", "actions/setup-python@", "actions/upload-artifact@")
EXPRESSIONS = {
    "secrets.AMPLITUDE_API_KEY": "", "secrets.AMPLITUDE_SECRET_KEY": "",
    "github.token": "ghs_test", "github.event.pull_request.number": "42",
}

TAPSYNC_SHIM = """#!/bin/sh
sub="$1"; shift
exec {python} -c 'import sys; from tapsync.cli import main; sys.exit(main(sys.argv[1:]))' \\
  "$sub" --sandbox "$@"
"""
GH_SHIM = """#!/bin/sh
printf '%s\\n' "$*" >> "$GH_LOG"
case "$1 $2" in
  "issue list") cat "$GH_ISSUES" 2>/dev/null || true ;;
esac
"""
PYTHON_SHIM = """#!/bin/sh
if [ "$1 $2 $3" = "-m pip install" ]; then printf '%s\\n' "$*" >> "$PIP_LOG"; exit 0; fi
exec {python} "$@"
"""


@dataclass
class Run:
    """What one job did: outputs per step id, the step summary, and its own log."""

    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)


def _expr(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        inner = m.group(1).strip()
        assert inner in EXPRESSIONS, f"the test does not know the expression {inner!r}"
        return EXPRESSIONS[inner]
    return re.sub(r"\$\{\{(.*?)\}\}", one, str(text))


def _condition(cond: str, run: Run) -> bool:
    m = re.fullmatch(r"steps\.(\w+)\.outputs\.(\w+) (==|!=) '([^']*)'", cond.strip())
    if cond.strip() == "always()":
        return True
    assert m, f"the test cannot evaluate if: {cond}"
    value = run.outputs.get(m.group(1), {}).get(m.group(2), "")
    return (value == m.group(4)) == (m.group(3) == "==")


def run_job(name: str, ws: Path, bin_dir: Path) -> Run:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    job = doc["jobs"][name]
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           **{k: _expr(v) for k, v in (doc.get("env") or {}).items()},
           **{k: _expr(v) for k, v in (job.get("env") or {}).items()}}
    env.pop("NO_COLOR", None)
    run = Run()
    for step in job["steps"]:
        if "uses" in step:
            assert step["uses"].startswith(KNOWN_ACTIONS), step["uses"]
            continue
        if "if" in step and not _condition(step["if"], run):
            continue
        out_file, summary = ws / ".gh-output", ws / ".gh-summary"
        out_file.write_text("", encoding="utf-8")
        step_env = {**env, **{k: _expr(v) for k, v in (step.get("env") or {}).items()},
                    "GITHUB_OUTPUT": str(out_file), "GITHUB_STEP_SUMMARY": str(summary)}
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-e", "-c", _expr(step["run"])],
                              cwd=ws, env=step_env, capture_output=True, text=True,
                              timeout=120)
        run.logs.append(proc.stdout + proc.stderr)
        run.ran.append(step.get("name", step["run"]))
        assert proc.returncode == 0, f"step {step.get('name')!r} failed:\n{run.logs[-1]}"
        if "id" in step:
            pairs = [line.split("=", 1) for line in out_file.read_text().splitlines()]
            run.outputs[step["id"]] = {k: v for k, v in pairs}
    return run


@pytest.fixture
def ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    ws = tmp_path / "repo"
    (ws / "manifests").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "tapsync.yaml", ws / "tapsync.yaml")
    # the Amplitude part of the example: what this version of tapsync manages end to end
    shutil.copy(ROOT / "examples" / "manifests" / "amplitude.yaml", ws / "manifests")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("tapsync", TAPSYNC_SHIM), ("gh", GH_SHIM), ("python", PYTHON_SHIM)):
        path = bin_dir / name
        path.write_text(text.format(python=shlex.quote(sys.executable)), encoding="utf-8")
        path.chmod(0o755)
    for var, name in (("GH_LOG", "gh.log"), ("GH_ISSUES", "issues"), ("PIP_LOG", "pip.log")):
        monkeypatch.setenv(var, str(tmp_path / name))
    return ws, bin_dir


def _gh(ws: Path) -> list[str]:
    log = ws.parent / "gh.log"
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def test_the_example_workflow_runs_pr_then_merge_then_nightly_drift(
        ci: tuple[Path, Path]) -> None:
    ws, bin_dir = ci
    # 1. pull request: validate, plan as a comment, annotations on the manifest lines
    pr = run_job("plan", ws, bin_dir)
    assert pr.outputs["plan"] == {"exitcode": "2"}
    plan_md = (ws / "plan.md").read_text(encoding="utf-8")
    assert plan_md.startswith("<!-- tapsync:plan -->\n### tapsync plan: 22 to create")
    assert (ws / ".gh-summary").read_text(encoding="utf-8").startswith("<!-- tapsync:plan -->")
    assert any("::notice file=manifests/amplitude.yaml,line=" in log for log in pr.logs)
    assert _gh(ws) == ["pr comment 42 --body-file plan.md --edit-last"]
    assert (ws.parent / "pip.log").read_text().startswith("-m pip install tapsync==")

    # 2. merge to main: plan saved, exactly that plan applied; the PR's next plan is empty
    run_job("apply", ws, bin_dir)
    assert (ws / "tapsync-plan.json").is_file()
    pr = run_job("plan", ws, bin_dir)
    assert pr.outputs["plan"] == {"exitcode": "0"}
    assert "Annotate the manifest lines that cause each change" not in pr.ran
    _gh(ws)

    # 3. a quiet night: no drift, no issue
    night = run_job("drift", ws, bin_dir)
    assert night.outputs["drift"] == {"exitcode": "0"}
    assert _gh(ws) == []

    # 4. someone edits an event in the dashboard: the next night opens an issue…
    sandbox_calls(ws, ("PUT", f"{TAXONOMY}/event/Sign%20Up", {"data": {"owner": "someone"}}))
    night = run_job("drift", ws, bin_dir)
    assert night.outputs["drift"] == {"exitcode": "2"}
    assert _gh(ws) == [
        "issue list --label tapsync-drift --state open --json number --jq .[0].number",
        "issue create --title tapsync: live analytics configuration drifted "
        "--label tapsync-drift --body-file drift.md"]
    drift_md = (ws / "drift.md").read_text(encoding="utf-8")
    assert "### tapsync drift: 1 difference" in drift_md and "`owner`" in drift_md

    # 5. …and the night after comments on the open issue instead of opening another
    (ws.parent / "issues").write_text("7\n", encoding="utf-8")
    run_job("drift", ws, bin_dir)
    assert _gh(ws)[-1] == "issue comment 7 --body-file drift.md"


def test_a_failing_plan_fails_the_job(ci: tuple[Path, Path]) -> None:
    ws, bin_dir = ci
    (ws / "manifests" / "amplitude.yaml").write_text(
        "amplitude:\n  event_types:\n    - name: Bad Event\n      colour: red\n",
        encoding="utf-8")
    with pytest.raises(AssertionError, match="step 'Validate' failed"):
        run_job("plan", ws, bin_dir)


def test_the_pre_commit_hook_validates_the_workspace(tmp_path: Path) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "tapsync-validate" and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    assert files.search("manifests/amplitude.yaml") and files.search("tapsync.yaml")
    assert not files.search("src/app.py")
    (tmp_path / "manifests").mkdir()
    shutil.copy(ROOT / "examples" / "tapsync.yaml", tmp_path / "tapsync.yaml")
    shutil.copy(ROOT / "examples" / "manifests" / "amplitude.yaml", tmp_path / "manifests")
    entry = [str(Path(sys.executable).parent / shlex.split(hook["entry"])[0]),
             *shlex.split(hook["entry"])[1:]]
    ok = subprocess.run(entry, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (tmp_path / "manifests" / "bad.yaml").write_text("amplitude:\n  oops: 1\n",
                                                     encoding="utf-8")
    bad = subprocess.run(entry, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "oops" in bad.stdout
