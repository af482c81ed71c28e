#!/usr/bin/env bash
# The nightly memory-regression job, runnable anywhere Docker Compose v2 is:
# build the images, run the containerized bench (plugin and host capped at
# 128m), compare the run against the committed baseline, update the trend
# ($RESULTS_DIR/history/: every run folder, the baselines and the series kept
# from earlier nights in history.json), tear down.
#
#   scripts/nightly.sh                       full profile (the nightly default)
#   BENCH_PROFILE=quick scripts/nightly.sh   what CI runs
#
# Exit status: non-zero when the bench fails (e.g. a container OOM-killed) or
# the comparison finds a regression. With GITHUB_STEP_SUMMARY set, a markdown
# summary is appended to it; it is also written to <run dir>/nightly.md.
# Environment: BENCH_PROFILE, BENCH_SCENARIOS, BENCH_CHUNK_SIZES, BENCH_EXTRA_ARGS,
# PLUGIN_MEM_LIMIT, HOST_MEM_LIMIT (see docker-compose.yml), COMPOSE_PROJECT_NAME,
# RESULTS_DIR (default results), NIGHTLY_BASELINE (default
# results/baseline/external-$BENCH_PROFILE: compose runs are the bench's
# "external" mode), NIGHTLY_COMPARE_ARGS (extra `bench compare` flags, e.g.
# a looser --throughput-tolerance on a noisy machine), STREAMBENCH_COMMIT
# (default `git rev-parse HEAD`: baked into the images, recorded in the run).
# NIGHTLY_CAPACITY=1 also runs the concurrency ramp (compose service `capacity`,
# `python -m bench capacity`) and gates it against NIGHTLY_CAPACITY_BASELINE
# (default results/baseline/capacity-external-$BENCH_PROFILE): the bridge's
# capacity may not drop, its peak memory per level may not rise beyond the
# compare tolerances. Unset (the default): the job is exactly as before.
set -euo pipefail
cd "$(dirname "$0")/.."

export BENCH_PROFILE="${BENCH_PROFILE:-full}"
export RESULTS_DIR="${RESULTS_DIR:-results}"
STREAMBENCH_COMMIT="${STREAMBENCH_COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}"
export STREAMBENCH_COMMIT
baseline="${NIGHTLY_BASELINE:-results/baseline/external-$BENCH_PROFILE}"
read -r -a compare_args <<<"${NIGHTLY_COMPARE_ARGS:-}"
mkdir -p "$RESULTS_DIR"
results=$(cd "$RESULTS_DIR" && pwd)
socket_gid=0
if [ -S /var/run/docker.sock ]; then socket_gid=$(stat -c %g /var/run/docker.sock); fi
# Results are written as the caller; bash's UID/GID are not exported, so pass them.
compose=(env "UID=$(id -u)" "GID=$(id -g)" "DOCKER_GID=$socket_gid"
  docker compose -f docker-compose.yml -f docker-compose.docker-socket.yml)

log() { echo "[nightly] $*" >&2; }
now() { date +%s; }

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  log "docker compose down -v"
  "${compose[@]}" --profile locust --profile monitoring down -v --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The run folder that appeared since the listing $1 (empty when none did).
