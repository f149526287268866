"""Loading: files and folders, marks, YAML edge cases, refusals that come before the work."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from tapsync.errors import ManifestError
from tapsync.manifest import LintOptions, check, load
from tapsync.manifest.data import Loaded, unpack
from tapsync.manifest.load import parse
from tapsync.manifest.where import mark_at

from .conftest import Run, Write, messages, only

# the module, not the ``load`` function that ``tapsync.manifest`` exports under that name
load_module = importlib.import_module("tapsync.manifest.load")


def loaded(text: str) -> Loaded:
    out = Loaded()
    parse(text, "t.yaml", out)
    return out


def test_folders_are_read_recursively_in_sorted_order(write: Write, tmp_path: Path) -> None:
    write("b.yaml", "amplitude: {categories: [{name: B}]}\n")
    write("a/z.yml", "amplitude: {categories: [{name: Z}]}\n")
    write("a/notes.txt", "not yaml: [")
    checked = check([tmp_path])
    assert checked.ok
    assert checked.files == [str(tmp_path / "a/z.yml"), str(tmp_path / "b.yaml")]
    assert {r.key.name for r in checked.state} == {("B",), ("Z",)}


def test_a_missing_path_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    checked = check([tmp_path / "nope"])
    assert not checked.ok
    assert "no such file" in checked.problems[0].message


def test_sections_merge_across_files(run: Run) -> None:
    checked = run(files={"cats.yaml": "amplitude: {categories: [{name: Media}]}\n",
                         "events.yaml": "amplitude:\n  event_types:\n"
                                        "    - {name: Play, category: Media}\n"})
    assert checked.ok, messages(checked)
    assert len(checked.state) == 2


def test_values_remember_their_line_and_column() -> None:
    out = loaded("a:\n  b:\n    - x\n    - {c: 1}\n")
    root = out.documents[0].root
    assert unpack(mark_at(out.documents[0], ["a", "b", 1, "c"])) == (4, 11)
    assert unpack(mark_at(out.documents[0], ["a", "b", 1, "c"], key=True)) == (4, 8)
    assert root["a"]["b"] == ["x", {"c": 1}]


def test_yaml_scalars_resolve_like_yaml_but_timestamps_stay_text() -> None:
    root = loaded("a: 1\nb: 1.5\nc: yes\nd: ~\ne: '1'\nf: 2026-12-05T15:00:00Z\ng: 0x1f\n"
                  "h: !!str 12\n").documents[0].root
    assert root == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "1",
                    "f": "2026-12-05T15:00:00Z", "g": 31, "h": "12"}


def test_keys_are_kept_as_written() -> None:
    root = loaded("on: 1\n12: 2\n").documents[0].root
    assert list(root) == ["on", "12"]


def test_merge_keys_work_and_explicit_keys_win() -> None:
    root = loaded("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n").documents[0].root
    assert root["use"] == {"x": 1, "y": 3}


def test_duplicate_keys_are_errors_naming_the_first_line(run: Run) -> None:
    checked = run("amplitude:\n  categories: []\n  categories: []\n")
    p = only(checked)
    assert (p.line, p.column) == (3, 3)
    assert "duplicate key 'categories' (first at line 2)" in p.message


def test_malformed_yaml_gives_line_and_column_not_a_traceback(run: Run) -> None:
    checked = run("amplitude:\n  categories:\n    - name: [unclosed\n  event_types: x\n")
    p = only(checked)
    assert p.message.startswith("YAML syntax error")
    assert p.line == 4 and p.column >= 1


def test_invalid_utf8_is_reported_at_the_first_bad_byte(tmp_path: Path) -> None:
    # line 3, after "  - " and two 2-byte characters: the column counts characters
    (tmp_path / "bad.yaml").write_bytes(
        b"amplitude:\n  categories:\n    - {name: \xc3\xa9\xc3\xa9\xff\xfe}\n")
    p = only(check([tmp_path]))
    assert str(p) == f"{tmp_path / 'bad.yaml'}:3:16: $: not valid UTF-8 (byte 0xff)"


def test_a_utf8_byte_order_mark_does_not_shift_the_column() -> None:
    out = Loaded()
    parse(b"\xef\xbb\xbfa: \x80\n", "t.yaml", out)
    assert [(p.line, p.column, p.message) for p in out.problems] == [
        (1, 4, "not valid UTF-8 (byte 0x80)")]


def test_a_forbidden_control_character_is_located() -> None:
    for data in (b"a: 1\nbb: x\x07\n", "a: 1\nbb: x\x07\n"):
        out = Loaded()
        parse(data, "t.yaml", out)
        assert [(p.line, p.column) for p in out.problems] == [(2, 6)], data
        assert "U+0007 is not allowed" in out.problems[0].message


@pytest.mark.parametrize(("data", "where"), [
    ("a: 1\nb: éééé \x07\n", (2, 9)),          # not line 3: libyaml counts UTF-8 bytes
    ("a: 1\nb: éééé \x07\n".encode(), (2, 9)),
    ("a: 日本語 ☃\x07\n", (1, 9)),
    ("\ufeffb: éé \x07\n", (1, 7)),            # a byte order mark takes no column
    ("\ufeffa: 1\nb: \x07\n", (2, 4)),
])
def test_a_forbidden_character_after_non_ascii_text_is_located_in_characters(
        data: str | bytes, where: tuple[int, int]) -> None:
    out = Loaded()
    parse(data, "t.yaml", out)
    assert [(p.line, p.column) for p in out.problems] == [where]
    assert "U+0007 is not allowed" in out.problems[0].message


def test_alias_bomb_is_refused_before_expansion(run: Run,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A billion laughs (9^12 values) is refused while the reader has built no more lists
    than the text writes: aliases are weighed, never copied."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 12):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    built: list[int] = []

    class CountedList(load_module.MList):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(load_module, "MList", CountedList)
    checked = run("\n".join(lines) + "\n")
    p = only(checked)
    assert "aliases expand to more than ten times the document" in p.message
    assert "alias bomb" in p.message
    assert 0 < len(built) <= len(lines)


def test_a_recursive_alias_is_refused(run: Run) -> None:
    p = only(run("a: &x\n  b: *x\n"))
    assert "recursive alias" in p.message


def test_small_alias_reuse_is_fine(run: Run) -> None:
    checked = run("""
        taplytics:
          push_campaigns:
            - name: one
              notification: {alert: hi}
              filters: &f [{type: country, comparator: "=", values: [CA]}]
              schedule: now
            - name: two
              notification: {alert: ho}
              filters: *f
              schedule: now
    """)
    assert checked.ok, messages(checked)


def test_oversized_file_is_refused_before_reading(write: Write, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Only its size is looked at: the oversized file's bytes are never read."""
    big = write("big.yaml", "amplitude:\n  categories:\n" + "    - name: x\n" * 200)
    small = write("small.yaml", "amplitude: {categories: [{name: y}]}\n")
    read: list[Path] = []
    real_read_bytes = Path.read_bytes

    def spy(self: Path) -> bytes:
        read.append(self)
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    checked = check([tmp_path], LintOptions(max_file_bytes=1000))
    p = only(checked)
    assert "over the limit of 1000 bytes" in p.message and p.line == 1
    assert p.file == str(big)
    assert read == [small]


