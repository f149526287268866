"""``tapsync import``: manifests written from live state, for adopting a project.

The importer is imported inside the command (as before the split): only this command
needs it, and loading the CLI stays cheap for the others.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from tapsync import engine
from tapsync.cli.common import (
    Output,
    common_options,
    credentials_and_transport,
    make_folder,
    make_options,
    today,
    write_atomically,
)
from tapsync.config import Config
from tapsync.errors import ConfigError, UsageError
from tapsync.model import State


@click.command(name="import")
@common_options
@click.option("--out", "out_dir", metavar="DIR", required=True,
              type=click.Path(file_okay=False),
              help="Folder to write the manifests into (created if needed).")
@click.option("--provider", "providers", multiple=True, metavar="NAME",
              type=click.Choice(sorted(engine.PROVIDER_CLASSES)),
              help="Import this provider (repeatable). Default: every supported provider "
                   "whose credentials are set (those skipped are named on stderr).")
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

    Without --provider, a provider none of whose credential variables is set is skipped
    and named on stderr (with --sandbox, every provider is read).

    Imported by default: amplitude category, event_type, event_property,
    user_property; taplytics experiment.

    Only when --kinds names them: taplytics push_campaign (sent pushes are history and a
    project may hold thousands; an imported push plans no change, never a send) and
    taplytics user (a project may hold millions: users are paged, up to --max-users).
    """
    from tapsync.importer import MAX_USERS, import_files

    opts = make_options(config, sandbox, env_name, verbose, quiet, no_color)
    cfg = opts.load()
    names = sorted(providers) if providers else sorted(engine.PROVIDER_CLASSES)
    asked = _import_kinds(names, kinds)
    limit = max_users or MAX_USERS
    if not opts.sandbox and not providers:
        asked = _with_credentials(cfg, asked, opts.out)
    creds, transport = credentials_and_transport(opts, cfg, sorted(asked))
    live = asyncio.run(_read_for_import(cfg, asked, creds, transport, limit))
    _refuse_too_many_users(live, asked, limit)
    files: dict[Path, str] = {}
    when = today()
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
        make_folder(path.parent)
        write_atomically(path, text)
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


def _with_credentials(cfg: Config, asked: dict[str, tuple[str, ...]], out: Output
                      ) -> dict[str, tuple[str, ...]]:
    """Without --provider, the providers whose credentials are set: adopting an
    Amplitude-only project must not need a Taplytics token. A provider with some of its
    variables set is kept (and its missing ones named by the credential check): that
    looks like a mistake, not a choice. With none set anywhere, all stay, so the error
    names every variable, plus how to choose."""
    def any_set(name: str) -> bool:
        return any(os.environ.get(v) for v in cfg.providers[name].credential_env.values())

    kept = {n: kinds for n, kinds in asked.items() if any_set(n)}
    if not kept:
        missing = [v for n in sorted(asked) for v in cfg.providers[n].credential_env.values()]
        raise ConfigError(f"missing credentials: set {', '.join(missing)} in the environment "
                          "for the providers to import (or choose them with --provider NAME, "
                          "or use --sandbox)")
    for name in sorted(set(asked) - set(kept)):
        variables = ", ".join(cfg.providers[name].credential_env.values())
        out.info(f"Skipping {name}: {variables} not set (pass --provider {name} to "
                 "require it).")
    return kept


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
