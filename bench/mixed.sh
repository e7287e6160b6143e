#!/usr/bin/env bash
# One `qa-hub-bench mixed` run on a fresh database (docs/benchmarks.md, "Mixed writes"):
# starts the release hub, runs the load tool with the arguments given, prints the report, the
# load average before and after, and the hub's CPU time during the run; stops the hub and
# drops the database. Loopback only. Build first: cargo build --release -p qa-hub -p qa-hub-bench
#
#   bench/mixed.sh sqlite|postgres [mixed options…]
#   bench/mixed.sh sqlite --questions 10 --subscribers-per-question 200 --rate 100
#
# PORT (default 8090), PG_ADMIN (default postgres://postgres@127.0.0.1:5432/postgres) and
# HUB_ARGS (more flags for the hub, e.g. "--sqlite-synchronous normal") and HUB_BIN (another
# build of the hub, for a before/after pair; default target/release/qa-hub) can be set;
# BENCH_JSON=1 prints the report as JSON.
set -euo pipefail

backend=${1:?usage: bench/mixed.sh sqlite|postgres [mixed options…]}
shift
cd "$(dirname "$0")/.."
port=${PORT:-8090}
pg_admin=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}

# The load tool writes a few hundred times a second as a few hundred users: no per-user budget.
export QA_HUB_POSTS_PER_MINUTE=0
# Voters (and posters) are host-signed tokens, each a user of its own; the tool signs them with
# the hub's secret.
QA_HUB_JWT_SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
export QA_HUB_JWT_SECRET QA_HUB_JWT_ISSUER=https://bench.example
export RUST_LOG=warn

tmp=$(mktemp -d)
pg_name=
case $backend in
  sqlite) db="sqlite://$tmp/bench.db" ;;
  postgres)
    pg_name="qa_hub_bench_$(date +%s)_$$"
    psql "$pg_admin" -qc "CREATE DATABASE $pg_name"
    db="${pg_admin%/*}/$pg_name"
    ;;
  *) echo "backend: sqlite or postgres" >&2; exit 2 ;;
esac

# shellcheck disable=SC2086 # HUB_ARGS is a list of flags
"${HUB_BIN:-target/release/qa-hub}" --bind "127.0.0.1:$port" --database-url "$db" ${HUB_ARGS:-} >"$tmp/hub.log" 2>&1 &
hub=$!
cleanup() {
  kill -TERM "$hub" 2>/dev/null && wait "$hub" 2>/dev/null || true
  [ -n "$pg_name" ] && psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $pg_name WITH (FORCE)" || true
  rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.1
done

# utime + stime of the hub, in clock ticks (1/100 s).
ticks() { awk '{print $14 + $15}' "/proc/$hub/stat"; }
echo "backend $backend; $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
before=$(ticks)
started=$(date +%s.%N)
rc=0
# The tool's CPU (its worker processes included) goes to stderr.
/usr/bin/time -f "load tool CPU: %U s user, %S s system" \
  target/release/qa-hub-bench --server "127.0.0.1:$port" ${BENCH_JSON:+--json} mixed "$@" || rc=$?
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); hub CPU $(( $(ticks) - before )) ticks over $(echo "$(date +%s.%N) - $started" | bc) s (set-up included)"
if grep -q -E 'ERROR|panicked' "$tmp/hub.log"; then
  echo "hub log:" && grep -E 'ERROR|panicked' "$tmp/hub.log" | head -5
fi
exit $rc
