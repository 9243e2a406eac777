//! Carries out the pure apply machine's effects against a cluster: identity, lock, approvals,
//! dry-runs and writes, the journal, and waiting for post-conditions by watching.
//!
//! # Guarantees
//! - Effects run in the order the machine gives them; a journal record is synced before the
//!   next effect runs, and a journal that cannot be written stops the run.
//! - The lock is released however the run ends (its renewal stops even on a panic).
//!
//! # Assumptions
//! The client does not retry on its own (build it with [`client_for_apply`]): the machine
//! decides about 429s, timeouts and 5xx, and must see them.

pub(crate) mod drain;
mod gate;
pub mod lock;
mod narrate;
pub(crate) mod objects;
pub mod pause;
mod wait;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use posture_core::ObjectRef;
use posture_core::apply::journal::Operation;
use posture_core::apply::{ApiFailure, ApplyOptions, ApplyState, Effect, Event, Mode, step};
use posture_core::detect::DetectPolicy;
use posture_core::plan::{ClusterIdentity, Plan};
use serde_json::Value;

use crate::journal::JournalFile;
use crate::retry::{retrying, transient};
use crate::watch::WatchError;
use gate::FlapGate;
use lock::{HeldLock, LockSettings};
use wait::WaitOutcome;

pub use lock::LockError;
pub(crate) use narrate::stamp;

/// How the shell runs the machine.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// How long one post-condition may take.
    pub timeout: Duration,
    pub lock: LockSettings,
    /// Draw a progress bar on stderr (indicatif hides it when stderr is not a terminal).
    pub progress: bool,
    /// Stop (as if the process died) once this many journal records were written in this run.
    pub stop_after_records: Option<usize>,
    /// The detectors every stage is gated on (`posture watch`'s): an alert raised while a stage
    /// runs halts it and rolls it back. `None` turns the gate off (post-condition timeouts
    /// still apply).
    pub gate: Option<DetectPolicy>,
    /// Print a timestamped line on stderr as each stage starts and ends (and as a rollback
    /// undoes each change), for runs without a terminal.
    pub narrate: bool,
    /// Becomes `true` when the run should stop (Ctrl-C, SIGTERM): the write in flight finishes
    /// and is journaled, nothing further is written or waited for, and the lock is released.
    pub interrupt: Option<tokio::sync::watch::Receiver<bool>>,
    /// The caller holds the cluster lock under the same holder for longer than this run (a
    /// drill): the run takes it as that holder and leaves it held when it ends.
    pub keep_lock: bool,
    /// How long to wait for a lock another run holds before giving up (`--lock-timeout`);
    /// zero gives up at once.
    pub lock_wait: Duration,
}

/// How often a run waiting for the lock asks again.
const LOCK_POLL: Duration = Duration::from_secs(2);

impl EngineSettings {
    pub fn new(lock: LockSettings) -> Self {
        Self {
            timeout: Duration::from_secs(30 * 60),
            lock,
            progress: false,
            stop_after_records: None,
            gate: Some(DetectPolicy::default()),
            narrate: false,
            interrupt: None,
            keep_lock: false,
            lock_wait: Duration::ZERO,
        }
    }
}

/// Answers the per-stage approval question.
pub trait Approver: Send {
    fn approve(&mut self, plan: &Plan, stage: &str) -> bool;
}

/// Approves everything (`--approve`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApproveAll;

impl Approver for ApproveAll {
    fn approve(&mut self, _plan: &Plan, _stage: &str) -> bool {
        true
    }
}

