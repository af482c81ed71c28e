#!/usr/bin/env bash
# Prepare the plugin runtime on another grpcio release, for an A/B against the
# pinned one (`python -m bench rps|ab --variant ...`).
#   scripts/grpcio-variant.sh VERSION [DIR]
# DIR (default /tmp/streambench-grpcio-VERSION) gets a copy of this checkout's
# HEAD, a venv with grpcio and grpcio-tools VERSION (grpcio-health-checking of the
# same minor release: it is pure Python and not released for every patch), and
# the Python protobuf code generated again with that grpcio-tools (generated
# code refuses an older grpcio than the one that generated it). The last line
# printed is the --variant value: the plugin runs from DIR on that venv, the
# host is this checkout's bin/hoststub.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:?usage: scripts/grpcio-variant.sh VERSION [DIR]}"
dir="${2:-/tmp/streambench-grpcio-$version}"
python_bin="${PYTHON_BIN:-python3}"

if [ ! -d "$dir/.git" ]; then
  git clone -q --no-hardlinks . "$dir"
fi
# Again on every call: the variant runs this checkout's HEAD, only grpcio differs.
git -C "$dir" fetch -q "$(pwd)" HEAD
git -C "$dir" checkout -q --force --detach FETCH_HEAD
if [ ! -x "$dir/.venv/bin/python" ]; then
  "$python_bin" -m venv "$dir/.venv"
fi
pip="$dir/.venv/bin/python -m pip"
$pip install -q --disable-pip-version-check \
  "grpcio==$version" "grpcio-tools==$version" \
  "grpcio-health-checking==${version%.*}.*" \
  psutil "uvloop>=0.21" >&2
(
  cd "$dir"
  for name in hooks_http bench_stats; do
    .venv/bin/python -m grpc_tools.protoc -I plugin_runtime/_proto=proto \
      --python_out=. --pyi_out=. --grpc_python_out=. "plugin_runtime/_proto/$name.proto"
  done
)
installed=$("$dir/.venv/bin/python" -c 'import grpc; print(grpc.__version__)')
[ "$installed" = "$version" ] || { echo "installed grpcio $installed, not $version" >&2; exit 1; }
echo "grpcio $version ready in $dir" >&2
echo "grpcio-$version=$dir;BENCH_PLUGIN_PYTHON=$dir/.venv/bin/python"
