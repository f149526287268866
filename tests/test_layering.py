"""ARCHITECTURE.md's import rules, checked by parsing every module of the package.

The rules keep the pure core (model → planner → render) free of I/O, so it can be tested
with data alone, and keep third-party types at the edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "tapsync"

PURE = ("model", "changes", "diff", "planner", "policy", "render", "manifest", "planfile",
        "normalize", "config", "errors", "drift")
IO_MODULES = ("httpx", "tapsync.providers", "tapsync.sandbox", "tapsync.executor",
              "tapsync.http", "tapsync.engine", "tapsync.cli")


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" \
        else module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
    return found


MODULES = {module_name(p): imports(p) for p in sorted(PKG.rglob("*.py"))}


def top(name: str) -> str:
    """``tapsync.manifest.load`` → ``manifest``; ``tapsync.render`` → ``render``."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_package_is_found() -> None:
    assert "tapsync.model" in MODULES and "tapsync.cli" in MODULES


@pytest.mark.parametrize("name", sorted(MODULES))
def test_nothing_imports_the_cli(name: str) -> None:
    assert not any(i == "tapsync.cli" or i.startswith("tapsync.cli.") for i in MODULES[name])


@pytest.mark.parametrize("name", sorted(n for n in MODULES if top(n) in PURE))
def test_pure_modules_do_no_io(name: str) -> None:
    bad = {i for i in MODULES[name]
           if any(i == m or i.startswith(m + ".") for m in IO_MODULES)}
    assert not bad, f"{name} imports {sorted(bad)}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_only_http_and_providers_touch_httpx(name: str) -> None:
    allowed = top(name) in ("http", "providers", "sandbox")
    uses = any(i == "httpx" or i.startswith("httpx.") for i in MODULES[name])
    assert allowed or not uses, f"{name} imports httpx"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_the_core_never_imports_the_sandbox(name: str) -> None:
    if top(name) in ("sandbox", "cli"):
        return
    assert not any(i.startswith("tapsync.sandbox") for i in MODULES[name]), name


@pytest.mark.parametrize("name", sorted(n for n in MODULES if top(n) == "sandbox"))
def test_the_sandbox_stands_alone(name: str) -> None:
    ours = {i for i in MODULES[name] if i.startswith("tapsync.") and top(i) != "sandbox"}
    assert not ours, f"{name} imports {sorted(ours)}"


def test_model_imports_nothing_of_ours_but_errors() -> None:
    ours = {i for i in MODULES["tapsync.model"] if i.startswith("tapsync.")}
    assert ours <= {"tapsync.errors", "tapsync.errors.UsageError"}


def test_only_the_executor_applies_changes() -> None:
    callers = [p for p in PKG.rglob("*.py")
               if ".apply_change(" in p.read_text(encoding="utf-8")
               and module_name(p) != "tapsync.executor"]
    assert callers == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_only_diff_knows_deepdiff(name: str) -> None:
    uses = any(i == "deepdiff" or i.startswith("deepdiff.") for i in MODULES[name])
    assert name == "tapsync.diff" or not uses, f"{name} imports deepdiff"
