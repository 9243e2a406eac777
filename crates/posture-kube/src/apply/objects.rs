//! Reads and writes of the objects a plan names, as `DynamicObject`s, with API answers turned
//! into the machine's events.

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
    PostParams, Preconditions,
};
use posture_core::ObjectRef;
use posture_core::apply::journal::Operation;
use posture_core::apply::{ApiFailure, Event};

/// The resource an object reference names. Plurals follow the API's regular English rule,
/// which holds for every kind a plan touches.
pub(crate) fn api_resource(object: &ObjectRef) -> ApiResource {
    let (group, version) = match object.api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", object.api_version.as_str()),
    };
    let gvk = GroupVersionKind::gvk(group, version, &object.kind);
    ApiResource::from_gvk_with_plural(&gvk, &object.plural())
}

pub(crate) fn api_for(client: &kube::Client, object: &ObjectRef) -> Api<DynamicObject> {
    let resource = api_resource(object);
    match &object.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// Classifies a kube error for the machine: API answers by status, everything else as a
/// write in doubt.
pub(crate) fn failure(error: &kube::Error) -> ApiFailure {
    match error {
        kube::Error::Api(status) => {
            ApiFailure::from_status(Some(status.code), status.message.clone())
        }
        other => ApiFailure::from_status(None, other.to_string()),
    }
}

/// Carries out one write (or its dry-run) and answers with the event the machine expects.
pub(crate) async fn write(
    client: &kube::Client,
    object: &ObjectRef,
    operation: &Operation,
    dry_run: bool,
) -> Event {
    let api = api_for(client, object);
    let result = match operation {
        Operation::Patch { patch } => {
            let params = PatchParams {
                dry_run,
                ..PatchParams::default()
            };
            let Ok(patch) = serde_json::to_value(patch)
                .and_then(serde_json::from_value::<kube_json_patch::Patch>)
            else {
                return Event::Failed(ApiFailure::Rejected("patch cannot be encoded".into()));
            };
            api.patch(&object.name, &params, &Patch::Json::<()>(patch))
                .await
                .map(|o| written(&o))
        }
        Operation::Create { manifest } => {
            match serde_json::from_value::<DynamicObject>(manifest.clone()) {
                Err(e) => {
                    return Event::Failed(ApiFailure::Rejected(format!("invalid manifest: {e}")));
                }
                Ok(obj) => {
                    let params = PostParams {
                        dry_run,
                        ..PostParams::default()
                    };
                    api.create(&params, &obj).await.map(|o| written(&o))
                }
            }
        }
        Operation::Delete { uid } => {
            let params = DeleteParams {
                dry_run,
                preconditions: Some(Preconditions {
                    uid: uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            api.delete(&object.name, &params)
                .await
                .map(|_| (None, uid.clone(), None))
        }
    };
    match result {
        Ok(_) if dry_run => Event::DryRunSucceeded,
        Ok((resource_version, uid, object)) => Event::WriteSucceeded {
            resource_version,
            uid,
            object,
        },
        Err(e) => Event::Failed(failure(&e)),
    }
}

/// What a write answered: resourceVersion, uid and the object as the server stored it.
fn written(object: &DynamicObject) -> (Option<String>, Option<String>, Option<serde_json::Value>) {
    (
        object.metadata.resource_version.clone(),
        object.metadata.uid.clone(),
        serde_json::to_value(object).ok(),
    )
}

/// Reads an object back; a 404 is `ObjectRead(None)`.
pub(crate) async fn read(client: &kube::Client, object: &ObjectRef) -> Event {
    let api = api_for(client, object);
    match api.get_opt(&object.name).await {
        Ok(found) => Event::ObjectRead(found.and_then(|o| serde_json::to_value(o).ok())),
        Err(e) => Event::Failed(failure(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_named_by_their_plural() {
        let sc = ObjectRef::new("storage.k8s.io/v1", "StorageClass", None, "longhorn");
        assert_eq!(api_resource(&sc).plural, "storageclasses");
        assert_eq!(api_resource(&sc).group, "storage.k8s.io");
        let pdb = ObjectRef::new("policy/v1", "PodDisruptionBudget", Some("a"), "x");
        assert_eq!(api_resource(&pdb).plural, "poddisruptionbudgets");
        let cm = ObjectRef::new("v1", "ConfigMap", Some("a"), "x");
        assert_eq!(api_resource(&cm).plural, "configmaps");
        assert_eq!(api_resource(&cm).group, "");
    }
}
