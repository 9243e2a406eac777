//! `posture operator --enforce SECTION...`: after each check, the leader applies the runbook's
//! changes of the named sections through the same engine as `posture apply` (cluster lock,
//! server dry run, journal, flap gate, post-conditions), with two limits a person would set: a
//! stage the runbook marks APPROVAL REQUIRED is never applied, and an owned object is never
//! patched live (its change stays a file for its owner, as `plan` without `--allow-owned`).

use std::path::PathBuf;
use std::time::Duration;

use posture_core::apply::journal::{JournalHeader, resume_point};
use posture_core::apply::{ApplyOptions, ApplyState, Mode};
use posture_core::plan::{ClusterIdentity, Plan, PlanInputs, PlanOptions};
use posture_core::report::Section;
use posture_core::{Policy, Snapshot};

use crate::apply::lock::LockSettings;
use crate::apply::{ApproveAll, Engine, EngineSettings};
use crate::journal::JournalFile;

/// What `--enforce` needs besides the plan.
#[derive(Clone)]
pub struct Enforcement {
    pub sections: Vec<Section>,
    /// Where each run's journal goes (`enforce-<unix seconds>.journal`).
    pub journal_dir: PathBuf,
    /// A client without kube-rs's own retries, as the engine expects.
    pub client: kube::Client,
    /// How long one post-condition may take.
    pub timeout: Duration,
}

/// The plan `--enforce` may apply: the named sections, no approval-required stage, owned
/// objects left to their owners. `Err` with the blockers when the plan is blocked; the titles of
/// the stages left out come back too.
pub fn enforceable(
    snapshot: &Snapshot,
    policy: &Policy,
    server: &str,
    sections: &[Section],
) -> Result<(Plan, Vec<String>), String> {
    let cluster = ClusterIdentity::from_snapshot(snapshot, server)
        .ok_or("the snapshot has no kube-system uid to identify the cluster by")?;
    let mut plan = posture_core::plan::plan(
        snapshot,
        policy,
        &PlanInputs {
            cluster,
            options: PlanOptions {
                sections: sections.to_vec(),
                allow_owned: false,
                ingress_daemonset: false,
            },
        },
    )
    .map_err(|e| e.to_string())?;
    if !plan.blockers.is_empty() {
        return Err(format!("plan blocked: {}", plan.blockers.join("; ")));
    }
    let (kept, left): (Vec<_>, Vec<_>) = plan
        .stages
        .into_iter()
        .partition(|s| !s.runbook_approval_required);
    plan.stages = kept;
    plan.sha256 = plan.content_hash();
    Ok((plan, left.into_iter().map(|s| s.title).collect()))
}

/// Applies `plan`; how it ended, in words.
pub async fn apply(
    enforcement: &Enforcement,
    server: &str,
    plan: &Plan,
    gate: posture_core::detect::DetectPolicy,
) -> String {
    let live = plan
        .stages
        .iter()
        .flat_map(|s| &s.changes)
        .filter(|c| c.is_live())
        .count();
    if live == 0 {
        return "nothing to apply".to_owned();
    }
    if let Err(e) = std::fs::create_dir_all(&enforcement.journal_dir) {
        return format!("cannot create the journal directory: {e}");
    }
    let path = enforcement.journal_dir.join(format!(
        "enforce-{}.journal",
        jiff::Timestamp::now().as_second()
    ));
    let header = JournalHeader::for_plan(plan);
    let mut journal = match JournalFile::create(&path, &header) {
        Ok(file) => file,
        Err(e) => return format!("cannot create the journal {}: {e}", path.display()),
    };
    let point = match resume_point(plan, &header, &[]) {
        Ok(point) => point,
        Err(e) => return e.to_string(),
    };
    let mut approve = ApproveAll;
    let mut engine = Engine {
        client: enforcement.client.clone(),
        server: server.to_owned(),
        options: ApplyOptions {
            auto_approve: true,
            ..ApplyOptions::default()
        },
        settings: EngineSettings {
            timeout: enforcement.timeout,
            gate: Some(gate),
            ..EngineSettings::new(LockSettings::for_this_process(false))
        },
        journal: &mut journal,
        approver: &mut approve,
    };
    match engine.run(plan, Mode::Apply(point)).await {
        Ok(outcome) => match outcome.state {
            ApplyState::Done => format!(
                "applied {} stage(s); journal {}",
                plan.stages.len(),
                path.display()
            ),
            ApplyState::Halted(halt) => format!("halted: {halt}; journal {}", path.display()),
            other => format!("stopped at {other:?}; journal {}", path.display()),
        },
        Err(e) => format!("not applied: {}", crate::message::one_line(&e)),
    }
}
