#!/usr/bin/env bash
# Idempotent setup used by the README commands: a venv with the project
# installed editable, the Go host built into bin/hoststub, the small-request
# load generator into bin/loadgen, and the Go peer (a Go plugin on the legacy
# plugin RPC) into bin/gopluginhost and bin/goplugin.
#   scripts/setup.sh            bench + dev extras
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON_BIN="${PYTHON_BIN:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON_BIN" -m venv .venv
fi
# Reinstall only when pyproject changed (keeps the second run fast).
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[bench,dev]"
  rm -f .venv/.installed-* && touch "$stamp"
fi
mkdir -p bin
(
  cd host
  go build -o ../bin/hoststub ./cmd/hoststub
  go build -o ../bin/loadgen ./cmd/loadgen
  go build -o ../bin/gopluginhost ./cmd/gopluginhost
  go build -o ../bin/goplugin ./cmd/goplugin
)
