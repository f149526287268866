"""The ``tapsync`` command line.

The only module that prints, exits, or reads credentials from the environment. Every
user error is a :class:`~tapsync.errors.TapsyncError` caught once in :func:`main` and
turned into a message and an exit code; a traceback means a bug in tapsync.
Progress and diagnostics go to stderr, results to stdout, so ``plan --format json > f``
stays machine-readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

import click
import yaml

from tapsync import __version__, engine, policy
from tapsync.budget import Budget
from tapsync.changes import Action, Plan
from tapsync.config import Config, find_config, load_config
from tapsync.errors import (
    ApplyFailed,
    Interrupted,
    ManifestError,
    PlanRefused,
    Problem,
    TapsyncError,
    UsageError,
)
from tapsync.executor import ApplyResult, ChangeResult, Journal
from tapsync.model import ResourceKey, State
from tapsync.planfile import binding, binding_problem, plan_from_dict, plan_to_dict
from tapsync.render import render_plan
from tapsync.render.problems import (
    render_problems_github,
    render_problems_json,
    render_problems_text,
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Output:
    """Where and how to speak: colours only on a terminal and unless turned off."""

    verbosity: int = 0
    color: bool = False

    def style(self, text: str, **kw: Any) -> str:
        return click.style(text, **kw) if self.color else text

    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            click.echo(message, err=True, color=self.color)

    def debug(self, message: str) -> None:
        if self.verbosity > 0:
            click.echo(message, err=True, color=self.color)

    def error(self, message: str) -> None:
        click.echo(self.style("Error: ", fg="red", bold=True) + message, err=True,
                   color=self.color)


@dataclass
class Options:
    """The options every command takes (CONTRACT.md §4)."""

    config: str | None
    sandbox: bool
    verbosity: int
    color: bool
    env_name: str | None

    @property
    def out(self) -> Output:
        return Output(self.verbosity, self.color)

    def load(self) -> Config:
        path = find_config(self.config, os.environ, Path.cwd())
        return load_config(path, os.environ, self.env_name)


def _want_color(no_color: bool, stream: TextIO) -> bool:
    if no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


def common_options(func: F) -> F:
    """Attach the global options to a command (turned into :class:`Options` by ``_options``)."""
    decorators = [
        click.option("--config", "config", metavar="PATH", envvar="TAPSYNC_CONFIG",
                     help="Workspace file (default ./tapsync.yaml; env TAPSYNC_CONFIG)."),
        click.option("--sandbox", is_flag=True,
                     help="Use the embedded sandbox (state in .tapsync/sandbox.db; with --env, "
                          "sandbox-ENV.db) instead "
                          "of the real services."),
        click.option("--env", "env_name", metavar="NAME",
                     help="Environment from tapsync.yaml's environments: block."),
        click.option("-v", "--verbose", count=True, help="More detail on stderr."),
        click.option("-q", "--quiet", count=True, help="Less detail on stderr."),
        click.option("--no-color", is_flag=True, help="No ANSI colours (also NO_COLOR=1)."),
    ]
    for d in reversed(decorators):
        func = d(func)
    return func


def _options(config: str | None, sandbox: bool, env_name: str | None, verbose: int,
             quiet: int, no_color: bool) -> Options:
    return Options(config, sandbox, verbose - quiet, _want_color(no_color, sys.stdout),
                   env_name)


class TapsyncGroup(click.Group):
    """A group that maps every error to CONTRACT.md's exit codes, whoever calls it.

    The console script, ``main()`` and click's test runner all go through here, so a
    user error never shows a traceback and a usage error exits 1 (click's default is 2,
    which ``plan --detailed-exitcode`` reserves for "changes").
    """

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        code = _mapped(lambda: super(TapsyncGroup, self).main(
            args, prog_name, complete_var, standalone_mode=False, **extra))
        if standalone_mode:
            sys.exit(code)
        return code


def _mapped(call: Callable[[], Any]) -> int:
    try:
        result = call()
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        return 130
    except click.exceptions.ClickException as exc:
        exc.show()
        return 1
    except TapsyncError as exc:
        Output(color=_want_color(False, sys.stderr)).error(str(exc))
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    return result if isinstance(result, int) else 0


@click.group(cls=TapsyncGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tapsync")
def cli() -> None:
    """Keep analytics taxonomy, experiments and push campaigns in git.

    \b
    Typical flow:
      tapsync validate            check manifests offline
      tapsync plan                show what would change, and its API cost
      tapsync apply               make the change, inside the API budgets
      tapsync drift               report live objects that differ from the manifests

    Try everything without credentials against the embedded sandbox: add --sandbox.
    """


# ---------------------------------------------------------------------------- validate

@cli.command()
@common_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="Output format (github: workflow annotations).")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def validate(config: str | None, sandbox: bool, env_name: str | None, verbose: int, quiet: int,
             no_color: bool, fmt: str, paths: Sequence[str]) -> None:
    """Check manifests offline: schemas, references and lint rules.

    Validates PATHS if given, else the manifests named in tapsync.yaml.
    Exit 0 when valid (warnings allowed), 1 when invalid.
    """
    from tapsync.manifest import LintOptions, check

    opts = _options(config, sandbox, env_name, verbose, quiet, no_color)
    naming: dict[str, str] = {}
    if paths:
        targets: list[str | Path] = list(paths)
        if opts.config or Path("tapsync.yaml").is_file():
            naming = dict(opts.load().naming)
    else:
        cfg = opts.load()
        targets, naming = list(cfg.manifests), dict(cfg.naming)
    checked = check(targets, LintOptions(naming=naming))
    _print_problems(checked.problems, fmt, opts.out, files=len(checked.files),
                    resources=len(checked.state))
    if not checked.ok:
        raise SystemExit(1)


def _print_problems(problems: Sequence[Problem], fmt: str, out: Output, *, files: int,
                    resources: int) -> None:
    """``validate``'s report on stdout; paths relative to here (the repository in CI)."""
    if fmt == "json":
        render_problems_json(problems, sys.stdout, files=files, resources=resources)
    elif fmt == "github":
        render_problems_github(problems, sys.stdout, base=str(Path.cwd()))
    else:
        render_problems_text(problems, sys.stdout, files=files, resources=resources,
                             color=out.color, base=str(Path.cwd()))


