"""The command line as users and CI meet it: exit codes, formats, refusals, the sandbox story."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tapsync.cli import cli, main

EVENTS = """\
amplitude:
  categories:
    - name: Media
  event_types:
    - name: Play Song
      category: Media
      description: A song started playing
      properties:
        - name: duration
          type: number
          is_required: true
  user_properties:
    - name: plan
      type: string
"""


def invoke(ws: Path, *args: str, input: str | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(cli, [*args], input=input, catch_exceptions=False,
                           env={"TAPSYNC_CONFIG": str(ws / "tapsync.yaml"), "NO_COLOR": "1"},
                           standalone_mode=True)
    return result.exit_code, result.stdout, result.stderr


def run_main(ws: Path, *args: str, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Through ``main``: the real exit-code mapping (usage errors are 1, not click's 2)."""
    monkeypatch.chdir(ws)
    monkeypatch.setenv("NO_COLOR", "1")
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("validate", "plan", "apply", "drift", "import", "sandbox"):
        assert f"  {name}" in result.output


def test_validate_valid_text(workspace: Callable[..., Path]) -> None:
    ws = workspace({"manifests/a.yaml": EVENTS})
    code, out, _ = invoke(ws, "validate")
    assert code == 0
    assert "Valid: 4 object(s) in 1 file(s)." in out


