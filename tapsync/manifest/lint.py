"""Semantic rules the schema cannot express: names, references, renames, type-specific
fields, naming conventions. Provider-specific foot-guns live in :mod:`lint_providers`.

Every rule reads the :class:`~tapsync.manifest.build.Decl` list, so it sees the merged
workspace (a category declared in another file satisfies a reference) and locates its
finding at the offending value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tapsync.errors import Problem
from tapsync.manifest.build import Decl, renamed_from
from tapsync.manifest.where import problem

MAX_NAME = 255
CONVENTIONS: Mapping[str, re.Pattern[str] | None] = {
    "Title Case": re.compile(r"[A-Z0-9][^ ]*(?: [A-Z0-9][^ ]*)*\Z"),
    "snake_case": re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*\Z"),
    "camelCase": re.compile(r"[a-z][a-zA-Z0-9]*\Z"),
    "kebab-case": re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z"),
    "any": None,
}
_TYPES = frozenset({"string", "number", "boolean", "enum", "any"})
_FINE_NAME = re.compile(r"[\w .:/$@#&()\[\]'\"%+,-]*\Z")


@dataclass(frozen=True)
class LintOptions:
    """What the workspace configures for linting (``lint.naming`` in ``tapsync.yaml``),
    the clock (injectable so "in the past" is testable) and the file size limit."""

    naming: Mapping[str, str] = field(default_factory=dict)
    now: datetime | None = None
    max_file_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        for kind, convention in self.naming.items():
            if convention not in CONVENTIONS:
                raise ValueError(f"unknown naming convention {convention!r} for {kind}: "
                                 f"expected one of {', '.join(CONVENTIONS)}")


def lint(decls: list[Decl], options: LintOptions) -> list[Problem]:
    """Problems of the generic rules (names, renames, references, property fields)."""
    return [*lint_objects(decls, options), *lint_references(decls)]


def lint_objects(decls: list[Decl], options: LintOptions) -> list[Problem]:
    """Rules that look at one object at a time (so any part of the workspace alone)."""
    out: list[Problem] = []
    checks = {k: CONVENTIONS[v] for k, v in options.naming.items() if CONVENTIONS[v]}
    for d in decls:
        ident = d.identity_field
        if ident == "name":
            bad = name_problem(d.obj["name"])
            if bad:
                out.append(problem(d.doc, [*d.path, "name"], bad))
        if d.absent:
            extra = sorted(set(d.obj) - {ident, "absent"})
            if extra:
                out.append(problem(d.doc, [*d.path, extra[0]], "a tombstone (absent: true) "
                                   f"carries no other field than {ident}: remove "
                                   + ", ".join(extra), key=True))
            continue
        rule = checks.get(d.kind)
        if rule is not None and not d.obj.get("external") and not rule.match(d.name[-1]):
            out.append(problem(d.doc, [*d.path, "name"], f"{d.kind} name {d.name[-1]!r} is "
                               f"not {options.naming[d.kind]} (lint.naming)"))
        if d.provider == "amplitude":
            out.extend(_amplitude_fields(d))
    return out


def lint_references(decls: list[Decl]) -> list[Problem]:
    """Rules across the whole workspace: renames and category references."""
    return [*_renames(decls), *_categories(decls)]


def name_problem(name: Any) -> str | None:
    """Why a name cannot be used, or ``None``: any characters, but no surrounding blanks
    and no control characters (the schema limits the length to :data:`MAX_NAME`)."""
    if not isinstance(name, str):
        return None  # the schema reported it
    if name != name.strip():
        return "name has leading or trailing white space (the services would trim it)"
    if not _FINE_NAME.match(name) and any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")
                                          for c in name):
        return "name contains a control character"
    return None


def _amplitude_fields(d: Decl) -> list[Problem]:
    obj, out = d.obj, []
    if d.kind == "user_property" and isinstance(obj.get("name"), str) \
            and obj["name"].startswith("gp:"):
        out.append(problem(d.doc, [*d.path, "name"], "write user property names without the "
                           "'gp:' prefix (Amplitude adds it)", severity="warning"))
    if d.kind == "category" and obj.get("external") is True:
        extra = sorted(set(obj) - {"name", "external"})
        if extra:
            out.append(problem(d.doc, [*d.path, extra[0]], "an external category is managed "
                               "elsewhere: it takes no " + ", ".join(extra), key=True))
    if d.kind not in ("event_property", "user_property"):
        return out
    ptype = obj.get("type") or "any"
    if ptype not in _TYPES:
        return out  # the schema reported it
    regex = obj.get("regex")
    if regex not in (None, ""):
        if ptype != "string":
            out.append(problem(d.doc, [*d.path, "regex"], "regex applies only to type string "
                               f"(this property's type is {ptype})"))
        if isinstance(regex, str):
            try:
                re.compile(regex)
            except re.error as exc:
                out.append(problem(d.doc, [*d.path, "regex"], f"regex does not compile: {exc}"))
    values = obj.get("enum_values")
    if isinstance(values, list) and values:
        if ptype != "enum":
            out.append(problem(d.doc, [*d.path, "enum_values"], "enum_values applies only to "
                               f"type enum (this property's type is {ptype})"))
        for i, v in enumerate(values):
            if isinstance(v, str) and "," in v:
                out.append(problem(d.doc, [*d.path, "enum_values", i], f"enum value {v!r} "
                                   "contains a comma: the API sends the values comma-separated"))
            elif v == "" or (isinstance(v, str) and v != v.strip()):
                out.append(problem(d.doc, [*d.path, "enum_values", i], "enum value is empty or "
                                   "has surrounding white space (the API would trim it)"))
    return out


def _renames(decls: list[Decl]) -> list[Problem]:
    """``renamed_from`` must name an *earlier* name: not the object itself, not another
    declared object of the same kind and scope, not claimed by two objects."""
    declared = {(d.provider, d.kind, d.name) for d in decls}
    claimed: dict[tuple[str, str, tuple[str, ...]], Decl] = {}
    out: list[Problem] = []
    for d in decls:
        if "renamed_from" not in d.obj or d.absent:
            continue
        for i, old in enumerate(renamed_from(d.obj, d.kind)):
            old_name = (*d.name[:-1], old)
            where = [*d.path, "renamed_from"] + ([i] if isinstance(d.obj["renamed_from"], list)
                                                 else [])
            bad = name_problem(old)
            if bad:
                out.append(problem(d.doc, where, bad.replace("name", "renamed_from entry", 1)))
            elif old_name == d.name:
                out.append(problem(d.doc, where, f"renamed_from names the object itself ({old!r})"))
            elif (d.provider, d.kind, old_name) in declared:
                out.append(problem(d.doc, where, f"renamed_from {old!r} is itself declared as "
                                   f"a {d.kind}: a rename would clash with it"))
            elif (d.provider, d.kind, old_name) in claimed:
                first = claimed[(d.provider, d.kind, old_name)]
                out.append(problem(d.doc, where, f"renamed_from {old!r} is also claimed by "
                                   f"{first.name[-1]!r} (at {first.key_source})"))
            else:
                claimed[(d.provider, d.kind, old_name)] = d
    return out


def _categories(decls: list[Decl]) -> list[Problem]:
    """An event type's category must be declared (or declared ``external: true``)."""
    cats = {d.name[0]: d for d in decls if d.kind == "category" and d.provider == "amplitude"}
    out: list[Problem] = []
    for d in decls:
        if d.kind != "event_type" or d.absent:
            continue
        cat = d.obj.get("category")
        if not isinstance(cat, str) or not cat:
            continue
        target = cats.get(cat)
        if target is None:
            out.append(problem(d.doc, [*d.path, "category"], f"category {cat!r} is not declared "
                               "in amplitude.categories (declare it, or with external: true "
                               "if it is managed elsewhere)"))
        elif target.absent:
            out.append(problem(d.doc, [*d.path, "category"], f"category {cat!r} is being deleted "
                               f"(absent: true at {target.key_source})"))
    return out
