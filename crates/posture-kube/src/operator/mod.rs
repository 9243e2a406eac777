//! `posture operator`: the checks running in the cluster. Instances elect a leader on a Lease;
//! the leader collects and checks every interval, and soon after the cluster changes, runs the
//! watch detectors all the while, and keeps a `PostureReport` (status conditions per section,
//! the counts, the findings, the active alerts) in its namespace. Read-only: it writes only its
//! Lease, its report and Events, unless told to `--enforce`.

pub mod enforce;
mod feed;
pub mod leader;
pub mod report;
pub mod schedule;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use posture_core::Policy;
use posture_core::detect::{Alert, Detectors};
use posture_core::report::Section;

use crate::watch::Update;
use crate::watch::metrics::AlertMetrics;
use schedule::CheckSchedule;

use leader::{Elector, LeaderSettings};
use report::{PostureReport, PostureReportSpec, PostureReportStatus, status_of};

#[derive(Clone)]
pub struct OperatorSettings {
    pub leader: LeaderSettings,
    pub interval: Duration,
    /// How long the cluster must be quiet after a change before the check it brings forward.
    pub debounce: Duration,
    /// The report's name, in the leader's namespace.
    pub report: String,
    pub policy: Policy,
    /// `--enforce`: the sections to apply after each check.
    pub enforce: Option<enforce::Enforcement>,
}

/// What `/metrics` shows, updated by the loop.
#[derive(Debug, Default, Clone)]
pub struct OperatorState {
    pub leader: bool,
    pub lease_transitions: u64,
    pub checks: u64,
    pub check_failures: u64,
    /// Unix seconds of the latest completed check.
    pub last_check: Option<i64>,
    pub last_duration: Duration,
    /// Findings of the latest check by (section, severity).
    pub findings: Vec<(Section, &'static str, u64)>,
    pub suppressed: u64,
    /// Longhorn volumes as the latest check read them.
    pub volumes: Vec<VolumeState>,
}

/// One Longhorn volume: its robustness and its working replicas per node.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct VolumeState {
    pub name: String,
    pub robustness: String,
    pub replicas_per_node: Vec<(String, u64)>,
}

/// The volumes of `snapshot`, with the replicas Longhorn has not marked failed, per node. The
/// replicas are counted in one pass, not once per volume.
pub fn volumes_of(snapshot: &posture_core::Snapshot) -> Vec<VolumeState> {
    use std::collections::{BTreeMap, HashMap};
    let Some(longhorn) = &snapshot.longhorn else {
        return Vec::new();
    };
    let mut per_volume: HashMap<&str, BTreeMap<&str, u64>> = HashMap::new();
    for replica in longhorn.replicas.iter().filter(|r| !r.is_failed()) {
        if let (Some(volume), Some(node)) = (replica.volume_name(), replica.node_id()) {
            *per_volume
                .entry(volume)
                .or_default()
                .entry(node)
                .or_default() += 1;
        }
    }
    longhorn
        .volumes
        .iter()
        .map(|volume| VolumeState {
            name: volume.name().to_owned(),
            robustness: volume
                .status
                .robustness
                .clone()
                .unwrap_or_else(|| "unknown".to_owned()),
            replicas_per_node: per_volume
                .get(volume.name())
                .into_iter()
                .flatten()
                .map(|(node, count)| ((*node).to_owned(), *count))
                .collect(),
        })
        .collect()
}

