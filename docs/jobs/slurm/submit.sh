#!/usr/bin/env bash
# Queues N shards as one Slurm job array and the merge after all of them (whatever their exit codes).
#   LOCKSTEP=/opt/lockstep/build/lockstep LOCKSTEP_RESULTS=/shared/lockstep/$(date -u +%F) ./submit.sh 16
set -euo pipefail
N=${1:-16}
cd "$(dirname "$0")"
export LOCKSTEP=${LOCKSTEP:-lockstep} LOCKSTEP_RESULTS=${LOCKSTEP_RESULTS:-$PWD/lockstep-results}
export LOCKSTEP_SEED=${LOCKSTEP_SEED:-$(date -u +%Y%m%d)}
array=$(sbatch --parsable --export=ALL --array=0-$((N - 1)) lockstep-shard.sbatch)
sbatch --export=ALL --dependency=afterany:"$array" lockstep-merge.sbatch
