"""``.tapsyncignore`` patterns: globs on addresses, literal brackets, escapes, baselines."""

from __future__ import annotations

from pathlib import Path

from tapsync.ignore import baseline, escape, parse
from tapsync.model import ResourceKey

K = ResourceKey.parse


def test_star_and_question_mark_are_the_only_wildcards() -> None:
    rules = parse('amplitude.event_type["Debug *"]\namplitude.user_property["tmp_?"]\n')
    assert rules(K('amplitude.event_type["Debug Ping"]'))
    assert not rules(K('amplitude.event_type["Debugger"]'))
    assert rules(K('amplitude.user_property["tmp_1"]'))
    assert not rules(K('amplitude.user_property["tmp_12"]'))


def test_brackets_and_quotes_are_literal_not_character_classes() -> None:
    rules = parse('amplitude.event_type["A"]')
    assert rules(K('amplitude.event_type["A"]'))
    assert not rules(K('amplitude.event_type["B"]'))
    assert not parse('amplitude.event_type[AB]')(K('amplitude.event_type["A"]'))


def test_an_event_pattern_covers_the_events_own_properties() -> None:
    rules = parse('amplitude.event_type["Debug Ping"]')
    assert rules(K('amplitude.event_property["Debug Ping"]["probe"]'))
    assert not rules(K('amplitude.event_property["probe"]'))


def test_comments_and_blank_lines(tmp_path: Path) -> None:
    assert not parse("")
    rules = parse("\n# a comment\n   \n  amplitude.*  \n")
    assert rules.patterns == ("amplitude.*",)
    assert rules(K('amplitude.category["x"]'))
    assert not rules(K('taplytics.user["x"]'))


def test_escaped_addresses_match_only_themselves() -> None:
    odd = K('amplitude.event_type["50% * off?"]')
    rules = parse(escape(odd.address))
    assert rules(odd)
    assert not rules(K('amplitude.event_type["50% XX off!"]'))


def test_baseline_appends_under_a_dated_header_and_skips_what_is_covered() -> None:
    keys = [K('amplitude.event_type["Debug Ping"]'),
            K('amplitude.event_property["Debug Ping"]["probe"]'),
            K('amplitude.user_property["beta"]'), K('amplitude.event_type["Old"]')]
    text = baseline('amplitude.event_type["Old"]\n', keys, when="2026-11-22")
    assert text == (
        'amplitude.event_type["Old"]\n\n'
        "# baseline written by 'tapsync drift --write-baseline' on 2026-11-22:\n"
        "# drift that existed then; remove a line to report that object again.\n"
        'amplitude.event_type["Debug Ping"]\n'
        'amplitude.user_property["beta"]\n')
    assert baseline(text, keys, when="2026-11-23") == text      # nothing new: unchanged
    fresh = baseline("", keys[:1], when="2026-11-22")
    assert fresh.startswith("# .tapsyncignore: addresses 'tapsync drift' sets aside")
