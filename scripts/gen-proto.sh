#!/usr/bin/env bash
# Regenerates the committed Go and Python code from proto/.
#   scripts/gen-proto.sh          write into the tree
#   scripts/gen-proto.sh OUTDIR   write into OUTDIR (same relative paths) for the drift check
# Tool versions are pinned so that the output is byte-stable:
#   protoc: the one bundled with grpcio-tools (pinned in pyproject's dev extra)
#   protoc-gen-go / protoc-gen-go-grpc: the versions below, installed with `go install`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-.}"
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.0
PY="${PYTHON:-.venv/bin/python}"

GOBIN_DIR="$(pwd)/.tools/bin"
mkdir -p "$GOBIN_DIR"
if [ ! -x "$GOBIN_DIR/protoc-gen-go" ] || ! "$GOBIN_DIR/protoc-gen-go" --version | grep -q "${PROTOC_GEN_GO_VERSION}"; then
  GOBIN="$GOBIN_DIR" go install "google.golang.org/protobuf/cmd/protoc-gen-go@${PROTOC_GEN_GO_VERSION}"
fi
if [ ! -x "$GOBIN_DIR/protoc-gen-go-grpc" ] || ! "$GOBIN_DIR/protoc-gen-go-grpc" --version | grep -q "${PROTOC_GEN_GO_GRPC_VERSION#v}"; then
  GOBIN="$GOBIN_DIR" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@${PROTOC_GEN_GO_GRPC_VERSION}"
fi

mkdir -p "$OUT/host/internal/gen" "$OUT/plugin_runtime/_proto"
for name in hooks_http bench_stats; do
  # Go: one package per proto file, paths taken from go_package.
  "$PY" -m grpc_tools.protoc -I proto \
    --plugin=protoc-gen-go="$GOBIN_DIR/protoc-gen-go" \
    --plugin=protoc-gen-go-grpc="$GOBIN_DIR/protoc-gen-go-grpc" \
    --go_out="$OUT/host" --go_opt=module=github.com/streambench/host \
    --go-grpc_out="$OUT/host" --go-grpc_opt=module=github.com/streambench/host \
    "proto/$name.proto"
  # Python: the virtual include path makes the generated grpc module import
  # `from plugin_runtime._proto import ...` instead of a top-level module.
  "$PY" -m grpc_tools.protoc -I plugin_runtime/_proto=proto \
    --python_out="$OUT" --pyi_out="$OUT" --grpc_python_out="$OUT" \
    "plugin_runtime/_proto/$name.proto"
done
touch "$OUT/plugin_runtime/_proto/__init__.py"
