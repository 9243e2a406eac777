//! The observed drill, in phases driven by cluster time:
//!
//! 1. **Start.** Take the cluster lock for the whole drill; collect the cluster (the "before"
//!    picture and the restore gate's reference); start the watch and wait until it has listed
//!    everything, so standing alerts are known and not held against the drill.
//! 2. **Take the node away.** Node loss: stop it (twin) or tell the person, then wait for
//!    NotReady. Drain: cordon plus the drill's own taint through the apply engine (journaled),
//!    then evict the node's pods through the Eviction API as `kubectl drain --ignore-daemonsets`
//!    does, retrying those a disruption budget holds.
//! 3. **Observe** for the window with the watch detectors, judged as the runbook's success
//!    criteria; the first breach aborts.
//! 4. **Restore**, after a pass or an abort: stop evicting, undo the drill's writes from its
//!    journal, bring the node back (twin) or tell the person to, evict one pod of each workload
//!    the drill crowded onto the other nodes so it spreads back, and wait until the restore gate
//!    holds and the cluster has been quiet for the settle period.
//!
//! # Caveats
//! - Evictions are sent directly, not as journaled changes: an eviction has no inverse (the
//!   workload's controller replaces the pod), and undoing the taint is what lets pods return.
//! - A drill killed halfway leaves its writes in the journal for `posture rollback --journal`;
//!   a node it stopped on the twin stays stopped until `posture twin fault start-node`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use posture_core::ObjectRef;
use posture_core::act::Act;
use posture_core::detect::{Alert, DetectPolicy, DetectorKind};
use posture_core::drill::ServerAnswer;
use posture_core::drill::observed::probe::{FAILURES_TO_BREACH, ProbeTarget};
use posture_core::drill::observed::{
    Breach, Criterion, DRILL_REPORT_SCHEMA, DrillKind, DrillReport, Judge, Outcome, TimelineEntry,
    placement, restore,
};
use posture_core::policy::Policy;
use posture_core::snapshot::Snapshot;

use super::power::{Power, twin_fault};
use super::probe::Prober;
use crate::apply::drain::{DrillError, evict, pods_on, skipped};
use crate::apply::lock::{self, HeldLock, LockError, LockSettings};
use crate::watch::act::{ActError, act_holding_lock, undo_holding_lock};
use crate::watch::{self as signals, Update, WatchError, WatchOptions};
use crate::{ClusterEndpoint, CollectError, collect};

