//! 2.2 Ingress: one HAProxy controller per node, strict probes, a PDB, a rollout that cannot
//! deadlock.

use serde_json::{Value, json};

use super::patch::{Edit, path, to_json};
use super::workloads::{
    HOSTNAME_KEY, container_index, container_path, hard_spread, is_ingress_controller,
    match_labels, pdb_change, pod_spec, tolerations_with_cordon, unpin_edits,
};
use super::{Action, ChangeDraft, Context, Placement, PlanError, PostCondition, StageDraft};
use crate::object::ObjectRef;
use crate::ownership::owner_of;
use crate::report::Section;

/// haproxytech's controller serves its health check here.
const HAPROXYTECH_HEALTH: (&str, i32) = ("/healthz", 1042);

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
    let Some(d) = cx
        .snapshot
        .deployments
        .iter()
        .find(|d| is_ingress_controller(cx, d))
    else {
        return super::ingress_daemon::plan(cx);
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
            hard_spread(&labels, cx.snapshot),
        ));
    }
    edits.extend(unpin_edits(spec));
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
                summary: "create: one ingress controller per node".to_owned(),
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
                summary: "scale to 0: the DaemonSet replaces it".to_owned(),
                post_condition: PostCondition::RolloutComplete {
                    workload: object.clone(),
                    replicas: 0,
                    placement: Placement::Anywhere,
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
                "{replicas} replicas, one per node; strict probes; rollout maxSurge 0"
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
    changes.extend(pdb_change(cx, d, &name, replicas)?);
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
