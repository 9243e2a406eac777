//! Disruption budgets that forbid every eviction: an error on the runbook's components, a
//! warning on an app, quiet when one pod may go.

use serde_json::json;

use crate::checks::testkit::*;
use crate::report::{CheckStatus, Severity};
use crate::snapshot::Snapshot;

const ID: &str = "preconditions.drain-budgets";

fn with_budget(spec: serde_json::Value) -> Snapshot {
    let mut snap = two_nodes();
    snap.deployments = vec![
        deployment("kube-system", "dns")
            .image("rancher/mirrored-coredns-coredns:1.11.3")
            .label("k8s-app", "kube-dns")
            .replicas(2)
            .build(),
        deployment("apps", "web").replicas(3).build(),
    ];
    let mut budget = pdb("apps", "web");
    budget.spec = serde_json::from_value(spec).expect("a budget spec");
    snap.pod_disruption_budgets = vec![budget];
    snap
}

#[test]
fn a_budget_that_lets_one_pod_go_is_quiet() {
    let report = run(&with_budget(
        json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}),
    ));
    assert_eq!(status(&report, ID).0, CheckStatus::Pass);
    let report = run(&with_budget(
        json!({"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}),
    ));
    assert!(findings(&report, ID).is_empty());
}

#[test]
fn budgets_that_forbid_every_eviction_are_found_on_an_app() {
    for spec in [
        json!({"maxUnavailable": 0, "selector": {"matchLabels": {"app": "web"}}}),
        json!({"maxUnavailable": "0%", "selector": {"matchLabels": {"app": "web"}}}),
        json!({"minAvailable": "100%", "selector": {"matchLabels": {"app": "web"}}}),
        json!({"minAvailable": 3, "selector": {"matchLabels": {"app": "web"}}}),
    ] {
        let report = run(&with_budget(spec.clone()));
        assert_eq!(
            findings(&report, ID),
            [("web".to_owned(), Severity::Warning)],
            "{spec}"
        );
    }
}

#[test]
fn a_budget_on_coredns_that_forbids_every_eviction_is_an_error() {
    let mut snap =
        with_budget(json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}));
    let mut budget = pdb("kube-system", "coredns");
    budget.spec = serde_json::from_value(
        json!({"minAvailable": 2, "selector": {"matchLabels": {"app": "dns"}}}),
    )
    .expect("a budget spec");
    snap.pod_disruption_budgets.push(budget);
    let report = run(&snap);
    assert_eq!(
        findings(&report, ID),
        [("coredns".to_owned(), Severity::Error)]
    );
    let finding = report.findings.iter().find(|f| f.id == ID).expect("found");
    assert!(
        finding.message.contains("Deployment kube-system/dns"),
        "{}",
        finding.message
    );
    assert_eq!(finding.evidence[0].field, "spec.minAvailable");
}
