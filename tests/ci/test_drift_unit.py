"""How :func:`tapsync.drift.build` reads a plan as findings about the present."""

from __future__ import annotations

from tapsync import drift
from tapsync.ignore import parse
from tapsync.model import Resource, ResourceKey, State
from tests.plan_specs import SPECS


def _r(address: str, attrs: dict[str, object] | None = None, **kw: object) -> Resource:
    return Resource(ResourceKey.parse(address), attrs or {}, **kw)  # type: ignore[arg-type]


def _types(report: drift.DriftReport) -> dict[str, str]:
    return {i.key.address: i.type for i in report.items}


def test_each_plan_action_becomes_one_finding() -> None:
    desired = State([
        _r('amplitude.event_type["Edited"]', {"description": "mine"}),
        _r('amplitude.event_type["Renamed"]', renamed_from=("old",)),
        _r('amplitude.event_type["Gone"]'),
        _r('amplitude.event_type["Deleted live"]'),
        _r('amplitude.user_property["dead"]', absent=True),
        _r('amplitude.user_property["dead and gone"]', absent=True),
    ])
    live = State([
        _r('amplitude.event_type["Edited"]', {"description": "theirs"}),
        _r('amplitude.event_type["old"]'),
        _r('amplitude.event_type["Deleted live"]', meta={"deleted": True}),
        _r('amplitude.user_property["dead"]'),
        _r('amplitude.event_type["Stray"]'),
        _r('amplitude.event_type["Ingested"]', meta={"status": "unexpected"}),
        _r('amplitude.user_property["device_id"]', meta={"builtin": True}),
    ])
    report = drift.build(desired, live, SPECS)
    assert _types(report) == {
        'amplitude.event_type["Edited"]': "changed",
        'amplitude.event_type["Renamed"]': "changed",
        'amplitude.user_property["dead"]': "changed",
        'amplitude.event_type["Gone"]': "missing",
        'amplitude.event_type["Deleted live"]': "missing",
        'amplitude.event_type["Stray"]': "unmanaged",
        'amplitude.event_type["Ingested"]': "unexpected",
    }
    renamed = report.by_key()[ResourceKey.parse('amplitude.event_type["Renamed"]')]
    assert renamed.reason == 'live under its earlier name amplitude.event_type["old"]'
    assert [i.type for i in report.items] == sorted(
        (i.type for i in report.items), key=drift.TYPES.index)


def test_coverage_counts_live_objects_a_manifest_accounts_for() -> None:
    desired = State([_r('amplitude.event_type["A"]'), _r('amplitude.event_type["B"]')])
    live = State([_r('amplitude.event_type["A"]'), _r('amplitude.event_type["C"]'),
                  _r('amplitude.event_type["D"]', meta={"deleted": True}),
                  _r('amplitude.user_property["device_id"]', meta={"builtin": True})])
    cov = drift.build(desired, live, SPECS).coverage
    assert cov == {"amplitude.event_type": drift.Coverage(managed=1, live=2)}
    assert cov["amplitude.event_type"].percent == 50.0
    assert drift.Coverage(0, 0).percent == 100.0


def test_ignored_findings_are_listed_apart_and_do_not_count_as_drift() -> None:
    live = State([_r('amplitude.event_type["Debug"]'),
                  _r('amplitude.event_property["Debug"]["x"]')])
    report = drift.build(State(), live, SPECS, ignore=parse('amplitude.event_type["Debug"]'))
    assert not report.drifted
    assert [k.address for k in report.ignored] == ['amplitude.event_property["Debug"]["x"]',
                                                   'amplitude.event_type["Debug"]']


def test_paths_under_the_base_become_relative() -> None:
    from tapsync.model import Source

    r = _r('amplitude.event_type["A"]', {"description": "x"},
           source=Source("/repo/m/a.yaml", 3, 5), field_sources={"description":
                                                                 Source("/repo/m/a.yaml", 4, 9)})
    report = drift.build(State([r]), State([_r('amplitude.event_type["A"]')]), SPECS,
                         base="/repo")
    (item,) = report.items
    assert (item.source, item.line_of()) == (Source("m/a.yaml", 3, 5), Source("m/a.yaml", 4, 9))
    elsewhere = drift.build(State([r]), State([_r('amplitude.event_type["A"]')]), SPECS,
                            base="/other")
    assert elsewhere.items[0].source == Source("/repo/m/a.yaml", 3, 5)
