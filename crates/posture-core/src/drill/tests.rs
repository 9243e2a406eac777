//! The what-if on small clusters written for each rule: listed pods, each scheduler filter,
//! Longhorn's drain policies, budgets, leases and control planes. Node names are anything but
//! the homelab's, since nothing may depend on them.

use super::*;
use crate::ObjectRef;
use crate::load::load_snapshot_str;

const ALPHA: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: alpha, labels: {kubernetes.io/hostname: alpha, node-role.kubernetes.io/control-plane: "true"}, annotations: {k3s.io/node-args: '["server"]'}}
status: {conditions: [{type: Ready, status: "True"}], allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
"#;
const BETA: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: beta, labels: {kubernetes.io/hostname: beta}, annotations: {k3s.io/node-args: '["agent"]'}}
status: {conditions: [{type: Ready, status: "True"}], allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
"#;

fn snapshot(docs: &[&str]) -> Snapshot {
    load_snapshot_str("test.yaml", &docs.join("\n---\n")).expect("fixture loads")
}

fn drill(docs: &[&str], node: &str) -> WhatIf {
    what_if(&snapshot(docs), node, &Policy::default()).expect("the node exists")
}

fn ids(w: &WhatIf) -> Vec<&str> {
    (w.blockers.iter().map(|b| b.id.as_str()))
        .chain(w.degradations.iter().map(|d| d.id.as_str()))
        .collect()
}

/// A Deployment `name` in `apps` with `replicas`, its pod template's spec given as YAML flow.
fn deployment(name: &str, replicas: i32, spec: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: apps}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {spec}\n"
    )
}

