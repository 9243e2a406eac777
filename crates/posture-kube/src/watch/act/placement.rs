//! Where the runbook's actors are: the primary and secondary nodes (inferred from a live
//! collect), and the workloads with storage that no placement pins.

use kube::api::{Api, DynamicObject, ListParams};
use posture_core::{ObjectRef, Policy, Topology};
use serde_json::Value;

use super::{ActError, workload_resource};

/// Deployments and StatefulSets with persistent storage (a PVC volume or claim template) and no
/// placement of their own (no nodeSelector, no node affinity): the ones that follow whichever
/// node the scheduler picks, and their volume with them.
pub async fn unpinned_workloads(client: &kube::Client) -> Result<Vec<ObjectRef>, ActError> {
    let mut found = Vec::new();
    for kind in ["Deployment", "StatefulSet"] {
        let resource = workload_resource(kind).ok_or_else(|| ActError::NotFound(kind.into()))?;
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|source| ActError::Api {
                what: format!("listing {}", resource.plural),
                source,
            })?;
        for item in list.items {
            if is_unpinned_with_storage(&item.data) {
                found.push(ObjectRef {
                    kind: kind.to_owned(),
                    api_version: resource.api_version.clone(),
                    namespace: item.metadata.namespace.clone(),
                    name: item.metadata.name.clone().unwrap_or_default(),
                });
            }
        }
    }
    Ok(found)
}

/// `data` is the object without its metadata (a `DynamicObject`'s `data`).
pub fn is_unpinned_with_storage(data: &Value) -> bool {
    let pod = &data["spec"]["template"]["spec"];
    let claims = pod["volumes"]
        .as_array()
        .is_some_and(|v| v.iter().any(|v| v.get("persistentVolumeClaim").is_some()))
        || data["spec"]["volumeClaimTemplates"]
            .as_array()
            .is_some_and(|t| !t.is_empty());
    let placed = pod["nodeSelector"]
        .as_object()
        .is_some_and(|m| !m.is_empty())
        || !pod["affinity"]["nodeAffinity"].is_null()
        || !pod["nodeName"].is_null();
    claims && !placed
}

/// The runbook's topology of the live cluster, inferred as `posture check` does (with the
/// policy file's `topology:` overrides).
async fn topology(
    client: &kube::Client,
    cluster: &crate::ClusterEndpoint,
    policy: &Policy,
) -> Result<Topology, ActError> {
    let snapshot = crate::collect(client, cluster)
        .await
        .map_err(|e| ActError::Topology(e.to_string()))?;
    Ok(posture_core::topology::infer(&snapshot, policy))
}

/// The primary node by the runbook's topology, inferred from a live collect.
pub async fn primary_node(
    client: &kube::Client,
    cluster: &crate::ClusterEndpoint,
    policy: &Policy,
) -> Result<String, ActError> {
    let topology = topology(client, cluster, policy).await?;
    topology.primary.ok_or(ActError::Topology(topology.reason))
}

/// The secondary node by the runbook's topology, inferred from a live collect.
pub async fn secondary_node(
    client: &kube::Client,
    cluster: &crate::ClusterEndpoint,
    policy: &Policy,
) -> Result<String, ActError> {
    let topology = topology(client, cluster, policy).await?;
    topology
        .secondary()
        .map(str::to_owned)
        .ok_or(ActError::Topology(topology.reason))
}
