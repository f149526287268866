"""A yes/no JSON Schema checker, compiled once into closures, for the common case: valid.

jsonschema needs ~30 µs per small object; 100,000 properties would take seconds just to
learn there is nothing to say. This compiles the keywords our schemas use into plain Python
predicates (a few µs per object). It is only ever a *filter*: ``True`` must mean jsonschema
would say valid too, so every keyword it does not know — or knows only partly — is handed
to jsonschema for that subschema. Messages always come from jsonschema (see ``validate``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from referencing import Registry

Check = Callable[[Any], bool]
#: a ``referencing`` resolver (its class is not public)
Resolver = Any

_ANNOTATIONS = {"$schema", "$id", "$comment", "$defs", "title", "description", "examples",
                "default", "deprecated", "readOnly", "writeOnly", "format"}

_TYPES: dict[str, Check] = {
    "string": lambda x: x.__class__ is str or isinstance(x, str),
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "boolean": lambda x: x is True or x is False,
    "null": lambda x: x is None,
    "number": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
    "integer": lambda x: (isinstance(x, int) and not isinstance(x, bool))
    or (isinstance(x, float) and x.is_integer()),
}


class Compiler:
    """Compiles (sub)schemas to predicates; ``fallback(schema, resolver)`` builds the
    jsonschema-backed predicate for what this module does not handle."""

    def __init__(self, registry: Registry[Any],
                 fallback: Callable[[Mapping[str, Any], Resolver], Check]) -> None:
        self.registry = registry
        self.fallback = fallback
        self._done: dict[int, Check] = {}

    def compile(self, schema: Any, resolver: Resolver) -> Check:
        if schema is True:
            return lambda x: True
        if schema is False:
            return lambda x: False
        done = self._done.get(id(schema))
        if done is not None:
            return done
        slot: list[Check] = []
        self._done[id(schema)] = lambda x: slot[0](x)  # recursion through $ref
        check = self._compile(schema, resolver)
        slot.append(check)
        self._done[id(schema)] = check
        return check

    def _compile(self, schema: Mapping[str, Any], resolver: Resolver) -> Check:
        if "$id" in schema:
            resolver = resolver.in_subresource(self.registry[schema["$id"]])
        checks: list[Check] = []
        unknown = set(schema) - _ANNOTATIONS - {
            "type", "properties", "additionalProperties", "required", "items", "enum", "const",
            "minLength", "maxLength", "pattern", "minimum", "maximum", "minItems", "anyOf",
            "$ref", "minProperties"}
        if unknown or ("enum" in schema and not all(isinstance(v, str) for v in schema["enum"])):
            return self.fallback(schema, resolver)
        if "$ref" in schema:
            resolved = resolver.lookup(schema["$ref"])
            checks.append(self.compile(resolved.contents, resolved.resolver))
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            preds = [_TYPES[t] for t in types]
            checks.append(preds[0] if len(preds) == 1 else (lambda x: any(p(x) for p in preds)))
        if "enum" in schema:
            allowed = frozenset(schema["enum"])
            checks.append(lambda x: isinstance(x, str) and x in allowed)
        if "const" in schema:
            const = schema["const"]
            if isinstance(const, str):
                checks.append(lambda x: isinstance(x, str) and x == const)
            else:
                checks.append(self.fallback({"const": const}, resolver))
        checks.extend(self._strings(schema))
        checks.extend(self._numbers(schema))
        checks.extend(self._objects(schema, resolver))
        if "items" in schema:
            item = self.compile(schema["items"], resolver)
            checks.append(lambda x: not isinstance(x, list) or all(item(i) for i in x))
        if "minItems" in schema:
            n = schema["minItems"]
            checks.append(lambda x: not isinstance(x, list) or len(x) >= n)
        if "anyOf" in schema:
            subs = [self.compile(s, resolver) for s in schema["anyOf"]]
            checks.append(lambda x: any(s(x) for s in subs))
        if len(checks) == 1:
            return checks[0]
        return lambda x: all(c(x) for c in checks)

    def _strings(self, schema: Mapping[str, Any]) -> list[Check]:
        out: list[Check] = []
        lo, hi = schema.get("minLength"), schema.get("maxLength")
        if lo is not None or hi is not None:
            low, high = lo or 0, hi if hi is not None else float("inf")
            out.append(lambda x: not isinstance(x, str) or low <= len(x) <= high)
        if "pattern" in schema:
            search = re.compile(schema["pattern"]).search
            out.append(lambda x: not isinstance(x, str) or search(x) is not None)
        return out

    def _numbers(self, schema: Mapping[str, Any]) -> list[Check]:
        out: list[Check] = []
        num = _TYPES["number"]
        if "minimum" in schema:
            m = schema["minimum"]
            out.append(lambda x: not num(x) or x >= m)
        if "maximum" in schema:
            mx = schema["maximum"]
            out.append(lambda x: not num(x) or x <= mx)
        return out

    def _objects(self, schema: Mapping[str, Any], resolver: Resolver) -> list[Check]:
        out: list[Check] = []
        props = {k: self.compile(v, resolver) for k, v in schema.get("properties", {}).items()}
        known = frozenset(props)
        extra = schema.get("additionalProperties", True)
        required = tuple(schema.get("required", ()))
        min_props = schema.get("minProperties", 0)
        if props:
            items = tuple(props.items())

            def check_props(x: Any) -> bool:
                if not isinstance(x, dict):
                    return True
                return all(k not in x or c(x[k]) for k, c in items)
            out.append(check_props)
        if extra is False:
            out.append(lambda x: not isinstance(x, dict) or x.keys() <= known)
        elif extra is not True:
            other = self.compile(extra, resolver)
            out.append(lambda x: not isinstance(x, dict)
                       or all(other(v) for k, v in x.items() if k not in known))
        if required:
            out.append(lambda x: not isinstance(x, dict) or all(r in x for r in required))
        if min_props:
            out.append(lambda x: not isinstance(x, dict) or len(x) >= min_props)
        return out
