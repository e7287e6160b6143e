#!/usr/bin/env bash
# Three nodes on one Postgres database, the same workload through NOTIFY (--broker postgres)
# and through NATS (--broker nats://…, a nats-server of this script's own), one after the other
# in one run (docs/scaling.md, "NOTIFY and NATS, measured"). For each broker, on a fresh
# database: a fan-out (one answer to SUBSCRIBERS clients spread over the three nodes, posted
# on node 0) and open-loop answer rates (RATES, posts round-robin over the nodes, QUESTIONS × 10
# subscribers spread over the nodes). Per run: posts/s, delivery p50/p99, database
# transactions per answer (pg_stat_database.xact_commit), and each node's CPU seconds
# (/proc/PID/stat). Loopback only. It builds what it runs first (release).
#
#   bench/cluster.sh            # SUBSCRIBERS=3000 RATES="500 1000 2000 4000" QUESTIONS=300 DURATION=10
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p qa-hub -p qa-hub-bench
subscribers=${SUBSCRIBERS:-3000}
rates=${RATES:-"500 1000 2000 4000"}
questions=${QUESTIONS:-300}
duration=${DURATION:-10}
pg_admin=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
bench=target/release/qa-hub-bench
export RUST_LOG=warn QA_HUB_POSTS_PER_MINUTE=0 QA_HUB_ANONYMOUS_WRITES=true
tmp=$(mktemp -d)
pids=()
db_name=
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$db_name" ] && psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
xacts() { psql "$pg_admin" -Atc "SELECT xact_commit FROM pg_stat_database WHERE datname = '$db_name'"; }

nats_port=$(free_port)
nats-server -a 127.0.0.1 -p "$nats_port" >"$tmp/nats.log" 2>&1 &
pids+=($!)
wait_port "$nats_port"

# One measured run: $1 label, then the load tool's arguments.
measure() {
  local label=$1
  shift
  local before_cpu=() before_x
  for pid in "${node_pids[@]}"; do before_cpu+=("$(cpu_ticks "$pid")"); done
  before_x=$(xacts)
  $bench --json --server "$servers" "$@" >"$tmp/report.json" 2>"$tmp/bench.log" || { cat "$tmp/bench.log"; return 1; }
  local after_x cpus=""
  after_x=$(xacts)
  local hz
  hz=$(getconf CLK_TCK)
  for i in "${!node_pids[@]}"; do
    cpus+="$(awk -v a="${before_cpu[$i]}" -v b="$(cpu_ticks "${node_pids[$i]}")" -v hz="$hz" 'BEGIN{printf "%.1f", (b-a)/hz}') "
  done
  python3 - "$tmp/report.json" "$label" "$broker" "$((after_x - before_x))" "$cpus" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
label, broker, xacts, cpus = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5].split()
ok = r["posts_ok"]
d = r["delivery_latency"]
status = "OK" if r["missing"] == 0 and r["duplicates"] == 0 and r["out_of_order"] == 0 and r["posts_failed"] == 0 else "FAILED"
print(f"| {broker} | {label} | {r['posts_per_sec']:.0f} | {r['delivered']}/{r['expected']} | "
      f"{d['p50_ms']:.1f} / {d['p99_ms']:.1f} | {xacts / max(ok, 1):.2f} | {' / '.join(cpus)} | {status} |")
PY
}

echo "| broker | run | posts/s | delivered/expected | delivery p50 / p99 (ms) | db transactions per answer | node CPU s (0 / 1 / 2) | check |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for broker in postgres nats; do
  db_name="qa_hub_cluster_$(date +%s)_$$"
  psql "$pg_admin" -qc "CREATE DATABASE $db_name"
  flag=postgres
  [ "$broker" = nats ] && flag="nats://127.0.0.1:$nats_port"
  node_pids=()
  servers=""
  for i in 0 1 2; do
    port=$(free_port)
    target/release/qa-hub --bind "127.0.0.1:$port" --database-url "${pg_admin%/*}/$db_name" \
      --broker "$flag" --node-id "bench-$i" --workers 1 >"$tmp/node-$broker-$i.log" 2>&1 &
    node_pids+=($!)
    pids+=($!)
    wait_port "$port"
    servers+="${servers:+,}127.0.0.1:$port"
  done
  measure "fan-out to $subscribers" fanout --subscribers "$subscribers" --answers 20 --interval-ms 200
  for rate in $rates; do
    measure "$rate answers/s" rate --questions "$questions" --subscribers-per-question 10 \
      --rate "$rate" --duration-secs "$duration"
  done
  for pid in "${node_pids[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
  psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $db_name WITH (FORCE)"
  db_name=
done