# ------------------------------------------------------------------- plan and apply

@dataclass
class Prepared:
    """Everything a plan or apply needs before it talks to any service."""

    opts: Options
    config: Config
    desired: State
    names: list[str]
    credentials: dict[str, dict[str, str]]
    transport: Any


def _prepare(opts: Options, plan: Plan | None = None,
             made_for: dict[str, Any] | None = None) -> Prepared:
    """Config, manifests (warnings to stderr), credentials and, with --sandbox, the app.

    For a saved ``plan``, refuses before anything is contacted when the plan was made for
    another environment, base URL or credentials than this command has (``made_for``).
    """
    from tapsync.manifest import LintOptions, check

    cfg = opts.load()
    checked = check(list(cfg.manifests), LintOptions(naming=dict(cfg.naming)))
    if not checked.ok:
        raise ManifestError([p for p in checked.problems if p.severity == "error"])
    for p in checked.problems:
        opts.out.info(f"{p.file}:{p.line}:{p.column}: {p.json_path}: warning: {p.message}")
    desired = engine.apply_overrides(checked.state, cfg)
    names = sorted(engine.used_providers(desired, plan))
    if opts.sandbox:
        creds = {n: dict(engine.SANDBOX_CREDENTIALS[n]) for n in names}
    else:
        creds = engine.credentials_from(os.environ, cfg, names)
    prep = Prepared(opts, cfg, desired, names, creds, None)
    if plan is not None:
        _check_made_for(prep, plan, made_for)
    if opts.sandbox:
        prep.transport = _sandbox_transport(cfg)
    return prep