/// A ready pod of Deployment `name` (through ReplicaSet `name-1`) on `node`.
fn pod(name: &str, index: usize, node: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}-{index}, namespace: apps, labels: {{app: {name}}}, ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: {name}-1, uid: u, controller: true}}]}}\nspec: {{nodeName: {node}, containers: [{{name: c, image: x}}]}}\nstatus: {{phase: Running, conditions: [{{type: Ready, status: \"True\"}}]}}\n"
    )
}

fn replica_set(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {{name: {name}-1, namespace: apps, ownerReferences: [{{apiVersion: apps/v1, kind: Deployment, name: {name}, uid: u, controller: true}}]}}\n"
    )
}

fn rejections(w: &WhatIf, workload: &str) -> Vec<(String, Filter)> {
    let o = w
        .workloads
        .iter()
        .find(|o| o.workload.name == workload)
        .expect("listed");
    o.replacements
        .iter()
        .flat_map(|p| match p {
            Placement::Pending { rejections } => rejections.clone(),
            _ => Vec::new(),
        })
        .map(|r| (r.node, r.filter))
        .collect()
}

#[test]
fn listed_pods_say_where_a_replica_would_go_and_why_it_cannot() {
    let web = deployment(
        "web",
        2,
        "{affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: web}}}]}}, containers: [{name: c, image: x}]}",
    );
    let w = drill(
        &[
            ALPHA,
            BETA,
            &web,
            &replica_set("web"),
            &pod("web", 0, "alpha"),
            &pod("web", 1, "beta"),
        ],
        "beta",
    );
    assert_eq!(w.pods, PodSource::Listed);
    assert_eq!(w.verdict, Verdict::SafeDegraded);
    assert_eq!(ids(&w), ["drill.workload.partial"]);
    assert_eq!(
        rejections(&w, "web"),
        [("alpha".to_owned(), Filter::PodAntiAffinity)]
    );
    let partial = &w.degradations[0];
    assert!(
        partial
            .message
            .contains("1 of 2 ready; 1 pod goes Pending by required pod anti-affinity on alpha"),
        "{}",
        partial.message
    );
}

#[test]
fn taints_resources_and_spread_each_keep_a_replacement_pending() {
    let tainted = ALPHA
        .replacen(
            "status:",
            "spec: {taints: [{key: dedicated, value: db, effect: NoSchedule}]}\nstatus:",
            1,
        )
        .replace(r#"cpu: "4""#, r#"cpu: "2""#);
    let big = deployment(
        "big",
        1,
        "{containers: [{name: c, image: x, resources: {requests: {cpu: '3'}}}]}",
    );
    let w = drill(&[&tainted, BETA, &big], "beta");
    assert_eq!(
        rejections(&w, "big"),
        [
            ("alpha".to_owned(), Filter::Taint),
            ("alpha".to_owned(), Filter::Resources)
        ]
    );
    let o = &w.workloads[0];
    let Placement::Pending { rejections: why } = &o.replacements[0] else {
        panic!("pending")
    };
    assert_eq!(
        why[0].detail,
        "taint dedicated=db:NoSchedule is not tolerated"
    );
    assert_eq!(why[1].detail, "insufficient cpu (asks 3, 2 free)");
    assert_eq!(w.verdict, Verdict::Unsafe, "big goes down");
    // Inferred, the big pod could only have gone to beta: the taint kept it off alpha.
    assert!(matches!(w.pods, PodSource::Inferred { .. }));

    let gamma = BETA.replace("beta", "gamma");
    let spread = deployment(
        "spread",
        3,
        "{topologySpreadConstraints: [{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: spread}}}], containers: [{name: c, image: x}]}",
    );
    let w = drill(&[ALPHA, BETA, &gamma, &spread], "gamma");
    // gamma's domain stays, empty: one more anywhere else would be a skew of 2.
    assert_eq!(
        rejections(&w, "spread"),
        [
            ("alpha".to_owned(), Filter::TopologySpread),
            ("beta".to_owned(), Filter::TopologySpread)
        ]
    );
}

#[test]
fn a_local_volume_pins_its_pod_and_a_faulted_longhorn_volume_keeps_it_from_starting() {
    let local = r#"
apiVersion: v1
kind: PersistentVolume
metadata: {name: local-pv}
spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], local: {path: /data}, claimRef: {namespace: apps, name: local}, nodeAffinity: {required: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [beta]}]}]}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: local, namespace: apps}
spec: {accessModes: [ReadWriteOnce], volumeName: local-pv, resources: {requests: {storage: 1Gi}}}
status: {phase: Bound}
"#;
    let db = deployment(
        "db",
        1,
        "{nodeSelector: {kubernetes.io/hostname: beta}, containers: [{name: c, image: x}], volumes: [{name: d, persistentVolumeClaim: {claimName: local}}]}",
    );
    let w = drill(&[ALPHA, BETA, local, &db], "beta");
    assert_eq!(
        rejections(&w, "db"),
        [
            ("alpha".to_owned(), Filter::NodeAffinity),
            ("alpha".to_owned(), Filter::VolumeBinding)
        ]
    );

    let longhorn = r#"
apiVersion: v1
kind: PersistentVolume
metadata: {name: pvc-1}
spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], claimRef: {namespace: apps, name: data}, csi: {driver: driver.longhorn.io, volumeHandle: pvc-1}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: apps}
spec: {accessModes: [ReadWriteOnce], volumeName: pvc-1, resources: {requests: {storage: 1Gi}}}
status: {phase: Bound}
---
apiVersion: longhorn.io/v1beta2
kind: Volume
metadata: {name: pvc-1, namespace: longhorn-system}
spec: {numberOfReplicas: 1, dataEngine: v1}
status: {state: attached, currentNodeID: beta}
---
apiVersion: longhorn.io/v1beta2
kind: Replica
metadata: {name: pvc-1-r-1, namespace: longhorn-system}
spec: {volumeName: pvc-1, nodeID: beta}
status: {currentState: running}
---
apiVersion: longhorn.io/v1beta2
kind: Engine
metadata: {name: pvc-1-e-0, namespace: longhorn-system}
spec: {volumeName: pvc-1, nodeID: beta, active: true}
status: {replicaModeMap: {pvc-1-r-1: RW}}
"#;
    let app = deployment(
        "app",
        1,
        "{containers: [{name: c, image: x}], volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]}",
    );
    let w = drill(
        &[
            &ALPHA.replacen("status:", "spec: {unschedulable: true}\nstatus:", 1),
            BETA,
            longhorn,
            &app,
        ],
        "beta",
    );
    let o = &w.workloads[0];
    assert_eq!(o.status, WorkloadStatus::Down);
    // Inferred on beta (alpha is cordoned), and the cordon keeps the replacement off alpha too.
    assert_eq!(
        rejections(&w, "app"),
        [("alpha".to_owned(), Filter::Unschedulable)]
    );

    let w = drill(
        &[
            ALPHA,
            BETA,
            longhorn,
            &app,
            &replica_set("app"),
            &pod_with_claim("app", "beta", "data"),
        ],
        "beta",
    );
    let o = &w.workloads[0];
    assert!(
        matches!(&o.replacements[0], Placement::Stuck { node, reason } if node == "alpha" && reason.contains("pvc-1")),
        "{:?}",
        o.replacements
    );
    assert_eq!(o.status, WorkloadStatus::Down);
    assert_eq!(w.volumes[0].fate, VolumeFate::Faulted);
    assert!(w.volumes[0].attached_on_node);
    assert_eq!(ids(&w), ["drill.volume.faulted", "drill.workload.down"]);
}

