"""``tapsync import``: live state → manifest files that plan no changes.

Adopting tapsync on an existing project starts here. The importer is pure (a live
:class:`State` in, ``{relative path: YAML text}`` out) so the CLI owns reading and
writing, and tests can round-trip without files. Rules:

* Only what the API holds, and only what is *set*: a field at the service's default
  (``description: ""``, ``type: any``, ``is_active: true``…) is left out, so it stays
  unowned — as if the manifest had been written by hand (CONTRACT.md §3, ownership).
* Built-in and deleted objects are never written.
* Stable output: objects sorted by name, fields in a fixed order, lists of scalars in
  flow style; every file opens with a comment naming where and when it came from.
* Whatever would not validate (a ``regex`` on a non-string property, an enum value with a
  comma) is left out and named in the file's header, so the output always passes
  :func:`tapsync.manifest.check`.

Amplitude's kinds: ``category``, ``event_type`` (with the event's own properties nested),
``event_property`` (the shared ones), ``user_property``. Other providers fall back to
writing every non-empty live attribute (Taplytics: experiments; users and sent pushes are
never listed by its provider, so they are not imported).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

import yaml

from tapsync.manifest.build import KINDS as SECTIONS
from tapsync.manifest.lint import name_problem
from tapsync.model import Resource, State

SPLITS = ("kind", "category")

#: field → default the service reports when unset (left out of imported manifests)
_EVENT_DEFAULTS: Mapping[str, Any] = {
    "category": None, "description": "", "display_name": "", "owner": "", "tags": [],
    "is_active": True, "is_hidden_from_dropdowns": False,
    "is_hidden_from_persona_results": False, "is_hidden_from_pathfinder": False,
    "is_hidden_from_timeline": False,
}
_PROPERTY_DEFAULTS: Mapping[str, Any] = {
    "type": "any", "description": "", "enum_values": [], "regex": "",
    "is_array_type": False, "is_required": False, "is_hidden": False, "classifications": [],
}
_DEFAULTS: Mapping[tuple[str, str], Mapping[str, Any]] = {
    ("amplitude", "category"): {},
    ("amplitude", "event_type"): _EVENT_DEFAULTS,
    ("amplitude", "event_property"): _PROPERTY_DEFAULTS,
    ("amplitude", "user_property"): _PROPERTY_DEFAULTS,
}


class _Flow(list[Any]):
    """A list of scalars, written ``[a, b]`` on one line."""


class _Dumper(yaml.SafeDumper):
    """Block lists indented under their key, as people write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_Dumper.add_representer(_Flow, lambda d, v: d.represent_sequence(
    "tag:yaml.org,2002:seq", v, flow_style=True))


def kinds_of(provider: str) -> tuple[str, ...]:
    """The kinds ``--kinds`` accepts for ``provider``."""
    return tuple(SECTIONS.get(provider, {}).values())


