#!/usr/bin/env bash
# Load: `qmoe results merge` while cluster tasks still write shards. $QMOE_LOAD_WORKERS (default 8)
# writer processes run the points of one launcher=slurm sweep through `qmoe _task` (the code path of a
# cluster array task: the point in its own process against a local work database, then PublishShard
# into the sweep's shards/ folder), while $QMOE_LOAD_MERGERS (default 2) loops run
# `qmoe results merge` on that folder into the main database, back to back, until the writers stop.
# The writers stop after $QMOE_LOAD_SECONDS (default 120) seconds, or when every point of the sweep
# ($QMOE_LOAD_POINTS, default 4000) has run. A last merge then folds in what is left.
# Checks: every point run is one row in runs, done, with its full set of metric rows (no lost row),
# no duplicate keys, every merge exited 0, and no "database is locked" anywhere in the logs.
# Prints rows per second (runs + metric rows merged into the main database per second of load).
# Slurm itself is not needed: sbatch and squeue are stand-ins on PATH that accept the submission
# and report an empty queue; the tasks are started here, as Slurm would start them.
# Usage: merge_load_test.sh QMOE_BINARY [CONFIG_DIR]
set -euo pipefail
QMOE=$(realpath "$1")
[[ $# -ge 2 ]] && export QMOE_CONFIG_DIR=$(realpath "$2")
SECONDS_WANTED=${QMOE_LOAD_SECONDS:-120}
WORKERS=${QMOE_LOAD_WORKERS:-8}
MERGERS=${QMOE_LOAD_MERGERS:-2}
POINTS=${QMOE_LOAD_POINTS:-4000}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$tmp/bin" "$tmp/logs" "$tmp/local"
cat >"$tmp/bin/sbatch" <<'EOF'
#!/bin/sh
[ "$1" = "--version" ] && { echo "slurm 23.02 (stand-in)"; exit 0; }
n=$(cat "$(dirname "$0")/next_job" 2>/dev/null || echo 7000)
echo $((n + 1)) >"$(dirname "$0")/next_job"
echo "$n"
EOF
printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/squeue"
chmod +x "$tmp/bin/sbatch" "$tmp/bin/squeue"
export PATH=$tmp/bin:$PATH TMPDIR=$tmp/local
cd "$tmp"
db=$tmp/results/qmoe.db

"$QMOE" sweep experiment=matrix method=rtn "seed=range(0,$POINTS)" experiment.rows=32 experiment.cols=64 \
  experiment.count=2 launcher=slurm >"$tmp/logs/submit.log" 2>&1 || { tail -20 "$tmp/logs/submit.log"; fail "submission failed"; }
dir=$(ls -d "$tmp"/results/sweeps/*/ | head -1)
job=$(awk 'NR==1 {print $1}' "$dir/jobs.txt")
[[ -n $job && $(grep -c '^[0-9]' "$dir/points.txt") -eq $POINTS ]] || fail "the sweep folder lacks its $POINTS points"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
start=$(now_ms)
deadline=$(( start + SECONDS_WANTED * 1000 ))
# Worker w runs points w, w + WORKERS, ... and records each point it started.
for ((w = 0; w < WORKERS; w++)); do
  (
    for ((i = w; i < POINTS; i += WORKERS)); do
      (( $(now_ms) < deadline )) || break
      echo "$i" >>"$tmp/logs/started.$w"
      SLURM_ARRAY_JOB_ID=$job SLURM_ARRAY_TASK_ID=$i "$QMOE" _task --sweep-dir "$dir" --index "$i" \
        >>"$tmp/logs/task.$w.log" 2>&1 || echo "task $i exited $?" >>"$tmp/logs/task_failures"
    done
  ) &
  writers+=($!)
done
for ((m = 0; m < MERGERS; m++)); do
  (
    n=0
    while [[ ! -e $tmp/writers_done ]]; do
      rc=0
      "$QMOE" results merge "$dir" --db "$db" >>"$tmp/logs/merge.$m.log" 2>&1 || rc=$?
      [[ $rc -eq 0 ]] || echo "merge $n of loop $m exited $rc" >>"$tmp/logs/merge_failures"
      n=$((n + 1))
    done
    echo "$n" >"$tmp/logs/merges.$m"
  ) &
  mergers+=($!)
done
wait "${writers[@]}"
touch "$tmp/writers_done"
wait "${mergers[@]}"
"$QMOE" results merge "$dir" --db "$db" >"$tmp/logs/merge.final.log" 2>&1 || fail "the final merge exited $?: $(cat "$tmp/logs/merge.final.log")"
elapsed_ms=$(( $(now_ms) - start ))

launched=$(cat "$tmp"/logs/started.* | wc -l)
merges=0
for f in "$tmp"/logs/merges.*; do merges=$((merges + $(cat "$f"))); done
q() { sqlite3 "$db" "$1"; }
runs=$(q "SELECT count(*) FROM runs")
done_runs=$(q "SELECT count(*) FROM runs WHERE status='done'")
keys=$(q "SELECT count(DISTINCT key) FROM runs")
metric_rows=$(q "SELECT count(*) FROM metrics")
per_run=$(q "SELECT count(*) FROM metrics WHERE run_id=(SELECT min(id) FROM runs)")
short=$(q "SELECT count(*) FROM (SELECT r.id, count(m.run_id) AS n FROM runs r LEFT JOIN metrics m ON m.run_id=r.id GROUP BY r.id) WHERE n <> $per_run")
# Every point started has its row: the key prefixes of points.txt against the database.
missing=$( { echo "CREATE TEMP TABLE want(p TEXT);"
             awk 'NR==FNR {ran[$1]; next} /^[0-9]/ && ($1 in ran) {print "INSERT INTO want VALUES (\x27" $2 "\x27);"}' \
                 <(cat "$tmp"/logs/started.*) "$dir/points.txt"
             echo "SELECT count(*) FROM want WHERE NOT EXISTS (SELECT 1 FROM runs WHERE substr(key, 1, length(p)) = p);"
           } | sqlite3 "$db")
shards=$(ls "$dir/shards" | grep -c '\.db$' || true)
locked=$(cat "$tmp"/logs/*.log | grep -ic "is locked" || true)
echo "merge load: $WORKERS writers, $MERGERS merge loops ($merges merges), $((elapsed_ms / 1000)) s:" \
     "$launched tasks, $shards shards, $runs runs ($done_runs done, $keys keys), $metric_rows metric rows"
r=$(( runs * 100000 / elapsed_ms )) w=$(( (runs + metric_rows) * 100000 / elapsed_ms ))
printf 'merge load: %d.%02d runs/s, %d.%02d rows/s (runs + metric rows) merged\n' $((r / 100)) $((r % 100)) $((w / 100)) $((w % 100))
[[ ! -s $tmp/logs/task_failures ]] || fail "tasks failed: $(head -5 "$tmp/logs/task_failures"); $(tail -5 "$tmp"/logs/task.0.log)"
[[ ! -s $tmp/logs/merge_failures ]] || fail "merges failed: $(head -5 "$tmp/logs/merge_failures"); $(grep -h error "$tmp"/logs/merge.*.log | head -5)"
[[ $shards -eq $launched ]] || fail "$launched tasks ran but $shards shards were published"
[[ $runs -eq $launched && $done_runs -eq $launched && $keys -eq $launched ]] ||
  fail "ran $launched points, found $runs rows, $done_runs done, $keys distinct keys"
[[ $missing -eq 0 ]] || fail "$missing points that ran have no row in the main database"
[[ $per_run -gt 0 && $short -eq 0 ]] || fail "$short runs lack metric rows (want $per_run each)"
[[ $locked -eq 0 ]] || fail "'database is locked' on $locked log lines"
# The merge alone: every shard into a fresh database, timed (what one `qmoe results merge` of a whole
# sweep costs, process start included).
t0=$(now_ms)
"$QMOE" results merge "$dir" --db "$tmp/fresh.db" >"$tmp/logs/merge.fresh.log" 2>&1 || fail "merging into a fresh database failed"
t_ms=$(( $(now_ms) - t0 + 1 ))
[[ $(sqlite3 "$tmp/fresh.db" "SELECT count(*) FROM runs") -eq $runs ]] || fail "a fresh merge of all shards gave another row count"
m=$(( (runs + metric_rows) * 100000 / t_ms ))
printf 'merge load: one merge of all %d shards into a fresh database: %d ms, %d.%02d rows/s\n' "$shards" "$t_ms" $((m / 100)) $((m % 100))
echo "PASS: no lost row, no duplicate, no lock error"