/// Runs until `stop` becomes true; gives the lease up on the way out.
///
/// While it leads, the instance also watches the cluster: the watch detectors run on every
/// signal (their alerts in `alerts` and in the report), and a signal about something `check`
/// judges (a pod placed or gone, a node's readiness, endpoints, Longhorn) brings the next check
/// forward, debounced by [`schedule::CheckSchedule`]. A standby watches nothing.
pub async fn run(
    client: &kube::Client,
    cluster: &crate::ClusterEndpoint,
    settings: &OperatorSettings,
    state: Arc<Mutex<OperatorState>>,
    alerts: Arc<AlertMetrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut elector = Elector::new(client, settings.leader.clone());
    let recorder = events_recorder(client, settings);
    let reports: Api<PostureReport> = Api::namespaced(client.clone(), &settings.leader.namespace);
    let mut schedule = CheckSchedule::new(settings.interval, settings.debounce, Instant::now());
    let mut watching: Option<Watching> = None;
    let mut next_round = Instant::now();
    loop {
        if Instant::now() >= next_round {
            let leading = elector.round().await;
            next_round = Instant::now() + settings.leader.retry_period;
            if let Ok(mut s) = state.lock() {
                s.leader = leading;
                s.lease_transitions = elector.transitions;
            }
            if !leading {
                schedule.standby(Instant::now());
                if watching.take().is_some() {
                    alerts.forget_active();
                }
            } else if watching.is_none() {
                watching = Some(Watching::start(client, settings));
            }
        }
        let leading = watching.is_some();
        if leading && schedule.is_due(Instant::now()) {
            schedule.checked(Instant::now());
            let active = watching.as_ref().map(Watching::lines).unwrap_or_default();
            let outcome = check_once(
                client,
                cluster,
                settings,
                &reports,
                Some(&recorder),
                &active,
            )
            .await;
            record(&state, outcome);
        }
        let wake = if leading {
            next_round.min(schedule.due_at())
        } else {
            next_round
        };
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            fed = async {
                match watching.as_mut() {
                    Some(w) => w.feed.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some(w) = watching.as_mut()
                    && w.take(fed, &alerts)
                {
                    schedule.changed(Instant::now());
                }
                if watching.as_ref().is_some_and(|w| w.ended) {
                    // Started again at the next round.
                    watching = None;
                    alerts.forget_active();
                }
            }
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            elector.release().await;
            return;
        }
    }
}

/// Records a check's outcome for `/metrics`.
fn record(state: &Mutex<OperatorState>, outcome: Result<Checked, String>) {
    let Ok(mut s) = state.lock() else {
        return;
    };
    s.checks += 1;
    match outcome {
        Ok(Checked {
            report,
            took,
            volumes,
            ..
        }) => {
            s.volumes = volumes;
            s.last_check = Some(jiff::Timestamp::now().as_second());
            s.last_duration = took;
            s.suppressed = report.summary.suppressed as u64;
            s.findings = findings_by_section(&report);
        }
        Err(error) => {
            s.check_failures += 1;
            tracing::warn!(%error, "check failed");
        }
    }
}

/// The leader's watch and the detectors it feeds.
struct Watching {
    feed: feed::WatchFeed,
    detectors: Detectors,
    /// Active alerts: id → line for the report.
    active: std::collections::BTreeMap<String, String>,
    ended: bool,
}

impl Watching {
    fn start(client: &kube::Client, settings: &OperatorSettings) -> Self {
        let lease = (&*settings.leader.namespace, &*settings.leader.name);
        Self {
            feed: feed::WatchFeed::start(client, lease),
            detectors: Detectors::new(&settings.policy.detect),
            active: std::collections::BTreeMap::new(),
            ended: false,
        }
    }

    /// Takes one update; true when it is news of a change `check` should look at.
    fn take(&mut self, fed: Option<feed::Fed>, metrics: &AlertMetrics) -> bool {
        let (update, news) = match fed {
            Some(feed::Fed::Update { update, news }) => (update, news),
            Some(feed::Fed::Ended(why)) => {
                tracing::warn!(%why, "the watch ended; starting another");
                self.ended = true;
                return false;
            }
            None => {
                self.ended = true;
                return false;
            }
        };
        match update {
            Update::Signals(signals) => {
                let mut changed = false;
                for signal in &signals {
                    metrics.signal(signal.at);
                    changed |= news && feed::signal_changes_posture(signal);
                    for alert in self.detectors.observe(signal) {
                        metrics.alert(&alert);
                        // A raised or cleared alert is news for the report.
                        changed = true;
                        match &alert {
                            Alert::Raised {
                                id,
                                detector,
                                subject,
                                message,
                                ..
                            } => {
                                self.active
                                    .insert(id.clone(), format!("{detector} {subject}: {message}"));
                            }
                            Alert::Cleared { id, .. } => {
                                self.active.remove(id);
                            }
                        }
                    }
                }
                changed
            }
            Update::Object { kind, .. } => news && feed::object_changes_posture(kind),
            Update::Note(note) => {
                tracing::debug!(%note, "watch");
                false
            }
        }
    }