def test_deep_nesting_is_refused(run: Run) -> None:
    p = only(run("a: " + "[" * 300 + "]" * 300 + "\n"))
    assert "nesting deeper than" in p.message


def test_unsupported_tags_are_errors(run: Run) -> None:
    p = only(run("amplitude: !!python/object:os.system {}\n"))
    assert "unsupported YAML tag" in p.message


def test_empty_files_declare_nothing(run: Run) -> None:
    checked = run("# only a comment\n")
    assert checked.ok and len(checked.state) == 0


def test_a_document_that_is_not_a_mapping_is_an_error(run: Run) -> None:
    p = only(run("- amplitude\n"))
    assert "must be a mapping of sections" in p.message


def test_load_raises_with_every_error(run: Run, tmp_path: Path) -> None:
    run("amplitude:\n  categories: [{name: A, x: 1}]\n  event_types: [{}]\n")
    try:
        load([tmp_path])
    except ManifestError as exc:
        assert len(exc.problems) == 2
        assert "m.yaml:2:" in str(exc) and "m.yaml:3:" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("load() accepted invalid manifests")


def test_warnings_do_not_fail(run: Run, tmp_path: Path) -> None:
    checked = run("amplitude:\n  user_properties: [{name: 'gp:plan'}]\n")
    assert checked.ok and checked.problems[0].severity == "warning"
    assert load([tmp_path]).get(next(iter(checked.state)).key) is not None


def test_problems_are_sorted_by_file_line_column(run: Run) -> None:
    checked = run(files={"b.yaml": "amplitude: {x: 1}\n",
                         "a.yaml": "amplitude:\n  y: 1\n  categories: [{name: A, z: 2}]\n"})
    keys = [(p.file, p.line, p.column) for p in checked.problems]
    assert keys == sorted(keys) and len(keys) == 3


def test_hidden_folders_and_other_extensions_are_skipped(write: Write, tmp_path: Path) -> None:
    write(".tapsync/state.yaml", "not: a manifest\n")
    write("notes.md", "# hi\n")
    write("x.yml", "amplitude: {categories: [{name: X}]}\n")
    checked = check([tmp_path])
    assert checked.ok and checked.files == [str(tmp_path / "x.yml")]


def test_a_file_named_explicitly_is_read_whatever_its_extension(write: Write) -> None:
    path = write("manifest.txt", "amplitude: {categories: [{name: X}]}\n")
    assert len(check([path]).state) == 1


def test_field_sources_compare_like_a_dict(run: Run, tmp_path: Path) -> None:
    r = next(iter(run("amplitude:\n  categories: [{name: A}]\n  event_types:\n"
                      "    - {name: E, category: A}\n").state.of_kind("amplitude",
                                                                      "event_type")))
    assert r.field_sources == {"category": r.field_sources["category"]}
    assert list(r.field_sources) == ["category"] and "name" not in r.field_sources
