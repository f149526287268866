"""``examples/ci/github-actions.yml`` run end to end against the sandbox.

The workflow file itself is read and run by :mod:`tests.ci.actions` (job and step ``if:``
expressions, ``${{ … }}`` values, ``bash -eo pipefail``, ``$GITHUB_OUTPUT``), in a copy of
``examples/`` whose sandbox holds ``sandbox-fixtures.yaml``, through a pull request, the
merge, a deliberate send and several nights. Only what cannot run here is replaced, through
``PATH``: ``tapsync`` is this checkout's CLI with ``--sandbox`` added, ``gh`` records its
arguments (and answers from canned files), ``python -m pip install`` is recorded instead of
reaching the network; ``uses:`` steps are GitHub's own and skipped.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tapsync.config import load_config
from tapsync.engine import credentials_from, used_providers
from tapsync.manifest import LintOptions, check
from tests.ci.actions import JobResult, Workflow, step_name
from tests.ci.support import TAXONOMY, sandbox_calls, tapsync

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
WORKFLOW = Workflow(EXAMPLES / "ci" / "github-actions.yml")
REPOSITORY = "acme/analytics"
TOKEN = "ghs_test_token_never_printed"

TAPSYNC_SHIM = """#!/bin/sh
sub="$1"; shift
exec {python} -c 'import sys; from tapsync.cli import main; sys.exit(main(sys.argv[1:]))' \\
  "$sub" --sandbox "$@"
"""
# gh: logs each call; `gh api` GETs and `gh issue list` print the canned answer in
# $GH_STATE/comments or $GH_STATE/issues (what the --jq filter would have produced)
GH_SHIM = """#!/bin/sh
printf '%s\\n' "$*" >> "$GH_STATE/log"
case "$1 $2" in
  "api repos/"*) cat "$GH_STATE/comments" 2>/dev/null || true ;;
  "issue list") cat "$GH_STATE/issues" 2>/dev/null || true ;;
