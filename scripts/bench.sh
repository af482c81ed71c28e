#!/usr/bin/env bash
# The README's main command: a native bench run. Sets itself up, starts the
# host and the demo plugin itself, writes results/<timestamp>/.
#   scripts/bench.sh                     quick profile (a minute or two)
#   scripts/bench.sh --profile full      1 GiB transfers, full sweep (opt-in)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m bench run "$@"