/// Someone changed an object since posture did; rollback stopped instead of overwriting it.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub object: ObjectRef,
    pub expected: Value,
    pub actual: Value,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `Done` or `Halted(..)`; anything else means the run was stopped by the test hook.
    pub state: ApplyState,
    pub conflicts: Vec<Conflict>,
    /// Changes left to their owner's source: (change, reason).
    pub skipped: Vec<(String, String)>,
    /// Stopped by [`EngineSettings::stop_after_records`].
    pub stopped: bool,
    /// What the operator should know that did not stop the run, such as alerts already active
    /// when a stage began.
    pub notes: Vec<String>,
    /// Stopped by [`EngineSettings::interrupt`]; `state` says where.
    pub interrupted: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot read the cluster identity (kube-system namespace)")]
    Identity(#[source] kube::Error),
    #[error("cannot start watching the cluster for flapping, so no stage can be gated")]
    Gate(#[source] WatchError),
}

/// A client with kube-rs's own retries switched off, so 429, 503 and 504 reach the machine.
pub async fn client_for_apply(
    kubeconfig: Option<&std::path::Path>,
    context: Option<&str>,
) -> Result<(kube::Client, crate::ClusterEndpoint), crate::ClientError> {
    crate::client::client_with(kubeconfig, context, |config| config.default_retry = false).await
}

/// The identity `plan` files record: server URL and kube-system uid.
pub async fn cluster_identity(
    client: &kube::Client,
    server: &str,
) -> Result<ClusterIdentity, EngineError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = namespaces
        .get("kube-system")
        .await
        .map_err(EngineError::Identity)?;
    Ok(ClusterIdentity {
        server: server.to_owned(),
        kube_system_uid: ns.metadata.uid.unwrap_or_default(),
    })
}

/// Asks the API server to dry-run every live change of `plan` as the engine would send it, and
/// writes nothing: what `watch --act` shows before it is approved. The first refusal is the
/// error, in words.
pub async fn dry_run(client: &kube::Client, plan: &Plan) -> Result<(), String> {
    for change in plan.stages.iter().flat_map(|s| &s.changes) {
        if !change.is_live() {
            continue;
        }
        let operation = Operation::forward_of(&change.action);
        match objects::write(client, &change.object, &operation, true).await {
            Event::DryRunSucceeded => {}
            Event::Failed(failure) => {
                return Err(match failure {
                    ApiFailure::TestFailed(m) => format!("the object changed since: {m}"),
                    ApiFailure::Throttled => "throttled (429)".to_owned(),
                    ApiFailure::Unavailable(m) | ApiFailure::Rejected(m) => m,
                });
            }
            _ => return Err("the server's answer to the dry run was not understood".into()),
        }
    }
    Ok(())
}

/// Everything a run needs besides the plan.
pub struct Engine<'a> {
    pub client: kube::Client,
    pub server: String,
    pub options: ApplyOptions,
    pub settings: EngineSettings,
    pub journal: &'a mut JournalFile,
    pub approver: &'a mut dyn Approver,
}

