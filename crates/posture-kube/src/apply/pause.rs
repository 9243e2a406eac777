//! `apply --pause`: one run of a plan inside a pause of whatever would fight it.
//!
//! Under one hold of the cluster lock: list Argo CD Applications, Flux Kustomizations and
//! HelmReleases, HPAs and KEDA ScaledObjects; pause those the plan's objects depend on (a
//! journaled one-stage plan of its own, beside the plan's journal); run the plan; and undo the
//! pause however the run ended. A run killed outright leaves the pause journal, and `posture
//! rollback` (or the next `apply --pause`) restores from it.
//!
//! # Guarantees
//! - Nothing of the plan is written unless the pause landed whole; a pause that stops part way
//!   is undone before the error is returned.
//! - Restoring runs the pause's inverses, each pinned by `test`s of the paused value: a setting
//!   someone changed meanwhile is left as they set it and reported.

use std::path::Path;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use posture_core::apply::journal::{JOURNAL_SCHEMA, JournalHeader, replay, resume_point};
use posture_core::apply::{ApplyOptions, ApplyState, Mode};
use posture_core::pause::{Controllers, Held, PausePlan, plan_pause};
use posture_core::plan::Plan;
use serde_json::{Value, json};

use super::lock::HeldLock;
use super::{ApproveAll, Approver, Engine, EngineError, EngineSettings, Outcome};
use crate::journal::{JournalFile, JournalIoError};
use crate::watch::act::journal::rollback_plan;

/// The pause journal's header names this instead of a plan hash, as `watch --act` journals do,
/// so `posture rollback` rebuilds the pause from the journal alone.
pub const PAUSE_JOURNAL_HEADER: &str = "act:pause";

