//! The flap gate beside an apply: `posture watch`'s watchers and detectors run in a task for the
//! whole run, and a post-condition wait ends as soon as a new alert is raised in its stage.
//!
//! # Guarantees
//! - The gate is ready (every watched resource listed once) before the first stage writes, so
//!   the cluster's standing alerts are known and are not blamed on the stage.
//! - Only alerts raised while a stage runs trip it; the rollback that follows is not gated.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use posture_core::detect::{Alert, DetectPolicy, StageGuard, Standing};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::watch::{self as signals, Update, WatchError, WatchOptions};

/// How long the gate may take to list every watched resource before the run goes on without
/// waiting further (a slow list is noted, not fatal: the detectors catch up when it lands).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A running gate; dropping it stops the watch.
pub(crate) struct FlapGate {
    guard: Arc<Mutex<StageGuard>>,
    tripped: Arc<watch::Sender<Option<Alert>>>,
    receiver: watch::Receiver<Option<Alert>>,
    task: JoinHandle<()>,
    /// What the watch said while starting: resources skipped (not served, forbidden).
    pub(crate) notes: Vec<String>,
}

impl Drop for FlapGate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FlapGate {
    /// Starts the watch and waits until it has listed every watched resource.
    pub(crate) async fn start(
        client: &kube::Client,
        policy: &DetectPolicy,
    ) -> Result<Self, WatchError> {
        let mut watch = signals::start(client, WatchOptions::default()).await?;
        let guard = Arc::new(Mutex::new(StageGuard::new(policy)));
        let (sender, receiver) = watch::channel(None);
        let tripped = Arc::new(sender);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = {
            let guard = Arc::clone(&guard);
            let tripped = Arc::clone(&tripped);
            tokio::spawn(async move {
                let mut ready = Some(ready_tx);
                let mut notes = Vec::new();
                loop {
                    let update = match watch.next().await {
                        Ok(update) => update,
                        Err(error) => {
                            tracing::warn!(%error, "the flap gate's watch ended");
                            return;
                        }
                    };
                    if let Update::Note(note) = &update
                        && ready.is_some()
                    {
                        notes.push(note.clone());
                    }
                    if let Update::Signals(batch) = update {
                        let mut guard = guard.lock().unwrap_or_else(PoisonError::into_inner);
                        for signal in &batch {
                            if let Some(alert) = guard.observe(signal) {
                                tracing::info!(alert = %describe(alert), "flap during a stage");
                                tripped.send_replace(Some(alert.clone()));
                            }
                        }
                    }
                    if watch.is_synced()
                        && let Some(ready) = ready.take()
                    {
                        let _ = ready.send(std::mem::take(&mut notes));
                    }
                }
            })
        };
        let notes = match tokio::time::timeout(READY_WITHIN, ready_rx).await {
            Ok(Ok(notes)) => notes,
            _ => vec![
                "the flap gate had not listed every watched resource after a minute; \
                       stages are gated on what it has seen"
                    .to_owned(),
            ],
        };
        Ok(Self {
            guard,
            tripped,
            receiver,
            task,
            notes,
        })
    }

    /// A stage begins: returns what already stands (alerts, restarting containers), which will
    /// not trip it.
    pub(crate) fn begin_stage(&self) -> Standing {
        let mut guard = self.guard.lock().unwrap_or_else(PoisonError::into_inner);
        let standing = guard.begin_stage();
        self.tripped.send_replace(None);
        standing
    }

    /// Resolves once an alert trips the current stage (at once if one already has).
    pub(crate) async fn tripped(&mut self) -> Alert {
        loop {
            if let Some(alert) = self.receiver.borrow_and_update().clone() {
                return alert;
            }
            if self.receiver.changed().await.is_err() {
                // The sender lives as long as the gate; if it is somehow gone, never trip.
                return std::future::pending().await;
            }
        }
    }
}

/// One line for what a stage began with, or `None` if nothing stood.
pub(crate) fn describe_standing(standing: &Standing) -> Option<String> {
    let mut parts = Vec::new();
    if !standing.alerts.is_empty() {
        let alerts: Vec<String> = standing.alerts.iter().map(describe).collect();
        parts.push(format!("alerts already active: {}", alerts.join("; ")));
    }
    if !standing.restarting.is_empty() {
        parts.push(format!(
            "containers restarting before it: {}",
            standing.restarting.join(", ")
        ));
    }
    (!parts.is_empty()).then(|| format!("{}; not held against it", parts.join("; ")))
}

/// One line for a halt reason: detector, subject and what was seen.
pub(crate) fn describe(alert: &Alert) -> String {
    match alert {
        Alert::Raised {
            detector,
            subject,
            message,
            ..
        }
        | Alert::Cleared {
            detector,
            subject,
            message,
            ..
        } => format!("{detector} {subject}: {message}"),
    }
}
