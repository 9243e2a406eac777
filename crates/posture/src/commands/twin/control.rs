//! `posture twin fault` and `posture twin advance`: requests to a served twin's control
//! endpoint, found from the kubeconfig like every other command finds its cluster.

use clap::Subcommand;
use posture_twin::fault::Fault;

use super::TwinError;
use crate::cli::{GlobalArgs, parse_error_status, parse_namespaced_name, parse_rate};
use crate::error::{CliError, exit};

/// The fault vocabulary of [`Fault`], spelled for the command line.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum FaultCommand {
    /// Stop the node's kubelet: NotReady after the grace period, pods evicted after tolerations.
    StopNode { node: String },
    /// Start a stopped node again.
    StartNode { node: String },
    /// Cut the node off from the control plane; its workloads keep running.
    PartitionNode { node: String },
    /// End a partition.
    HealNode { node: String },
    /// Make a pod's containers exit repeatedly (NAMESPACE/POD).
    CrashLoop {
        #[arg(value_parser = parse_namespaced_name, value_name = "NS/POD")]
        pod: (String, String),
    },
    /// Make a pod's readiness alternate (NAMESPACE/POD).
    FlapReadiness {
        #[arg(value_parser = parse_namespaced_name, value_name = "NS/POD")]
        pod: (String, String),
        /// Seconds between changes.
        #[arg(long, default_value_t = 30)]
        period: u32,
    },
    /// Make a lease change holder repeatedly (NAMESPACE/NAME).
    LeaseThrash {
        #[arg(value_parser = parse_namespaced_name, value_name = "NS/NAME")]
        lease: (String, String),
        /// Seconds between changes.
        #[arg(long, default_value_t = 10)]
        period: u32,
    },
    /// Make Longhorn rebuilds fail (of one volume, or of every volume).
    FailRebuilds { volume: Option<String> },
    /// Make Longhorn rebuilds take FACTOR times as long.
    SlowRebuilds { factor: u32 },
    /// Answer a share (0.0 to 1.0) of API requests with an error.
    ApiErrors {
        #[arg(value_parser = parse_rate)]
        rate: f64,
        /// Status code of the injected errors.
        #[arg(long, default_value_t = 500, value_parser = parse_error_status)]
        status: u16,
    },
    /// Hold a share (0.0 to 1.0) of API requests until the faults are cleared.
    ApiTimeouts {
        #[arg(value_parser = parse_rate)]
        rate: f64,
    },
    /// Carry out writes to PLURAL (e.g. settings) and then never answer them, until the faults
    /// are cleared: the client times out not knowing that they landed.
    LostReplies { plural: String },
    /// Restart the API server: every open watch ends.
    RestartApi,
    /// Compact etcd's history up to now: watches resuming from before and paged lists begun
    /// before are answered 410 Gone and start over.
    Compact,
    /// Remove every fault.
    Clear,
}

impl FaultCommand {
    pub(crate) fn to_fault(&self) -> Fault {
        match self.clone() {
            Self::StopNode { node } => Fault::StopNode { node },
            Self::StartNode { node } => Fault::StartNode { node },
            Self::PartitionNode { node } => Fault::PartitionNode { node },
            Self::HealNode { node } => Fault::HealNode { node },
            Self::CrashLoop {
                pod: (namespace, pod),
            } => Fault::CrashLoop { namespace, pod },
            Self::FlapReadiness {
                pod: (namespace, pod),
                period,
            } => Fault::FlapReadiness {
                namespace,
                pod,
                period_seconds: period,
            },
            Self::LeaseThrash {
                lease: (namespace, name),
                period,
            } => Fault::LeaseThrash {
                namespace,
                name,
                period_seconds: period,
            },
            Self::FailRebuilds { volume } => Fault::FailRebuilds { volume },
            Self::SlowRebuilds { factor } => Fault::SlowRebuilds { factor },
            Self::ApiErrors { rate, status } => Fault::ApiErrors { rate, status },
            Self::ApiTimeouts { rate } => Fault::ApiTimeouts { rate },
            Self::LostReplies { plural } => Fault::LostReplies { plural },
            Self::RestartApi => Fault::RestartApi,
            Self::Compact => Fault::Compact,
            Self::Clear => Fault::ClearAll,
        }
    }
}

pub(super) fn fault(global: &GlobalArgs, command: &FaultCommand) -> Result<u8, CliError> {
    let fault = command.to_fault();
    let body = serde_json::to_vec(&fault).map_err(|e| CliError::Serialize {
        what: "fault",
        source: Box::new(e),
    })?;
    let answer = post(global, "/twin/v1/faults", body).map_err(|error| match error {
        // The twin has no such node, pod, lease or volume: the person named it wrong.
        CliError::Twin(TwinError::Control {
            source: kube::Error::Api(status),
            ..
        }) if matches!(status.code, 404 | 422) => CliError::Twin(TwinError::NoTarget {
            fault: describe(&fault),
            message: status.message,
        }),
        other => other,
    })?;
    println!("injected {}", describe(&fault));
    tracing::debug!(%answer, "twin answered");
    Ok(exit::OK)
}

pub(super) fn advance(global: &GlobalArgs, seconds: f64) -> Result<u8, CliError> {
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(TwinError::Value(format!(
            "seconds must be a non-negative number, got {seconds}"
        ))
        .into());
    }
    let body = serde_json::json!({ "seconds": seconds })
        .to_string()
        .into_bytes();
    let answer = post(global, "/twin/v1/advance", body)?;
    let now = serde_json::from_str::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| v.get("now").and_then(|n| n.as_str()).map(str::to_owned))
        .unwrap_or(answer);
    println!("twin time is now {now}");
    Ok(exit::OK)
}

/// The fault as the person typed it, e.g. `stop-node worker-1`.
fn describe(fault: &Fault) -> String {
    let json = serde_json::to_value(fault).unwrap_or_default();
    let mut words = Vec::new();
    if let Some(map) = json.as_object() {
        if let Some(kind) = map.get("type").and_then(|t| t.as_str()) {
            words.push(kind.to_owned());
        }
        for (key, value) in map.iter().filter(|(k, _)| k.as_str() != "type") {
            match value {
                serde_json::Value::String(s) => words.push(s.clone()),
                serde_json::Value::Null => {}
                other => words.push(format!("{key}={other}")),
            }
        }
    }
    words.join(" ")
}

/// POSTs JSON to the twin named by the kubeconfig and returns its answer.
fn post(global: &GlobalArgs, path: &str, body: Vec<u8>) -> Result<String, CliError> {
    crate::commands::with_client(global, async |client, cluster| {
        let request = http::Request::post(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|e| TwinError::Value(e.to_string()))?;
        client.request_text(request).await.map_err(|source| {
            CliError::from(TwinError::Control {
                server: cluster.server,
                source,
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_described_as_typed() {
        let fault = FaultCommand::FlapReadiness {
            pod: ("db".into(), "pg-0".into()),
            period: 15,
        }
        .to_fault();
        assert_eq!(describe(&fault), "flap-readiness db period_seconds=15 pg-0");
        assert_eq!(describe(&Fault::ClearAll), "clear-all");
    }
}
