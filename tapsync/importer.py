"""``tapsync import``: live state → manifest files that plan no changes.

Adopting tapsync on an existing project starts here. The importer is pure (a live
:class:`State` in, ``{relative path: YAML text}`` out) so the CLI owns reading and
writing, and tests can round-trip without files. Rules:

* Only what the API holds, and only what is *set*: a field at the service's default
  (``description: ""``, ``type: any``, ``is_active: true``…) is left out, so it stays
  unowned — as if the manifest had been written by hand (CONTRACT.md §3, ownership).
* Built-in and deleted objects are never written.
* Stable output: objects sorted by name, fields in a fixed order, lists of scalars in
  flow style; every file opens with a comment naming where and when it came from. With
  ``split="category"`` every category has a file of its own (:func:`_stems`).
* Whatever would not validate (a ``regex`` on a non-string property, an enum value with a
  comma) is left out and named in the file's header, so the output always passes
  :func:`tapsync.manifest.check`.

Amplitude's kinds: ``category``, ``event_type`` (with the event's own properties nested),
``event_property`` (the shared ones), ``user_property``.

Taplytics: ``experiment`` by default; ``push_campaign`` and ``user`` only when ``--kinds``
names them (:data:`OPT_IN` says why). A sent push is history, and is written so
(``sent: true``, :data:`_MARKS`): where it is live it plans no change; anywhere it is not
(another environment, a fresh project) it is a plan error, never a send, so the imported
``schedule: now`` / ``send_to_all_users: true`` cannot go out to everyone again. Users are
identified by ``user_id``, else ``email``; ``custom_data`` is written as it is live. Every
attribute the provider reads is carried, known ones in a fixed order and new ones after
them sorted (an attribute added to a provider is imported without touching this module);
what the kind's JSON Schema refuses is left out and named, and an object that cannot be
written without changing its meaning (a filter the schema does not know) is skipped and
named.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from tapsync.manifest.build import KINDS as SECTIONS
from tapsync.manifest.lint import name_problem
from tapsync.manifest.validate import kind_validator
from tapsync.model import Resource, State

SPLITS = ("kind", "category")
#: kinds imported only when ``--kinds`` names them: kind → why (shown by ``--help``)
OPT_IN: Mapping[str, Mapping[str, str]] = {
    "taplytics": {
        "push_campaign": "sent pushes are history, and a project may hold thousands",
        "user": "a project may hold millions of users; manifests are for a few QA and "
                "demo accounts",
    },
}
#: the most users ``tapsync import`` writes unless told otherwise (``--max-users``)
MAX_USERS = 10_000
_MESSAGE = 200  # longest schema message quoted in a header comment

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
#: a field with no default: written unless empty (``""``, ``[]``, ``{}``)
_NONE: Any = object()
#: a field the manifest requires: written even when empty (``notification: {}``)
_ALWAYS: Any = object()


@dataclass(frozen=True)
class _Shape:
    """How one kind is written: ``defaults`` (field → the service's value when unset,
    in writing order) and whether attributes it does not list are carried too (``open``;
    checked against the kind's schema then). Amplitude's provider reads only the fields
    listed here and :func:`_invalid` holds their rules, so it skips the schema check,
    which would cost seconds at 100,000 objects. ``vital`` fields cannot be left out
    without changing what the object means (a push without its filters would read as
    one to everyone): when the schema refuses one, the object is skipped instead."""

    defaults: Mapping[str, Any]
    open: bool = True
    vital: frozenset[str] = frozenset()


_SHAPES: Mapping[tuple[str, str], _Shape] = {
    ("amplitude", "category"): _Shape({}, open=False),
    ("amplitude", "event_type"): _Shape(_EVENT_DEFAULTS, open=False),
    ("amplitude", "event_property"): _Shape(_PROPERTY_DEFAULTS, open=False),
    ("amplitude", "user_property"): _Shape(_PROPERTY_DEFAULTS, open=False),
    ("taplytics", "experiment"): _Shape({"status": _NONE, "description": ""}),
    # schedule has no default on purpose: the linter wants every push to say when
    ("taplytics", "push_campaign"): _Shape({
        "notification": _ALWAYS, "filters": [], "send_to_all_users": False,
        "schedule": _NONE, "image": _NONE, "custom_keys": {}, "badge_count": _NONE,
        "filter_duplicate_content": True, "production": False, "is_silent": False},
        vital=frozenset({"notification", "filters", "schedule"})),
    ("taplytics", "user"): _Shape({
        "user_id": "", "email": "", "first_name": "", "last_name": "", "gender": "",
        "custom_data": {}}),
}
_GENERIC = _Shape({})
#: control keys written on every imported object of a kind, right after its identity:
#: what is imported was sent already, so it must never be sent again from the manifest
_MARKS: Mapping[tuple[str, str], Mapping[str, Any]] = {
    ("taplytics", "push_campaign"): {"sent": True},
}
#: extra header lines for a file holding a kind
_HEADERS: Mapping[tuple[str, str], str] = {
    ("taplytics", "push_campaign"): "# These pushes were sent (or scheduled) already, so "
                                    "each says sent: true: it plans no change where it is "
                                    "live and is an error, never a send, where it is not; a "
                                    "sent push cannot be edited, so a new push needs a new "
                                    "name.",
    ("taplytics", "user"): "# custom_data is owned whole: a key removed here is removed "
                           "live by the next apply.",
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


def default_kinds(provider: str) -> tuple[str, ...]:
    """The kinds imported when ``--kinds`` is not given (all but :data:`OPT_IN`)."""
    opt_in = OPT_IN.get(provider, {})
    return tuple(k for k in kinds_of(provider) if k not in opt_in)


def import_files(live: State, *, provider: str, origin: str, when: str,
                 kinds: Collection[str] | None = None, split: str = "kind") -> dict[str, str]:
    """Manifest files for ``provider``'s live objects, keyed by path relative to the
    output folder (``amplitude/event_types.yaml``…). ``origin`` names the service (its
    base URL), ``when`` the date written in each header."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    wanted = set(kinds) if kinds else set(default_kinds(provider))
    notes = _Notes(SECTIONS[provider])
    sections = _entries(live, provider, wanted, notes)
    files: dict[str, dict[str, list[Any]]] = {}
    lists = {kind: key for key, kind in SECTIONS[provider].items()}
    by_category = split == "category" and provider == "amplitude"
    stems = _stems({str(c["name"]) for c in sections.get("category", [])}
                   | {str(e["category"]) for e in sections.get("event_type", [])
                      if e.get("category")}) if by_category else {}
    for kind, entries in sections.items():
        if not entries or (by_category and kind == "category"):
            continue  # with --split category, each category travels with its events
        if by_category and kind == "event_type":
            _by_category(entries, "category" in wanted, stems, files)
            continue
        files.setdefault(f"{provider}/{lists[kind]}.yaml", {})[lists[kind]] = entries
    if by_category:
        for cat in sections.get("category", []):
            path = f"{provider}/categories/{stems[cat['name']]}.yaml"
            files.setdefault(path, {"categories": [cat]})
    elif "event_type" in wanted and "category" not in wanted:
        _externals(files, provider)
    return {path: _text(provider, body, origin, when, notes.of(body))
            for path, body in sorted(files.items())}


class _Notes:
    """What was left out: attached to the top-level entry it concerns, or (a skipped
    object) to the files holding its kind."""

    def __init__(self, lists: Mapping[str, str]) -> None:
        self.lists = lists  # list key → kind
        self.skipped: dict[str, list[str]] = {}
        self.by_entry: dict[int, list[str]] = {}

    def add(self, entry: Mapping[str, Any], note: str) -> None:
        self.by_entry.setdefault(id(entry), []).append(note)

    def skip(self, kind: str, note: str) -> None:
        self.skipped.setdefault(kind, []).append(note)

    def of(self, body: Mapping[str, list[Any]]) -> list[str]:
        out = [n for key in body for n in self.skipped.get(self.lists.get(key, ""), [])]
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
        home = "event_type" if nested else r.key.kind
        bad = name_problem(r.key.leaf)
        if bad is not None:
            notes.skip(home, f"{r.key.address} skipped: {bad}")
            continue
        entry, left_out = _entry(r)
        if entry is None:
            notes.skip(home, left_out[0])
            continue
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


def _entry(r: Resource) -> tuple[dict[str, Any] | None, list[str]]:
    """One object as a manifest mapping (its identity and :data:`_MARKS` first, then
    fields in a fixed order), and what had to be left out of it; ``None`` (and why) when
    it cannot be written at all."""
    shape = _SHAPES.get((r.key.provider, r.key.kind), _GENERIC)
    ident = _identity(r)
    marks = _MARKS.get((r.key.provider, r.key.kind), {})
    entry: dict[str, Any] = {ident: r.key.leaf, **marks}
    order = list(shape.defaults)
    if shape.open:
        order += sorted(set(r.attrs) - set(shape.defaults))
    for f in order:
        if f in r.attrs and f != ident and _written(r.attrs[f], shape.defaults.get(f, _NONE)):
            entry[f] = _styled(r.attrs[f])
    left_out: list[str] = []
    for reason in _invalid(entry):
        entry.pop(reason.split(" ", 1)[0], None)
        left_out.append(f"{r.key.address}: {reason}")
    if shape.open:
        fitted = _fit(r, entry, shape.vital | {ident, *marks})
        if fitted is None:
            return None, [f"{r.key.address} skipped: " + "; ".join(
                _schema_errors(r, entry) or ["it does not fit the manifest format"])]
        left_out += fitted
    return entry, left_out


def _identity(r: Resource) -> str:
    """The field a manifest identifies the object by: a user's ``user_id`` or ``email``
    (whichever the provider found it by), everything else's ``name``."""
    if r.key.kind == "user":
        return "email" if r.meta.get("identity") == "email" else "user_id"
    return "name"


def _written(value: Any, default: Any) -> bool:
    """Whether a live value belongs in the manifest: set, and not the service's default."""
    if value is None:
        return False
    if default is _ALWAYS:
        return True
    if default is _NONE:
        return not (isinstance(value, (str, list, dict)) and not value)
    return bool(value != default)


def _styled(value: Any) -> Any:
    """A copy of a live value, its lists of scalars marked to be written on one line."""
    if isinstance(value, dict):
        return {k: _styled(v) for k, v in value.items()}
    if isinstance(value, list):
        return _Flow(value) if _scalars(value) else [_styled(v) for v in value]
    return value


def _schema_errors(r: Resource, entry: Mapping[str, Any]) -> list[str]:
    return [_where(list(e.absolute_path), e.message)
            for e in kind_validator(r.key.provider, r.key.kind).iter_errors(entry)]


def _fit(r: Resource, entry: dict[str, Any], keep: frozenset[str]) -> list[str] | None:
    """Leave out of ``entry`` what its kind's schema refuses (an attribute a provider
    reads before the manifest format has it, a dashboard-only notification option): the
    mapping key at fault, or the whole field when the fault is inside a list (one item
    left out would change what the list means). Returns the notes; ``None`` when the
    object cannot be written: the fault is the object itself (a required field missing)
    or a whole field in ``keep`` (its identity, its vital fields)."""
    validator = kind_validator(r.key.provider, r.key.kind)
    notes: list[str] = []
    for _ in range(100):
        error = next(iter(validator.iter_errors(entry)), None)
        if error is None:
            return notes
        path = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
            path += sorted((k for k in error.instance if k not in known), key=str)[:1]
        cut = path[:1] if any(isinstance(p, int) for p in path) else path
        if not cut or (len(cut) == 1 and cut[0] in keep):
            return None
        container: Any = entry
        for part in cut[:-1]:
            container = container[part]
        del container[cut[-1]]
        whole = "" if cut == path else f" (for {'.'.join(map(str, path))})"
        notes.append(f"{r.key.address}: " + _where(cut, f"left out{whole}: {error.message}"))
    return None


def _where(path: list[Any], message: str) -> str:
    text = " ".join(message.split())
    text = text if len(text) <= _MESSAGE else text[:_MESSAGE - 1] + "…"
    return f"{'.'.join(map(str, path))}: {text}" if path else text


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
                 stems: Mapping[str, str], files: dict[str, dict[str, list[Any]]]) -> None:
    for e in events:
        cat = e.get("category")
        if not cat:
            files.setdefault("amplitude/uncategorized.yaml", {}).setdefault(
                "event_types", []).append(e)
            continue
        body = files.setdefault(f"amplitude/categories/{stems[cat]}.yaml", {})
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


