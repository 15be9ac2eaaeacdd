#!/usr/bin/env bash
# The scheduler job files of docs/sharding.md run as written: the Slurm array script once per task id and
# then the merge script; the Kubernetes Indexed Job's shard command once per completion index (env from the
# YAML, paths and case count overridden) and then the merge Job's wait + merge. Both merged summaries must
# equal the single run's (timing aside).
set -u
. "$(dirname "$0")/test_lib.sh" "$@"
JOBS=$SRC/docs/jobs

# --- Slurm: 3 array tasks + merge ---
grep -q '^#SBATCH --array=' "$JOBS/slurm/lockstep-shard.sbatch" || fail "no #SBATCH --array line"
export LOCKSTEP LOCKSTEP_RESULTS=$tmp/slurm LOCKSTEP_CASES=90 LOCKSTEP_SEED=6 LOCKSTEP_ARGS="--op spec_decode --op kv_trace"
for k in 0 1 2; do
  SLURM_ARRAY_TASK_ID=$k SLURM_ARRAY_TASK_COUNT=3 bash "$JOBS/slurm/lockstep-shard.sbatch" || fail "slurm task $k"
done
bash "$JOBS/slurm/lockstep-merge.sbatch" || fail "slurm merge"
"$LOCKSTEP" --json fuzz --cases 90 --seed 6 $LOCKSTEP_ARGS --dump-dir "$tmp/d" > "$tmp/slurm-single.json"
[ "$(untimed "$tmp/slurm/summary.json")" = "$(untimed "$tmp/slurm-single.json")" ] || fail "slurm: merged != single run"
grep -qE "^kv_trace +90 cases" "$tmp/slurm/summary.txt" || fail "slurm summary.txt: $(cat "$tmp/slurm/summary.txt")"

# --- Kubernetes: every completion index of the Indexed Job, then the merge Job ---
"$PY" -c "import yaml" 2>/dev/null || fail "python3-yaml is required (scripts/setup.sh installs it)"
"$PY" - "$JOBS/kubernetes/lockstep-shards.yaml" "$tmp/k8s" "$LOCKSTEP" <<'PYEOF' || fail "kubernetes job files"
import os, subprocess, sys, yaml
path, results, lockstep = sys.argv[1:4]
docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(open(path))}
shards = docs["lockstep-shards"]["spec"]
assert shards["completionMode"] == "Indexed", shards
pod = shards["template"]["spec"]
c = pod["containers"][0]
env = {e["name"]: e["value"] for e in c["env"]}
n = int(env["SHARDS"])
assert shards["completions"] == n and shards["parallelism"] == n, (shards["completions"], n)
assert c["volumeMounts"][0]["mountPath"] == env["RESULTS"]
env.update(RESULTS=results, LOCKSTEP=lockstep, CASES="80")
os.makedirs(results)
def run(container, extra):
    e = {e["name"]: e["value"] for e in container.get("env", [])}
    e.update(extra, PATH=os.environ["PATH"])
    return subprocess.run(container["command"] + container["args"], env=e, timeout=300).returncode
for k in range(n):
    rc = run(c, dict(env, JOB_COMPLETION_INDEX=str(k)))
    assert rc == 0, f"shard {k}: exit {rc}"
merge = docs["lockstep-merge"]["spec"]["template"]["spec"]
for init in merge["initContainers"]:
    assert run(init, dict(RESULTS=results, SHARDS=str(n))) == 0
rc = run(merge["containers"][0], dict(RESULTS=results, LOCKSTEP=lockstep))
assert rc == 0, f"merge: exit {rc}"
with open(os.path.join(os.path.dirname(results), "k8s-single.json"), "w") as out:
    subprocess.run([lockstep, "--json", "fuzz", "--cases", "80", "--seed", env["SEED"], "--dump-dir",
                    os.path.join(results, "single-dumps")], stdout=out, check=True)
PYEOF
[ "$(untimed "$tmp/k8s/summary.json")" = "$(untimed "$tmp/k8s-single.json")" ] || fail "kubernetes: merged != single run"
echo "job_files_test: all checks passed"