new_run_folder() {
  local path entry found=""
  for path in "$results"/*/; do
    [ -d "$path" ] || continue
    entry=$(basename "$path")
    if [ "$entry" != baseline ] && [ "$entry" != history ] && ! grep -qxF "$entry" <<<"$1"; then
      found="$RESULTS_DIR/$entry"
    fi
  done
  echo "$found"
}

# `bench compare` in the bench image, so this machine needs nothing but Docker.
compare_in_image() { # baseline dir, run folder
  "${compose[@]}" run --rm --no-deps -T -v "$(cd "$1" && pwd):/baseline:ro" bench \
    python -m bench compare "${compare_args[@]}" /baseline "/app/results/$(basename "$2")" 2>&1
}

before=$(ls -1 "$results")

t0=$(now)
log "build (profile $BENCH_PROFILE)"
"${compose[@]}" build
t1=$(now)

log "docker compose up --build --exit-code-from bench bench"
bench_rc=0
"${compose[@]}" up --build --exit-code-from bench bench || bench_rc=$?
t2=$(now)
if [ "$bench_rc" -ne 0 ]; then
  log "bench exited $bench_rc; last plugin/host logs:"
  "${compose[@]}" logs --no-color --tail 40 plugin host >&2 || true
fi

# The run folder is the one that appeared during this run.
run_dir=$(new_run_folder "$before")

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
  log "python -m bench compare $baseline $run_dir"
  compare_out=$(compare_in_image "$baseline" "$run_dir") || compare_rc=$?
  echo "$compare_out"
fi

# The trend, beside the run folder; a failure here is reported, not fatal.
history_note="\`$RESULTS_DIR/history/history.md\`"
if [ -n "$run_dir" ]; then
  log "python -m bench history"
  if ! "${compose[@]}" run --rm --no-deps -T \
    -v "$(cd results/baseline && pwd):/baselines:ro" bench \
    python -m bench history /app/results --baselines /baselines >&2; then
    history_note="not written (bench history failed; see the log)"
    log "bench history failed"
  fi
fi
t3=$(now)

capacity_rc=0
capacity_section=""
if [ "${NIGHTLY_CAPACITY:-0}" = 1 ]; then
  capacity_baseline="${NIGHTLY_CAPACITY_BASELINE:-results/baseline/capacity-external-$BENCH_PROFILE}"
  before_capacity=$(ls -1 "$results")
  log "docker compose run --rm capacity"
  "${compose[@]}" run --rm -T capacity || capacity_rc=$?
  capacity_dir=$(new_run_folder "$before_capacity")
  if [ -z "$capacity_dir" ]; then
    capacity_out="no capacity run folder was written"
    [ "$capacity_rc" -ne 0 ] || capacity_rc=1
  elif [ ! -f "$capacity_baseline/summary.json" ]; then
    capacity_out="no baseline at $capacity_baseline/summary.json: comparison skipped"
  else
    log "python -m bench compare $capacity_baseline $capacity_dir"
    capacity_out=$(compare_in_image "$capacity_baseline" "$capacity_dir") || capacity_rc=$?
  fi
  echo "$capacity_out"
  capacity_section=$'\n\n'"### Capacity (\`${capacity_dir:-none}\`) against \`$capacity_baseline\`"
  capacity_section+=$'\n\n```\n'"$capacity_out"$'\n```'
  if [ -n "$capacity_dir" ] && [ -f "$capacity_dir/summary.md" ]; then
    capacity_section+=$'\n\n'"$(cat "$capacity_dir/summary.md")"
  fi
fi
t4=$(now)

status=pass
if [ "$bench_rc" -ne 0 ]; then status="FAIL (bench exit $bench_rc)"; fi
if [ "$compare_rc" -ne 0 ]; then status="FAIL (regression: compare exit $compare_rc)"; fi
if [ "$capacity_rc" -ne 0 ]; then status="FAIL (capacity: exit $capacity_rc)"; fi

summary=$(
  cat <<EOF
## streambench nightly: $status

| | |
| --- | --- |
| profile | \`$BENCH_PROFILE\` |
| memory caps | plugin \`${PLUGIN_MEM_LIMIT:-128m}\`, host \`${HOST_MEM_LIMIT:-128m}\` |
| run folder | \`${run_dir:-none}\` |
| commit | \`${STREAMBENCH_COMMIT:-unknown}\` |
| trend | $history_note |
| build / bench / compare + trend / capacity | $((t1 - t0)) s / $((t2 - t1)) s / $((t3 - t2)) s / $((t4 - t3)) s |

### Comparison with \`$baseline\`

\`\`\`
$compare_out
\`\`\`
EOF
)
summary+="$capacity_section"
if [ -n "$run_dir" ] && [ -f "$run_dir/summary.md" ]; then
  summary+=$'\n\n### Run summary\n\n'"$(cat "$run_dir/summary.md")"
fi
if [ -n "$run_dir" ]; then echo "$summary" >"$run_dir/nightly.md"; fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then echo "$summary" >>"$GITHUB_STEP_SUMMARY"; fi
log "$status (run folder: ${run_dir:-none})"

if [ "$bench_rc" -ne 0 ]; then exit "$bench_rc"; fi
if [ "$compare_rc" -ne 0 ]; then exit "$compare_rc"; fi
exit "$capacity_rc"
