//! Workload stages: pin unguarded apps to the primary, spread the ingress controller and CoreDNS
//! over both nodes.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodSpec;
use serde_json::{Value, json};

use super::patch::{Edit, path, to_json};
use super::{Action, ChangeDraft, Context, Placement, PlanError, PostCondition, StageDraft};
use crate::object::ObjectRef;
use crate::ownership::owner_of;
use crate::report::Section;

const HOSTNAME_KEY: &str = "kubernetes.io/hostname";
/// The cordon taint. Platform pods that must run on both nodes tolerate it, as DaemonSets do;
/// apps do not, so the cordon keeps them on the primary as the runbook wants.
const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";
/// haproxytech's controller serves its health check here.
const HAPROXYTECH_HEALTH: (&str, i32) = ("/healthz", 1042);

/// True for the HAProxy ingress controller's pod template (by image), or the one the policy names.
fn is_ingress_controller(cx: &Context, ns: &str, name: &str, spec: Option<&PodSpec>) -> bool {
    if let Some(named) = &cx.policy.ingress.controller {
        return named.namespace == ns && named.name == name;
    }
    spec.is_some_and(|s| {
        s.containers.iter().any(|c| {
            let image = c.image.as_deref().unwrap_or_default();
            image.contains("haproxy") && image.contains("ingress")
        })
    })
}

fn is_coredns(d: &Deployment) -> bool {
    let labelled = d
        .metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.get("k8s-app").map(String::as_str) == Some("kube-dns"));
    labelled
        || pod_spec(d).is_some_and(|s| {
            s.containers
                .iter()
                .any(|c| c.image.as_deref().unwrap_or_default().contains("coredns"))
        })
}

fn pod_spec(d: &Deployment) -> Option<&PodSpec> {
    d.spec.as_ref()?.template.spec.as_ref()
}

fn namespace_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("default")
}

/// Namespaces whose workloads are the platform, not apps: the Kubernetes system namespaces and
/// Longhorn's.
fn is_platform_namespace(cx: &Context, ns: &str) -> bool {
    let longhorn_ns = cx
        .snapshot
        .longhorn
        .as_ref()
        .and_then(|lh| lh.settings.first())
        .and_then(|s| s.metadata.namespace.as_deref());
    ns.starts_with("kube-") || Some(ns) == longhorn_ns
}

fn tolerates_cordon(spec: &PodSpec) -> bool {
    spec.tolerations.as_ref().is_some_and(|ts| {
        ts.iter().any(|t| {
            t.key.as_deref() == Some(UNSCHEDULABLE_TAINT)
                || (t.key.is_none() && t.operator.as_deref() == Some("Exists"))
        })
    })
}

/// An app lacks guardrails when nothing in its pod template keeps it on one node.
fn lacks_guardrails(spec: &PodSpec) -> bool {
    let selector = spec
        .node_selector
        .as_ref()
        .is_some_and(|s| s.contains_key(HOSTNAME_KEY));
    let affinity = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .is_some_and(|n| {
            n.required_during_scheduling_ignored_during_execution
                .is_some()
        });
    !selector && !affinity
}

