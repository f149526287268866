"""Manifests: YAML files → every problem with file:line → the desired :class:`State`.

``check`` never raises for a bad manifest: it returns everything it could build and every
problem it found (the CLI's ``validate`` prints them all). ``load`` is the strict form the
planner uses: it raises :class:`~tapsync.errors.ManifestError` unless there are no errors.

    load ─► validate (JSON Schemas) ─► declarations ─► lint ─► build
    (per part of the workspace, in file order; then the rules across parts)
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tapsync.errors import ManifestError, Problem
from tapsync.manifest.build import KINDS, Decl, assemble, declarations, resources
from tapsync.manifest.data import Loaded
from tapsync.manifest.lint import LintOptions, lint_objects, lint_references
from tapsync.manifest.lint_providers import lint_provider_references, lint_providers
from tapsync.manifest.parallel import load_parts, merge
from tapsync.manifest.validate import SCHEMA_DIR, check_fields, redact
from tapsync.model import Resource, State

#: the default options (a module-level singleton: LintOptions is frozen)
DEFAULT_OPTIONS = LintOptions()

__all__ = ["DEFAULT_OPTIONS", "KINDS", "SCHEMA_DIR", "Checked", "LintOptions", "check",
           "check_fields", "load"]


@dataclass
class Checked:
    """The outcome of :func:`check`: what could be built, and every problem found."""

    state: State
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem of severity ``error`` (warnings do not make a manifest invalid)."""
        return not any(p.severity == "error" for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def check(paths: Sequence[str | Path], options: LintOptions = DEFAULT_OPTIONS) -> Checked:
    """Load, validate, lint and build every manifest under ``paths``; never raises for a
    problem in the manifests themselves."""
    with _no_gc():
        return _check(paths, options)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Loading allocates millions of acyclic objects; the cyclic collector would re-scan
    them again and again (a third of the run time). Nothing built here forms a cycle."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check(paths: Sequence[str | Path], options: LintOptions) -> Checked:
    now = options.now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    loaded = Loaded()
    problems: list[Problem] = []
    decls: list[Decl] = []
    built: list[tuple[Decl, Resource]] = []
    # Parts arrive in file order; each is linted and built while workers read the next.
    for part, schema_problems in load_parts(paths, options.max_file_bytes):
        merge(loaded, part)
        part_decls = list(declarations(part.documents))
        problems += [*part.problems, *schema_problems, *lint_objects(part_decls, options),
                     *lint_providers(part_decls, now)]
        decls += part_decls
        built += resources(part_decls)
    problems += [*lint_references(decls), *lint_provider_references(decls)]
    state, duplicates = assemble(built)
    problems = redact([*problems, *duplicates], loaded)
    problems.sort(key=lambda p: (p.file, p.line, p.column))
    return Checked(state, problems, loaded.files)


def load(paths: Sequence[str | Path], options: LintOptions = DEFAULT_OPTIONS) -> State:
    """The desired state; raises :class:`ManifestError` carrying every error (warnings are
    not errors and do not stop a plan)."""
    checked = check(paths, options)
    if not checked.ok:
        raise ManifestError(checked.errors)
    return checked.state
