//! `server_dry_run` against a served twin: the server's own answer to a drain, every pod
//! answered, budgets quoted, and nothing written.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, PostParams};
use posture_core::drill::{EvictionAnswer, ServerAnswer, what_if};
use posture_core::{Policy, Snapshot};
use posture_kube::drill::{DrillError, server_dry_run};
use posture_twin::Twin;
use posture_twin::api::{RunningTwin, ServeOptions, serve};
use serde_json::json;

struct Lab {
    twin: RunningTwin,
    client: kube::Client,
    kubeconfig: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// The homelab, its clock still: nothing but these requests writes.
async fn lab() -> Lab {
    let start = "2026-11-23T12:00:00Z".parse().expect("a time");
    let twin = serve(Twin::homelab(start), ServeOptions::default())
        .await
        .expect("the twin serves");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    twin.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let (client, _) = posture_kube::apply::client_for_apply(Some(&kubeconfig), None)
        .await
        .expect("client");
    Lab {
        twin,
        client,
        kubeconfig,
        _dir: dir,
    }
}

impl Lab {
    fn resource_version(&self) -> u64 {
        self.twin.with_twin(|t| t.store.resource_version())
    }

    async fn create<K>(&self, namespace: &str, object: serde_json::Value)
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + serde::de::DeserializeOwned
            + serde::Serialize
            + Clone
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let object: K = serde_json::from_value(object).expect("a valid object");
        api.create(&PostParams::default(), &object)
            .await
            .expect("created");
    }

    async fn snapshot(&self) -> Snapshot {
        let (client, cluster) = posture_kube::client_from(Some(&self.kubeconfig), None)
            .await
            .expect("client");
        posture_kube::collect(&client, &cluster)
            .await
            .expect("collect")
    }
}

