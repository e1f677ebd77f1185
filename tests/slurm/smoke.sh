#!/usr/bin/env bash
# Smoke test of the single-node Slurm fixture: exercises exactly the features
# grpo's Slurm backend relies on.
#   1. a 3-element job array,
#   2. a job depending on the whole array (--dependency=afterok:<array id>),
#      which must start only after every element finished,
#   3. `mpirun -n 2` inside a --ntasks=2 allocation.
# Starts the cluster (no-op if already up) and leaves it running.
# Exit 0 on success.
#
# Environment (optional):
#   SMOKE_TIMEOUT  seconds to wait for each group of jobs (120)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly TIMEOUT="${SMOKE_TIMEOUT:-120}"

log() { printf 'smoke.sh: %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

bash "$HERE/cluster.sh" start

# Jobs write into a private directory (shared with the node, since the
# "cluster" is this very host).  Kept on failure for inspection.
WORK="$(mktemp -d /tmp/slurm-smoke.XXXXXX)"
readonly WORK
log "work dir: $WORK"

# Job states that will not change any more.
is_terminal() {
    case "$1" in
        COMPLETED | FAILED | CANCELLED* | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | PREEMPTED | BOOT_FAIL | DEADLINE) return 0 ;;
        *) return 1 ;;
    esac
}

# Wait until every job (or array element) of job id $1 is in a terminal
# state, then require all of them to be COMPLETED.  `-t all` is needed: by
# default squeue hides finished jobs.  Finished jobs remain visible for
# MinJobAge seconds (see cluster.sh), far longer than this wait.
wait_completed() {
    local id="$1" deadline=$((SECONDS + TIMEOUT)) states s pending
    while :; do
        states="$(squeue -h -t all -j "$id" -o '%T' 2>/dev/null || true)"
        pending=0
        if [[ -z "$states" ]]; then
            pending=1   # not visible yet (or controller busy): poll again
        else
            for s in $states; do
                is_terminal "$s" || pending=1
            done
        fi
        ((pending == 0)) && break
        ((SECONDS < deadline)) || {
            squeue -t all -j "$id" -o '%i %T %r' >&2 || true
            fail "job $id not finished after ${TIMEOUT}s"
        }
        sleep 1
    done
    for s in $states; do
        [[ "$s" == COMPLETED ]] || {
            squeue -t all -j "$id" -o '%i %T %r' >&2 || true
            fail "job $id: an element ended in state $s"
        }
    done
    log "job $id: all COMPLETED ($(wc -w <<<"$states") job(s))"
}

# --- 1 + 2: job array and a dependent job -----------------------------------

# Each element records when it finished; sleeping makes the elements overlap
# with the dependent job's submission, so the dependency really has to hold
# it back (3 elements on the node's CPUs take a few seconds).
# shellcheck disable=SC2016  # $SLURM_* must expand in the job, not here
array_id="$(sbatch --parsable --job-name=smoke-array --array=0-2 \
    --chdir="$WORK" --output="$WORK/array-%A_%a.out" \
    --wrap='sleep 2; echo "element $SLURM_ARRAY_TASK_ID on $(hostname)"; date +%s.%N > "done-$SLURM_ARRAY_TASK_ID"')"
array_id="${array_id%%;*}"   # --parsable prints "id[;cluster]"
log "submitted array $array_id"

# The dependent job records its start time and which array outputs already
# existed when it started.
dep_id="$(sbatch --parsable --job-name=smoke-after --dependency="afterok:$array_id" \
    --chdir="$WORK" --output="$WORK/after.out" \
    --wrap='date +%s.%N > started; ls done-* > seen; echo "dependent job ran"')"
dep_id="${dep_id%%;*}"
log "submitted dependent job $dep_id (afterok:$array_id)"

# While the array still runs, the dependent job must be held for its dependency.
dep_state="$(squeue -h -j "$dep_id" -o '%T %r')"
[[ "$dep_state" == "PENDING Dependency" ]] ||
    fail "dependent job should be 'PENDING Dependency' right after submission, is '$dep_state'"

wait_completed "$array_id"
wait_completed "$dep_id"

for i in 0 1 2; do
    out="$WORK/array-${array_id}_$i.out"
    [[ -s "$out" ]] || fail "missing output $out"
    grep -q "^element $i on " "$out" || fail "unexpected content in $out: $(cat "$out")"
    [[ -s "$WORK/done-$i" ]] || fail "array element $i left no done-$i"
done
[[ -s "$WORK/after.out" ]] || fail "missing output of the dependent job"
grep -q 'dependent job ran' "$WORK/after.out" || fail "unexpected after.out: $(cat "$WORK/after.out")"
[[ "$(wc -l <"$WORK/seen")" -eq 3 ]] ||
    fail "dependent job started before all array elements finished (saw: $(tr '\n' ' ' <"$WORK/seen"))"

# Timestamps: every element finished before the dependent job started.
started="$(cat "$WORK/started")"
for i in 0 1 2; do
    finished="$(cat "$WORK/done-$i")"
    awk -v f="$finished" -v s="$started" 'BEGIN { exit !(f <= s) }' ||
        fail "array element $i finished at $finished, after the dependent job started at $started"
done
log "dependency order OK"

# --- 3: mpirun inside an allocation ------------------------------------------

# Open MPI refuses to run as root and to exceed the slot count unless told
# otherwise.  Exported here, they reach the job through sbatch's default
# environment propagation (--export=ALL).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpi_id="$(sbatch --parsable --job-name=smoke-mpi --ntasks=2 \
    --chdir="$WORK" --output="$WORK/mpi.out" \
    --wrap='mpirun -n 2 hostname')"
mpi_id="${mpi_id%%;*}"
log "submitted mpirun job $mpi_id"
wait_completed "$mpi_id"

host="$(hostname)"
n="$(grep -cx -- "$host" "$WORK/mpi.out" || true)"
[[ "$n" -eq 2 ]] || fail "expected 2 lines '$host' from mpirun, got $n: $(cat "$WORK/mpi.out")"
log "mpirun -n 2 OK"

rm -rf "$WORK"
log "PASS"
