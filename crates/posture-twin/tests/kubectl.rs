//! The real kubectl against a served twin.

mod common;

use common::serve_homelab;
use posture_twin::resources;
use posture_twin::store::ObjectKey;
use serde_json::{Value, json};

fn deployment_key(namespace: &str, name: &str) -> ObjectKey {
    let rt = resources::by_plural("apps", "deployments").expect("registered");
    ObjectKey::new(rt, namespace, name)
}

fn first_deployment(served: &common::Served) -> (String, String) {
    served.twin.with_twin(|twin| {
        let rt = resources::by_plural("apps", "deployments").expect("registered");
        let (key, _) = twin.store.list(rt, None).next().expect("a deployment");
        (key.namespace.clone(), key.name.clone())
    })
}

fn stored(served: &common::Served, key: &ObjectKey) -> Value {
    served
        .twin
        .with_twin(|twin| twin.store.get(key).cloned().expect("object exists"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_nodes_prints_status_and_roles() {
    let served = serve_homelab().await;
    let out = served.kubectl_ok(&["get", "nodes"]).await;
    assert!(out.starts_with("NAME"), "{out}");
    assert!(out.contains("Ready,SchedulingDisabled"), "{out}");
    assert!(out.contains("control-plane,master"), "{out}");
    assert!(out.contains("v1.31.4+k3s1"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_pods_wide_shows_the_node_column() {
    let served = serve_homelab().await;
    served.twin.with_twin(|twin| {
        let pods = resources::by_plural("", "pods").expect("registered");
        let now = twin.now();
        twin.store
            .create(
                pods,
                json!({
                    "metadata": {"name": "probe", "namespace": "apps"},
                    "spec": {"nodeName": "worker-1", "containers": [{"name": "c", "image": "busybox"}]},
                    "status": {"phase": "Running", "podIP": "10.42.1.9",
                               "containerStatuses": [{"name": "c", "ready": true, "restartCount": 2}]},
                }),
                now,
                false,
            )
            .expect("pod created");
    });
    let out = served
        .kubectl_ok(&["get", "pods", "-A", "-o", "wide"])
        .await;
    let header = out.lines().next().unwrap_or_default();
    for column in [
        "NAMESPACE",
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "IP",
        "NODE",
    ] {
        assert!(header.contains(column), "{out}");
    }
    let row = out
        .lines()
        .find(|l| l.contains("probe"))
        .expect("the pod is listed");
    for cell in ["apps", "1/1", "Running", "10.42.1.9", "worker-1"] {
        assert!(row.contains(cell), "{row}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn longhorn_volumes_print_their_printer_columns() {
    let served = serve_homelab().await;
    let out = served
        .kubectl_ok(&["get", "volumes.longhorn.io", "-n", "longhorn-system"])
        .await;
    let header = out.lines().next().unwrap_or_default();
    for column in ["STATE", "ROBUSTNESS", "SIZE", "NODE", "AGE"] {
        assert!(header.contains(column), "{out}");
    }
    assert_eq!(out.lines().count(), 6, "five volumes and a header: {out}");
    assert!(out.contains("degraded"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_patch_with_a_failing_test_is_refused_and_a_passing_one_applies() {
    let served = serve_homelab().await;
    let (namespace, name) = first_deployment(&served);
    let key = deployment_key(&namespace, &name);
    let before = stored(&served, &key);
    let replicas = before["spec"]["replicas"].as_i64().expect("replicas");
    let target = format!("deployment/{name}");
    let failing = json!([
        {"op": "test", "path": "/spec/replicas", "value": replicas + 7},
        {"op": "replace", "path": "/spec/replicas", "value": replicas + 1},
    ])
    .to_string();
    let result = served
        .kubectl(&[
            "-n",
            &namespace,
            "patch",
            &target,
            "--type=json",
            "-p",
            &failing,
        ])
        .await;
    assert!(!result.success, "{}", result.stdout);
    assert!(
        result.stderr.contains("json patch test operation 0 failed"),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("/spec/replicas"),
        "{}",
        result.stderr
    );
    assert_eq!(stored(&served, &key), before);

    let passing = json!([
        {"op": "test", "path": "/spec/replicas", "value": replicas},
        {"op": "replace", "path": "/spec/replicas", "value": replicas + 1},
    ])
    .to_string();
    served
        .kubectl_ok(&[
            "-n",
            &namespace,
            "patch",
            &target,
            "--type=json",
            "-p",
            &passing,
        ])
        .await;
    assert_eq!(stored(&served, &key)["spec"]["replicas"], replicas + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_and_strategic_patches_apply() {
    let served = serve_homelab().await;
    let (namespace, name) = first_deployment(&served);
    let key = deployment_key(&namespace, &name);
    let target = format!("deployment/{name}");
    served
        .kubectl_ok(&[
            "-n",
            &namespace,
            "patch",
            &target,
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"patched-by":"merge"}}}"#,
        ])
        .await;
    assert_eq!(
        stored(&served, &key)["metadata"]["labels"]["patched-by"],
        "merge"
    );

    let before = stored(&served, &key);
    let container = before["spec"]["template"]["spec"]["containers"][0]["name"]
        .as_str()
        .expect("a container")
        .to_owned();
    let strategic = json!({"spec": {"template": {"spec": {"containers": [
        {"name": container, "env": [{"name": "PATCHED", "value": "yes"}]}
    ]}}}})
    .to_string();
    served
        .kubectl_ok(&["-n", &namespace, "patch", &target, "-p", &strategic])
        .await;
    let after = stored(&served, &key);
    let patched = &after["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(patched["name"], container.as_str());
    assert_eq!(
        patched["image"], before["spec"]["template"]["spec"]["containers"][0]["image"],
        "the container merged by name keeps its image"
    );
    assert!(
        patched["env"]
            .as_array()
            .expect("env")
            .iter()
            .any(|e| e["name"] == "PATCHED")
    );
    assert_eq!(
        after["metadata"]["generation"].as_i64(),
        before["metadata"]["generation"].as_i64().map(|g| g + 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dry_run_patch_changes_nothing() {
    let served = serve_homelab().await;
    let (namespace, name) = first_deployment(&served);
    let key = deployment_key(&namespace, &name);
    let before = stored(&served, &key);
    let rv = served.twin.with_twin(|twin| twin.store.resource_version());
    let out = served
        .kubectl_ok(&[
            "-n",
            &namespace,
            "patch",
            &format!("deployment/{name}"),
            "--type=merge",
            "--dry-run=server",
            "-p",
            r#"{"spec":{"replicas":9}}"#,
        ])
        .await;
    assert!(out.contains("patched"), "{out}");
    assert_eq!(stored(&served, &key), before);
    assert_eq!(
        served.twin.with_twin(|twin| twin.store.resource_version()),
        rv
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncordon_and_cordon_flip_the_node() {
    let served = serve_homelab().await;
    let nodes = resources::by_plural("", "nodes").expect("registered");
    let key = ObjectKey::new(nodes, "", "worker-1");
    served.kubectl_ok(&["uncordon", "worker-1"]).await;
    assert!(stored(&served, &key)["spec"].get("unschedulable").is_none());
    let out = served.kubectl_ok(&["get", "nodes"]).await;
    assert!(!out.contains("SchedulingDisabled"), "{out}");
    served.kubectl_ok(&["cordon", "worker-1"]).await;
    assert_eq!(stored(&served, &key)["spec"]["unschedulable"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dry_run_drain_evicts_nothing() {
    let served = serve_homelab().await;
    served.kubectl_ok(&["uncordon", "worker-1"]).await;
    let rv = served.twin.with_twin(|twin| twin.store.resource_version());
    let out = served
        .kubectl_ok(&[
            "drain",
            "worker-1",
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--force",
            "--dry-run=server",
        ])
        .await;
    assert!(out.contains("drained"), "{out}");
    assert_eq!(
        served.twin.with_twin(|twin| twin.store.resource_version()),
        rv
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_verbose_lists_checks() {
    let served = serve_homelab().await;
    let out = served
        .kubectl_ok(&["get", "--raw", "/readyz?verbose"])
        .await;
    assert!(out.contains("[+]ping ok"), "{out}");
    assert!(out.trim_end().ends_with("readyz check passed"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_resources_lists_core_apps_and_longhorn() {
    let served = serve_homelab().await;
    let out = served.kubectl_ok(&["api-resources"]).await;
    for expected in [
        "pods",
        "deployments",
        "poddisruptionbudgets",
        "volumes",
        "longhorn.io/v1beta2",
    ] {
        assert!(out.contains(expected), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_prints_rows_as_objects_change() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let served = serve_homelab().await;
    let mut child = served.kubectl_spawn(&["get", "nodes", "-w"]);
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let guard = std::time::Duration::from_secs(20);
    let mut next_line = async || {
        tokio::time::timeout(guard, lines.next_line())
            .await
            .expect("kubectl prints in time")
            .expect("stdout reads")
            .expect("kubectl is still running")
    };
    assert!(next_line().await.starts_with("NAME"));
    let first_rows = [next_line().await, next_line().await];
    assert!(first_rows.iter().any(|l| l.contains("SchedulingDisabled")));
    let nodes = resources::by_plural("", "nodes").expect("registered");
    let key = ObjectKey::new(nodes, "", "worker-1");
    served.twin.with_twin(|twin| {
        twin.store.modify(&key, |node| {
            node["spec"]["unschedulable"] = Value::Null;
        })
    });
    let changed = next_line().await;
    assert!(changed.starts_with("worker-1"), "{changed}");
    assert!(!changed.contains("SchedulingDisabled"), "{changed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_apply_and_delete_from_files() {
    let served = serve_homelab().await;
    let file = served.dir.path().join("objects.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: apps}\ndata: {mode: a}\n\
         ---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: gitea, namespace: apps}\n\
         spec: {minAvailable: 1, selector: {matchLabels: {app: gitea}}}\n",
    )
    .expect("file written");
    let path = file.to_str().expect("utf-8 path");
    let out = served.kubectl_ok(&["create", "-f", path]).await;
    assert!(out.contains("configmap/settings created"), "{out}");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: apps}\ndata: {mode: b}\n",
    )
    .expect("file written");
    served.kubectl_ok(&["apply", "-f", path]).await;
    let configmaps = resources::by_plural("", "configmaps").expect("registered");
    let key = ObjectKey::new(configmaps, "apps", "settings");
    assert_eq!(stored(&served, &key)["data"]["mode"], "b");
    served.kubectl_ok(&["delete", "-f", path]).await;
    assert!(served.twin.with_twin(|twin| twin.store.get(&key).is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_evicts_pods_on_the_node() {
    let served = serve_homelab().await;
    let pods = resources::by_plural("", "pods").expect("registered");
    served.twin.with_twin(|twin| {
        let now = twin.now();
        twin.store
            .create(
                pods,
                json!({
                    "metadata": {"name": "stray", "namespace": "apps"},
                    "spec": {"nodeName": "worker-1", "containers": [{"name": "c", "image": "busybox"}]},
                    "status": {"phase": "Running"},
                }),
                now,
                false,
            )
            .expect("pod created");
    });
    let out = served
        .kubectl_ok(&[
            "drain",
            "worker-1",
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--force",
            "--timeout=60s",
        ])
        .await;
    assert!(out.contains("evicting pod apps/stray"), "{out}");
    let key = ObjectKey::new(pods, "apps", "stray");
    assert!(served.twin.with_twin(|twin| twin.store.get(&key).is_none()));
}
