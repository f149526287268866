"""Check loaded documents against the JSON Schemas, reporting *every* error with its line.

The schemas in ``tapsync/schemas/`` are the one description of the format (editors use
them too). Valid data — the overwhelming case — is confirmed by the compiled
:mod:`fastcheck` predicates; only a failing subtree is handed to jsonschema's
``iter_errors``, drilling down object by object, so an error in one of 100,000 properties
costs one small jsonschema run, not a run over the whole file.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from tapsync.errors import Problem
from tapsync.manifest.data import Document, Loaded
from tapsync.manifest.fastcheck import Check, Compiler, Resolver
from tapsync.manifest.where import PathPart, problem, walk_containers

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
BASE = "https://tapsync.dev/schemas/"
ROOT_ID = BASE + "manifest.schema.json"
SECTIONS = ("amplitude", "taplytics", "apptimize", "pypestream")
_MAX_MESSAGE = 240
# Keywords a subschema may hold and still be checked one level at a time.
_SHALLOW_OK = {"type", "properties", "additionalProperties", "required", "items", "minItems",
               "minProperties", "$schema", "$id", "$comment", "$defs", "title", "description",
               "examples", "default"}


@dataclass
class _Node:
    """One subschema, compiled: a fast yes/no, and how to explain a no."""

    fast: Check
    full: Any  # a jsonschema validator for the whole subschema
    shallow: Any | None = None  # …for this level only, when it can be drilled into
    props: dict[str, tuple[Any, Resolver]] = field(default_factory=dict)
    items: tuple[Any, Resolver] | None = None
    ref: tuple[Any, Resolver] | None = None


class Schemas:
    """The registry of our schemas and the compiled checks, built once per process."""

    def __init__(self) -> None:
        resources = []
        for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
            contents = json.loads(path.read_text(encoding="utf-8"))
            resources.append((contents["$id"], Resource.from_contents(contents, DRAFT202012)))
        self.registry: Registry[Any] = Registry().with_resources(resources)
        self.root: Mapping[str, Any] = self.registry[ROOT_ID].contents
        self.root_resolver = self.registry.resolver(base_uri=ROOT_ID)
        self.compiler = Compiler(self.registry, self._fallback)
        self._nodes: dict[int, _Node] = {}

    def _validator(self, schema: Any, resolver: Resolver) -> Any:
        # ``_resolver`` is how jsonschema itself descends into a subschema of another file.
        return Draft202012Validator(schema, registry=self.registry,  # type: ignore[call-arg]
                                    _resolver=resolver)

    def _fallback(self, schema: Mapping[str, Any], resolver: Resolver) -> Check:
        return self._validator(schema, resolver).is_valid  # type: ignore[no-any-return]

    def node(self, schema: Any, resolver: Resolver) -> _Node:
        done = self._nodes.get(id(schema))
        if done is not None:
            return done
        node = _Node(self.compiler.compile(schema, resolver), self._validator(schema, resolver))
        self._nodes[id(schema)] = node
        if isinstance(schema, Mapping):
            if set(schema) - {"$ref", "description", "examples", "title"} == set() and \
                    "$ref" in schema:
                resolved = resolver.lookup(schema["$ref"])
                node.ref = (resolved.contents, resolved.resolver)
            elif set(schema) <= _SHALLOW_OK:
                shallow = dict(schema)
                if "properties" in schema:
                    shallow["properties"] = dict.fromkeys(schema["properties"], True)
                    node.props = {k: (v, resolver) for k, v in schema["properties"].items()}
                if "items" in schema:
                    shallow["items"] = True
                    node.items = (schema["items"], resolver)
                node.shallow = self._validator(shallow, resolver)
        return node

    def errors(self, instance: Any, schema: Any, resolver: Resolver,
               path: list[PathPart]) -> Iterator[tuple[list[PathPart], ValidationError]]:
        """jsonschema errors under ``instance``, each with its path from the document."""
        node = self.node(schema, resolver)
        if node.fast(instance):
            return
        if node.ref is not None:
            yield from self.errors(instance, *node.ref, path)
            return
        if node.shallow is None:
            for err in node.full.iter_errors(instance):
                yield [*path, *err.absolute_path], err
            return
        for err in node.shallow.iter_errors(instance):
            yield [*path, *err.absolute_path], err
        if isinstance(instance, dict):
            for key, (sub, res) in node.props.items():
                if key in instance:
                    yield from self.errors(instance[key], sub, res, [*path, key])
        elif isinstance(instance, list) and node.items is not None:
            sub, res = node.items
            for i, item in enumerate(instance):
                yield from self.errors(item, sub, res, [*path, i])


@functools.cache
def schemas() -> Schemas:
    return Schemas()


def validate(loaded: Loaded) -> list[Problem]:
    """Schema problems of every document, plus literal secrets (values never echoed)."""
    s = schemas()
    out: list[Problem] = []
    for doc in loaded.documents:
        if doc.root is None:
            continue  # an empty file or document declares nothing
        if not isinstance(doc.root, dict):
            out.append(problem(doc, [], "a manifest must be a mapping of sections ("
                               + ", ".join(SECTIONS) + ")"))
            continue
        for path, err in s.errors(doc.root, s.root, s.root_resolver, []):
            out.extend(_explain(doc, path, err))
    out.extend(_secrets(loaded))
    return out


def _explain(doc: Document, path: list[PathPart], err: ValidationError) -> list[Problem]:
    kw = err.validator
    value: Any = err.validator_value
    if kw == "additionalProperties" and isinstance(err.instance, dict):
        known = list(err.schema.get("properties", {})) if isinstance(err.schema, dict) else []
        out = []
        for k in err.instance:
            if k not in known:
                near = difflib.get_close_matches(str(k), known, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else (
                    f" (expected one of: {', '.join(known)})" if known else "")
                out.append(problem(doc, [*path, k], f"unknown key {k!r}{hint}", key=True))
        return out
    if kw == "required":
        missing = [k for k in value if not isinstance(err.instance, dict) or k not in err.instance]
        return [problem(doc, path, f"missing required key {k!r}") for k in missing[:1]] or [
            problem(doc, path, _short(err.message))]
    if kw == "anyOf" and all(set(b) == {"required"} for b in value):
        names = " or ".join(repr(b["required"][0]) for b in value)
        return [problem(doc, path, f"needs {names}")]
    if kw in ("anyOf", "oneOf"):
        deeper = [e for e in err.context if e.validator not in ("type", "const")]
        if deeper:  # the instance has the right shape for a branch: say what is wrong in it
            best = best_match(deeper)
            return _explain(doc, [*path, *best.relative_path], best)
        reasons = "; ".join(sorted({_short(e.message, 80) for e in err.context}))
        return [problem(doc, path, f"matches none of the allowed forms ({reasons})")]
    if kw == "maxLength" and isinstance(err.instance, str):
        return [problem(doc, path, f"is {len(err.instance)} characters long; at most {value}")]
    if kw == "pattern" and isinstance(err.schema, dict) and "description" in err.schema:
        return [problem(doc, path, f"{_short(repr(err.instance), 60)} is not of the form "
                                   f"{err.schema['description']}")]
    message = _short(err.message)
    if kw == "type" and isinstance(err.instance, bool) and "string" in str(value):
        message += " (YAML reads unquoted yes/no/on/off/true/false as booleans: quote it)"
    return [problem(doc, path, message)]


def _short(message: str, limit: int = _MAX_MESSAGE) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _secrets(loaded: Loaded) -> list[Problem]:
    """A secret-looking key holding a literal string: an error that names the key only."""
    if not loaded.secrets:
        return []
    wanted = {id(s.container) for s in loaded.secrets}
    paths: dict[int, tuple[Document, list[PathPart]]] = {}
    for doc in loaded.documents:
        for container, here in walk_containers(doc.root):
            if id(container) in wanted and id(container) not in paths:
                paths[id(container)] = (doc, here)
    out = []
    for secret in loaded.secrets:
        found = paths.get(id(secret.container))
        if found is None:
            continue
        doc, here = found
        out.append(problem(doc, [*here, secret.key],
                           f"literal secret in {secret.key!r}: secrets never live in manifests; "
                           "credentials come from the environment (value not shown)"))
    return out


def redact(problems: list[Problem], loaded: Loaded) -> list[Problem]:
    """Replace any secret value that a message quotes (e.g. a type error) with ``***``."""
    values = sorted({s.value for s in loaded.secrets}, key=len, reverse=True)
    if not values:
        return problems
    out = []
    for p in problems:
        msg = p.message
        for v in values:  # quoted anywhere; bare too unless so short it would garble text
            msg = msg.replace(repr(v), "'***'")
            if len(v) >= 4:
                msg = msg.replace(v, "***")
        out.append(p if msg == p.message else Problem(p.file, p.line, p.column, p.json_path,
                                                      msg, p.severity))
    return out


@functools.cache
def kind_validator(provider: str, kind: str) -> Draft202012Validator:
    """A validator for one object of ``provider``'s ``kind``, as the manifest schema
    defines it (``$defs/<kind>``), made once: overrides and imports check many objects."""
    return Draft202012Validator({"$ref": f"{BASE}{provider}.schema.json#/$defs/{kind}"},
                                registry=schemas().registry)


def check_fields(provider: str, kind: str, fields: Mapping[str, Any]) -> list[str]:
    """Problems with ``fields`` as the fields of one ``provider`` ``kind`` object.

    For values that do not come from a manifest file (an environment's per-field
    overrides): they obey the same schema as if they had been written in the manifest.
    """
    validator = kind_validator(provider, kind)
    try:
        errors = list(validator.iter_errors({"name": "x", **fields}))
    except Unresolvable:
        return [f"{provider} has no kind {kind!r} in the manifest format"]
    return [_short(f"{'.'.join(map(str, e.absolute_path)) or 'fields'}: {e.message}")
            for e in errors]
