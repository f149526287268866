"""The corpus of malformed manifests: each is rejected, with exactly the problems expected.

``tests/cases/invalid/<case>.yaml`` is checked alone; its sibling ``<case>.expected`` lists
one ``line:column: $.json.path: text`` per problem, as ``tapsync validate`` prints it less
the leading ``file:`` (``text`` is a substring of the message, prefixed ``warning: `` for a
warning). Every listed problem must be found at that exact place, and nothing else may be
reported.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tapsync.manifest import LintOptions, check
from tapsync.render.problems import problem_line

CASES = Path(__file__).resolve().parents[1] / "cases" / "invalid"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
_LINE = re.compile(r"(\d+):(\d+): (\$\S*): (.*)\Z")


def _parse(raw: str) -> tuple[int, int, str, str]:
    m = _LINE.match(raw)
    assert m, f"not a line:column: $.path: text line: {raw!r}"
    return int(m[1]), int(m[2]), m[3], m[4]


def expected(case: Path) -> list[tuple[int, int, str, str]]:
    lines = case.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    return [_parse(raw) for raw in lines]


def test_the_corpus_is_big_enough() -> None:
    assert len(list(CASES.glob("*.yaml"))) >= 30


@pytest.mark.parametrize("case", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_manifest_is_rejected_with_file_and_line(case: Path) -> None:
    checked = check([case], LintOptions(now=NOW))
    assert not checked.ok, f"{case.name} was accepted"
    assert all(p.file == str(case) for p in checked.problems)
    # each problem as ``validate`` prints it, less the leading ``file:``
    found = [_parse(problem_line(p).removeprefix(f"{case}:")) for p in checked.problems]
    want = expected(case)
    unmatched = list(found)
    for line, col, path, text in want:
        hit = next((f for f in unmatched if f[:3] == (line, col, path) and text in f[3]), None)
        assert hit is not None, f"{case.name}: no problem {line}:{col}: {path}: {text}\n" \
                                f"got: {found}"
        unmatched.remove(hit)
    assert not unmatched, f"{case.name}: unexpected problems {unmatched}"
