#!/usr/bin/env bash
# launcher=slurm against a real single-node Slurm (scripts/slurm_local.sh, started and always
# stopped here): the 3x2 matrix sweep gives 6 rows after the merge; one task scancel'ed midway is
# recorded failed with Slurm's reason; `qmoe sweep resume` completes the sweep with 6 rows and no
# duplicates; re-running the sweep submits nothing. Then the bad inputs: a missing sbatch, a
# rejected submission, an unknown partition, corrupt and newer-schema shards: one clear error each,
# nothing recorded lost. Where Slurm cannot start, the test FAILS with the reason.
set -uo pipefail
QMOE=$1
SRC=$2
work=$(mktemp -d /tmp/qmoe-slurm-test.XXXXXX)
export QMOE_SLURM_DIR=$work/cluster QMOE_SLURM_NO_ETC=1 QMOE_SLURM_PORT=${QMOE_SLURM_PORT:-16817}
export SLURM_CONF=$QMOE_SLURM_DIR/slurm.conf QMOE_CONFIG_DIR=$SRC/configs
cleanup() { "$SRC/scripts/slurm_local.sh" stop >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$SRC/scripts/slurm_local.sh" start || fail "a local Slurm cluster could not be started (reason above); this test needs root and the packages slurm-wlm and munge (scripts/setup.sh)"
cd "$work"
db=$work/results/qmoe.db
q() { sqlite3 "$db" "$1"; }
# Points that take a few seconds each, so a task can be cancelled while it runs.
sweep=(experiment=matrix method=rtn method.bits=2,3,4 seed=0,1 launcher=slurm launcher.mem=1G
       launcher.cpus_per_task=1 experiment.rows=1024 experiment.cols=2048 experiment.count=8)

"$QMOE" sweep "${sweep[@]}" >submit.log 2>&1 || { cat submit.log; fail "submission failed"; }
id=$(sed -n 's/^submitted sweep \([^:]*\):.*/\1/p' submit.log)
[[ -n $id ]] || { cat submit.log; fail "no sweep id in the submission's output"; }
dir=$work/results/sweeps/$id
for f in job.sh finish.sh points.txt sweep.json jobs.txt; do [[ -s $dir/$f ]] || fail "$dir/$f was not written"; done
[[ $(grep -c '^[0-9]' "$dir/points.txt") -eq 6 ]] || fail "points.txt does not list 6 points"
[[ ! -e $db ]] || [[ $(q "SELECT count(*) FROM runs") -eq 0 ]] || fail "the submitting process recorded runs itself"

# Waits until task $1 of sweep folder $2 has started qmoe (its first log line).
wait_task() {
  for _ in $(seq 600); do
    grep -q "^qmoe task $1: point" "$2/logs/$1.out" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "task $1 never started: $(squeue 2>&1)"
}
# Cancel point 1 once its qmoe runs, well before the point ends.
job=$(awk 'NR==1 {print $1}' "$dir/jobs.txt")
wait_task "${job}_1" "$dir"
scancel "${job}_1" || fail "scancel ${job}_1 failed"

"$QMOE" sweep status --wait --poll 1 >status1.log 2>&1
rc=$?
cat status1.log
[[ $rc -eq 1 ]] || fail "status --wait with a failed point exited $rc, want 1"
[[ $(q "SELECT count(*) FROM runs") -eq 6 ]] || fail "want 6 rows after the merge, got $(q 'SELECT count(*) FROM runs')"
[[ $(q "SELECT count(*) FROM runs WHERE status='done'") -eq 5 ]] || fail "want 5 done rows"
err=$(q "SELECT error FROM runs WHERE status='failed'")
[[ $err == "killed by the scheduler"*CANCELLED* ]] || fail "the cancelled task's error lacks the scheduler's reason: '$err'"
grep -q "^${job}_1 " <(squeue --noheader --array --format='%i %T') && fail "task ${job}_1 still queued"

"$QMOE" sweep resume "$id" >resume.log 2>&1 || { cat resume.log; fail "resume failed"; }
grep -q "with 1 task (points 1)" resume.log || { cat resume.log; fail "resume did not resubmit exactly point 1"; }
"$QMOE" sweep status "$id" --wait --poll 1 >status2.log 2>&1 || { cat status2.log; fail "status --wait after resume"; }
[[ $(q "SELECT count(*) FROM runs") -eq 6 && $(q "SELECT count(DISTINCT key) FROM runs") -eq 6 &&
   $(q "SELECT count(*) FROM runs WHERE status='done'") -eq 6 ]] ||
  fail "after resume: $(q 'SELECT count(*), count(DISTINCT key), sum(status=\"done\") FROM runs') (want 6|6|6)"
ids=$(q "SELECT group_concat(id) FROM runs")

"$QMOE" sweep "${sweep[@]}" >again.log 2>&1 || { cat again.log; fail "re-running the sweep failed"; }
grep -q "6 already done, 0 to submit" again.log || { cat again.log; fail "re-running the sweep was not a no-op"; }
[[ $(ls "$work/results/sweeps" | wc -l) -eq 1 ]] || fail "re-running the sweep made a new sweep folder"
"$QMOE" results merge >merge.log 2>&1 || { cat merge.log; fail "qmoe results merge"; }
grep -q "0 added, 0 replaced" merge.log || { cat merge.log; fail "merging again changed the database"; }
[[ $(q "SELECT group_concat(id) FROM runs") == "$ids" ]] || fail "merging again changed the runs table"
echo "ok: 3x2 sweep on Slurm, cancel recorded as '$err', resume completed with 6 rows, re-run and re-merge were no-ops"

# GPU jobs. The cluster restarts with one gres gpu backed by a stand-in device file, so the
# launcher.gres path runs through Slurm's real allocation (Slurm sets CUDA_VISIBLE_DEVICES) on a
# machine without a GPU. With launcher.gres=gpu:1 the task sees its GPU, exports QMOE_DEVICE=cuda, and every point
# carries launcher.gpu_overrides (here a key that shows up in the recorded run).
"$SRC/scripts/slurm_local.sh" stop >/dev/null
QMOE_SLURM_GPUS=/dev/null "$SRC/scripts/slurm_local.sh" start || fail "the local Slurm cluster did not restart with a gres gpu"
"$QMOE" sweep experiment=matrix method=rtn seed=3 experiment.rows=8 experiment.cols=16 launcher=slurm launcher.mem=1G \
  launcher.gres=gpu:1 'launcher.gpu_overrides=[experiment.count=2]' >gpu.log 2>&1 || { cat gpu.log; fail "GPU submission"; }
gpu_id=$(sed -n 's/^submitted sweep \([^:]*\):.*/\1/p' gpu.log)
"$QMOE" sweep status "$gpu_id" --wait --poll 1 >gpu-status.log 2>&1 || { cat gpu-status.log; fail "GPU sweep"; }
grep -q "the job has one (QMOE_DEVICE=cuda)" "$work/results/sweeps/$gpu_id"/logs/*_0.out ||
  { cat "$work/results/sweeps/$gpu_id"/logs/*_0.out; fail "the GPU task did not get QMOE_DEVICE=cuda"; }
grep -q -- "--gres=gpu:1" "$work/results/sweeps/$gpu_id/job.sh" || fail "job.sh lacks --gres=gpu:1"
[[ $(q "SELECT value FROM run_params p JOIN runs r ON r.id = p.run_id WHERE r.sweep_id = '$gpu_id' AND p.key = 'experiment.count'") == 2 ]] ||
  fail "launcher.gpu_overrides were not applied to the GPU point"
ids=$(q "SELECT group_concat(id) FROM runs")
echo "ok: a gres=gpu:1 task ran with QMOE_DEVICE=cuda and the GPU overrides"

# qmoe sweep cancel: the running task and the pending one are both recorded failed with Slurm's reason.
# Point 0 would take minutes, so it is surely running when cancelled; point 1 waits behind it.
cancel_args=(experiment=matrix method=rtn method.bits=2 seed=10,11 launcher=slurm launcher.mem=1G launcher.cpus_per_task=1
             launcher.array_parallelism=1 experiment.rows=1024 experiment.cols=2048 experiment.count=400)
"$QMOE" sweep "${cancel_args[@]}" >cancel-submit.log 2>&1 || { cat cancel-submit.log; fail "submission to cancel"; }
cid=$(sed -n 's/^submitted sweep \([^:]*\):.*/\1/p' cancel-submit.log)
cjob=$(awk 'NR==1 {print $1}' "$work/results/sweeps/$cid/jobs.txt")
wait_task "${cjob}_0" "$work/results/sweeps/$cid"
# The same sweep while it is queued submits nothing again.
"$QMOE" sweep "${cancel_args[@]}" >inflight.log 2>&1 || { cat inflight.log; fail "re-running a queued sweep"; }
grep -q "2 queued by an earlier sweep, 0 to submit" inflight.log || { cat inflight.log; fail "a queued sweep was submitted twice"; }
"$QMOE" sweep cancel "$cid" >cancel.log 2>&1 || { cat cancel.log; fail "qmoe sweep cancel"; }
grep -q "cancelled array job $cjob (2 queued or running tasks)" cancel.log || { cat cancel.log; fail "cancel output"; }
"$QMOE" sweep status "$cid" --wait --poll 1 >cancel-status.log 2>&1
rc=$?
[[ $rc -eq 1 ]] || { cat cancel-status.log; fail "status --wait of a cancelled sweep exited $rc, want 1"; }
# The running task records Slurm's reason itself; the pending one, which never started, is recorded
# by status or the finish job from Slurm's final state.
[[ $(q "SELECT count(*) FROM runs WHERE sweep_id = '$cid' AND status = 'failed' AND error LIKE 'killed by the scheduler%CANCELLED%'") -eq 1 &&
   $(q "SELECT count(*) FROM runs WHERE sweep_id = '$cid' AND status = 'failed' AND error LIKE '%ended without recording%CANCELLED%'") -eq 1 ]] ||
  fail "cancelled tasks not recorded with Slurm's reason: $(q "SELECT status, error FROM runs WHERE sweep_id = '$cid'")"
ids=$(q "SELECT group_concat(id) FROM runs")
echo "ok: qmoe sweep cancel recorded both tasks failed: $(q "SELECT group_concat(error, ' | ') FROM runs WHERE sweep_id = '$cid'")"

# Bad input: one clear error each (exit status 2), nothing recorded lost, no sweep folder left.
nfolders=$(ls "$work/results/sweeps" | wc -l)
expect_error() {  # expect_error WHAT NEEDLE CMD...
  local what=$1 needle=$2 out rc
  shift 2
  out=$("$@" 2>&1); rc=$?
  [[ $rc -eq 2 ]] || fail "($what): exit $rc, want 2: $out"
  [[ $out == *"$needle"* ]] || fail "($what): message lacks '$needle': $out"
  [[ $(grep -c "error" <<<"$out") -le 2 ]] || fail "($what): more than one error: $out"
  echo "ok ($what): $out"
}
small=(experiment=matrix method=rtn seed=5 launcher=slurm experiment.rows=8 experiment.cols=16)
mkdir -p empty-path
expect_error "missing sbatch" "'sbatch' was not found on PATH" env PATH="$work/empty-path" "$QMOE" sweep "${small[@]}"
expect_error "rejected submission" "Slurm rejected the submission" "$QMOE" sweep "${small[@]}" launcher.time=soon
expect_error "unknown partition" "launcher.partition 'gpux' is not a partition" "$QMOE" sweep "${small[@]}" launcher.partition=gpux
[[ $(ls "$work/results/sweeps" | wc -l) -eq $nfolders ]] || fail "a failed submission left a sweep folder"

cp "$dir/shards/0.$job.db" good.db
head -c 4096 /dev/urandom >"$dir/shards/7.$job.db"
expect_error "corrupt shard" "7.$job.db" "$QMOE" results merge
cp good.db newer.db && sqlite3 newer.db "UPDATE schema_version SET version = 99"
mkdir -p other/shards && mv newer.db other/shards/0.1.db
expect_error "newer shard" "newer than this build" "$QMOE" results merge other
[[ -f $dir/shards/7.$job.db && -f other/shards/0.1.db ]] || fail "a bad shard was removed"
[[ $(q "SELECT group_concat(id) FROM runs") == "$ids" && $(q "SELECT count(*) FROM runs WHERE status='done'") -eq 7 ]] ||
  fail "a bad input changed the recorded runs"
echo "PASS"
