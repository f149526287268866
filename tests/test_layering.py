"""ARCHITECTURE.md's import rules, checked by parsing every module of the package.

The rules keep the pure core (model → planner → render) free of I/O, so it can be tested
with data alone, and keep third-party types at the edge. Two levels: coarse rules (no
httpx in the core, nothing imports the CLI…), and per-module allow-lists, the "may import"
column of ARCHITECTURE.md's module table (:data:`MAY_IMPORT`), each deviation named and
explained in :data:`EXCEPTIONS`.
"""

from __future__ import annotations

import ast
import re
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


def imports(path: Path, *, at_load: bool = False) -> set[str]:
    """What ``path`` imports; with ``at_load``, only its module-level imports (those that
    run when it is imported, not those inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" \
        else module_name(path)
    for node in tree.body if at_load else ast.walk(tree):
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


@pytest.mark.parametrize("name", sorted(n for n in MODULES if top(n) != "cli"))
def test_nothing_imports_the_cli(name: str) -> None:
    """Nothing outside the CLI package does; its own modules import one another."""
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


CLI_FILES = {module_name(p): p for p in sorted(PKG.rglob("*.py")) if top(module_name(p)) == "cli"}


@pytest.mark.parametrize("name", sorted(CLI_FILES))
def test_the_cli_imports_the_sandbox_only_when_asked(name: str) -> None:
    """The CLI wires the sandbox in inside the functions behind --sandbox and the
    ``sandbox`` commands, never at module load: importing the CLI does not import it."""
    eager = sorted(i for i in imports(CLI_FILES[name], at_load=True)
                   if i.startswith("tapsync.sandbox"))
    assert not eager, f"{name} imports {eager} at module load"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if top(n) == "sandbox"))
def test_the_sandbox_stands_alone(name: str) -> None:
    ours = {i for i in MODULES[name] if i.startswith("tapsync.") and top(i) != "sandbox"}
    assert not ours, f"{name} imports {sorted(ours)}"


def test_only_the_executor_applies_changes() -> None:
    callers = [p for p in PKG.rglob("*.py")
               if ".apply_change(" in p.read_text(encoding="utf-8")
               and module_name(p) != "tapsync.executor"]
    assert callers == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_only_diff_knows_deepdiff(name: str) -> None:
    uses = any(i == "deepdiff" or i.startswith("deepdiff.") for i in MODULES[name])
    assert name == "tapsync.diff" or not uses, f"{name} imports deepdiff"


# ------------------------------------------------------------------ per-module allow-lists

#: ARCHITECTURE.md's module table, "may import" column, by unit (a module, or a package
#: whose modules share a row: ``manifest``, ``render``, ``sandbox``). A unit may also use
#: whatever its allowed units may (a layer sees everything below it), never what is above
#: or beside it. Units below ``# not in the table`` are modules the table does not list
#: yet; their rows say what they are for.
MAY_IMPORT: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in {
    "config": {"errors"},
    "manifest": {"model", "errors"},
    "model": {"errors"},
    "changes": {"model"},
    "diff": {"model", "changes"},
    "planner": {"model", "changes", "diff", "policy"},
    "policy": {"model", "changes"},
    "executor": {"changes", "policy", "providers.base", "budget"},
    "budget": {"errors"},
    "http": {"errors"},
    "providers.base": {"model", "changes", "http"},
    "providers.amplitude": {"providers.base"},
    "providers.taplytics": {"providers.base"},
    "render": {"changes"},
    "drift": {"planner", "model"},
    "sandbox": set(),
    # not in the table
    "tapsync": set(),  # the package root: only __version__
    "errors": set(),  # the exception tree: the leaf everything may raise from
    "normalize": set(),  # value normalisation shared by manifests and providers: pure
    "audience": set(),  # Taplytics audience (push filter) rules: pure
    "ignore": {"model"},  # drift ignore patterns over addresses
    "planfile": {"changes", "model", "errors"},  # Plan <-> format_version 1 JSON
    "importer": {"manifest", "model"},  # live state -> manifest files
    "providers": {"providers.base"},  # the package: re-exports Provider
    "spendlog": {"budget"},  # one key's recent spend, carried between runs (.tapsync/spend/)
    # the CLI's orchestration (config, manifests, providers, plan, apply), kept out of
    # the CLI so it can be tested without click; it never imports cli or the sandbox
    "engine": {"config", "manifest", "normalize", "planner", "executor", "providers.amplitude",
               "providers.taplytics", "http", "budget", "spendlog"},
}.items()}

#: Known deviations from the table: (importer, imported) → why. Each must still be in use
#: (see ``test_every_exception_is_still_needed``), so a fixed one is removed from here.
EXCEPTIONS: dict[tuple[str, str], str] = {
    # manifest.build normalises values as it builds the desired state (the same functions
    # providers apply to live state), so equal objects compare equal and plan nothing.
    ("manifest", "normalize"): "build normalises desired values like live ones",
    # The table says render sees only `changes`; it also renders drift reports ("plan or
    # report"), prints plan JSON through planfile (one JSON shape for printed and saved
    # plans), and the text cost line uses policy's CostModel.
    ("render", "drift"): "drift reports are rendered too",
    ("render", "planfile"): "plan JSON comes from the saved-plan serialiser",
    ("render", "policy"): "the text renderer's cost line uses CostModel",
    # Providers normalise live values with the manifests' own normaliser.
    ("providers.amplitude", "normalize"): "live values normalised like desired ones",
    ("providers.taplytics", "normalize"): "live values normalised like desired ones",
    ("providers.taplytics", "audience"): "push filters checked by the shared audience rules",
    # The linter warns about push times with the rule the planner refuses them by (one
    # copy of the time-zone rule and the time formats, in the pure audience module).
    ("manifest", "audience"): "push schedule times linted by the shared audience rules",
}

#: the CLI package (``tapsync/cli/``: the group, and a module per command family) wires
#: everything together (and the sandbox in for --sandbox); its modules may import one
#: another and anything else of ours
EVERYTHING = "cli"


def unit(name: str) -> str:
    """The allow-list row of a module: ``tapsync.manifest.load`` → ``manifest``,
    ``tapsync.providers.base`` → ``providers.base``, ``tapsync`` → ``tapsync``."""
    parts = name.split(".")[1:]
    if not parts:
        return "tapsync"
    if parts[0] == "providers" and len(parts) > 1:
        return f"providers.{parts[1]}"
    return parts[0]


def resolve(imported: str) -> str | None:
    """The module of ours an import names (``tapsync.model.State`` → ``tapsync.model``)."""
    if imported != "tapsync" and not imported.startswith("tapsync."):
        return None
    parts = imported.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in MODULES:
            return ".".join(parts[:k])
    return None


def reachable(start: str) -> set[str]:
    """Every unit ``start`` may import: its row, and theirs, transitively."""
    seen: set[str] = set()
    todo = list(MAY_IMPORT.get(start, ()))
    while todo:
        u = todo.pop()
        if u not in seen:
            seen.add(u)
            todo.extend(MAY_IMPORT.get(u, ()))
    return seen


def violations(name: str, imported: set[str]) -> set[str]:
    """The units of ours that module ``name`` imports but may not."""
    me = unit(name)
    if me == EVERYTHING:
        return set()
    used = {unit(m) for m in map(resolve, imported) if m is not None} - {me}
    allowed = reachable(me) | {b for (a, b) in EXCEPTIONS if a == me}
    return used - allowed


def test_every_module_has_a_row() -> None:
    missing = sorted({unit(n) for n in MODULES} - set(MAY_IMPORT) - {EVERYTHING})
    assert not missing, f"add these to MAY_IMPORT (and ARCHITECTURE.md's table): {missing}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_import_only_what_their_row_allows(name: str) -> None:
    bad = violations(name, MODULES[name])
    allowed = sorted(reachable(unit(name)))
    assert not bad, f"{name} imports {sorted(bad)}; its row allows {allowed}"


def test_every_exception_is_still_needed() -> None:
    used = {(unit(n), unit(m)) for n, imps in MODULES.items()
            for m in map(resolve, imps) if m is not None}
    stale = sorted(set(EXCEPTIONS) - used)
    assert not stale, f"no longer imported, remove from EXCEPTIONS: {stale}"


def test_exceptions_are_real_exceptions() -> None:
    redundant = sorted((a, b) for a, b in EXCEPTIONS if b in reachable(a))
    assert not redundant, f"already allowed by the table: {redundant}"


@pytest.mark.parametrize(("name", "imported"), [
    ("tapsync.planner", "tapsync.http"),
    ("tapsync.planner", "tapsync.executor.Journal"),
    ("tapsync.render.text", "tapsync.providers.base"),
    ("tapsync.manifest.load", "tapsync.planner"),
    ("tapsync.model", "tapsync.changes"),
    ("tapsync.config", "tapsync.model"),
    ("tapsync.providers.amplitude", "tapsync.providers.taplytics"),
    ("tapsync.executor", "tapsync.planner"),
])
def test_the_checker_catches_a_forbidden_import(name: str, imported: str) -> None:
    assert violations(name, {imported}) == {unit(resolve(imported) or "")}


_DOC = Path(__file__).resolve().parents[2] / "shared" / "design" / "ARCHITECTURE.md"


def _doc_rows(text: str) -> dict[str, frozenset[str]]:
    """ARCHITECTURE.md's table: unit → its "may import" names (rows with backticked ones)."""
    rows: dict[str, frozenset[str]] = {}
    for line in text.splitlines():
        cells = line.split("|")
        if not line.startswith("| `") or len(cells) < 4:
            continue
        allowed = frozenset(re.findall(r"`([\w.]+)`", cells[-2]))
        folder = ""
        for raw in re.findall(r"`([^`]+)`", cells[1]):
            name = raw.removesuffix(".py").removesuffix("/")
            folder, _, leaf = name.rpartition("/") if "/" in name else (folder, "", name)
            rows[f"{folder}.{leaf}" if folder else leaf] = allowed
    return rows


@pytest.mark.skipif(not _DOC.is_file(), reason=f"no design documents at {_DOC}")
def test_the_allow_lists_match_architecture_md() -> None:
    rows = _doc_rows(_DOC.read_text(encoding="utf-8"))
    assert {"config", "providers.base", "providers.taplytics", "render"} <= set(rows)
    differ = {u: (sorted(doc), sorted(MAY_IMPORT[u])) for u, doc in rows.items()
              if doc and u in MAY_IMPORT and doc != MAY_IMPORT[u]}
    assert not differ, f"MAY_IMPORT differs from ARCHITECTURE.md (doc, test): {differ}"
