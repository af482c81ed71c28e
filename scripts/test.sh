#!/usr/bin/env bash
# The README's test command: every test of the project, from a fresh clone.
#   scripts/test.sh              Go (vet, gofmt, -race), ruff, proto drift, pytest
# Docker end-to-end tests run when a Docker engine answers (`docker info`);
# bring one up with scripts/docker-offline.sh. STREAMBENCH_REQUIRE_DOCKER=1
# (set by .ci/run) turns a missing engine into a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== go: gofmt, vet, test -race"
(
  cd host
  unformatted=$(gofmt -l .)
  if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi
  go vet ./...
  go test -race -count=1 ./...
)

echo "== python: ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== pytest"
.venv/bin/python -m pytest "$@"
