//! 2.4 Longhorn when a node goes away: what happens to the pods that used its volumes
//! (`node-down-pod-deletion-policy`), and whether a replica on a node that comes back is reused
//! or rebuilt in full (`staleReplicaTimeout` against `replica-replenishment-wait-interval`).
//!
//! A setting missing from the snapshot is judged at Longhorn's default, which is what Longhorn
//! applies: a real cluster always lists every setting, and a scenario may leave some out.

use k8s_openapi::api::storage::v1::StorageClass;

use super::context::Ctx;
use super::longhorn::{PROVISIONER, same_value};
use super::record::{CheckDef, Verdict};
use crate::longhorn::Setting;
use crate::object::ObjectRef;
use crate::report::{Evidence, Finding, Section, Severity};
use crate::snapshot::Longhorn;

const S: Section = Section::Longhorn;
const DELETION_POLICY: &str = "node-down-pod-deletion-policy";
const DELETION_DEFAULT: &str = "do-nothing";
const DELETE_BOTH: &str = "delete-both-statefulset-and-deployment-pod";
const REPLENISHMENT_WAIT: &str = "replica-replenishment-wait-interval";
/// Seconds, Longhorn's default.
const REPLENISHMENT_DEFAULT: i64 = 600;

pub(super) fn defs() -> Vec<CheckDef> {
    vec![
        CheckDef::new(
            S,
            "longhorn.node-down-pod-deletion-policy",
            "Pods on a lost node let go of their Longhorn volumes",
        ),
        CheckDef::new(
            S,
            "longhorn.stale-replica-timeout",
            "A replica on a node that comes back is kept long enough to be reused",
        ),
    ]
}

fn find<'a>(lh: &'a Longhorn, name: &str) -> Option<&'a Setting> {
    lh.settings.iter().find(|s| s.name() == name)
}

/// The setting's value (the v1 data engine's when per engine), or Longhorn's default.
fn value(lh: &Longhorn, name: &str, default: &str) -> (String, Option<ObjectRef>) {
    let Some(setting) = find(lh, name) else {
        return (default.to_owned(), None);
    };
    let value = match setting.parsed() {
        Some(crate::longhorn::SettingValue::Plain(v)) => v,
        Some(crate::longhorn::SettingValue::PerDataEngine(map)) => map
            .get("v1")
            .or(map.values().next())
            .cloned()
            .unwrap_or_default(),
        None => default.to_owned(),
    };
    (value, Some(setting.object_ref()))
}

/// The setting as an object, named where Longhorn keeps it even when the snapshot lacks it.
fn setting_ref(lh: &Longhorn, object: Option<ObjectRef>, name: &str) -> ObjectRef {
    object.unwrap_or_else(|| {
        let namespace = super::longhorn::longhorn_namespace(lh);
        ObjectRef::new(
            crate::longhorn::API_VERSION,
            "Setting",
            Some(&namespace),
            name,
        )
    })
}

fn setting_evidence(lh: &Longhorn, object: Option<ObjectRef>, name: &str, value: &str) -> Evidence {
    Evidence::field(&setting_ref(lh, object, name), "value", value)
}

pub(super) fn deletion_policy(ctx: &Ctx<'_>, lh: &Longhorn, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["settings.longhorn.io"]) {
        return v;
    }
    let (value, object) = value(lh, DELETION_POLICY, DELETION_DEFAULT);
    let origin = if object.is_some() {
        ""
    } else {
        " (Longhorn's default; the setting is not in the snapshot)"
    };
    if same_value(&value, DELETE_BOTH) {
        return Verdict::judged(Vec::new(), format!("{DELETION_POLICY} is {value}"));
    }
    // It matters for volumes attached to a node that can go down while the API stays up: the
    // secondary's. On the runbook's topology (apps pinned to the primary) none is, and the
    // finding is for information.
    let on_secondaries: Vec<&str> = (lh.volumes.iter())
        .filter(|v| {
            v.status
                .current_node_id
                .as_deref()
                .is_some_and(|n| ctx.topology.secondaries.iter().any(|s| s == n))
        })
        .map(|v| v.name())
        .collect();
    let (severity, now) = if on_secondaries.is_empty() {
        (
            Severity::Info,
            "no Longhorn volume is attached to a secondary now".to_owned(),
        )
    } else {
        (
            Severity::Warning,
            format!("attached to a secondary now: {}", on_secondaries.join(", ")),
        )
    };
    let stuck = match value.as_str() {
        "delete-statefulset-pod" => "a Deployment's pod",
        "delete-deployment-pod" => "a StatefulSet's pod",
        _ => "a StatefulSet's or a Deployment's pod",
    };
    let finding = def
        .finding(
            severity,
            &setting_ref(lh, object.clone(), DELETION_POLICY),
            format!(
                "Longhorn {DELETION_POLICY} is {value}{origin}: {stuck} using a Longhorn volume on a \
                 node that goes down stays Terminating, and its volume cannot attach elsewhere \
                 until the node returns or someone force-deletes the pod (a Deployment's \
                 replacement waits about six minutes for the attachment to time out); {now}"
            ),
        )
        .with_evidence(setting_evidence(lh, object, DELETION_POLICY, &value))
        .with_remediation(format!(
            "set {DELETION_POLICY} to {DELETE_BOTH}, so Longhorn force-deletes such pods once their node is down and the volume can move"
        ));
    Verdict::judged(vec![finding], String::new())
}