#[derive(Debug, thiserror::Error)]
pub enum DrillRunError {
    #[error("cannot take the cluster lock")]
    Lock(#[source] LockError),
    #[error("cannot read the cluster")]
    Collect(#[source] CollectError),
    #[error("cannot watch the cluster")]
    Watch(#[source] WatchError),
    #[error("node {0} does not exist")]
    UnknownNode(String),
    #[error("the drill's write failed")]
    Act(#[source] ActError),
    #[error("cannot pause the autoscalers: {0}")]
    Pause(String),
    #[error("the twin refused a fault: {0}")]
    Twin(String),
    #[error("cannot list the node's pods")]
    Pods(#[source] DrillError),
    #[error("cannot build the probe pod: {0}")]
    Probe(String),
    #[error("the API server refused {what}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
}

/// What a drill does and for how long, in cluster time.
#[derive(Debug, Clone)]
pub struct DrillSettings {
    pub node: String,
    pub kind: DrillKind,
    pub power: Power,
    pub window: SignedDuration,
    pub settle: SignedDuration,
    /// How long the node may take to go NotReady once stopped.
    pub not_ready_within: SignedDuration,
    /// How long the restore gate may take to hold before the drill gives up.
    pub restore_within: SignedDuration,
    /// Where the drill's own writes (the drain's cordon and taint) are journaled.
    pub journal: PathBuf,
    pub detect: DetectPolicy,
    pub policy: Policy,
    /// Leases the what-if found held from the node: expected to change hands.
    pub leases_from_node: Vec<ObjectRef>,
    pub tick_every: Duration,
    /// Becomes `true` when the person asks the drill to stop (Ctrl-C): during the window it
    /// aborts and restores; while restoring it stops waiting for the gate.
    pub interrupt: Option<tokio::sync::watch::Receiver<bool>>,
    /// `--probe`: what the probe pods ask, from where.
    pub probe: Option<ProbeTarget>,
    /// `--pause`: where to journal the pins of the autoscalers on the node's workloads, which
    /// hold for the drill and are restored when it ends.
    pub pause: Option<PathBuf>,
}

/// Collects at most this often in cluster time while waiting for the restore gate (and at
/// most once per watch tick), so a real cluster is not listed every second.
const GATE_EVERY: SignedDuration = SignedDuration::from_secs(10);
/// How often a disruption budget's refusal is asked again, as `kubectl drain` does.
const EVICT_RETRY: SignedDuration = SignedDuration::from_secs(5);

enum Phase {
    /// Waiting for the stopped node to go NotReady.
    Stopping {
        deadline: Timestamp,
    },
    Window {
        until: Timestamp,
    },
    Restoring {
        deadline: Timestamp,
    },
}

struct Drill<'a> {
    client: &'a kube::Client,
    cluster: &'a ClusterEndpoint,
    settings: &'a DrillSettings,
    timeline: Vec<TimelineEntry>,
    narrate: &'a mut dyn FnMut(&str),
    now: Timestamp,
}

impl Drill<'_> {
    fn note(&mut self, what: impl Into<String>) {
        let what = what.into();
        (self.narrate)(&format!("{} {what}", self.now));
        self.timeline.push(TimelineEntry { at: self.now, what });
    }

    async fn snapshot(&self) -> Result<Snapshot, DrillRunError> {
        collect(self.client, self.cluster)
            .await
            .map_err(DrillRunError::Collect)
    }

    async fn node_ready(&self) -> Result<Option<bool>, DrillRunError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let node = nodes
            .get_opt(&self.settings.node)
            .await
            .map_err(|source| DrillRunError::Api {
                what: format!("reading node {}", self.settings.node),
                source,
            })?
            .ok_or_else(|| DrillRunError::UnknownNode(self.settings.node.clone()))?;
        Ok(posture_core::facts::node_ready(&node))
    }

    /// A renew gap the watch saw is confirmed with a read of the lease before it counts: a
    /// watch can deliver late (on a busy machine, or a sped-up twin where a few hundred
    /// milliseconds are many cluster seconds), and a lease renewed within its duration has no
    /// gap. Returns the renew time that disproves the gap, if the lease shows one.
    async fn renewed_since(&self, breach: &Breach) -> Option<Timestamp> {
        if breach.detector != DetectorKind::LeaseRenewGap.as_str() {
            return None;
        }
        let (namespace, name) = breach.subject.split_once('/')?;
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), namespace);
        let lease = leases.get_opt(name).await.ok()??;
        let spec = lease.spec?;
        let renewed = spec.renew_time?.0;
        let duration = SignedDuration::from_secs(spec.lease_duration_seconds?.into());
        let now = crate::watch::cluster_time(self.client).await.ok()?;
        (now.duration_since(renewed) <= duration).then_some(renewed)
    }

    /// Evicts the node's pods that are still to go; returns how many a budget or an error
    /// held back.
    async fn evict_node(&mut self, evicted: &mut BTreeSet<String>) -> Result<usize, DrillRunError> {
        let listed = pods_on(self.client, &self.settings.node)
            .await
            .map_err(DrillRunError::Pods)?;
        let mut held = 0;
        for pod in &listed {
            let key = format!("{}", ObjectRef::of(pod));
            if skipped(pod).is_some()
                || pod.metadata.deletion_timestamp.is_some()
                || evicted.contains(&key)
            {
                continue;
            }
            match evict(self.client, pod, false).await {
                Ok(ServerAnswer::Evicts) => {
                    evicted.insert(key.clone());
                    self.note(format!("evicted {key}"));
                }
                Ok(ServerAnswer::Refuses { code, message, .. }) => {
                    held += 1;
                    self.note(format!("eviction of {key} refused ({code}): {message}"));
                }
                Ok(ServerAnswer::Skipped { .. }) => {}
                Err(error) => {
                    held += 1;
                    self.note(format!(
                        "eviction of {key} failed: {}",
                        crate::message::one_line(&error)
                    ));
                }
            }
        }
        Ok(held)
    }
}

