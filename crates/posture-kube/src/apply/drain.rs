//! The API server's own answer to a drain of one node, asked without changing anything: the
//! cordon and every eviction are sent as dry runs, so admission, validation and the disruption
//! budgets are judged by the server itself while nothing is written. It backs up the pure
//! what-if of `posture_core::drill`, which works from a snapshot.
//!
//! Caveats: a budget's refusal is `429`, which a client built with retries repeats for a while
//! before giving it back; pass a client without them (as `apply::client_for_apply` builds) to
//! get each answer at once. The evictions are asked one by one against the cluster as it is,
//! so, unlike a real drain, no replacement becomes ready in between.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use posture_core::drill::{EvictionAnswer, ServerAnswer};
use posture_core::object::ObjectRef;
use serde_json::json;

use crate::retry::{retrying, transient};

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("node {node} does not exist")]
    UnknownNode { node: String },
    #[error("the API server refused a dry-run cordon of node {node}")]
    Cordon {
        node: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to list the pods on node {node}")]
    ListPods {
        node: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to ask for a dry-run eviction of pod {pod}")]
    Evict {
        pod: String,
        #[source]
        source: kube::Error,
    },
}

/// Cordons `node` and evicts each of its pods, all as dry runs, skipping DaemonSet and mirror
/// pods as `kubectl drain --ignore-daemonsets` does; one answer per pod, by namespace and name.
pub async fn server_dry_run(
    client: &kube::Client,
    node: &str,
) -> Result<Vec<EvictionAnswer>, DrillError> {
    cordon(client, node).await?;
    let listed = pods_on(client, node).await?;
    let mut answers = Vec::with_capacity(listed.len());
    for pod in &listed {
        let answer = match skipped(pod) {
            Some(why) => ServerAnswer::Skipped { why },
            None => evict(client, pod, true).await?,
        };
        answers.push(EvictionAnswer {
            pod: ObjectRef::of(pod),
            owner: controller(pod).map(|(kind, name)| format!("{kind} {name}")),
            answer,
        });
    }
    Ok(answers)
}

/// The pods on `node`, by namespace and name (a field selector, as `kubectl drain` lists them).
pub(crate) async fn pods_on(client: &kube::Client, node: &str) -> Result<Vec<Pod>, DrillError> {
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = ListParams::default().fields(&format!("spec.nodeName={node}"));
    let mut listed = retrying(|| pods.list(&on_node), transient)
        .await
        .map_err(|source| DrillError::ListPods {
            node: node.to_owned(),
            source,
        })?
        .items;
    listed.sort_by(|a, b| ObjectRef::of(a).cmp(&ObjectRef::of(b)));
    Ok(listed)
}

/// What `kubectl cordon` sends, as a dry run: a node that does not exist is the one error a
/// person can fix by name.
async fn cordon(client: &kube::Client, node: &str) -> Result<(), DrillError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let params = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    let patch = Patch::Merge(json!({"spec": {"unschedulable": true}}));
    match nodes.patch(node, &params, &patch).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(DrillError::UnknownNode {
            node: node.to_owned(),
        }),
        Err(source) => Err(DrillError::Cordon {
            node: node.to_owned(),
            source,
        }),
    }
}

pub(crate) fn controller(pod: &Pod) -> Option<(&str, &str)> {
    let owners = pod.metadata.owner_references.as_deref()?;
    let owner = owners
        .iter()
        .find(|o| o.controller == Some(true))
        .or(owners.first())?;
    Some((owner.kind.as_str(), owner.name.as_str()))
}

pub(crate) fn skipped(pod: &Pod) -> Option<String> {
    let mirror =
        (pod.metadata.annotations.as_ref()).is_some_and(|a| a.contains_key(MIRROR_ANNOTATION));
    if mirror {
        return Some("a static pod's mirror: it belongs to its node".into());
    }
    match controller(pod) {
        Some(("DaemonSet", name)) => Some(format!(
            "DaemonSet {name} runs a pod on every node (kubectl drain --ignore-daemonsets)"
        )),
        _ => None,
    }
}

/// POSTs the `policy/v1` Eviction itself rather than through kube-rs's `evict`, which puts its
/// delete options under a key the API server does not read: a dry run must be one on every
/// server, so both the query and the body say so.
pub(crate) async fn evict(
    client: &kube::Client,
    pod: &Pod,
    dry_run: bool,
) -> Result<ServerAnswer, DrillError> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let (options, query) = if dry_run {
        (json!({"dryRun": ["All"]}), "?dryRun=All")
    } else {
        (json!({}), "")
    };
    let body = json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": name, "namespace": namespace},
        "deleteOptions": options,
    });
    let request = http::Request::post(format!(
        "/api/v1/namespaces/{namespace}/pods/{name}/eviction{query}"
    ))
    .header(http::header::CONTENT_TYPE, "application/json")
    .body(body.to_string().into_bytes());
    let failed = |source| DrillError::Evict {
        pod: format!("{namespace}/{name}"),
        source,
    };
    let request = request.map_err(|e| failed(kube::Error::HttpError(e)))?;
    match client.request::<kube::core::Status>(request).await {
        Ok(_) => Ok(ServerAnswer::Evicts),
        Err(kube::Error::Api(status)) => Ok(ServerAnswer::Refuses {
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
            causes: (status.details.as_ref())
                .map(|d| d.causes.iter().map(|c| c.message.clone()).collect())
                .unwrap_or_default(),
        }),
        Err(source) => Err(failed(source)),
    }
}
