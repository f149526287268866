"""Big workspaces are read by several processes; the outcome must not depend on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tapsync.manifest import parallel
from tapsync.manifest.parallel import _split, load_and_validate

from .conftest import Write


def test_parallel_and_serial_reading_agree(write: Write, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    if parallel._workers() < 2:
        pytest.skip("one CPU, or no fork: the parallel path cannot run here")
    pooled: list[int] = []
    real = parallel._split

    def spy(*args: Any, **kwargs: Any) -> Any:
        chunks = real(*args, **kwargs)
        pooled.append(len(chunks))
        return chunks

    monkeypatch.setattr(parallel, "_split", spy)
    for i in range(6):
        write(f"f{i}.yaml", "amplitude:\n  categories:\n"
              + "".join(f"    - name: C{i}-{j}\n" for j in range(50))
              + ("    - {name: bad, oops: 1}\n" if i % 2 else ""))
    par, par_problems = load_and_validate([tmp_path], 1 << 20, parallel_bytes=1)
    ser, ser_problems = load_and_validate([tmp_path], 1 << 20, parallel_bytes=1 << 40)
    assert pooled and pooled[0] >= 2  # read in parts: here, and in forked workers
    assert par.files == ser.files
    assert [d.root for d in par.documents] == [d.root for d in ser.documents]
    assert par_problems == ser_problems and len(par_problems) == 3


def test_split_keeps_file_order_and_balances_sizes() -> None:
    files = [Path(str(i)) for i in range(6)]
    chunks = _split(files, [10, 10, 10, 10, 10, 10], 2)
    assert chunks == [files[:3], files[3:]]
    assert _split(files[:1], [5], 4) == [files[:1]]


def test_no_fork_while_other_threads_run(write: Write, tmp_path: Path) -> None:
    import threading

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert parallel._workers() == 1
    finally:
        stop.set()
        thread.join()


def test_check_gives_the_same_outcome_either_way(write: Write, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from tapsync.manifest import check

    for i in range(4):
        write(f"f{i}.yaml", "amplitude:\n  categories:\n"
              + "".join(f"    - name: C{j}\n" for j in range(i * 40, i * 40 + 41))
              + f"  event_types:\n    - {{name: E{i}, category: C{200 - i}}}\n")
    serial = check([tmp_path])
    monkeypatch.setattr(parallel, "PARALLEL_BYTES", 1)
    parallel_run = check([tmp_path])
    assert parallel_run.problems == serial.problems
    assert [r.key for r in parallel_run.state] == [r.key for r in serial.state]
    dups = [p for p in serial.problems if "declared twice" in p.message]
    refs = [p for p in serial.problems if "is not declared" in p.message]
    assert len(dups) == 3 and len(refs) == 4
