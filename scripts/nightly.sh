#!/usr/bin/env bash
# The nightly memory-regression job, runnable anywhere Docker Compose v2 is:
# build the images, run the containerized bench (plugin and host capped at
# 128m), compare the run against the committed baseline, tear down.
#
#   scripts/nightly.sh                       full profile (the nightly default)
#   BENCH_PROFILE=smoke scripts/nightly.sh   seconds; what the tests run
#
# Exit status: non-zero when the bench fails (e.g. a container OOM-killed) or
# the comparison finds a regression. With GITHUB_STEP_SUMMARY set, a markdown
# summary is appended to it; it is also written to <run dir>/nightly.md.
# Environment: BENCH_PROFILE, BENCH_SCENARIOS, BENCH_CHUNK_SIZES, BENCH_EXTRA_ARGS,
# PLUGIN_MEM_LIMIT, HOST_MEM_LIMIT (see docker-compose.yml), COMPOSE_PROJECT_NAME,
# RESULTS_DIR (default results/ of this checkout), NIGHTLY_BASELINE (default
# results/baseline/external-$BENCH_PROFILE: compose runs are the bench's
# "external" mode), NIGHTLY_COMPARE_ARGS (extra `bench compare` flags, e.g.
# a looser --throughput-tolerance on a noisy machine; default: the flags in the
# baseline's compare-args file, if it has one).
set -euo pipefail
cd "$(dirname "$0")/.."

export BENCH_PROFILE="${BENCH_PROFILE:-full}"
baseline="${NIGHTLY_BASELINE:-results/baseline/external-$BENCH_PROFILE}"
# A baseline may carry the flags it is fairly compared with (a compare-args
# file: flags, and # comment lines); NIGHTLY_COMPARE_ARGS replaces them.
compare_flags=${NIGHTLY_COMPARE_ARGS:-}
if [ -z "$compare_flags" ] && [ -f "$baseline/compare-args" ]; then
  compare_flags=$(grep -v '^[[:space:]]*#' "$baseline/compare-args" | tr '\n' ' ' || true)
fi
read -r -a compare_args <<<"$compare_flags"
mkdir -p "${RESULTS_DIR:-results}"
# Absolute: compose would read a bare name such as `results` as a named volume.
RESULTS_DIR=$(cd "${RESULTS_DIR:-results}" && pwd)
export RESULTS_DIR
results=$RESULTS_DIR
socket_gid=0
if [ -S /var/run/docker.sock ]; then socket_gid=$(stat -c %g /var/run/docker.sock); fi
# Results are written as the caller; bash's UID/GID are not exported, so pass them.
compose=(env "UID=$(id -u)" "GID=$(id -g)" "DOCKER_GID=$socket_gid"
  docker compose -f docker-compose.yml -f docker-compose.docker-socket.yml)

log() { echo "[nightly] $*" >&2; }

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  log "docker compose down -v"
  "${compose[@]}" --profile locust down -v --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT

before=$(ls -1 "$results")

t0=$SECONDS
log "build (profile $BENCH_PROFILE)"
"${compose[@]}" build
t1=$SECONDS

log "docker compose up --build --exit-code-from bench bench"
bench_rc=0
"${compose[@]}" up --build --exit-code-from bench bench || bench_rc=$?
t2=$SECONDS
if [ "$bench_rc" -ne 0 ]; then
  log "bench exited $bench_rc; last plugin/host logs:"
  "${compose[@]}" logs --no-color --tail 40 plugin host >&2 || true
fi

# The run folder is the one that appeared during this run.
run_dir=""
for path in "$results"/*/; do
  [ -d "$path" ] || continue
  entry=$(basename "$path")
  if [ "$entry" != baseline ] && ! grep -qxF "$entry" <<<"$before"; then
    run_dir="$RESULTS_DIR/$entry"
  fi
done

compare_rc=0
compare_out=""
if [ -z "$run_dir" ]; then
  log "no new run folder under $RESULTS_DIR/"
  compare_out="no run folder was written"
  [ "$bench_rc" -ne 0 ] || bench_rc=1
elif [ ! -f "$baseline/summary.json" ]; then
  compare_out="no baseline at $baseline/summary.json: comparison skipped"
  log "$compare_out"
else
  log "python -m bench compare ${compare_args[*]} $baseline $run_dir"
  # In the bench image, so this machine needs nothing but Docker.
  compare_out=$("${compose[@]}" run --rm --no-deps -T \
    -v "$(cd "$baseline" && pwd):/baseline:ro" bench \
    python -m bench compare "${compare_args[@]}" /baseline "/app/results/$(basename "$run_dir")" 2>&1) || compare_rc=$?
  echo "$compare_out"
fi
t3=$SECONDS

status=pass
if [ "$bench_rc" -ne 0 ]; then status="FAIL (bench exit $bench_rc)"; fi
if [ "$compare_rc" -ne 0 ]; then status="FAIL (regression: compare exit $compare_rc)"; fi

summary=$(
  cat <<EOF
## streambench nightly: $status

| | |
| --- | --- |
| profile | \`$BENCH_PROFILE\` |
| memory caps | plugin \`${PLUGIN_MEM_LIMIT:-128m}\`, host \`${HOST_MEM_LIMIT:-128m}\` |
| run folder | \`${run_dir:-none}\` |
| build / bench / compare | $((t1 - t0)) s / $((t2 - t1)) s / $((t3 - t2)) s |

### Comparison with \`$baseline\`

\`\`\`
$compare_out
\`\`\`
EOF
)
if [ -n "$run_dir" ] && [ -f "$run_dir/summary.md" ]; then
  summary+=$'\n\n### Run summary\n\n'"$(cat "$run_dir/summary.md")"
fi
if [ -n "$run_dir" ]; then echo "$summary" >"$run_dir/nightly.md"; fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then echo "$summary" >>"$GITHUB_STEP_SUMMARY"; fi
log "$status (run folder: ${run_dir:-none})"

if [ "$bench_rc" -ne 0 ]; then exit "$bench_rc"; fi
exit "$compare_rc"
