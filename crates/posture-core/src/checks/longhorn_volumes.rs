//! 2.4 Longhorn, per volume: replica count, one healthy replica per node, robustness,
//! per-volume overrides that defeat the global settings, and replica modes.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::PersistentVolume;

use super::context::Ctx;
use super::record::{CheckDef, Recorder, Verdict};
use crate::longhorn::{LonghornEngine, Replica, Volume};
use crate::report::{Evidence, Finding, Section, Severity};
use crate::snapshot::Longhorn;

const S: Section = Section::Longhorn;

type Judge = fn(&Ctx<'_>, &CheckDef, &VolumeView<'_>) -> Vec<Finding>;

fn table() -> [(CheckDef, Judge, &'static [&'static str]); 5] {
    [
        (
            CheckDef::new(
                S,
                "longhorn.volume.replica-count",
                "Every volume has the runbook's replica count",
            ),
            replica_count,
            &["volumes.longhorn.io"],
        ),
        (
            CheckDef::new(
                S,
                "longhorn.volume.replica-placement",
                "Exactly one healthy replica of each volume per node",
            ),
            placement,
            &[
                "volumes.longhorn.io",
                "replicas.longhorn.io",
                "engines.longhorn.io",
            ],
        ),
        (
            CheckDef::new(
                S,
                "longhorn.volume.robustness",
                "No volume is degraded or faulted",
            ),
            robustness,
            &["volumes.longhorn.io"],
        ),
        (
            CheckDef::new(
                S,
                "longhorn.volume.overrides",
                "No volume overrides replica anti-affinity (node, zone, disk) or auto-balance",
            ),
            overrides,
            &["volumes.longhorn.io"],
        ),
        (
            CheckDef::new(
                S,
                "longhorn.volume.replica-modes",
                "Every replica the engine uses is RW",
            ),
            modes,
            &["volumes.longhorn.io", "engines.longhorn.io"],
        ),
    ]
}

pub(super) fn defs() -> Vec<CheckDef> {
    table().into_iter().map(|(d, _, _)| d).collect()
}

/// A volume with what belongs to it: replicas, the engines' replica modes, PVC and workload.
pub(crate) struct VolumeView<'a> {
    pub volume: &'a Volume,
    pub replicas: Vec<&'a Replica>,
    /// Replica name to mode (`RW`, `WO`, `ERR`) merged over the volume's engines.
    pub modes: BTreeMap<String, String>,
    pub engine_rebuilding: bool,
    /// The active engine, for evidence.
    pub engine: Option<crate::object::ObjectRef>,
    pub label: String,
}

impl VolumeView<'_> {
    /// A replica that serves data: not failed, running, and RW in the engine. A detached
    /// volume has no engine, so its replicas count when they are not failed.
    pub fn is_healthy(&self, r: &Replica) -> bool {
        if r.is_failed() {
            return false;
        }
        if self.volume.status.state.as_deref() == Some("detached") {
            return true;
        }
        r.status.current_state.as_deref() == Some("running")
            && self.modes.get(r.name()).is_some_and(|m| m == "RW")
    }

    pub fn is_rebuilding(&self) -> bool {
        self.engine_rebuilding || self.modes.values().any(|m| m == "WO")
    }
}