def _stems(names: Collection[str]) -> dict[str, str]:
    """A file name (without ``.yaml``) per category, each one different: one file per
    category, or a category sharing another's file would go undeclared. Names are given
    their :func:`_slug` in name order; a name whose slug is taken already ("Sign-Up"
    after "Sign Up") gets ``-2``, ``-3``… (the first number free), so the same live
    categories always give the same files."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted(names):
        stem, n = _slug(name), 1
        while (stem if n == 1 else f"{stem}-{n}") in taken:
            n += 1
        out[name] = stem if n == 1 else f"{stem}-{n}"
        taken.add(out[name])
    return out


def _slug(name: str) -> str:
    """A category's name as a portable file name: lower-case ASCII letters and digits
    joined by ``-``, at most 60 characters. A name with none of those (Japanese, emoji)
    becomes ``category-`` and a short hash of the name, so that two such names do not
    both come out as ``category``."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower())[:60].strip("-")
    if slug:
        return slug
    return "category-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]


def _text(provider: str, body: Mapping[str, list[Any]], origin: str, when: str,
          notes: list[str]) -> str:
    order = [k for k in ("categories", *SECTIONS[provider]) if k in body]
    section = {k: body[k] for k in dict.fromkeys(order)}
    head = [f"# Imported from {provider} ({origin}) on {when} by 'tapsync import'.",
            "# Only fields set live are written; the rest stay unowned (edit freely)."]
    head += [_HEADERS[provider, SECTIONS[provider][k]] for k in section
             if (provider, SECTIONS[provider][k]) in _HEADERS]
    head += ["# Left out: " + " ".join(n.split()) for n in notes]
    dumped = yaml.dump({provider: section}, Dumper=_Dumper, sort_keys=False,
                       allow_unicode=True, width=10_000, default_flow_style=False)
    return "\n".join(head) + "\n" + dumped