def _made_for(prep: Prepared) -> dict[str, Any]:
    """Where this command reads and writes, as a saved plan records it (no secret)."""
    return binding(prep.config.environment, prep.opts.sandbox, {
        n: (engine.SANDBOX_BASE_URL if prep.opts.sandbox else prep.config.providers[n].base_url,
            prep.credentials.get(n, {}))
        for n in prep.names})


def _check_made_for(prep: Prepared, plan: Plan, saved: dict[str, Any] | None) -> None:
    """Refuse a saved plan made elsewhere; an older plan, which does not say, is warned of."""
    if saved is None:
        prep.opts.out.info("warning: this saved plan does not record the environment and "
                           "project it was made for (an older tapsync made it), so that "
                           "was not checked")
        return
    problem = binding_problem(
        saved, _made_for(prep), {c.key.provider for c in plan.changes},
        {n: list(p.credential_env.values()) for n, p in prep.config.providers.items()
         if not prep.opts.sandbox})
    if problem:
        raise PlanRefused(problem)


def _parse_targets(targets: Sequence[str]) -> list[ResourceKey]:
    return [ResourceKey.parse(t) for t in targets]


async def _read_and_plan(prep: Prepared, session: engine.Session,
                         targets: Sequence[ResourceKey]) -> tuple[State, Plan]:
    prep.opts.out.debug(f"reading live state of {', '.join(prep.names) or 'no provider'}…")
    _announce_waits(session, prep.opts)
    live = await engine.read_live(session, prep.desired)
    return live, engine.make_plan(session, prep.desired, live, targets)


def _guards(prep: Prepared, plan: Plan, live: State, *, force: bool) -> list[str]:
    s = prep.config.safety
    return policy.check_safety(plan, live, max_delete_percent=s.max_delete_percent,
                               max_update_percent=s.max_update_percent,
                               min_existing=s.min_existing, force=force)


