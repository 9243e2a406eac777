//! 2.4 Longhorn, global side: the section's gate (installed? readable?), global settings, the
//! node drain policy and the StorageClass new PVCs get. Per-volume checks are in
//! `longhorn_volumes`.

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::storage::v1::StorageClass;

use super::context::Ctx;
use super::longhorn_node_loss;
use super::longhorn_volumes;
use super::record::{CheckDef, Recorder, Verdict};
use crate::longhorn::{Setting, SettingValue};
use crate::object::ObjectRef;
use crate::report::{Evidence, Section, Severity};
use crate::snapshot::Longhorn;

const S: Section = Section::Longhorn;
pub(crate) const PROVISIONER: &str = "driver.longhorn.io";
const DRAIN_POLICY: &str = "node-drain-policy";
const SC_CONFIGMAP_ANNOTATION: &str = "longhorn.io/last-applied-configmap";
pub(super) const RESOURCES: [&str; 5] = [
    "settings.longhorn.io",
    "volumes.longhorn.io",
    "replicas.longhorn.io",
    "engines.longhorn.io",
    "nodes.longhorn.io",
];

fn defs(ctx: &Ctx<'_>) -> Vec<CheckDef> {
    let mut defs: Vec<CheckDef> = ctx
        .policy
        .longhorn
        .settings
        .iter()
        .map(|(name, want)| {
            CheckDef::new(
                S,
                format!("longhorn.setting.{name}"),
                format!("Global setting {name} is {want}"),
            )
        })
        .collect();
    defs.push(CheckDef::new(
        S,
        "longhorn.node-drain-policy",
        "node-drain-policy protects the last replica",
    ));
    defs.push(CheckDef::new(
        S,
        "longhorn.storageclass.replicas",
        "The Longhorn StorageClass gives new volumes the runbook's replica count",
    ));
    defs.push(def_secondary_room());
    defs.extend(longhorn_node_loss::defs());
    defs.extend(longhorn_volumes::defs());
    defs
}

pub(super) fn check(ctx: &Ctx<'_>, out: &mut Recorder) {
    let all = defs(ctx);
    let Some(lh) = ctx.snap.longhorn.as_ref() else {
        let verdict = ctx
            .unreadable(&RESOURCES)
            .unwrap_or_else(|| Verdict::Skipped("Longhorn is not installed".into()));
        for def in &all {
            out.record(def, verdict.clone());
        }
        return;
    };
    for (name, want) in &ctx.policy.longhorn.settings {
        let def = CheckDef::new(
            S,
            format!("longhorn.setting.{name}"),
            format!("Global setting {name} is {want}"),
        );
        let verdict = setting(ctx, lh, &def, name, want);
        out.record(&def, verdict);
    }
    let def = CheckDef::new(
        S,
        "longhorn.node-drain-policy",
        "node-drain-policy protects the last replica",
    );
    out.record(&def, drain_policy(ctx, lh, &def));
    let def = CheckDef::new(
        S,
        "longhorn.storageclass.replicas",
        "The Longhorn StorageClass gives new volumes the runbook's replica count",
    );
    out.record(&def, storage_class(ctx, lh, &def));
    let def = def_secondary_room();
    out.record(&def, secondary_room(ctx, lh, &def));
    let node_loss = longhorn_node_loss::defs();
    out.record(
        &node_loss[0],
        longhorn_node_loss::deletion_policy(ctx, lh, &node_loss[0]),
    );
    out.record(
        &node_loss[1],
        longhorn_node_loss::stale_replicas(ctx, lh, &node_loss[1]),
    );
    longhorn_volumes::check(ctx, lh, out);
}

fn def_secondary_room() -> CheckDef {
    CheckDef::new(
        S,
        "longhorn.secondary.room",
        "The secondary's Longhorn node can take a replica of every volume",
    )
}

/// The volume stages put a replica of every volume on the secondary: its Longhorn node must
/// accept them, or each stage waits out its timeout and rolls back.
fn secondary_room(ctx: &Ctx<'_>, lh: &Longhorn, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["nodes.longhorn.io", "replicas.longhorn.io"]) {
        return v;
    }
    if ctx.topology.secondaries.is_empty() {
        return Verdict::Skipped("no secondary node is known".into());
    }
    let mut findings = Vec::new();
    let mut detail = Vec::new();
    let pods = crate::longhorn_room::LonghornPods::of(ctx.snap);
    let needs = crate::longhorn_room::NeededOn::of(lh);
    for node in &ctx.topology.secondaries {
        let needed = needs.on(node);
        detail.push(format!(
            "{node}: {} new replica(s), {} GiB",
            needed.volumes,
            needed.bytes.div_ceil(1 << 30)
        ));
        for p in crate::longhorn_room::problems_with(ctx.snap, &pods, node, needed) {
            findings.push(
                def.finding(Severity::Error, &p.object, p.message.clone())
                    .with_evidence(Evidence::field(&p.object, &p.field, p.value.clone()))
                    .with_remediation(
                        "make the node's Longhorn node Ready and schedulable, with a schedulable \
                         disk that has room (Longhorn UI: Node), before the volume stages",
                    ),
            );
        }
    }
    Verdict::judged(findings, detail.join("; "))
}