fn pod_with_claim(name: &str, node: &str, claim: &str) -> String {
    pod(name, 0, node).replace(
        "containers: [{name: c, image: x}]",
        &format!("containers: [{{name: c, image: x}}], volumes: [{{name: d, persistentVolumeClaim: {{claimName: {claim}}}}}]"),
    )
}

/// A Longhorn volume attached on alpha with one healthy replica on each of `nodes`.
fn longhorn_volume(volume: &str, engine: &str, nodes: &[&str]) -> String {
    let mut docs = vec![format!(
        "apiVersion: longhorn.io/v1beta2\nkind: Volume\nmetadata: {{name: {volume}, namespace: longhorn-system}}\nspec: {{numberOfReplicas: {}, dataEngine: {engine}}}\nstatus: {{state: attached, currentNodeID: alpha}}",
        nodes.len()
    )];
    let mut modes = Vec::new();
    for node in nodes {
        docs.push(format!(
            "apiVersion: longhorn.io/v1beta2\nkind: Replica\nmetadata: {{name: {volume}-{node}, namespace: longhorn-system}}\nspec: {{volumeName: {volume}, nodeID: {node}}}\nstatus: {{currentState: running}}"
        ));
        modes.push(format!("{volume}-{node}: RW"));
    }
    docs.push(format!(
        "apiVersion: longhorn.io/v1beta2\nkind: Engine\nmetadata: {{name: {volume}-e, namespace: longhorn-system}}\nspec: {{volumeName: {volume}, nodeID: alpha, active: true}}\nstatus: {{replicaModeMap: {{{}}}}}",
        modes.join(", ")
    ));
    docs.join("\n---\n")
}

fn longhorn_node(name: &str) -> String {
    format!(
        "apiVersion: longhorn.io/v1beta2\nkind: Node\nmetadata: {{name: {name}, namespace: longhorn-system}}\nspec: {{allowScheduling: true}}"
    )
}

