"""Shared fixtures: the real sandbox app, in process, behind the real clients."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    """Run one coroutine to completion (tests stay plain functions; no plugin needed)."""
    return asyncio.run(coro)  # type: ignore[arg-type]


@pytest.fixture
def workspace(tmp_path: Path) -> Callable[..., Path]:
    """Write a workspace: ``workspace(files={"manifests/a.yaml": "..."}, config="...")``."""

    def make(files: dict[str, str] | None = None, config: str | None = None) -> Path:
        (tmp_path / "tapsync.yaml").write_text(config or "version: 1\nmanifests: [manifests/]\n",
                                               encoding="utf-8")
        (tmp_path / "manifests").mkdir(exist_ok=True)
        for name, text in (files or {}).items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return tmp_path

    return make


@pytest.fixture
def chdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def pytest_configure(config: Any) -> None:
    # hypothesis profile for CI: enough examples to mean something, no deadline flakiness
    from hypothesis import settings

    settings.register_profile("ci", deadline=None, print_blob=True)
    settings.load_profile("ci")
