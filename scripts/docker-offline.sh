#!/usr/bin/env bash
# Make `docker compose up bench` work on a machine with no Docker engine running
# and no image registry reachable (only Debian packages, PyPI and the Go module
# proxy). Idempotent: each step is skipped when its result is already there, so a
# second run takes seconds. Must run as root (apt-get, dockerd, debootstrap).
#
#   scripts/docker-offline.sh          engine + compose + base images + .env
#
# Steps (recipe: docs/containers.md):
#   1. engine   `docker info` fails -> apt-get install docker.io iptables, start dockerd
#   2. compose  `docker compose version` fails -> go install compose v2 as a CLI plugin
#   3. bases    official python/golang images neither present nor pullable ->
#               debootstrap bookworm once, `docker import` local/python + local/golang
#   4. prometheus  the monitoring profile's image: official, else local/prometheus
#               from Debian's `prometheus` package (scripts/lib/prometheus-base.sh)
#   5. .env     PY_BASE, GO_BASE, PROMETHEUS_IMAGE, UID, GID, DOCKER_GID beside docker-compose.yml
#
# Everything this script and its children print (apt-get, debootstrap, go
# install, docker) goes to stderr: stdout is never a channel for results. Steps
# hand their results over in globals (ROOTFS_TARBALL, CHOSEN_BASE, PY_BASE,
# GO_BASE, DEBIAN_MIRROR), never through $(function), so no log line can end up
# in a value.
set -euo pipefail
exec 1>&2
cd "$(dirname "$0")/.."
repo_root=$(pwd)

COMPOSE_VERSION="${COMPOSE_VERSION:-v2.32.4}"
OFFICIAL_PY_BASE="python:3.11-slim-bookworm"
OFFICIAL_GO_BASE="golang:1.26-bookworm"
LOCAL_PY_BASE="local/python:3.11-slim-bookworm"
LOCAL_GO_BASE="local/golang:1.26-bookworm"
CACHE_DIR="${STREAMBENCH_DOCKER_CACHE:-/var/cache/streambench}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/streambench-dockerd.log}"
PULL_TIMEOUT_S="${PULL_TIMEOUT_S:-20}"
# Copied into the local bases so pip/apt/go inside containers verify registries.
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

# Seconds since the start, so a CI log shows which step took the time.
log() { echo "[docker-offline +${SECONDS}s] $*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# A live (not zombie, not exiting) dockerd process.
dockerd_alive() {
  local pid
  for pid in $(pgrep -x dockerd 2>/dev/null); do
    case "$(ps -o stat= -p "$pid" 2>/dev/null)" in
      Z* | "") ;;
      *) return 0 ;;
    esac
  done
  return 1
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "$1 needs root (run with sudo)"
}