#[test]
fn node_drain_policy_is_read_per_data_engine() {
    let policy = r#"
apiVersion: longhorn.io/v1beta2
kind: Setting
metadata: {name: node-drain-policy, namespace: longhorn-system}
value: '{"v1":"block-for-eviction","v2":"always-allow"}'
"#;
    let both = longhorn_volume("both", "v1", &["alpha", "beta"]);
    let last = longhorn_volume("last", "v1", &["beta"]);
    let fast = longhorn_volume("fast", "v2", &["alpha", "beta"]);
    let docs = [
        ALPHA,
        BETA,
        policy,
        &both,
        &last,
        &fast,
        &longhorn_node("alpha"),
        &longhorn_node("beta"),
    ];
    let w = drill(&docs, "beta");
    let effect = |name: &str| {
        w.volumes
            .iter()
            .find(|v| v.volume.name == name)
            .and_then(|v| v.drain.clone())
    };
    // alpha holds a replica of `both` already, and anti-affinity is hard: nowhere to copy it.
    assert!(
        matches!(effect("both"), Some(DrainEffect::Blocks { policy, .. }) if policy == "block-for-eviction")
    );
    assert_eq!(
        effect("last"),
        Some(DrainEffect::EvictsFirst {
            policy: "block-for-eviction".into(),
            to: vec!["alpha".into()]
        })
    );
    assert_eq!(
        effect("fast"),
        Some(DrainEffect::Allows {
            policy: "always-allow".into()
        })
    );
    let blocked: Vec<(&str, &str)> = w
        .blockers
        .iter()
        .map(|b| (b.id.as_str(), b.object.name.as_str()))
        .collect();
    assert_eq!(
        blocked,
        [
            ("drill.longhorn.drain-blocked", "both"),
            ("drill.volume.faulted", "last")
        ]
    );
    assert!(
        w.blockers[1]
            .message
            .contains("a drain first copies it to alpha"),
        "{}",
        w.blockers[0].message
    );

    let plain = policy.replace(
        r#"'{"v1":"block-for-eviction","v2":"always-allow"}'"#,
        "block-if-contains-last-replica",
    );
    let w = drill(
        &[ALPHA, BETA, &plain, &both, &last, &longhorn_node("alpha")],
        "beta",
    );
    let effects: Vec<Option<DrainEffect>> = w.volumes.iter().map(|v| v.drain.clone()).collect();
    assert!(
        matches!(
            &effects[..],
            [
                Some(DrainEffect::Allows { .. }),
                Some(DrainEffect::Blocks { .. })
            ]
        ),
        "{effects:?}"
    );
}

#[test]
fn budgets_block_on_their_status_or_their_spec_and_one_pod_may_have_only_one() {
    let web = deployment("web", 2, "{containers: [{name: c, image: x}]}");
    let pods = [
        replica_set("web"),
        pod("web", 0, "alpha"),
        pod("web", 1, "beta"),
    ];
    let min_two = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: min-two, namespace: apps}\nspec: {minAvailable: 2, selector: {matchLabels: {app: web}}}";
    let mut docs: Vec<&str> = vec![ALPHA, BETA, &web, min_two];
    docs.extend(pods.iter().map(String::as_str));
    let w = drill(&docs, "beta");
    assert_eq!(ids(&w), ["drill.pdb.blocks-eviction"]);
    assert_eq!(w.disruption_budgets[0].disruptions_allowed, 0);
    assert_eq!(w.disruption_budgets[0].blocked[0].pod, "pod apps/web-1");

    let with_status = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: loose, namespace: apps}\nspec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}\nstatus: {disruptionsAllowed: 0, currentHealthy: 1, desiredHealthy: 1, expectedPods: 2}";
    docs[3] = with_status;
    let w = drill(&docs, "beta");
    assert_eq!(
        w.disruption_budgets[0].disruptions_allowed, 0,
        "the controller's own count wins"
    );
    assert_eq!(w.verdict, Verdict::Unsafe);

    let loose = with_status.split("\nstatus").next().expect("spec part");
    docs[3] = loose;
    let w = drill(&docs, "beta");
    assert_eq!(
        w.verdict,
        Verdict::Safe,
        "one disruption allowed, and the replacement lands: {:#?}",
        w.blockers
    );
    docs.push(min_two);
    let w = drill(&docs, "beta");
    let reasons: Vec<&str> = w
        .disruption_budgets
        .iter()
        .map(|b| b.blocked[0].why.as_str())
        .collect();
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("more than one PodDisruptionBudget")),
        "{reasons:?}"
    );
}