/// Runs the drill and reports it. Errors are for a drill that could not be run at all (the
/// lock is held, the cluster cannot be read); a breach or a restore that never completes is a
/// report whose outcome says so.
pub async fn run(
    client: &kube::Client,
    cluster: &ClusterEndpoint,
    settings: &DrillSettings,
    narrate: &mut dyn FnMut(&str),
) -> Result<DrillReport, DrillRunError> {
    let held = lock::acquire(client, &LockSettings::for_this_process(false))
        .await
        .map_err(DrillRunError::Lock)?;
    let mut result = run_locked(client, cluster, settings, narrate, &held).await;
    if let Some(journal) = &settings.pause {
        // However the drill ended (even one that could not start), what it paused is restored.
        let said = match crate::watch::act::undo_holding_lock(client, cluster, journal).await {
            Ok(0) => None,
            Ok(n) => Some(format!("restored {n} paused autoscaler(s)")),
            Err(e) => Some(format!(
                "the paused autoscalers were NOT restored ({}); `posture rollback --journal {}` restores them",
                crate::message::one_line(&e),
                journal.display()
            )),
        };
        if let Some(said) = said {
            narrate(&said);
            if let Ok(report) = result.as_mut() {
                let at = report
                    .timeline
                    .last()
                    .map_or(Timestamp::UNIX_EPOCH, |e| e.at);
                report.timeline.push(TimelineEntry { at, what: said });
            }
        }
    }
    held.release().await;
    result
}

/// Pins the autoscalers of the workloads on the node for the drill (`--pause`).
async fn pause_for_drill(
    drill: &mut Drill<'_>,
    before: &Snapshot,
    journal: &std::path::Path,
) -> Result<(), DrillRunError> {
    let controllers = crate::apply::pause::read_controllers(drill.client)
        .await
        .map_err(|e| DrillRunError::Pause(crate::message::one_line(&e)))?;
    let identity =
        posture_core::plan::ClusterIdentity::from_snapshot(before, &drill.cluster.server)
            .unwrap_or_else(|| posture_core::plan::ClusterIdentity {
                server: drill.cluster.server.clone(),
                kube_system_uid: String::new(),
            });
    let pause = posture_core::pause::drill_pause(
        before,
        &drill.settings.node,
        &drill.settings.policy,
        &controllers,
        identity,
    )
    .map_err(|e| DrillRunError::Pause(e.to_string()))?;
    for note in &pause.notes {
        drill.note(format!("pause: {note}"));
    }
    let Some(plan) = pause.plan else {
        drill.note("pause: no autoscaler on the node's workloads");
        return Ok(());
    };
    crate::watch::act::apply_holding_lock(
        drill.client,
        drill.cluster,
        &plan,
        crate::apply::pause::PAUSE_JOURNAL_HEADER,
        journal,
    )
    .await
    .map_err(DrillRunError::Act)?;
    for held in &pause.held {
        drill.note(format!(
            "paused {}: {} (journal {})",
            held.object,
            held.hold.describe(),
            journal.display()
        ));
    }
    Ok(())
}

