//! A scenario generator for benchmarks: many nodes, Deployments, Longhorn volumes and replicas,
//! all in steady state once loaded.

use std::fmt::Write;

/// How big a generated cluster is.
#[derive(Debug, Clone, Copy)]
pub struct ScaleParams {
    pub nodes: usize,
    /// Pods in total, made by Deployments of up to ten replicas.
    pub pods: usize,
    pub volumes: usize,
    pub replicas_per_volume: usize,
}

const PODS_PER_DEPLOYMENT: usize = 10;
const GIB: u64 = 1 << 30;

/// A multi-document YAML scenario of the given size.
pub fn generate_scenario(params: ScaleParams) -> String {
    let mut out = String::new();
    let nodes = params.nodes.max(1);
    for n in 0..nodes {
        let name = format!("node-{n:04}");
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels: {{kubernetes.io/hostname: {name}, kubernetes.io/os: linux}}\n\
spec: {{podCIDR: 10.{}.{}.0/24}}\n\
status:\n  conditions:\n  - {{type: Ready, status: \"True\", reason: KubeletReady}}\n  \
  addresses:\n  - {{type: InternalIP, address: 192.168.{}.{}}}\n  \
  capacity: {{cpu: \"64\", memory: 256Gi, pods: \"250\"}}\n  allocatable: {{cpu: \"64\", memory: 256Gi, pods: \"250\"}}\n",
            42 + n / 250,
            n % 250,
            n / 250,
            n % 250 + 1,
        );
        let _ = write!(
            out,
            "---\napiVersion: longhorn.io/v1beta2\nkind: Node\nmetadata: {{name: {name}, namespace: longhorn-system}}\n\
spec:\n  name: {name}\n  allowScheduling: true\n  disks:\n    disk-{name}: {{path: /var/lib/longhorn/, allowScheduling: true, storageReserved: 0}}\n\
status:\n  conditions:\n  - {{type: Ready, status: \"True\"}}\n  diskStatus:\n    disk-{name}: {{storageMaximum: {}, storageAvailable: {}, storageScheduled: 0, diskUUID: uuid-{name}}}\n",
            1u64 << 50,
            1u64 << 50
        );
    }
    out.push_str("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: bench}\n");
    for (setting, value) in [
        ("replica-soft-anti-affinity", "false"),
        ("replica-replenishment-wait-interval", "600"),
        ("concurrent-replica-rebuild-per-node-limit", "5"),
    ] {
        let _ = write!(
            out,
            "---\napiVersion: longhorn.io/v1beta2\nkind: Setting\nmetadata: {{name: {setting}, namespace: longhorn-system}}\nvalue: \"{value}\"\n"
        );
    }
    let mut remaining = params.pods;
    let mut d = 0;
    while remaining > 0 {
        let replicas = remaining.min(PODS_PER_DEPLOYMENT);
        remaining -= replicas;
        let _ = write!(
            out,
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{d:05}, namespace: bench}}\n\
spec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: app-{d:05}}}}}\n  \
  template:\n    metadata: {{labels: {{app: app-{d:05}}}}}\n    \
    spec: {{containers: [{{name: app, image: \"example/app:1\", resources: {{requests: {{cpu: 10m, memory: 16Mi}}}}}}]}}\n"
        );
        if d % 10 == 0 {
            let _ = write!(
                out,
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: app-{d:05}, namespace: bench}}\nspec: {{selector: {{app: app-{d:05}}}, ports: [{{port: 80}}]}}\n"
            );
        }
        d += 1;
    }
    for v in 0..params.volumes {
        let volume = format!("pvc-bench-{v:05}");
        let owner = format!("node-{:04}", v % nodes);
        let size = GIB;
        let mut modes = String::new();
        let mut addresses = String::new();
        for r in 0..params.replicas_per_volume {
            let node = format!("node-{:04}", (v + r) % nodes);
            let replica = format!("{volume}-r-{r:08x}");
            let _ = write!(
                out,
                "---\napiVersion: longhorn.io/v1beta2\nkind: Replica\nmetadata: {{name: {replica}, namespace: longhorn-system, labels: {{longhornvolume: {volume}, longhornnode: {node}}}}}\n\
spec: {{volumeName: {volume}, nodeID: {node}, diskID: uuid-{node}, diskPath: /var/lib/longhorn/, engineName: {volume}-e-0, active: true, desireState: running, dataEngine: v1, volumeSize: '{size}', healthyAt: '2026-01-01T00:00:00Z', failedAt: '', lastFailedAt: '', rebuildRetryCount: 0}}\n\
status: {{currentState: running, ownerID: {node}, started: true}}\n"
            );
            let _ = write!(modes, "{replica}: RW, ");
            let _ = write!(addresses, "{replica}: '10.0.0.{}:10000', ", r + 1);
        }
        let _ = write!(
            out,
            "---\napiVersion: longhorn.io/v1beta2\nkind: Engine\nmetadata: {{name: {volume}-e-0, namespace: longhorn-system, labels: {{longhornvolume: {volume}}}}}\n\
spec: {{volumeName: {volume}, nodeID: {owner}, active: true, desireState: running, dataEngine: v1, volumeSize: '{size}', replicaAddressMap: {{{addresses}}}}}\n\
status: {{currentState: running, ownerID: {owner}, started: true, replicaModeMap: {{{modes}}}}}\n\
---\napiVersion: longhorn.io/v1beta2\nkind: Volume\nmetadata: {{name: {volume}, namespace: longhorn-system}}\n\
spec: {{numberOfReplicas: {}, size: '{size}', dataEngine: v1, replicaSoftAntiAffinity: ignored, nodeID: {owner}}}\n\
status: {{state: attached, robustness: healthy, currentNodeID: {owner}, conditions: [{{type: Scheduled, status: 'True', reason: ''}}]}}\n",
            params.replicas_per_volume
        );
    }
    out
}