@cli.command()
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
    opts = _options(config, sandbox, env_name, verbose, quiet, no_color)
    keys = _parse_targets(targets)
    prep = _prepare(opts)

    async def go() -> tuple[State, Plan]:
        async with engine.connect(prep.config, prep.names, prep.credentials,
                                  transport=prep.transport) as session:
            return await _read_and_plan(prep, session, keys)

    live, the_plan = asyncio.run(go())
    render_plan(fmt, the_plan, sys.stdout, color=opts.color and fmt == "text",
                desired=prep.desired, base=str(Path.cwd()))
    refusals = _guards(prep, the_plan, live, force=False)
    for r in refusals:
        opts.out.info(opts.out.style("Safety: ", fg="yellow") + r)
    if out_file:
        doc = plan_to_dict(the_plan)
        doc["refusals"] = refusals
        doc["made_for"] = _made_for(prep)
        _write_atomically(Path(out_file), json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        opts.out.info(f"Saved the plan to {out_file}; apply exactly it with "
                      f"'tapsync apply {out_file}'.")
    if the_plan.errors:
        raise PlanRefused(f"the plan has {len(the_plan.errors)} error(s); it cannot be applied "
                          "as written")
    if detailed_exitcode and the_plan.changes:
        raise SystemExit(2)


def _write_atomically(path: Path, text: str) -> None:
    """Write beside, then rename: a reader never sees half a plan."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@cli.command()
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
    opts = _options(config, sandbox, env_name, verbose, quiet, no_color)
    saved: Plan | None = None
    saved_refusals: list[str] = []
    made_for: dict[str, Any] | None = None
    if planfile:
        if targets:
            raise UsageError("--target cannot narrow a saved plan; plan again with --target")
        saved, saved_refusals, made_for = _load_planfile(Path(planfile))
    keys = _parse_targets(targets)
    prep = _prepare(opts, saved, made_for)
    stop = asyncio.Event()

    async def go() -> tuple[Plan, ApplyResult, Plan, Path | None]:
        async with engine.connect(prep.config, prep.names, prep.credentials,
                                  transport=prep.transport) as session:
            _announce_waits(session, opts)
            if saved is None:
                live, the_plan = await _read_and_plan(prep, session, keys)
                render_plan("text", the_plan, sys.stdout, color=opts.color)
                refusals = _guards(prep, the_plan, live, force=force)
            else:
                the_plan = saved
                render_plan("text", the_plan, sys.stdout, color=opts.color)
                refusals = [] if force else saved_refusals
                await engine.check_stale(session, prep.desired, the_plan)
            refusals = [*policy.check_errors(the_plan), *refusals,
                        *policy.check_cost(the_plan, max_cost),
                        *policy.check_sends(the_plan, allow_send),
                        *policy.check_send_times(the_plan, datetime.now(timezone.utc))]
            if refusals:
                raise PlanRefused("refusing to apply:\n  " + "\n  ".join(refusals))
            if not [c for c in the_plan.changes if c.action is not Action.MANUAL]:
                return the_plan, ApplyResult(), Plan(), None
            for name, budget in sorted(session.budgets.items()):
                for line in budget_spent(name, budget):
                    opts.out.debug(line)
            for warning in budget_warnings(session.budgets, the_plan):
                opts.out.info(opts.out.style(warning, fg="yellow"))
            if saved is None and not auto_approve:
                _confirm(opts)
            journal = Journal(prep.config.state_dir / "journal")
            try:
                result = await _run_with_progress(session, the_plan, journal, opts, stop)
            finally:
                journal.close()
            after = Plan()
            if not result.interrupted:
                opts.out.debug("reading the touched objects again…")
                after = await engine.converge(session, prep.desired, the_plan)
            return the_plan, result, after, journal.path

    the_plan, result, after, journal_path = asyncio.run(go())
    _report(opts, the_plan, result, after, journal_path)


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
    return plan_from_dict(doc), [str(r) for r in refusals], made_for


def _confirm(opts: Options) -> None:
    if not sys.stdin.isatty():
        raise PlanRefused("stdin is not interactive: pass --auto-approve to apply without "
                          "confirmation (or save a plan with --out and apply that file)")
    if not click.confirm("Apply these changes?", default=False, err=True):
        raise PlanRefused("apply cancelled; nothing was written")


async def _run_with_progress(session: engine.Session, the_plan: Plan, journal: Journal,
                             opts: Options, stop: asyncio.Event) -> ApplyResult:
    """Apply with a progress bar on a terminal; Ctrl-C lets in-flight calls finish."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
        loop.add_signal_handler(signal.SIGINT, _on_ctrl_c(stop, opts, journal))
    total = sum(c.cost for c in the_plan.changes if c.action is not Action.MANUAL)
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
        cost = sum(c.cost for c in the_plan.changes
                   if c.key.provider == name and c.action is not Action.MANUAL)
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


def _announce_waits(session: engine.Session, opts: Options) -> None:
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
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def _report(opts: Options, the_plan: Plan, result: ApplyResult, after: Plan,
            journal_path: Path | None) -> None:
    if not result.results:
        click.echo("No changes to apply.")
        return
    if result.interrupted:
        _report_interrupted(opts, result, journal_path)
    ok = len(result.applied)
    failed = [r for r in result.results if r.status == "failed"]
    skipped = [r for r in result.results if r.status == "skipped"]
    manual = [r for r in result.results if r.status == "manual"]
    click.echo(opts.out.style(f"Apply complete: {ok} applied, {len(failed)} failed, "
                              f"{len(skipped)} skipped", bold=True)
               + (f", {len(manual)} left for a person." if manual else "."), color=opts.color)
    for r in failed:
        click.echo(opts.out.style("  failed ", fg="red") + f"{r.change.key.address}: {r.message}",
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
    click.echo(opts.out.style("Apply interrupted: " + ", ".join(counts) + ".", bold=True),
               color=opts.color)
    for r in failed:
        click.echo(opts.out.style("  failed ", fg="red") + f"{r.change.key.address}: {r.message}",
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


@cli.command()
@common_options
@click.option("--format", "fmt", default="text", show_default=True,
              type=click.Choice(["text", "json", "markdown", "junit", "github"]),
              help="text, json (versioned envelope), markdown (an issue or PR comment), "
                   "junit (one test case per declared object), github (annotations).")
@click.option("--out", "out_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write the report to FILE instead of stdout.")
@click.option("--ignore-file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Glob patterns of addresses to set aside (default: .tapsyncignore "
                   "beside tapsync.yaml).")
@click.option("--write-baseline", is_flag=True,
              help="Add today's drift to the ignore file, so tomorrow's report starts clean.")
def drift(config: str | None, sandbox: bool, env_name: str | None, verbose: int, quiet: int,
          no_color: bool, fmt: str, out_file: str | None, ignore_file: str | None,
          write_baseline: bool) -> None:
    """Compare live state with the manifests, without writing to any service.

    Reports changed objects (field by field), missing ones (declared, not live),
    unmanaged ones (live, declared by no manifest), unexpected ones (ingested without
    being planned, where the API can tell), and coverage per kind. Exit 0 no drift,
    2 drift, 1 error.
    """
    from tapsync import drift as drift_mod
    from tapsync import ignore
    from tapsync.render import render_drift

    opts = _options(config, sandbox, env_name, verbose, quiet, no_color)
    prep = _prepare(opts)
    ignore_path = Path(ignore_file) if ignore_file else prep.config.root / ignore.FILE_NAME
    rules = ignore.read(ignore_path)
    live, reads = asyncio.run(_read_everything(prep.config, prep.names, prep.credentials,
                                               prep.transport, prep.desired))
    specs = engine.all_specs()
    base = str(Path.cwd())
    report = drift_mod.build(prep.desired, live, specs, ignore=rules, reads=reads, base=base)
    if write_baseline:
        existing = ignore_path.read_text(encoding="utf-8") if ignore_path.is_file() else ""
        text = ignore.baseline(existing, [i.key for i in report.items], when=_today())
        if text != existing:
            _write_atomically(ignore_path, text)
        opts.out.info(f"Baseline: {len(report.items)} address(es) added to {ignore_path}; "
                      "commit it, and later drift is reported against it.")
        report = drift_mod.build(prep.desired, live, specs, ignore=ignore.parse(text),
                                 reads=reads, base=base)
    _emit(out_file, lambda stream: render_drift(
        fmt, report, stream, color=opts.color and fmt == "text" and not out_file))
    if out_file:
        opts.out.info(f"Wrote the drift report to {out_file}.")
    if report.drifted:
        raise SystemExit(2)


async def _read_everything(cfg: Config, names: Sequence[str],
                           credentials: dict[str, dict[str, str]], transport: Any,
                           desired: State) -> tuple[State, dict[str, int]]:
    """Whole collections (as prune would read them), for unmanaged objects and coverage;
    nothing is written."""
    from dataclasses import replace

    whole = replace(cfg, safety=replace(cfg.safety, prune=True))
    async with engine.connect(whole, names, credentials, transport=transport) as session:
        live = await engine.read_live(session, desired)
        return live, session.reads()


def _emit(out_file: str | None, render: Callable[[TextIO], None]) -> None:
    """Render to stdout, or whole to a file (a reader never sees half a report)."""
    if not out_file:
        render(sys.stdout)
        return
    import io

    buf = io.StringIO()
    render(buf)
    _write_atomically(Path(out_file), buf.getvalue())


def _today() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).date().isoformat()


@cli.command(name="import")
@common_options
@click.option("--out", "out_dir", metavar="DIR", required=True,
              type=click.Path(file_okay=False),
              help="Folder to write the manifests into (created if needed).")
@click.option("--provider", "providers", multiple=True, metavar="NAME",
              type=click.Choice(sorted(engine.PROVIDER_CLASSES)),
              help="Import this provider (repeatable; default: every supported one).")
@click.option("--kinds", metavar="KIND[,KIND…]",
              help="Only these kinds, e.g. event_type,user_property (event_type brings its "
                   "own properties; event_property means the shared ones). Default: every "
                   "kind except push_campaign and user, which only --kinds imports.")
@click.option("--max-users", type=click.IntRange(min=1), metavar="N",
              help="With --kinds user: refuse (writing nothing) when the project holds more "
                   "than N users (default: 10000).")
@click.option("--split", type=click.Choice(["kind", "category"]), default="kind",
              show_default=True,
              help="One file per kind, or (Amplitude) one per category with its events.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def import_(config: str | None, sandbox: bool, env_name: str | None, verbose: int,
            quiet: int, no_color: bool, out_dir: str, providers: Sequence[str],
            kinds: str | None, max_users: int | None, split: str, force: bool) -> None:
    """Write manifests from live state; planning them right after shows no changes.

    Writes only fields set live (defaults stay unowned), skips built-in and deleted
    objects, and refuses to overwrite existing files unless --force.

    Imported by default: amplitude category, event_type, event_property,
    user_property; taplytics experiment.

    Only when --kinds names them: taplytics push_campaign (sent pushes are history and a
    project may hold thousands; an imported push plans no change, never a send) and
    taplytics user (a project may hold millions: users are paged, up to --max-users).
    """
    from tapsync.importer import MAX_USERS, import_files

    opts = _options(config, sandbox, env_name, verbose, quiet, no_color)
    cfg = opts.load()
    names = sorted(providers) if providers else sorted(engine.PROVIDER_CLASSES)
    asked = _import_kinds(names, kinds)
    limit = max_users or MAX_USERS
    transport: Any = None
    if opts.sandbox:
        transport = _sandbox_transport(cfg)
        creds = {n: dict(engine.SANDBOX_CREDENTIALS[n]) for n in asked}
    else:
        creds = engine.credentials_from(os.environ, cfg, sorted(asked))
    live = asyncio.run(_read_for_import(cfg, asked, creds, transport, limit))
    _refuse_too_many_users(live, asked, limit)
    files: dict[Path, str] = {}
    when = _today()
    for name, mine in asked.items():
        origin = "the tapsync sandbox" if opts.sandbox else cfg.providers[name].base_url
        for rel, text in import_files(live, provider=name, origin=origin, when=when,
                                      kinds=mine, split=split).items():
            files[Path(out_dir) / rel] = text
    if not files:
        opts.out.info("Nothing to import: no live objects of those kinds.")
        return
    clash = sorted(str(p) for p in files if p.exists())
    if clash and not force:
        raise UsageError("refusing to overwrite existing file(s) (pass --force): "
                         + ", ".join(clash))
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, text)
        click.echo(f"wrote {path}")
    target = Path(out_dir).resolve()
    if not any(target == m.resolve() or m.resolve() in target.parents
               for m in cfg.manifests):
        opts.out.info(f"Note: {out_dir} is not under the manifests listed in {cfg.path}; "
                      "add it there for plan and drift to read it.")
    opts.out.info(f"Imported {len(files)} file(s); 'tapsync plan' should now show no changes.")


def _import_kinds(names: Sequence[str], kinds: str | None) -> dict[str, tuple[str, ...]]:
    """Provider → the kinds to import from it: ``--kinds`` (providers it does not concern
    are not contacted), else each provider's default kinds."""
    from tapsync.importer import default_kinds, kinds_of

    wanted = [k.strip() for k in kinds.split(",") if k.strip()] if kinds else []
    known = {k for n in names for k in kinds_of(n)}
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise UsageError(f"--kinds: unknown kind(s) {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(known))})")
    if not wanted:
        return {n: default_kinds(n) for n in names}
    asked = {n: tuple(k for k in kinds_of(n) if k in wanted) for n in names}
    return {n: mine for n, mine in asked.items() if mine}


async def _read_for_import(cfg: Config, asked: dict[str, tuple[str, ...]],
                           credentials: dict[str, dict[str, str]], transport: Any,
                           limit: int) -> State:
    """Each provider's whole collections of the kinds asked for; nothing is written."""
    async with engine.connect(cfg, sorted(asked), credentials, transport=transport) as session:
        states = await asyncio.gather(*(session.providers[n].read_all(kinds, limit=limit)
                                        for n, kinds in asked.items()))
    return State([r for state in states for r in state])


def _refuse_too_many_users(live: State, asked: dict[str, tuple[str, ...]],
                           limit: int) -> None:
    """Manifests are for a handful of QA and demo accounts, not a user base: past the
    cap, import nothing rather than a truncated list that looks complete."""
    for name, kinds in asked.items():
        if "user" in kinds and len(live.of_kind(name, "user")) > limit:
            raise UsageError(f"{name} holds more than {limit} users: nothing was written. "
                             "Manifests are meant for a few QA and demo accounts; pass "
                             "--max-users N to import more, or declare the users you need "
                             "by hand.")


def _sandbox_transport(cfg: Config) -> Any:
    from tapsync.http import asgi_transport
    from tapsync.sandbox import create_app

    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    return asgi_transport(create_app(state_path=cfg.sandbox_db))


# ------------------------------------------------------------------------- sandbox

@cli.group()
def sandbox() -> None:
    """The embedded emulator of the services' APIs."""


@sandbox.command(name="load")
@common_options
@click.argument("fixtures", type=click.Path(exists=True, dir_okay=False))
def load_fixtures(config: str | None, sandbox: bool, env_name: str | None, verbose: int,
                  quiet: int, no_color: bool, fixtures: str) -> None:
    """Load FIXTURES (YAML/JSON) into this workspace's sandbox (.tapsync/sandbox.db).

    For what the real APIs cannot create through their own endpoints: experiments made in
    a dashboard, events ingested by apps, objects already live. All or nothing.
    Format: {amplitude: {categories, event_types, event_properties, user_properties,
    ingest}, taplytics: {experiments, users, pushes}}.
    """
    from tapsync.sandbox import load_fixture_file

    opts = _options(config, sandbox, env_name, verbose, quiet, no_color)
    cfg = opts.load()
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        loaded = load_fixture_file(cfg.sandbox_db, fixtures)
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"{fixtures}: cannot load: {exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{fixtures}: malformed YAML: {exc}") from None
    counts = ", ".join(f"{p}: " + ", ".join(f"{n} {k}" for k, n in v.items())
                       if isinstance(v, dict) else f"{p}: {v}" for p, v in loaded.items())
    click.echo(f"Loaded into {cfg.sandbox_db}: {counts}")


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, metavar="ADDRESS",
              help="Address to listen on; keep it loopback (the credentials are public "
                   "defaults).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535),
              help="TCP port to listen on.")
