//! `--probe` in the shell: one probe pod at a time, started every 15 s of cluster time, read
//! until it ends (or times out), then deleted. Each create is sent as a dry run first.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use posture_core::drill::observed::probe::{
    PROBE_EVERY, PROBE_NAMESPACE, PROBE_TIMEOUT, ProbeTarget, describe_exit, pod,
};

use super::run::DrillRunError;

/// A finished probe.
pub(super) struct ProbeResult {
    pub(super) pod: String,
    pub(super) answered: bool,
    pub(super) detail: String,
}

pub(super) struct Prober {
    target: ProbeTarget,
    started: u32,
    in_flight: Option<(String, Timestamp)>,
    next_at: Option<Timestamp>,
}

impl Prober {
    pub(super) fn new(target: ProbeTarget) -> Self {
        Self {
            target,
            started: 0,
            in_flight: None,
            next_at: None,
        }
    }

    fn api(client: &kube::Client) -> Api<Pod> {
        Api::namespaced(client.clone(), PROBE_NAMESPACE)
    }

    /// Reads the probe in flight (returning its result once it has ended) or starts the next.
    pub(super) async fn step(
        &mut self,
        client: &kube::Client,
        now: Timestamp,
    ) -> Result<Option<ProbeResult>, DrillRunError> {
        let finished = self.read(client, now).await?;
        if self.in_flight.is_none() {
            self.start(client, now).await?;
        }
        Ok(finished)
    }

    /// The result of the probe in flight, once it has ended (its pod is then deleted).
    async fn read(
        &mut self,
        client: &kube::Client,
        now: Timestamp,
    ) -> Result<Option<ProbeResult>, DrillRunError> {
        let api = Self::api(client);
        if let Some((name, started_at)) = self.in_flight.clone() {
            let found = api
                .get_opt(&name)
                .await
                .map_err(|source| DrillRunError::Api {
                    what: format!("reading probe pod {name}"),
                    source,
                })?;
            let ended = found.as_ref().and_then(ended);
            let result = match (found, ended) {
                (None, _) => Some((false, "the probe pod is gone".to_owned())),
                (Some(_), Some(code)) => Some((code == 0, describe_exit(code).to_owned())),
                (Some(_), None) if now.duration_since(started_at) >= PROBE_TIMEOUT => Some((
                    false,
                    format!("no answer within {}s", PROBE_TIMEOUT.as_secs()),
                )),
                (Some(_), None) => None,
            };
            let Some((answered, detail)) = result else {
                return Ok(None);
            };
            self.stop(client).await;
            return Ok(Some(ProbeResult {
                pod: format!("{PROBE_NAMESPACE}/{name}"),
                answered,
                detail,
            }));
        }
        Ok(None)
    }

    /// Starts the next probe when it is due.
    async fn start(&mut self, client: &kube::Client, now: Timestamp) -> Result<(), DrillRunError> {
        if self.next_at.is_some_and(|at| now < at) {
            return Ok(());
        }
        let api = Self::api(client);
        self.started += 1;
        let name = format!("posture-probe-{}-{}", std::process::id(), self.started);
        let manifest: Pod = serde_json::from_value(pod(&self.target, &name))
            .map_err(|e| DrillRunError::Probe(e.to_string()))?;
        let refused = |source| DrillRunError::Api {
            what: format!("creating probe pod {name}"),
            source,
        };
        let dry_run = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        api.create(&dry_run, &manifest).await.map_err(refused)?;
        api.create(&PostParams::default(), &manifest)
            .await
            .map_err(refused)?;
        self.in_flight = Some((name, now));
        self.next_at = Some(now + PROBE_EVERY);
        Ok(())
    }

    /// Deletes the probe in flight, if any; a probe pod left behind is harmless and labelled
    /// `posture.dev/probe`.
    pub(super) async fn stop(&mut self, client: &kube::Client) {
        if let Some((name, _)) = self.in_flight.take()
            && let Err(error) = Self::api(client)
                .delete(&name, &DeleteParams::background())
                .await
        {
            tracing::warn!(%error, pod = %name, "could not delete the probe pod");
        }
    }
}

/// The exit code of a probe pod that has ended.
fn ended(pod: &Pod) -> Option<i32> {
    let status = pod.status.as_ref()?;
    match status.phase.as_deref() {
        Some("Succeeded" | "Failed") => {}
        _ => return None,
    }
    let code = (status.container_statuses.as_deref().unwrap_or_default())
        .iter()
        .find_map(|c| c.state.as_ref()?.terminated.as_ref().map(|t| t.exit_code));
    Some(
        code.unwrap_or(if status.phase.as_deref() == Some("Succeeded") {
            0
        } else {
            1
        }),
    )
}