/// Minutes from a `staleReplicaTimeout` written as a number or a string.
fn minutes(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn stale_replicas(ctx: &Ctx<'_>, lh: &Longhorn, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["settings.longhorn.io", "volumes.longhorn.io"]) {
        return v;
    }
    let (wait, wait_object) = value(lh, REPLENISHMENT_WAIT, &REPLENISHMENT_DEFAULT.to_string());
    let Ok(wait_seconds) = wait.trim().parse::<i64>() else {
        return Verdict::Unknown(format!(
            "{REPLENISHMENT_WAIT} is {wait:?}, not a number of seconds"
        ));
    };
    let mut findings: Vec<Finding> = Vec::new();
    let reboot = ctx.policy.longhorn.secondary_reboot_seconds;
    if wait_seconds < reboot {
        let object = setting_ref(lh, wait_object.clone(), REPLENISHMENT_WAIT);
        findings.push(
            def.finding(
                Severity::Warning,
                &object,
                format!(
                    "{REPLENISHMENT_WAIT} is {wait_seconds} s, shorter than a reboot of the \
                     secondary ({reboot} s, longhorn.secondaryRebootSeconds): Longhorn stops \
                     waiting for the node and, when it is back, rebuilds its replicas in full \
                     instead of reusing them"
                ),
            )
            .with_evidence(setting_evidence(
                lh,
                wait_object.clone(),
                REPLENISHMENT_WAIT,
                &wait,
            ))
            .with_remediation(format!(
                "set {REPLENISHMENT_WAIT} above {reboot} (the runbook's value is 600)"
            )),
        );
    }
    let too_short = |timeout: i64| timeout * 60 < wait_seconds.max(reboot);
    let explain = |what: String, timeout: i64| {
        format!(
            "{what} has staleReplicaTimeout {timeout} min, shorter than {REPLENISHMENT_WAIT} \
             ({wait_seconds} s) or a reboot of the secondary ({reboot} s): a failed replica is \
             cleaned up before Longhorn stops waiting for it, so a replica on a node that was \
             down is rebuilt in full instead of reused"
        )
    };
    let remediation = format!(
        "set staleReplicaTimeout (minutes) above {REPLENISHMENT_WAIT} and above how long a reboot of the secondary takes (Longhorn's StorageClass default is 30)"
    );
    let stale =
        |obj: &ObjectRef, what: String, field: &str, timeout: i64, shown: serde_json::Value| {
            def.finding(Severity::Warning, obj, explain(what, timeout))
                .with_evidence(Evidence::field(obj, field, shown))
                .with_evidence(setting_evidence(
                    lh,
                    wait_object.clone(),
                    REPLENISHMENT_WAIT,
                    &wait,
                ))
                .with_remediation(remediation.clone())
        };
    for volume in &lh.volumes {
        let Some(timeout) = volume.spec.stale_replica_timeout.as_ref().and_then(minutes) else {
            continue;
        };
        if too_short(timeout) {
            let obj = volume.object_ref();
            let what = format!("volume {}", volume.name());
            findings.push(stale(
                &obj,
                what,
                "spec.staleReplicaTimeout",
                timeout,
                timeout.into(),
            ));
        }
    }
    let classes = (ctx.snap.storage_classes.iter()).filter(|s| s.provisioner == PROVISIONER);
    for class in classes {
        let Some(timeout) = stale_of(class) else {
            continue;
        };
        if too_short(timeout) {
            let obj = ObjectRef::of(class);
            let what = format!("StorageClass {} (for new volumes)", obj.name);
            let shown = timeout.to_string().into();
            findings.push(stale(
                &obj,
                what,
                "parameters.staleReplicaTimeout",
                timeout,
                shown,
            ));
        }
    }
    Verdict::judged(findings, format!("{REPLENISHMENT_WAIT} {wait_seconds} s"))
}

fn stale_of(class: &StorageClass) -> Option<i64> {
    class
        .parameters
        .as_ref()?
        .get("staleReplicaTimeout")
        .and_then(|v| v.trim().parse().ok())
}
