"""The cost limiter against a straightforward model, on random call sequences."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tapsync.sandbox import ManualClock
from tapsync.sandbox.limits import CostLimiter

Step = tuple[str, int]
steps = st.lists(st.one_of(
    st.tuples(st.just("acquire"), st.sampled_from([1, 2])),
    st.tuples(st.just("release"), st.integers(0, 20)),
    st.tuples(st.just("advance"), st.integers(0, 2000)),
), max_size=60)


@settings(max_examples=200)
@given(steps)
def test_limiter_matches_the_model(sequence: list[Step]) -> None:
    clock = ManualClock(0.0)
    limiter = CostLimiter(clock, concurrent_cost=4, hourly_cost=12)
    held: list[int] = []  # costs in flight
    spent: list[tuple[float, int]] = []  # (when, cost) admitted
    peak = 0
    for action, value in sequence:
        if action == "advance":
            clock.advance(value)
        elif action == "release":
            if held:
                limiter.release("k", held.pop(value % len(held)))
        else:
            now = clock.now()
            window = sum(c for t, c in spent if t > now - 3600)
            admit = sum(held) + value <= 4 and window + value <= 12
            refusal = limiter.acquire("k", value)
            assert (refusal is None) == admit, (sequence, held, window)
            if refusal is not None:
                assert refusal.retry_after >= 1
                assert refusal.limit == ("concurrent" if sum(held) + value > 4 else "hourly")
            else:
                held.append(value)
                spent.append((now, value))
                peak = max(peak, sum(held))
    snapshot = limiter.snapshot().get("k")
    if snapshot is not None:
        assert snapshot["cost_in_flight"] == sum(held)
        assert snapshot["max_cost_in_flight"] == peak <= 4
        assert snapshot["cost_spent"] == sum(c for _, c in spent)