    fn lines(&self) -> Vec<String> {
        self.active.values().cloned().collect()
    }
}

/// One check and its report, with no election: a CronJob's run. The report's summary, or why
/// the check could not run.
pub async fn check_and_report(
    client: &kube::Client,
    cluster: &crate::ClusterEndpoint,
    settings: &OperatorSettings,
) -> Result<(posture_core::report::Summary, Option<String>), String> {
    let reports: Api<PostureReport> = Api::namespaced(client.clone(), &settings.leader.namespace);
    let recorder = events_recorder(client, settings);
    let checked = check_once(client, cluster, settings, &reports, Some(&recorder), &[]).await?;
    Ok((checked.report.summary, checked.enforced))
}

/// One check, as [`check_once`] made and wrote it.
struct Checked {
    report: posture_core::Report,
    took: Duration,
    volumes: Vec<VolumeState>,
    /// What `--enforce` did, in words.
    enforced: Option<String>,
}

/// Collects, checks and writes the report; the report and how long the check took.
async fn check_once(
    client: &kube::Client,
    cluster: &crate::ClusterEndpoint,
    settings: &OperatorSettings,
    reports: &Api<PostureReport>,
    recorder: Option<&Recorder>,
    alerts: &[String],
) -> Result<Checked, String> {
    let started = Instant::now();
    let snapshot = crate::collect(client, cluster)
        .await
        .map_err(|e| crate::message::one_line(&e))?;
    let report = posture_core::checks::run(&snapshot, &settings.policy);
    let took = started.elapsed();
    let enforced = match &settings.enforce {
        None => None,
        Some(enforcement) => Some(
            match enforce::enforceable(
                &snapshot,
                &settings.policy,
                &cluster.server,
                &enforcement.sections,
            ) {
                Err(why) => why,
                Ok((plan, left_out)) => {
                    let done = enforce::apply(
                        enforcement,
                        &cluster.server,
                        &plan,
                        settings.policy.detect.clone(),
                    )
                    .await;
                    if left_out.is_empty() {
                        done
                    } else {
                        format!("{done}; left for approval: {}", left_out.join("; "))
                    }
                }
            },
        ),
    };
    let previous = reports
        .get_opt(&settings.report)
        .await
        .map_err(|e| crate::message::one_line(&e))?;
    let spec = PostureReportSpec {
        interval_seconds: settings.interval.as_secs(),
        writer: Some(settings.leader.identity.clone()),
    };
    // The spec is written when the report is made and when it no longer says who writes it
    // (another instance led before) or how often; most checks write only the status.
    match &previous {
        None => {
            reports
                .create(
                    &PostParams::default(),
                    &PostureReport::new(&settings.report, spec),
                )
                .await
                .map_err(|e| crate::message::one_line(&e))?;
        }
        Some(previous) if previous.spec != spec => {
            reports
                .patch(
                    &settings.report,
                    &PatchParams::default(),
                    &Patch::Merge(&serde_json::json!({ "spec": spec })),
                )
                .await
                .map_err(|e| crate::message::one_line(&e))?;
        }
        Some(_) => {}
    }
    let mut status: PostureReportStatus = status_of(
        &report,
        jiff::Timestamp::now(),
        took,
        previous.as_ref().and_then(|p| p.status.as_ref()),
    );
    status.last_enforcement = enforced.clone();
    status.alerts = alerts.to_vec();
    reports
        .patch_status(
            &settings.report,
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({ "status": status })),
        )
        .await
        .map_err(|e| crate::message::one_line(&e))?;
    if let Some(recorder) = recorder {
        let known = previous
            .as_ref()
            .and_then(|p| p.status.as_ref())
            .map(|s| s.findings.clone())
            .unwrap_or_default();
        publish_new(recorder, &report, &status, &known).await;
    }
    Ok(Checked {
        report,
        took,
        volumes: volumes_of(&snapshot),
        enforced,
    })
}

