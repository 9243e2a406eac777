//! Collection against a small fake API server: per-resource failures stay per-resource.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use posture_kube::{ClusterEndpoint, client_from, collect, collect_documents, snapshot_text};
use serde_json::{Value, json};

const DATE: &str = "Tue, 24 Nov 2026 16:04:42 GMT";

/// Answers each path with a fixed status and body; anything unknown is 404 (or `otherwise`).
#[derive(Default, Clone)]
struct FakeApi {
    routes: HashMap<String, (StatusCode, String)>,
    otherwise: Option<StatusCode>,
}

impl FakeApi {
    fn json(mut self, path: &str, status: StatusCode, body: Value) -> Self {
        self.routes
            .insert(path.to_owned(), (status, body.to_string()));
        self
    }
    fn list(self, path: &str, items: Value) -> Self {
        self.json(
            path,
            StatusCode::OK,
            json!({"kind": "List", "apiVersion": "v1", "items": items}),
        )
    }
    fn otherwise(mut self, status: StatusCode) -> Self {
        self.otherwise = Some(status);
        self
    }
    fn text(mut self, path: &str, body: &str) -> Self {
        self.routes
            .insert(path.to_owned(), (StatusCode::OK, body.to_owned()));
        self
    }

    async fn serve(self) -> String {
        async fn answer(State(api): State<Arc<FakeApi>>, request: Request) -> Response {
            let (status, body) = api
                .routes
                .get(request.uri().path())
                .cloned()
                .unwrap_or(match api.otherwise {
                    Some(status) => (status, json!({"kind": "Status", "code": status.as_u16(), "reason": "Forbidden", "message": "no"}).to_string()),
                    None => (StatusCode::NOT_FOUND, "404 page not found".to_owned()),
                });
            (status, [(header::DATE, DATE)], body).into_response()
        }
        let app = Router::new().fallback(answer).with_state(Arc::new(self));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        format!("http://{addr}")
    }
}

fn kubeconfig(server: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: '{server}'}}\n\
         users:\n- name: me\n  user: {{token: t}}\ncontexts:\n- name: lab\n  context: {{cluster: fake, user: me}}\n\
         current-context: lab\n"
    );
    std::fs::write(file.path(), text).expect("write kubeconfig");
    file
}

fn forbidden() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
           "message": "secrets are forbidden"})
}

fn small_cluster() -> FakeApi {
    FakeApi::default()
        .text("/readyz", "[+]ping ok\n[+]etcd ok\nreadyz check passed\n")
        .text("/healthz", "[+]ping ok\nhealthz check passed\n")
        .list(
            "/api/v1/nodes",
            json!([{"metadata": {"name": "n1", "managedFields": [{"manager": "k3s"}]}},
                   {"metadata": {"name": "n2"}}]),
        )
        .list("/api/v1/namespaces", json!([{"metadata": {"name": "kube-system"}}]))
        .json("/api/v1/pods", StatusCode::FORBIDDEN, forbidden())
        .list(
            "/apis/apps/v1/deployments",
            json!([{"metadata": {"name": "coredns", "namespace": "kube-system"}, "spec": {"replicas": 1,
                    "selector": {}, "template": {}}}]),
        )
}

#[tokio::test]
async fn forbidden_resources_are_recorded_and_the_rest_is_collected() {
    let server = small_cluster().serve().await;
    let config = kubeconfig(&server);
    let (client, identity) = client_from(Some(config.path()), None)
        .await
        .expect("client");
    assert_eq!(
        identity,
        ClusterEndpoint {
            server: server.clone(),
            context: "lab".into()
        }
    );

    let snapshot = &collect(&client, &identity).await.expect("collects");
    assert_eq!(snapshot.nodes.len(), 2);
    assert_eq!(snapshot.deployments.len(), 1);
    assert_eq!(snapshot.unreadable("pods"), Some("forbidden"));
    // Missing core resources are recorded too, so checks say "unknown" rather than "none".
    assert_eq!(snapshot.unreadable("services"), Some("not found"));
    assert!(
        snapshot.longhorn.is_none(),
        "404 on longhorn.io means not installed"
    );
    assert_eq!(
        snapshot
            .info
            .collected_at
            .expect("collected_at")
            .to_string(),
        "2026-11-24T16:04:42Z"
    );
    assert_eq!(snapshot.info.source, server);
    assert_eq!(snapshot.info.context.as_deref(), Some("lab"));
    assert!(snapshot.readyz.as_ref().expect("readyz").passed());
    assert!(snapshot.healthz.is_some());
    assert!(
        snapshot
            .nodes
            .iter()
            .all(|n| n.metadata.managed_fields.is_none()),
        "typed objects are kept without managedFields"
    );

    // Saved, the same objects are documents with their kind, without managedFields, and the
    // typed snapshot holds only provenance and health.
    let collection = collect_documents(&client, &identity)
        .await
        .expect("collects");
    assert!(collection.snapshot.nodes.is_empty());
    assert_eq!(collection.snapshot.unreadable, snapshot.unreadable);
    let node = &collection.documents[0];
    assert_eq!(node["kind"], "Node");
    assert_eq!(node["apiVersion"], "v1");
    assert!(node["metadata"].get("managedFields").is_none());
}