def import_files(live: State, *, provider: str, origin: str, when: str,
                 kinds: Collection[str] | None = None, split: str = "kind") -> dict[str, str]:
    """Manifest files for ``provider``'s live objects, keyed by path relative to the
    output folder (``amplitude/event_types.yaml``…). ``origin`` names the service (its
    base URL), ``when`` the date written in each header."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    wanted = set(kinds) if kinds else set(kinds_of(provider))
    notes = _Notes()
    sections = _entries(live, provider, wanted, notes)
    files: dict[str, dict[str, list[Any]]] = {}
    lists = {kind: key for key, kind in SECTIONS[provider].items()}
    by_category = split == "category" and provider == "amplitude"
    for kind, entries in sections.items():
        if not entries or (by_category and kind == "category"):
            continue  # with --split category, each category travels with its events
        if by_category and kind == "event_type":
            _by_category(entries, "category" in wanted, files)
            continue
        files.setdefault(f"{provider}/{lists[kind]}.yaml", {})[lists[kind]] = entries
    if by_category:
        for cat in sections.get("category", []):
            path = f"{provider}/categories/{_slug(cat['name'])}.yaml"
            files.setdefault(path, {"categories": [cat]})
    elif "event_type" in wanted and "category" not in wanted:
        _externals(files, provider)
    return {path: _text(provider, body, origin, when, notes.of(body))
            for path, body in sorted(files.items())}


class _Notes:
    """What was left out, attached to the top-level entry it concerns."""

    def __init__(self) -> None:
        self.general: list[str] = []
        self.by_entry: dict[int, list[str]] = {}

    def add(self, entry: Mapping[str, Any], note: str) -> None:
        self.by_entry.setdefault(id(entry), []).append(note)

    def of(self, body: Mapping[str, list[Any]]) -> list[str]:
        out = list(self.general)
        for entries in body.values():
            for e in entries:
                out += self.by_entry.get(id(e), [])
        return out


def _entries(live: State, provider: str, wanted: set[str],
             notes: _Notes) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds_of(provider)}
    children: dict[str, list[tuple[dict[str, Any], list[str]]]] = {}
    for r in live:
        if r.key.provider != provider or r.meta.get("deleted") or r.meta.get("builtin"):
            continue
        nested = r.key.kind == "event_property" and len(r.key.name) > 1
        if (r.key.kind not in wanted and not nested) or (nested and "event_type" not in wanted):
            continue
        bad = name_problem(r.key.leaf)
        if bad is not None:
            notes.general.append(f"{r.key.address} skipped: {bad}")
            continue
        entry, left_out = _entry(r)
        if nested:
            children.setdefault(r.key.name[0], []).append((entry, left_out))
            continue
        out.setdefault(r.key.kind, []).append(entry)
        for n in left_out:
            notes.add(entry, n)
    for event in out.get("event_type", []):
        kids = children.get(event["name"], [])
        if kids:
            event["properties"] = [e for e, _ in kids]
        for _, left_out in kids:
            for n in left_out:
                notes.add(event, n)
    return out


def _entry(r: Resource) -> tuple[dict[str, Any], list[str]]:
    """One object as a manifest mapping (``name`` first, then fields in a fixed order),
    and what had to be left out of it."""
    defaults = _DEFAULTS.get((r.key.provider, r.key.kind))
    ident = "user_id" if r.key.kind == "user" else "name"
    entry: dict[str, Any] = {ident: r.key.leaf}
    order = list(defaults) if defaults is not None else sorted(r.attrs)
    for f in order:
        if f not in r.attrs:
            continue
        value = r.attrs[f]
        if value is None or (value == defaults.get(f) if defaults is not None
                             else value in ("", [], {})):
            continue  # the service's default, or (unknown defaults) an empty value
        entry[f] = _Flow(value) if isinstance(value, list) and _scalars(value) else value
    left_out: list[str] = []
    for reason in _invalid(entry):
        entry.pop(reason.split(" ", 1)[0], None)
        left_out.append(f"{r.key.address}: {reason}")
    return entry, left_out


def _invalid(entry: Mapping[str, Any]) -> list[str]:
    """Field combinations a manifest may not hold (the linter's rules for properties)."""
    out: list[str] = []
    ptype = entry.get("type", "any")
    if entry.get("regex") and ptype != "string":
        out.append(f"regex {entry['regex']!r} left out: it applies only to type string")
    values = entry.get("enum_values") or []
    if values and ptype != "enum":
        out.append("enum_values left out: they apply only to type enum")
    elif any("," in v or v != v.strip() or not v for v in map(str, values)):
        out.append("enum_values left out: a value holds a comma or surrounding blanks")
    return out


def _scalars(value: list[Any]) -> bool:
    return all(isinstance(v, (str, int, float, bool)) or v is None for v in value)


def _by_category(events: list[dict[str, Any]], with_categories: bool,
                 files: dict[str, dict[str, list[Any]]]) -> None:
    for e in events:
        cat = e.get("category")
        if not cat:
            files.setdefault("amplitude/uncategorized.yaml", {}).setdefault(
                "event_types", []).append(e)
            continue
        body = files.setdefault(f"amplitude/categories/{_slug(cat)}.yaml", {})
        if "categories" not in body:
            body["categories"] = [{"name": cat} if with_categories
                                  else {"name": cat, "external": True}]
        body.setdefault("event_types", []).append(e)


def _externals(files: dict[str, dict[str, list[Any]]], provider: str) -> None:
    """Event types imported without their categories: declare those ``external``."""
    body = files.get(f"{provider}/event_types.yaml")
    if not body:
        return
    names = sorted({e["category"] for e in body["event_types"] if e.get("category")})
    if names:
        body["categories"] = [{"name": n, "external": True} for n in names]


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "category"


def _text(provider: str, body: Mapping[str, list[Any]], origin: str, when: str,
          notes: list[str]) -> str:
    order = [k for k in ("categories", *SECTIONS[provider]) if k in body]
    section = {k: body[k] for k in dict.fromkeys(order)}
    head = [f"# Imported from {provider} ({origin}) on {when} by 'tapsync import'.",
            "# Only fields set live are written; the rest stay unowned (edit freely)."]
    head += [f"# Left out: {n}" for n in notes]
    dumped = yaml.dump({provider: section}, Dumper=_Dumper, sort_keys=False,
                       allow_unicode=True, width=10_000, default_flow_style=False)
    return "\n".join(head) + "\n" + dumped
