//! Counter-moves fit the owner of the alert's workload.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::detect::{CounterMove, DetectorKind, counter_moves, workload_of_subject};
use crate::object::ObjectRef;
use crate::ownership::Owner;

fn workload(
    kind: &str,
    ns: &str,
    name: &str,
    annotations: &[(&str, &str)],
) -> (ObjectRef, ObjectMeta) {
    let meta = ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        annotations: Some(
            annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..ObjectMeta::default()
    };
    (ObjectRef::new("apps/v1", kind, Some(ns), name), meta)
}

fn workloads() -> Vec<(ObjectRef, ObjectMeta)> {
    vec![
        workload(
            "Deployment",
            "kube-system",
            "coredns",
            &[
                (
                    "objectset.rio.cattle.io/owner-gvk",
                    "k3s.cattle.io/v1, Kind=Addon",
                ),
                ("objectset.rio.cattle.io/owner-name", "coredns"),
            ],
        ),
        workload(
            "Deployment",
            "kube-system",
            "traefik",
            &[
                (
                    "objectset.rio.cattle.io/owner-gvk",
                    "helm.cattle.io/v1, Kind=HelmChart",
                ),
                ("objectset.rio.cattle.io/owner-name", "traefik"),
            ],
        ),
        workload(
            "Deployment",
            "apps",
            "nextcloud",
            &[(
                "argocd.argoproj.io/tracking-id",
                "nextcloud:apps/Deployment:apps/nextcloud",
            )],
        ),
        workload("Deployment", "apps", "web", &[]),
        workload(
            "Deployment",
            "apps",
            "web-api",
            &[
                ("meta.helm.sh/release-name", "api"),
                ("meta.helm.sh/release-namespace", "apps"),
            ],
        ),
    ]
}

fn described(detector: DetectorKind, subject: &str) -> Vec<String> {
    counter_moves(detector, subject, &workloads())
        .iter()
        .map(CounterMove::describe)
        .collect()
}

#[test]
fn a_coredns_restart_loop_offers_its_k3s_manifest_not_an_argo_rollback() {
    let moves = counter_moves(
        DetectorKind::RestartLoop,
        "kube-system/coredns-6799fbcd5-x7k2p/coredns",
        &workloads(),
    );
    assert!(
        matches!(&moves[0], CounterMove::Source { owner: Owner::K3sAddon { name }, how }
            if name == "coredns" && how.contains("/var/lib/rancher/k3s/server/manifests/coredns.yaml")),
        "{moves:?}"
    );
    assert_eq!(
        moves[1..],
        [CounterMove::Act {
            name: "pin-to-primary"
        }]
    );
    assert!(
        !described(
            DetectorKind::CrashLoop,
            "kube-system/coredns-6799fbcd5-x7k2p/coredns"
        )
        .iter()
        .any(|m| m.contains("argo-rollback"))
    );
    // A Helm-packaged k3s addon is changed through its HelmChartConfig.
    let traefik = described(
        DetectorKind::CrashLoop,
        "kube-system/traefik-5d45fc8cc9-abcde/traefik",
    );
    assert!(
        traefik[0].starts_with(
            "k3s packaged addon traefik: revert the change in the HelmChartConfig traefik"
        ),
        "{traefik:?}"
    );
}

#[test]
fn an_argo_owned_workload_gets_argo_rollback() {
    assert_eq!(
        described(
            DetectorKind::RestartLoop,
            "apps/nextcloud-6b9d8c7f5d-z8r2p/nextcloud"
        ),
        ["--act argo-rollback", "--act pin-to-primary"]
    );
    assert_eq!(
        described(
            DetectorKind::CrashLoop,
            "apps/nextcloud-6b9d8c7f5d-z8r2p/nextcloud"
        ),
        ["--act argo-rollback", "--act pin-to-primary"]
    );
}

#[test]
fn without_an_owner_there_is_nothing_to_roll_back_and_helm_rolls_back_its_release() {
    assert_eq!(
        described(DetectorKind::RestartLoop, "apps/web-7d9f-a/web"),
        ["--act pin-to-primary"]
    );
    // An unknown workload is no Argo CD workload either.
    assert_eq!(
        described(DetectorKind::RestartLoop, "apps/gone-7d9f-a/gone"),
        ["--act pin-to-primary"]
    );
    assert_eq!(
        described(DetectorKind::RestartLoop, "apps/web-api-5c6d-b/api"),
        [
            "Helm release api: helm history api -n apps; helm rollback api -n apps",
            "--act pin-to-primary"
        ]
    );
}

#[test]
fn a_pod_belongs_to_the_longest_workload_name_it_starts_with() {
    let all = workloads();
    let name = |subject| workload_of_subject(subject, &all).map(|(w, _)| w.name.as_str());
    assert_eq!(name("apps/web-api-5c6d-b/api"), Some("web-api"));
    assert_eq!(name("apps/web-7d9f-a/web"), Some("web"));
    assert_eq!(name("apps/web"), Some("web"));
    assert_eq!(name("apps/webhook-1/c"), None);
    assert_eq!(name("other/web-7d9f-a/web"), None);
}

#[test]
fn node_and_longhorn_moves_do_not_depend_on_the_owner() {
    for detector in DetectorKind::ALL {
        if matches!(
            detector,
            DetectorKind::RestartLoop | DetectorKind::CrashLoop
        ) {
            continue;
        }
        let moves: Vec<String> = detector
            .counter_moves()
            .iter()
            .map(|m| format!("--act {m}"))
            .collect();
        assert_eq!(
            described(detector, "kube-system/coredns"),
            moves,
            "{detector}"
        );
    }
}