apt_install() {
  need_root "apt-get install $*"
  if [ ! -f "$CACHE_DIR/.apt-updated" ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -q
    mkdir -p "$CACHE_DIR" && touch "$CACHE_DIR/.apt-updated"
  fi
  # Waits for another apt/dpkg (unattended upgrades, a provisioning step) to finish.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
    install -y -q --no-install-recommends "$@"
}

ensure_engine() {
  if docker info >/dev/null 2>&1; then
    log "engine: already answering"
    return
  fi
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v iptables >/dev/null 2>&1; then
    log "engine: installing docker.io iptables"
    apt_install docker.io iptables
  fi
  need_root "starting dockerd"
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
      log "engine: up ($(docker version --format '{{.Server.Version}}'))"
      return
    fi
    # Checked on every tick: a daemon killed with its session (CI runs after
    # the session's processes end) may still be exiting at the first look.
    if ! dockerd_alive; then
      log "engine: starting dockerd (log: $DOCKERD_LOG)"
      # setsid: the daemon must outlive this script and its caller's process group.
      setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
    sleep 1
  done
  tail -n 30 "$DOCKERD_LOG" >&2 || true
  die "dockerd did not answer within 60 s"
}

ensure_compose() {
  if docker compose version >/dev/null 2>&1; then
    log "compose: $(docker compose version --short)"
    return
  fi
  command -v go >/dev/null 2>&1 || die "compose v2 missing and no Go toolchain to build it"
  log "compose: go install github.com/docker/compose/v2/cmd@$COMPOSE_VERSION (takes ~2 min)"
  # The ldflag is how compose's own build stamps its version (else it says "dev").
  (cd / && go install -ldflags "-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
    "github.com/docker/compose/v2/cmd@$COMPOSE_VERSION")
  install -D -m 0755 "$(go env GOPATH)/bin/cmd" /usr/local/lib/docker/cli-plugins/docker-compose
  docker compose version >/dev/null || die "docker compose still not answering after install"
  log "compose: $(docker compose version --short)"
}

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

# Sets DEBIAN_MIRROR: the mirror this machine's apt uses (deb822 .sources or
# one-line lists).
find_debian_mirror() {
  local uri
  uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '{print $2}' | grep -v security | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '{print $2}' | grep -v security | head -n1 || true)
  fi
  DEBIAN_MIRROR=${uri:-http://deb.debian.org/debian}
}

# Sets ROOTFS_TARBALL: one bookworm minbase root fs, kept as a tarball so later
# builds start from a copy.
bootstrap_rootfs() {
  ROOTFS_TARBALL="$CACHE_DIR/bookworm-minbase.tar"
  if [ -f "$ROOTFS_TARBALL" ]; then
    return
  fi
  need_root "debootstrap"
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  find_debian_mirror
  local dir
  dir=$(mktemp -d)
  log "bases: debootstrap bookworm minbase from $DEBIAN_MIRROR (~30 s)"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$dir" "$DEBIAN_MIRROR"
  # The machine's CA bundle: pip/apt/go inside containers must verify the registries.
  cp "$CA_BUNDLE" "$dir/etc/ssl/certs/ca-certificates.crt"
  mkdir -p "$CACHE_DIR"
  tar -C "$dir" -cf "$ROOTFS_TARBALL.tmp" .
  mv "$ROOTFS_TARBALL.tmp" "$ROOTFS_TARBALL"
  rm -rf "$dir"
}

# import_base NAME TARBALL PACKAGES EXTRA_SETUP CHANGES...
import_base() {
  local name=$1 tarball=$2 packages=$3 extra=$4
  shift 4
  local dir
  dir=$(mktemp -d)
  tar -C "$dir" -xf "$tarball"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  # No package's maintainer scripts may start a service inside the chroot.
  mkdir -p "$dir/usr/sbin"
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod 0755 "$dir/usr/sbin/policy-rc.d"
  log "bases: apt-get install $packages into $name"
  chroot "$dir" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
    apt-get -o Acquire::Retries=3 update -q
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  chroot "$dir" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends $packages
  chroot "$dir" apt-get clean
  rm -rf "$dir"/var/lib/apt/lists/* "$dir/etc/resolv.conf" "$dir/usr/sbin/policy-rc.d"
  if [ -n "$extra" ]; then
    eval "$extra"
  fi
  local changes=()
  for change in "$@"; do changes+=(-c "$change"); done
  tar -C "$dir" -c . | docker import "${changes[@]}" - "$name"
  rm -rf "$dir"
  log "bases: imported $name"
}

# Sets CHOSEN_BASE to the base for one official image: the official image if
# present, else an earlier local build, else the official image if a pull
# succeeds, else "" (build one).
choose_base() {
  local official=$1 local_name=$2
  if image_present "$official"; then
    CHOSEN_BASE=$official
  elif image_present "$local_name"; then
    CHOSEN_BASE=$local_name
  elif [ "${STREAMBENCH_TRY_PULL:-1}" = 1 ] &&
    timeout "$PULL_TIMEOUT_S" docker pull -q "$official" >/dev/null 2>&1; then
    CHOSEN_BASE=$official
  else
    CHOSEN_BASE=""
  fi
}

# Sets PY_BASE and GO_BASE.
ensure_bases() {
  choose_base "$OFFICIAL_PY_BASE" "$LOCAL_PY_BASE"
  PY_BASE=$CHOSEN_BASE
  choose_base "$OFFICIAL_GO_BASE" "$LOCAL_GO_BASE"
  GO_BASE=$CHOSEN_BASE
  if [ -n "$PY_BASE" ] && [ -n "$GO_BASE" ]; then
    log "bases: $PY_BASE, $GO_BASE"
    return
  fi
  log "bases: no registry; building local images from Debian packages"
  bootstrap_rootfs
  local tarball=$ROOTFS_TARBALL
  local path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  if [ -z "$PY_BASE" ]; then
    import_base "$LOCAL_PY_BASE" "$tarball" "python3 python3-venv" "" \
      "ENV PATH=$path" "ENV LANG=C.UTF-8" 'CMD ["python3"]'
    PY_BASE=$LOCAL_PY_BASE
  fi
  if [ -z "$GO_BASE" ]; then
    local goroot
    goroot=$(go env GOROOT 2>/dev/null) || die "no Go toolchain on this machine to put in $LOCAL_GO_BASE"
    # The Go toolchain of this machine, so GOTOOLCHAIN=local never downloads another.
    # shellcheck disable=SC2016 # expanded inside import_base, where $dir is set
    import_base "$LOCAL_GO_BASE" "$tarball" "git" 'cp -a "'"$goroot"'" "$dir/usr/local/go"' \
      "ENV PATH=/go/bin:/usr/local/go/bin:$path" "ENV GOPATH=/go" "ENV GOTOOLCHAIN=local" \
      "ENV LANG=C.UTF-8" "WORKDIR /go" 'CMD ["bash"]'
    GO_BASE=$LOCAL_GO_BASE
  fi
}

# Compose reads .env beside docker-compose.yml for ${VAR} interpolation.
write_env() {
  local uid gid docker_gid=0
  # Results land in ./results owned by whoever owns the checkout (or sudo's caller).
  uid=${SUDO_UID:-$(stat -c %u "$repo_root")}
  gid=${SUDO_GID:-$(stat -c %g "$repo_root")}
  if [ -S /var/run/docker.sock ]; then docker_gid=$(stat -c %g /var/run/docker.sock); fi
  local content
  content=$(
    cat <<EOF
# Written by scripts/docker-offline.sh; base images for the Dockerfiles' build args.
PY_BASE=$PY_BASE
GO_BASE=$GO_BASE
PROMETHEUS_IMAGE=$PROMETHEUS_IMAGE
UID=$uid
GID=$gid
DOCKER_GID=$docker_gid
EOF
  )
  if [ ! -f .env ] || [ "$(cat .env)" != "$content" ]; then
    echo "$content" >.env
    log ".env: written ($PY_BASE, $GO_BASE, uid $uid)"
  else
    log ".env: up to date"
  fi
  mkdir -p results
}

# --- monitoring profile: Prometheus image (step 4) ---
# shellcheck source=SCRIPTDIR/lib/prometheus-base.sh
. "$repo_root/scripts/lib/prometheus-base.sh"
# --- end monitoring profile ---

ensure_engine
ensure_compose
ensure_bases
ensure_prometheus_base
write_env
log "ready: docker compose up --build --exit-code-from bench bench"
