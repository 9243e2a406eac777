//! Property: whatever the signals, each alert id alternates Raised, Cleared, Raised, ...

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

fn signal_kind() -> impl Strategy<Value = SignalKind> {
    let subject = prop::sample::select(vec!["a", "b", "c"]);
    prop_oneof![
        Just(SignalKind::Tick),
        (subject.clone(), 0..50i64).prop_map(|(s, n)| SignalKind::ContainerRestarted {
            pod: format!("ns/{s}"),
            workload: "ns/w".into(),
            container: "c".into(),
            restart_count: n
        }),
        (subject.clone(), any::<bool>()).prop_map(|(s, active)| SignalKind::CrashLoopBackOff {
            pod: format!("ns/{s}"),
            workload: "ns/w".into(),
            container: "c".into(),
            active
        }),
        (subject.clone(), 0..3u32, any::<bool>(), 0..3u32).prop_map(
            |(s, ready, important, flips)| SignalKind::EndpointsChanged {
                service: format!("ns/{s}"),
                ready,
                important,
                flips,
            }
        ),
        subject.clone().prop_map(|s| SignalKind::PodEvicted {
            pod: "ns/p".into(),
            workload: format!("ns/{s}"),
            reason: "Evicted".into(),
            critical: false
        }),
        (subject.clone(), 1..20i64).prop_map(|(s, d)| SignalKind::LeaseRenewed {
            lease: format!("kube-system/{s}"),
            holder: "h".into(),
            renew_time: None,
            duration_seconds: d
        }),
        subject
            .clone()
            .prop_map(|s| SignalKind::LeaseHolderChanged {
                lease: format!("kube-system/{s}"),
                from: "x".into(),
                to: "y".into()
            }),
        subject.clone().prop_map(|s| SignalKind::LeaseDeleted {
            lease: format!("kube-system/{s}")
        }),
        (subject.clone(), any::<bool>()).prop_map(|(s, ready)| SignalKind::NodeReadyChanged {
            node: s.into(),
            ready
        }),
        (subject.clone(), subject.clone(), any::<bool>()).prop_map(|(v, n, start)| {
            let (volume, replica, node) = (v.to_owned(), format!("{v}-r"), n.to_owned());
            if start {
                SignalKind::ReplicaRebuildStarted {
                    volume,
                    replica,
                    node,
                }
            } else {
                SignalKind::ReplicaRebuildFinished {
                    volume,
                    replica,
                    node,
                }
            }
        }),
        (0..3u32).prop_map(|limit| SignalKind::RebuildLimitChanged { limit }),
        (
            subject.clone(),
            prop::sample::select(vec!["healthy", "degraded"])
        )
            .prop_map(|(v, r)| SignalKind::VolumeRobustnessChanged {
                volume: v.into(),
                robustness: r.into()
            }),
        (
            subject.clone(),
            prop::sample::select(vec!["attached", "detached"])
        )
            .prop_map(|(v, st)| SignalKind::VolumeStateChanged {
                volume: v.into(),
                state: st.into()
            }),
        (subject, any::<bool>()).prop_map(|(v, attached)| SignalKind::VolumeAttachmentChanged {
            attachment: "va".into(),
            volume: v.into(),
            node: "n".into(),
            attached
        }),
    ]
}

fn tight_policy() -> DetectPolicy {
    use crate::detect::policy::RateThresholds;
    let fast = RateThresholds::new(2, 60, 30);
    let mut p = DetectPolicy {
        restarts: fast,
        evictions: fast,
        robustness: fast,
        volume_state: fast,
        attachments: fast,
        node_ready: fast,
        ..DetectPolicy::default()
    };
    p.endpoints.churn = fast;
    p.endpoints.zero_ready_grace_seconds = 5;
    p.endpoints.zero_ready_clear_seconds = 20;
    p.leases.holder_changes = fast;
    p.leases.renew_gap_clear_seconds = 20;
    p.rebuilds.repeated = fast;
    p.rebuilds.over_limit_clear_seconds = 20;
    p
}

proptest! {
    #[test]
    fn alerts_for_each_subject_strictly_alternate(
        steps in prop::collection::vec((0..40i64, signal_kind()), 1..300),
    ) {
        let mut d = Detectors::new(&tight_policy());
        let mut raised: HashMap<String, bool> = HashMap::new();
        let mut now = 0;
        for (advance, kind) in steps {
            now += advance;
            for alert in d.observe(&at(now, kind)) {
                let was_raised = raised.insert(alert.id().to_owned(), alert.is_raised()).unwrap_or(false);
                prop_assert_ne!(was_raised, alert.is_raised(), "{:?}", alert);
            }
        }
        let active: Vec<&str> = d.active().map(Alert::id).collect();
        let expected: Vec<&str> = {
            let mut v: Vec<&str> = raised.iter().filter(|(_, r)| **r).map(|(id, _)| id.as_str()).collect();
            v.sort();
            v
        };
        prop_assert_eq!(active, expected);
    }
}
