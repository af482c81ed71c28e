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
# a looser --throughput-tolerance on a noisy machine; default: the flags in the
# baseline's compare-args file, if it has one), STREAMBENCH_COMMIT
# (default `git rev-parse HEAD`: baked into the images, recorded in the run).
# NIGHTLY_CAPACITY=1 also runs the concurrency ramp (compose service `capacity`,
# `python -m bench capacity`) and gates it against NIGHTLY_CAPACITY_BASELINE
# (default results/baseline/capacity-external-$BENCH_PROFILE): the bridge's
# capacity may not drop, its peak memory per level may not rise beyond the
# compare tolerances. Unset (the default): the job is exactly as before.
set -euo pipefail
cd "$(dirname "$0")/.."

export BENCH_PROFILE="${BENCH_PROFILE:-full}"
STREAMBENCH_COMMIT="${STREAMBENCH_COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}"
export STREAMBENCH_COMMIT
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
  "${compose[@]}" --profile locust --profile capacity down -v --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Sets NEW_RUN_DIR to the run folder that appeared since the listing $1 (empty if
# none): a global, never captured output, so no log line can become the path.
find_new_run_folder() {
  local path entry
  NEW_RUN_DIR=""
  for path in "$results"/*/; do
    [ -d "$path" ] || continue
    entry=$(basename "$path")
    if [ "$entry" != baseline ] && [ "$entry" != history ] && ! grep -qxF "$entry" <<<"$1"; then
      NEW_RUN_DIR="$RESULTS_DIR/$entry"
    fi
  done
}

# `bench compare` in the bench image, so this machine needs nothing but Docker.
# Sets COMPARE_OUT and COMPARE_RC. Arguments: baseline dir, run folder, extra flags.
compare_in_image() {
  local baseline_dir=$1 run=$2
  shift 2
  COMPARE_RC=0
  COMPARE_OUT=$("${compose[@]}" run --rm --no-deps -T \
    -v "$(cd "$baseline_dir" && pwd):/baseline:ro" bench \
    python -m bench compare "$@" /baseline "/app/results/$(basename "$run")" 2>&1) || COMPARE_RC=$?
}

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
find_new_run_folder "$before"
run_dir=$NEW_RUN_DIR

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
  compare_in_image "$baseline" "$run_dir" "${compare_args[@]}"
  compare_out=$COMPARE_OUT
  compare_rc=$COMPARE_RC
  echo "$compare_out"
fi
t3=$SECONDS

capacity_rc=0
capacity_section=""
if [ "${NIGHTLY_CAPACITY:-0}" = 1 ]; then
  capacity_baseline="${NIGHTLY_CAPACITY_BASELINE:-results/baseline/capacity-external-$BENCH_PROFILE}"
  before_capacity=$(ls -1 "$results")
  # Fresh plugin and host containers: the bench run left them up, with its peaks
  # in their memory high-water marks and its heap in their processes.
  "${compose[@]}" down --remove-orphans >&2
  log "docker compose run --rm capacity"
  "${compose[@]}" run --rm -T capacity || capacity_rc=$?
  find_new_run_folder "$before_capacity"
  capacity_dir=$NEW_RUN_DIR
  if [ -z "$capacity_dir" ]; then
    capacity_out="no capacity run folder was written"
    [ "$capacity_rc" -ne 0 ] || capacity_rc=1
  elif [ ! -f "$capacity_baseline/summary.json" ]; then
    capacity_out="no baseline at $capacity_baseline/summary.json: comparison skipped"
  else
    log "python -m bench compare $capacity_baseline $capacity_dir"
    compare_in_image "$capacity_baseline" "$capacity_dir"
    capacity_out=$COMPARE_OUT
    [ "$COMPARE_RC" -eq 0 ] || capacity_rc=$COMPARE_RC
  fi
  echo "$capacity_out"
  capacity_section=$'\n\n'"### Capacity (\`${capacity_dir:-none}\`) against \`$capacity_baseline\`"
  capacity_section+=$'\n\n```\n'"$capacity_out"$'\n```'
  if [ -n "$capacity_dir" ] && [ -f "$capacity_dir/summary.md" ]; then
    capacity_section+=$'\n\n'"$(cat "$capacity_dir/summary.md")"
  fi
fi
t4=$SECONDS

# The trend (this run, the capacity run if any, the baselines), beside the run
# folder; a failure here is reported, not fatal.
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
t5=$SECONDS

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
| build / bench / compare / capacity / trend | $((t1 - t0)) s / $((t2 - t1)) s / $((t3 - t2)) s / $((t4 - t3)) s / $((t5 - t4)) s |

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
