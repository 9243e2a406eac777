//! Whether a change delivered through its owner (a file for Argo CD, Flux, Helm or k3s) has
//! landed: the owner applied it once the live object already holds what the change sets.

use json_patch::{Patch, PatchOperation, patch as apply_patch};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

use super::patch::without_tests;
use super::{Action, Delivery, Plan};
use crate::object::ObjectRef;
use crate::snapshot::Snapshot;

/// Where an owner-delivered change stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Arrival {
    /// The live object holds everything the change sets.
    Arrived,
    /// Still waiting for the owner: the paths the live object does not hold yet.
    Waiting { paths: Vec<String> },
    /// The object is not in the cluster read.
    Missing,
}

/// Each owner-delivered change of `plan` with where it stands in `snapshot`.
pub fn owner_changes<'p>(
    plan: &'p Plan,
    snapshot: &Snapshot,
) -> Vec<(&'p str, &'p ObjectRef, Arrival)> {
    plan.stages
        .iter()
        .flat_map(|s| &s.changes)
        .filter(|c| matches!(c.delivery, Delivery::SourceFile { .. }))
        .filter_map(|c| {
            let Action::Patch { forward, .. } = &c.action else {
                return None;
            };
            let arrival = match live_object(snapshot, &c.object) {
                None => Arrival::Missing,
                Some(live) => arrival(&live, forward),
            };
            Some((c.id.as_str(), &c.object, arrival))
        })
        .collect()
}

/// Whether `live` already holds what `forward` sets, op by op.
pub fn arrival(live: &Value, forward: &Patch) -> Arrival {
    let mut paths = Vec::new();
    for op in without_tests(forward).0 {
        let path = match &op {
            PatchOperation::Add(o) => o.path.to_string(),
            PatchOperation::Replace(o) => o.path.to_string(),
            PatchOperation::Remove(o) => o.path.to_string(),
            _ => continue,
        };
        let mut after = live.clone();
        // An op that cannot apply (a missing parent) is not there yet either.
        if apply_patch(&mut after, &[op]).is_err() || after != *live {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        Arrival::Arrived
    } else {
        Arrival::Waiting { paths }
    }
}

/// The object `reference` names, as JSON, from the typed snapshot.
fn live_object(snapshot: &Snapshot, reference: &ObjectRef) -> Option<Value> {
    match reference.kind.as_str() {
        "Deployment" => named(&snapshot.deployments, reference),
        "DaemonSet" => named(&snapshot.daemon_sets, reference),
        "StatefulSet" => named(&snapshot.stateful_sets, reference),
        "ConfigMap" => named(&snapshot.config_maps, reference),
        "StorageClass" => named(&snapshot.storage_classes, reference),
        _ => None,
    }
}

/// The object of `objects` with `reference`'s namespace and name, as JSON.
fn named<K>(objects: &[K], reference: &ObjectRef) -> Option<Value>
where
    K: k8s_openapi::Metadata<Ty = ObjectMeta> + Serialize,
{
    let object = objects.iter().find(|o| {
        let meta = o.metadata();
        meta.name.as_deref() == Some(reference.name.as_str())
            && meta.namespace.as_deref() == reference.namespace.as_deref()
    })?;
    serde_json::to_value(object).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_arrives_once_the_live_object_holds_every_value_it_sets() {
        let forward: Patch = serde_json::from_value(serde_json::json!([
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 2},
            {"op": "add", "path": "/spec/template/spec/affinity", "value": {"x": 1}},
        ]))
        .expect("a patch");
        let before = serde_json::json!({"spec": {"replicas": 1, "template": {"spec": {}}}});
        assert_eq!(
            arrival(&before, &forward),
            Arrival::Waiting {
                paths: vec![
                    "/spec/replicas".into(),
                    "/spec/template/spec/affinity".into()
                ]
            }
        );
        let half = serde_json::json!({"spec": {"replicas": 2, "template": {"spec": {}}}});
        assert_eq!(
            arrival(&half, &forward),
            Arrival::Waiting {
                paths: vec!["/spec/template/spec/affinity".into()]
            }
        );
        let landed = serde_json::json!({"spec": {"replicas": 2, "template": {"spec": {"affinity": {"x": 1}}}}});
        assert_eq!(arrival(&landed, &forward), Arrival::Arrived);
    }
}