impl Engine<'_> {
    /// Runs the machine in `mode` until it is done or halts.
    pub async fn run(&mut self, plan: &Plan, mode: Mode) -> Result<Outcome, EngineError> {
        let mut held: Option<HeldLock> = None;
        let mut gate: Option<FlapGate> = None;
        let result = self.drive(plan, mode, &mut held, &mut gate).await;
        drop(gate);
        if let Some(lock) = held {
            self.let_go(lock).await;
        }
        result
    }

    /// Releases the lock, or keeps it for the caller that holds it for longer.
    async fn let_go(&self, lock: HeldLock) {
        if self.settings.keep_lock {
            lock.keep();
        } else {
            lock.release().await;
        }
    }

    /// Starts the flap gate once the run holds the lock (so a stale plan, another cluster or a
    /// held lock cost no watch). Rollback is not gated: once undoing has begun, stopping half
    /// way helps no one.
    async fn start_gate(&self, outcome: &mut Outcome) -> Result<Option<FlapGate>, EngineError> {
        let Some(policy) = &self.settings.gate else {
            return Ok(None);
        };
        // Starting the watch repeats its own throttled or failed requests.
        let gate = FlapGate::start(&self.client, policy)
            .await
            .map_err(EngineError::Gate)?;
        outcome
            .notes
            .extend(gate.notes.iter().map(|n| format!("flap gate: {n}")));
        Ok(Some(gate))
    }

    async fn drive(
        &mut self,
        plan: &Plan,
        mode: Mode,
        held: &mut Option<HeldLock>,
        gate: &mut Option<FlapGate>,
    ) -> Result<Outcome, EngineError> {
        let mut outcome = Outcome {
            state: ApplyState::Ready(mode.clone()),
            conflicts: Vec::new(),
            skipped: Vec::new(),
            stopped: false,
            notes: Vec::new(),
            interrupted: false,
        };
        let gated = matches!(mode, Mode::Apply(_));
        let mut state = ApplyState::Ready(mode);
        let mut event = Event::Start;
        let mut records = 0usize;
        let mut gated_stage = None;
        let mut narrator = narrate::Narrator::new(self.settings.narrate);
        loop {
            let (effects, next) = step(plan, &self.options, state, event);
            state = next;
            narrator.state(plan, &state, running_stage(&state));
            if let Some(gate) = gate.as_mut()
                && let Some(stage) = running_stage(&state)
                && gated_stage != Some(stage)
            {
                gated_stage = Some(stage);
                if let Some(standing) = gate::describe_standing(&gate.begin_stage()) {
                    let id = plan.stages.get(stage).map_or("?", |s| s.id.as_str());
                    outcome
                        .notes
                        .push(format!("stage {id} began with {standing}"));
                }
            }
            let mut answer = None;
            for effect in effects {
                tracing::debug!(?effect, "effect");
                if self.interrupted() && !may_finish(&effect) {
                    outcome.interrupted = true;
                    break;
                }
                if let Some(lock) = held.as_ref()
                    && matches!(effect, Effect::Write { .. })
                    && let Some(reason) = lock.confirm().await
                {
                    answer = Some(Event::LockLost(reason));
                    break;
                }
                narrator.effect(&effect);
                match effect {
                    Effect::ReadClusterIdentity => {
                        let id = retrying(
                            || cluster_identity(&self.client, &self.server),
                            |e| matches!(e, EngineError::Identity(e) if transient(e)),
                        )
                        .await?;
                        answer = Some(Event::ClusterIdentity(id));
                    }
                    Effect::AcquireLock => {
                        let taken = self
                            .acquire_waiting(|holder, wait| narrator.lock_wait(holder, wait))
                            .await;
                        answer = Some(match taken {
                            Ok(lock) => {
                                *held = Some(lock);
                                if gated {
                                    *gate = self.start_gate(&mut outcome).await?;
                                }
                                Event::LockAcquired
                            }
                            Err(e) => Event::LockUnavailable(error_chain(&e)),
                        });
                    }
                    Effect::ReleaseLock => {
                        if let Some(lock) = held.take() {
                            self.let_go(lock).await;
                        }
                    }
                    Effect::AskApproval { stage, .. } => {
                        answer = Some(if self.approver.approve(plan, &stage) {
                            Event::Approved
                        } else {
                            Event::Declined
                        });
                    }
                    Effect::DryRun { object, operation } => {
                        answer =
                            Some(objects::write(&self.client, &object, &operation, true).await);
                    }
                    Effect::Write { object, operation } => {
                        answer =
                            Some(objects::write(&self.client, &object, &operation, false).await);
                    }
                    Effect::Read { object } => {
                        answer = Some(objects::read(&self.client, &object).await);
                    }
                    Effect::Journal(record) => {
                        if let Err(e) = self.journal.append(&record) {
                            answer = Some(Event::JournalFailed(error_chain(&e)));
                            break;
                        }
                        records += 1;
                        if self
                            .settings
                            .stop_after_records
                            .is_some_and(|n| records >= n)
                        {
                            outcome.state = state;
                            outcome.stopped = true;
                            return Ok(outcome);
                        }
                    }
                    Effect::WaitFor(condition) => {
                        let forward = matches!(state, ApplyState::WaitingPostCondition(_));
                        let gate = gate.as_mut().filter(|_| forward);
                        let since = std::time::Instant::now();
                        answer = self.wait(&condition, gate).await;
                        narrator.waited(since.elapsed());
                        if answer.is_none() {
                            outcome.interrupted = true;
                        }
                    }
                    Effect::Sleep(duration) => {
                        tokio::time::sleep(duration).await;
                        narrator.waited(duration);
                        answer = Some(Event::Slept);
                    }
                    Effect::ShowConflict {
                        object,
                        expected,
                        actual,
                    } => outcome.conflicts.push(Conflict {
                        object,
                        expected,
                        actual,
                    }),
                    Effect::Skip { change, reason } => outcome.skipped.push((change, reason)),
                }
            }
            if outcome.interrupted {
                break;
            }
            match answer {
                Some(next_event) if !matches!(state, ApplyState::Done | ApplyState::Halted(_)) => {
                    event = next_event;
                }
                _ => break,
            }
        }
        outcome.state = state;
        Ok(outcome)
    }

    /// Takes the cluster lock, retrying transient API errors; while another run holds it,
    /// asks again every [`LOCK_POLL`] for up to `lock_wait` (unless interrupted), telling
    /// `on_wait` once whom it waits for.
    pub(crate) async fn acquire_waiting(
        &self,
        mut on_wait: impl FnMut(&str, Duration),
    ) -> Result<HeldLock, LockError> {
        let deadline = Instant::now() + self.settings.lock_wait;
        let mut told = false;
        loop {
            let taken = retrying(
                || lock::acquire(&self.client, &self.settings.lock),
                |e| matches!(e, LockError::Api(e) if transient(e)),
            )
            .await;
            let now = Instant::now();
            match &taken {
                Err(LockError::Held { holder }) if now < deadline && !self.interrupted() => {
                    if !told {
                        on_wait(holder, self.settings.lock_wait);
                        told = true;
                    }
                    tokio::time::sleep(LOCK_POLL.min(deadline - now)).await;
                }
                _ => return taken,
            }
        }
    }

    fn interrupted(&self) -> bool {
        self.settings
            .interrupt
            .as_ref()
            .is_some_and(|stop| *stop.borrow())
    }

    /// Waits for `condition`; with a gate, a new alert in the stage ends the wait as a flap.
    /// `None` when the run is interrupted while waiting.
    async fn wait(
        &self,
        condition: &posture_core::plan::PostCondition,
        gate: Option<&mut FlapGate>,
    ) -> Option<Event> {
        let bar = if self.settings.progress {
            indicatif::ProgressBar::with_draw_target(
                Some(100),
                indicatif::ProgressDrawTarget::stderr(),
            )
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos:>3}% {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let mut report = |percent: Option<u64>, what: &str| {
            if let Some(p) = percent {
                bar.set_position(p);
            }
            bar.set_message(what.to_owned());
            bar.tick();
        };
        let waiting = wait::wait_for(&self.client, condition, self.settings.timeout, &mut report);
        let flap = async {
            match gate {
                Some(gate) => WaitOutcome::Flapping(gate::describe(&gate.tripped().await)),
                None => std::future::pending().await,
            }
        };
        let mut interrupt = self.settings.interrupt.clone();
        let stop = async {
            match interrupt.as_mut() {
                Some(stop) => {
                    let _ = stop.wait_for(|stop| *stop).await;
                }
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            outcome = waiting => Some(outcome),
            outcome = flap => Some(outcome),
            () = stop => None,
        };
        bar.finish_and_clear();
        Some(match outcome? {
            WaitOutcome::Met => Event::PostConditionMet,
            WaitOutcome::TimedOut => Event::PostConditionTimedOut,
            WaitOutcome::Flapping(what) => Event::FlapDetected(what),
        })
    }
}

/// Effects an interrupted run still carries out: journal records of what already happened and
/// releasing the lock. An `Intent` is not one: the write it announces will not be sent.
fn may_finish(effect: &Effect) -> bool {
    match effect {
        Effect::Journal(record) => {
            !matches!(record, posture_core::apply::journal::Record::Intent { .. })
        }
        Effect::ReleaseLock | Effect::ShowConflict { .. } | Effect::Skip { .. } => true,
        _ => false,
    }
}

/// The index of the stage whose changes are being made, once it is approved; `None` while
/// waiting for approval, rolling back, or outside any stage.
fn running_stage(state: &ApplyState) -> Option<usize> {
    match state {
        ApplyState::InFlight { progress, .. }
        | ApplyState::Backoff { progress, .. }
        | ApplyState::WaitingPostCondition(progress) => Some(progress.at.stage),
        _ => None,
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    crate::message::one_line(error)
}
