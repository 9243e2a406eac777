#!/usr/bin/env bash
# Apply's own cost per stage: `posture plan` and `posture apply --approve` on the homelab twin
# (served at --speed 30, so rollouts and rebuilds take a thirtieth of their virtual time), then
# each stage's wall time, the part spent waiting for the cluster (post-conditions, settle
# pauses) and the rest: posture's reads, dry-runs, writes and journal. Read from the stage lines
# apply writes on stderr ("stage X done: applied in 0.937s, 0.930s of it waiting ...").
#
# usage: scripts/bench-apply.sh [RUNS]     (default 3)
# env:   POSTURE=BINARY skips the build; CARGO_TARGET_DIR as for cargo; LOGS=DIR keeps each run's
#        apply log (with -v) there as runN.log.
set -euo pipefail

runs=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
server=""

cleanup() {
    [ -n "$server" ] && { kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT

posture=${POSTURE:-}
if [ -z "$posture" ]; then
    echo "== building posture (release)" >&2
    (cd "$root" && cargo build --release -p posture --quiet)
    posture=$target_dir/release/posture
fi

echo "| run | stage | changes | wall | waiting for the cluster | posture's own |"
echo "|---:|---|---:|---:|---:|---:|"
for run in $(seq 1 "$runs"); do
    dir=$work/run$run
    mkdir -p "$dir"
    "$posture" twin serve --speed 30 --kubeconfig-out "$dir/kubeconfig" >"$dir/twin.log" 2>&1 &
    server=$!
    for _ in $(seq 1 600); do
        grep -q '^twin serving at' "$dir/twin.log" 2>/dev/null && break
        sleep 0.1
    done
    "$posture" plan --kubeconfig "$dir/kubeconfig" -o "$dir/plan.json" >/dev/null 2>&1
    (cd "$dir" && "$posture" apply plan.json --approve --kubeconfig kubeconfig -v >/dev/null 2>apply.err)
    awk -v run="$run" '
        $2 == "stage" && / started: / { id = $3; n = $0; sub(/ change\(s\)\)$/, "", n); sub(/.*\(/, "", n); changes[id] = n }
        $2 == "stage" && / done: applied in / {
            id = $3; wall = $7; sub(/s,?$/, "", wall); waited = 0
            if ($0 ~ /of it waiting/) { waited = $8; sub(/s$/, "", waited) }
            printf "| %s | %s | %s | %.0f ms | %.0f ms | **%.0f ms** |\n", run, id, changes[id], wall * 1000, waited * 1000, (wall - waited) * 1000
        }' "$dir/apply.err"
    [ -n "${LOGS:-}" ] && mkdir -p "$LOGS" && cp "$dir/apply.err" "$LOGS/run$run.log"
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
done
