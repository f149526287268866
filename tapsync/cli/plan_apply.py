"""``tapsync plan`` and ``tapsync apply``: one module because apply plans first, exactly
as plan does (``_read_and_plan``, ``_guards``), unless it is given a saved plan.

How an apply shows progress, handles Ctrl-C and reports its outcome is in
:mod:`tapsync.cli.apply_report`, so this module reads as the sequence of steps.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from tapsync import engine, policy
from tapsync.changes import Action, Plan
from tapsync.cli.apply_report import (
    announce_waits,
    budget_spent,
    budget_warnings,
    report_apply,
    run_with_progress,
)
from tapsync.cli.common import (
    Options,
    Prepared,
    check_writable,
    common_options,
    make_options,
    plan_binding,
    prepare,
    write_atomically,
)
from tapsync.errors import PlanRefused, UsageError
from tapsync.executor import ApplyResult, Journal
from tapsync.model import ResourceKey, State
from tapsync.planfile import plan_from_dict, plan_to_dict
from tapsync.render import render_plan


def _parse_targets(targets: Sequence[str]) -> list[ResourceKey]:
    """--target addresses, parsed before anything is read, so a typo costs no API call.

    An unknown provider or kind can match nothing, ever: planning with it would read every
    collection and print "No changes", which a script takes for success. It is a usage
    error instead. A well-formed address that names no object is only known after reading,
    and is warned of then (:func:`_warn_unmatched_targets`).
    """
    keys = [ResourceKey.parse(t) for t in targets]
    specs = engine.all_specs()
    providers = sorted({p for p, _ in specs})
    for key in keys:
        if key.provider not in providers:
            raise UsageError(f"--target {key.address}: unknown provider {key.provider!r} "
                             f"(known: {', '.join(providers)})")
        if (key.provider, key.kind) not in specs:
            kinds = sorted(k for p, k in specs if p == key.provider)
            raise UsageError(f"--target {key.address}: {key.provider} has no kind "
                             f"{key.kind!r} (known: {', '.join(kinds)})")
    return keys


def _warn_unmatched_targets(opts: Options, plan: Plan, keys: Sequence[ResourceKey]) -> None:
    """Repeat on stderr the planner's warning that a --target matched no declared or live
    object: the plan's own warning sits in the report, which a script may not show."""
    wanted = {k.address for k in keys}
    for w in plan.warnings:
        if w.address in wanted and "--target" in w.message:
            opts.out.info(opts.out.style("warning: ", fg="yellow") + f"{w.address}: {w.message}")


async def _read_and_plan(prep: Prepared, session: engine.Session,
                         targets: Sequence[ResourceKey]) -> tuple[State, Plan]:
    """Live state, then the plan against it: the first half of both plan and apply."""
    prep.opts.out.debug(f"reading live state of {', '.join(prep.names) or 'no provider'}…")
    announce_waits(session, prep.opts)
    live = await engine.read_live(session, prep.desired)
    return live, engine.make_plan(session, prep.desired, live, targets)


def _guards(prep: Prepared, plan: Plan, live: State, *, force: bool) -> list[str]:
    """The workspace's safety limits (tapsync.yaml ``safety:``) applied to this plan."""
    s = prep.config.safety
    return policy.check_safety(plan, live, max_delete_percent=s.max_delete_percent,
                               max_update_percent=s.max_update_percent,
                               min_existing=s.min_existing, force=force)


@click.command()
@common_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "github"]),
              default="text", show_default=True, help="How to print the plan on stdout.")
@click.option("--out", "out_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Also save the plan (JSON) for 'tapsync apply FILE'.")
@click.option("--target", "targets", metavar="ADDRESS", multiple=True,
              help='Plan only this object (and what it needs), e.g. '
                   "'amplitude.event_type[\"Play Song\"]'. Repeatable.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 when there are no changes, 2 when there are, 1 on error.")
