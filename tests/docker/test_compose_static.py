"""Static checks of the container setup (no Docker engine needed): the compose
file's shape, the Dockerfiles' inputs, that every command a container or the
nightly workflow runs is a real CLI of ours, and actionlint on the workflow."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SOCKET_OVERRIDE = REPO_ROOT / "docker-compose.docker-socket.yml"
DOCKERFILES = sorted((REPO_ROOT / "docker").glob("*.Dockerfile"))
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "nightly.yml"
HOSTSTUB = Path(os.environ.get("HOSTSTUB_BIN", REPO_ROOT / "bin" / "hoststub"))
GOPLUGINHOST = Path(os.environ.get("GOPLUGINHOST_BIN", REPO_ROOT / "bin" / "gopluginhost"))
ACTIONLINT_VERSION = "v1.7.12"
CAPPED = ("plugin", "host")


def default_of(value: Any) -> str:
    """`${VAR:-128m}` -> `128m`; plain values unchanged."""
    text = str(value)
    match = re.fullmatch(r"\$\{\w+:-([^}]*)\}", text)
    return match.group(1) if match else text


def run_cli(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_compose_has_the_three_services_and_the_locust_profile(
    compose_doc: dict[str, Any],
) -> None:
    services = compose_doc["services"]
    for name in ("plugin", "host", "bench"):
        assert name in services, f"service {name!r} missing"
        assert "profiles" not in services[name], f"{name} must start without --profile"
    locust = {n: s for n, s in services.items() if "locust" in s.get("profiles", [])}
    assert {"locust-master", "locust-worker"} <= set(locust)
    master = locust["locust-master"]
    assert any(str(p).endswith(":8089") for p in master["ports"]), "Locust web UI on 8089"
    assert "--master" in master["command"]
    worker = locust["locust-worker"]
    assert "--worker" in worker["command"]
    # Workers scale with --scale: no fixed container_name, no published ports.
    assert "container_name" not in worker and "ports" not in worker
    for service in locust.values():
        assert (
            "http://host:8065/plugins/bench" in service["command"]
            or "--worker" in (service["command"])
        )


def test_monitoring_profile_scrapes_the_host_on_loopback_9090(
    compose_doc: dict[str, Any],
) -> None:
    prometheus = compose_doc["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"], "opt-in: not started by a plain `up`"
    assert default_of(prometheus["image"]).startswith("prom/prometheus:")
    assert "${PROMETHEUS_IMAGE:-" in prometheus["image"], "the offline script's image via .env"
    (port,) = prometheus["ports"]
    assert re.fullmatch(r"\$\{\w+:-127\.0\.0\.1\}:\$\{\w+:-9090\}:9090", port), port
    assert prometheus["networks"] == ["public"], "reaches host, never plugin"
    assert prometheus["depends_on"]["host"]["condition"] == "service_healthy"
    mounts = {m.split(":")[1]: m.split(":")[0] for m in prometheus["volumes"]}
    assert mounts["/prometheus"] in compose_doc["volumes"], "series survive a restart"
    assert "--storage.tsdb.path=/prometheus" in prometheus["command"]
    config = yaml.safe_load((REPO_ROOT / mounts["/etc/prometheus/prometheus.yml"]).read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["host:8065"]
    interval = config["global"]["scrape_interval"]
    assert interval.endswith("s") and float(interval[:-1]) <= 5, "a run of a minute is a curve"


def test_offline_script_builds_prometheus_from_debian() -> None:
    script = (REPO_ROOT / "scripts" / "docker-offline.sh").read_text()
    lib = (REPO_ROOT / "scripts" / "lib" / "prometheus-base.sh").read_text()
    assert "ensure_prometheus_base" in script and "PROMETHEUS_IMAGE=$PROMETHEUS_IMAGE" in script
    # Debian's package, installed by the same chroot step as the other bases ...
    assert 'import_base "$LOCAL_PROMETHEUS_IMAGE" "$ROOTFS_TARBALL" "prometheus"' in lib
    base_step = script[script.index("import_base() {") :]
    base_step = base_step[: base_step.index("\n}\n")]
    assert "apt-get install -y -q --no-install-recommends $packages" in base_step
    # ... which keeps every package from starting a daemon in the chroot.
    assert "policy-rc.d" in base_step, "the package must not start a daemon in the chroot"
    for path in ("scripts/docker-offline.sh", "scripts/lib/prometheus-base.sh"):
        assert run_cli(["bash", "-n", path]).returncode == 0, path


def test_plugin_is_on_the_internal_network_only(compose_doc: dict[str, Any]) -> None:
    networks = compose_doc["networks"]
    services = compose_doc["services"]
    plugin_nets = services["plugin"]["networks"]
    assert plugin_nets, "plugin must name its networks"
    for net in plugin_nets:
        assert networks[net].get("internal") is True, f"plugin network {net!r} is not internal"
    assert "ports" not in services["plugin"]
    host_nets = set(services["host"]["networks"])
    assert set(plugin_nets) <= host_nets, "host must reach the plugin"
    assert any(not networks[n].get("internal") for n in host_nets), "host needs a public network"
    assert any(str(p).endswith(":8065") for p in services["host"]["ports"])
    assert not set(services["bench"]["networks"]) & set(plugin_nets), "bench goes through host"


def test_go_plugin_peer_runs_beside_the_bridge(compose_doc: dict[str, Any]) -> None:
    services = compose_doc["services"]
    peer = services["go-plugin"]
    assert "profiles" not in peer, "the bench's peer starts with a plain `up`"
    assert peer["image"] == services["host"]["image"], "same image as the host"
    assert peer["build"] == services["host"]["build"]
    assert peer["entrypoint"] == ["gopluginhost"]
    assert peer["environment"]["GOPLUGINHOST_LISTEN"] == "0.0.0.0:8066"
    assert peer["networks"] == ["public"], "its plugin is its own child: no internal network"
    assert "ports" not in peer, "reached on the network only: no clash with a native run"
    # Host and plugin processes share the container: the bridge's two caps together.
    assert re.fullmatch(r"\$\{GO_PLUGIN_MEM_LIMIT:-256m\}", str(peer["mem_limit"]))
    assert peer["memswap_limit"] == peer["mem_limit"], "swap would let a buffering build pass"
    bridge_caps = sum(int(default_of(services[s]["mem_limit"]).rstrip("m")) for s in CAPPED)
    assert int(default_of(peer["mem_limit"]).rstrip("m")) == bridge_caps
    test = peer["healthcheck"]["test"]
    assert test[:3] == ["CMD", "gopluginhost", "health"]
    assert "http://127.0.0.1:8066/healthz" in test
    for name in ("bench", "capacity"):
        assert "--go-plugin-url http://go-plugin:8066" in " ".join(services[name]["command"]), name
        assert services[name]["depends_on"]["go-plugin"]["condition"] == "service_healthy", name


def test_host_image_carries_the_go_peer() -> None:
    text = (REPO_ROOT / "docker" / "host.Dockerfile").read_text()
    assert re.search(r"go build .*\./cmd/hoststub .*\./cmd/gopluginhost .*\./cmd/goplugin", text)
    copy = next(line for line in text.splitlines() if line.startswith("COPY --from=build"))
    # gopluginhost's default --plugin-bin is goplugin beside it.
    assert "/out/gopluginhost" in copy and "/out/goplugin " in copy
    assert copy.rstrip().endswith("/usr/local/bin/")


@pytest.mark.parametrize("service", CAPPED)
def test_memory_caps_default_to_128m_without_swap_escape(
    compose_doc: dict[str, Any], service: str
) -> None:
    spec = compose_doc["services"][service]
    assert default_of(spec["mem_limit"]) == "128m"
    assert re.fullmatch(rf"\$\{{{service.upper()}_MEM_LIMIT:-128m\}}", str(spec["mem_limit"]))
    assert spec["memswap_limit"] == spec["mem_limit"], "swap would let a buffering build pass"


def test_healthchecks_gate_startup(compose_doc: dict[str, Any]) -> None:
    services = compose_doc["services"]
    for name in CAPPED:
        test = services[name]["healthcheck"]["test"]
        assert test[0] == "CMD" and "health" in test, f"{name} healthcheck: {test}"
    assert services["host"]["depends_on"]["plugin"]["condition"] == "service_healthy"
    assert services["bench"]["depends_on"]["host"]["condition"] == "service_healthy"


def test_bench_writes_results_to_the_bind_mount_as_the_caller(
    compose_doc: dict[str, Any],
) -> None:
    bench = compose_doc["services"]["bench"]
    (mount,) = [m for m in bench["volumes"] if isinstance(m, dict)]
    # type bind: RESULTS_DIR=results is the folder, not a volume named `results`.
    assert mount["type"] == "bind"
    assert mount["bind"]["create_host_path"] is True
    source, target = mount["source"], mount["target"]
    assert default_of(source) == "./results"
    assert f"--results-dir {target}" in " ".join(bench["command"])
    assert bench["user"] == "${UID:-1000}:${GID:-1000}"
    for setting in ("BENCH_PROFILE", "BENCH_SCENARIOS", "BENCH_CHUNK_SIZES"):
        assert setting in bench["environment"]
    assert default_of(bench["environment"]["BENCH_PROFILE"]) == "quick"


def test_docker_socket_is_opt_in(compose_doc: dict[str, Any]) -> None:
    assert "docker.sock" not in yaml.safe_dump(compose_doc)
    override = yaml.safe_load(SOCKET_OVERRIDE.read_text())
    bench = override["services"]["bench"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in bench["volumes"]
    assert bench["group_add"], "the non-root bench user needs the socket's group"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_path_a_dockerfile_copies_exists(dockerfile: Path) -> None:
    copies = 0
    for line in dockerfile.read_text().splitlines():
        words = shlex.split(line) if line.strip().startswith("COPY") else []
        if not words or any(w.startswith("--from") for w in words):
            continue
        for source in words[1:-1]:
            if source.startswith("--"):
                continue
            copies += 1
            assert (REPO_ROOT / source).exists(), f"{dockerfile.name}: COPY {source} missing"
            ignored = (REPO_ROOT / ".dockerignore").read_text().split()
            assert source.rstrip("/") not in ignored, f"{source} is excluded by .dockerignore"
    assert copies >= 2


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_take_official_bases_as_build_args_and_run_non_root(
    dockerfile: Path,
) -> None:
    text = dockerfile.read_text()
    assert re.search(r"^ARG PY_BASE=python:3\.11-slim-bookworm$", text, re.M)
    assert all(
        line.split()[1].startswith("${") for line in text.splitlines() if line.startswith("FROM ")
    ), "base images must come from build args"
    last_stage = text.rsplit("\nFROM ", 1)[1]
    user = re.findall(r"^USER (\S+)", last_stage, re.M)
    assert user and not user[-1].startswith(("0", "root")), "final stage must not run as root"


def test_host_dockerfile_downloads_modules_before_copying_source() -> None:
    text = (REPO_ROOT / "docker" / "host.Dockerfile").read_text()
    assert re.search(r"^ARG GO_BASE=golang:1\.26-bookworm$", text, re.M)
    assert re.search(r"^ARG GOPROXY$", text, re.M)
    assert text.index("go mod download") < text.index("COPY host/ ")


def test_python_dockerfile_installs_dependencies_before_copying_source() -> None:
    text = (REPO_ROOT / "docker" / "python.Dockerfile").read_text()
    assert re.search(r"^ARG PIP_INDEX_URL$", text, re.M)
    assert text.index("pip install -r") < text.index("COPY plugin_runtime/")
    assert "venv" in text


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = set((REPO_ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "results", ".env", "bin"} <= ignored


def python_module_commands(compose_doc: dict[str, Any]) -> list[list[str]]:
    """Every `python -m ...` (and `locust`) a service or healthcheck of our images runs."""
    found: list[list[str]] = []
    for service in compose_doc["services"].values():
        if not str(service.get("image", "")).startswith("streambench/"):
            continue  # e.g. prometheus: not a CLI of ours
        command = [*service.get("entrypoint", []), *(service.get("command") or [])]
        argvs = [command, service.get("healthcheck", {}).get("test", [])[1:]]
        for argv in argvs:
            argv = [str(a) for a in argv]
            if argv[:2] == ["sh", "-c"]:
                argv = shlex.split(argv[2].replace("$$", "$"))
                argv = argv[1:] if argv[0] == "exec" else argv
            if argv:
                found.append(argv)
    return found


def test_every_compose_command_is_a_real_cli_of_ours(compose_doc: dict[str, Any]) -> None:
    """`--help` exits 0 and names every flag the compose file passes."""
    checked: set[str] = set()
    for argv in python_module_commands(compose_doc):
        if argv[0] in ("hoststub", "gopluginhost"):
            binary = HOSTSTUB if argv[0] == "hoststub" else GOPLUGINHOST
            if not binary.exists():
                pytest.fail(f"{binary} missing: run scripts/setup.sh")
            cli = [str(binary), *argv[1:2]] if argv[1:2] == ["health"] else [str(binary)]
        elif argv[0] == "python" and argv[1] == "-m":
            subcommand = argv[3:4] if argv[3:4] in (["run"], ["health"], ["capacity"]) else []
            cli = [sys.executable, "-m", argv[2], *subcommand]
        elif argv[0] == "locust":
            cli = [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(REPO_ROOT / "bench/load/locustfile.py"),
            ]
        else:
            pytest.fail(f"unexpected command in docker-compose.yml: {argv}")
        key = " ".join(cli)
        if key in checked:
            continue
        checked.add(key)
        if cli[-1].endswith("locustfile.py"):
            proc = run_cli([*cli, "--list"])  # imports the locustfile, lists its users
            assert proc.returncode == 0, f"{key} --list: {proc.stderr[-2000:]}"
            continue
        proc = run_cli([*cli, "--help"])
        assert proc.returncode == 0, f"`{key} --help` exited {proc.returncode}: {proc.stderr}"
        help_text = proc.stdout + proc.stderr
        for flag in (a for a in argv if a.startswith("--")):
            assert flag.lstrip("-") in help_text, f"{key} has no {flag}"
    assert len(checked) >= 7


def test_nightly_script_calls_real_bench_commands() -> None:
    script = (REPO_ROOT / "scripts" / "nightly.sh").read_text()
    assert "up --build --exit-code-from bench bench" in script
    assert "python -m bench compare" in script
    assert "down -v" in script
    proc = run_cli([sys.executable, "-m", "bench", "compare", "--help"])
    assert proc.returncode == 0, proc.stderr
    assert run_cli(["bash", "-n", "scripts/nightly.sh"]).returncode == 0


def test_workflow_runs_the_nightly_script_on_schedule_and_uploads_results() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    steps = workflow["jobs"]["bench"]["steps"]
    assert any(step.get("run") == "bash scripts/nightly.sh" for step in steps)
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "results/"
    assert upload.get("if") == "always()"


def actionlint_binary() -> Path:
    """.tools/bin/actionlint, installed with `go install` the first time."""
    binary = REPO_ROOT / ".tools" / "bin" / "actionlint"
    if binary.exists():
        return binary
    if shutil.which("go") is None:
        pytest.fail("actionlint missing and no Go toolchain to install it")
    proc = subprocess.run(
        ["go", "install", f"github.com/rhysd/actionlint/cmd/actionlint@{ACTIONLINT_VERSION}"],
        env={**os.environ, "GOBIN": str(binary.parent)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"installing actionlint failed: {proc.stderr[-2000:]}"
    return binary


def test_actionlint_passes_on_the_workflow() -> None:
    proc = run_cli([str(actionlint_binary()), str(WORKFLOW)], timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_capacity_service_is_opt_in_and_runs_the_ramp_against_the_capped_host(
    compose_doc: dict[str, Any],
) -> None:
    capacity = compose_doc["services"]["capacity"]
    assert capacity["profiles"] == ["capacity"], "`docker compose up` must not start it"
    command = " ".join(capacity["command"])
    assert "python -m bench capacity" in command and "--target-url http://host:8065" in command
    (volume,) = [m for m in capacity["volumes"] if isinstance(m, dict)]
    assert volume["type"] == "bind", "RESULTS_DIR must never be read as a volume name"
    assert f"--results-dir {volume['target']}" in command
    assert capacity["depends_on"]["host"]["condition"] == "service_healthy"
    assert capacity["user"] == compose_doc["services"]["bench"]["user"]
    assert default_of(capacity["environment"]["BENCH_CAPACITY_MEMORY_CAP"]) == "128m"
    override = yaml.safe_load(SOCKET_OVERRIDE.read_text())
    assert (
        "/var/run/docker.sock:/var/run/docker.sock" in override["services"]["capacity"]["volumes"]
    )


def test_nightly_capacity_gate_is_opt_in() -> None:
    script = (REPO_ROOT / "scripts" / "nightly.sh").read_text()
    assert 'if [ "${NIGHTLY_CAPACITY:-0}" = 1 ]; then' in script
    assert "run --rm -T capacity" in script
    assert "results/baseline/capacity-external-$BENCH_PROFILE" in script


def test_files_root_is_one_volume_the_bench_writes_and_host_and_plugin_only_read(
    compose_doc: dict[str, Any],
) -> None:
    services = compose_doc["services"]
    assert "files" in compose_doc["volumes"]
    for name, env, mount in (
        ("plugin", "PLUGIN_FILES_ROOT", "files:/files:ro"),
        ("host", "HOSTSTUB_FILES_ROOT", "files:/files:ro"),
        ("bench", "BENCH_FILES_ROOT", "files:/files"),
        ("capacity", "BENCH_FILES_ROOT", "files:/files"),
    ):
        assert services[name]["environment"][env] == "/files", name
        assert mount in services[name]["volumes"], name
    # A new volume takes the mode of the image's /files: open to a bench running
    # as any user (UID from .env), read by the services' own users.
    for dockerfile in DOCKERFILES:
        assert "mkdir -p /files && chmod 1777 /files" in dockerfile.read_text(), dockerfile.name