#[test]
fn leases_held_from_the_node_are_found_by_node_or_by_pod() {
    let lease = |ns: &str, name: &str, holder: &str| {
        format!(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{holderIdentity: '{holder}', leaseDurationSeconds: 15}}"
        )
    };
    let beta_two = BETA.replace("name: beta,", "name: beta_two,");
    let attacher =
        pod("attacher", 0, "beta").replace("namespace: apps", "namespace: longhorn-system");
    let docs = [
        ALPHA.to_owned(),
        BETA.to_owned(),
        beta_two,
        attacher,
        lease("kube-system", "scheduler", "beta_1234"),
        lease("kube-system", "elsewhere", "beta_two_99"),
        lease("longhorn-system", "driver-longhorn-io", "attacher-0"),
        lease("apps", "not-watched", "beta"),
    ];
    let docs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let w = drill(&docs, "beta");
    let held: Vec<&str> = w.leases.iter().map(|l| l.lease.name.as_str()).collect();
    assert_eq!(held, ["scheduler", "driver-longhorn-io"]);
}

#[test]
fn embedded_etcd_needs_a_majority_of_servers_left() {
    let server = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: {name}, labels: {{kubernetes.io/hostname: {name}, node-role.kubernetes.io/control-plane: 'true', node-role.kubernetes.io/etcd: 'true'}}, annotations: {{k3s.io/node-args: '[\"server\",\"--cluster-init\"]'}}}}\nstatus: {{conditions: [{{type: Ready, status: 'True'}}]}}"
        )
    };
    let (a, b, c) = (server("a"), server("b"), server("c"));
    let w = drill(&[&a, &b], "a");
    let cp = w
        .control_plane
        .expect("two etcd members lose quorum with either");
    assert!(
        cp.message.contains("one of 2 k3s servers on embedded etcd"),
        "{}",
        cp.message
    );
    assert_eq!(w.verdict, Verdict::Unsafe);
    let w = drill(&[&a, &b, &c], "a");
    assert!(w.control_plane.is_none(), "two of three keep quorum");
    assert_eq!(w.verdict, Verdict::Safe);
    // An agent is never the control plane, whatever the servers do.
    assert!(drill(&[ALPHA, BETA], "beta").control_plane.is_none());
    assert!(drill(&[ALPHA, BETA], "alpha").control_plane.is_some());
}

#[test]
fn pods_nothing_recreates_are_named_and_a_bare_one_degrades() {
    let bare = "apiVersion: v1\nkind: Pod\nmetadata: {name: debug, namespace: apps}\nspec: {nodeName: beta, containers: [{name: c, image: x}]}\nstatus: {phase: Running, conditions: [{type: Ready, status: 'True'}]}";
    let job = "apiVersion: v1\nkind: Pod\nmetadata: {name: backup-x, namespace: apps, ownerReferences: [{apiVersion: batch/v1, kind: Job, name: backup, uid: u, controller: true}]}\nspec: {nodeName: beta, containers: [{name: c, image: x}]}\nstatus: {phase: Running}";
    let mirror = "apiVersion: v1\nkind: Pod\nmetadata: {name: static-beta, namespace: kube-system, annotations: {kubernetes.io/config.mirror: abc}}\nspec: {nodeName: beta, containers: [{name: c, image: x}]}\nstatus: {phase: Running}";
    let w = drill(&[ALPHA, BETA, bare, job, mirror], "beta");
    let unmanaged: Vec<(&str, Option<&str>)> = w
        .unmanaged_pods
        .iter()
        .map(|p| (p.pod.name.as_str(), p.owner.as_deref()))
        .collect();
    assert_eq!(
        unmanaged,
        [("debug", None), ("backup-x", Some("Job backup"))]
    );
    assert_eq!(ids(&w), ["drill.pod.unmanaged"]);
    assert_eq!(w.verdict, Verdict::SafeDegraded);
}

#[test]
fn a_lone_replica_that_moves_restarts_and_an_empty_node_is_safe() {
    let web = deployment("web", 1, "{containers: [{name: c, image: x}]}");
    let w = drill(
        &[
            ALPHA,
            BETA,
            &web,
            &replica_set("web"),
            &pod("web", 0, "beta"),
        ],
        "beta",
    );
    assert_eq!(
        w.workloads[0].replacements,
        [Placement::Lands {
            node: "alpha".into()
        }]
    );
    assert_eq!(ids(&w), ["drill.workload.restarts"]);
    assert_eq!(w.verdict, Verdict::SafeDegraded);
    let w = drill(
        &[
            ALPHA,
            BETA,
            &web,
            &replica_set("web"),
            &pod("web", 0, "alpha"),
        ],
        "beta",
    );
    assert_eq!((w.verdict, w.workloads.len()), (Verdict::Safe, 0));
}

