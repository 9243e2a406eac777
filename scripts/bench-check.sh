#!/usr/bin/env bash
# Times `posture check` against a served twin, next to the kubectl discovery commands a person
# runs from the runbook to see the same things, on the homelab cluster and on a large generated
# one. Uses hyperfine when it can (installing it with apt-get if missing), else a timing loop.
#
# usage: scripts/bench-check.sh [RUNS]        (default 10 runs per command)
# env:   CARGO_TARGET_DIR (default target), POSTURE=BINARY to skip the build, LARGE="--nodes 50 --pods 2000 --volumes 300
#        --replicas-per-volume 2" to size the generated cluster.
set -euo pipefail

runs=${1:-10}
large_args=${LARGE:---nodes 50 --pods 2000 --volumes 300 --replicas-per-volume 2}
root=$(cd "$(dirname "$0")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
servers=()

cleanup() {
    for pid in "${servers[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

posture=${POSTURE:-}
if [ -z "$posture" ]; then
    echo "== building posture (release)" >&2
    (cd "$root" && cargo build --release -p posture --quiet)
    posture=$target_dir/release/posture
fi

if ! command -v hyperfine >/dev/null 2>&1; then
    echo "== hyperfine missing: trying apt-get install -y hyperfine" >&2
    if [ "$(id -u)" -eq 0 ]; then
        apt-get install -y hyperfine >/dev/null 2>&1 || true
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n apt-get install -y hyperfine >/dev/null 2>&1 || true
    fi
fi

# serve NAME [serve args...]: starts a twin in the background; its kubeconfig is $work/NAME.kubeconfig
serve() {
    local name=$1
    shift
    "$posture" twin serve --speed 0 --kubeconfig-out "$work/$name.kubeconfig" "$@" \
        >"$work/$name.log" 2>&1 &
    servers+=("$!")
    for _ in $(seq 1 600); do
        grep -q '^twin serving at' "$work/$name.log" 2>/dev/null && return 0
        kill -0 "${servers[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "twin $name did not start:" >&2
    cat "$work/$name.log" >&2
    exit 1
}

# The runbook's discovery commands, one kubectl call each, as a person would run them.
kubectl_script() {
    local kubeconfig=$1 script=$2
    cat >"$script" <<SCRIPT
set -e
k() { kubectl --kubeconfig "$kubeconfig" "\$@" >/dev/null; }
k get nodes -o wide
k get leases -n kube-system
k get --raw '/readyz?verbose'
k get deploy -A -o yaml
k get ds -A
k get pods -A -o wide
k get svc,endpointslices -A
k get pdb -A
k get sc
k get pv,pvc -A
k get volumes.longhorn.io,replicas.longhorn.io,engines.longhorn.io,settings.longhorn.io,nodes.longhorn.io -n longhorn-system -o yaml
k get events -A
SCRIPT
}

# measure NAME LABEL KUBECONFIG: posture check vs the kubectl sequence.
measure() {
    local name=$1 label=$2 kubeconfig=$3
    local check="$posture check --kubeconfig $kubeconfig -o json --fail-on never"
    local sequence="bash $work/$name-kubectl.sh"
    kubectl_script "$kubeconfig" "$work/$name-kubectl.sh"
    local objects
    objects=$("$posture" snapshot --kubeconfig "$kubeconfig" -o - | grep -c '^kind:' || true)
    echo
    echo "### $label ($objects objects collected)"
    if command -v hyperfine >/dev/null 2>&1; then
        hyperfine --warmup 2 --runs "$runs" --style basic \
            --export-markdown "$work/$name.md" \
            -n "posture check" "$check" \
            -n "kubectl discovery sequence (12 calls)" "$sequence" >&2
        cat "$work/$name.md"
    else
        echo "(hyperfine unavailable: bash timing loop, $runs runs after 2 warm-ups)"
        echo
        echo "| command | mean [ms] | min [ms] | max [ms] |"
        echo "|:---|---:|---:|---:|"
        local command_label cmd
        for command_label in "posture check" "kubectl discovery sequence (12 calls)"; do
            if [ "$command_label" = "posture check" ]; then cmd=$check; else cmd=$sequence; fi
            eval "$cmd" >/dev/null 2>&1 || true
            eval "$cmd" >/dev/null 2>&1 || true
            local total=0 min= max=0 start end ms
            for _ in $(seq 1 "$runs"); do
                start=$(date +%s%N)
                eval "$cmd" >/dev/null 2>&1 || true
                end=$(date +%s%N)
                ms=$(((end - start) / 1000000))
                total=$((total + ms))
                if [ -z "$min" ] || [ "$ms" -lt "$min" ]; then min=$ms; fi
                if [ "$ms" -gt "$max" ]; then max=$ms; fi
            done
            echo "| \`$command_label\` | $((total / runs)) | $min | $max |"
        done
    fi
}

echo "== homelab twin" >&2
serve homelab
echo "== generating a large scenario: $large_args" >&2
# shellcheck disable=SC2086
"$posture" twin generate $large_args -o "$work/large.yaml"
echo "== large twin" >&2
serve large --scenario "$work/large.yaml"

echo "## posture check vs kubectl ($(date -u +%Y-%m-%d), $runs runs)"
echo
echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB RAM, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "posture $("$posture" --version | cut -d' ' -f2), $(kubectl version --client 2>/dev/null | head -1)"
measure homelab "homelab (the runbook's cluster)" "$work/homelab.kubeconfig"
measure large "generated: $large_args" "$work/large.kubeconfig"
