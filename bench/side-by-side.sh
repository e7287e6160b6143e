#!/usr/bin/env bash
# qa-hub next to a minimal hand-framed hub (crates/minimal-hub) on the same machine, in the same
# run, driven by the same load tool (docs/benchmarks.md, "Fan-out at the machine's limit").
# For each server, each on a fresh start: memory per idle subscribed connection (`idle`);
# connect + subscribe and one answer at a time to N subscribers of one question (`fanout`);
# 2,000 answers/s into 19,000 subscribers of 1,900 questions (`rate`).
# qa-hub runs on SQLite (default) or Postgres with --anonymous-writes, as the minimal hub has no
# identities. Loopback only. It builds what it runs first (release).
#
#   bench/side-by-side.sh [sqlite|postgres]
#
# SUBSCRIBERS (10000), ANSWERS (20), INTERVAL_MS (200), IDLE (10000), RATE (2000; 0 skips the
# rate run), RATE_QUESTIONS (1900) can be set; SERVERS ("minimal qa-hub") picks the servers;
# TRANSPORT=sse subscribes over event streams (qa-hub only: the minimal hub has none);
# QA_HUB_BIN runs another qa-hub binary (an older build, for a before/after);
# HUB_ARGS adds flags to qa-hub (e.g. "--sqlite-synchronous normal"); PG_ADMIN as in
# bench/mixed.sh.
set -euo pipefail
backend=${1:-sqlite}
cd "$(dirname "$0")/.."
cargo build --release --quiet -p qa-hub -p qa-hub-bench -p qa-hub-minimal
subscribers=${SUBSCRIBERS:-10000}
answers=${ANSWERS:-20}
interval=${INTERVAL_MS:-200}
idle=${IDLE:-10000}
rate=${RATE:-2000}
rate_questions=${RATE_QUESTIONS:-1900}
pg_admin=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
transport=${TRANSPORT:-ws}
bench="target/release/qa-hub-bench --transport $transport"
export RUST_LOG=warn QA_HUB_POSTS_PER_MINUTE=0 QA_HUB_ANONYMOUS_WRITES=true
tmp=$(mktemp -d)
pids=()
pg_names=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for name in "${pg_names[@]}"; do psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Starts server $1 (qa-hub | minimal) on port $2; sets $pid.
start() {
  local kind=$1 port=$2 log="$tmp/$1-$2.log"
  if [ "$kind" = minimal ]; then
    target/release/qa-hub-minimal --bind "127.0.0.1:$port" 2>"$log" &
  else
    local db="sqlite://$tmp/bench-$port.db"
    if [ "$backend" = postgres ]; then
      local name="qa_hub_side_$(date +%s)_$port"
      psql "$pg_admin" -qc "CREATE DATABASE $name"
      pg_names+=("$name")
      db="${pg_admin%/*}/$name"
    fi
    # shellcheck disable=SC2086 # HUB_ARGS is a list of flags
    "${QA_HUB_BIN:-target/release/qa-hub}" --bind "127.0.0.1:$port" --database-url "$db" ${HUB_ARGS:-} >"$log" 2>&1 &
  fi
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$log"
  return 1
}

port=8190
default_servers="minimal qa-hub"
[ "$transport" = sse ] && default_servers=qa-hub
for kind in ${SERVERS:-$default_servers}; do
  echo "=== $kind ($transport): idle connections ($(cat /proc/loadavg))"
  start "$kind" "$port"
  $bench --server "127.0.0.1:$port" --server-pid "$pid" idle --connections "$idle" --questions 1000 --settle-secs 3
  kill "$pid"; port=$((port + 1))
  echo "=== $kind: fan-out to $subscribers ($(cat /proc/loadavg))"
  start "$kind" "$port"
  $bench --server "127.0.0.1:$port" fanout --subscribers "$subscribers" --answers "$answers" --interval-ms "$interval"
  kill "$pid"; port=$((port + 1))
  if [ "$rate" -gt 0 ]; then
    echo "=== $kind: $rate answers/s into $((rate_questions * 10)) subscribers ($(cat /proc/loadavg))"
    start "$kind" "$port"
    $bench --server "127.0.0.1:$port" rate --questions "$rate_questions" --subscribers-per-question 10 \
      --rate "$rate" --duration-secs 10
    kill "$pid"; port=$((port + 1))
  fi
done