@click.option("--state", "state", metavar="FILE",
              help="SQLite file kept across restarts; its folder must exist "
                   "(default: in memory).")
@click.option("--latency-ms", default=0.0, type=click.FloatRange(min=0), show_default=True,
              help="Added to every emulated API call.")
@click.option("--legacy-delete", is_flag=True,
              help="The seed's older rule: only planned items can be deleted.")
def serve(host: str, port: int, state: str | None, latency_ms: float,
          legacy_delete: bool) -> None:
    """Serve the emulated APIs over HTTP (all providers on one port) until stopped.

    Ctrl-C or SIGTERM stops it; with --state, what was written stays in FILE.
    """
    from tapsync.config import is_loopback
    from tapsync.sandbox import serve as run
    from tapsync.sandbox.store import MissingStateFolder

    if not is_loopback(host):
        click.echo(f"warning: serving the sandbox on {host}, which is not a loopback "
                   "address; its credentials are public defaults", err=True)
    try:
        run(host, port, state, latency_ms, legacy_delete)
    except MissingStateFolder as exc:
        raise UsageError(f"--state: {exc}") from None


# ---------------------------------------------------------------------------- entry

def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (see :class:`TapsyncGroup`)."""
    code = cli.main(args=list(argv) if argv is not None else None, prog_name="tapsync",
                    standalone_mode=False)
    return int(code)


def run() -> None:  # pragma: no cover - console entry point
    sys.exit(main())


__all__ = ["UsageError", "cli", "main", "run"]