#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error("cannot list {resource}, so posture cannot tell what to pause")]
    Read {
        resource: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot take the cluster lock: {0}")]
    Lock(String),
    #[error("cannot journal the pause")]
    Journal(#[source] JournalIoError),
    #[error("cannot build the pause's patches")]
    Build(#[source] posture_core::plan::PatchBuildError),
    #[error("the pause did not land ({reason}); {restored}")]
    NotPaused { reason: String, restored: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What a paused run did.
#[derive(Debug)]
pub struct PausedRun {
    /// What was paused for this run.
    pub held: Vec<Held>,
    /// Pauses an earlier run left in place (it was killed), kept for this one.
    pub kept_from_before: usize,
    pub notes: Vec<String>,
    pub outcome: Outcome,
    /// How many pauses were undone, or why restoring stopped.
    pub restored: Result<usize, String>,
}

/// The objects that could fight a plan, as `plan_pause` reads them. A kind whose CRD is not
/// installed (404) is empty; one the credentials may not list stops the pause.
pub async fn read_controllers(client: &kube::Client) -> Result<Controllers, PauseError> {
    let list = |group: &'static str, version: &'static str, kind: &'static str| {
        let client = client.clone();
        async move {
            let gvk = GroupVersionKind::gvk(group, version, kind);
            let plural = format!("{}s", kind.to_ascii_lowercase());
            let resource = ApiResource::from_gvk_with_plural(&gvk, &plural);
            let api: Api<DynamicObject> = Api::all_with(client, &resource);
            let items = match api.list(&ListParams::default()).await {
                Ok(list) => list.items,
                Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
                Err(source) => {
                    return Err(PauseError::Read {
                        resource: if group.contains('.') {
                            format!("{plural}.{group}")
                        } else {
                            plural
                        },
                        source,
                    });
                }
            };
            Ok(items
                .iter()
                .filter_map(|item| {
                    let mut value = serde_json::to_value(item).ok()?;
                    let map = value.as_object_mut()?;
                    map.insert("apiVersion".into(), json!(resource.api_version));
                    map.insert("kind".into(), json!(kind));
                    Some(value)
                })
                .collect::<Vec<Value>>())
        }
    };
    let mut flux = list("kustomize.toolkit.fluxcd.io", "v1", "Kustomization").await?;
    flux.extend(list("helm.toolkit.fluxcd.io", "v2", "HelmRelease").await?);
    Ok(Controllers {
        argo_applications: list("argoproj.io", "v1alpha1", "Application").await?,
        flux,
        autoscalers: list("autoscaling", "v2", "HorizontalPodAutoscaler").await?,
        scaled_objects: list("keda.sh", "v1alpha1", "ScaledObject").await?,
    })
}

/// The pauses a journal records as still in place.
pub fn still_paused(journal: &Path) -> Result<usize, JournalIoError> {
    if !journal.exists() {
        return Ok(0);
    }
    let (_, parsed) = JournalFile::open(journal)?;
    Ok(replay(&parsed.records).applied.len())
}

impl Engine<'_> {
    /// Runs `plan` in `mode` inside a pause journaled to `pause_journal` (see the module docs).
    pub async fn run_paused(
        &mut self,
        plan: &Plan,
        mode: Mode,
        pause_journal: &Path,
    ) -> Result<PausedRun, PauseError> {
        let held = self.take_lock().await?;
        let result = self.paused_locked(plan, mode, pause_journal).await;
        held.release().await;
        result
    }

    /// Takes the lock for the whole paused run, waiting up to `lock_wait` as a plain run does.
    async fn take_lock(&self) -> Result<HeldLock, PauseError> {
        self.acquire_waiting(|holder, wait| {
            super::narrate::Narrator::new(true).lock_wait(holder, wait);
        })
        .await
        .map_err(|e| PauseError::Lock(super::error_chain(&e)))
    }

    async fn paused_locked(
        &mut self,
        plan: &Plan,
        mode: Mode,
        pause_journal: &Path,
    ) -> Result<PausedRun, PauseError> {
        let kept_from_before = still_paused(pause_journal).map_err(PauseError::Journal)?;
        let (held, notes) = if kept_from_before > 0 {
            // A killed run's pauses are still in place: pausing again would find nothing to
            // change, and its restore is the one that counts.
            (Vec::new(), Vec::new())
        } else {
            let controllers = read_controllers(&self.client).await?;
            let PausePlan {
                plan: pause,
                held,
                notes,
            } = plan_pause(plan, &controllers).map_err(PauseError::Build)?;
            if self.settings.narrate {
                for held in &held {
                    let manages: Vec<String> =
                        held.because_of.iter().map(ToString::to_string).collect();
                    eprintln!(
                        "{} pausing {}: {} (it manages {})",
                        super::stamp(),
                        held.object,
                        held.hold.describe(),
                        manages.join(", ")
                    );
                }
            }
            if let Some(pause) = pause {
                self.pause(&pause, pause_journal).await?;
            }
            (held, notes)
        };
        self.settings.keep_lock = true;
        let outcome = self.run(plan, mode).await;
        // The test hook stops a run as if the process died: nothing more happens, restoring
        // included.
        let restored = if outcome.as_ref().is_ok_and(|o| o.stopped) {
            Err("the run stopped before restoring".to_owned())
        } else {
            self.restore(pause_journal).await
        };
        Ok(PausedRun {
            held,
            kept_from_before,
            notes,
            outcome: outcome?,
            restored,
        })
    }

    /// Writes the pause; on any stop, undoes what of it landed.
    async fn pause(&mut self, pause: &Plan, journal_path: &Path) -> Result<(), PauseError> {
        let header = JournalHeader {
            schema: JOURNAL_SCHEMA.to_owned(),
            plan_sha256: PAUSE_JOURNAL_HEADER.to_owned(),
            cluster: pause.cluster.clone(),
        };
        let mut file = if journal_path.exists() {
            JournalFile::open(journal_path)
                .map_err(PauseError::Journal)?
                .0
        } else {
            JournalFile::create(journal_path, &header).map_err(PauseError::Journal)?
        };
        let point = resume_point(pause, &JournalHeader::for_plan(pause), &[]).map_err(|e| {
            PauseError::NotPaused {
                reason: e.to_string(),
                restored: "nothing was written".into(),
            }
        })?;
        // The pause is asked for like a stage of the plan: approved up front or on the terminal.
        let state = side_run(self, &mut file, pause, Mode::Apply(point), Asker::Run).await?;
        if matches!(state, ApplyState::Done) {
            return Ok(());
        }
        let restored = match self.restore(journal_path).await {
            Ok(0) => "nothing was written".to_owned(),
            Ok(n) => format!("the {n} pause(s) that landed are undone"),
            Err(e) => format!("undoing it stopped: {e}"),
        };
        Err(PauseError::NotPaused {
            reason: describe(&state),
            restored,
        })
    }

    /// Undoes what the pause journal records as still paused, each pause on its own: one that
    /// someone changed meanwhile is left as they set it and named in the error, and the others
    /// are still restored. Returns how many were undone.
    pub async fn restore(&mut self, journal_path: &Path) -> Result<usize, String> {
        if !journal_path.exists() {
            return Ok(0);
        }
        let (mut file, parsed) = JournalFile::open(journal_path).map_err(|e| e.to_string())?;
        let (plan, queue) = rollback_plan(&parsed).map_err(|e| e.to_string())?;
        let total = queue.len();
        let mut left = Vec::new();
        for paused in queue {
            let object = paused.object.to_string();
            let state = side_run(
                self,
                &mut file,
                &plan,
                Mode::Rollback(vec![paused]),
                Asker::Nobody,
            )
            .await
            .map_err(|e| e.to_string());
            match state {
                Ok(
                    ApplyState::Done | ApplyState::Halted(posture_core::apply::Halt::RolledBack),
                ) => {}
                Ok(other) => left.push(format!("{object}: {}", describe(&other))),
                Err(e) => left.push(format!("{object}: {e}")),
            }
        }
        if left.is_empty() {
            Ok(total)
        } else {
            Err(format!(
                "{} of {total} restored; left as found: {}",
                total - left.len(),
                left.join("; ")
            ))
        }
    }
}

/// Who approves a side run.
enum Asker {
    /// The run's own approver (the pause).
    Run,
    /// No one: restoring what the run paused needs no second yes.
    Nobody,
}

/// Runs the pause (or its undoing) through the same machine, ungated and under the lock the run
/// holds: the pause's own journal, the same client.
async fn side_run(
    run: &mut Engine<'_>,
    journal: &mut JournalFile,
    plan: &Plan,
    mode: Mode,
    asker: Asker,
) -> Result<ApplyState, EngineError> {
    let mut approve_all = ApproveAll;
    let (approver, auto_approve): (&mut dyn Approver, bool) = match asker {
        Asker::Run => (&mut *run.approver, run.options.auto_approve),
        Asker::Nobody => (&mut approve_all, true),
    };
    let mut engine = Engine {
        client: run.client.clone(),
        server: run.server.clone(),
        options: ApplyOptions {
            auto_approve,
            ..run.options.clone()
        },
        settings: EngineSettings {
            gate: None,
            keep_lock: true,
            interrupt: None,
            progress: false,
            stop_after_records: None,
            lock_wait: Duration::ZERO,
            ..run.settings.clone()
        },
        journal,
        approver,
    };
    Ok(engine.run(plan, mode).await?.state)
}

fn describe(state: &ApplyState) -> String {
    match state {
        ApplyState::Halted(halt) => halt.to_string(),
        other => format!("stopped at {other:?}"),
    }
}

/// True for a journal an `apply --pause` wrote.
pub fn is_pause_journal(header: &JournalHeader) -> bool {
    header.plan_sha256 == PAUSE_JOURNAL_HEADER
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::act::journal::is_act_journal;

    #[test]
    fn a_pause_journal_is_rebuilt_from_itself_as_act_journals_are() {
        let header = JournalHeader {
            schema: JOURNAL_SCHEMA.to_owned(),
            plan_sha256: PAUSE_JOURNAL_HEADER.to_owned(),
            cluster: posture_core::plan::ClusterIdentity {
                server: "https://lab:6443".into(),
                kube_system_uid: "uid".into(),
            },
        };
        assert!(is_pause_journal(&header));
        assert!(is_act_journal(&header));
    }
}
