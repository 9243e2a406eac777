//! The pod eviction subresource: deletes a pod unless a disruption budget forbids it.
//!
//! The simulation computes each budget's `status.disruptionsAllowed`; eviction only reads it
//! and spends one disruption when it evicts, as the real API server does. As there, a pod that
//! cannot be disrupted any further (finished, Pending, or already being deleted) goes whatever
//! its budget says, and a pod that is not ready goes without spending a disruption while the
//! budget is met.

use axum::response::Response;
use serde_json::{Value, json};

use super::objects::{Target, parse_body, write};
use super::selectors::label_selector_matches;
use super::status::{ApiError, json_response, success};
use super::{Request, Shared};
use crate::resources;
use crate::store::ObjectKey;

pub(crate) fn evict(
    shared: &Shared,
    target: &Target,
    request: &Request,
) -> Result<Response, ApiError> {
    let eviction = parse_body(request)?;
    let dry_run = request.query.dry_run()
        || eviction
            .pointer("/deleteOptions/dryRun")
            .and_then(Value::as_array)
            .is_some_and(|modes| modes.iter().any(|m| m == "All"));
    let pod_key = target.key();
    let name = target.name.clone().unwrap_or_default();
    let namespace = target.namespace.clone().unwrap_or_default();
    let pdbs = resources::by_plural("policy", "poddisruptionbudgets")
        .expect("poddisruptionbudgets are a served resource");
    write(shared, dry_run, |twin| {
        let pod = twin
            .store
            .get(&pod_key)
            .ok_or_else(|| ApiError::not_found(target.rt, &name))?;
        let phase = pod.pointer("/status/phase").and_then(Value::as_str);
        let deleting = pod
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null());
        let ignores_budgets = deleting || matches!(phase, Some("Succeeded" | "Failed" | "Pending"));
        let ready = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        let labels = pod.pointer("/metadata/labels");
        let budgets: Vec<(String, Value)> = twin
            .store
            .list(pdbs, Some(&namespace))
            .filter(|(_, pdb)| {
                pdb.pointer("/spec/selector")
                    .is_some_and(|selector| label_selector_matches(selector, labels))
            })
            .map(|(key, pdb)| (key.name.clone(), pdb.clone()))
            .collect();
        if !ignores_budgets && budgets.len() > 1 {
            return Err(ApiError::new(
                500,
                "InternalError",
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
        let budget = if ignores_budgets {
            None
        } else {
            budgets.first()
        };
        if let Some((budget_name, pdb)) = budget {
            let count = |field: &str| {
                pdb.pointer(&format!("/status/{field}"))
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            };
            let allowed = count("disruptionsAllowed");
            let (current, desired) = (count("currentHealthy"), count("desiredHealthy"));
            let spares_budget = !ready && desired > 0 && current >= desired;
            if allowed < 1 && !spares_budget {
                return Err(ApiError::new(
                    429,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                )
                .with_details(json!({
                    "causes": [{
                        "reason": "DisruptionBudget",
                        "message": format!(
                            "The disruption budget {budget_name} needs {desired} healthy pods and has {current} currently"
                        ),
                    }],
                })));
            }
            if !dry_run && !spares_budget {
                let pdb_key = ObjectKey::new(pdbs, &namespace, budget_name);
                twin.store.modify(&pdb_key, |pdb| {
                    pdb["status"]["disruptionsAllowed"] = json!(allowed - 1);
                });
            }
        }
        twin.store
            .delete(&pod_key, dry_run)
            .map_err(|e| ApiError::from_store(target.rt, e))
    })?;
    Ok(json_response(201, &success(201)))
}
