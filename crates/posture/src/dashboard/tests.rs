//! A screenshot-style golden of the dashboard: a model fed objects and alerts, drawn on
//! ratatui's `TestBackend`.

use jiff::Timestamp;
use posture_core::Severity;
use posture_core::detect::{Alert, DetectorKind, EventType, WatchedKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;

use super::{Model, render};
use crate::render::alert::alert_moves;

fn at(text: &str) -> Timestamp {
    text.parse().expect("valid timestamp")
}

fn node(name: &str, ready: bool, cordoned: bool) -> serde_json::Value {
    json!({
        "metadata": {"name": name},
        "spec": {"unschedulable": cordoned},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    })
}

fn pod(
    namespace: &str,
    name: &str,
    node: &str,
    labels: serde_json::Value,
    image: &str,
    ready: bool,
) -> serde_json::Value {
    json!({
        "metadata": {"namespace": namespace, "name": name, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": image}]},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    })
}

fn model() -> Model {
    let mut model = Model::new("https://127.0.0.1:6443");
    model.tick(at("2026-11-23T12:05:00Z"));
    model.object(
        WatchedKind::Node,
        EventType::Added,
        &node("primary", true, false),
    );
    model.object(
        WatchedKind::Node,
        EventType::Added,
        &node("secondary", false, true),
    );
    model.object(
        WatchedKind::Pod,
        EventType::Added,
        &pod(
            "ingress",
            "haproxy-1",
            "primary",
            json!({"run": "haproxy"}),
            "haproxytech/kubernetes-ingress:3.1.4",
            true,
        ),
    );
    model.object(
        WatchedKind::Pod,
        EventType::Added,
        &pod(
            "kube-system",
            "coredns-1",
            "secondary",
            json!({"k8s-app": "kube-dns"}),
            "coredns:1.11.3",
            false,
        ),
    );
    model.object(
        WatchedKind::Pod,
        EventType::Added,
        &pod(
            "apps",
            "web-1",
            "primary",
            json!({"app": "web"}),
            "nginx:1",
            true,
        ),
    );
    model.object(
        WatchedKind::LonghornVolume,
        EventType::Added,
        &json!({"metadata": {"name": "pvc-data"}, "spec": {"numberOfReplicas": 2},
                "status": {"state": "attached", "robustness": "degraded"}}),
    );
    for (replica, on) in [("pvc-data-r-1", "primary"), ("pvc-data-r-2", "secondary")] {
        model.object(
            WatchedKind::LonghornReplica,
            EventType::Added,
            &json!({"metadata": {"name": replica}, "spec": {"volumeName": "pvc-data", "nodeID": on}}),
        );
    }
    model.object(
        WatchedKind::LonghornEngine,
        EventType::Modified,
        &json!({"metadata": {"name": "pvc-data-e-0"}, "spec": {"volumeName": "pvc-data"},
                "status": {"rebuildStatus": {"tcp://10.0.0.2:10000": {"isRebuilding": true, "progress": 42}}}}),
    );
    let alert = Alert::Raised {
        id: "no-ready-endpoints/kube-system/kube-dns".into(),
        detector: DetectorKind::NoReadyEndpoints,
        subject: "kube-system/kube-dns".into(),
        severity: Severity::Error,
        at: at("2026-11-23T12:04:10Z"),
        message: "kube-system/kube-dns has had no ready endpoints for 10s".into(),
        evidence: vec![],
    };
    model.alert(&alert, &alert_moves(&alert, &[]));
    let alert = Alert::Raised {
        id: "lease-thrash/kube-system/kube-scheduler".into(),
        detector: DetectorKind::LeaseThrash,
        subject: "kube-system/kube-scheduler".into(),
        severity: Severity::Error,
        at: at("2026-11-23T12:03:00Z"),
        message: "3 holder changes in 10m".into(),
        evidence: vec![],
    };
    model.alert(&alert, &alert_moves(&alert, &[]));
    let alert = Alert::Cleared {
        id: "lease-thrash/kube-system/kube-scheduler".into(),
        detector: DetectorKind::LeaseThrash,
        subject: "kube-system/kube-scheduler".into(),
        at: at("2026-11-23T12:04:50Z"),
        message: "quiet for 10m".into(),
    };
    model.alert(&alert, &alert_moves(&alert, &[]));
    model.note("skipping volumeattachments.storage.k8s.io: not served by this cluster");
    model
}

#[test]
fn the_dashboard_shows_nodes_components_volumes_alerts_and_the_timeline() {
    let model = model();
    let mut terminal = Terminal::new(TestBackend::new(120, 24)).expect("test terminal");
    terminal.draw(|frame| render(&model, frame)).expect("drawn");
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn deleted_objects_leave_the_dashboard() {
    let mut model = model();
    model.object(
        WatchedKind::Node,
        EventType::Deleted,
        &node("secondary", false, true),
    );
    assert!(!model.nodes.contains_key("secondary"));
    assert_eq!(model.active.len(), 1);
    assert_eq!(model.timeline.len(), 4);
}

#[test]
fn node_transitions_go_on_the_timeline() {
    let mut model = model();
    model.object(
        WatchedKind::Node,
        EventType::Modified,
        &node("secondary", true, false),
    );
    let tail: Vec<&String> = model.timeline.iter().rev().take(2).collect();
    assert_eq!(
        tail,
        [
            "2026-11-23T12:05:00Z NODE secondary uncordoned",
            "2026-11-23T12:05:00Z NODE secondary Ready"
        ]
    );
}