pub(crate) fn views<'a>(ctx: &Ctx<'a>, lh: &'a Longhorn) -> Vec<VolumeView<'a>> {
    // Replicas, engines and PersistentVolumes by volume name, each list read once.
    let mut replicas_of: HashMap<&str, Vec<&'a Replica>> = HashMap::new();
    for replica in &lh.replicas {
        if let Some(volume) = replica.volume_name() {
            replicas_of.entry(volume).or_default().push(replica);
        }
    }
    let mut engines_of: HashMap<&str, Vec<&'a LonghornEngine>> = HashMap::new();
    for engine in &lh.engines {
        if let Some(volume) = engine.volume_name() {
            engines_of.entry(volume).or_default().push(engine);
        }
    }
    let volumes: HashMap<&str, &PersistentVolume> = (ctx.snap.persistent_volumes.iter())
        .filter_map(|pv| Some((pv.metadata.name.as_deref()?, pv)))
        .collect();
    lh.volumes
        .iter()
        .map(|volume| {
            let name = volume.name();
            let replicas = replicas_of.get(name).cloned().unwrap_or_default();
            let engines = engines_of.get(name).cloned().unwrap_or_default();
            let mut modes = BTreeMap::new();
            for e in engines.iter().filter(|e| e.spec.active != Some(false)) {
                modes.extend(
                    e.status
                        .replica_mode_map
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
            }
            let engine_rebuilding = engines.iter().any(|e| {
                e.status
                    .rebuild_status
                    .values()
                    .any(|r| r.is_rebuilding == Some(true))
            });
            let engine = engines
                .iter()
                .find(|e| e.spec.active != Some(false))
                .or(engines.first())
                .map(|e| e.object_ref());
            VolumeView {
                volume,
                replicas,
                modes,
                engine_rebuilding,
                engine,
                label: label(volumes.get(name).copied(), volume),
            }
        })
        .collect()
}

/// "volume pvc-… (PVC apps/media, workload jellyfin)", the claim read from the volume's status,
/// else from its PersistentVolume `pv`.
fn label(pv: Option<&PersistentVolume>, v: &Volume) -> String {
    let ks = v.status.kubernetes_status.as_ref();
    let pvc = ks
        .and_then(|k| {
            Some(format!(
                "{}/{}",
                k.namespace.as_deref()?,
                k.pvc_name.as_deref().filter(|n| !n.is_empty())?
            ))
        })
        .or_else(|| {
            let claim = pv?.spec.as_ref()?.claim_ref.as_ref()?;
            Some(format!(
                "{}/{}",
                claim.namespace.as_deref()?,
                claim.name.as_deref()?
            ))
        });
    let workloads: Vec<&str> = ks
        .map(|k| {
            k.workloads_status
                .iter()
                .filter_map(|w| w.workload_name.as_deref())
                .collect()
        })
        .unwrap_or_default();
    let mut parts = Vec::new();
    if let Some(pvc) = pvc {
        parts.push(format!("PVC {pvc}"));
    }
    if !workloads.is_empty() {
        parts.push(format!("workload {}", workloads.join(", ")));
    }
    if parts.is_empty() {
        format!("volume {}", v.name())
    } else {
        format!("volume {} ({})", v.name(), parts.join(", "))
    }
}

pub(super) fn check(ctx: &Ctx<'_>, lh: &Longhorn, out: &mut Recorder) {
    let views = views(ctx, lh);
    for view in &views {
        let replicas: Vec<String> = view
            .replicas
            .iter()
            .map(|r| {
                let mode = view
                    .modes
                    .get(r.name())
                    .map(String::as_str)
                    .unwrap_or(if r.is_failed() { "failed" } else { "-" });
                format!("{} {mode}", r.node_id().unwrap_or("unscheduled"))
            })
            .collect();
        let spec = &view.volume.spec;
        out.fact(
            S,
            view.label.clone(),
            format!(
                "numberOfReplicas {}, robustness {}, replicas: {}",
                spec.number_of_replicas
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "unset".into()),
                view.volume
                    .status
                    .robustness
                    .as_deref()
                    .unwrap_or("unknown"),
                if replicas.is_empty() {
                    "none".into()
                } else {
                    replicas.join(", ")
                }
            ),
        );
    }
    for (def, judge, needs) in table() {
        if let Some(v) = ctx.unreadable(needs) {
            out.record(&def, v);
            continue;
        }
        let findings = views.iter().flat_map(|v| judge(ctx, &def, v)).collect();
        out.record(
            &def,
            Verdict::judged(findings, format!("{} volume(s) checked", views.len())),
        );
    }
}

fn replica_count(ctx: &Ctx<'_>, def: &CheckDef, v: &VolumeView<'_>) -> Vec<Finding> {
    let want = ctx.policy.longhorn.replicas_per_volume;
    let have = v.volume.spec.number_of_replicas;
    if have == Some(want) {
        return Vec::new();
    }
    let obj = v.volume.object_ref();
    let shown = have
        .map(|n| n.to_string())
        .unwrap_or_else(|| "unset".into());
    let why = match have {
        Some(n) if n < want => "a single node loss can lose its only copy",
        Some(_) => {
            "two nodes cannot hold more replicas apart, so the extra ones share a node or never schedule"
        }
        None => "Longhorn decides the count",
    };
    vec![def
        .finding(Severity::Error, &obj, format!("{} has numberOfReplicas {shown}; the runbook wants exactly {want} ({why})", v.label))
        .with_evidence(Evidence::field(&obj, "spec.numberOfReplicas", have))
        .with_remediation(format!("kubectl -n {} patch volumes.longhorn.io {} --type merge -p '{{\"spec\":{{\"numberOfReplicas\":{want}}}}}' (one volume at a time; approval required)", obj.namespace.as_deref().unwrap_or("longhorn-system"), obj.name))]
}

