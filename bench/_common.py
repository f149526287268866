"""Helpers shared by the benchmarks: workspaces, sandbox sessions, figures against goals.

Not a benchmark itself (``make bench`` runs ``bench/*.py``, so this one only prints a note
when run). The benchmarks connect the real providers to a sandbox app the way the CLI does
with ``--sandbox`` (in process, through ``httpx.ASGITransport``) or over a loopback socket
(``serve_in_thread``), through :func:`tapsync.engine.connect`.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tapsync.config import Config, load_config
from tapsync.engine import SANDBOX_CREDENTIALS, Session, connect
from tapsync.http import asgi_transport, skip_missing_sniffio

skip_missing_sniffio()  # as the tapsync command does in its own process

CATEGORIES = 10


def write_config(folder: Path, base_url: str | None = None) -> Config:
    """A workspace file for ``folder`` (manifests under ``folder/manifests``)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = "version: 1\nmanifests: [manifests/]\n"
    if base_url is not None:
        text += f"providers:\n  amplitude:\n    base_url: {base_url}\n"
    path = folder / "tapsync.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, {})


@asynccontextmanager
async def session(app: Any, cfg: Config, base_url: str | None = None
                  ) -> AsyncIterator[Session]:
    """Real providers against ``app``: in process, or over ``base_url`` when given (the
    config must then name that base URL, see :func:`write_config`)."""
    transport = None if base_url is not None else asgi_transport(app)
    async with connect(cfg, ("amplitude",), SANDBOX_CREDENTIALS, transport=transport) as s:
        yield s


# ------------------------------------------------------------------ taxonomy generation

@dataclass(frozen=True)
class Prop:
    name: str
    type: str
    description: str
    is_required: bool
    enum_values: tuple[str, ...] = ()
    regex: str = ""


@dataclass(frozen=True)
class Event:
    name: str
    category: str
    description: str
    tags: tuple[str, ...]
    properties: tuple[Prop, ...] = field(default=())


def make_event(i: int, properties: int) -> Event:
    """Event ``i`` with ``properties`` properties, as ``bench/validate.py`` shapes them."""
    props = []
    for j in range(properties):
        kind = ("enum", "string", "number", "boolean")[j % 4]
        props.append(Prop(f"prop_{j}", kind, f"Property {j} of event {i}", bool(j % 2),
                          ("large", "medium", "small") if kind == "enum" else (),
                          "^[a-z]+$" if kind == "string" and j % 8 == 1 else ""))
    return Event(f"Event Number {i}", f"Category {i % CATEGORIES}", f"Event {i} happened",
                 ("bench", f"group-{i % 7}"), tuple(props))


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def event_yaml(e: Event) -> str:
    out = [f"    - name: {_q(e.name)}\n"
           + (f"      category: {_q(e.category)}\n" if e.category else "")
           + f"      description: {_q(e.description)}\n"
           f"      tags: [{', '.join(_q(t) for t in e.tags)}]\n"]
    if e.properties:
        out.append("      properties:\n")
    for p in e.properties:
        out.append(f"        - name: {_q(p.name)}\n          type: {p.type}\n"
                   f"          description: {_q(p.description)}\n"
                   f"          is_required: {'true' if p.is_required else 'false'}\n")
        if p.enum_values:
            out.append(f"          enum_values: [{', '.join(_q(v) for v in p.enum_values)}]\n")
        if p.regex:
            out.append(f"          regex: {_q(p.regex)}\n")
    return "".join(out)


def write_manifests(folder: Path, events: Sequence[Event], per_file: int = 100,
                    categories: int = CATEGORIES) -> int:
    """Categories in one file, event types ``per_file`` to a file; returns bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    size = 0
    if categories:
        cats = "amplitude:\n  categories:\n" + "".join(
            f"    - name: {_q(f'Category {i}')}\n" for i in range(categories))
        (folder / "categories.yaml").write_text(cats, encoding="utf-8")
        size += len(cats)
    for k in range(0, len(events), per_file):
        path = folder / f"events_{k // per_file:03}.yaml"
        text = "amplitude:\n  event_types:\n" + "".join(event_yaml(e)
                                                       for e in events[k:k + per_file])
        path.write_text(text, encoding="utf-8")
        size += len(text.encode("utf-8"))
    return size


def fixture(events: Sequence[Event]) -> dict[str, Any]:
    """The sandbox's ``amplitude`` fixture holding ``events`` (all live)."""
    props = [{"event_type": e.name, "event_property": p.name, "description": p.description,
              "type": p.type, "is_required": p.is_required,
              "enum_values": list(p.enum_values) or None, "regex": p.regex or None}
             for e in events for p in e.properties]
    return {"categories": [f"Category {i}" for i in range(CATEGORIES)],
            "event_types": [{"event_type": e.name, "category": e.category,
                             "description": e.description, "tags": list(e.tags)}
                            for e in events],
            "event_properties": props}


def seed(app: Any, events: Sequence[Event]) -> None:
    """Load ``events`` into the sandbox's store directly: the fixture loader behind
    ``POST /_sandbox/fixtures``, in one transaction, without the HTTP round trip."""
    runtime = app.state.sandbox
    with runtime.store.transaction():
        runtime.fixture_loaders["amplitude"](runtime, fixture(events))


# ---------------------------------------------------------------------------- reporting

def peak_rss_mb() -> float:
    """This process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb() -> float | None:
    """Resident set size now (Linux only; ``None`` elsewhere)."""
    return _status_mb("VmRSS")


def reset_peak_rss() -> bool:
    """Start a new peak-RSS measurement (Linux ≥ 4.0: ``clear_refs`` 5 resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_since_reset_mb() -> float | None:
    """Peak RSS since :func:`reset_peak_rss` (VmHWM)."""
    return _status_mb("VmHWM")


def figure(label: str, value: float, goal: float, unit: str, *, exact: bool = False) -> str:
    """One line: the figure, its goal and the ratio (``exact``: the goal is equality)."""
    ratio = value / goal if goal else float("inf")
    verdict = ("ok" if (abs(ratio - 1) < 1e-9 if exact else ratio <= 1.0) else "OVER")
    sign = "=" if exact else "≤"
    return (f"{label:<34} {value:10.3f} {unit:<3} goal {sign} {goal:g} {unit:<3} "
            f"ratio {ratio:5.2f}  {verdict}")


if __name__ == "__main__":
    print("bench/_common.py: shared helpers, nothing to measure")
    sys.exit(0)