#[tokio::test]
async fn saved_snapshots_load_back_the_same() {
    let api = small_cluster().list("/apis/longhorn.io/v1beta2/volumes", json!([]));
    let server = api.serve().await;
    let config = kubeconfig(&server);
    let (client, identity) = client_from(Some(config.path()), Some("lab"))
        .await
        .expect("client");
    let collection = collect_documents(&client, &identity)
        .await
        .expect("collects");
    assert!(
        collection.snapshot.longhorn.is_some(),
        "an answered longhorn.io LIST means installed"
    );

    let yaml = snapshot_text(&collection);
    assert!(!yaml.contains("managedFields"));
    let loaded = posture_core::load_snapshot_str("saved.yaml", &yaml).expect("loads back");
    assert_eq!(loaded.info, collection.snapshot.info);
    assert_eq!(loaded.nodes.len(), 2);
    assert_eq!(loaded.deployments.len(), 1);
    assert_eq!(loaded.unreadable, collection.snapshot.unreadable);
    assert_eq!(loaded.readyz, collection.snapshot.readyz);
    assert_eq!(loaded.healthz, collection.snapshot.healthz);
    assert!(loaded.longhorn.is_some());
}

#[tokio::test]
async fn a_cluster_that_forbids_everything_is_an_error() {
    let server = FakeApi::default()
        .text("/readyz", "ok")
        .text("/healthz", "ok")
        .otherwise(StatusCode::FORBIDDEN)
        .serve()
        .await;
    let config = kubeconfig(&server);
    let (client, identity) = client_from(Some(config.path()), None)
        .await
        .expect("client");
    let err = collect_documents(&client, &identity)
        .await
        .expect_err("nothing readable");
    assert!(
        matches!(err, posture_kube::CollectError::Forbidden { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_cluster_that_reads_nothing_for_another_reason_is_not_called_forbidden() {
    let server = FakeApi::default().text("/readyz", "ok").serve().await;
    let config = kubeconfig(&server);
    let (client, identity) = client_from(Some(config.path()), None)
        .await
        .expect("client");
    // Every LIST 404s here: nothing was read, but nothing was refused for permissions either.
    let err = collect_documents(&client, &identity)
        .await
        .expect_err("nothing readable");
    let posture_kube::CollectError::NothingRead { reason, .. } = &err else {
        panic!("expected NothingRead, got {err}");
    };
    // The reason, not the whole message: the server's random port may contain "403".
    assert!(!reason.contains("403"), "{err}");
    assert!(
        !err.to_string().to_lowercase().contains("forbidden"),
        "{err}"
    );
}

#[tokio::test]
async fn rejected_credentials_concern_the_whole_cluster() {
    let server = FakeApi::default()
        .json(
            "/readyz",
            StatusCode::UNAUTHORIZED,
            json!({"kind": "Status", "code": 401}),
        )
        .serve()
        .await;
    let config = kubeconfig(&server);
    let (client, identity) = client_from(Some(config.path()), None)
        .await
        .expect("client");
    let err = collect_documents(&client, &identity)
        .await
        .expect_err("401");
    assert!(
        matches!(err, posture_kube::CollectError::Unauthorized { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&server), "{err}");
}

#[tokio::test]
async fn a_closed_port_is_unreachable_and_names_server_and_context() {
    let config = kubeconfig("http://127.0.0.1:1");
    let (client, identity) = client_from(Some(config.path()), None)
        .await
        .expect("client");
    let err = collect_documents(&client, &identity)
        .await
        .expect_err("unreachable");
    let message = err.to_string();
    assert!(
        matches!(err, posture_kube::CollectError::Unreachable { .. }),
        "{message}"
    );
    assert!(
        message.contains("http://127.0.0.1:1") && message.contains("lab"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_context_is_a_client_error() {
    let config = kubeconfig("http://127.0.0.1:1");
    let Err(err) = client_from(Some(config.path()), Some("nope")).await else {
        panic!("an unknown context must be refused");
    };
    assert!(err.to_string().contains("nope"), "{err}");
}

/// Where the API serves a list of `object`'s kind, in the lists posture reads.
fn list_path(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let plural = if kind.ends_with('s') {
        format!("{kind}es")
    } else {
        format!("{kind}s")
    };
    let prefix = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    match (kind.as_str(), object["metadata"]["namespace"].as_str()) {
        ("lease" | "configmap", Some(ns)) => format!("{prefix}/namespaces/{ns}/{plural}"),
        _ => format!("{prefix}/{plural}"),
    }
}

/// Serves `text`'s objects from the fake API and collects them; also returns the snapshot the
/// file loads as.
async fn collect_scenario(text: &str) -> (posture_core::Snapshot, posture_core::Snapshot) {
    let expected = posture_core::load_snapshot_str("scenario.yaml", text).expect("scenario loads");
    let mut lists: HashMap<String, Vec<Value>> = HashMap::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let object: Value = serde::Deserialize::deserialize(document).expect("valid YAML");
        if object.is_object() {
            lists.entry(list_path(&object)).or_default().push(object);
        }
    }
    let mut api = FakeApi::default().text("/readyz", "ok");
    for (path, items) in lists {
        api = api.list(&path, Value::Array(items));
    }
    let server = api.serve().await;
    let config = kubeconfig(&server);
    let (client, identity) = client_from(Some(config.path()), None)
        .await
        .expect("client");
    let collected = collect(&client, &identity).await.expect("collects");
    (collected, expected)
}

fn counts(s: &posture_core::Snapshot) -> [usize; 16] {
    let lh = s.longhorn.as_ref().expect("longhorn installed");
    [
        s.nodes.len(),
        s.namespaces.len(),
        s.deployments.len(),
        s.daemon_sets.len(),
        s.stateful_sets.len(),
        s.services.len(),
        s.leases.len(),
        s.storage_classes.len(),
        s.persistent_volumes.len(),
        s.persistent_volume_claims.len(),
        s.config_maps.len(),
        lh.settings.len(),
        lh.volumes.len(),
        lh.replicas.len(),
        lh.engines.len(),
        lh.nodes.len(),
    ]
}

const HOMELAB: &str = include_str!("../../../scenarios/homelab.yaml");

#[tokio::test]
async fn the_homelab_scenario_collects_as_it_loads() {
    let (collected, expected) = collect_scenario(HOMELAB).await;
    assert_eq!(counts(&collected), counts(&expected));
    assert!(collected.nodes.len() >= 2 && collected.leases.len() == 2);
}

#[tokio::test]
async fn longhorn_installed_in_another_namespace_is_followed_there() {
    let moved = HOMELAB.replace("longhorn-system", "storage");
    let (collected, expected) = collect_scenario(&moved).await;
    assert_eq!(counts(&collected), counts(&expected));
    assert!(
        collected
            .config_maps
            .iter()
            .any(|c| c.metadata.namespace.as_deref() == Some("storage")),
        "Longhorn's StorageClass ConfigMap is read from its own namespace"
    );
}

#[tokio::test]
async fn refused_health_endpoints_still_give_the_cluster_clock() {
    let server = FakeApi::default()
        .json("/readyz", StatusCode::FORBIDDEN, forbidden())
        .text("/api/v1/services", "<html>proxy error</html>")
        .list("/api/v1/nodes", json!([{"metadata": {"name": "n1"}}]))
        .serve()
        .await;
    let config = kubeconfig(&server);
    let (client, identity) = client_from(Some(config.path()), None)
        .await
        .expect("client");
    let snapshot = collect(&client, &identity).await.expect("collects");
    assert_eq!(snapshot.unreadable("/readyz"), Some("forbidden"));
    assert_eq!(snapshot.unreadable("/healthz"), Some("not found"));
    assert!(
        snapshot
            .unreadable("services")
            .is_some_and(|r| r.starts_with("invalid response"))
    );
    assert_eq!(
        snapshot
            .info
            .collected_at
            .expect("collected_at")
            .to_string(),
        "2026-11-24T16:04:42Z"
    );
    assert_eq!(snapshot.nodes.len(), 1);
}
