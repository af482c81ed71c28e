"""CLI: clear errors for bad --app/--listen, health subcommand, SIGTERM stops cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plugin_runtime.cli import main

APP = "plugin_runtime.examples.bench:app"


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("no_such_module_xyz:app", "module 'no_such_module_xyz' not found"),
        ("plugin_runtime.examples.bench:nope", "has no attribute 'nope'"),
        ("plugin_runtime.examples.bench", "expected MODULE:ATTR"),
        ("plugin_runtime.examples.bench:MAX_DOWNLOAD_CHUNK", "is not callable"),
        ("plugin_runtime.examples.pattern:pattern_block", "must be `async def"),
    ],
)
def test_bad_app_is_a_clear_usage_error(
    app: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--app", app, "--listen", f"unix:{tmp_path}/p.sock"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("localhost", "expected unix:/path.sock or HOST:PORT"),
        ("127.0.0.1:99999", "expected unix:/path.sock or HOST:PORT"),
        ("unix:", "empty unix socket path"),
        ("unix:/no/such/dir/p.sock", "does not exist"),
    ],
)
def test_bad_listen_is_a_clear_usage_error(
    listen: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--app", APP, "--listen", listen]) == 2
    assert message in capsys.readouterr().err


def test_missing_flags_and_bad_chunk_size(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "--app and --listen are required" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--app", APP, "--listen", "unix:/tmp/x.sock", "--max-chunk-bytes", "0"])
    assert "must be >= 1" in capsys.readouterr().err


def test_health_of_nothing_listening_fails(tmp_path: Path) -> None:
    assert main(["health", f"unix:{tmp_path}/absent.sock", "--timeout", "0.5"]) == 1


def test_process_serves_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    sock = tmp_path / "plugin.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "plugin_runtime", "--listen", f"unix:{sock}"],
        env={"PLUGIN_APP": APP, "PATH": "/usr/bin:/bin"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60  # a busy machine starts Python slowly
        while not sock.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "socket never appeared"
            time.sleep(0.05)
        health = subprocess.run(
            [sys.executable, "-m", "plugin_runtime", "health", f"unix:{sock}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert health.returncode == 0, health.stderr
        assert "SERVING" in health.stdout
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert not sock.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