/// Setting values compare as numbers when both are numbers, else as case-insensitive words.
pub(crate) fn same_value(have: &str, want: &str) -> bool {
    let (have, want) = (have.trim(), want.trim());
    match (have.parse::<f64>(), want.parse::<f64>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => have.eq_ignore_ascii_case(want),
    }
}

fn find_setting<'a>(lh: &'a Longhorn, name: &str) -> Option<&'a Setting> {
    lh.settings.iter().find(|s| s.name() == name)
}

fn setting(ctx: &Ctx<'_>, lh: &Longhorn, def: &CheckDef, name: &str, want: &str) -> Verdict {
    if let Some(v) = ctx.unreadable(&["settings.longhorn.io"]) {
        return v;
    }
    let Some(found) = find_setting(lh, name) else {
        return Verdict::Unknown(format!("setting {name} is not in the snapshot"));
    };
    let Some(value) = found.parsed() else {
        return Verdict::Unknown(format!("setting {name} has no value"));
    };
    if value.all(|v| same_value(v, want)) {
        return Verdict::judged(Vec::new(), format!("{name} = {value}"));
    }
    let obj = found.object_ref();
    let target = value.with_value(want);
    let f = def
        .finding(Severity::Warning, &obj, format!("Longhorn setting {name} is {value}; the runbook wants {want}"))
        .with_evidence(Evidence::field(&obj, "value", value.to_raw()))
        .with_remediation(format!("kubectl -n {} patch settings.longhorn.io {name} --type merge -p '{{\"value\":{}}}' (run it with --dry-run=server first; approval required)", obj.namespace.as_deref().unwrap_or("longhorn-system"), serde_json::Value::String(target.to_raw())));
    Verdict::judged(vec![f], String::new())
}

fn drain_policy(ctx: &Ctx<'_>, lh: &Longhorn, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["settings.longhorn.io"]) {
        return v;
    }
    let Some(found) = find_setting(lh, DRAIN_POLICY) else {
        return Verdict::Unknown(format!("setting {DRAIN_POLICY} is not in the snapshot"));
    };
    let Some(value) = found.parsed() else {
        return Verdict::Unknown(format!("setting {DRAIN_POLICY} has no value"));
    };
    let accepted = &ctx.policy.longhorn.node_drain_policies;
    if value.all(|v| accepted.iter().any(|a| same_value(v, a))) {
        return Verdict::judged(Vec::new(), format!("{DRAIN_POLICY} = {value}"));
    }
    let obj = found.object_ref();
    let refused = match &value {
        SettingValue::Plain(v) => v.clone(),
        SettingValue::PerDataEngine(map) => map
            .values()
            .find(|v| !accepted.iter().any(|a| same_value(v, a)))
            .cloned()
            .unwrap_or_default(),
    };
    let hard = find_setting(lh, "replica-soft-anti-affinity")
        .and_then(Setting::parsed)
        .is_some_and(|v| v.all(|v| same_value(v, "false")));
    let risk = drain_risk(&refused, ctx.snap.nodes.len(), hard);
    let f = def
        .finding(
            Severity::Warning,
            &obj,
            format!(
                "Longhorn {DRAIN_POLICY} is {value}: {risk} (accepted: {})",
                accepted.join(", ")
            ),
        )
        .with_evidence(Evidence::field(&obj, "value", value.to_raw()))
        .with_remediation(format!(
            "set {DRAIN_POLICY} to {}",
            accepted
                .first()
                .map(String::as_str)
                .unwrap_or("block-if-contains-last-replica")
        ));
    Verdict::judged(vec![f], String::new())
}

/// What a drain does under `value` of node-drain-policy, on `nodes` nodes, with replica hard
/// anti-affinity or not. Longhorn moves a replica off a node only by rebuilding it on another,
/// and hard anti-affinity forbids two replicas of a volume on one node.
fn drain_risk(value: &str, nodes: usize, hard: bool) -> String {
    match value.trim().to_ascii_lowercase().as_str() {
        "always-allow" => "a drain goes ahead even when the node holds a volume's last healthy \
                           replica, and that volume faults"
            .into(),
        "allow-if-replica-is-stopped" => "a drain goes ahead once the node's replicas are \
                                          stopped, a volume's last healthy one included"
            .into(),
        "block-for-eviction" if hard && nodes <= 2 => format!(
            "Longhorn evicts every replica off the node before a drain may finish; with replica \
             hard anti-affinity on {nodes} node(s) an evicted replica has nowhere to go, so the \
             drain never completes"
        ),
        "block-for-eviction" => "every drain waits until all of the node's replicas are rebuilt \
                                 on other nodes"
            .into(),
        other => format!("posture cannot tell what a drain does under {other:?}"),
    }
}

