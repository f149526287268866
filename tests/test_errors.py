"""The exception tree drawn in ``tapsync/errors.py``'s docstring is the real one.

Users and the CLI's exit-code mapping rely on that picture; a class added, removed (as
``NotBuiltYet`` was, once every command existed) or moved must redraw it.
"""

from __future__ import annotations

import inspect
import re

import tapsync.errors as errors


def drawn_tree() -> dict[str, str]:
    """class → parent, read from the docstring's box drawing (``── Name`` at its depth)."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = [(-1, "TapsyncError")]
    for line in (errors.__doc__ or "").splitlines():
        m = re.search(r"[├└]── (\w+)", line)
        if not m:
            continue
        depth = m.start()
        while stack[-1][0] >= depth:
            stack.pop()
        parents[m[1]] = stack[-1][1]
        stack.append((depth, m[1]))
    return parents


def real_tree() -> dict[str, str]:
    return {name: cls.__bases__[0].__name__
            for name, cls in inspect.getmembers(errors, inspect.isclass)
            if issubclass(cls, errors.TapsyncError) and cls is not errors.TapsyncError}


def test_the_docstring_draws_every_error_under_its_real_parent() -> None:
    assert drawn_tree() == real_tree()


def test_the_drawing_is_read_at_all() -> None:
    drawn = drawn_tree()
    assert drawn["ApiError"] == "ProviderError" and drawn["UsageError"] == "TapsyncError"
    assert "NotBuiltYet" not in drawn and not hasattr(errors, "NotBuiltYet")
