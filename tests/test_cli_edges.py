"""Second-review findings on the command line's edges: files that cannot be written,
malformed base URLs, --target typos, import without every provider's credentials.

Everything goes through :func:`tapsync.cli.main` (the real exit-code mapping) on the
embedded sandbox, in a temporary workspace; a traceback would fail ``"Traceback" not in``
or escape the call.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from tapsync.cli import main
from tapsync.sandbox import create_app, serve_in_thread
from tests.apply.support import Sandbox
from tests.ci.support import tapsync, write_workspace
from tests.cli_terminal import Terminal, at_terminal
from tests.conftest import run

MANIFEST = "amplitude:\n  categories:\n    - name: Media\n"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return write_workspace(tmp_path, MANIFEST)


# ----------------------------------------------------------- files that cannot be written

def test_plan_out_into_a_missing_folder_is_refused_before_reading(ws: Path) -> None:
    code, out, err = tapsync(ws, "plan", "--sandbox", "--out", "no/such/dir/plan.json")
    assert code == 1 and out == "", err
    assert err == ("Error: no/such/dir/plan.json: cannot write: no/such/dir is not an "
                   "existing folder\n")
    # refused before the sandbox was opened: nothing was read, no state was created
    assert not (ws / ".tapsync").exists()


def test_drift_out_into_a_missing_folder_is_an_error_not_a_traceback(ws: Path) -> None:
    code, out, err = tapsync(ws, "drift", "--sandbox", "--out", "no/such/dir/drift.md")
    assert code == 1 and out == ""
    assert "no/such/dir/drift.md: cannot write: no/such/dir is not an existing folder" in err


def test_drift_baseline_into_a_missing_folder_is_an_error(ws: Path) -> None:
    code, _, err = tapsync(ws, "drift", "--sandbox", "--write-baseline",
                           "--ignore-file", str(ws / "nope" / "x"))
    assert code == 1 and f"{ws / 'nope'} is not an existing folder" in err
    assert "Traceback" not in err


def test_a_failed_write_names_the_file_and_leaves_no_temporary(ws: Path) -> None:
    """The folder is fine but the write itself fails (here the file to replace is a
    folder, so the final rename fails): the message names the file, and the temporary
    file written beside it is removed."""
    assert tapsync(ws, "apply", "--sandbox", "--auto-approve")[0] == 0
    blocked = ws / "imported" / "amplitude" / "categories.yaml"
    (blocked / "inside").mkdir(parents=True)
    code, _, err = tapsync(ws, "import", "--sandbox", "--out", "imported", "--force")
    assert code == 1, err
    assert err.startswith("Error: imported/amplitude/categories.yaml: cannot write: ")
    assert "Traceback" not in err and ".tmp" not in err
    assert [p.name for p in blocked.parent.iterdir()] == ["categories.yaml"]


def test_import_into_a_folder_that_cannot_be_made_is_an_error(ws: Path) -> None:
    (ws / "blocker").write_text("a file where a folder should go", encoding="utf-8")
    assert tapsync(ws, "apply", "--sandbox", "--auto-approve")[0] == 0
    code, _, err = tapsync(ws, "import", "--sandbox", "--out", "blocker/sub")
    assert code == 1
    assert err == "Error: blocker/sub/amplitude: cannot create the folder: Not a directory\n"
    assert "Traceback" not in err


# ----------------------------------------------------------------- malformed base URLs

@pytest.mark.parametrize("url", ["https://[zz]/", "http://[::1"])
def test_malformed_base_url_in_the_config_is_a_config_error(tmp_path: Path,
                                                            url: str) -> None:
    ws = write_workspace(tmp_path, MANIFEST, "version: 1\nmanifests: [manifests/]\n"
                         f"providers:\n  amplitude: {{base_url: '{url}'}}\n")
    code, _, err = tapsync(ws, "validate")
    assert code == 1 and "Traceback" not in err
    assert "tapsync.yaml:4:" in err and "$.providers.amplitude.base_url" in err
    assert "is not a valid URL" in err


def test_malformed_base_url_from_the_environment_names_the_variable(ws: Path) -> None:
    code, _, err = tapsync(ws, "validate", env={"TAPSYNC_AMPLITUDE_BASE_URL": "http://[::1"})
    assert code == 1
    assert err.startswith("Error: environment variable TAPSYNC_AMPLITUDE_BASE_URL "
                          "(overrides providers.amplitude.base_url): 'http://[::1' is not a "
                          "valid URL")
    assert "tapsync.yaml" not in err


def test_insecure_base_url_from_the_environment_is_blamed_on_the_variable(ws: Path) -> None:
    code, _, err = tapsync(ws, "validate",
                           env={"TAPSYNC_TAPLYTICS_BASE_URL": "http://example.com"})
    assert code == 1
    assert err.startswith("Error: environment variable TAPSYNC_TAPLYTICS_BASE_URL ")
    assert "must be an https:// URL" in err and "tapsync.yaml" not in err


# ---------------------------------------------------------------------------- --target

def test_target_with_an_unknown_kind_is_a_usage_error(ws: Path) -> None:
    code, out, err = tapsync(ws, "plan", "--sandbox", "--detailed-exitcode",
                             "--target", 'amplitude.event_typo["X"]')
    assert code == 1 and out == ""
    assert err.startswith('Error: --target amplitude.event_typo["X"]: amplitude has no kind '
                          "'event_typo' (known: category, event_property, event_type, ")
    assert not (ws / ".tapsync").exists()  # refused before anything was read


def test_target_with_an_unknown_provider_is_a_usage_error(ws: Path) -> None:
    code, _, err = tapsync(ws, "apply", "--sandbox", "--auto-approve",
                           "--target", 'amplitud.category["Media"]')
    assert code == 1
    assert "unknown provider 'amplitud' (known: amplitude, taplytics)" in err


def test_target_that_matches_nothing_is_warned_of_on_stderr(ws: Path) -> None:
    code, _, err = tapsync(ws, "plan", "--sandbox", "--detailed-exitcode",
                           "--target", 'amplitude.category["Medai"]')
    assert code == 0
    assert ('warning: amplitude.category["Medai"]: --target matches no declared or live '
            "object") in err


# ------------------------------------------------- import with some credentials only

@pytest.fixture
def served_app() -> Starlette:
    """The app :func:`amplitude_only` serves: its statistics say what reached it."""
    return create_app()


@pytest.fixture
def amplitude_only(ws: Path, served_app: Starlette,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The sandbox served on a loopback port as "the real" Amplitude, with its keys set
    and no Taplytics token: a project that only uses Amplitude."""
    with serve_in_thread(served_app) as url:
        httpx.post(f"{url}/api/2/taxonomy/category", data={"category_name": "Media"},
                   auth=("sandbox-api-key", "sandbox-secret-key")).raise_for_status()
        monkeypatch.setenv("TAPSYNC_AMPLITUDE_BASE_URL", url)
        monkeypatch.setenv("AMPLITUDE_API_KEY", "sandbox-api-key")
        monkeypatch.setenv("AMPLITUDE_SECRET_KEY", "sandbox-secret-key")
        monkeypatch.delenv("TAPLYTICS_API_TOKEN", raising=False)
        # were Taplytics contacted, it would be here, counted, not on the internet
        monkeypatch.setenv("TAPSYNC_TAPLYTICS_BASE_URL", url)
        yield ws