/// Preconditions: apps without a placement guardrail are pinned to the primary before anything
/// opens the secondary to scheduling.
///
/// The guardrail is `nodeSelector: {kubernetes.io/hostname: <primary>}` rather than required
/// node affinity: a nodeSelector is ANDed with any affinity a chart adds later, so it can only
/// narrow placement; it is one key, so its `test` and its inverse (remove that key) touch
/// nothing else; and it is what the runbook's other apps already use.
pub(crate) fn preconditions(cx: &mut Context) -> Result<Vec<StageDraft>, PlanError> {
    let mut changes = Vec::new();
    let mut candidates: Vec<(ObjectRef, Value, Option<String>, i32, &PodSpec, _)> = Vec::new();
    for d in &cx.snapshot.deployments {
        let ns = namespace_of(&d.metadata);
        let name = d.metadata.name.as_deref().unwrap_or_default();
        if let Some(spec) = pod_spec(d)
            && !is_coredns(d)
            && !is_ingress_controller(cx, ns, name, Some(spec))
        {
            let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            candidates.push((
                ObjectRef::of(d),
                to_json(d),
                d.metadata.resource_version.clone(),
                replicas,
                spec,
                owner_of(&d.metadata),
            ));
        }
    }
    for s in &cx.snapshot.stateful_sets {
        if let Some(spec) = s.spec.as_ref().and_then(|sp| sp.template.spec.as_ref()) {
            let replicas = s.spec.as_ref().and_then(|sp| sp.replicas).unwrap_or(1);
            candidates.push((
                ObjectRef::of(s),
                to_json(s),
                s.metadata.resource_version.clone(),
                replicas,
                spec,
                owner_of(&s.metadata),
            ));
        }
    }
    for (object, observed, rv, replicas, spec, owner) in candidates {
        let ns = object.namespace.as_deref().unwrap_or_default();
        if is_platform_namespace(cx, ns) || tolerates_cordon(spec) || !lacks_guardrails(spec) {
            continue;
        }
        let edits = [Edit::Set(
            path(&["spec", "template", "spec", "nodeSelector", HOSTNAME_KEY]),
            json!(cx.primary),
        )];
        if let Some(built) = super::patch_change(&object, &observed, &edits)? {
            changes.push(ChangeDraft {
                summary: format!(
                    "pin {object} to {} with a nodeSelector (it has no placement guardrail)",
                    cx.primary
                ),
                post_condition: PostCondition::RolloutComplete {
                    workload: object.clone(),
                    replicas,
                    placement: Placement::AllOn {
                        node: cx.primary.clone(),
                    },
                },
                object,
                resource_version: rv,
                owner,
                action: Action::Patch {
                    forward: built.forward,
                    inverse: built.inverse,
                },
            });
        }
    }
    Ok(vec![StageDraft {
        id: "preconditions".into(),
        section: Section::Preconditions,
        title: "Pin apps without guardrails to the primary".into(),
        approval: false,
        rationale: "No surprise scheduling: every app stays on the primary until explicitly \
                    migrated, so apps that nothing keeps there are pinned before the secondary \
                    is opened to platform pods. Pinning rolls the app's pods once."
            .into(),
        changes,
    }])
}

fn match_labels(d: &Deployment) -> BTreeMap<String, String> {
    d.spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default()
}

/// Index of the container to edit: the one whose image matches, else the first.
fn container_index(spec: &PodSpec, image_hint: &str) -> usize {
    spec.containers
        .iter()
        .position(|c| c.image.as_deref().unwrap_or_default().contains(image_hint))
        .unwrap_or(0)
}

fn container_path(index: usize, rest: &[&str]) -> Vec<String> {
    let mut p = path(&["spec", "template", "spec", "containers"]);
    p.push(index.to_string());
    p.extend(rest.iter().map(|s| (*s).to_owned()));
    p
}