fn placement(ctx: &Ctx<'_>, def: &CheckDef, v: &VolumeView<'_>) -> Vec<Finding> {
    let nodes = &ctx.storage_nodes;
    if nodes.is_empty() {
        return Vec::new();
    }
    // Only the replicas' nodes per volume: a map of every node for every volume grew with
    // volumes × nodes.
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for r in v.replicas.iter().filter(|r| v.is_healthy(r)) {
        *per_node
            .entry(r.node_id().unwrap_or("unscheduled"))
            .or_default() += 1;
    }
    let want_nodes = usize::try_from(ctx.policy.longhorn.replicas_per_volume)
        .unwrap_or(0)
        .min(nodes.len());
    let spread = per_node
        .iter()
        .filter(|(n, c)| **c > 0 && nodes.contains(*n))
        .count();
    let stacked = per_node.values().any(|c| *c > 1);
    if spread >= want_nodes && !stacked {
        return Vec::new();
    }
    // The finding names every node, those without a healthy replica as 0.
    let mut per_node_all: BTreeMap<&str, usize> = nodes.iter().map(|n| (*n, 0)).collect();
    per_node_all.extend(per_node);
    let per_node = per_node_all;
    let obj = v.volume.object_ref();
    let counts: Vec<String> = per_node.iter().map(|(n, c)| format!("{n} {c}")).collect();
    let placed: Vec<serde_json::Value> = v
        .replicas
        .iter()
        .map(|r| serde_json::json!({"replica": r.name(), "node": r.node_id(), "state": r.status.current_state, "mode": v.modes.get(r.name()), "failed": r.is_failed()}))
        .collect();
    vec![def
        .finding(Severity::Error, &obj, format!(
            "{} has healthy replicas per node: {}; the runbook wants exactly one healthy replica on each node, so losing a node keeps a copy",
            v.label, counts.join(", ")
        ))
        .with_evidence(Evidence::with_command(&obj, "replicas.longhorn.io[].spec.nodeID", serde_json::Value::Array(placed), format!(
            "kubectl -n {} get replicas.longhorn.io -l longhornvolume={} -o custom-columns=NAME:.metadata.name,NODE:.spec.nodeID,STATE:.status.currentState",
            obj.namespace.as_deref().unwrap_or("longhorn-system"), obj.name
        )))
        .with_remediation(format!(
            "with replica-soft-anti-affinity false, set numberOfReplicas to {} and delete the surplus replica on the crowded node so Longhorn rebuilds it on the empty one (one volume at a time)",
            ctx.policy.longhorn.replicas_per_volume
        ))]
}

fn robustness(_: &Ctx<'_>, def: &CheckDef, v: &VolumeView<'_>) -> Vec<Finding> {
    let state = v.volume.status.robustness.as_deref().unwrap_or_default();
    if !matches!(state, "degraded" | "faulted") {
        return Vec::new();
    }
    let obj = v.volume.object_ref();
    let since = v
        .volume
        .status
        .last_degraded_at
        .as_deref()
        .filter(|s| !s.is_empty());
    let mut f = def
        .finding(
            Severity::Error,
            &obj,
            format!(
                "{} is {state}{}: fewer healthy replicas than it needs",
                v.label,
                since.map(|s| format!(" since {s}")).unwrap_or_default()
            ),
        )
        .with_evidence(Evidence::field(&obj, "status.robustness", state));
    f = f.with_remediation(if state == "faulted" {
        "stop: restore the volume from a backup or snapshot before any other step"
    } else {
        "let it rebuild to healthy (watch kubectl -n longhorn-system get volumes.longhorn.io) before changing anything else; remove failed replicas that keep retrying"
    });
    vec![f]
}

/// Where Kubernetes (and Longhorn, which reads it) puts a node's zone.
pub(crate) const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// A volume's soft anti-affinity for one scope: its own `enabled`/`disabled`, else the global
/// setting (Longhorn's default when the snapshot lacks it), with the evidence that decided.
fn effective_soft(
    ctx: &Ctx<'_>,
    volume: &Volume,
    field: &str,
    value: Option<&str>,
    setting: &str,
    default: bool,
) -> (bool, Evidence) {
    let obj = volume.object_ref();
    match value {
        Some("enabled") => (true, Evidence::field(&obj, field, "enabled")),
        Some("disabled") => (false, Evidence::field(&obj, field, "disabled")),
        _ => {
            let found = (ctx.snap.longhorn.as_ref())
                .and_then(|lh| lh.settings.iter().find(|s| s.name() == setting));
            match found.and_then(|s| s.parsed().map(|p| (s, p))) {
                Some((s, parsed)) => (
                    parsed.all(|v| super::longhorn::same_value(v, "true")),
                    Evidence::field(&s.object_ref(), "value", parsed.to_raw()),
                ),
                None => (
                    default,
                    Evidence::field(&obj, field, value.unwrap_or("ignored")),
                ),
            }
        }
    }
}