@pytest.mark.socket
@pytest.mark.parametrize("args", [("plan",), ("drift",), ("apply", "--auto-approve")],
                         ids=["plan", "drift", "apply"])
def test_only_the_providers_a_manifest_uses_are_contacted(
        amplitude_only: Path, served_app: Starlette, args: tuple[str, ...]) -> None:
    """CONTRACT.md §2: a workspace with only Amplitude manifests needs no Taplytics token
    and sends Taplytics nothing (both services point at one sandbox, which counts every
    request it receives by endpoint)."""
    code, _, err = tapsync(amplitude_only, *args)
    assert code == 0, err
    assert "TAPLYTICS" not in err
    endpoints = run(Sandbox(served_app).stats())["endpoints"]
    assert any(e.startswith("GET /api/2/") for e in endpoints), "it read nothing at all"
    elsewhere = [e for e in endpoints if e.split(" ", 1)[1].split("/")[1:3] != ["api", "2"]]
    assert not elsewhere, f"requests outside Amplitude's taxonomy API: {elsewhere}"


@pytest.mark.socket
def test_import_without_provider_skips_one_with_no_credentials(amplitude_only: Path) -> None:
    code, out, err = tapsync(amplitude_only, "import", "--out", "imported")
    assert code == 0, err
    assert ("Skipping taplytics: TAPLYTICS_API_TOKEN not set (pass --provider taplytics to "
            "require it).") in err
    assert "Media" in (amplitude_only / "imported" / "amplitude" / "categories.yaml"
                       ).read_text(encoding="utf-8")
    assert "taplytics" not in out


@pytest.mark.socket
def test_import_of_a_named_provider_still_requires_its_credentials(
        amplitude_only: Path) -> None:
    code, _, err = tapsync(amplitude_only, "import", "--out", "imported",
                           "--provider", "taplytics")
    assert code == 1 and "missing credentials: set TAPLYTICS_API_TOKEN" in err


