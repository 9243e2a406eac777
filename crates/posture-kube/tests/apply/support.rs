//! A served homelab twin, a plan made from it, and the engine set up to apply it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use posture_core::Policy;
use posture_core::apply::journal::{
    AppliedChange, JournalHeader, resume_point, rollback_queue_for,
};
use posture_core::apply::{ApplyOptions, Mode};
use posture_core::detect::DetectPolicy;
use posture_core::plan::{ClusterIdentity, Plan, PlanInputs, PlanOptions};
use posture_kube::apply::lock::LockSettings;
use posture_kube::apply::{
    ApproveAll, Approver, Engine, EngineSettings, Outcome, client_for_apply,
};
use posture_kube::journal::{JournalFile, read_journal};
use posture_twin::Twin;
use posture_twin::api::{RunningTwin, ServeOptions, serve};
use serde_json::Value;

pub struct Lab {
    pub twin: RunningTwin,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub client: kube::Client,
    pub server: String,
}

pub fn start_time() -> jiff::Timestamp {
    "2026-11-23T12:00:00Z".parse().expect("valid timestamp")
}

/// The runbook's detectors, with lease renew gaps judged a hundred times as loosely. At 200x a
/// lease's 15 s is 75 ms of real time, and the debug-built twin, sharing two cores with the
/// test, delivers renewals in bunches up to a second or so apart when the machine is busy: the
/// renew-gap detector would be timing this process, not the cluster. Holder changes (thrash)
/// are judged as usual.
pub fn gate_policy() -> DetectPolicy {
    let mut policy = DetectPolicy::default();
    policy.leases.renew_gap_factor = 100.0;
    policy
}

/// Virtual time runs 200 times as fast as real time: a 200 GiB rebuild takes a real second.
pub async fn lab() -> Lab {
    lab_of(Twin::homelab(start_time())).await
}

/// [`lab`] serving `twin`.
pub async fn lab_of(twin: Twin) -> Lab {
    let twin = serve(
        twin,
        ServeOptions {
            speed: 200.0,
            ..ServeOptions::default()
        },
    )
    .await
    .expect("the twin serves");
    twin.with_twin(|t| t.store.set_history_limit(5_000_000));
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    twin.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let (client, cluster) = client_for_apply(Some(&kubeconfig), None)
        .await
        .expect("client");
    Lab {
        twin,
        dir,
        kubeconfig,
        client,
        server: cluster.server,
    }
}

impl Lab {
    pub async fn snapshot(&self) -> posture_core::Snapshot {
        let (client, cluster) = posture_kube::client_from(Some(&self.kubeconfig), None)
            .await
            .expect("client");
        posture_kube::collect(&client, &cluster)
            .await
            .expect("collect")
    }

    pub async fn plan(&self, options: PlanOptions) -> Plan {
        let snapshot = self.snapshot().await;
        let cluster =
            ClusterIdentity::from_snapshot(&snapshot, &self.server).expect("kube-system uid");
        posture_core::plan::plan(
            &snapshot,
            &Policy::default(),
            &PlanInputs { cluster, options },
        )
        .expect("plan")
    }

    pub fn journal_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn settings(&self) -> EngineSettings {
        let mut settings = EngineSettings::new(LockSettings::for_this_process(false));
        settings.timeout = Duration::from_secs(120);
        settings.gate = Some(gate_policy());
        settings
    }

    /// Applies `plan` from the start with a new journal.
    pub async fn apply(&self, plan: &Plan, journal: &str, settings: EngineSettings) -> Outcome {
        let header = JournalHeader::for_plan(plan);
        let mut file = JournalFile::create(&self.journal_path(journal), &header).expect("journal");
        let point = resume_point(plan, &header, &[]).expect("resume point");
        self.run(plan, &mut file, settings, Mode::Apply(point))
            .await
    }

    pub async fn run(
        &self,
        plan: &Plan,
        journal: &mut JournalFile,
        settings: EngineSettings,
        mode: Mode,
    ) -> Outcome {
        self.run_approving(plan, journal, settings, mode, None)
            .await
    }

    /// The changes `journal` records as applied and not undone, newest first.
    pub fn still_applied(&self, plan: &Plan, journal: &str) -> Vec<AppliedChange> {
        let parsed = read_journal(&self.journal_path(journal)).expect("journal");
        rollback_queue_for(plan, &parsed).expect("queue")
    }

    /// Rolls back what `journal` records as applied; returns how many changes that was.
    pub async fn roll_back(&self, plan: &Plan, journal: &str) -> (usize, Outcome) {
        let (mut file, parsed) = JournalFile::open(&self.journal_path(journal)).expect("reopen");
        let queue = rollback_queue_for(plan, &parsed).expect("queue");
        let undone = queue.len();
        let outcome = self
            .run(plan, &mut file, self.settings(), Mode::Rollback(queue))
            .await;
        (undone, outcome)
    }

    /// Applies `plan` from the start, asking `approver` before every stage.
    pub async fn apply_approving(
        &self,
        plan: &Plan,
        journal: &str,
        approver: &mut dyn Approver,
    ) -> Outcome {
        let header = JournalHeader::for_plan(plan);
        let mut file = JournalFile::create(&self.journal_path(journal), &header).expect("journal");
        let point = resume_point(plan, &header, &[]).expect("resume point");
        self.run_approving(
            plan,
            &mut file,
            self.settings(),
            Mode::Apply(point),
            Some(approver),
        )
        .await
    }

    async fn run_approving(
        &self,
        plan: &Plan,
        journal: &mut JournalFile,
        settings: EngineSettings,
        mode: Mode,
        approver: Option<&mut dyn Approver>,
    ) -> Outcome {
        let auto_approve = approver.is_none();
        let mut approve_all = ApproveAll;
        let approver = approver.unwrap_or(&mut approve_all);
        let mut engine = Engine {
            client: self.client.clone(),
            server: self.server.clone(),
            options: ApplyOptions {
                auto_approve,
                backoff_base: Duration::from_millis(20),
                backoff_max: Duration::from_millis(200),
                ..ApplyOptions::default()
            },
            settings,
            journal,
            approver,
        };
        engine.run(plan, mode).await.expect("engine runs")
    }

    /// The object as the API serves it now.
    pub async fn get(&self, object: &posture_core::ObjectRef) -> Option<Value> {
        let gvk = match object.api_version.split_once('/') {
            Some((g, v)) => kube::api::GroupVersionKind::gvk(g, v, &object.kind),
            None => kube::api::GroupVersionKind::gvk("", &object.api_version, &object.kind),
        };
        let (resource, _) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .expect("discovery");
        let api: kube::Api<kube::api::DynamicObject> = match &object.namespace {
            Some(ns) => kube::Api::namespaced_with(self.client.clone(), ns, &resource),
            None => kube::Api::all_with(self.client.clone(), &resource),
        };
        api.get_opt(&object.name)
            .await
            .expect("get")
            .map(|o| serde_json::to_value(o).expect("json"))
    }
}
