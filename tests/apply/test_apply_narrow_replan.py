"""Property: before any apply, the narrowed re-plan equals the full targeted re-plan.

``converge`` (and the stale check) read only around the touched objects
(``engine.read_touched``) and target the re-plan at them. The convergence property in
``test_apply_convergence`` compares that with a full read only once converged, where both
are empty; here the plan has not run yet, so every change must come out of the narrowed
read exactly as out of a full one: with and without ``prune`` (which reads more kinds).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tapsync.engine import converge, make_plan, read_live
from tests.apply.support import Sandbox, connected, describe, plan_only, workspace_config
from tests.apply.test_apply_convergence import Scenario, scenarios
from tests.conftest import run


@pytest.mark.parametrize("safety", ["", "safety:\n  prune: true\n"], ids=["plain", "prune"])
@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenario=scenarios())
def test_the_narrowed_re_plan_equals_the_full_one_before_applying(
        tmp_path: Path, safety: str, scenario: Scenario) -> None:
    sandbox = Sandbox()

    async def go() -> tuple[list[str], list[str], list[str]]:
        await sandbox.fixtures(scenario.live)
        async with connected(sandbox, workspace_config(tmp_path, safety)) as s:
            plan = await plan_only(s, scenario.desired)
            narrowed = await converge(s, scenario.desired, plan)
            full = make_plan(s, scenario.desired, await read_live(s, scenario.desired),
                             targets=[c.key for c in plan.changes])
            return describe(plan), describe(narrowed), describe(full)

    plan, narrowed, full = run(go())
    assert narrowed == full, f"plan: {plan}"
