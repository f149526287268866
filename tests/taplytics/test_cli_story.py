"""The user's story with Taplytics on the sandbox: plan, apply (sends), plan again: empty.

The sandbox persists in ``.tapsync/sandbox.db``; the experiments a dashboard would have
made are planted there first, as ``POST /_sandbox/fixtures`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from click.testing import CliRunner

from tapsync.cli import cli
from tapsync.sandbox import create_app
from tests.conftest import run

MANIFEST = """\
taplytics:
  experiments:
    - name: Checkout button colour
      status: active
    - name: Old onboarding test
      absent: true
  push_campaigns:
    - name: winter-sale-2099
      notification: {alert: "20% off this weekend"}
      filters:
        - {type: country, comparator: "=", values: [Canada, US]}
      schedule: {time: "2099-12-05T15:00:00Z"}
      production: true
  users:
    - user_id: qa-1
      email: qa-1@example.com
      custom_data: {tier: gold}
"""


def tap(ws: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args], catch_exceptions=False,
                                env={"TAPSYNC_CONFIG": str(ws / "tapsync.yaml"),
                                     "NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr


def plant(ws: Path, fixture: dict[str, object]) -> dict[str, object]:
    """Load fixtures into the workspace's sandbox file; return its state afterwards."""
    (ws / ".tapsync").mkdir(exist_ok=True)
    app = create_app(state_path=ws / ".tapsync" / "sandbox.db")

    async def go() -> dict[str, object]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as c:
            if fixture:
                answer = await c.post("/_sandbox/fixtures", json={"taplytics": fixture})
                assert answer.status_code == 200, answer.text
            state: dict[str, object] = (await c.get("/_sandbox/state")).json()
            return state

    try:
        return run(go())
    finally:
        app.state.sandbox.store.close()


def test_plan_apply_plan_again(workspace: Callable[..., Path]) -> None:
    ws = workspace({"manifests/t.yaml": MANIFEST})
    plant(ws, {"experiments": [{"name": "Checkout button colour", "status": "active"},
                               {"name": "Old onboarding test", "status": "archived"}]})
    code, out, err = tap(ws, "plan", "--sandbox", "--detailed-exitcode")
    assert code == 2, err
    assert 'taplytics.push_campaign["winter-sale-2099"]' in out

    code, out, err = tap(ws, "apply", "--sandbox", "--auto-approve")
    assert code == 1 and "--allow-send" in err  # a send needs saying so
    refused = plant(ws, {})["taplytics"]
    assert isinstance(refused, dict)
    assert not refused.get("push"), refused  # nothing was sent (nor anything else written)
    assert not refused.get("user"), refused

    code, out, err = tap(ws, "apply", "--sandbox", "--auto-approve", "--allow-send")
    assert code == 0, err
    code, out, err = tap(ws, "plan", "--sandbox", "--detailed-exitcode")
    assert code == 0, out + err

    state = plant(ws, {})["taplytics"]
    assert isinstance(state, dict)
    assert [p["name"] for p in state["push"].values()] == ["winter-sale-2099"]
    assert [e["name"] for e in state["experiment"].values()] == ["Checkout button colour"]
    [user] = state["user"].values()
    assert user["custom_data"] == {"tier": "gold"}


def test_an_experiment_missing_live_cannot_be_created(workspace: Callable[..., Path]) -> None:
    ws = workspace({"manifests/t.yaml": MANIFEST})
    code, out, err = tap(ws, "plan", "--sandbox")
    assert code == 1
    assert "create it in the dashboard" in out + err
    assert "Checkout button colour" in out + err


USER_ID_WITH_AT = """\
taplytics:
  users:
    - user_id: "partner@acme"
      custom_data: {tier: gold}
"""


def test_a_user_id_with_an_at_sign_is_a_user_id_not_an_email(
        workspace: Callable[..., Path]) -> None:
    """The manifest says ``user_id``: it is looked up, written and deleted as one, even
    though it looks like an address (it used to be taken for an email: planned as a
    create on every run, never converging)."""
    ws = workspace({"manifests/t.yaml": USER_ID_WITH_AT})
    code, out, err = tap(ws, "apply", "--sandbox", "--auto-approve")
    assert code == 0, out + err
    code, out, err = tap(ws, "plan", "--sandbox", "--detailed-exitcode")
    assert code == 0, out + err
    state = plant(ws, {})["taplytics"]
    assert isinstance(state, dict)
    [user] = state["user"].values()
    assert user["user_id"] == "partner@acme" and not user.get("email")

    (ws / "manifests" / "t.yaml").write_text(
        USER_ID_WITH_AT.replace("custom_data: {tier: gold}", "absent: true"), encoding="utf-8")
    code, out, err = tap(ws, "apply", "--sandbox", "--auto-approve")
    assert code == 0, out + err
    assert "1 applied" in out, out
    after = plant(ws, {}).get("taplytics") or {}
    assert isinstance(after, dict) and not after.get("user"), after
