"""Just enough of GitHub Actions to run a workflow's ``run:`` steps on this machine.

The example workflow is only worth shipping if its commands work, and the commands only
work if the conditions around them do too: which job an event starts, which step an
output skips, what a ``${{ … }}`` expression puts in the environment. So this module
reads the workflow file itself and evaluates those parts the way GitHub documents them
(expression syntax, loose equality, implicit ``success()``, ``bash -eo pipefail``,
``$GITHUB_OUTPUT`` and ``$GITHUB_STEP_SUMMARY``) instead of a test re-typing the
commands. ``uses:`` steps are GitHub's own actions and are skipped; whatever else cannot
run here (``gh``, ``pip`` reaching an index) is replaced by the caller through ``PATH``.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^']|'')*')
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op>==|!=|<=|>=|&&|\|\||[!<>(),])
  | (?P<name>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)
)""", re.X)
_STATUS_FUNCTIONS = ("success()", "failure()", "always()", "cancelled()")
_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.S)


# ------------------------------------------------------------------------ expressions

def truthy(value: Any) -> bool:
    """GitHub's falsy values: false, 0, -0, '', null and NaN."""
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (False, 0, "", None)


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if not text:
        return 0.0
    try:
        return float(text)
    except ValueError:
        return math.nan


def loose_equal(a: Any, b: Any) -> bool:
    """``==`` as GitHub defines it: strings ignore case; different types compare as
    numbers (null → 0, booleans → 0/1, unparsable strings → NaN, never equal)."""
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if type(a) is type(b):
        return bool(a == b)
    return _number(a) == _number(b)


