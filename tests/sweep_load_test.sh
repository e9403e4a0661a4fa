#!/usr/bin/env bash
# Load: 8 sweep workers (-j 8) of short runs writing one results database for about
# $QMOE_LOAD_SECONDS (default 120) seconds, as back-to-back sweeps of 24 new points each.
# Checks: every point launched is one row in runs, done, with its full set of metric rows (no lost
# row), no duplicate keys, and no "database is locked" anywhere in the logs. Prints rows per second.
# Usage: sweep_load_test.sh QMOE_BINARY
set -euo pipefail
QMOE=$1
SECONDS_WANTED=${QMOE_LOAD_SECONDS:-120}
BATCH=24
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/qmoe.db
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
start=$(now_ms)
launched=0
batches=0
while :; do
  (( $(now_ms) - start >= SECONDS_WANTED * 1000 )) && break
  log=$tmp/sweep_$batches.log
  if ! "$QMOE" sweep experiment=matrix method=rtn "seed=range($launched,$((launched + BATCH)))" \
       experiment.rows=32 experiment.cols=64 experiment.count=2 "results.dir=$tmp/runs" -j 8 --db "$db" >"$log" 2>&1; then
    echo "FAIL: sweep $batches exited non-zero"; tail -20 "$log"; exit 1
  fi
  launched=$((launched + BATCH))
  batches=$((batches + 1))
done
elapsed_ms=$(( $(now_ms) - start ))

q() { sqlite3 "$db" "$1"; }
runs=$(q "SELECT count(*) FROM runs")
done_runs=$(q "SELECT count(*) FROM runs WHERE status='done'")
keys=$(q "SELECT count(DISTINCT key) FROM runs")
metric_rows=$(q "SELECT count(*) FROM metrics")
# Every run has the same number of metric rows as the first one (a lost metric row shows here).
per_run=$(q "SELECT count(*) FROM metrics WHERE run_id=(SELECT min(id) FROM runs)")
short=$(q "SELECT count(*) FROM (SELECT r.id, count(m.run_id) AS n FROM runs r LEFT JOIN metrics m ON m.run_id=r.id GROUP BY r.id) WHERE n <> $per_run")
locked=$(cat "$tmp"/sweep_*.log | grep -ic "is locked" || true)
echo "load: $batches sweeps x $BATCH points, -j 8, $((elapsed_ms / 1000)) s: $runs runs ($done_runs done, $keys keys), $metric_rows metric rows"
r=$(( runs * 100000 / elapsed_ms )) w=$(( (runs + metric_rows) * 100000 / elapsed_ms ))
printf 'load: %d.%02d runs/s, %d.%02d rows/s (runs + metric rows)\n' $((r / 100)) $((r % 100)) $((w / 100)) $((w % 100))
[[ $runs -eq $launched && $done_runs -eq $launched && $keys -eq $launched ]] || {
  echo "FAIL: launched $launched points, found $runs rows, $done_runs done, $keys distinct keys"; exit 1; }
[[ $per_run -gt 0 && $short -eq 0 ]] || { echo "FAIL: $short runs lack metric rows (want $per_run each)"; exit 1; }
[[ $locked -eq 0 ]] || { echo "FAIL: 'database is locked' on $locked log lines"; exit 1; }
echo "PASS: no lost row, no lock error"
