"""Read and schema-check big workspaces on every core.

Parsing YAML is the bulk of ``validate`` (libyaml itself takes ~1 s per 13 MB), and files
are independent until references are resolved, so large multi-file workspaces are split
into contiguous runs of files (keeping file order, hence which duplicate comes "first"):
this process reads the first run, and forked workers the others. Small workspaces, single
files, and platforms without ``fork`` take the plain serial path; so does any failure of
the pool itself.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from tapsync.errors import Problem
from tapsync.manifest.data import Loaded
from tapsync.manifest.load import discover, read_files
from tapsync.manifest.validate import schemas, validate

#: below this many bytes in all, forking costs more than it saves
PARALLEL_BYTES = 4 * 1024 * 1024
#: the share of the run read in this process (workers' shares are 1): smaller, as this
#: process lints and builds its part while the workers read and pickle theirs
FIRST_SHARE = 0.85


def load_parts(paths: Sequence[str | Path], max_file_bytes: int, *,
               parallel_bytes: int | None = None) -> Iterator[tuple[Loaded, list[Problem]]]:
    """Every document of ``paths`` with its loading and schema problems, as parts in file
    order. With workers, the first part is read here and yielded while they read the rest,
    so the caller can lint and build it in the meantime."""
    missing: list[Problem] = []
    files = discover(paths, missing)
    sizes = [_size(f) for f in files]
    total = sum(sizes)
    workers = _workers()
    # worth it only when no single file holds most of the bytes (files are not split)
    threshold = PARALLEL_BYTES if parallel_bytes is None else parallel_bytes
    if workers < 2 or total < threshold or max(sizes, default=0) >= 0.6 * total:
        loaded, problems = _work(files, max_file_bytes)
        loaded.problems[:0] = missing
        yield loaded, problems
        return
    schemas()  # compile once, before forking, so every worker inherits it
    chunks = _split(files, sizes, workers, first=FIRST_SHARE)
    try:
        pool = ProcessPoolExecutor(len(chunks) - 1, mp_context=get_context("fork"))
        futures = [pool.submit(_work, chunk, max_file_bytes) for chunk in chunks[1:]]
    except (OSError, RuntimeError):  # no processes to be had: read everything here
        futures = []
        chunks = [files]
    try:
        loaded, problems = _work(chunks[0], max_file_bytes)
        loaded.problems[:0] = missing
        yield loaded, problems
        for chunk, future in zip(chunks[1:], futures, strict=True):
            try:
                yield future.result()
            except (OSError, RuntimeError, EOFError):  # a broken pool: read it here
                yield _work(chunk, max_file_bytes)
    finally:
        if futures:
            pool.shutdown(cancel_futures=True)


def load_and_validate(paths: Sequence[str | Path], max_file_bytes: int, *,
                      parallel_bytes: int | None = None) -> tuple[Loaded, list[Problem]]:
    """All parts of :func:`load_parts` merged into one."""
    merged, problems = Loaded(), []
    for part, found in load_parts(paths, max_file_bytes, parallel_bytes=parallel_bytes):
        merge(merged, part)
        problems.extend(found)
    return merged, problems


def merge(into: Loaded, part: Loaded) -> None:
    into.files.extend(part.files)
    into.documents.extend(part.documents)
    into.problems.extend(part.problems)
    into.secrets.extend(part.secrets)


def _work(files: Sequence[Path], max_file_bytes: int) -> tuple[Loaded, list[Problem]]:
    loaded = read_files(files, max_file_bytes)
    return loaded, validate(loaded)


def _split(files: list[Path], sizes: list[int], parts: int,
           first: float = 1.0) -> list[list[Path]]:
    """Contiguous runs of files of roughly equal total size; the first run weighs
    ``first`` shares (it is read in this process, which pickles nothing)."""
    share = sum(sizes) / (parts - 1 + first)
    bounds = [share * (first + i) for i in range(parts - 1)]
    chunks: list[list[Path]] = [[]]
    total = 0
    for f, size in zip(files, sizes, strict=True):
        if len(chunks) <= len(bounds) and total >= bounds[len(chunks) - 1]:
            chunks.append([])
        chunks[-1].append(f)
        total += size
    return [c for c in chunks if c]


def _workers() -> int:
    """How many processes may read: 1 without ``fork``, or when other threads run (forking
    a threaded process can deadlock on a lock some thread held)."""
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return 1
    try:
        return min(4, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return 1


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
