"""The shell scripts CI and users run: scripts/docker-offline.sh driven against
stub commands, and a static rule for every script.

The stubs stand in for apt-get, debootstrap, chroot, docker, go and id, and each
prints noise on stdout the way the real tools do ("Reading package lists...",
"I: Retrieving InRelease", the sha256 `docker import` prints). On a fresh
machine (no debootstrap, no cache, no base image) the script must still hand
the right tarball to `docker import` and write the right bases to .env: a log
line that ends up inside a value breaks that. The script runs from a copy of
scripts/ in a temporary folder, so the checkout's .env is never touched."""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.runner.services import Variant

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = [
    *sorted((REPO_ROOT / "scripts").glob("*.sh")),
    *sorted((REPO_ROOT / "scripts" / "lib").glob("*.sh")),
    REPO_ROOT / ".ci" / "run",
]
LOCAL_PY_BASE = "local/python:3.11-slim-bookworm"
LOCAL_GO_BASE = "local/golang:1.26-bookworm"
OFFICIAL_PY_BASE = "python:3.11-slim-bookworm"
OFFICIAL_GO_BASE = "golang:1.26-bookworm"
LOCAL_PROMETHEUS = "local/prometheus:bookworm"
OFFICIAL_PROMETHEUS = "prom/prometheus:v2.53.4"

# Each stub appends its argv to $STUB_STATE/calls and prints noise on stdout.
STUBS = {
    "apt-get": r"""
echo "apt-get $*" >>"$STUB_STATE/calls"
echo "Reading package lists..."
echo "Building dependency tree..."
case " $* " in
  *" install "*debootstrap*) cp "$STUB_STATE/debootstrap" "$STUB_BIN/debootstrap" ;;
esac
""",
    "chroot": r"""
echo "chroot $*" >>"$STUB_STATE/calls"
echo "Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]"
""",
    "docker": r"""
echo "docker $*" >>"$STUB_STATE/calls"
touch "$STUB_STATE/images"
case "$1 ${2:-}" in
  "info "*) echo "Server Version: 20.10.24" ;;
  "version "*) echo "20.10.24" ;;
  "compose version") echo "Docker Compose version v2.32.4" ;;
  "image inspect") grep -qxF "$3" "$STUB_STATE/images" ;;
  "pull "*)
    for name in $STUB_PULLABLE; do
      if [ "$name" = "${!#}" ]; then echo "$name" >>"$STUB_STATE/images"; exit 0; fi
    done
    echo "Error response from daemon: no route to registry" >&2
    exit 1 ;;
  "import "*)
    name=${!#}
    cat >"$STUB_STATE/import-${name//[\/:]/_}.tar"
    echo "$name" >>"$STUB_STATE/images"
    echo "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" ;;
  *) echo "docker stub: unexpected $*" >&2; exit 2 ;;
esac
""",
    "go": r"""
echo "go $*" >>"$STUB_STATE/calls"
case "$*" in
  "env GOROOT") echo "$STUB_STATE/goroot" ;;
  *) echo "go stub: unexpected $*" >&2; exit 2 ;;
esac
""",
    "id": r"""
if [ "$*" = "-u" ]; then echo 0; else exec /usr/bin/id "$@"; fi
""",
}

# What `apt-get install debootstrap` puts on PATH: a root fs with a marker file.
DEBOOTSTRAP_STUB = r"""
echo "debootstrap $*" >>"$STUB_STATE/calls"
echo "I: Retrieving InRelease"
echo "I: Base system installed successfully."
target=$4
mkdir -p "$target/etc/ssl/certs" "$target/usr/local" "$target/var/lib/apt/lists"
echo bookworm >"$target/etc/debian_version"
"""


