"""Addresses (issue 2.6): any name, of any kind, survives address → parse unchanged.

An address is what a user types after ``--target``, what a saved plan and the journal
record, and what an ignore file matches: if some name did not come back as the same key,
a plan would act on, or skip, the wrong object. Names are arbitrary text on the services
(quotes, ``]``, slashes, ``%2F``, backslashes, other scripts), so the property is checked
over generated text, not a few examples.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tapsync.errors import UsageError
from tapsync.manifest import KINDS
from tapsync.model import ResourceKey

#: every kind a manifest can declare, with its provider
ALL_KINDS = sorted((provider, kind) for provider, lists in KINDS.items()
                   for kind in lists.values())
#: pieces that break naive quoting: the address's own brackets and quotes, JSON escapes,
#: URL-encoded and path separators, line separators JSON leaves raw, non-ASCII
TRICKY = ['"', "]", "[", '"]', '["', "/", "%2F", "%", "\\", "\\\"", "\\u0041", "'", ".",
          "\n", "\t", "\x00", "\x7f", "\u2028", "\u2029", " ", "Ü", "名前", "🎵", "\ufeff", ""]

names = st.lists(st.one_of(st.text(), st.sampled_from(TRICKY)), max_size=6).map("".join)


@given(kind=st.sampled_from(ALL_KINDS), parts=st.lists(names, min_size=1, max_size=2))
@example(kind=("amplitude", "event_property"), parts=['Lied "abgespielt" / Ü', 'dur"]ation'])
@example(kind=("amplitude", "event_type"), parts=[""])
@example(kind=("taplytics", "user"), parts=['"]["', "\\"])
def test_every_name_of_every_kind_parses_back_to_the_same_key(
        kind: tuple[str, str], parts: list[str]) -> None:
    """One-part names (event types, shared properties, users…) and two-part ones (a
    property under its event); empty parts included, which the model allows (the manifest
    refuses an empty name, with its own message)."""
    key = ResourceKey(kind[0], kind[1], tuple(parts))
    assert ResourceKey.parse(key.address) == key


@given(kind=st.sampled_from(ALL_KINDS), parts=st.lists(names, min_size=1, max_size=2))
def test_an_address_is_one_line_so_it_can_sit_in_a_journal_or_an_ignore_file(
        kind: tuple[str, str], parts: list[str]) -> None:
    """JSON escapes line breaks, so a name with one cannot split an address across lines
    (``\\u2028`` is not a line break to the line-based files tapsync writes)."""
    address = ResourceKey(kind[0], kind[1], tuple(parts)).address
    assert "\n" not in address and "\r" not in address


@given(text=st.one_of(st.text(), st.lists(st.sampled_from(
    ["amplitude.event_type", "[", "]", '"', "\\", "x", "1", "null", '""', " "]),
    max_size=8).map("".join)))
def test_any_text_either_parses_or_is_refused_as_a_usage_error(text: str) -> None:
    """A mistyped ``--target`` is a clean error saying what is wrong, never a traceback;
    what does parse renders back to an address that parses to the same key."""
    try:
        key = ResourceKey.parse(text)
    except UsageError as exc:
        assert "not an address" in str(exc)
        return
    assert ResourceKey.parse(key.address) == key


@pytest.mark.parametrize("address", [
    'amplitude.event_type["a"', 'amplitude.event_type["a"]x', 'amplitude.event_type',
    'amplitude.event_type[1]', 'amplitude.event_type["a"]]', 'Amplitude.event_type["a"]',
    'amplitude.event_type[ "a"]'])
def test_malformed_addresses_are_refused(address: str) -> None:
    with pytest.raises(UsageError, match="not an address"):
        ResourceKey.parse(address)