/// Tolerations with the cordon toleration appended, if missing.
fn tolerations_with_cordon(spec: &PodSpec) -> Option<Value> {
    if tolerates_cordon(spec) {
        return None;
    }
    let mut list = match serde_json::to_value(spec.tolerations.clone().unwrap_or_default()) {
        Ok(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    list.push(json!({"key": UNSCHEDULABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"}));
    Some(Value::Array(list))
}

fn pdb_change(cx: &Context, d: &Deployment, name: &str) -> Option<ChangeDraft> {
    let ns = namespace_of(&d.metadata);
    let labels = match_labels(d);
    let covered = cx.snapshot.pod_disruption_budgets.iter().any(|p| {
        p.metadata.namespace.as_deref() == Some(ns)
            && p.spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .and_then(|s| s.match_labels.as_ref())
                == Some(&labels)
    });
    if covered || labels.is_empty() {
        return None;
    }
    let object = ObjectRef::new("policy/v1", "PodDisruptionBudget", Some(ns), name);
    let (key, value) = super::MANAGED_BY_LABEL;
    Some(ChangeDraft {
        summary: format!("create {object}: at most one pod down at a time"),
        post_condition: PostCondition::ObjectExists {
            object: object.clone(),
        },
        resource_version: None,
        owner: None,
        action: Action::Create {
            manifest: json!({
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": name, "namespace": ns, "labels": {key: value}},
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
            }),
        },
        object,
    })
}

fn spread(labels: &BTreeMap<String, String>, when: &str) -> Value {
    json!([{
        "maxSkew": 1,
        "topologyKey": HOSTNAME_KEY,
        "whenUnsatisfiable": when,
        "labelSelector": {"matchLabels": labels},
    }])
}

/// Probes for the ingress controller. Readiness needs two passes to join the endpoints and two
/// failures to leave them, so one slow answer during a drain does not churn endpoints; liveness
/// is slow to kill.
fn ingress_probes(http_get: &Value) -> (Value, Value) {
    let readiness = json!({
        "httpGet": http_get, "initialDelaySeconds": 5, "periodSeconds": 5,
        "timeoutSeconds": 2, "successThreshold": 2, "failureThreshold": 2,
    });
    let liveness = json!({
        "httpGet": http_get, "initialDelaySeconds": 30, "periodSeconds": 10,
        "timeoutSeconds": 3, "successThreshold": 1, "failureThreshold": 3,
    });
    (readiness, liveness)
}

/// 2.2 Ingress: two replicas, one per node (required anti-affinity and a DoNotSchedule spread),
/// strict probes, a PDB, and a rollout that cannot deadlock: with required anti-affinity and two
/// nodes a surge pod has nowhere to go, so the rollout takes one old pod down first
/// (maxSurge 0, maxUnavailable 1).
pub(crate) fn ingress(cx: &mut Context) -> Result<Vec<StageDraft>, PlanError> {
    let Some(d) = cx.snapshot.deployments.iter().find(|d| {
        is_ingress_controller(
            cx,
            namespace_of(&d.metadata),
            d.metadata.name.as_deref().unwrap_or_default(),
            pod_spec(d),
        )
    }) else {
        cx.notes
            .push("no HAProxy ingress controller Deployment found; ingress not planned".into());
        return Ok(Vec::new());
    };
    let Some(spec) = pod_spec(d) else {
        return Ok(Vec::new());
    };
    let object = ObjectRef::of(d);
    let name = d.metadata.name.clone().unwrap_or_default();
    let labels = match_labels(d);
    let replicas = (cx.nodes.len() as i32).max(cx.policy.ingress.min_replicas);
    let index = container_index(spec, "ingress");
    let container = &spec.containers[index.min(spec.containers.len().saturating_sub(1))];
    let http_get = container
        .liveness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .map(|h| serde_json::to_value(h).unwrap_or(Value::Null))
        .or_else(|| {
            container
                .image
                .as_deref()
                .is_some_and(|i| i.contains("haproxytech"))
                .then(|| {
                    json!({"path": HAPROXYTECH_HEALTH.0, "port": HAPROXYTECH_HEALTH.1, "scheme": "HTTP"})
                })
        });

    let mut edits = vec![Edit::Pin(container_path(index, &["name"]))];
    if !cx.options.ingress_daemonset {
        edits.push(Edit::Set(path(&["spec", "replicas"]), json!(replicas)));
        edits.push(Edit::Set(
            path(&["spec", "strategy"]),
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
        ));
        edits.push(Edit::Set(
            path(&["spec", "template", "spec", "affinity", "podAntiAffinity"]),
            json!({"requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": labels},
                "topologyKey": HOSTNAME_KEY,
            }]}),
        ));
        edits.push(Edit::Set(
            path(&["spec", "template", "spec", "topologySpreadConstraints"]),
            spread(&labels, "DoNotSchedule"),
        ));
    }
    edits.push(Edit::Remove(path(&[
        "spec",
        "template",
        "spec",
        "nodeSelector",
        HOSTNAME_KEY,
    ])));
    if let Some(tolerations) = tolerations_with_cordon(spec) {
        edits.push(Edit::Set(
            path(&["spec", "template", "spec", "tolerations"]),
            tolerations,
        ));
    }
    match &http_get {
        Some(http_get) => {
            let (readiness, liveness) = ingress_probes(http_get);
            edits.push(Edit::Set(
                container_path(index, &["readinessProbe"]),
                readiness,
            ));
            edits.push(Edit::Set(
                container_path(index, &["livenessProbe"]),
                liveness,
            ));
        }
        None => cx.notes.push(format!(
            "{object}: no liveness endpoint to derive a readiness probe from; probes not planned"
        )),
    }
    let observed = to_json(d);
    let owner = owner_of(&d.metadata);
    let mut changes = Vec::new();
    let built = super::patch_change(&object, &observed, &edits)?;
    if cx.options.ingress_daemonset {
        // The DaemonSet takes the Deployment's template as it would be after the edits above.
        let template_after = built
            .as_ref()
            .map(|b| &b.after)
            .unwrap_or(&observed)
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(Value::Null);
        let ds_object = ObjectRef::new(
            "apps/v1",
            "DaemonSet",
            object.namespace.as_deref(),
            name.clone(),
        );
        let exists = cx
            .snapshot
            .daemon_sets
            .iter()
            .any(|ds| ObjectRef::of(ds) == ds_object);
        if !exists {
            let (key, value) = super::MANAGED_BY_LABEL;
            changes.push(ChangeDraft {
                summary: format!("create {ds_object}: one ingress controller per node"),
                post_condition: PostCondition::RolloutComplete {
                    workload: ds_object.clone(),
                    replicas: cx.nodes.len() as i32,
                    placement: Placement::OnePerNode {
                        nodes: cx.nodes.clone(),
                    },
                },
                resource_version: None,
                owner: None,
                action: Action::Create {
                    manifest: json!({
                        "apiVersion": "apps/v1", "kind": "DaemonSet",
                        "metadata": {"name": name, "namespace": object.namespace, "labels": {key: value}},
                        "spec": {
                            "selector": {"matchLabels": labels},
                            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                            "template": template_after,
                        },
                    }),
                },
                object: ds_object,
            });
        }
        let scale = super::patch_change(
            &object,
            &observed,
            &[Edit::Set(path(&["spec", "replicas"]), json!(0))],
        )?;
        if let Some(scale) = scale {
            changes.push(ChangeDraft {
                summary: format!("scale {object} to 0: the DaemonSet replaces it"),
                post_condition: PostCondition::RolloutComplete {
                    workload: object.clone(),
                    replicas: 0,
                    placement: Placement::OnePerNode { nodes: Vec::new() },
                },
                object: object.clone(),
                resource_version: d.metadata.resource_version.clone(),
                owner: owner.clone(),
                action: Action::Patch {
                    forward: scale.forward,
                    inverse: scale.inverse,
                },
            });
        }
    } else if let Some(built) = built {
        changes.push(ChangeDraft {
            summary: format!(
                "{object}: {replicas} replicas, one per node; strict probes; rollout maxSurge 0"
            ),
            post_condition: PostCondition::RolloutComplete {
                workload: object.clone(),
                replicas,
                placement: Placement::OnePerNode {
                    nodes: cx.nodes.clone(),
                },
            },
            object: object.clone(),
            resource_version: d.metadata.resource_version.clone(),
            owner,
            action: Action::Patch {
                forward: built.forward,
                inverse: built.inverse,
            },
        });
    }
    changes.extend(pdb_change(cx, d, &name));
    Ok(vec![StageDraft {
        id: "ingress".into(),
        section: Section::Ingress,
        title: "2.2 Ingress: one controller per node".into(),
        approval: false,
        rationale: "Two controller replicas, one per node, keep ingress up through the loss of \
                    either node. The controller tolerates the cordon like the DaemonSets do; \
                    apps still cannot schedule on the secondary."
            .into(),
        changes,
    }])
}

/// 2.3 CoreDNS: two replicas, preferred anti-affinity and a ScheduleAnyway spread (DNS must
/// come up even when only one node is available), the runbook's resources and health endpoints,
/// and a PDB.
pub(crate) fn coredns(cx: &mut Context) -> Result<Vec<StageDraft>, PlanError> {
    let Some(d) = cx.snapshot.deployments.iter().find(|d| is_coredns(d)) else {
        cx.notes
            .push("no CoreDNS Deployment found; CoreDNS not planned".into());
        return Ok(Vec::new());
    };
    let Some(spec) = pod_spec(d) else {
        return Ok(Vec::new());
    };
    let policy = &cx.policy.coredns;
    let object = ObjectRef::of(d);
    let labels = match_labels(d);
    let index = container_index(spec, "coredns");
    let mut edits = vec![
        Edit::Pin(container_path(index, &["name"])),
        Edit::Set(path(&["spec", "replicas"]), json!(policy.replicas)),
        Edit::Set(
            path(&["spec", "template", "spec", "affinity", "podAntiAffinity"]),
            json!({"preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100,
                "podAffinityTerm": {"labelSelector": {"matchLabels": labels}, "topologyKey": HOSTNAME_KEY},
            }]}),
        ),
        Edit::Set(
            path(&["spec", "template", "spec", "topologySpreadConstraints"]),
            spread(&labels, "ScheduleAnyway"),
        ),
        Edit::Set(
            container_path(index, &["resources"]),
            json!({
                "requests": {"cpu": policy.requests.cpu, "memory": policy.requests.memory},
                "limits": {"cpu": policy.limits.cpu, "memory": policy.limits.memory},
            }),
        ),
        Edit::Set(
            container_path(index, &["readinessProbe", "httpGet", "path"]),
            json!(policy.readiness_path),
        ),
        Edit::Set(
            container_path(index, &["readinessProbe", "httpGet", "port"]),
            json!(policy.readiness_port),
        ),
        Edit::Set(
            container_path(index, &["livenessProbe", "httpGet", "path"]),
            json!(policy.liveness_path),
        ),
        Edit::Set(
            container_path(index, &["livenessProbe", "httpGet", "port"]),
            json!(policy.liveness_port),
        ),
    ];
    if let Some(tolerations) = tolerations_with_cordon(spec) {
        edits.push(Edit::Set(
            path(&["spec", "template", "spec", "tolerations"]),
            tolerations,
        ));
    }
    let mut changes = Vec::new();
    if let Some(built) = super::patch_change(&object, &to_json(d), &edits)? {
        changes.push(ChangeDraft {
            summary: format!(
                "{object}: {} replicas spread over the nodes, runbook resources and probes",
                policy.replicas
            ),
            post_condition: PostCondition::RolloutComplete {
                workload: object.clone(),
                replicas: policy.replicas,
                placement: Placement::OnePerNode {
                    nodes: cx.nodes.clone(),
                },
            },
            object: object.clone(),
            resource_version: d.metadata.resource_version.clone(),
            owner: owner_of(&d.metadata),
            action: Action::Patch {
                forward: built.forward,
                inverse: built.inverse,
            },
        });
    }
    let name = d.metadata.name.clone().unwrap_or_default();
    changes.extend(pdb_change(cx, d, &name));
    Ok(vec![StageDraft {
        id: "coredns".into(),
        section: Section::Coredns,
        title: "2.3 CoreDNS: two replicas spread across nodes".into(),
        approval: false,
        rationale: "Cluster DNS must survive the loss of either node. The spread is \
                    ScheduleAnyway because DNS must still start when only one node can take it."
            .into(),
        changes,
    }])
}
