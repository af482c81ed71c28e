"""CLI: clear errors for bad --app/--listen, health subcommand, SIGTERM stops cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plugin_runtime.cli import main
from plugin_runtime.loop import LoopUnavailableError, choose_loop

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


@pytest.mark.parametrize("from_env", [False, True])
def test_files_root_must_be_an_existing_directory(
    from_env: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    absent = str(tmp_path / "absent")
    args = ["--app", APP, "--listen", f"unix:{tmp_path}/p.sock"]
    if from_env:
        monkeypatch.setenv("PLUGIN_FILES_ROOT", absent)
    else:
        args += ["--files-root", absent]
    assert main(args) == 2
    assert f"--files-root {absent!r}: not an existing directory" in capsys.readouterr().err


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
        assert proc.stderr is not None
        assert f"loop={choose_loop('auto')[0]}" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_loop_auto_takes_uvloop_when_installed_and_asyncio_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvloop

    assert choose_loop("auto") == ("uvloop", uvloop.new_event_loop)
    assert choose_loop("uvloop") == ("uvloop", uvloop.new_event_loop)
    assert choose_loop("asyncio") == ("asyncio", None)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    assert choose_loop("auto") == ("asyncio", None)
    with pytest.raises(LoopUnavailableError, match="uvloop cannot be imported"):
        choose_loop("uvloop")
    with pytest.raises(ValueError, match="expected one of auto, asyncio, uvloop"):
        choose_loop("trio")


def test_loop_uvloop_missing_is_a_clear_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert main(["--app", APP, "--listen", f"unix:{tmp_path}/p.sock", "--loop", "uvloop"]) == 2
    assert "--loop uvloop: uvloop cannot be imported" in capsys.readouterr().err


async def _request_and_cancel_on_the_running_loop(sock: str) -> str:
    """One download and one cancelled stream through a PluginServer on this loop."""
    import asyncio

    import grpc

    from plugin_runtime._proto import hooks_http_pb2 as pb
    from plugin_runtime._proto import hooks_http_pb2_grpc as hooks_grpc
    from plugin_runtime.examples.bench import app
    from plugin_runtime.server import PluginServer
    from plugin_runtime.tests.conftest import wait_for

    def only_init(url: str) -> list[pb.ServeHTTPRequest]:
        init = pb.ServeHTTPRequestInit(method="GET", url=url)
        return [pb.ServeHTTPRequest(init=init, body_complete=True)]

    server = PluginServer(app, f"unix:{sock}")
    await server.start()
    async with grpc.aio.insecure_channel(f"unix:{sock}") as channel:
        stub = hooks_grpc.PluginHooksStub(channel)
        call = stub.ServeHTTP(iter(only_init("/download?size=3000&chunk=1000")))
        replies = [message async for message in call]
        assert b"".join(m.body_chunk for m in replies) == bytes(i % 256 for i in range(3000))
        assert replies[-1].body_complete
        hang = stub.ServeHTTP(iter(only_init("/hang")))
        await wait_for(lambda: server.counters.active > 0)
        hang.cancel()
        await wait_for(lambda: server.counters.cancelled > 0)
    await server.stop(grace=1)
    return type(asyncio.get_running_loop()).__module__


def test_plugin_serves_on_uvloop(tmp_path: Path) -> None:
    """grpc.aio's poller hands completions to a uvloop loop as to asyncio's: a request
    and a cancelled stream both work on it (in a fresh process: one loop kind each)."""
    sock = str(tmp_path / "p.sock")
    script = (
        "import uvloop\n"
        "from plugin_runtime.tests.test_cli import _request_and_cancel_on_the_running_loop\n"
        f"print(uvloop.run(_request_and_cancel_on_the_running_loop({sock!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "uvloop"
