//! An alert as `watch` prints it and the dashboard's timeline shows it, with the counter-moves
//! that fit it: one wording wherever an alert appears.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use posture_core::ObjectRef;
use posture_core::detect::{Alert, CounterMove, counter_moves};

/// `<time> RAISED restart-loop apps/web-1/web restartCount 4 ...`: one grep-able line per alert.
pub(crate) fn alert_line(alert: &Alert) -> String {
    match alert {
        Alert::Raised {
            detector,
            subject,
            severity,
            at,
            message,
            ..
        } => format!(
            "{at} RAISED {detector} {subject} [{}] {message}",
            severity.as_str()
        ),
        Alert::Cleared {
            detector,
            subject,
            at,
            message,
            ..
        } => format!("{at} CLEARED {detector} {subject} {message}"),
    }
}

/// The counter-moves under a raised alert, fitted to the owner of its workload among
/// `workloads`; none under a cleared one.
pub(crate) fn alert_moves(
    alert: &Alert,
    workloads: &[(ObjectRef, ObjectMeta)],
) -> Vec<CounterMove> {
    match alert {
        Alert::Raised {
            detector, subject, ..
        } => counter_moves(*detector, subject, workloads),
        Alert::Cleared { .. } => Vec::new(),
    }
}

/// `  act: posture watch --act stop-rebuilds | --act disable-auto-balance` under a raised
/// alert: the runbook's counter-moves that fit the owner of its workload, each `--act`
/// dry-run and approved before it writes; a move the owner makes in its own source comes as
/// `  act: k3s packaged addon coredns: revert the change in ...`.
pub(crate) fn counter_moves_line(
    alert: &Alert,
    workloads: &[(ObjectRef, ObjectMeta)],
) -> Option<String> {
    let moves = alert_moves(alert, workloads);
    let acts: Vec<String> = (moves.iter())
        .filter(|m| matches!(m, CounterMove::Act { .. }))
        .map(CounterMove::describe)
        .collect();
    let mut lines: Vec<String> = (moves.iter())
        .filter(|m| matches!(m, CounterMove::Source { .. }))
        .map(|m| format!("  act: {}", m.describe()))
        .collect();
    if !acts.is_empty() {
        lines.push(format!("  act: posture watch {}", acts.join(" | ")));
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_lines_lead_with_time_verb_detector_and_subject() {
        use posture_core::Severity;
        use posture_core::detect::DetectorKind;
        let at: jiff::Timestamp = "2026-11-23T12:00:00Z".parse().expect("valid");
        let raised = Alert::Raised {
            id: "restart-loop/apps/web-1/web".into(),
            detector: DetectorKind::RestartLoop,
            subject: "apps/web-1/web".into(),
            severity: Severity::Warning,
            at,
            message: "3 restarts in 10m".into(),
            evidence: vec![],
        };
        assert_eq!(
            alert_line(&raised),
            "2026-11-23T12:00:00Z RAISED restart-loop apps/web-1/web [warning] 3 restarts in 10m"
        );
        // Nothing known owns apps/web: nothing to roll back.
        assert_eq!(
            counter_moves_line(&raised, &[]).as_deref(),
            Some("  act: posture watch --act pin-to-primary")
        );
        let cleared = Alert::Cleared {
            id: "restart-loop/apps/web-1/web".into(),
            detector: DetectorKind::RestartLoop,
            subject: "apps/web-1/web".into(),
            at,
            message: "quiet for 10m".into(),
        };
        assert_eq!(
            alert_line(&cleared),
            "2026-11-23T12:00:00Z CLEARED restart-loop apps/web-1/web quiet for 10m"
        );
        assert_eq!(counter_moves_line(&cleared, &[]), None);
    }

    /// A workload `kind` `ns/name` with these annotations.
    fn workload(ns: &str, name: &str, annotations: &[(&str, &str)]) -> (ObjectRef, ObjectMeta) {
        let meta = ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            annotations: Some(
                (annotations.iter())
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        };
        (
            ObjectRef::new("apps/v1", "Deployment", Some(ns), name),
            meta,
        )
    }

    #[test]
    fn counter_moves_fit_the_owner_of_the_looping_workload() {
        use posture_core::Severity;
        use posture_core::detect::DetectorKind;
        let workloads = [
            workload(
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
                "apps",
                "nextcloud",
                &[(
                    "argocd.argoproj.io/tracking-id",
                    "nextcloud:apps/Deployment:apps/nextcloud",
                )],
            ),
        ];
        let raised = |subject: &str| Alert::Raised {
            id: format!("crash-loop/{subject}"),
            detector: DetectorKind::CrashLoop,
            subject: subject.into(),
            severity: Severity::Warning,
            at: "2026-11-23T12:00:00Z".parse().expect("valid"),
            message: "in CrashLoopBackOff".into(),
            evidence: vec![],
        };
        assert_eq!(
            counter_moves_line(
                &raised("kube-system/coredns-6799fbcd5-x7k2p/coredns"),
                &workloads
            )
            .as_deref(),
            Some(
                "  act: k3s packaged addon coredns: revert the change in /var/lib/rancher/k3s/server/manifests/coredns.yaml on the server (k3s re-applies it over any live rollback), or its ConfigMap if the change was there\n  act: posture watch --act pin-to-primary"
            )
        );
        assert_eq!(
            counter_moves_line(
                &raised("apps/nextcloud-6b9d8c7f5d-z8r2p/nextcloud"),
                &workloads
            )
            .as_deref(),
            Some("  act: posture watch --act argo-rollback | --act pin-to-primary")
        );
    }
}
