#!/usr/bin/env bash
# What NOTIFY costs on commit, and where it stops (docs/scaling.md). Creates a scratch
# database, starts LISTENERS qa-hub nodes on it (they LISTEN like production nodes; with no
# subscribers they only parse and drop), then runs pgbench on the real post statement with
# and without its pg_notify, at several client counts, SECONDS each. Drops the database.
#
#   bench/notify/run.sh                      # defaults: LISTENERS=3 SECONDS_EACH=5 CLIENTS="1 4 16 32"
#   PG=postgres://postgres@127.0.0.1:5432 QA_HUB_BIN=target/release/qa-hub bench/notify/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
LISTENERS="${LISTENERS:-3}"
SECONDS_EACH="${SECONDS_EACH:-5}"
CLIENTS="${CLIENTS:-1 4 16 32}"
BIN="${QA_HUB_BIN:-target/debug/qa-hub}"
DB="qa_hub_notify_bench_$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
}
trap cleanup EXIT

psql -q "$PG/postgres" -c "CREATE DATABASE $DB"
DATABASE_URL="$PG/$DB" "$BIN" migrate >/dev/null
psql -q "$PG/$DB" -c "INSERT INTO questions (id, title, body, author, created_at)
  SELECT md5(n::text)::uuid, 'q' || n, 'b', 'bench', now() FROM generate_series(1, 50) n"
for i in $(seq 1 "$LISTENERS"); do
  RUST_LOG=warn "$BIN" --database-url "$PG/$DB" --bind 127.0.0.1:0 --node-id "bench-$i" --db-pool 2 &
  pids+=($!)
done
# Wait until every node's listener shows in pg_stat_activity.
for _ in $(seq 1 100); do
  n=$(psql -At "$PG/$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'qa-hub-listener:bench-%'")
  [ "$n" -ge "$LISTENERS" ] && break
  sleep 0.1
done
echo "listeners: $n, $SECONDS_EACH s per run, $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-8s %12s %14s\n' script clients "answers/s" "latency ms"
for c in $CLIENTS; do
  for script in post_plain post_notify; do
    out=$(pgbench -n -c "$c" -j 2 -T "$SECONDS_EACH" -f "bench/notify/$script.sql" "$PG/$DB" 2>&1)
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
    lat=$(sed -n 's/^latency average = \([0-9.]*\).*/\1/p' <<<"$out")
    printf '%-8s %-8s %12.0f %14s\n' "${script#post_}" "$c" "$tps" "$lat"
  done
done
