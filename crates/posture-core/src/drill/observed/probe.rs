//! `posture drill --probe`: every 15 s of the window, a one-shot pod on the surviving node
//! resolves the ingress controller's Service through cluster DNS and fetches from it. The
//! endpoints criterion says a Service *has* ready endpoints; the probe says a client on the
//! surviving node *gets an answer* through them.
//!
//! The pod is bound to the surviving node by `spec.nodeName` (posture names the node; nothing
//! is scheduled anywhere else) and tolerates every taint, since that node may be the tainted
//! server. An HTTP error status is an answer: the ingress controller served it.

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::checks::context::Ctx;
use crate::facts::node_ready;
use crate::policy::Policy;
use crate::snapshot::Snapshot;

/// How often a probe starts, in cluster time.
pub const PROBE_EVERY: SignedDuration = SignedDuration::from_secs(15);
/// How long one probe may take before it counts as failed.
pub const PROBE_TIMEOUT: SignedDuration = SignedDuration::from_secs(60);
/// Failed probes in a row that breach the criterion: one lookup lost while kube-proxy moves a
/// Service to its remaining endpoint is not an outage, two (30 s) are.
pub const FAILURES_TO_BREACH: u32 = 2;
/// Where the probe pods run: a namespace every cluster has.
pub const PROBE_NAMESPACE: &str = "default";
/// k3s's default `--cluster-domain`.
const CLUSTER_DOMAIN: &str = "cluster.local";
const IMAGE: &str = "busybox:1.36";

/// What the probe asks, and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeTarget {
    /// The node the probe runs on: one that stays.
    pub node: String,
    /// The ingress controller's Service as a cluster name.
    pub host: String,
    pub port: i32,
}

/// The probe's target for a drill of `lost_node`: the ingress controller's Service, from a
/// Ready node other than the lost one.
pub fn target(
    snapshot: &Snapshot,
    policy: &Policy,
    lost_node: &str,
) -> Result<ProbeTarget, String> {
    let mut survivors: Vec<&str> = (snapshot.nodes.iter())
        .filter(|n| node_ready(n) == Some(true))
        .filter_map(|n| n.metadata.name.as_deref())
        .filter(|n| *n != lost_node)
        .collect();
    survivors.sort_unstable();
    let node = survivors
        .first()
        .ok_or_else(|| format!("no Ready node besides {lost_node} to run the probe on"))?;
    let ctx = Ctx::new(snapshot, policy);
    // The one rule check, watch and the what-if share: the Services selecting the controller's
    // pods.
    let service = (ctx.ingress_controllers().into_iter())
        .flat_map(|w| ctx.services_for(w))
        .next()
        .ok_or("no Service selects the ingress controller's pods")?;
    let ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    let port = ports
        .iter()
        .find(|p| p.port == 80 || p.name.as_deref() == Some("http"))
        .or(ports.first())
        .map(|p| p.port)
        .ok_or("the ingress controller's Service has no port")?;
    Ok(ProbeTarget {
        node: (*node).to_owned(),
        host: format!(
            "{}.{}.svc.{CLUSTER_DOMAIN}",
            service.metadata.name.as_deref().unwrap_or_default(),
            service.metadata.namespace.as_deref().unwrap_or_default()
        ),
        port,
    })
}

/// The shell script the probe runs: exit 2 when the name does not resolve, 3 when nothing
/// answers, 0 when any HTTP answer (an error status included) comes back.
pub fn script(target: &ProbeTarget) -> String {
    let ProbeTarget { host, port, .. } = target;
    format!(
        "nslookup {host} >/dev/null || exit 2; \
         out=$(wget -T 5 -O /dev/null http://{host}:{port}/ 2>&1) && exit 0; \
         case \"$out\" in *'server returned error'*) exit 0;; esac; echo \"$out\"; exit 3"
    )
}

/// The probe pod, named `name`.
pub fn pod(target: &ProbeTarget, name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": PROBE_NAMESPACE,
            "labels": {
                "app.kubernetes.io/managed-by": "posture",
                "posture.dev/probe": "drill",
            },
        },
        "spec": {
            "nodeName": target.node,
            "restartPolicy": "Never",
            "activeDeadlineSeconds": PROBE_TIMEOUT.as_secs(),
            "terminationGracePeriodSeconds": 0,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{
                "name": "probe",
                "image": IMAGE,
                "command": ["sh", "-c", script(target)],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
            }],
        },
    })
}

/// What a finished probe's exit code means.
pub fn describe_exit(code: i32) -> &'static str {
    match code {
        0 => "answered",
        2 => "the name did not resolve (cluster DNS)",
        3 => "nothing answered (the ingress controller)",
        _ => "failed",
    }
}