/// Events go out as this operator, from this instance.
fn events_recorder(client: &kube::Client, settings: &OperatorSettings) -> Recorder {
    Recorder::new(
        client.clone(),
        Reporter {
            controller: "posture-operator".into(),
            instance: Some(settings.leader.identity.clone()),
        },
    )
}

/// At most this many Events per check: a cluster far from the runbook gets its report, not a
/// flood.
const EVENTS_PER_CHECK: usize = 20;

/// A Warning Event on each object with a warning or error the previous report did not list.
async fn publish_new(
    recorder: &Recorder,
    report: &posture_core::Report,
    status: &PostureReportStatus,
    known: &[String],
) {
    let new = report
        .findings
        .iter()
        .filter(|f| f.severity >= posture_core::Severity::Warning)
        .zip(status.findings.iter())
        .filter(|(_, line)| !known.contains(line))
        .take(EVENTS_PER_CHECK);
    for (finding, _) in new {
        let reference = ObjectReference {
            api_version: Some(finding.object.api_version.clone()),
            kind: Some(finding.object.kind.clone()),
            namespace: finding.object.namespace.clone(),
            name: Some(finding.object.name.clone()),
            ..ObjectReference::default()
        };
        let note: String = finding.message.chars().take(1000).collect();
        let event = Event {
            type_: EventType::Warning,
            reason: reason_of(&finding.id),
            note: Some(note),
            action: "Check".into(),
            secondary: None,
        };
        if let Err(error) = recorder.publish(&event, &reference).await {
            tracing::debug!(%error, object = %finding.object, "event not published");
        }
    }
}

/// An event reason: the check id in PascalCase, at most 128 characters as the API allows.
fn reason_of(id: &str) -> String {
    report::pascal_case(id).chars().take(128).collect()
}

fn findings_by_section(report: &posture_core::Report) -> Vec<(Section, &'static str, u64)> {
    let mut out = Vec::new();
    for section in Section::ALL {
        for severity in [
            posture_core::Severity::Error,
            posture_core::Severity::Warning,
            posture_core::Severity::Info,
        ] {
            let count = report
                .findings
                .iter()
                .filter(|f| f.section == section && f.severity == severity)
                .count() as u64;
            out.push((section, severity.as_str(), count));
        }
    }
    out
}

