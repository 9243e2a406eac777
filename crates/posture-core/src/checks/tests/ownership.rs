//! Ownership: managed objects are noted, never failed.

use crate::checks::testkit::*;
use crate::report::{CheckStatus, Severity};

#[test]
fn ownership_is_a_note_not_a_failure() {
    let mut snap = two_nodes();
    snap.deployments = vec![
        deployment("apps", "cloud")
            .annotate(
                "argocd.argoproj.io/tracking-id",
                "cloud:apps/Deployment:apps/cloud",
            )
            .node_selector("kubernetes.io/hostname", "p")
            .build(),
        deployment("apps", "plain")
            .node_selector("kubernetes.io/hostname", "p")
            .build(),
    ];
    let r = run(&snap);
    assert_eq!(
        findings(&r, "ownership.managed"),
        vec![("cloud".into(), Severity::Info)]
    );
    assert_eq!(status(&r, "ownership.managed").0, CheckStatus::Pass);
}
