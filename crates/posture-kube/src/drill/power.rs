//! Taking a node away and bringing it back. The twin does it through its fault endpoint; on a
//! real cluster a person powers the node off or stops its k3s agent when posture says so, and
//! posture only watches the node's Ready condition.

use super::run::DrillRunError;

/// How the node is stopped and started for a node-loss drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    /// A posture twin: `stop-node` and `start-node` faults.
    Twin,
    /// A real cluster: the person does it when told.
    Person,
}

/// True when the cluster is a posture twin (it answers its control endpoint's clock).
pub async fn is_twin(client: &kube::Client) -> bool {
    let Ok(request) = http::Request::get("/twin/v1/now").body(Vec::new()) else {
        return false;
    };
    match client.request::<serde_json::Value>(request).await {
        Ok(answer) => answer.get("now").is_some_and(serde_json::Value::is_string),
        Err(_) => false,
    }
}

/// Sends a node fault (`stop-node` or `start-node`) to the twin.
pub(super) async fn twin_fault(
    client: &kube::Client,
    kind: &str,
    node: &str,
) -> Result<(), DrillRunError> {
    let body = serde_json::json!({"type": kind, "node": node}).to_string();
    let request = http::Request::post("/twin/v1/faults")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body.into_bytes())
        .map_err(|e| DrillRunError::Twin(e.to_string()))?;
    client
        .request_text(request)
        .await
        .map(|_| ())
        .map_err(|e| DrillRunError::Twin(format!("{kind} {node}: {e}")))
}
