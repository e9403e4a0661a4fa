#!/usr/bin/env bash
# The interrupted-sweep case: the 3x2 grid with -j 2 records 6 runs; killed midway and re-run it
# completes with no duplicates; re-run again it runs nothing.
set -euo pipefail
QMOE=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/qmoe.db
# Matrices large enough that a point takes a noticeable time, so the kill lands mid-sweep.
args=(experiment=matrix method=rtn method.bits=2,3,4 seed=0,1 experiment.rows=1024
      experiment.cols=2048 experiment.count=8 results.dir=$tmp/runs)
count() { sqlite3 "$db" "SELECT count(*) FROM runs WHERE status='$1'" 2>/dev/null || echo 0; }

setsid "$QMOE" sweep "${args[@]}" -j 2 --db "$db" >"$tmp/first.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  [[ -f $db && $(count done) -ge 1 ]] && break
  sleep 0.05
done
kill -9 -- -"$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
done_before=$(count done)
echo "killed with $done_before of 6 done"

"$QMOE" sweep "${args[@]}" -j 2 --db "$db" >"$tmp/second.log" 2>&1
total=$(sqlite3 "$db" "SELECT count(*) FROM runs")
done_after=$(count done)
keys=$(sqlite3 "$db" "SELECT count(DISTINCT key) FROM runs")
[[ $total -eq 6 && $done_after -eq 6 && $keys -eq 6 ]] || {
  echo "FAIL: after resume: $total rows, $done_after done, $keys distinct keys (want 6/6/6)"; cat "$tmp/second.log"; exit 1; }
ids_before=$(sqlite3 "$db" "SELECT group_concat(id) FROM runs WHERE status='done'")

"$QMOE" sweep "${args[@]}" -j 2 --db "$db" >"$tmp/third.log" 2>&1
grep -q "6 already done, 0 to run" "$tmp/third.log" || { echo "FAIL: re-run was not a no-op"; cat "$tmp/third.log"; exit 1; }
[[ $(sqlite3 "$db" "SELECT group_concat(id) FROM runs WHERE status='done'") == "$ids_before" ]] || {
  echo "FAIL: re-run changed the runs table"; exit 1; }
echo "PASS: 6 runs after resume, no duplicates, re-run ran nothing"
