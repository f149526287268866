"""The budget admits a request only when the concurrent and windowed limits leave room.

Everything runs in virtual time (``ManualClock.run``): an hour of waiting costs nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapsync.budget import SENT, STOP, Budget, ManualClock, Tally, Window
from tapsync.errors import Interrupted

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


def test_a_waiting_request_parks_once_not_again_at_every_admission_before_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Only a release makes room for a head that cannot fit, so admitting the request in
    # front of it must not wake it: each spurious wake cost a park (a task, an
    # asyncio.wait and loop turns) on the way from one response to the next request.
    clock, trace = ManualClock(), Trace()
    budget = amplitude(clock)
    parks: list[int] = []
    real_park = Budget._park

    async def counting_park(self: Budget, me: object, stop: asyncio.Event | None) -> None:
        parks.append(id(me))
        await real_park(self, me, stop)  # type: ignore[arg-type]

    monkeypatch.setattr(Budget, "_park", counting_park)

    async def main() -> None:
        await asyncio.gather(*(hold(budget, clock, trace, i, 2, 1.0) for i in range(8)))

    clock.run(main())
    assert [t for t, _, _ in trace.admitted] == [0, 0, 1, 1, 2, 2, 3, 3]  # as before
    assert len(parks) == 6 and len(set(parks)) == 6  # the six that waited, once each


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
    budget = amplitude(clock, rng=lambda: 0.0)
    reasons: list[tuple[float, str]] = []
    budget.on_wait = lambda seconds, reason: reasons.append((seconds, reason))

    async def main() -> None:
        budget.backoff(7.0)
        assert budget.remaining().paused_for == 7.0
        async with budget.spend(1):
            assert clock() == 7.0

    clock.run(main())
    assert reasons == [(7.0, "backoff after a 429")]


@pytest.mark.parametrize(("retry_after", "draw", "pause"), [
    (7.0, 0.5, 7.5),        # jitter up to backoff_base (1 s) for short waits…
    (7.0, 1.0, 8.0),
    (120.0, 0.5, 126.0),    # …and up to a tenth of longer ones
    (0.0, 0.25, 0.25),      # "Retry-After: 0" still spreads the retries out
])
def test_retry_after_gets_a_jitter_on_top_never_less(retry_after: float, draw: float,
                                                      pause: float) -> None:
    budget = Budget(concurrent=4, clock=ManualClock(), rng=lambda: draw)
    budget.backoff(retry_after)
    assert budget.remaining().paused_for == pytest.approx(pause)


def test_parallel_jobs_told_the_same_retry_after_come_back_at_different_times() -> None:
    draws = iter([0.1, 0.7, 0.4])
    clock = ManualClock()
    jobs = [Budget(concurrent=4, clock=clock, rng=lambda: next(draws)) for _ in range(3)]
    for job in jobs:
        job.backoff(30.0)
    pauses = [job.remaining().paused_for for job in jobs]
    assert len(set(pauses)) == 3 and min(pauses) >= 30.0


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
    budget.backoff(5.0)  # a Retry-After still extends the pause (plus its jitter)
    assert budget.remaining().paused_for == 6.0


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


# --- Ctrl-C: the executor's stop event -------------------------------------------------

def test_stop_releases_requests_waiting_for_the_window_without_waiting_the_hour() -> None:
    clock = ManualClock()
    window = Window(4, 3600)
    budget = Budget(concurrent=4, windows=[window], clock=clock, sleep=clock.sleep)
    stop = asyncio.Event()
    outcomes: dict[str, str] = {}

    async def request(name: str, cost: int) -> None:
        STOP.set(stop)  # as the executor does, in the task's own context
        try:
            async with budget.spend(cost):
                outcomes[name] = f"sent at {clock():g}"
                await asyncio.sleep(10)   # an answer that takes a while
        except Interrupted:
            outcomes[name] = f"refused at {clock():g}"

    async def main() -> None:
        async with budget.spend(2):
            pass                                              # the window now holds 2
        in_flight = asyncio.create_task(request("in flight", 2))   # fills it: 4 of 4
        await asyncio.sleep(1)
        head = asyncio.create_task(request("head", 2))        # sleeps ~an hour for room
        behind = asyncio.create_task(request("behind", 1))    # parked behind the head
        await asyncio.sleep(4)
        assert budget.waiting == 2
        stop.set()
        await asyncio.gather(in_flight, head, behind)

    clock.run(main())
    assert outcomes == {"in flight": "sent at 0", "head": "refused at 5",
                        "behind": "refused at 5"}
    assert clock() == 10.0            # the call in flight finished; nobody waited the hour
    assert clock.sleeps == [3599.0]   # the head really was waiting for the hourly window
    assert budget.waiting == 0 and budget.in_flight == 0
    assert budget.spent(window) == 4  # the refused requests never counted


def test_stop_already_set_refuses_at_once_and_no_stop_waits_as_before() -> None:
    clock = ManualClock()
    budget = Budget(concurrent=None, windows=[Window(2, 60)], clock=clock, sleep=clock.sleep)
    stop = asyncio.Event()
    stop.set()

    async def refused() -> None:
        STOP.set(stop)
        with pytest.raises(Interrupted):
            async with budget.spend(1):
                pass

    async def main() -> None:
        await asyncio.create_task(refused())
        for _ in range(3):          # no STOP in this context: the third waits a minute
            async with budget.spend(1):
                pass

    clock.run(main())
    assert clock() == 60.0


def test_sent_tallies_only_the_calls_admitted_in_its_own_context() -> None:
    clock = ManualClock()
    budget = amplitude(clock)
    tallies = [Tally(), Tally()]

    async def work(tally: Tally, calls: int) -> None:
        SENT.set(tally)
        for _ in range(calls):
            async with budget.spend(1):
                pass

    async def main() -> None:
        await asyncio.gather(work(tallies[0], 3), work(tallies[1], 1))
        async with budget.spend(1):   # no tally here
            pass

    clock.run(main())
    assert [t.calls for t in tallies] == [3, 1]


# --- the ledger carried between runs --------------------------------------------------

def test_a_second_run_preloaded_with_the_ledger_waits_as_the_first_would_have() -> None:
    first_clock = ManualClock(start=500.0)      # monotonic clocks of two processes …
    window = Window(10, 3600)
    first = Budget(concurrent=None, windows=[window], clock=first_clock,
                   sleep=first_clock.sleep)

    async def spend(budget: Budget, clock: ManualClock, costs: list[int]) -> None:
        for cost in costs:
            async with budget.spend(cost):
                pass
            clock.advance(100)

    first_clock.run(spend(first, first_clock, [2, 3, 1]))  # at 500, 600, 700
    wall = 1_700_000_000.0                                  # … and one wall clock
    ledger = first.ledger(wall)
    assert ledger == [(wall - 300, 2), (wall - 200, 3), (wall - 100, 1)]

    second_clock = ManualClock(start=9.0)
    second = Budget(concurrent=None, windows=[window], clock=second_clock,
                    sleep=second_clock.sleep)
    second.preload(ledger, wall + 600)           # ten minutes later, another process
    assert second.spent(window) == 6
    assert second.remaining().windows[0].available == 4
    assert second.wait_estimate(5) == 3600 - 900  # the first spend (15 min ago) must expire
    assert second.ledger(wall + 600) == []       # on record already, and not its own


def test_the_ledger_gives_only_this_runs_own_spends_never_the_preloaded_ones() -> None:
    # Preloaded stamps converted to this clock and back come out shifted by however long
    # the load took; merged with the record they came from, they would count twice.
    clock = ManualClock(start=1000.0)
    budget = Budget(concurrent=None, windows=[Window(100, 3600)], clock=clock,
                    sleep=clock.sleep)
    wall = 1_800_000_000.0
    budget.preload([(wall - 100, 50)], wall - 0.004)   # the load took 4 ms after wall()

    async def main() -> None:
        async with budget.spend(3):
            clock.advance(1.5)
            assert budget.ledger(wall + 1) == [(wall + 1, 3)]   # in flight: as if now
        clock.advance(8.5)

    clock.run(main())
    assert budget.spent(budget.windows[0]) == 53            # both count in the window …
    assert budget.ledger(wall + 10) == [(wall + 1.5, 3)]    # … only its own is given back


def test_preload_drops_what_left_the_window_and_counts_a_future_stamp_as_now() -> None:
    clock = ManualClock()
    hour, minute = Window(100, 3600), Window(5, 60, weighted=False)
    budget = Budget(concurrent=None, windows=[hour, minute], clock=clock)
    now = 50_000.0
    budget.preload([(now - 4000, 7), (now - 3000, 5), (now - 30, 2), (now + 999, 1)], now)
    assert budget.spent(hour) == 8       # 7 is older than the hour
    assert budget.spent(minute) == 2     # requests in the last minute: the 2 and the "future"
    assert budget.ledger(now) == []      # earlier runs' spends stay where they came from
    clock.advance(60)
    assert budget.spent(minute) == 0 and budget.spent(hour) == 8


def test_a_budget_without_windows_has_nothing_to_carry_over() -> None:
    budget = Budget(concurrent=4, clock=ManualClock())

    async def main() -> None:
        async with budget.spend(2):
            pass

    asyncio.run(main())
    assert budget.ledger(1000.0) == []


def test_wait_estimate_when_exhausted_is_the_pause_an_oversized_plan_will_meet() -> None:
    clock = ManualClock()
    window = Window(100, 3600)
    budget = Budget(concurrent=None, windows=[window], reserve=10, clock=clock)
    assert budget.wait_estimate(1, exhausted=True) == 3600.0   # all of it spent just now

    async def main() -> None:
        async with budget.spend(30):
            pass

    asyncio.run(main())
    clock.advance(19 * 60)
    assert budget.wait_estimate(1) == 0.0
    assert budget.wait_estimate(1, exhausted=True) == 41 * 60  # when the 30 expire