#[test]
fn unreadable_nodes_are_an_error_not_an_empty_answer() {
    let unreadable =
        "apiVersion: posture.dev/v1\nkind: Unreadable\nspec: {resource: nodes, reason: forbidden}";
    let err = what_if(&snapshot(&[unreadable]), "beta", &Policy::default())
        .expect_err("nothing to judge");
    assert!(matches!(err, DrillError::NodesUnreadable { .. }));
    assert_eq!(
        err.to_string(),
        "failed to judge node beta: the snapshot could not read nodes (forbidden)"
    );
}

#[test]
fn a_refusal_of_the_server_is_a_blocker_quoted_and_an_eviction_it_accepts_is_not() {
    let web = deployment("web", 1, "{containers: [{name: c, image: x}]}");
    let safe = drill(
        &[
            ALPHA,
            BETA,
            &web,
            &replica_set("web"),
            &pod("web", 0, "alpha"),
        ],
        "beta",
    );
    assert_eq!(safe.verdict, Verdict::Safe);
    let pod = ObjectRef::new("v1", "Pod", Some("apps"), "web-0");
    let accepted = with_server_answers(
        safe.clone(),
        vec![EvictionAnswer {
            pod: pod.clone(),
            owner: None,
            answer: ServerAnswer::Evicts,
        }],
    );
    assert_eq!(accepted.verdict, Verdict::Safe);
    assert_eq!(accepted.server.as_ref().map(Vec::len), Some(1));
    let refused = with_server_answers(
        safe,
        vec![EvictionAnswer {
            pod,
            owner: Some("ReplicaSet web-1".into()),
            answer: ServerAnswer::Refuses {
                code: 429,
                reason: "TooManyRequests".into(),
                message: "Cannot evict pod as it would violate the pod's disruption budget.".into(),
                causes: vec![
                    "The disruption budget web needs 1 healthy pods and has 1 currently".into(),
                ],
            },
        }],
    );
    assert_eq!(refused.verdict, Verdict::Unsafe);
    assert_eq!(ids(&refused), ["drill.server.refuses"]);
    let message = &refused.blockers[0].message;
    assert!(
        message.contains("429 TooManyRequests") && message.contains("budget web"),
        "{message}"
    );
    assert!(
        refused.blockers[0].evidence[0]
            .command
            .contains("--dry-run=server")
    );
}

#[test]
fn a_servers_own_files_decide_its_datastore_for_the_drill() {
    // The API's arguments say an external datastore, which survives either server's loss; the
    // files on both servers show embedded etcd, two members: either loss stops the API.
    let server = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: {name}, labels: {{kubernetes.io/hostname: {name}, node-role.kubernetes.io/control-plane: 'true'}}, annotations: {{k3s.io/node-args: '[\"server\",\"--datastore-endpoint\",\"********\"]'}}}}\nstatus: {{conditions: [{{type: Ready, status: 'True'}}]}}"
        )
    };
    let facts = |name: &str| {
        format!(
            "apiVersion: posture.dev/v1\nkind: HostFacts\nspec: {{host: {name}, role: server, datastore: {{kind: embedded-etcd, seen: [/var/lib/rancher/k3s/server/db/etcd/]}}}}"
        )
    };
    let (a, b) = (server("a"), server("b"));
    assert!(
        drill(&[&a, &b], "a").control_plane.is_none(),
        "external: the API stays"
    );
    let (fa, fb) = (facts("a"), facts("b"));
    let w = drill(&[&a, &b, &fa, &fb], "a");
    let cp = w
        .control_plane
        .expect("two etcd members lose quorum with either");
    assert!(cp.message.contains("embedded etcd"), "{}", cp.message);
}
