"""Persistence (SQLite at a path, surviving restarts) and safety under concurrency."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import pytest
from sandbox_support import AUTH
from sandbox_support import TAXONOMY as T

from tapsync.sandbox import create_app, serve_in_thread
from tapsync.sandbox.store import Store


def client_for(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                             base_url="http://s", auth=AUTH)


@pytest.mark.anyio
async def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.db"
    app = create_app(state_path=path)
    async with client_for(app) as client:
        await client.post(f"{T}/category", data={"category_name": "Media"})
        await client.post(f"{T}/event", data={"event_type": "Play Song", "category": "Media"})
        await client.post("/2/httpapi", json={"api_key": AUTH[0],
                                              "events": [{"event_type": "Play Song"}]})
    app.state.sandbox.store.close()
    again = create_app(state_path=str(path))
    async with client_for(again) as client:
        data = (await client.get(f"{T}/event/Play%20Song")).json()["data"]
        assert data["category"] == {"name": "Media"}
        assert again.state.sandbox.store.get("amplitude", "event", "Play Song")["status"] == "live"
        await client.post(f"{T}/category", data={"category_name": "Other"})
        ids = [c["id"] for c in (await client.get(f"{T}/category")).json()["data"]]
        assert len(set(ids)) == 2


@pytest.mark.anyio
async def test_in_memory_apps_do_not_share_state() -> None:
    async with client_for(create_app()) as one, client_for(create_app()) as two:
        await one.post(f"{T}/category", data={"category_name": "A"})
        assert (await two.get(f"{T}/category")).json()["data"] == []


@pytest.mark.anyio
async def test_many_concurrent_writers_lose_nothing() -> None:
    app = create_app(concurrent_cost=1000)
    async with client_for(app) as client:
        answers = await asyncio.gather(*(
            client.post(f"{T}/event", data={"event_type": f"E{i}"}) for i in range(100)))
        assert {r.status_code for r in answers} == {200}
        assert len((await client.get(f"{T}/event")).json()["data"]) == 100


@pytest.mark.socket
def test_threads_hammering_a_served_sandbox(tmp_path: Path) -> None:
    app = create_app(state_path=tmp_path / "s.db", concurrent_cost=1000, hourly_cost=10**6)
    errors: list[BaseException] = []
    with serve_in_thread(app) as base:
        def writer(n: int) -> None:
            try:
                with httpx.Client(base_url=base, auth=AUTH) as client:
                    for i in range(20):
                        r = client.post(f"{T}/event", data={"event_type": f"T{n}-{i}"})
                        assert r.status_code == 200, r.text
            except BaseException as exc:  # re-raised in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        with httpx.Client(base_url=base, auth=AUTH) as client:
            assert len(client.get(f"{T}/event").json()["data"]) == 100


def test_store_transactions_roll_back() -> None:
    store = Store()
    store.put("ns", "k", "a", {"v": 1})
    with pytest.raises(RuntimeError), store.transaction():
        store.put("ns", "k", "a", {"v": 2})
        store.put("ns", "k", "b", {"v": 3})
        raise RuntimeError
    assert store.items("ns", "k") == [("a", {"v": 1})]


def test_store_keeps_first_write_order_on_update() -> None:
    store = Store()
    for key in ("b", "a", "c"):
        store.put("ns", "k", key, {"key": key})
    store.put("ns", "k", "b", {"key": "b", "updated": True})
    assert [k for k, _ in store.items("ns", "k")] == ["b", "a", "c"]
