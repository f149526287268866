"""The hourly budget across runs, and said up front.

A plan that costs more than the hourly budget has left is announced before apply asks
for confirmation, with the pause it will meet. What a run spends is remembered under
``.tapsync/spend/`` (by provider and a slow hash of the key keyed with the workspace's
salt, never the key), so the next run with the same key in the same hour starts from it;
runs only add their own spends, under a lock, so parallel runs add up and nothing counts
twice; a damaged record is set aside with a warning, never fatal.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import shutil
import stat
import sys
import threading
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from tapsync import spendlog
from tapsync.budget import Budget, ManualClock, Window
from tapsync.cli import cli
from tapsync.cli.apply_report import over_budget
from tapsync.config import Config
from tapsync.engine import SANDBOX_BASE_URL, SANDBOX_CREDENTIALS, connect, read_live
from tapsync.http import asgi_transport
from tapsync.model import State
from tapsync.sandbox import create_app
from tapsync.spendlog import KDF_ITERATIONS, SpendLog, path_for
from tests.apply.support import A, Sandbox, connected, workspace_config
from tests.ci.support import sandbox_calls, write_workspace

EVENTS = "amplitude:\n  event_types:\n" + "".join(f"    - name: E{i}\n" for i in range(5))
MORE_EVENTS = EVENTS + "".join(f"    - name: F{i}\n" for i in range(5))
T0 = 1_800_000_000.0


def tapsync(ws: Path, *args: str) -> tuple[int, str, str]:
    """The real CLI on a non-interactive stdin (so ``apply`` without --auto-approve stops
    at the confirmation, after the plan and its warnings)."""
    env = {"TAPSYNC_CONFIG": str(ws / "tapsync.yaml"), "NO_COLOR": "1"}
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def budgeted(hourly: int) -> str:
    return ("version: 1\nmanifests: [manifests/]\nproviders:\n  amplitude:\n"
            f"    budget: {{concurrent_cost: 4, hourly_cost: {hourly}}}\n")


def live_events(ws: Path) -> dict[str, Any]:
    (state,) = sandbox_calls(ws, ("GET", "/_sandbox/state", {}))
    events: dict[str, Any] = state["amplitude"].get("event", {})
    return events


# --------------------------------------------------------------- the up-front warning

def test_a_plan_over_what_is_left_of_the_hour_is_announced_before_confirmation(
        tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, EVENTS, budgeted(12))
    code, out, err = tapsync(ws, "apply", "--sandbox")
    assert code == 1 and "stdin is not interactive" in err   # stopped at the question
    warning = re.search(r"amplitude: this plan costs 10 units, more than the (\d+) left in "
                        r"this hour's budget \(12 − (\d+) spent in the last hour\); apply "
                        r"will pause about 60 min when the budget runs out", err)
    assert warning, err
    left, spent = int(warning[1]), int(warning[2])
    assert left == 12 - spent < 10 and spent > 0    # the plan's own reads count
    assert err.index("this plan costs") < err.index("stdin is not interactive")
    assert "This plan costs" in out                 # the plan itself is shown as ever
    assert live_events(ws) == {}                    # nothing written


def test_a_plan_that_fits_is_applied_without_a_warning(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, EVENTS, budgeted(7200))
    code, _, err = tapsync(ws, "apply", "--sandbox", "--auto-approve")
    assert code == 0, err
    assert "more than the" not in err and "Converged" in err
    assert len(live_events(ws)) == 5


def over(cost: int, *, limit: int = 10_000, reserve: int = 0, spent: int = 0,
         minutes_ago: float = 0.0) -> str | None:
    clock = ManualClock()
    budget = Budget(concurrent=None, windows=[Window(limit, 3600)], reserve=reserve,
                    clock=clock)
    if spent:
        budget.preload([(T0 - 60 * minutes_ago, spent)], T0)
    return over_budget("amplitude", cost, budget)


def test_the_warning_names_the_cost_what_is_left_and_the_pause() -> None:
    assert over(9000, reserve=500, spent=2300, minutes_ago=19) == (
        "amplitude: this plan costs 9,000 units, more than the 7,200 left in this hour's "
        "budget (10,000 − reserve 500 − 2,300 spent in the last hour); apply will pause "
        "about 41 min when the budget runs out")
    assert over(12_000) == (
        "amplitude: this plan costs 12,000 units, more than the 10,000 left in this hour's "
        "budget; apply will pause about 60 min when the budget runs out")


@pytest.mark.parametrize(("cost", "kw"), [
    (0, {}), (7200, {"spent": 2800}), (10_000, {}), (9500, {"reserve": 500}),
])
def test_no_warning_when_the_plan_fits(cost: int, kw: dict[str, int]) -> None:
    assert over(cost, **kw) is None


def test_request_count_windows_are_not_compared_with_cost_units() -> None:
    budget = Budget(concurrent=None, windows=[Window(10, 60, weighted=False)],
                    clock=ManualClock())
    assert over_budget("pypestream", 500, budget) is None


# ------------------------------------------------------------ spend carried over runs

def test_a_second_run_starts_from_the_spend_of_the_first(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, EVENTS)
    code, _, err = tapsync(ws, "apply", "--sandbox", "--auto-approve")
    assert code == 0, err
    (record,) = (ws / ".tapsync" / "spend").glob("*.json")
    first = sum(cost for _, cost in json.loads(record.read_text())["spends"])
    assert first > 10                      # reads, 5 creates at 2 units, the re-read

    def spent_seen_by_a_new_run() -> int:
        code, _, err = tapsync(ws, "apply", "--sandbox", "-v")   # stops at the question
        assert code == 1, err
        found = re.search(r"amplitude: (\d+) of 7,200 units spent in the hourly budget", err)
        assert found, err
        return int(found[1])

    (ws / "manifests" / "amplitude.yaml").write_text(MORE_EVENTS, encoding="utf-8")
    after_first = spent_seen_by_a_new_run()
    shutil.rmtree(ws / ".tapsync" / "spend")
    alone = spent_seen_by_a_new_run()      # the same run, its reads only
    assert after_first - alone == first


def spend_file(cfg: Config, creds: Mapping[str, str] = SANDBOX_CREDENTIALS[A]) -> Path:
    return path_for(cfg.state_dir, A, SANDBOX_BASE_URL, creds)


async def reading(sandbox: Sandbox, cfg: Config, wall: Callable[[], float],
                  credentials: Any = SANDBOX_CREDENTIALS) -> tuple[int, int]:
    """One run that only reads: (spent in the hour when it started, what it cost)."""
    async with connect(cfg, (A,), credentials, transport=asgi_transport(sandbox.app),
                       wall=wall) as s:
        before = s.budgets[A].remaining().windows[0].spent
        await read_live(s, State())
        return before, s.clients[A].stats.cost


def test_spends_older_than_the_hour_are_forgotten(tmp_path: Path) -> None:
    sandbox, cfg = Sandbox(), workspace_config(tmp_path)
    _, cost = asyncio.run(reading(sandbox, cfg, lambda: T0))
    assert cost > 0
    assert asyncio.run(reading(sandbox, cfg, lambda: T0 + 3599))[0] == cost
    # the first run's spend is out of the hour now; the second's (at T0 + 3599) is not
    assert asyncio.run(reading(sandbox, cfg, lambda: T0 + 3600 + 1800))[0] == cost
    assert asyncio.run(reading(sandbox, cfg, lambda: T0 + 3 * 3600))[0] == 0
    spends = json.loads(spend_file(cfg).read_text())["spends"]
    assert all(at >= T0 + 2 * 3600 for at, _ in spends)   # the file is pruned too


def test_parallel_runs_on_one_key_add_up(tmp_path: Path) -> None:
    sandbox, cfg = Sandbox(), workspace_config(tmp_path)

    async def go() -> tuple[int, int, int, int]:
        async with connected(sandbox, cfg) as earlier:       # on record when both start
            await read_live(earlier, State())
        async with AsyncExitStack() as runs:
            first = await runs.enter_async_context(connected(sandbox, cfg))
            second = await runs.enter_async_context(connected(sandbox, cfg))
            # both loaded an empty record; the second ends (and writes) first, and the
            # first, ending last, must not overwrite it
            await read_live(first, State())
            await read_live(second, State())
        costs = (earlier.clients[A].stats.cost, first.clients[A].stats.cost,
                 second.clients[A].stats.cost)
        async with connected(sandbox, cfg) as third:
            return (*costs, third.budgets[A].remaining().windows[0].spent)

    before, a, b, seen = asyncio.run(go())
    assert before > 0 and a > 0 and b > 0
    assert seen == before + a + b              # the earlier spend once, not once per run


def test_parallel_runs_never_write_back_the_spend_they_preloaded(tmp_path: Path) -> None:
    # Each run's load takes its own few ms between reading the wall clock and preloading:
    # earlier spends, converted to the budget's clock and back, would come out stamped a
    # little differently by each run, and the record would keep every copy.
    path = tmp_path / "spend" / "amplitude-x.json"
    SpendLog(path, 3600.0).save([(T0 - 100.0, 50)], T0)          # an earlier run spent 50

    def start(load_seconds: float) -> tuple[Budget, SpendLog, ManualClock]:
        clock = ManualClock(1000.0)
        budget = Budget(concurrent=4, windows=[Window(7200, 3600.0)], clock=clock)
        log = SpendLog(path, 3600.0)
        spends = log.load(T0)                  # as connect does: wall clock first, then load
        clock.advance(load_seconds)
        budget.preload(spends, T0)
        return budget, log, clock

    runs = [start(0.004), start(0.007)]
    for budget, log, clock in runs:            # both end 10 s later, neither having spent
        clock.advance(10.0)
        assert budget.spent(budget.windows[0]) == 50
        wall = T0 + clock() - 1000.0
        log.save(budget.ledger(wall), wall)
    assert SpendLog(path, 3600.0).load(T0 + 20) == [(T0 - 100.0, 50)]


@pytest.mark.skipif(sys.platform == "win32", reason="no fcntl: saves are not serialised")
def test_two_runs_saving_at_the_same_moment_both_count(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    path = tmp_path / "spend" / "amplitude-x.json"
    first, second = SpendLog(path, 3600.0), SpendLog(path, 3600.0)
    write = spendlog._write_atomically
    racers: list[threading.Thread] = []

    def the_other_run_ends_now(target: Path, text: str) -> None:
        if not racers:   # the first run has read and merged: the second saves meanwhile
            racer = threading.Thread(target=second.save, args=([(T0 + 2, 3)], T0 + 2))
            racers.append(racer)
            racer.start()
            racer.join(0.5)   # unlocked, it is done by now, and overwritten just below
        write(target, text)

    monkeypatch.setattr(spendlog, "_write_atomically", the_other_run_ends_now)
    first.save([(T0 + 1, 2)], T0 + 2)
    racers[0].join()
    assert SpendLog(path, 3600.0).load(T0 + 3) == [(T0 + 1, 2), (T0 + 2, 3)]


API_KEY = "ak-prod-7Hq2Lw9RtX5mB3nc"
SECRET = "sk_live_9fJ2kQ7xZ3pL8vN4rT6w"


def test_the_record_never_holds_the_credentials(tmp_path: Path) -> None:
    sandbox = Sandbox(create_app(amplitude_credentials=(API_KEY, SECRET)))
    cfg = workspace_config(tmp_path)
    creds = {A: {"api_key": API_KEY, "secret_key": SECRET}}
    _, cost = asyncio.run(reading(sandbox, cfg, lambda: T0, creds))
    assert cost > 0
    (record,) = (cfg.state_dir / "spend").glob("*.json")
    assert record == spend_file(cfg, creds[A])
    assert record != spend_file(cfg)                        # another key, another record
    text = record.name + record.read_text(encoding="utf-8")
    basic = base64.b64encode(f"{API_KEY}:{SECRET}".encode()).decode()
    for form in (API_KEY, SECRET, basic, quote(SECRET), API_KEY[:8], SECRET[:8]):
        assert form not in text


def test_file_names_are_keyed_by_a_slow_hash_with_a_salt_made_once_per_workspace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = {"api_key": API_KEY, "secret_key": SECRET}
    derivations: list[tuple[bytes, bytes, int]] = []
    real = hashlib.pbkdf2_hmac

    def spy(name: str, secret: bytes, salt: bytes, rounds: int) -> bytes:
        derivations.append((secret, salt, rounds))
        return real(name, secret, salt, rounds)

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", spy)   # spendlog calls it through hashlib
    name = path_for(tmp_path / "one", A, SANDBOX_BASE_URL, creds)
    salt_file = tmp_path / "one" / "spend" / ".salt"
    assert stat.S_IMODE(salt_file.stat().st_mode) == 0o600
    salt = salt_file.read_bytes()
    assert path_for(tmp_path / "one", A, SANDBOX_BASE_URL, creds) == name   # kept, reused
    assert salt_file.read_bytes() == salt
    assert path_for(tmp_path / "two", A, SANDBOX_BASE_URL, creds).name != name.name
    # a guess at the key can't be tested without the salt, and costs thousands of rounds
    secret, used_salt, rounds = derivations[0]
    assert used_salt == bytes.fromhex(salt.decode()) and len(used_salt) >= 16
    assert rounds == KDF_ITERATIONS >= 10_000
    assert API_KEY.encode() in secret and SECRET.encode() in secret
    assert name.name == f"{A}-{real('sha256', secret, used_salt, rounds).hex()[:16]}.json"


@pytest.mark.parametrize("damage", ["folder", "not hex", "abcd"])
def test_an_unusable_salt_costs_the_carried_over_spend_with_a_warning_never_the_run(
        tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    sandbox, cfg = Sandbox(), workspace_config(tmp_path)
    salt_file = cfg.state_dir / "spend" / ".salt"
    salt_file.parent.mkdir(parents=True)
    if damage == "folder":
        salt_file.mkdir()
    else:
        salt_file.write_text(damage, encoding="ascii")
    with caplog.at_level(logging.WARNING, logger="tapsync.spend"):
        _, cost = asyncio.run(reading(sandbox, cfg, lambda: T0))
        before, _ = asyncio.run(reading(sandbox, cfg, lambda: T0))
    assert cost > 0 and before == 0       # each run on a fresh salt: nothing carried over
    assert spend_file(cfg) != spend_file(cfg)
    assert any(str(salt_file) in m and "cannot use the salt" in m for m in caplog.messages)
    assert salt_file.is_dir() if damage == "folder" else salt_file.read_text() == damage


@pytest.mark.parametrize("damage", [
    b"{not json", b"\xff\xfe\x00", b"[]", b'{"format_version": 1, "spends": [["x", 2]]}',
    b'{"format_version": 1, "spends": [[1e999, 2]]}', b'{"format_version": 7}', "folder",
])
def test_a_damaged_record_is_set_aside_with_a_warning(tmp_path: Path, damage: bytes | str,
                                                      caplog: pytest.LogCaptureFixture
                                                      ) -> None:
    sandbox, cfg = Sandbox(), workspace_config(tmp_path)
    record = spend_file(cfg)
    record.parent.mkdir(parents=True, exist_ok=True)
    if damage == "folder":
        record.mkdir()                                      # cannot be read nor replaced
    else:
        assert isinstance(damage, bytes)
        record.write_bytes(damage)
    with caplog.at_level(logging.WARNING, logger="tapsync.spend"):
        before, cost = asyncio.run(reading(sandbox, cfg, lambda: T0))
    assert before == 0 and cost > 0                         # the run went on, from empty
    assert any(str(record) in m and "ignoring the record of earlier runs' API spend" in m
               for m in caplog.messages), caplog.messages
    if damage == "folder":
        assert any("could not record this run's API spend" in m for m in caplog.messages)
        return
    spends = json.loads(record.read_text(encoding="utf-8"))["spends"]  # replaced, whole
    assert sum(c for _, c in spends) == cost