@dataclass
class Machine:
    """A copy of the scripts, stub commands first on PATH, a cache folder."""

    root: Path
    repo: Path
    state: Path
    cache: Path
    env: dict[str, str]

    def run_offline_setup(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.repo / "scripts" / "docker-offline.sh")],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def calls(self) -> list[str]:
        path = self.state / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def dotenv(self) -> dict[str, str]:
        lines = (self.repo / ".env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))

    def imported(self, name: str) -> Path:
        return self.state / f"import-{name.replace('/', '_').replace(':', '_')}.tar"


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    """A machine as CI meets it: no debootstrap, no cache, no base image."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "scripts", repo / "scripts")
    stub_bin, state = tmp_path / "bin", tmp_path / "state"
    stub_bin.mkdir()
    state.mkdir()
    for name, body in STUBS.items():
        stub = stub_bin / name
        stub.write_text("#!/usr/bin/env bash\nset -u\n" + body)
        stub.chmod(0o755)
    debootstrap = state / "debootstrap"
    debootstrap.write_text("#!/usr/bin/env bash\nset -u\n" + DEBOOTSTRAP_STUB)
    debootstrap.chmod(0o755)
    goroot = state / "goroot"
    (goroot / "bin").mkdir(parents=True)
    (goroot / "VERSION").write_text("go1.26\n")
    ca_bundle = tmp_path / "ca-certificates.crt"
    ca_bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    # No /usr/local/bin, no sbin: the machine's own docker CLI or debootstrap
    # must not answer instead of the stubs.
    path = f"{stub_bin}:/usr/bin:/bin"
    assert shutil.which("debootstrap", path=path) is None, "a debootstrap outside sbin"
    env = {
        "PATH": path,
        "HOME": str(tmp_path),
        "STUB_BIN": str(stub_bin),
        "STUB_STATE": str(state),
        "STUB_PULLABLE": "",
        "STREAMBENCH_DOCKER_CACHE": str(tmp_path / "cache"),
        "CA_BUNDLE": str(ca_bundle),
        "DOCKERD_LOG": str(tmp_path / "dockerd.log"),
    }
    return Machine(tmp_path, repo, state, tmp_path / "cache", env)


def assert_ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstderr:\n{proc.stderr[-3000:]}"
    # Every log line and every child's output goes to stderr.
    assert proc.stdout == "", f"docker-offline.sh wrote to stdout:\n{proc.stdout[:2000]}"


def test_fresh_machine_installs_debootstrap_and_imports_both_local_bases(
    machine: Machine,
) -> None:
    proc = machine.run_offline_setup()
    assert_ok(proc)
    calls = machine.calls()
    assert any(
        c.startswith("apt-get ") and "install" in c.split() and "debootstrap" in c for c in calls
    ), calls
    assert any(c.startswith("debootstrap --variant=minbase") for c in calls), calls

    tarball = machine.cache / "bookworm-minbase.tar"
    with tarfile.open(tarball) as rootfs:
        assert "./etc/debian_version" in rootfs.getnames()
    imports = [c for c in calls if c.startswith("docker import")]
    assert [c.split()[-1] for c in imports] == [LOCAL_PY_BASE, LOCAL_GO_BASE, LOCAL_PROMETHEUS], (
        imports
    )
    with tarfile.open(machine.imported(LOCAL_PY_BASE)) as image:
        names = image.getnames()
        assert "./etc/debian_version" in names
        assert "./etc/ssl/certs/ca-certificates.crt" in names
    with tarfile.open(machine.imported(LOCAL_GO_BASE)) as image:
        assert "./usr/local/go/VERSION" in image.getnames(), "the machine's Go toolchain"
    assert "ENV GOTOOLCHAIN=local" in imports[1]
    installs = [c for c in calls if c.startswith("chroot ") and " install " in c]
    assert [c.split()[-1] for c in installs] == ["python3-venv", "git", "prometheus"], installs
    assert "USER 65534:65534" in imports[2] and "ENTRYPOINT" in imports[2]

    env = machine.dotenv()
    assert env["PY_BASE"] == LOCAL_PY_BASE
    assert env["GO_BASE"] == LOCAL_GO_BASE
    assert env["PROMETHEUS_IMAGE"] == LOCAL_PROMETHEUS
    assert (machine.repo / "results").is_dir()


def test_second_run_reuses_the_local_bases_without_installing_anything(
    machine: Machine,
) -> None:
    assert_ok(machine.run_offline_setup())
    first_env = (machine.repo / ".env").read_text()
    (machine.state / "calls").unlink()

    proc = machine.run_offline_setup()
    assert_ok(proc)
    calls = machine.calls()
    assert not [c for c in calls if c.split()[0] in ("apt-get", "debootstrap", "chroot")], calls
    assert not [c for c in calls if c.startswith("docker import")], calls
    assert (machine.repo / ".env").read_text() == first_env
    assert ".env: up to date" in proc.stderr


def test_reachable_registry_uses_the_official_bases_and_builds_nothing(
    machine: Machine,
) -> None:
    machine.env["STUB_PULLABLE"] = f"{OFFICIAL_PY_BASE} {OFFICIAL_GO_BASE} {OFFICIAL_PROMETHEUS}"
    proc = machine.run_offline_setup()
    assert_ok(proc)
    env = machine.dotenv()
    assert (env["PY_BASE"], env["GO_BASE"]) == (OFFICIAL_PY_BASE, OFFICIAL_GO_BASE)
    assert env["PROMETHEUS_IMAGE"] == OFFICIAL_PROMETHEUS
    assert not (machine.cache / "bookworm-minbase.tar").exists()
    assert not [c for c in machine.calls() if c.split()[0] in ("apt-get", "debootstrap")]


def function_names(script: str) -> list[str]:
    return re.findall(r"^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{", script, re.MULTILINE)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_script_captures_the_output_of_its_own_functions(path: Path) -> None:
    """`x=$(some_function)` makes every line the function (or a command it runs)
    prints part of x; functions hand results over in variables instead."""
    script = path.read_text()
    for name in function_names(script):
        captured = re.search(rf"(\$\(|`)\s*{re.escape(name)}\b", script)
        assert captured is None, f"{path.name}: output of function {name}() is captured"


def test_the_capture_rule_sees_a_captured_function() -> None:
    script = 'log() { echo "$*"; }\nfind_it() { log hi; X=1; }\nvalue=$(find_it)\n'
    assert function_names(script) == ["log", "find_it"]
    assert re.search(r"(\$\(|`)\s*find_it\b", script)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_shell_scripts_pass_shellcheck() -> None:
    """.ci/run installs shellcheck (Debian package) so CI always runs this."""
    proc = subprocess.run(
        ["shellcheck", "-x", *map(str, SCRIPTS)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout


def test_grpcio_variant_prepares_a_runnable_tree_for_an_ab_run(tmp_path: Path) -> None:
    """scripts/grpcio-variant.sh: this checkout's HEAD on a venv of the given grpcio,
    its protobuf code generated again, printed as a `--variant` the bench accepts."""
    version = "1.75.0"
    proc = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "grpcio-variant.sh"), version, str(tmp_path / "v")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    variant = Variant.parse(proc.stdout.strip().splitlines()[-1])
    assert variant.name == f"grpcio-{version}" and variant.tree == tmp_path / "v"
    python = variant.env["BENCH_PLUGIN_PYTHON"]
    check = subprocess.run(
        [python, "-c", "import grpc, plugin_runtime.servehttp; print(grpc.__version__)"],
        cwd=variant.tree,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr[-2000:]
    assert check.stdout.strip() == version
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    tree_head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=variant.tree, capture_output=True, text=True
    )
    assert tree_head.stdout == head.stdout


def test_grpcio_variant_without_a_version_says_how_to_call_it() -> None:
    proc = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "grpcio-variant.sh")], capture_output=True, text=True
    )
    assert proc.returncode != 0 and "usage: scripts/grpcio-variant.sh VERSION" in proc.stderr
