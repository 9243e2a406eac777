//! `watch --act argo-rollback`: lists the Argo CD Applications and the workloads and relates
//! them with the pure [`relate`] ([`posture_core::act::argo`]); posture never runs the
//! `argocd` commands it prints.

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use serde_json::Value;

pub use posture_core::act::argo::*;

use super::ActError;

fn applications() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    )
}

/// Lists the Applications and the workloads, and relates them with [`relate`].
pub async fn read_argo(
    client: &kube::Client,
    cluster: &crate::ClusterEndpoint,
    alerts: Option<&[String]>,
) -> Result<ArgoFindings, ActError> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &applications());
    let listed = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(status)) if status.code == 404 => {
            return Ok(ArgoFindings::NotInstalled);
        }
        Err(kube::Error::Api(status)) if status.code == 403 => {
            return Ok(ArgoFindings::Forbidden {
                message: status.message,
            });
        }
        Err(source) => {
            return Err(ActError::Api {
                what: "listing Argo CD Applications".into(),
                source,
            });
        }
    };
    let applications: Vec<Value> = listed
        .iter()
        .filter_map(|app| serde_json::to_value(app).ok())
        .collect();
    let snapshot = crate::collect(client, cluster)
        .await
        .map_err(ActError::Collect)?;
    Ok(ArgoFindings::Installed(relate(
        &applications,
        &workloads_of(&snapshot),
        alerts,
    )))
}