def as_text(value: Any) -> str:
    """How a ``${{ … }}`` value reads once substituted into a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Expression:
    """A recursive-descent evaluator of one expression against ``contexts``.

    Unknown contexts and functions are errors (a typo in the workflow must fail the test);
    missing properties of a known context are ``null``, as on GitHub.
    """

    def __init__(self, text: str, contexts: Mapping[str, Any],
                 functions: Mapping[str, Callable[..., Any]]) -> None:
        self.text, self.contexts, self.functions = text, contexts, functions
        self.tokens: list[tuple[str, str]] = []
        pos, text = 0, text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise ValueError(f"cannot read the expression {self.text!r} at {text[pos:]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.at = 0

    def value(self) -> Any:
        result = self._or()
        if self.at != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.at][1]!r} in {self.text!r}")
        return result

    def _peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise ValueError(f"the expression {self.text!r} ends too early")
        token = self.tokens[self.at]
        if expected is not None and token[1] != expected:
            raise ValueError(f"expected {expected!r}, found {token[1]!r} in {self.text!r}")
        self.at += 1
        return token

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            left = left if truthy(left) else right
        return left

    def _and(self) -> Any:
        left = self._compare()
        while self._peek() == "&&":
            self._take()
            right = self._compare()
            left = right if truthy(left) else left
        return left

    def _compare(self) -> Any:
        left = self._unary()
        while self._peek() in ("==", "!=", "<", ">", "<=", ">="):
            op = self._take()[1]
            right = self._unary()
            if op in ("==", "!="):
                left = loose_equal(left, right) == (op == "==")
            else:
                a, b = _number(left), _number(right)
                left = {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        return left

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not truthy(self._unary())
        return self._primary()

    def _primary(self) -> Any:
        kind, text = self._take()
        if text == "(" and kind == "op":
            inner = self._or()
            self._take(")")
            return inner
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if kind != "name":
            raise ValueError(f"unexpected {text!r} in {self.text!r}")
        if self._peek() == "(":
            return self._call(text)
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        return self._lookup(text)

    def _call(self, name: str) -> Any:
        if name not in self.functions:
            raise ValueError(f"the test runner does not know the function {name}() "
                             f"in {self.text!r}")
        self._take("(")
        args: list[Any] = []
        while self._peek() != ")":
            args.append(self._or())
            if self._peek() == ",":
                self._take()
        self._take(")")
        return self.functions[name](*args)

    def _lookup(self, path: str) -> Any:
        head, *rest = path.split(".")
        if head not in self.contexts:
            raise ValueError(f"unknown context {head!r} in {self.text!r}")
        value = self.contexts[head]
        for part in rest:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value


def _starts_with(text: Any, prefix: Any) -> bool:
    return as_text(text).casefold().startswith(as_text(prefix).casefold())


def _contains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, list):
        return any(loose_equal(item, needle) for item in haystack)
    return as_text(needle).casefold() in as_text(haystack).casefold()


def evaluate(text: str, contexts: Mapping[str, Any], *, failed: bool = False) -> Any:
    """The value of one expression (with or without its ``${{ }}``)."""
    m = re.fullmatch(r"\s*\$\{\{(.*)\}\}\s*", text, re.S)
    functions: dict[str, Callable[..., Any]] = {
        "always": lambda: True, "success": lambda: not failed, "failure": lambda: failed,
        "cancelled": lambda: False, "startsWith": _starts_with, "contains": _contains}
    return _Expression(m.group(1) if m else text, contexts, functions).value()


def condition(text: Any, contexts: Mapping[str, Any], *, failed: bool = False) -> bool:
    """A job's or step's ``if:``; without a status function it means ``success() && …``."""
    if isinstance(text, bool):
        return text and not failed
    source = str(text)
    met = truthy(evaluate(source, contexts, failed=failed))
    if any(f in source.replace(" ", "") for f in _STATUS_FUNCTIONS):
        return met
    return met and not failed


def render(text: Any, contexts: Mapping[str, Any]) -> str:
    """A string with its ``${{ … }}`` parts replaced by their values."""
    return _TEMPLATE.sub(lambda m: as_text(evaluate(m.group(1), contexts)), as_text(text))


# --------------------------------------------------------------------------- the runner

@dataclass
class StepResult:
    job: str
    name: str
    outcome: str                      # success | failure | skipped
    id: str | None = None
    log: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class JobResult:
    """What one job did, step by step."""

    name: str
    steps: list[StepResult] = field(default_factory=list)
    summary: str = ""

    @property
    def failed_at(self) -> str | None:
        return next((s.name for s in self.steps if s.outcome == "failure"), None)

    @property
    def ran(self) -> list[str]:
        return [s.name for s in self.steps if s.outcome != "skipped"]

    @property
    def log(self) -> str:
        return "\n".join(s.log for s in self.steps)

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)

    def outputs(self, step_id: str) -> dict[str, str]:
        return next((s.outputs for s in self.steps if s.id == step_id), {})


def step_name(step: Mapping[str, Any]) -> str:
    return str(step.get("name") or step.get("id") or step.get("run") or step.get("uses"))


class Workflow:
    """One workflow file, read once; :meth:`trigger` runs the jobs an event starts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.doc: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        # YAML 1.1 reads the bare key ``on`` as the boolean true
        self.on: dict[str, Any] = self.doc.get("on") or self.doc.get(True) or {}
        self.jobs: dict[str, dict[str, Any]] = self.doc["jobs"]

    def run_steps(self) -> set[tuple[str, str]]:
        """Every ``(job, step)`` with a ``run:`` script: what a test must cover."""
        return {(job, step_name(s)) for job, spec in self.jobs.items()
                for s in spec["steps"] if "run" in s}

    def inputs(self, given: Mapping[str, str]) -> dict[str, Any]:
        """``workflow_dispatch`` inputs as GitHub fills them: defaults, checked choices."""
        declared = (self.on.get("workflow_dispatch") or {}).get("inputs") or {}
        unknown = set(given) - set(declared)
        assert not unknown, f"the workflow declares no input {sorted(unknown)}"
        out: dict[str, Any] = {}
        for name, spec in declared.items():
            value = given.get(name, spec.get("default"))
            if spec.get("type") == "choice":
                assert value in spec["options"], f"{name}={value!r} is not one of " \
                                                 f"{spec['options']}"
            out[name] = value
        return out

    def contexts(self, github: Mapping[str, Any], inputs: Mapping[str, Any],
                 secrets: Mapping[str, str]) -> dict[str, Any]:
        return {"github": github, "inputs": inputs, "secrets": secrets, "env": {},
                "vars": {}, "runner": {"os": "Linux"}}

    def job_env(self, job: str, ctx: Mapping[str, Any]) -> dict[str, str]:
        spec = self.jobs[job]
        return {k: render(v, ctx) for block in (self.doc.get("env"), spec.get("env"))
                for k, v in (block or {}).items()}

    def trigger(self, github: Mapping[str, Any], workspace: Path, base_env: Mapping[str, str],
                *, inputs: Mapping[str, str] | None = None,
                secrets: Mapping[str, str] | None = None) -> dict[str, JobResult]:
        """Run every job whose ``if:`` holds for this event, in file order."""
        event = str(github["event_name"])
        assert event in self.on, f"{self.path.name} is not triggered by {event}"
        ctx = self.contexts(github, self.inputs(inputs or {}) if event == "workflow_dispatch"
                            else {}, secrets or {})
        env = {**base_env, **github_env(github)}
        return {name: self.run_job(name, ctx, workspace, env)
                for name, spec in self.jobs.items()
                if condition(spec.get("if", True), ctx)}

    def run_job(self, name: str, ctx: Mapping[str, Any], workspace: Path,
                base_env: Mapping[str, str]) -> JobResult:
        result = JobResult(name)
        env = {**base_env, **self.job_env(name, ctx)}
        steps: dict[str, Any] = {}
        for i, step in enumerate(self.jobs[name]["steps"]):
            label = step_name(step)
            here = {**ctx, "steps": steps, "env": env}
            failed = result.failed_at is not None
            if "uses" in step or not condition(step.get("if", "success()"), here,
                                                failed=failed):
                result.steps.append(StepResult(name, label, "skipped", step.get("id")))
                continue
            outcome = self._run_step(name, i, step, here, env, workspace, result)
            if "id" in step:
                steps[step["id"]] = {"outputs": outcome.outputs, "outcome": outcome.outcome,
                                     "conclusion": outcome.outcome}
        return result

    def _run_step(self, job: str, index: int, step: Mapping[str, Any],
                  ctx: Mapping[str, Any], env: Mapping[str, str], workspace: Path,
                  result: JobResult) -> StepResult:
        script = str(step["run"])
        assert "${{" not in script, (
            f"{job}/{step_name(step)}: an expression inside run: is a script-injection "
            "risk; pass it through env: instead")
        assert step.get("shell", "bash") == "bash", f"{job}: only bash steps are supported"
        files = workspace.parent / ".actions" / f"{job}-{index}"
        files.mkdir(parents=True, exist_ok=True)
        output, summary, path = files / "output", files / "summary", files / "script.sh"
        output.write_text("", encoding="utf-8")
        path.write_text(script, encoding="utf-8")
        step_env = {**env, **{k: render(v, ctx) for k, v in (step.get("env") or {}).items()},
                    "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
                              cwd=workspace, env=step_env, capture_output=True, text=True,
                              timeout=300)
        pairs = [line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines()
                 if "=" in line]
        done = StepResult(job, step_name(step), "success" if proc.returncode == 0 else "failure",
                          step.get("id"), log=proc.stdout + proc.stderr, outputs=dict(pairs))
        result.steps.append(done)
        if summary.exists():
            result.summary += summary.read_text(encoding="utf-8")
        return done


def github_env(github: Mapping[str, Any]) -> dict[str, str]:
    """The default variables every step sees on GitHub's runners."""
    return {"CI": "true", "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": str(github["event_name"]),
            "GITHUB_REF": str(github["ref"]), "GITHUB_REPOSITORY": str(github["repository"]),
            "GITHUB_WORKFLOW": str(github.get("workflow", "")),
            "RUNNER_OS": "Linux", "HOME": os.environ.get("HOME", "/tmp")}