async fn run_locked(
    client: &kube::Client,
    cluster: &ClusterEndpoint,
    settings: &DrillSettings,
    narrate: &mut dyn FnMut(&str),
    held: &HeldLock,
) -> Result<DrillReport, DrillRunError> {
    let node = settings.node.as_str();
    let mut drill = Drill {
        client,
        cluster,
        settings,
        timeline: Vec::new(),
        narrate,
        now: Timestamp::UNIX_EPOCH,
    };
    let before_snapshot = drill.snapshot().await?;
    let before = restore::before(&before_snapshot, node)
        .ok_or_else(|| DrillRunError::UnknownNode(node.to_owned()))?;
    let mut phases = vec![placement::phase("before", &before_snapshot)];
    drill.now = before_snapshot.observed_at().unwrap_or(drill.now);

    let mut watch = signals::start(
        client,
        WatchOptions {
            tick_every: settings.tick_every,
        },
    )
    .await
    .map_err(DrillRunError::Watch)?;
    let mut judge = Judge::new(&settings.detect, node, &settings.leases_from_node);
    while !watch.is_synced() {
        if let Update::Signals(batch) = watch.next().await.map_err(DrillRunError::Watch)? {
            for signal in &batch {
                drill.now = drill.now.max(signal.at);
                judge.observe(signal);
            }
        }
    }
    for alert in judge.begin() {
        drill.note(format!(
            "already active, not held against the drill: {}",
            describe(&alert)
        ));
    }

    if let Some(pause) = &settings.pause {
        pause_for_drill(&mut drill, &before_snapshot, pause).await?;
    }
    let journal = match settings.kind {
        DrillKind::NodeLoss => {
            match settings.power {
                Power::Twin => {
                    twin_fault(client, "stop-node", node).await?;
                    drill.note(format!("stopped {node} (twin fault stop-node)"));
                }
                Power::Person => drill.note(format!(
                    "power {node} off or stop its k3s agent now (systemctl stop k3s-agent); \
                     waiting for it to go NotReady"
                )),
            }
            None
        }
        DrillKind::Drain => {
            let act = Act::DrillTaint {
                node: node.to_owned(),
            };
            act_holding_lock(client, cluster, &act, &settings.journal)
                .await
                .map_err(DrillRunError::Act)?;
            drill.note(format!(
                "cordoned {node} and tainted it {}:NoSchedule (journal {})",
                posture_core::drill::observed::DRILL_TAINT_KEY,
                settings.journal.display()
            ));
            Some(settings.journal.clone())
        }
    };
    let mut phase = match settings.kind {
        DrillKind::NodeLoss => Phase::Stopping {
            deadline: drill.now + settings.not_ready_within,
        },
        DrillKind::Drain => Phase::Window {
            until: drill.now + settings.window,
        },
    };
    let mut evicted = BTreeSet::new();
    let mut evictions_pending = settings.kind == DrillKind::Drain;
    let mut next_eviction = drill.now;
    let mut aborted_by: Option<Breach> = None;
    let mut breaches_seen = 0usize;
    let mut during: Option<Snapshot> = None;
    // The restore gate's read that ended the drill (restored, or given up): the "after" picture.
    let mut last_read: Option<Snapshot> = None;
    let mut last_gate: Option<Timestamp> = None;
    let mut last_gate_real: Option<Instant> = None;
    let mut quiet_since: Option<Timestamp> = None;
    let mut respread_done: BTreeSet<ObjectRef> = BTreeSet::new();
    let mut unrestored: Vec<String> = Vec::new();
    let mut restored = false;
    let mut restore_breach = false;
    let mut interrupted = false;
    let mut interrupt = settings.interrupt.clone();
    // Interrupted before the window ended: an abort without a breach.
    let mut aborted_early = false;
    let mut prober = settings.probe.clone().map(Prober::new);
    let mut failures_in_row = 0u32;

    loop {
        if let Some(reason) = held.lost() {
            drill.note(format!("stopping: {reason}"));
            unrestored.push(reason);
            break;
        }
        // Cancelling `next` may drop a burst of events it was stamping; after an interrupt only
        // the restore is left, and the restore gate reads the cluster itself.
        let next = match interrupt.as_mut() {
            Some(stop) if !interrupted => tokio::select! {
                update = watch.next() => Some(update),
                _ = stop.wait_for(|stop| *stop) => None,
            },
            _ => Some(watch.next().await),
        };
        // Interrupted in the window: an abort without a breach, restored below.
        let mut restore_now = false;
        let batch = match next {
            None => {
                interrupted = true;
                if let Phase::Restoring { .. } = phase {
                    drill.note("interrupted: no longer waiting for the restore gate");
                    unrestored.push("interrupted before the restore gate held".into());
                    break;
                }
                drill.note("interrupted: aborting the drill");
                aborted_early = true;
                restore_now = true;
                Vec::new()
            }
            Some(next) => match next.map_err(DrillRunError::Watch)? {
                Update::Signals(batch) => batch,
                Update::Note(note) => {
                    drill.note(format!("watch: {note}"));
                    continue;
                }
                Update::Object { .. } => continue,
            },
        };
        let mut ticked = false;
        for signal in &batch {
            drill.now = drill.now.max(signal.at);
            ticked |= matches!(signal.kind, posture_core::detect::SignalKind::Tick);
            for alert in judge.observe(signal) {
                drill.note(describe(&alert));
                if matches!(alert, Alert::Raised { .. }) {
                    quiet_since = None;
                }
            }
        }
        if ticked
            && matches!(phase, Phase::Window { .. })
            && let Some(prober) = prober.as_mut()
            && let Some(result) = prober.step(client, drill.now).await?
        {
            failures_in_row = if result.answered {
                0
            } else {
                failures_in_row + 1
            };
            drill.note(format!("probe {}: {}", result.pod, result.detail));
            let breach = (failures_in_row >= FAILURES_TO_BREACH).then(|| Breach {
                criterion: Criterion::DnsAndIngressServe,
                at: drill.now,
                detector: "probe".into(),
                subject: result.pod.clone(),
                message: format!(
                    "{failures_in_row} probes in a row failed: {}",
                    result.detail
                ),
                evidence: vec![format!(
                    "from {}: nslookup {} and an HTTP fetch on port {}",
                    settings.probe.as_ref().map_or("", |p| p.node.as_str()),
                    settings.probe.as_ref().map_or("", |p| p.host.as_str()),
                    settings.probe.as_ref().map_or(0, |p| p.port),
                )],
            });
            judge.probe(result.answered, breach);
        }
        let mut new_breaches: Vec<Breach> = judge.breaches()[breaches_seen..].to_vec();
        for breach in new_breaches.clone() {
            if let Some(renewed) = drill.renewed_since(&breach).await {
                drill.note(format!(
                    "{} {} not confirmed: the lease was renewed at {renewed}, the watch was late",
                    breach.detector, breach.subject
                ));
                judge.dismiss(&breach);
                new_breaches.retain(|b| b != &breach);
            }
        }
        breaches_seen = judge.breaches().len();
        for breach in &new_breaches {
            drill.note(format!("breach of {}", breach.describe()));
        }
        let now = drill.now;
        match phase {
            Phase::Stopping { deadline } => {
                if !ticked || restore_now {
                    // Nothing to read between ticks; an interrupt restores below.
                } else if drill.node_ready().await? != Some(true) {
                    drill.note(format!(
                        "{node} is NotReady; observing for {}",
                        friendly(settings.window)
                    ));
                    phase = Phase::Window {
                        until: now + settings.window,
                    };
                } else if now >= deadline {
                    drill.note(format!(
                        "{node} did not go NotReady within {}; restoring",
                        friendly(settings.not_ready_within)
                    ));
                    unrestored.push(format!("{node} never went NotReady: no drill took place"));
                    aborted_early = true;
                    restore_now = true;
                }
            }
            Phase::Window { until } => {
                if let Some(breach) = new_breaches.first() {
                    drill.note(format!("aborting: {}", breach.criterion.as_str()));
                    aborted_by = Some(breach.clone());
                    restore_now = true;
                }
                if !restore_now && evictions_pending && now >= next_eviction {
                    let held_back = drill.evict_node(&mut evicted).await?;
                    evictions_pending = held_back > 0;
                    next_eviction = now + EVICT_RETRY;
                }
                if !restore_now && now >= until {
                    drill.note(format!(
                        "the window of {} passed without a breach",
                        friendly(settings.window)
                    ));
                    restore_now = true;
                }
            }
            Phase::Restoring { deadline } => {
                if !new_breaches.is_empty() {
                    restore_breach = true;
                }
                let due = last_gate.is_none_or(|at| now.duration_since(at) >= GATE_EVERY)
                    && last_gate_real.is_none_or(|at| at.elapsed() >= settings.tick_every);
                if !ticked || !due {
                    continue;
                }
                last_gate = Some(now);
                last_gate_real = Some(Instant::now());
                let snapshot = drill.snapshot().await?;
                let unmet = restore::unmet(&snapshot, node, &before);
                if unmet.is_empty() {
                    let spread =
                        restore::respread(&before_snapshot, &snapshot, node, &settings.policy);
                    let mut moved = false;
                    for pod in spread {
                        if !respread_done.insert(pod.clone()) {
                            continue;
                        }
                        if let Some(found) = find_pod(&snapshot, &pod) {
                            match evict(client, found, false).await {
                                Ok(ServerAnswer::Evicts) => {
                                    drill.note(format!(
                                        "evicted {pod} so that it spreads back onto {node}"
                                    ));
                                    moved = true;
                                }
                                Ok(other) => {
                                    drill.note(format!("respread of {pod} refused: {other:?}"))
                                }
                                Err(error) => drill.note(format!(
                                    "respread of {pod} failed: {}",
                                    crate::message::one_line(&error)
                                )),
                            }
                        }
                    }
                    if moved {
                        quiet_since = None;
                        continue;
                    }
                    let since = *quiet_since.get_or_insert(now);
                    if now.duration_since(since) >= settings.settle {
                        drill.note(format!(
                            "restored: {node} is as before, volumes healthy, quiet for {}",
                            friendly(settings.settle)
                        ));
                        restored = true;
                        last_read = Some(snapshot);
                        break;
                    }
                } else {
                    quiet_since = None;
                    if now >= deadline {
                        drill.note(format!(
                            "gave up waiting for the restore after {}",
                            friendly(settings.restore_within)
                        ));
                        unrestored.extend(unmet);
                        last_read = Some(snapshot);
                        break;
                    }
                }
            }
        }
        if restore_now {
            if let Some(prober) = prober.as_mut() {
                prober.stop(client).await;
            }
            phase = start_restore(
                &mut drill,
                &mut during,
                journal.as_deref(),
                &mut evictions_pending,
            )
            .await?;
        }
    }
    // The cluster as the read that ended the restore saw it, or, stopped otherwise, as it was left.
    let after = match last_read {
        Some(snapshot) => snapshot,
        None => drill.snapshot().await?,
    };
    phases.push(placement::phase(
        "during",
        during.as_ref().unwrap_or(&after),
    ));
    phases.push(placement::phase("after", &after));
    // A breach is the headline; what the restore could not bring back is listed either way.
    let outcome = if aborted_by.is_some() || aborted_early {
        Outcome::Aborted
    } else if restore_breach {
        Outcome::Failed
    } else if !restored {
        Outcome::NotRestored
    } else {
        Outcome::Passed
    };
    Ok(DrillReport {
        schema: DRILL_REPORT_SCHEMA.to_owned(),
        source: cluster.server.clone(),
        node: node.to_owned(),
        kind: settings.kind,
        outcome,
        aborted_by,
        window_seconds: settings.window.as_secs(),
        settle_seconds: settings.settle.as_secs(),
        criteria: judge.results(),
        unrestored,
        timeline: drill.timeline,
        placement: phases,
        interrupted,
        journal: journal.map(|p| p.display().to_string()),
    })
}

