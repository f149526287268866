"""Every command and option explains itself in ``--help``."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from tapsync.cli import cli


def commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for name, cmd in sorted(group.commands.items()):
        out.append((*path, name))
        if isinstance(cmd, click.Group):
            out += commands(cmd, (*path, name))
    return out


def lookup(path: tuple[str, ...]) -> click.Command:
    cmd: click.Command = cli
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    return cmd


ALL = commands(cli)


def test_the_commands_are_found() -> None:
    assert ("sandbox", "serve") in ALL and ("sandbox", "load") in ALL and ("plan",) in ALL


@pytest.mark.parametrize("path", [(), *ALL], ids=lambda p: " ".join(p) or "tapsync")
def test_every_option_and_command_has_help(path: tuple[str, ...]) -> None:
    cmd = lookup(path)
    assert cmd.help, f"tapsync {' '.join(path)} has no help"
    bare = [p.name for p in cmd.params if isinstance(p, click.Option) and not p.help]
    assert not bare, f"tapsync {' '.join(path)}: options without help: {bare}"


def test_sandbox_serve_help_names_its_options() -> None:
    result = CliRunner().invoke(cli, ["sandbox", "serve", "--help"])
    assert result.exit_code == 0
    words = " ".join(result.output.split())  # help text is wrapped to the terminal
    for text in ("--host ADDRESS", "Address to listen on", "--port", "TCP port",
                 "--state FILE", "folder must exist", "--latency-ms", "--legacy-delete"):
        assert text in words


#: CONTRACT.md §4: "Every command takes --config, --sandbox, -v/-q, --no-color"
GLOBAL_OPTIONS = ("--config", "--sandbox", "-v", "-q", "--no-color")
#: the commands that run something; a group (``tapsync``, ``tapsync sandbox``) only routes
#: to them, and its options come before a subcommand where nobody would look for these
RUNNABLE = [p for p in ALL if not isinstance(lookup(p), click.Group)]


def test_every_command_is_checked_for_the_global_options() -> None:
    """The walk reaches nested commands; a new command joins the list by itself."""
    assert {" ".join(p) for p in RUNNABLE} >= {
        "validate", "plan", "apply", "drift", "import", "sandbox load", "sandbox serve"}


@pytest.mark.parametrize("path", RUNNABLE, ids=" ".join)
def test_every_command_takes_the_global_options(path: tuple[str, ...]) -> None:
    cmd = lookup(path)
    names = {o for p in cmd.params if isinstance(p, click.Option) for o in p.opts}
    missing = [o for o in GLOBAL_OPTIONS if o not in names]
    assert not missing, f"tapsync {' '.join(path)} lacks {missing}"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert all(o in result.output for o in GLOBAL_OPTIONS)