/// The zones the cluster's nodes are in (`""` for a node without a zone label).
fn overrides(ctx: &Ctx<'_>, def: &CheckDef, v: &VolumeView<'_>) -> Vec<Finding> {
    let obj = v.volume.object_ref();
    let spec = &v.volume.spec;
    let mut findings = Vec::new();
    // Hard zone anti-affinity wants each replica in its own zone: with fewer zones than
    // replicas (two nodes in one zone, or no zone labels at all) the rest are never scheduled.
    let (zone_soft, zone_evidence) = effective_soft(
        ctx,
        v.volume,
        "spec.replicaZoneSoftAntiAffinity",
        spec.replica_zone_soft_anti_affinity.as_deref(),
        "replica-zone-soft-anti-affinity",
        true,
    );
    let zones = &ctx.zones;
    let wanted = spec
        .number_of_replicas
        .unwrap_or(ctx.policy.longhorn.replicas_per_volume);
    if !zone_soft && !zones.is_empty() && (zones.len() as i64) < wanted {
        let named: Vec<String> = zones
            .iter()
            .map(|z| {
                if z.is_empty() {
                    "no zone label".to_owned()
                } else {
                    z.clone()
                }
            })
            .collect();
        findings.push(
            def.finding(Severity::Error, &obj, format!(
                "{} needs each replica in its own zone (zone anti-affinity is hard), but the nodes are in {} zone(s) ({}): only {} of its {wanted} replicas can be scheduled",
                v.label, zones.len(), named.join(", "), zones.len()
            ))
            .with_evidence(zone_evidence)
            .with_remediation("set spec.replicaZoneSoftAntiAffinity to enabled on the volume (or replica-zone-soft-anti-affinity to true, Longhorn's default): on two nodes the node anti-affinity is what keeps replicas apart"),
        );
    }
    // Disk anti-affinity only matters once replicas may share a node.
    let (node_soft, _) = effective_soft(
        ctx,
        v.volume,
        "spec.replicaSoftAntiAffinity",
        spec.replica_soft_anti_affinity.as_deref(),
        "replica-soft-anti-affinity",
        false,
    );
    if node_soft && spec.replica_disk_soft_anti_affinity.as_deref() == Some("enabled") {
        findings.push(
            def.finding(Severity::Warning, &obj, format!("{} sets replicaDiskSoftAntiAffinity enabled while its replicas may share a node: both copies may end up on one disk", v.label))
                .with_evidence(Evidence::field(&obj, "spec.replicaDiskSoftAntiAffinity", "enabled"))
                .with_remediation("set spec.replicaDiskSoftAntiAffinity to ignored, and keep replica anti-affinity hard"),
        );
    }
    if spec.replica_soft_anti_affinity.as_deref() == Some("enabled") {
        findings.push(
            def.finding(Severity::Warning, &obj, format!("{} sets replicaSoftAntiAffinity enabled, overriding the global hard anti-affinity: its replicas may share a node", v.label))
                .with_evidence(Evidence::field(&obj, "spec.replicaSoftAntiAffinity", "enabled"))
                .with_remediation("set spec.replicaSoftAntiAffinity to ignored so the global setting applies"),
        );
    }
    if let Some(balance) = spec
        .replica_auto_balance
        .as_deref()
        .filter(|b| !b.is_empty() && !matches!(*b, "ignored" | "disabled"))
    {
        findings.push(
            def.finding(Severity::Warning, &obj, format!("{} sets replicaAutoBalance {balance}, overriding the global setting: Longhorn may move its replicas during the migration", v.label))
                .with_evidence(Evidence::field(&obj, "spec.replicaAutoBalance", balance))
                .with_remediation("set spec.replicaAutoBalance to ignored so the global setting (disabled) applies"),
        );
    }
    findings
}

fn modes(_: &Ctx<'_>, def: &CheckDef, v: &VolumeView<'_>) -> Vec<Finding> {
    let obj = v.volume.object_ref();
    v.modes
        .iter()
        .filter(|(_, mode)| mode.as_str() != "RW")
        .map(|(replica, mode)| {
            let what = match mode.as_str() {
                "WO" => "is rebuilding (WO)".to_owned(),
                "ERR" => "has failed (ERR)".to_owned(),
                other => format!("is in mode {other}"),
            };
            let engine = v.engine.clone().unwrap_or_else(|| obj.clone());
            def.finding(Severity::Warning, &obj, format!("replica {replica} of {} {what}", v.label))
                .with_evidence(Evidence::field(&engine, &format!("status.replicaModeMap.{}", replica.replace('.', "\\.")), mode.clone()))
                .with_remediation(if mode == "WO" {
                    "wait for the rebuild to finish before the next step"
                } else {
                    "delete the failed replica once the volume has another healthy copy; Longhorn rebuilds a fresh one"
                })
        })
        .collect()
}