fn answer_of<'a>(answers: &'a [EvictionAnswer], pod: &str) -> &'a ServerAnswer {
    &answers
        .iter()
        .find(|a| a.pod.name == pod || a.pod.name.starts_with(&format!("{pod}-")))
        .unwrap_or_else(|| panic!("no answer for {pod}: {answers:#?}"))
        .answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_refuses_its_pod_the_rest_would_go_and_nothing_changes() {
    let lab = lab().await;
    lab.create::<PodDisruptionBudget>(
        "apps",
        json!({"metadata": {"name": "qdrant"},
               "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "qdrant"}}}}),
    )
    .await;
    let before = lab.resource_version();
    let pods_before = lab.twin.with_twin(|t| t.store.len());

    let answers = server_dry_run(&lab.client, "miniserver")
        .await
        .expect("answered");

    assert_eq!(lab.resource_version(), before, "a dry run writes nothing");
    assert_eq!(lab.twin.with_twin(|t| t.store.len()), pods_before);
    let ServerAnswer::Refuses {
        code,
        reason,
        message,
        causes,
    } = answer_of(&answers, "qdrant-0")
    else {
        panic!("qdrant-0 is refused: {answers:#?}")
    };
    assert_eq!((*code, reason.as_str()), (429, "TooManyRequests"));
    assert_eq!(
        message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(
        causes,
        &["The disruption budget qdrant needs 1 healthy pods and has 1 currently"]
    );
    for app in [
        "coredns",
        "haproxy-kubernetes-ingress",
        "gitea",
        "home-assistant",
        "nextcloud",
        "jellyfin",
    ] {
        assert_eq!(answer_of(&answers, app), &ServerAnswer::Evicts, "{app}");
    }
    let skipped: Vec<&str> = (answers.iter())
        .filter(|a| matches!(a.answer, ServerAnswer::Skipped { .. }))
        .filter_map(|a| a.owner.as_deref())
        .collect();
    assert_eq!(
        skipped.len(),
        4,
        "the DaemonSets' pods are not evicted: {skipped:?}"
    );
    assert!(skipped.iter().all(|o| o.starts_with("DaemonSet ")));
    let pods: Api<Pod> = Api::namespaced(lab.client.clone(), "apps");
    assert!(pods.get("qdrant-0").await.is_ok(), "still there");

    // The what-if worked out from a snapshot names the same refusal.
    let snapshot = lab.snapshot().await;
    let predicted = what_if(&snapshot, "miniserver", &Policy::default()).expect("a node");
    let blocked: Vec<String> = (predicted.disruption_budgets.iter())
        .flat_map(|b| b.blocked.iter().map(|e| e.pod.clone()))
        .collect();
    let refused: Vec<String> = (answers.iter())
        .filter(|a| matches!(a.answer, ServerAnswer::Refuses { .. }))
        .map(|a| {
            format!(
                "pod {}/{}",
                a.pod.namespace.as_deref().unwrap_or_default(),
                a.pod.name
            )
        })
        .collect();
    assert_eq!(blocked, refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_and_daemonset_pods_are_skipped_and_a_bare_pod_would_go() {
    let lab = lab().await;
    let pod = |name: &str, annotations: serde_json::Value| {
        json!({"metadata": {"name": name, "annotations": annotations},
               "spec": {"nodeName": "worker-1", "containers": [{"name": "c", "image": "busybox"}]}})
    };
    lab.create::<Pod>(
        "kube-system",
        pod(
            "static-worker-1",
            json!({"kubernetes.io/config.mirror": "abc"}),
        ),
    )
    .await;
    lab.create::<Pod>("apps", pod("debug", json!({}))).await;
    let before = lab.resource_version();

    let answers = server_dry_run(&lab.client, "worker-1")
        .await
        .expect("answered");

    assert_eq!(lab.resource_version(), before, "a dry run writes nothing");
    assert_eq!(answers.len(), 6);
    assert_eq!(answer_of(&answers, "debug"), &ServerAnswer::Evicts);
    assert!(
        matches!(answer_of(&answers, "static-worker-1"), ServerAnswer::Skipped { why } if why.contains("mirror"))
    );
    let daemons = (answers.iter()).filter(|a| matches!(&a.answer, ServerAnswer::Skipped { why } if why.contains("--ignore-daemonsets")));
    assert_eq!(daemons.count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_node_is_named() {
    let lab = lab().await;
    let err = server_dry_run(&lab.client, "worker-2")
        .await
        .expect_err("no such node");
    assert!(matches!(&err, DrillError::UnknownNode { node } if node == "worker-2"));
    assert_eq!(err.to_string(), "node worker-2 does not exist");
}

/// Every write is a dry run on any server: the cordon by its query, the eviction by its query
/// and by its own delete options (which kube-rs's `evict` would send under a key no server
/// reads), in the order a drain sends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_that_could_write_says_dry_run() {
    use std::sync::{Arc, Mutex};

    use axum::extract::{Request, State};
    use axum::response::IntoResponse;

    type Seen = Arc<Mutex<Vec<(String, String, serde_json::Value)>>>;
    async fn answer(State(seen): State<Seen>, request: Request) -> axum::response::Response {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.expect("a body");
        let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        let uri = parts.uri.to_string();
        seen.lock()
            .expect("not poisoned")
            .push((parts.method.to_string(), uri.clone(), body));
        let reply = if uri.starts_with("/api/v1/nodes/") {
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        } else if uri.starts_with("/api/v1/pods") {
            json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [
                {"metadata": {"name": "web", "namespace": "apps"}, "spec": {"nodeName": "n1", "containers": []}}]})
        } else {
            json!({"apiVersion": "v1", "kind": "Status", "status": "Success", "code": 201})
        };
        let code = if uri.contains("/eviction") { 201 } else { 200 };
        (
            axum::http::StatusCode::from_u16(code).expect("a code"),
            axum::Json(reply),
        )
            .into_response()
    }
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: 'http://{addr}'}}\nusers:\n- name: me\n  user: {{token: t}}\ncontexts:\n- name: lab\n  context: {{cluster: fake, user: me}}\ncurrent-context: lab\n"),
    )
    .expect("kubeconfig");
    let (client, _) = posture_kube::apply::client_for_apply(Some(&kubeconfig), None)
        .await
        .expect("client");

    let answers = server_dry_run(&client, "n1").await.expect("answered");
    assert_eq!(answers[0].answer, ServerAnswer::Evicts);

    let seen = seen.lock().expect("not poisoned").clone();
    let calls: Vec<(&str, &str)> = seen
        .iter()
        .map(|(m, u, _)| (m.as_str(), u.split('?').next().unwrap_or(u)))
        .collect();
    assert_eq!(
        calls,
        [
            ("PATCH", "/api/v1/nodes/n1"),
            ("GET", "/api/v1/pods"),
            ("POST", "/api/v1/namespaces/apps/pods/web/eviction")
        ]
    );
    let (_, cordon, patch) = &seen[0];
    assert!(cordon.contains("dryRun=All"), "{cordon}");
    assert_eq!(patch, &json!({"spec": {"unschedulable": true}}));
    let (_, eviction, body) = &seen[2];
    assert!(eviction.ends_with("?dryRun=All"), "{eviction}");
    assert_eq!(body["kind"], "Eviction");
    assert_eq!(body["apiVersion"], "policy/v1");
    assert_eq!(body["deleteOptions"]["dryRun"], json!(["All"]));
}
