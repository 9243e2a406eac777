//! Watch events of whole objects, as the API server sends them (`{"type":"MODIFIED",
//! "object":{...}}`), for measuring the reducer in front of the detectors. Objects are the
//! test fixtures shaped like the real API, renamed and mutated: lease renewals, node
//! heartbeats, pod status updates with occasional restarts, EndpointSlice flips and engine
//! replica modes going RW → WO → RW.

use serde_json::{Value, json};

const POD: &str = include_str!("../../src/detect/tests/fixtures/pod-coredns.json");
const SLICE: &str = include_str!("../../src/detect/tests/fixtures/endpointslice-kube-dns.json");
const LEASE: &str = include_str!("../../src/detect/tests/fixtures/lease-kube-scheduler.json");
const NODE: &str = include_str!("../../src/detect/tests/fixtures/node-worker.json");
const LONGHORN: &str = include_str!("../../src/detect/tests/fixtures/longhorn-gitea.json");

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

/// `n` watch-event lines, deterministic, with the first sighting of every object first.
pub fn lines(n: usize, pods: usize, nodes: usize, services: usize, engines: usize) -> Vec<String> {
    let (pod, slice, lease, node) = (parse(POD), parse(SLICE), parse(LEASE), parse(NODE));
    let engine = parse(LONGHORN)["engine"].clone();
    let mut out = Vec::with_capacity(n);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut restarts = vec![0i64; pods];
    let base: jiff::Timestamp = "2026-11-24T00:00:00Z".parse().expect("timestamp");
    let mut i = 0u64;
    while out.len() < n {
        i += 1;
        let now = base + jiff::SignedDuration::from_millis(i as i64 * 25);
        let roll = next() % 100;
        let (kind, mut object) = match roll {
            0..50 => {
                let mut o = lease.clone();
                let k = (next() as usize) % (nodes + 2);
                o["metadata"]["name"] = json!(format!("lease-{k:03}"));
                o["metadata"]["namespace"] = json!(if k < 2 {
                    "kube-system"
                } else {
                    "kube-node-lease"
                });
                o["spec"]["renewTime"] = json!(now.to_string());
                ("MODIFIED", o)
            }
            50..75 => {
                let mut o = pod.clone();
                let k = (next() as usize) % pods;
                if next() % 20 == 0 {
                    restarts[k] += 1;
                }
                o["metadata"]["name"] = json!(format!("app-{k:05}-6799fbcd5-x7k2p"));
                o["metadata"]["namespace"] = json!(format!("ns-{:02}", k % 20));
                o["metadata"]["labels"]["k8s-app"] = json!(format!("app-{k:05}"));
                o["metadata"]["ownerReferences"][0]["name"] =
                    json!(format!("app-{k:05}-6799fbcd5"));
                o["status"]["containerStatuses"][0]["restartCount"] = json!(restarts[k]);
                o["status"]["conditions"][0]["lastProbeTime"] = json!(now.to_string());
                ("MODIFIED", o)
            }
            75..85 => {
                let mut o = slice.clone();
                let k = (next() as usize) % services;
                o["metadata"]["name"] = json!(format!("svc-{k:04}-8xq2v"));
                o["metadata"]["labels"]["kubernetes.io/service-name"] =
                    json!(format!("svc-{k:04}"));
                o["metadata"]["labels"]["k8s-app"] = json!(format!("svc-{k:04}"));
                o["endpoints"][1]["conditions"]["ready"] = json!(next() % 2 == 0);
                ("MODIFIED", o)
            }
            85..95 => {
                let mut o = node.clone();
                let k = (next() as usize) % nodes;
                o["metadata"]["name"] = json!(format!("node-{k:03}"));
                o["status"]["conditions"][1]["lastHeartbeatTime"] = json!(now.to_string());
                ("MODIFIED", o)
            }
            _ => {
                let mut o = engine.clone();
                let k = (next() as usize) % engines;
                o["metadata"]["name"] = json!(format!("pvc-{k:05}-e-0"));
                o["spec"]["volumeName"] = json!(format!("pvc-{k:05}"));
                let mode = if next() % 2 == 0 { "RW" } else { "WO" };
                o["status"]["replicaModeMap"]["pvc-9b7d2e51-3c8a-4f06-b1e2-5a7c9d0e4f31-r-c27f3c2"] =
                    json!(mode);
                ("MODIFIED", o)
            }
        };
        if let Some(meta) = object.get_mut("metadata") {
            meta["resourceVersion"] = json!(i.to_string());
        }
        out.push(json!({"type": kind, "object": object}).to_string());
    }
    out
}
