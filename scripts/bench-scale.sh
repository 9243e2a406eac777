#!/usr/bin/env bash
# How `posture check` grows with the cluster, next to the runbook's kubectl sequence on the same
# twin: the homelab, then generated clusters of 1x, 2x and 4x (200/400/800 nodes, 10k/20k/40k
# pods, 2k/4k/8k volumes). For each: `posture check` live, `posture snapshot`, `posture check
# --snapshot`, and the 15 kubectl commands of the runbook's section 2 one after another; wall
# time, CPU time (user + system, children included) and peak RSS, one run each. Then one LIST of
# every pod: kubectl against the twin, and the twin's own answer (curl). Last, the homelab over
# TLS (`twin serve --tls`), where a client's connection handling shows.
#
# usage: scripts/bench-scale.sh [SCALES]     (default "1 2 4"; "1" for a quick run)
# env:   POSTURE=BINARY skips the build; CARGO_TARGET_DIR as for cargo; BASELINE=BINARY also
#        times another posture build's live check (an earlier commit) on the same twins.
set -euo pipefail

scales=${1:-1 2 4}
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
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

# serve NAME [serve args...]: a twin in the background; its kubeconfig is $work/NAME.kubeconfig
serve() {
    local name=$1
    shift
    "$posture" twin serve --speed 0 --kubeconfig-out "$work/$name.kubeconfig" "$@" \
        >"$work/$name.log" 2>&1 &
    servers+=("$!")
    for _ in $(seq 1 6000); do
        grep -q '^twin serving at' "$work/$name.log" 2>/dev/null && return 0
        kill -0 "${servers[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "twin $name did not start:" >&2
    cat "$work/$name.log" >&2
    exit 1
}

stop_last() {
    local pid=${servers[-1]}
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset 'servers[-1]'
}

# The runbook's section 2, one kubectl call each, as a person runs them.
kubectl_sequence() {
    local kubeconfig=$1
    cat <<SCRIPT
set -e
k() { kubectl --kubeconfig "$kubeconfig" "\$@" >/dev/null; }
k get nodes -o wide
k -n kube-system get leases.coordination.k8s.io
k get --raw=/readyz
k get --raw=/healthz
k -n longhorn-system get volumes.longhorn.io -o custom-columns=NAME:.metadata.name,REPLICAS:.spec.numberOfReplicas,ROBUST:.status.robustness
k -n longhorn-system get replicas.longhorn.io -o custom-columns=NAME:.metadata.name,VOLUME:.spec.volumeName,NODE:.spec.nodeID,MODE:.status.mode
k -n longhorn-system get settings.longhorn.io
k -n longhorn-system get engines.longhorn.io
k get pods -A -o wide
k get deployments,daemonsets,statefulsets -A
k get pdb -A
k -n kube-system get endpointslices -l kubernetes.io/service-name=kube-dns
k get storageclass
k get pv,pvc -A
k get events -A
SCRIPT
}

# measure COMMAND...: one run; prints "wall_s cpu_s rss_mb" (wall to the microsecond; CPU and
# peak RSS from GNU time, CPU to the hundredth of a second)
measure() {
    local out=$work/time.out start end
    start=$(date +%s%N)
    /usr/bin/time -f '%U %S %M' -o "$out" "$@" >/dev/null 2>"$work/stderr" || {
        echo "failed: $*" >&2
        cat "$work/stderr" >&2
        exit 1
    }
    end=$(date +%s%N)
    awk -v ns=$((end - start)) '{ printf "%.4f %.2f %.0f\n", ns / 1e9, $1 + $2, $3 / 1024 }' "$out"
}

row() {
    local cluster=$1 objects=$2 what=$3 wall=$4 cpu=$5 rss=$6 base=${7:-}
    local ratio=""
    [ -n "$base" ] && ratio=$(awk -v b="$base" -v w="$wall" 'BEGIN { printf "%.1fx", b / w }')
    printf '| %s | %s | %s | %s s | %s s | %s MB | %s |\n' "$cluster" "$objects" "$what" "$wall" "$cpu" "$rss" "$ratio"
}

bench_cluster() {
    local name=$1 label=$2
    local kc=$work/$name.kubeconfig
    kubectl_sequence "$kc" >"$work/$name-kubectl.sh"
    # Warm kubectl's discovery cache and the page cache (both binaries) once, untimed.
    bash "$work/$name-kubectl.sh"
    "$posture" check --kubeconfig "$kc" -o json --fail-on never >/dev/null
    read -r kwall kcpu krss < <(measure bash "$work/$name-kubectl.sh")
    read -r lwall lcpu lrss < <(measure "$posture" check --kubeconfig "$kc" -o json --fail-on never)
    read -r swall scpu srss < <(measure "$posture" snapshot --kubeconfig "$kc" -o "$work/$name.snapshot")
    read -r fwall fcpu frss < <(measure "$posture" check --snapshot "$work/$name.snapshot" -o json --fail-on never)
    local objects
    objects=$(grep -c '^---$' "$work/$name.snapshot" || true)
    row "$label" "$objects" "kubectl sequence (15 calls)" "$kwall" "$kcpu" "$krss"
    row "$label" "$objects" "posture check (live)" "$lwall" "$lcpu" "$lrss" "$kwall"
    if [ -n "${BASELINE:-}" ]; then
        read -r bwall bcpu brss < <(measure "$BASELINE" check --kubeconfig "$kc" -o json --fail-on never)
        row "$label" "$objects" "baseline build: posture check (live)" "$bwall" "$bcpu" "$brss" "$kwall"
    fi
    row "$label" "$objects" "posture snapshot" "$swall" "$scpu" "$srss"
    row "$label" "$objects" "posture check --snapshot" "$fwall" "$fcpu" "$frss" "$kwall"
}

list_pods() {
    local name=$1 label=$2
    local kc=$work/$name.kubeconfig server
    server=$(awk '/server:/ { print $2; exit }' "$kc")
    read -r cwall ccpu crss < <(measure curl -sf -o "$work/pods.json" "$server/api/v1/pods")
    local size
    size=$(du -m "$work/pods.json" | cut -f1)
    read -r kwall kcpu krss < <(measure kubectl --kubeconfig "$kc" get pods -A -o json)
    row "$label" "${size} MB" "LIST all pods: the twin's answer (curl)" "$cwall" "$ccpu" "$crss"
    row "$label" "${size} MB" "LIST all pods: kubectl get pods -A -o json" "$kwall" "$kcpu" "$krss"
}

echo "## posture at scale vs the kubectl sequence ($(date -u +%Y-%m-%d))"
echo
echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB RAM, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "posture $("$posture" --version | cut -d' ' -f2), $(kubectl version --client 2>/dev/null | head -1)"
echo
echo "| cluster | objects | command | wall | CPU | peak RSS | faster than kubectl |"
echo "|---|---:|---|---:|---:|---:|---:|"

serve homelab
bench_cluster homelab "homelab"
stop_last

for scale in $scales; do
    nodes=$((200 * scale)) pods=$((10000 * scale)) volumes=$((2000 * scale))
    "$posture" twin generate --nodes "$nodes" --pods "$pods" --volumes "$volumes" \
        --replicas-per-volume 2 -o "$work/gen$scale.yaml" >/dev/null 2>&1
    serve "gen$scale" --scenario "$work/gen$scale.yaml"
    bench_cluster "gen$scale" "${scale}x ($nodes nodes, $pods pods, $volumes volumes)"
    list_pods "gen$scale" "${scale}x"
    stop_last
done

serve tls --tls
bench_cluster tls "homelab over TLS"
stop_last
