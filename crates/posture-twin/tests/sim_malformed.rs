//! Malformed objects written through the API never crash the simulation.

mod support;

use serde_json::json;
use support::*;

#[test]
fn odd_objects_are_tolerated() {
    let mut twin = homelab();
    let odd = [
        (
            "apps",
            "deployments",
            json!({"metadata": {"name": "d1", "namespace": "apps"}, "spec": "nonsense"}),
        ),
        (
            "apps",
            "deployments",
            json!({"metadata": {"name": "d2", "namespace": "apps"}, "spec": {"replicas": "x", "template": 5, "strategy": {"rollingUpdate": {"maxSurge": "abc%"}}}}),
        ),
        (
            "apps",
            "replicasets",
            json!({"metadata": {"name": "r1", "namespace": "apps"}, "spec": {"replicas": 1, "template": {"spec": "bad"}}, "status": 7}),
        ),
        (
            "apps",
            "statefulsets",
            json!({"metadata": {"name": "s1", "namespace": "apps"}, "spec": {"replicas": 2, "template": {"metadata": {"labels": "x"}}}}),
        ),
        (
            "apps",
            "daemonsets",
            json!({"metadata": {"name": "ds1", "namespace": "apps"}, "spec": {"template": {"spec": {"tolerations": "x", "containers": "y"}}}}),
        ),
        (
            "",
            "pods",
            json!({"metadata": {"name": "p1", "namespace": "apps"}, "spec": {"containers": [{"name": "c"}], "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": 3}]}}}, "status": "weird"}),
        ),
        (
            "",
            "pods",
            json!({"metadata": {"name": "p2", "namespace": "apps"}, "spec": {"nodeName": "miniserver", "containers": [{"name": "c", "readinessProbe": {"initialDelaySeconds": 9_000_000_000_000i64}}]}, "status": []}),
        ),
        (
            "",
            "services",
            json!({"metadata": {"name": "svc", "namespace": "apps"}, "spec": {"selector": {"app": 1}, "ports": "x"}}),
        ),
        (
            "policy",
            "poddisruptionbudgets",
            json!({"metadata": {"name": "pdb", "namespace": "apps"}, "spec": {"minAvailable": "200%", "selector": "x"}, "status": "y"}),
        ),
        (
            "coordination.k8s.io",
            "leases",
            json!({"metadata": {"name": "odd", "namespace": "kube-system"}, "spec": "z"}),
        ),
        (
            "coordination.k8s.io",
            "leases",
            json!({"metadata": {"name": "odd2", "namespace": "kube-system"}, "spec": {"holderIdentity": "miniserver_x", "leaseTransitions": "many"}}),
        ),
        (
            "longhorn.io",
            "volumes",
            json!({"metadata": {"name": "v-odd", "namespace": "longhorn-system"}, "spec": {"numberOfReplicas": 2, "size": "lots"}, "status": {"state": "attached"}}),
        ),
        (
            "longhorn.io",
            "engines",
            json!({"metadata": {"name": "v-odd-e-0", "namespace": "longhorn-system"}, "spec": {"volumeName": "v-odd", "replicaAddressMap": 3}, "status": "bad"}),
        ),
        (
            "longhorn.io",
            "replicas",
            json!({"metadata": {"name": "v-odd-r-1", "namespace": "longhorn-system"}, "spec": {"volumeName": "v-odd", "nodeID": "nowhere"}, "status": 1}),
        ),
        (
            "longhorn.io",
            "settings",
            json!({"metadata": {"name": "concurrent-replica-rebuild-per-node-limit", "namespace": "other"}, "value": "{not json"}),
        ),
        (
            "",
            "nodes",
            json!({"metadata": {"name": "bare"}, "spec": {"taints": "x", "unschedulable": "yes"}, "status": "none"}),
        ),
    ];
    for (group, plural, object) in odd {
        create(&mut twin, group, plural, object);
        twin.advance(secs(3));
    }
    twin.inject(&posture_twin::fault::Fault::StopNode {
        node: "bare".into(),
    });
    twin.inject(&posture_twin::fault::Fault::CrashLoop {
        namespace: "apps".into(),
        pod: "p2".into(),
    });
    twin.inject(&posture_twin::fault::Fault::LeaseThrash {
        namespace: "kube-system".into(),
        name: "odd".into(),
        period_seconds: 1,
    });
    twin.advance(secs(120));
    edit(
        &mut twin,
        "",
        "configmaps",
        "longhorn-system",
        "longhorn-storageclass",
        |cm| {
            cm["data"]["storageclass.yaml"] = json!(": : not yaml [");
        },
    );
    twin.advance(secs(5));
    assert!(
        get(&twin, "apps", "deployments", "kube-system", "coredns")["status"]["readyReplicas"] == 1
    );
}
