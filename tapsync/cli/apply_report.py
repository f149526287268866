"""How an apply looks while and after it runs: progress, Ctrl-C, budgets, the outcome.

Split from :mod:`tapsync.cli.plan_apply` so the commands read as the sequence of steps
and this module holds the wording. ``announce_waits`` serves plan too: with the spend of
earlier runs remembered, even a plan's reads can meet a full budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn

import click

from tapsync import engine
from tapsync.budget import Budget
from tapsync.changes import Plan
from tapsync.cli.common import Options
from tapsync.errors import ApplyFailed, Interrupted
from tapsync.executor import ApplyResult, ChangeResult, Journal


async def run_with_progress(session: engine.Session, the_plan: Plan, journal: Journal,
                             opts: Options, stop: asyncio.Event) -> ApplyResult:
    """Apply with a progress bar on a terminal; Ctrl-C lets in-flight calls finish."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
        loop.add_signal_handler(signal.SIGINT, _on_ctrl_c(stop, opts, journal))
    total = the_plan.total_cost  # a manual change costs nothing: it is never attempted
    bar_wanted = sys.stderr.isatty() and opts.verbosity >= 0
    with click.progressbar(length=max(total, 1), label="Applying", file=sys.stderr,
                           show_eta=True, show_percent=True) if bar_wanted \
            else _NoBar() as bar:

        def progress(res: ChangeResult, done: int, _total: int) -> None:
            bar.update(res.change.cost)
            if res.status == "failed" or (not bar_wanted and opts.verbosity > 0):
                opts.out.info(f"{res.change.key.address}: {res.status} {res.message}")

        try:
            return await engine.apply_plan(session, the_plan, journal=journal,
                                           progress=progress, stop=stop)
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)


class _NoBar:
    """Stands in for click's progress bar when stderr is not a terminal (CI logs, pipes),
    where a redrawn bar would be noise."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _on_ctrl_c(stop: asyncio.Event, opts: Options, journal: Journal) -> Callable[[], None]:
    """The first Ctrl-C stops new calls and lets those in flight finish (exit 130 then);
    a second one quits at once, as Ctrl-C does by default, for whoever cannot wait."""
    def on_sigint() -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # propagates out of the event loop (asyncio lets it)
        stop.set()
        where = f" The journal is {journal.path}." if journal.path is not None else ""
        opts.out.info("\nInterrupted: starting no new calls; waiting for the ones in flight "
                      f"to finish (press Ctrl-C again to quit at once).{where}")
    return on_sigint


def budget_spent(provider: str, budget: Budget) -> list[str]:
    """``amplitude: 29 of 7,200 units spent in the hourly budget …``, one per weighted
    window: what this run's reads and earlier runs with the key already used."""
    return [f"{provider}: {use.spent:,} of {use.window.limit:,} units spent in the "
            f"{use.window.describe()} (this run's reads and earlier runs with this key); "
            f"{use.available:,} left" for use in budget.remaining().windows
            if use.window.weighted]


def budget_warnings(budgets: Mapping[str, Budget], the_plan: Plan) -> list[str]:
    """One warning per provider whose share of the plan is more than its budget has left."""
    out: list[str] = []
    for name, budget in sorted(budgets.items()):
        cost = the_plan.costs[name].writes if name in the_plan.costs else 0
        warning = over_budget(name, cost, budget)
        if warning is not None:
            out.append(warning)
    return out


def over_budget(provider: str, cost: int, budget: Budget) -> str | None:
    """Say up front when ``cost`` is more than a weighted window has left, and for how
    long the apply will then pause: better than finding a silent hour-long wait midway.

    "Left" already excludes the reserve and what was spent in the window so far (this
    run's reads, and earlier runs with the same key, see :mod:`tapsync.spendlog`).
    """
    if cost <= 0:
        return None
    state = budget.remaining()
    for use in state.windows:
        if not use.window.weighted or cost <= use.available:
            continue
        window = use.window
        hourly = window.seconds == 3600
        which = "this hour's budget" if hourly else f"the {window.describe()}"
        spent_in = "in the last hour" if hourly else f"in the last {window.seconds:g} s"
        less = [f"reserve {budget.reserve:,}"] if budget.reserve else []
        less += [f"{use.spent:,} spent {spent_in}"] if use.spent else []
        why = f" ({window.limit:,} − " + " − ".join(less) + ")" if less else ""
        pause = budget.wait_estimate(1, exhausted=True)
        return (f"{provider}: this plan costs {cost:,} units, more than the "
                f"{use.available:,} left in {which}{why}; apply will pause about "
                f"{_duration(pause)} when the budget runs out")
    return None


