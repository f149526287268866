"""``tapsync sandbox serve`` says where it listens, and a taken port is one clear line.

Both through the real console script in a subprocess, as a user meets them.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import pytest
from sandbox_support import cli_server, free_port, tapsync_command


@pytest.mark.socket
def test_serve_announces_its_address_and_state_on_stderr(tmp_path: Path) -> None:
    port = free_port()
    with cli_server(port=port, cwd=tmp_path) as (base, process):
        assert process.stderr is not None
        line = process.stderr.readline()  # printed before serving: already there
    assert line == (f"tapsync sandbox: serving on {base} (state: in memory); "
                    "Ctrl-C to stop\n")
    assert base == f"http://127.0.0.1:{port}"
    state = tmp_path / "s.db"
    with cli_server("--state", str(state), cwd=tmp_path) as (_, process):
        assert process.stderr is not None
        assert f"(state: {state});" in process.stderr.readline()


@pytest.mark.socket
def test_serve_on_a_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*tapsync_command(), "sandbox", "serve", "--host", "127.0.0.1", "--port",
             str(port)], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr == (f"Error: port {port} on 127.0.0.1 is in use "
                           "(pick another with --port)\n")
    assert done.stdout == ""


@pytest.mark.socket
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_client_connecting_as_soon_as_it_reads_the_line_is_served(tmp_path: Path,
                                                                    host: str) -> None:
    """The line means "ready": the socket already listens when it is printed (it used to
    be only bound, so a script that trusted the line was refused), and ``localhost`` is
    served on 127.0.0.1, where the README's examples point."""
    for _ in range(3):
        port = free_port()
        process = subprocess.Popen(
            [*tapsync_command(), "sandbox", "serve", "--host", host, "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        try:
            assert process.stderr is not None
            assert "serving on" in process.stderr.readline()
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)