/// Ends the window: the "during" picture, no further evictions, the drill's writes undone, the
/// node brought back (or the person told to).
async fn start_restore(
    drill: &mut Drill<'_>,
    during: &mut Option<Snapshot>,
    journal: Option<&std::path::Path>,
    evictions_pending: &mut bool,
) -> Result<Phase, DrillRunError> {
    *during = Some(drill.snapshot().await?);
    *evictions_pending = false;
    let node = drill.settings.node.clone();
    if let Some(journal) = journal {
        let undone = undo_holding_lock(drill.client, drill.cluster, journal)
            .await
            .map_err(DrillRunError::Act)?;
        drill.note(format!(
            "undid the drill's {undone} write(s) from {}",
            journal.display()
        ));
    }
    if drill.settings.kind == DrillKind::NodeLoss {
        match drill.settings.power {
            Power::Twin => {
                twin_fault(drill.client, "start-node", &node).await?;
                drill.note(format!("started {node} (twin fault start-node)"));
            }
            Power::Person => drill.note(format!(
                "bring {node} back now (power it on, or systemctl start k3s-agent); waiting for \
                 the restore gate"
            )),
        }
    }
    Ok(Phase::Restoring {
        deadline: drill.now + drill.settings.restore_within,
    })
}

fn find_pod<'s>(snapshot: &'s Snapshot, pod: &ObjectRef) -> Option<&'s Pod> {
    snapshot.pods.iter().find(|p| {
        p.metadata.name.as_deref() == Some(pod.name.as_str())
            && p.metadata.namespace.as_deref() == pod.namespace.as_deref()
    })
}

fn describe(alert: &Alert) -> String {
    match alert {
        Alert::Raised {
            detector,
            subject,
            message,
            ..
        } => format!("alert raised: {} {subject} ({message})", detector.as_str()),
        Alert::Cleared {
            detector, subject, ..
        } => format!("alert cleared: {} {subject}", detector.as_str()),
    }
}

/// `10m`, `5m30s`, `45s`.
fn friendly(duration: SignedDuration) -> String {
    let seconds = duration.as_secs();
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}
