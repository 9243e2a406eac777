//! Resources that exist only once their CustomResourceDefinition is installed (Argo CD's
//! Applications) are not found until the CRD is created, as on a real API server.

mod common;

use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::json;

use common::api_status;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_are_served_once_their_crd_exists() {
    let served = common::serve_homelab().await;
    let client = served.client().await;
    let applications = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    );
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &applications);
    let missing = all
        .list(&ListParams::default())
        .await
        .expect_err("no CRD yet");
    assert_eq!(api_status(missing).0, 404);
    let groups = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    assert!(!groups.has_group("argoproj.io"));

    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "applications.argoproj.io"},
        "spec": {"group": "argoproj.io", "scope": "Namespaced",
                 "names": {"kind": "Application", "plural": "applications"}},
    }))
    .expect("valid");
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("create CRD");
    let listed = all.list(&ListParams::default()).await.expect("served now");
    assert!(listed.items.is_empty());
    let groups = kube::discovery::Discovery::new(client)
        .run()
        .await
        .expect("discovery");
    assert!(groups.has_group("argoproj.io"));
}