def announce_waits(session: engine.Session, opts: Options) -> None:
    """Say on stderr when a budget makes a call wait a second or more: with the spend of
    earlier runs remembered (:mod:`tapsync.spendlog`), even a plan can meet a full hour."""
    for name, budget in session.budgets.items():
        budget.on_wait = _waiter(opts, name)


def _waiter(opts: Options, provider: str) -> Callable[[float, str], None]:
    def on_wait(seconds: float, reason: str) -> None:
        if seconds >= 1:
            opts.out.info(f"{provider}: waiting {_duration(seconds)} for the {reason}")
    return on_wait


def _duration(seconds: float) -> str:
    """Seconds for short waits, minutes for long ones: how a person reads a pause."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def report_apply(opts: Options, the_plan: Plan, result: ApplyResult, after: Plan,
                 journal_path: Path | None) -> None:
    """What apply did, on stdout; raises (exit 1) when a change failed or did not converge."""
    if not result.results:
        click.echo("No changes to apply.")
        return
    if result.interrupted:
        _report_interrupted(opts, result, journal_path)
    ok = len(result.applied)
    failed = [r for r in result.results if r.status == "failed"]
    skipped = [r for r in result.results if r.status == "skipped"]
    manual = [r for r in result.results if r.status == "manual"]
    click.echo(opts.style(f"Apply complete: {ok} applied, {len(failed)} failed, "
                              f"{len(skipped)} skipped", bold=True)
               + (f", {len(manual)} left for a person." if manual else "."), color=opts.color)
    for r in failed:
        click.echo(opts.style("  failed ", fg="red") + f"{r.change.key.address}: {r.message}",
                   color=opts.color)
    for r in skipped:
        click.echo(f"  skipped {r.change.key.address}: {r.message}")
    if journal_path is not None:
        opts.out.info(f"Journal: {journal_path}")
    if failed or skipped:
        raise ApplyFailed(f"{len(failed) + len(skipped)} change(s) did not apply; "
                          "the others did (see above)")
    if after.changes:
        lines = [f"{c.key.address}: " + (", ".join(f.label for f in c.fields) or c.action.value)
                 for c in after.changes]
        raise ApplyFailed("applied, but these did not converge (the service holds other "
                          "values than were written):\n  " + "\n  ".join(lines))
    opts.out.info(opts.out.style("Converged: a new plan shows no changes.", fg="green"))


def _report_interrupted(opts: Options, result: ApplyResult, journal_path: Path | None
                        ) -> NoReturn:
    """After Ctrl-C: what was applied, what was not (never started), what stopped partway
    or failed, and where the journal is; then exit 130."""
    ok = len(result.applied)
    failed = [r for r in result.results if r.status == "failed"]
    not_started = [r for r in result.results if r.not_started]
    other = [r for r in result.results if r.status == "skipped" and not r.not_started]
    counts = [f"{ok} applied", f"{len(not_started)} not applied"]
    counts += [f"{len(other)} stopped partway or skipped"] if other else []
    counts += [f"{len(failed)} failed"] if failed else []
    click.echo(opts.style("Apply interrupted: " + ", ".join(counts) + ".", bold=True),
               color=opts.color)
    for r in failed:
        click.echo(opts.style("  failed ", fg="red") + f"{r.change.key.address}: {r.message}",
                   color=opts.color)
    for r in other:
        click.echo(f"  skipped {r.change.key.address}: {r.message}")
    for r in not_started:
        click.echo(f"  not applied {r.change.key.address}")
    missed = len(not_started) + len(other) + len(failed)
    where = f"; the journal is {journal_path}" if journal_path is not None else ""
    raise Interrupted(f"interrupted (Ctrl-C) after the calls in flight finished: {ok} "
                      f"change(s) applied, {missed} not{where}; plan again to see what "
                      "is left")