/// The Prometheus text of `state`.
pub fn metrics_text(state: &OperatorState) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP posture_findings Findings of the latest check, by section and severity.\n# TYPE posture_findings gauge"
    );
    for (section, severity, count) in &state.findings {
        let _ = writeln!(
            out,
            "posture_findings{{section=\"{}\",severity=\"{severity}\"}} {count}",
            section.as_str()
        );
    }
    let _ = writeln!(
        out,
        "# HELP posture_findings_suppressed Findings of the latest check that were suppressed.\n\
         # TYPE posture_findings_suppressed gauge\nposture_findings_suppressed {}",
        state.suppressed
    );
    let _ = writeln!(
        out,
        "# HELP posture_leader 1 while this instance leads.\n# TYPE posture_leader gauge\nposture_leader {}",
        u8::from(state.leader)
    );
    let _ = writeln!(
        out,
        "# HELP posture_lease_transitions Leader changes the Lease records.\n\
         # TYPE posture_lease_transitions gauge\nposture_lease_transitions {}",
        state.lease_transitions
    );
    let _ = writeln!(
        out,
        "# HELP posture_checks_total Checks this instance ran.\n# TYPE posture_checks_total counter\n\
         posture_checks_total {}\n\
         # HELP posture_check_failures_total Checks that could not read the cluster or write the report.\n\
         # TYPE posture_check_failures_total counter\nposture_check_failures_total {}",
        state.checks, state.check_failures
    );
    let _ = writeln!(
        out,
        "# HELP posture_volume_robustness 1 for each Longhorn volume's robustness as last read.\n\
         # TYPE posture_volume_robustness gauge"
    );
    for volume in &state.volumes {
        let _ = writeln!(
            out,
            "posture_volume_robustness{{volume=\"{}\",robustness=\"{}\"}} 1",
            label(&volume.name),
            label(&volume.robustness)
        );
    }
    let _ = writeln!(
        out,
        "# HELP posture_volume_replicas Working replicas of each Longhorn volume, per node.\n\
         # TYPE posture_volume_replicas gauge"
    );
    for volume in &state.volumes {
        for (node, count) in &volume.replicas_per_node {
            let _ = writeln!(
                out,
                "posture_volume_replicas{{volume=\"{}\",node=\"{}\"}} {count}",
                label(&volume.name),
                label(node)
            );
        }
    }
    if let Some(at) = state.last_check {
        let _ = writeln!(
            out,
            "# HELP posture_last_check_timestamp_seconds When the latest check completed.\n\
             # TYPE posture_last_check_timestamp_seconds gauge\nposture_last_check_timestamp_seconds {at}\n\
             # HELP posture_last_check_duration_seconds How long the latest check took.\n\
             # TYPE posture_last_check_duration_seconds gauge\nposture_last_check_duration_seconds {:.3}",
            state.last_duration.as_secs_f64()
        );
    }
    out
}

/// A label value as Prometheus' text format escapes it.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Working replicas only, counted per node of each volume; a volume with none lists none.
    #[test]
    fn volumes_count_their_working_replicas_per_node() {
        let volume = |name: &str, robustness: &str| {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name}, "status": {"robustness": robustness},
            }))
            .expect("a volume")
        };
        let replica = |name: &str, volume: &str, node: &str, failed_at: &str| {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name},
                "spec": {"volumeName": volume, "nodeID": node, "failedAt": failed_at},
                "status": {"currentState": "running"},
            }))
            .expect("a replica")
        };
        let snapshot = posture_core::Snapshot {
            longhorn: Some(posture_core::snapshot::Longhorn {
                volumes: vec![volume("v1", "healthy"), volume("v2", "faulted")],
                replicas: vec![
                    replica("v1-a", "v1", "a", ""),
                    replica("v1-b", "v1", "b", ""),
                    replica("v1-b2", "v1", "b", ""),
                    replica("v1-dead", "v1", "a", "2026-11-01T10:00:00Z"),
                    replica("v2-dead", "v2", "b", "2026-11-01T10:00:00Z"),
                ],
                ..posture_core::snapshot::Longhorn::default()
            }),
            ..posture_core::Snapshot::default()
        };
        assert_eq!(
            volumes_of(&snapshot),
            vec![
                VolumeState {
                    name: "v1".into(),
                    robustness: "healthy".into(),
                    replicas_per_node: vec![("a".into(), 1), ("b".into(), 2)],
                },
                VolumeState {
                    name: "v2".into(),
                    robustness: "faulted".into(),
                    replicas_per_node: Vec::new(),
                },
            ]
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn metrics_list_each_volume_with_its_replicas_per_node() {
        let state = OperatorState {
            volumes: vec![VolumeState {
                name: "pvc-1".into(),
                robustness: "degraded".into(),
                replicas_per_node: vec![("a".into(), 2)],
            }],
            ..OperatorState::default()
        };
        let text = metrics_text(&state);
        assert!(
            text.contains("posture_volume_robustness{volume=\"pvc-1\",robustness=\"degraded\"} 1")
        );
        assert!(text.contains("posture_volume_replicas{volume=\"pvc-1\",node=\"a\"} 2"));
    }
}
