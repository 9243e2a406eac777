//! `watch --act snapshot-restore`: reads what [`select`] needs. Choosing the volumes and writing
//! the revert steps is pure, in [`posture_core::act::restore`]; posture never runs the steps.

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use posture_core::ObjectRef;
use posture_core::longhorn::API_VERSION;
use serde_json::Value;

pub use posture_core::act::restore::*;

use super::ActError;
use crate::apply::objects::api_resource;

fn longhorn(kind: &str) -> ApiResource {
    api_resource(&ObjectRef::new(API_VERSION, kind, None, ""))
}

/// Lists what [`select`] needs: a collect, the Longhorn Snapshots and, if served, the Backups.
pub async fn read_restore(
    client: &kube::Client,
    cluster: &crate::ClusterEndpoint,
    policy: &posture_core::Policy,
    alerts: Option<&[String]>,
) -> Result<RestorePlan, ActError> {
    let snapshot = crate::collect(client, cluster)
        .await
        .map_err(ActError::Collect)?;
    let snapshots = list_all(client, &longhorn("Snapshot"))
        .await
        .map_err(|source| ActError::Api {
            what: "listing Longhorn snapshots".into(),
            source,
        })?;
    let backups = match list_all(client, &longhorn("Backup")).await {
        Ok(items) => Some(items),
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 403 => None,
        Err(source) => {
            return Err(ActError::Api {
                what: "listing Longhorn backups".into(),
                source,
            });
        }
    };
    Ok(select(
        &snapshot,
        policy,
        &snapshots,
        backups.as_deref(),
        alerts,
    ))
}

async fn list_all(
    client: &kube::Client,
    resource: &ApiResource,
) -> Result<Vec<Value>, kube::Error> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
    let list = api.list(&ListParams::default()).await?;
    Ok(list
        .items
        .iter()
        .filter_map(|item| serde_json::to_value(item).ok())
        .collect())
}