def test_import_with_no_credentials_at_all_names_them_and_how_to_choose(
        ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AMPLITUDE_API_KEY", "AMPLITUDE_SECRET_KEY", "TAPLYTICS_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = tapsync(ws, "import", "--out", "imported")
    assert code == 1
    assert ("missing credentials: set AMPLITUDE_API_KEY, AMPLITUDE_SECRET_KEY, "
            "TAPLYTICS_API_TOKEN") in err
    assert "--provider NAME" in err and "--sandbox" in err
    assert not os.path.exists(ws / "imported")


# ------------------------------------------------------------------- the lower findings

class _Stream:
    """A stream that is, or is not, a terminal."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(("out_tty", "err_tty"), [(True, False), (False, True)])
def test_colour_is_decided_per_stream(out_tty: bool, err_tty: bool,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``plan 2> log`` at a terminal: results coloured, the log plain; and the reverse."""
    from tapsync.cli.common import make_options

    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.stdout", _Stream(out_tty))
    monkeypatch.setattr("sys.stderr", _Stream(err_tty))
    opts = make_options(None, False, None, 0, 0, False)
    assert (opts.color, opts.out.color) == (out_tty, err_tty)
    assert (opts.style("x", fg="red") != "x") == out_tty
    assert (opts.out.style("x", fg="red") != "x") == err_tty


BAD_TARGET = ("plan", "--target", "bad address")
RED_ERROR = "\x1b[31m\x1b[1mError: \x1b[0m"


@pytest.mark.parametrize("args", [
    (*BAD_TARGET, "--no-color"),
    ("sandbox", "load", "--no-color", "--config", "nowhere.yaml", "manifests/amplitude.yaml"),
], ids=["plan", "sandbox load"])
def test_no_color_also_plain_on_the_error_prefix(ws: Path, monkeypatch: pytest.MonkeyPatch,
                                                 args: tuple[str, ...]) -> None:
    """At a terminal, ``--no-color`` covers the ``Error:`` line too (printed after the
    command ended: the flag used to be lost by then and the prefix came out red)."""
    code, out, err = at_terminal(ws, monkeypatch, *args)
    assert code == 1 and out == ""
    assert err.startswith("Error: ") and "\x1b[" not in err, repr(err)


def test_error_prefix_colour_at_a_terminal_unless_no_color(
        ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The witness that the terminal above is one: without the flag the prefix is red;
    NO_COLOR=1 turns it off as the flag does."""
    code, _, err = at_terminal(ws, monkeypatch, *BAD_TARGET)
    assert code == 1 and err.startswith(RED_ERROR), repr(err)
    assert "not an address: 'bad address'" in err
    monkeypatch.setenv("NO_COLOR", "1")
    with contextlib.redirect_stderr(Terminal()) as err_stream:
        assert main(list(BAD_TARGET)) == 1
    assert err_stream.getvalue().startswith("Error: not an address")


def test_no_color_of_an_earlier_run_does_not_linger(
        ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flag is remembered per run, not for the process: the next run without it is
    coloured again at a terminal."""
    assert at_terminal(ws, monkeypatch, *BAD_TARGET, "--no-color")[2].startswith("Error: ")
    assert at_terminal(ws, monkeypatch, *BAD_TARGET)[2].startswith(RED_ERROR)


def test_a_sandbox_plan_applied_without_sandbox_says_where_it_was_made(
        ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert tapsync(ws, "plan", "--sandbox", "--out", "p.json")[0] == 0
    for name in ("AMPLITUDE_API_KEY", "AMPLITUDE_SECRET_KEY", "TAPLYTICS_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = tapsync(ws, "apply", "p.json")
    assert code == 1 and "missing credentials" not in err
    assert "this plan was made for the default environment (the sandbox)" in err


def test_an_ignore_file_named_but_missing_is_an_error(ws: Path) -> None:
    code, out, err = tapsync(ws, "drift", "--sandbox", "--ignore-file", "tapsyncignore")
    assert code == 1 and out == ""
    assert err == ("Error: --ignore-file: tapsyncignore does not exist (create it, or run "
                   "'tapsync drift --write-baseline' to start one)\n")
    # --write-baseline creates it; the default .tapsyncignore stays optional
    assert tapsync(ws, "drift", "--sandbox", "--write-baseline",
                   "--ignore-file", "tapsyncignore")[0] == 0
    assert (ws / "tapsyncignore").is_file()
    assert tapsync(ws, "drift", "--sandbox")[0] == 2


@pytest.mark.socket
def test_a_very_short_credential_is_warned_of_once(ws: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with serve_in_thread(create_app(amplitude_credentials=("sandbox-api-key", "s"))) as url:
        monkeypatch.setenv("TAPSYNC_AMPLITUDE_BASE_URL", url)
        monkeypatch.setenv("AMPLITUDE_API_KEY", "sandbox-api-key")
        monkeypatch.setenv("AMPLITUDE_SECRET_KEY", "s")
        code, _, err = tapsync(ws, "plan")
    assert code == 0, err
    warning = ("warning: AMPLITUDE_SECRET_KEY is only 1 character long: check it; every "
               "occurrence of it in messages is masked")
    assert err.count(warning) == 1
    assert "AMPLITUDE_API_KEY is only" not in err
