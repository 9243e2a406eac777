//! The revert of a Longhorn volume to a snapshot, as exact commands with the real names.

use super::{Step, WorkloadUse};

pub(super) struct StepInputs<'a> {
    pub(super) volume: &'a str,
    pub(super) longhorn_namespace: &'a str,
    pub(super) node: Option<&'a str>,
    pub(super) snapshot: Option<&'a str>,
    pub(super) workloads: &'a [WorkloadUse],
}

fn short_kind(kind: &str) -> &str {
    match kind {
        "Deployment" => "deploy",
        "StatefulSet" => "sts",
        other => other,
    }
}

/// The revert, in order: stop the users, wait for the detach, attach in maintenance mode,
/// revert, detach, start the users again.
pub(super) fn steps(inputs: &StepInputs<'_>) -> Vec<Step> {
    let StepInputs {
        volume,
        longhorn_namespace: lh,
        ..
    } = *inputs;
    let node = inputs.node.unwrap_or("NODE");
    let snapshot = inputs.snapshot.unwrap_or("SNAPSHOT");
    let api = format!("http://localhost:8080/v1/volumes/{volume}");
    let json = "-H 'Content-Type: application/json'";
    let mut steps = Vec::new();
    for w in inputs.workloads {
        let ns = w.object.namespace.as_deref().unwrap_or("default");
        steps.push(Step {
            what: format!(
                "stop {} {ns}/{} (it runs {} replica(s); scale back to that at the end)",
                w.object.kind,
                w.object.name,
                w.replicas.unwrap_or(1)
            ),
            command: Some(format!(
                "kubectl -n {ns} scale {}/{} --replicas=0",
                short_kind(&w.object.kind),
                w.object.name
            )),
        });
    }
    steps.push(Step {
        what: "wait until Longhorn has detached the volume".into(),
        command: Some(format!(
            "kubectl -n {lh} wait volumes.longhorn.io/{volume} --for=jsonpath='{{.status.state}}'=detached --timeout=10m"
        )),
    });
    steps.push(Step {
        what: "reach Longhorn's API (leave this running in another terminal)".into(),
        command: Some(format!(
            "kubectl -n {lh} port-forward svc/longhorn-frontend 8080:80"
        )),
    });
    steps.push(Step {
        what: format!(
            "attach the volume in maintenance mode (frontend disabled) on {node}: Longhorn \
             reverts only a volume attached without its frontend"
        ),
        command: Some(format!(
            "curl -X POST '{api}?action=attach' {json} -d '{{\"hostId\":\"{node}\",\"disableFrontend\":true}}'"
        )),
    });
    steps.push(Step {
        what: format!("revert the volume to snapshot {snapshot}: every write after it is lost"),
        command: Some(format!(
            "curl -X POST '{api}?action=snapshotRevert' {json} -d '{{\"name\":\"{snapshot}\"}}'"
        )),
    });
    steps.push(Step {
        what: "detach the volume again, so the workload can attach it normally".into(),
        command: Some(format!(
            "curl -X POST '{api}?action=detach' {json} -d '{{\"hostId\":\"{node}\"}}'"
        )),
    });
    for w in inputs.workloads {
        let ns = w.object.namespace.as_deref().unwrap_or("default");
        steps.push(Step {
            what: format!("start {} {ns}/{} again", w.object.kind, w.object.name),
            command: Some(format!(
                "kubectl -n {ns} scale {}/{} --replicas={}",
                short_kind(&w.object.kind),
                w.object.name,
                w.replicas.unwrap_or(1)
            )),
        });
    }
    steps
}