esac
"""
PYTHON_SHIM = """#!/bin/sh
if [ "$1 $2 $3" = "-m pip install" ]; then printf '%s\\n' "$*" >> "$GH_STATE/pip"; exit 0; fi
exec {python} "$@"
"""


class Repo:
    """A repository holding a copy of ``examples/``, and GitHub around it."""

    def __init__(self, root: Path) -> None:
        self.ws, self.state, self.bin = root / "repo", root / "github", root / "bin"
        shutil.copytree(EXAMPLES, self.ws, ignore=shutil.ignore_patterns(".tapsync"))
        self.state.mkdir()
        self.bin.mkdir()
        for name, text in (("tapsync", TAPSYNC_SHIM), ("gh", GH_SHIM), ("python", PYTHON_SHIM)):
            path = self.bin / name
            path.write_text(text.format(python=shlex.quote(sys.executable)), encoding="utf-8")
            path.chmod(0o755)
        self.secrets: dict[str, str] = {}
        self.covered: set[tuple[str, str]] = set()

    def env(self) -> dict[str, str]:
        return {"PATH": f"{self.bin}:/usr/bin:/bin", "GH_STATE": str(self.state),
                "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8"}

    def secret(self, name: str) -> str:
        """Any secret the workflow names exists, with a value no output may contain."""
        return self.secrets.setdefault(name, f"secret-{name}-never-printed")

    def trigger(self, event: str, **inputs: str) -> dict[str, JobResult]:
        github: dict[str, Any] = {
            "event_name": event, "repository": REPOSITORY, "workflow": "tapsync",
            "token": TOKEN, "ref": "refs/heads/main", "event": {}}
        if event == "pull_request":
            github.update(ref="refs/pull/42/merge", event={"pull_request": {"number": 42}})
        secrets = _Secrets(self)
        jobs = WORKFLOW.trigger(github, self.ws, self.env(), inputs=inputs, secrets=secrets)
        for name, job in jobs.items():
            self.covered |= {(name, s.name) for s in job.steps if s.outcome == "success"}
            self._no_secret_in(job)
        return jobs

    def _no_secret_in(self, job: JobResult) -> None:
        shown = job.log + job.summary + "".join(
            p.read_text(encoding="utf-8") for p in self.ws.glob("*.md"))
        for value in (*self.secrets.values(), TOKEN):
            assert value not in shown, f"job {job.name} printed a secret"

    def gh(self) -> list[str]:
        """The gh calls made since the last look."""
        log = self.state / "log"
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        return lines

    def answer(self, what: str, text: str) -> None:
        (self.state / what).write_text(text, encoding="utf-8")

    def read(self, name: str) -> str:
        return (self.ws / name).read_text(encoding="utf-8")


class _Secrets(dict[str, str]):
    """The ``secrets`` context: whatever name the workflow asks for has a value (a test
    must not need editing per secret), recorded so no output may contain it."""

    def __init__(self, repo: Repo) -> None:
        super().__init__()
        self.repo = repo

    def get(self, key: str, default: Any = None) -> Any:
        return self.repo.secret(key)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path)
    # what only the services' dashboards and apps make (experiments, ingested events)
    code, _, err = tapsync(r.ws, "sandbox", "load", "sandbox-fixtures.yaml")
    assert code == 0, err
    return r


def _only(jobs: dict[str, JobResult], name: str) -> JobResult:
    assert list(jobs) == [name], f"expected only the {name} job, ran {list(jobs)}"
    return jobs[name]


def test_the_example_workflow_from_pull_request_to_merge_send_and_nightly_drift(
        repo: Repo) -> None:
    # 1. a pull request: validate, then the plan as a new comment and line annotations
    pr = _only(repo.trigger("pull_request"), "plan")
    assert pr.failed_at is None, pr.log
    assert pr.outputs("plan") == {"exitcode": "2"}
    plan_md = repo.read("plan.md")
    assert plan_md.startswith("<!-- tapsync:plan -->\n### tapsync plan: 21 to create")
    assert "**This plan sends 2 push notifications**" in plan_md
    assert pr.summary == plan_md
    annotations = pr.step("Annotate the manifest lines that cause each change").log
    for provider in ("amplitude", "taplytics"):
        assert f"file=manifests/{provider}.yaml,line=" in annotations
    assert repo.gh() == [
        f"api repos/{REPOSITORY}/issues/42/comments --paginate --jq " + _jq_filter("plan"),
        "pr comment 42 --body-file plan.md"]
    pip = (repo.state / "pip").read_text(encoding="utf-8").splitlines()
    # from tapsync's own repository, at a commit (placeholders until a team fills them in)
    assert pip and all(re.fullmatch(
        r"-m pip install tapsync @ git\+https://github\.com/[^/\s]+/tapsync"
        r"@(<[\w.-]+>|[0-9a-f]{40})", line) for line in pip), pip

    # 2. another push to the branch edits that comment instead of adding one
    repo.answer("comments", "901\n")
    pr = _only(repo.trigger("pull_request"), "plan")
    assert repo.gh()[1:] == [
        f"api --method PATCH repos/{REPOSITORY}/issues/comments/901 -F body=@plan.md --silent"]

    # 3. merged: the plan of main sends pushes, so the merge applies nothing and says why
    merge = _only(repo.trigger("push"), "apply")
    assert merge.failed_at == "Apply exactly the saved plan"
    assert "refusing to apply" in merge.log and "--allow-send" in merge.log
    assert json.loads(repo.read("tapsync-plan.json"))["changes"]

    # 4. a person runs the workflow by hand with apply-and-send: that run sends them
    send = _only(repo.trigger("workflow_dispatch", run="apply-and-send"), "apply")
    assert send.failed_at is None, send.log
    assert "Converged: a new plan shows no changes." in send.log
    pr = _only(repo.trigger("pull_request"), "plan")
    assert pr.outputs("plan") == {"exitcode": "0"}
    assert "Annotate the manifest lines that cause each change" not in pr.ran
    repo.gh()

    # 5. the first night: the fixture's ingested "Debug Ping" is declared nowhere. The
    #    Taxonomy API does not say it was never planned, so it is unmanaged, not unexpected
    night = _only(repo.trigger("schedule"), "drift")
    assert night.outputs("drift") == {"exitcode": "2"}
    drift_md = repo.read("drift.md")
    assert "#### Unmanaged — live, declared by no manifest (1)" in drift_md
    assert '`amplitude.event_type["Debug Ping"]`' in drift_md
    assert "| 0 | 0 | 1 | 0 |" in drift_md and "Unexpected —" not in drift_md
    assert repo.gh() == [
        "issue list --label tapsync-drift --state open --json number --jq "
        + _jq_filter("drift"),
        "label create tapsync-drift --force --color D93F0B --description "
        "Live analytics configuration differs from the manifests",
        "issue create --title tapsync: live analytics configuration drifted "
        "--label tapsync-drift --body-file drift.md"]

    # 6. the team accepts it; a drift check run by hand (the default choice) is quiet
    code, _, err = tapsync(repo.ws, "drift", "--sandbox", "--write-baseline")
    assert code == 0, err
    assert 'amplitude.event_type["Debug Ping"]' in repo.read(".tapsyncignore")
    quiet = _only(repo.trigger("workflow_dispatch"), "drift")
    assert quiet.outputs("drift") == {"exitcode": "0"}
    assert "Open or update the drift issue" not in quiet.ran
    assert repo.gh() == ["issue list --label tapsync-drift --state open --json number --jq "
                         + _jq_filter("drift")]   # no open issue (in this stand-in): none closed

    # 7. someone edits an event in the dashboard: the night comments on the open issue
    (answer,) = sandbox_calls(repo.ws, ("PUT", f"{TAXONOMY}/event/Sign%20Up",
                                        {"data": {"owner": "someone"}}))
    assert answer["success"], answer
    repo.answer("issues", "7\n")
    night = _only(repo.trigger("schedule"), "drift")
    assert night.outputs("drift") == {"exitcode": "2"}
    assert "### tapsync drift: 1 difference" in repo.read("drift.md")
    assert "`owner`" in repo.read("drift.md")
    assert repo.gh()[1:] == ["issue comment 7 --body-file drift.md"]

    # 8. a pull request edits a description; its merge applies the saved plan, which also
    #    puts the dashboard's edit back, and nothing is left to do or to report
    manifest = repo.ws / "manifests" / "amplitude.yaml"
    text = manifest.read_text(encoding="utf-8")
    assert "A returning user signed in" in text
    manifest.write_text(text.replace("A returning user signed in", "A user signed in again"),
                        encoding="utf-8")
    pr = _only(repo.trigger("pull_request"), "plan")
    assert pr.outputs("plan") == {"exitcode": "2"}
    assert "### tapsync plan: 0 to create, 2 to update" in repo.read("plan.md")
    merge = _only(repo.trigger("push"), "apply")
    assert merge.failed_at is None, merge.log
    pr = _only(repo.trigger("pull_request"), "plan")
    assert pr.outputs("plan") == {"exitcode": "0"}
    repo.gh()
    night = _only(repo.trigger("schedule"), "drift")
    assert night.outputs("drift") == {"exitcode": "0"}
    assert repo.gh()[1:] == [   # issue 7 is still open: the quiet night closes it
        "issue close 7 --comment The latest tapsync drift check found no drift."]

    # every run: step of the workflow succeeded at least once above
    assert repo.covered >= WORKFLOW.run_steps(), WORKFLOW.run_steps() - repo.covered


def test_a_failing_validation_fails_the_job_before_any_plan(repo: Repo) -> None:
    (repo.ws / "manifests" / "amplitude.yaml").write_text(
        "amplitude:\n  event_types:\n    - name: Bad Event\n      colour: red\n",
        encoding="utf-8")
    pr = _only(repo.trigger("pull_request"), "plan")
    assert pr.failed_at == "Validate"
    assert "::error file=manifests/amplitude.yaml" in pr.step("Validate").log
    assert pr.ran == ["Install tapsync", "Validate"]
    assert repo.gh() == []


def test_every_job_gets_the_credentials_of_every_provider_the_manifests_use(
        repo: Repo) -> None:
    cfg = load_config(repo.ws / "tapsync.yaml", {})
    checked = check(list(cfg.manifests), LintOptions(naming=dict(cfg.naming)))
    names = sorted(used_providers(checked.state))
    assert names == ["amplitude", "taplytics"]
    ctx = WORKFLOW.contexts({"event_name": "schedule"}, {}, _Secrets(repo))
    for job in WORKFLOW.jobs:
        creds = credentials_from(WORKFLOW.job_env(job, ctx), cfg, names)
        assert all(v.startswith("secret-") for p in creds.values() for v in p.values())


def test_actions_are_pinned_to_a_commit_and_nothing_comes_from_an_index() -> None:
    text = WORKFLOW.path.read_text(encoding="utf-8")
    uses = re.findall(r"uses: (\S+)(.*)", text)
    assert uses
    for ref, rest in uses:
        assert re.fullmatch(r"actions/[\w-]+@[0-9a-f]{40}", ref), ref
        assert re.fullmatch(r"\s+# v\d+\.\d+\.\d+", rest), f"{ref}: say its version"
    installs = [s["run"] for spec in WORKFLOW.jobs.values() for s in spec["steps"]
                if "pip install" in s.get("run", "")]
    assert installs and all("git+" in cmd and "==" not in cmd for cmd in installs)


@pytest.mark.skipif(shutil.which("jq") is None, reason="needs jq to run gh's --jq filters")
def test_the_jq_filters_find_the_bots_plan_comment_and_the_open_drift_issue() -> None:
    comments = [
        {"id": 1, "user": {"login": "alice"}, "body": "<!-- tapsync:plan -->\nquoted"},
        {"id": 2, "user": {"login": "github-actions[bot]"}, "body": "another bot comment"},
        {"id": 4, "user": {"login": "github-actions[bot]"}, "body": "<!-- tapsync:drift -->"},
        {"id": 3, "user": {"login": "github-actions[bot]"}, "body": "<!-- tapsync:plan -->\n#"},
    ]
    assert _jq(_jq_filter("plan"), comments) == "3\n"
    assert _jq(_jq_filter("plan"), comments[:3]) == ""
    assert _jq(_jq_filter("drift"), [{"number": 7}]) == "7\n"
    assert _jq(_jq_filter("drift"), []) == ""


def test_the_pre_commit_hook_validates_the_workspace(tmp_path: Path) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "tapsync-validate" and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    assert files.search("manifests/amplitude.yaml") and files.search("tapsync.yaml")
    assert not files.search("src/app.py")
    ws = tmp_path / "repo"
    shutil.copytree(EXAMPLES, ws, ignore=shutil.ignore_patterns(".tapsync"))
    entry = [str(Path(sys.executable).parent / shlex.split(hook["entry"])[0]),
             *shlex.split(hook["entry"])[1:]]
    ok = subprocess.run(entry, cwd=ws, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (ws / "manifests" / "bad.yaml").write_text("taplytics:\n  oops: 1\n", encoding="utf-8")
    bad = subprocess.run(entry, cwd=ws, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "oops" in bad.stdout


def _jq_filter(job: str) -> str:
    """The one ``--jq '…'`` filter in a job's scripts, as the workflow spells it."""
    found: list[str] = [m for s in WORKFLOW.jobs[job]["steps"]
             for m in re.findall(r"--jq '([^']*)'", s.get("run", ""))]
    assert len(set(found)) == 1, f"{job}: expected one --jq filter, found {found}"
    return found[0]


def _jq(program: str, page: Any) -> str:
    return subprocess.run(["jq", "-r", program], input=json.dumps(page), capture_output=True,
                          text=True, check=True, timeout=30).stdout


def test_the_runner_reads_every_step_it_is_asked_to_cover() -> None:
    # the coverage check above only means something if run_steps sees the scripts
    names = {name for _, name in WORKFLOW.run_steps()}
    assert {"Validate", "Plan", "Post the plan on the pull request", "Apply exactly the saved plan",
            "Drift", "Open or update the drift issue"} <= names
    assert all(step_name(s) for spec in WORKFLOW.jobs.values() for s in spec["steps"])
