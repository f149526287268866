"""The budget admits a request only when the concurrent and windowed limits leave room.

Everything runs in virtual time (``ManualClock.run``): an hour of waiting costs nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapsync.budget import Budget, ManualClock, Window

HOUR = Window(limit=7200, seconds=3600)


def amplitude(clock: ManualClock, **kw: object) -> Budget:
    return Budget(concurrent=4, windows=[HOUR], clock=clock, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


@dataclass
class Trace:
    """What a run of requests did: admissions (time, cost, arrival index) and peak load."""

    admitted: list[tuple[float, int, int]] = field(default_factory=list)
    released: dict[int, float] = field(default_factory=dict)
    peak: int = 0


async def hold(budget: Budget, clock: ManualClock, trace: Trace, index: int, cost: int,
               seconds: float) -> None:
    async with budget.spend(cost):
        trace.admitted.append((clock(), cost, index))
        trace.peak = max(trace.peak, budget.in_flight)
        await asyncio.sleep(seconds)
    trace.released[index] = clock()


def test_cost_in_flight_never_exceeds_the_concurrent_limit() -> None:
    clock, trace = ManualClock(), Trace()
    budget = amplitude(clock)

    async def main() -> None:
        await asyncio.gather(*(hold(budget, clock, trace, i, 1 + i % 2, 0.5 + i % 3)
                               for i in range(40)))

    clock.run(main())
    assert trace.peak == 4
    assert len(trace.admitted) == 40
    assert budget.in_flight == 0


def test_a_full_hourly_window_waits_until_the_oldest_spend_expires() -> None:
    clock, trace = ManualClock(start=100.0), Trace()
    budget = Budget(concurrent=None, windows=[Window(10, 3600)], clock=clock, sleep=clock.sleep)
    waits: list[tuple[float, str]] = []
    budget.on_wait = lambda seconds, reason: waits.append((seconds, reason))

    async def main() -> None:
        await asyncio.gather(*(hold(budget, clock, trace, i, 2, 1.0) for i in range(6)))

    clock.run(main())
    assert [t for t, _, _ in trace.admitted] == [100.0] * 5 + [3701.0]
    assert waits == [(3600.0, "hourly budget")]


def test_a_spend_counts_until_a_full_window_after_its_answer() -> None:
    # The service may have received a slow request just before it answered, so the
    # window it occupies there can end as late as `seconds` after the answer.
    clock, trace = ManualClock(), Trace()
    budget = Budget(concurrent=None, windows=[Window(1, 10)], clock=clock, sleep=clock.sleep)

    async def main() -> None:
        await hold(budget, clock, trace, 0, 1, 5.0)
        await hold(budget, clock, trace, 1, 1, 0.0)

    clock.run(main())
    assert [t for t, _, _ in trace.admitted] == [0.0, 15.0]


def test_reserve_is_kept_free_in_every_window() -> None:
    clock = ManualClock()
    budget = Budget(concurrent=None, windows=[Window(10, 60)], reserve=3, clock=clock,
                    sleep=clock.sleep)

    async def main() -> None:
        for _ in range(7):
            async with budget.spend(1):
                pass
        assert clock() == 0.0
        async with budget.spend(1):
            assert clock() == 60.0

    clock.run(main())


def test_unweighted_windows_count_requests_not_cost() -> None:
    clock = ManualClock()
    per_minute = Window(3, 60, weighted=False)
    budget = Budget(concurrent=None, windows=[per_minute], clock=clock)
    assert budget.wait_estimate(5) == 0.0

    async def main() -> None:
        for _ in range(3):
            async with budget.spend(5):
                pass

    asyncio.run(main())
    assert budget.spent(per_minute) == 3
    assert budget.wait_estimate(1) == 60.0
    clock.advance(60)
    assert budget.spent(per_minute) == 0


def test_several_windows_wait_for_the_slowest() -> None:
    clock = ManualClock()
    minute, hour = Window(2, 60, weighted=False), Window(3, 3600, weighted=False)
    budget = Budget(concurrent=None, windows=[minute, hour], clock=clock, sleep=clock.sleep)
    waits: list[str] = []
    budget.on_wait = lambda seconds, reason: waits.append(f"{seconds:g} {reason}")
    times: list[float] = []

    async def main() -> None:
        for _ in range(4):
            async with budget.spend(1):
                times.append(clock())

    clock.run(main())
    assert times == [0.0, 0.0, 60.0, 3600.0]
    assert waits == ["60 per-minute budget", "3540 hourly budget"]


@pytest.mark.parametrize(("kwargs", "cost", "words"), [
    ({"concurrent": 4}, 5, "exceeds the concurrent limit 4"),
    ({"concurrent": None, "windows": [Window(10, 60)], "reserve": 2}, 9, "of 8 (limit - reserve)"),
    ({"concurrent": 4}, 0, "must be >= 1"),
])
def test_a_request_that_could_never_fit_is_refused_not_deadlocked(
        kwargs: dict[str, object], cost: int, words: str) -> None:
    budget = Budget(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        budget.spend(cost)
    with pytest.raises(ValueError):
        budget.wait_estimate(cost)


@pytest.mark.parametrize("kwargs", [
    {"concurrent": 0},
    {"concurrent": 4, "reserve": -1},
    {"concurrent": 4, "windows": [Window(10, 60)], "reserve": 10},
])
def test_impossible_budgets_are_refused_when_built(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Budget(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("limit", "seconds"), [(0, 60), (10, 0), (10, float("inf"))])
def test_impossible_windows_are_refused(limit: int, seconds: float) -> None:
    with pytest.raises(ValueError):
        Window(limit, seconds)


def test_a_big_request_is_not_starved_by_later_small_ones() -> None:
    clock, trace = ManualClock(), Trace()
    budget = amplitude(clock)

    async def main() -> None:
        early = [asyncio.create_task(hold(budget, clock, trace, i, 1, 1.0 + i)) for i in range(3)]
        await asyncio.sleep(0.1)
        big = asyncio.create_task(hold(budget, clock, trace, 99, 4, 1.0))
        await asyncio.sleep(0.1)
        late = [asyncio.create_task(hold(budget, clock, trace, 100 + i, 1, 1.0))
                for i in range(10)]
        await asyncio.gather(*early, big, *late)

    clock.run(main())
    order = [index for _, _, index in trace.admitted]
    assert order.index(99) == 3
    assert [t for t, _, index in trace.admitted if index == 99] == [3.0]


def test_cancelling_a_waiting_request_releases_nothing_it_did_not_take() -> None:
    clock = ManualClock()
    budget = amplitude(clock)

    async def main() -> None:
        async with budget.spend(3):
            held = [budget.spend(2), budget.spend(1)]  # kept alive: not finalised early
            waiting = asyncio.create_task(held[0].__aenter__())
            behind = asyncio.create_task(held[1].__aenter__())
            await asyncio.sleep(1)
            assert budget.waiting == 2
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            await asyncio.sleep(0.001)
            assert behind.done() and budget.in_flight == 4  # the next in line moved up
        assert budget.in_flight == 1
        assert budget.waiting == 0
        assert budget.spent(HOUR) == 4  # the cancelled request never counted

    clock.run(main())


def test_cancelling_a_request_sleeping_on_the_window_records_no_spend() -> None:
    clock = ManualClock()
    window = Window(2, 60)
    budget = Budget(concurrent=None, windows=[window], clock=clock, sleep=clock.sleep)

    async def main() -> None:
        async with budget.spend(2):
            pass
        held = budget.spend(1)
        task = asyncio.create_task(held.__aenter__())
        await asyncio.sleep(30)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert budget.waiting == 0
        await asyncio.sleep(30)
        assert budget.spent(window) == 0
        async with budget.spend(2):
            assert clock() == 60.0

    clock.run(main())


def test_backoff_with_retry_after_pauses_new_admissions() -> None:
    clock = ManualClock()
    budget = amplitude(clock)
    reasons: list[tuple[float, str]] = []
    budget.on_wait = lambda seconds, reason: reasons.append((seconds, reason))

    async def main() -> None:
        budget.backoff(7.0)
        assert budget.remaining().paused_for == 7.0
        async with budget.spend(1):
            assert clock() == 7.0

    clock.run(main())
    assert reasons == [(7.0, "backoff after a 429")]


def test_backoff_without_retry_after_grows_with_jitter_and_resets_when_quiet() -> None:
    clock = ManualClock()
    budget = Budget(concurrent=4, clock=clock, backoff_base=1.0, backoff_cap=8.0, rng=lambda: 1.0)
    pauses = []
    for _ in range(6):
        budget.backoff(None)
        pauses.append(budget.remaining().paused_for)
        clock.advance(pauses[-1])
    assert pauses == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    clock.advance(8.0)
    budget.backoff(None)
    assert budget.remaining().paused_for == 1.0

    low = Budget(concurrent=4, clock=clock, backoff_base=4.0, rng=lambda: 0.0)
    low.backoff(None)
    assert low.remaining().paused_for == 2.0  # jitter spans [base/2, base]


def test_several_429s_of_one_incident_do_not_escalate() -> None:
    clock = ManualClock()
    budget = Budget(concurrent=4, clock=clock, backoff_base=1.0, rng=lambda: 1.0)
    for _ in range(4):  # four requests in flight all come back 429
        budget.backoff(None)
    assert budget.remaining().paused_for == 1.0
    budget.backoff(5.0)  # a Retry-After still extends the pause
    assert budget.remaining().paused_for == 5.0


def test_wait_estimate_and_remaining_describe_the_windows() -> None:
    clock = ManualClock()
    window = Window(10, 100)
    budget = Budget(concurrent=8, windows=[window], reserve=2, clock=clock)

    async def main() -> None:
        for cost in (2, 2, 4):
            async with budget.spend(cost):
                pass
            clock.advance(10)

    asyncio.run(main())
    state = budget.remaining()
    assert (state.in_flight, state.concurrent_available) == (0, 8)
    assert (state.windows[0].spent, state.windows[0].available) == (8, 0)
    assert budget.wait_estimate(1) == 70.0  # the first spend (t=0) expires at t=100
    assert budget.wait_estimate(3) == 80.0
    assert budget.wait_estimate(4) == 80.0
    assert budget.wait_estimate(5) == 90.0


def test_manual_clock_wakes_concurrent_sleepers_in_order() -> None:
    clock = ManualClock()
    woke: list[tuple[str, float]] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock()))

    async def main() -> None:
        await asyncio.gather(nap("long", 3600), nap("short", 1), nap("mid", 60))

    clock.run(main())
    assert woke == [("short", 1.0), ("mid", 60.0), ("long", 3600.0)]
    assert sorted(clock.sleeps) == [1, 60, 3600]


def test_manual_clock_sleep_refuses_to_run_on_a_real_loop() -> None:
    with pytest.raises(RuntimeError, match=r"ManualClock\.run"):
        asyncio.run(ManualClock().sleep(1))


requests = st.lists(st.tuples(st.floats(0, 30), st.integers(1, 4), st.floats(0, 20)),
                    min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(requests=requests, concurrent=st.integers(4, 6),
       limit=st.integers(8, 20), seconds=st.sampled_from([10.0, 60.0, 3600.0]),
       weighted=st.booleans(), reserve=st.integers(0, 4),
       pause=st.one_of(st.none(), st.tuples(st.floats(0, 50), st.floats(0, 30))))
def test_property_limits_hold_and_every_request_is_served_in_arrival_order(
        requests: list[tuple[float, int, float]], concurrent: int, limit: int, seconds: float,
        weighted: bool, reserve: int, pause: tuple[float, float] | None) -> None:
    clock, trace = ManualClock(), Trace()
    window = Window(limit, seconds, weighted)
    cap = limit - reserve
    budget = Budget(concurrent=concurrent, windows=[window], reserve=reserve, clock=clock,
                    sleep=clock.sleep)
    arrivals: list[int] = []

    async def arrive(index: int, at: float, cost: int, duration: float) -> None:
        await asyncio.sleep(at)
        arrivals.append(index)
        await hold(budget, clock, trace, index, cost, duration)

    async def throttle(at: float, retry_after: float) -> None:
        await asyncio.sleep(at)
        budget.backoff(retry_after)

    async def main() -> None:
        jobs = [arrive(i, at, cost, d) for i, (at, cost, d) in enumerate(requests)]
        if pause is not None:
            jobs.append(throttle(*pause))
        await asyncio.wait_for(asyncio.gather(*jobs), timeout=10 * 3600 * len(requests))

    clock.run(main())

    assert trace.peak <= concurrent
    assert [index for _, _, index in trace.admitted] == arrivals  # strict FIFO, all served
    # The service sees each request at some moment between its admission and its
    # release, so it may count it in any window overlapping [admitted, released + seconds).
    spans = [(t, trace.released[i] + seconds, window.units(cost))
             for t, cost, i in trace.admitted]
    for t, _, _ in spans:  # the busiest moment is always some admission
        assert sum(u for start, end, u in spans if start <= t < end) <= cap
    if pause is not None:
        start, length = pause
        assert not [t for t, _, _ in spans if start < t < start + length]