def test_validate_invalid_every_format(workspace: Callable[..., Path]) -> None:
    bad = "amplitude:\n  event_types:\n    - name: X\n      colour: red\n"
    ws = workspace({"manifests/a.yaml": bad})
    code, out, _ = invoke(ws, "validate")
    assert code == 1
    assert "manifests/a.yaml:4:7:" in out and "colour" in out and "Invalid: 1 error(s)" in out
    code, out, _ = invoke(ws, "validate", "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["valid"] is False
    assert doc["problems"][0]["line"] == 4 and doc["problems"][0]["severity"] == "error"
    code, out, _ = invoke(ws, "validate", "--format", "github")
    assert code == 1
    assert out.startswith("::error file=") and ",line=4,col=7::" in out


def test_usage_errors_exit_1_without_traceback(workspace: Callable[..., Path],
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    ws = workspace({"manifests/a.yaml": EVENTS})
    code, _, err = run_main(ws, "plan", "--no-such-flag", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1 and "No such option" in err and "Traceback" not in err
    code, _, err = run_main(ws, "plan", "--sandbox", "--target", "not an address",
                            monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1 and "not an address" in err and "Traceback" not in err


def test_missing_config_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(tmp_path, "plan", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1 and "no configuration at" in err and "Traceback" not in err


def test_missing_credentials_are_named(workspace: Callable[..., Path],
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    ws = workspace({"manifests/a.yaml": EVENTS})
    monkeypatch.delenv("AMPLITUDE_API_KEY", raising=False)
    monkeypatch.delenv("AMPLITUDE_SECRET_KEY", raising=False)
    code, _, err = run_main(ws, "plan", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1
    assert "AMPLITUDE_API_KEY" in err and "AMPLITUDE_SECRET_KEY" in err and "--sandbox" in err


def test_invalid_manifest_stops_plan_with_locations(workspace: Callable[..., Path],
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    ws = workspace({"manifests/a.yaml": "amplitude:\n  event_types:\n    - {name: X, colour: 1}\n"})
    code, out, err = run_main(ws, "plan", "--sandbox", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1 and out == ""
    assert "a.yaml:3:" in err and "colour" in err


def test_sandbox_story_plan_apply_converges(workspace: Callable[..., Path],
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    ws = workspace({"manifests/a.yaml": EVENTS})
    code, out, _ = run_main(ws, "plan", "--sandbox", "--detailed-exitcode",
                            monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2
    assert "Plan: 4 to create, 0 to update, 0 to rename, 0 to delete." in out
    assert '+ amplitude.event_property["Play Song"]["duration"]' in out

    code, out, err = run_main(ws, "apply", "--sandbox", "--auto-approve",
                              monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    assert "Apply complete: 4 applied, 0 failed, 0 skipped." in out
    assert "Converged" in err
    journals = list((ws / ".tapsync" / "journal").glob("*.jsonl"))
    assert len(journals) == 1
    events = [json.loads(line)["event"] for line in journals[0].read_text().splitlines()]
    assert events.count("ok") == 4 and events[0] == "begin" and events[-1] == "end"

    code, out, _ = run_main(ws, "plan", "--sandbox", "--detailed-exitcode",
                            monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0
    assert "No changes." in out


def test_apply_refuses_without_a_terminal(workspace: Callable[..., Path]) -> None:
    ws = workspace({"manifests/a.yaml": EVENTS})
    code, _, err = invoke(ws, "apply", "--sandbox", input="y\n")
    assert code == 1
    assert "--auto-approve" in err
    code, _, _ = invoke(ws, "plan", "--sandbox", "--detailed-exitcode")
    assert code == 2  # nothing was written


def test_max_cost_refuses_before_writing(workspace: Callable[..., Path]) -> None:
    ws = workspace({"manifests/a.yaml": EVENTS})
    code, _, err = invoke(ws, "apply", "--sandbox", "--auto-approve", "--max-cost", "3")
    assert code == 1 and "refusing to apply" in err
    code, _, _ = invoke(ws, "plan", "--sandbox", "--detailed-exitcode")
    assert code == 2


def test_plan_json_is_the_contract_envelope(workspace: Callable[..., Path]) -> None:
    ws = workspace({"manifests/a.yaml": EVENTS})
    code, out, _ = invoke(ws, "plan", "--sandbox", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["format_version"] == "1"
    assert doc["summary"]["create"] == 4
    first = doc["changes"][0]
    assert first["address"] == 'amplitude.category["Media"]' and first["action"] == "create"
    assert doc["cost"]["providers"]["amplitude"]["reads"] == 4
    assert doc["cost"]["providers"]["amplitude"]["writes"] == 8


def test_target_narrows_the_plan(workspace: Callable[..., Path]) -> None:
    ws = workspace({"manifests/a.yaml": EVENTS})
    code, out, _ = invoke(ws, "plan", "--sandbox", "--target", 'amplitude.user_property["plan"]')
    assert code == 0
    assert 'amplitude.user_property["plan"]' in out and "Play Song" not in out


def test_saved_plan_applies_exactly_and_then_is_stale(workspace: Callable[..., Path]) -> None:
    ws = workspace({"manifests/a.yaml": EVENTS})
    planfile = ws / "plan.json"
    code, _, err = invoke(ws, "plan", "--sandbox", "--out", str(planfile))
    assert code == 0 and "Saved the plan" in err
    code, out, err = invoke(ws, "apply", "--sandbox", str(planfile))
    assert code == 0, err
    assert "4 applied" in out
    # the same plan again: its creates now find live objects, so it is stale
    code, _, err = invoke(ws, "apply", "--sandbox", str(planfile))
    assert code == 1 and "stale plan" in err


def test_damaged_planfile_is_refused(workspace: Callable[..., Path]) -> None:
    ws = workspace({"manifests/a.yaml": EVENTS})
    bad = ws / "bad.json"
    bad.write_text('{"format_version": "9", "changes": []}')
    code, _, err = invoke(ws, "apply", "--sandbox", str(bad))
    assert code == 1 and "format_version" in err
    bad.write_text("not json")
    code, _, err = invoke(ws, "apply", "--sandbox", str(bad))
    assert code == 1 and "not a saved plan" in err


def test_color_only_when_asked(workspace: Callable[..., Path]) -> None:
    ws = workspace({"manifests/a.yaml": EVENTS})
    _, out, _ = invoke(ws, "plan", "--sandbox")
    assert "\x1b[" not in out