/// The namespace Longhorn runs in, as its own objects say.
pub(crate) fn longhorn_namespace(lh: &Longhorn) -> String {
    lh.settings
        .iter()
        .filter_map(|s| s.metadata.namespace.clone())
        .chain(
            lh.volumes
                .iter()
                .filter_map(|v| v.metadata.namespace.clone()),
        )
        .next()
        .unwrap_or_else(|| "longhorn-system".into())
}

/// The ConfigMap Longhorn renders the StorageClass from: named by the StorageClass's
/// annotation, else the one holding a `storageclass.yaml` in Longhorn's namespace.
fn owning_configmap<'a>(ctx: &Ctx<'a>, ns: &str, sc: &StorageClass) -> Option<&'a ConfigMap> {
    let named = sc
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SC_CONFIGMAP_ANNOTATION));
    let in_ns = |c: &&ConfigMap| c.metadata.namespace.as_deref() == Some(ns);
    match named {
        Some(name) => ctx
            .snap
            .config_maps
            .iter()
            .filter(in_ns)
            .find(|c| c.metadata.name.as_deref() == Some(name)),
        None => ctx.snap.config_maps.iter().filter(in_ns).find(|c| {
            c.data
                .as_ref()
                .is_some_and(|d| d.contains_key("storageclass.yaml"))
        }),
    }
}

/// `parameters.numberOfReplicas` in the ConfigMap's embedded StorageClass YAML.
fn configmap_replicas(cm: &ConfigMap) -> Option<String> {
    let text = cm.data.as_ref()?.get("storageclass.yaml")?;
    let value: serde_json::Value = serde_norway::from_str(text).ok()?;
    match value.pointer("/parameters/numberOfReplicas")? {
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn storage_class(ctx: &Ctx<'_>, lh: &Longhorn, def: &CheckDef) -> Verdict {
    if let Some(v) = ctx.unreadable(&["storageclasses"]) {
        return v;
    }
    let classes: Vec<&StorageClass> = ctx
        .snap
        .storage_classes
        .iter()
        .filter(|s| s.provisioner == PROVISIONER)
        .collect();
    if classes.is_empty() {
        return Verdict::Unknown(format!(
            "no StorageClass with provisioner {PROVISIONER} in the snapshot"
        ));
    }
    let want = ctx.policy.longhorn.replicas_per_volume.to_string();
    let ns = longhorn_namespace(lh);
    let configmaps_readable = ctx.unreadable(&["configmaps"]).is_none();
    let mut findings = Vec::new();
    for sc in &classes {
        let sc_obj = ObjectRef::of(*sc);
        let have = sc
            .parameters
            .as_ref()
            .and_then(|p| p.get("numberOfReplicas"))
            .cloned();
        let cm = configmaps_readable
            .then(|| owning_configmap(ctx, &ns, sc))
            .flatten();
        let cm_have = cm.and_then(configmap_replicas);
        let sc_ok = have.as_deref().is_some_and(|h| same_value(h, &want));
        let cm_ok = cm.is_none() || cm_have.as_deref().is_some_and(|h| same_value(h, &want));
        if sc_ok && cm_ok {
            continue;
        }
        let shown = have
            .clone()
            .unwrap_or_else(|| "unset (Longhorn's default-replica-count)".into());
        let sc_evidence = Evidence::field(&sc_obj, "parameters.numberOfReplicas", have.clone());
        let f = match cm {
            Some(cm) => {
                let cm_obj = ObjectRef::of(cm);
                def.finding(Severity::Warning, &cm_obj, format!(
                    "new PVCs of StorageClass {} get {shown} replica(s) (runbook: {want}); Longhorn renders that StorageClass from {cm_obj}, which says {}, so change it there: a direct StorageClass edit is reverted",
                    sc_obj.name, cm_have.clone().unwrap_or_else(|| "nothing".into())
                ))
                .with_evidence(sc_evidence)
                .with_evidence(Evidence::with_command(&cm_obj, "data.storageclass\\.yaml parameters.numberOfReplicas", cm_have.clone(), cm_obj.kubectl_get(Some(".data.storageclass\\.yaml"))))
                .with_remediation(format!("set parameters.numberOfReplicas: \"{want}\" in {cm_obj} (data.storageclass.yaml); Longhorn recreates the StorageClass from it"))
            }
            None => def
                .finding(Severity::Warning, &sc_obj, format!("new PVCs of StorageClass {} get {shown} replica(s) (runbook: {want})", sc_obj.name))
                .with_evidence(sc_evidence)
                .with_remediation(format!("recreate the StorageClass with parameters.numberOfReplicas: \"{want}\" (parameters are immutable)")),
        };
        findings.push(f);
    }
    Verdict::judged(
        findings,
        format!("{} Longhorn StorageClass(es) checked", classes.len()),
    )
}
