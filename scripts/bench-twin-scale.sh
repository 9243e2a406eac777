#!/usr/bin/env bash
# How long the twin takes to load and settle a large generated cluster, and its resident memory
# once serving. Usage: scripts/bench-twin-scale.sh [NODES PODS VOLUMES REPLICAS_PER_VOLUME]
# POSTURE=BIN uses an existing release binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${1:-200} pods=${2:-10000} volumes=${3:-2000} per_volume=${4:-3}
if [ -z "${POSTURE:-}" ]; then
  cargo build --release -q -p posture
  POSTURE=target/release/posture
fi
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
"$POSTURE" twin generate --nodes "$nodes" --pods "$pods" --volumes "$volumes" \
  --replicas-per-volume "$per_volume" -o "$work/scenario.yaml"
echo "scenario: $nodes nodes, $pods pods, $volumes volumes x $per_volume replicas ($(du -h "$work/scenario.yaml" | cut -f1) of YAML)"
start=$(date +%s.%N)
"$POSTURE" twin serve --speed 0 --scenario "$work/scenario.yaml" \
  --kubeconfig-out "$work/kubeconfig" > "$work/serve.log" 2>&1 &
pid=$!
until grep -q "twin serving at" "$work/serve.log"; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.05
done
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "load and bootstrap until serving: %.2f s\n", e - s }'
echo "resident memory while serving: $(awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status")"
echo "peak resident memory: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status")"
kubectl --kubeconfig "$work/kubeconfig" get nodes --no-headers | wc -l | sed 's/^/nodes served: /'