def plan(config: str | None, sandbox: bool, env_name: str | None, verbose: int, quiet: int,
         no_color: bool, fmt: str, out_file: str | None, targets: Sequence[str],
         detailed_exitcode: bool) -> None:
    """Read live state and show what apply would change, and what it costs.

    Only providers that a manifest uses are contacted. The plan lists creates, updates,
    renames, restores, deletes (tombstones and prune only), sends, and differences a person
    must make by hand, then unmanaged live objects, warnings, and the API cost.
    """
    opts = make_options(config, sandbox, env_name, verbose, quiet, no_color)
    keys = _parse_targets(targets)
    if out_file:
        check_writable(Path(out_file))
    prep = prepare(opts)

    async def go() -> tuple[State, Plan]:
        async with engine.connect(prep.config, prep.names, prep.credentials,
                                  transport=prep.transport) as session:
            return await _read_and_plan(prep, session, keys)

    live, the_plan = asyncio.run(go())
    render_plan(fmt, the_plan, sys.stdout, color=opts.color and fmt == "text",
                desired=prep.desired, base=str(Path.cwd()))
    _warn_unmatched_targets(opts, the_plan, keys)
    refusals = _guards(prep, the_plan, live, force=False)
    for r in refusals:
        opts.out.info(opts.out.style("Safety: ", fg="yellow") + r)
    if out_file:
        doc = plan_to_dict(the_plan)
        doc["refusals"] = refusals
        doc["made_for"] = plan_binding(prep)
        write_atomically(Path(out_file), json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        opts.out.info(f"Saved the plan to {out_file}; apply exactly it with "
                      f"'tapsync apply {out_file}'.")
    if the_plan.errors:
        raise PlanRefused(f"the plan has {len(the_plan.errors)} error(s); it cannot be applied "
                          "as written")
    if detailed_exitcode and the_plan.changes:
        raise SystemExit(2)


@click.command()
@common_options
@click.argument("planfile", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--max-cost", type=click.IntRange(min=0), metavar="N",
              help="Refuse plans whose writes cost more than N API units.")
@click.option("--allow-send", is_flag=True,
              help="Allow sending push notifications (irreversible).")
@click.option("--force", is_flag=True, help="Apply past the safety guards.")
@click.option("--target", "targets", metavar="ADDRESS", multiple=True,
              help="Apply only this object (and what it needs). Repeatable.")
def apply(config: str | None, sandbox: bool, env_name: str | None, verbose: int, quiet: int,
          no_color: bool, planfile: str | None, auto_approve: bool, max_cost: int | None,
          allow_send: bool, force: bool, targets: Sequence[str]) -> None:
    """Apply the changes a plan shows, inside each API's budget.

    Without PLANFILE: plans, shows the plan and asks for confirmation (a non-interactive
    stdin needs --auto-approve). With PLANFILE (from 'plan --out'): applies exactly that
    plan, after checking that the live objects it touches have not changed since.
    Afterwards the touched objects are read again and must match the manifests.
    """
    opts = make_options(config, sandbox, env_name, verbose, quiet, no_color)
    saved: Plan | None = None
    saved_refusals: list[str] = []
    made_for: dict[str, Any] | None = None
    if planfile:
        if targets:
            raise UsageError("--target cannot narrow a saved plan; plan again with --target")
        saved, saved_refusals, made_for = _load_planfile(Path(planfile))
    keys = _parse_targets(targets)
    prep = prepare(opts, saved, made_for)
    stop = asyncio.Event()

    async def go() -> tuple[Plan, ApplyResult, Plan, Path | None]:
        async with engine.connect(prep.config, prep.names, prep.credentials,
                                  transport=prep.transport) as session:
            announce_waits(session, opts)
            if saved is None:
                live, the_plan = await _read_and_plan(prep, session, keys)
                render_plan("text", the_plan, sys.stdout, color=opts.color)
                _warn_unmatched_targets(opts, the_plan, keys)
                refusals = _guards(prep, the_plan, live, force=force)
            else:
                the_plan = saved
                render_plan("text", the_plan, sys.stdout, color=opts.color)
                refusals = [] if force else saved_refusals
                await engine.check_stale(session, prep.desired, the_plan)
            _refuse_if(policy.refusals(the_plan, guards=refusals, max_cost=max_cost,
                                       allow_send=allow_send, now=datetime.now(timezone.utc)))
            if all(c.action is Action.MANUAL for c in the_plan.changes):
                return the_plan, ApplyResult(), Plan(), None
            for name, budget in sorted(session.budgets.items()):
                for line in budget_spent(name, budget):
                    opts.out.debug(line)
            for warning in budget_warnings(session.budgets, the_plan):
                opts.out.info(opts.out.style(warning, fg="yellow"))
            if saved is None and not auto_approve:
                _confirm(opts)
                # a push whose time passed while the question was open: refuse, as above
                _refuse_if(policy.check_send_times(the_plan, datetime.now(timezone.utc)))
            journal = Journal(prep.config.state_dir / "journal")
            try:
                result = await run_with_progress(session, the_plan, journal, opts, stop)
            finally:
                journal.close()
            after = Plan()
            if not result.interrupted:
                opts.out.debug("reading the touched objects again…")
                after = await engine.converge(session, prep.desired, the_plan)
            return the_plan, result, after, journal.path

    the_plan, result, after, journal_path = asyncio.run(go())
    report_apply(opts, the_plan, result, after, journal_path)


def _load_planfile(path: Path) -> tuple[Plan, list[str], dict[str, Any] | None]:
    """The plan, the guards' refusals when it was made, and where it was made for."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a saved plan: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: not a saved plan (expected a JSON object)")
    refusals = doc.get("refusals") or []
    made_for = doc.get("made_for")
    if made_for is not None and not isinstance(made_for, dict):
        raise UsageError(f"{path}: not a valid saved plan: 'made_for' is not an object")
    try:
        the_plan = plan_from_dict(doc)
    except UsageError as exc:  # what is wrong inside; the file it is wrong in is said here
        raise UsageError(f"{path}: {exc}") from None
    return the_plan, [str(r) for r in refusals], made_for


def _refuse_if(refusals: list[str]) -> None:
    """Stop before any write when there is a reason to, naming every one of them."""
    if refusals:
        raise PlanRefused("refusing to apply:\n  " + "\n  ".join(refusals))


def _confirm(opts: Options) -> None:
    """Ask before writing; with nobody to ask (CI, a pipe), refuse rather than assume yes."""
    if not sys.stdin.isatty():
        raise PlanRefused("stdin is not interactive: pass --auto-approve to apply without "
                          "confirmation (or save a plan with --out and apply that file)")
    if not click.confirm("Apply these changes?", default=False, err=True):
        raise PlanRefused("apply cancelled; nothing was written")
