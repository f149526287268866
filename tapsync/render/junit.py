"""A drift report as JUnit XML (``drift --format junit``), for CI test dashboards.

One test case per declared object, grouped in one suite per kind: it fails when the
object drifted (changed or missing), is skipped when ``.tapsyncignore`` covers it, and
passes otherwise. Live objects no manifest declares get a failing case each in an
``unmanaged`` (or ``unexpected``) suite, so the dashboard's count of failures matches the
drift command's exit status. ``xml.etree`` does the escaping; output order is stable.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TextIO

from tapsync.drift import DriftItem, DriftReport
from tapsync.model import ResourceKey
from tapsync.render.markup import show


def render_junit(report: DriftReport, stream: TextIO, *, color: bool = False) -> None:
    del color
    items = report.by_key()
    ignored = set(report.ignored)
    suites: dict[str, list[ET.Element]] = {}
    for d in report.declared:
        case = _case(d.key, f"{d.key.provider}.{d.key.kind}")
        if d.source is not None:
            case.set("file", d.source.file)
            case.set("line", str(d.source.line))
        if d.key in items:
            case.append(_failure(items[d.key]))
        elif d.key in ignored:
            ET.SubElement(case, "skipped", message="ignored by .tapsyncignore")
        suites.setdefault(f"{d.key.provider}.{d.key.kind}", []).append(case)
    for t in ("unmanaged", "unexpected"):
        for i in report.of_type(t):
            case = _case(i.key, f"{t}.{i.key.provider}.{i.key.kind}")
            case.append(_failure(i))
            suites.setdefault(t, []).append(case)
    root = ET.Element("testsuites", name="tapsync drift")
    totals = [0, 0, 0]
    for name in sorted(suites):
        cases = suites[name]
        counts = [len(cases), sum(c.find("failure") is not None for c in cases),
                  sum(c.find("skipped") is not None for c in cases)]
        suite = ET.SubElement(root, "testsuite", name=name, tests=str(counts[0]),
                              failures=str(counts[1]), errors="0", skipped=str(counts[2]))
        suite.extend(cases)
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", "0")
    root.set("skipped", str(totals[2]))
    ET.indent(root)
    stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    stream.write(ET.tostring(root, encoding="unicode"))
    stream.write("\n")


def _case(key: ResourceKey, classname: str) -> ET.Element:
    return ET.Element("testcase", classname=classname, name=key.address)


def _failure(i: DriftItem) -> ET.Element:
    lines = [f"{f.label}: live {show(f.before)}, declared {show(f.after)}" for f in i.fields]
    if i.reason:
        lines.append(i.reason)
    message = f"{i.type}: " + ("; ".join(lines) if lines else i.key.address)
    el = ET.Element("failure", message=message, type=i.type)
    el.text = "\n".join(lines) or None
    return el
