"""Field-level differences between a desired and a live object: the only user of deepdiff.

Only the fields in ``scope`` are compared (ownership, kopf's ``DiffScope``): a field the
manifest does not write is left as it is live. Both sides are already canonical
(:mod:`tapsync.normalize`), so ``==`` decides equality and equal fields never reach
deepdiff; deepdiff only walks nested values that *do* differ, to say where. A change
inside a list of scalars (enum values, tags, filter values) is reported as the whole list,
because index-by-index changes of a sorted list read as noise to a reviewer.

Ownership reaches into nested mappings: a key the manifest leaves out of a mapping
(``notification.time_to_live`` the service filled in, a ``custom_data`` key someone else
set, which Taplytics merges rather than replaces) is left as it is live. To clear one,
write its empty value. A kind can declare fields it owns *as a whole*
(``KindSpec.whole_fields``): those are compared entirely, so a key dropped from the
manifest is a difference to remove.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from deepdiff import DeepDiff

from tapsync.changes import FieldChange

_MISSING: Any = object()


def diff(desired: Mapping[str, Any], live: Mapping[str, Any],
         scope: Iterable[str], whole: Collection[str] = ()) -> tuple[FieldChange, ...]:
    """The differences of ``scope`` fields, live → desired, each path starting with its field.

    A field missing on one side reads as ``None`` on that side (so a missing field and an
    explicit ``None`` are equal).
    """
    out: list[FieldChange] = []
    seen: set[str] = set()
    for name in scope:
        if name in seen:
            continue
        seen.add(name)
        after, live_value = desired.get(name), live.get(name)
        if after == live_value:
            continue  # equal as a whole, hence also once cut down to what desired owns
        before = live_value if name in whole else _project(live_value, after)
        if after == before:
            continue
        if _nested(before) and _nested(after) and type(before) is type(after):
            out.extend(_deep(name, before, after))
        else:
            out.append(FieldChange((name,), before, after))
    return tuple(out)


def _project(live: Any, desired: Any) -> Any:
    """``live`` cut down to the shape ``desired`` writes: ownership reaches into mappings."""
    if isinstance(live, dict) and isinstance(desired, dict):
        return {k: _project(live[k], v) for k, v in desired.items() if k in live}
    if isinstance(live, list) and isinstance(desired, list) and len(live) == len(desired):
        return [_project(lv, dv) for lv, dv in zip(live, desired, strict=True)]
    return live


def _nested(value: Any) -> bool:
    return isinstance(value, (dict, list)) and not _scalar_list(value)


def _scalar_list(value: Any) -> bool:
    return isinstance(value, list) and not any(isinstance(v, (dict, list)) for v in value)


def _value(value: Any) -> Any:
    return None if value is _MISSING else value


def _deep(name: str, before: Any, after: Any) -> list[FieldChange]:
    tree = DeepDiff(before, after, view="tree", verbose_level=2)
    paths: list[tuple[str | int, ...]] = []
    for report in tree.values():
        for level in report:
            path = _collapse(tuple(level.path(output_format="list")), before, after)
            if path not in paths:
                paths.append(path)
    if not paths:  # == said different but deepdiff sees nothing (e.g. NaN): whole field
        return [FieldChange((name,), before, after)]
    # a path that lies inside another reported path is already covered by it
    paths = [p for p in paths if not any(len(q) < len(p) and p[: len(q)] == q for q in paths)]
    return [FieldChange((name, *p), _at(before, p), _at(after, p))
            for p in sorted(paths, key=_order)]


def _order(path: tuple[str | int, ...]) -> tuple[tuple[bool, Any], ...]:
    return tuple((isinstance(step, str), step) for step in path)


def _collapse(path: tuple[Any, ...], before: Any, after: Any) -> tuple[str | int, ...]:
    """Cut ``path`` at the first list of scalars it enters, so that list is reported whole."""
    b, a = before, after
    for i, step in enumerate(path):
        if (_scalar_list(b) or b is _MISSING) and (_scalar_list(a) or a is _MISSING) \
                and (isinstance(b, list) or isinstance(a, list)):
            return tuple(path[:i])
        b, a = _step(b, step), _step(a, step)
    return tuple(path)


def _step(value: Any, step: Any) -> Any:
    try:
        return value[step]
    except (KeyError, IndexError, TypeError):
        return _MISSING


def _at(value: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        value = _step(value, step)
    return _value(value)
