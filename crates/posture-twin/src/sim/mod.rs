//! The simulated control plane, kubelets and Longhorn manager.
//!
//! Every controller is a function of the store, the virtual time and the [`Simulation`]'s own
//! memory (timers, faults). They iterate in sorted order and use no randomness, so two twins fed
//! the same inputs end with identical stores.
//!
//! Timings follow upstream defaults so runbook waits mean what they mean on a real cluster:
//! containers run 2 s after binding and turn Ready after their readiness probe's
//! `initialDelaySeconds + periodSeconds`; kubelets post status and renew node leases every 10 s;
//! a silent node goes NotReady (Unknown) 40 s after its last heartbeat and its pods are evicted
//! when their toleration of the unreachable taint (300 s by default, forever for DaemonSet pods)
//! runs out; leader leases are renewed every 2 s. Longhorn rebuilds at 1 GiB per virtual second,
//! fails replicas 5 s after their node goes silent, and replaces failed replicas only after
//! `replica-replenishment-wait-interval`, counted from when the twin first sees the shortfall
//! (never from timestamps in a loaded scenario). See [`SimConfig`].
//!
//! A loaded scenario is brought to steady state by [`Simulation::bootstrap`]: pods of every
//! workload exist, Running and Ready, with statuses, EndpointSlices and node leases in place,
//! while the Longhorn objects keep exactly the picture the file gives.

mod dirty;
mod events;
mod faults;
mod kubelet;
mod leases;
mod longhorn;
mod nodes;
mod pods;
pub mod scale;
mod scheduler;
mod services;
mod util;
mod workloads;

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use self::dirty::Gate;
use crate::fault::Fault;
use crate::store::Store;

pub use scale::{ScaleParams, generate_scenario};

/// Tunables of the simulated cluster. Defaults follow upstream Kubernetes and Longhorn.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Longhorn rebuild throughput (bytes per virtual second).
    pub rebuild_bytes_per_second: u64,
    /// Time from a pod's binding until its containers run.
    pub container_start: SignedDuration,
    /// How often kubelets post node status and renew their node lease.
    pub heartbeat_interval: SignedDuration,
    /// Silence after which the node controller marks a node NotReady (Unknown).
    pub node_monitor_grace: SignedDuration,
    /// How often leader-election leases are renewed.
    pub leader_renew_interval: SignedDuration,
    /// Time until Longhorn declares replicas on a lost node failed.
    pub replica_failure_delay: SignedDuration,
    /// How long a container runs before a crash-looping pod crashes again.
    pub crash_after: SignedDuration,
    /// How long a terminating pod's containers take to stop once its kubelet sees it.
    pub pod_termination: SignedDuration,
    /// How long an imbalance of a volume's replicas stands before Longhorn's replica
    /// auto-balance acts, so a freshly loaded scenario keeps its picture for a while.
    pub auto_balance_delay: SignedDuration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            rebuild_bytes_per_second: 1 << 30,
            container_start: SignedDuration::from_secs(2),
            heartbeat_interval: SignedDuration::from_secs(10),
            node_monitor_grace: SignedDuration::from_secs(40),
            leader_renew_interval: SignedDuration::from_secs(2),
            replica_failure_delay: SignedDuration::from_secs(5),
            crash_after: SignedDuration::from_secs(5),
            pod_termination: SignedDuration::from_secs(1),
            auto_balance_delay: SignedDuration::from_secs(300),
        }
    }
}

/// Everything the simulation remembers between steps that is not in the store.
#[derive(Debug, Default)]
pub struct Simulation {
    pub config: SimConfig,
    /// While true, new pods start Running and Ready at once (the scenario's steady state).
    bootstrapping: bool,
    faults: faults::Faults,
    kubelet: kubelet::KubeletMemory,
    nodes: nodes::NodeMemory,
    leases: BTreeMap<(String, String), Timestamp>,
    events: events::EventMemory,
    scheduling_messages: BTreeMap<(String, String), String>,
    longhorn: longhorn::LonghornMemory,
    workloads: workloads::WorkloadMemory,
    dirty: dirty::Dirty,
}

/// How many controller passes one reconcile may take before leaving the rest to the next one.
const MAX_PASSES: usize = 12;

impl Simulation {
    pub fn with_config(config: SimConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Brings a freshly loaded scenario to the steady state its objects describe: workloads'
    /// pods exist and are Running and Ready, statuses and endpoints match, node leases exist.
    pub fn bootstrap(&mut self, store: &mut Store, now: Timestamp) {
        self.bootstrapping = true;
        self.reconcile(store, now);
        self.bootstrapping = false;
    }

    /// Runs every controller at `now` until nothing changes, without time passing.
    pub fn reconcile(&mut self, store: &mut Store, now: Timestamp) {
        for _ in 0..MAX_PASSES {
            let before = store.resource_version();
            self.pass(store, now);
            if store.resource_version() == before {
                break;
            }
        }
    }

    /// One round of every controller. Store-driven ones are skipped when none of their inputs
    /// changed since they last ran; clock-driven ones (nodes, leases, kubelets, Longhorn) always
    /// run.
    fn pass(&mut self, store: &mut Store, now: Timestamp) {
        nodes::reconcile(self, store, now);
        leases::reconcile(self, store, now);
        self.dirty.observe(store);
        if self.dirty.take(Gate::Workloads) {
            workloads::collect_garbage(store, now);
            workloads::deployments(self, store, now);
            workloads::replica_sets(self, store, now);
            workloads::stateful_sets(self, store, now);
            workloads::daemon_sets(self, store, now);
        }
        self.dirty.observe(store);
        if self.dirty.take(Gate::Scheduler) {
            scheduler::schedule(self, store, now);
        }
        self.dirty.observe(store);
        let pods_changed = self.dirty.take(Gate::Kubelets);
        if pods_changed || self.bootstrapping || self.kubelet.busy() || self.faults.pod_faults() {
            kubelet::reconcile(self, store, now);
        }
        self.dirty.observe(store);
        if self.dirty.take(Gate::Statuses) {
            workloads::statuses(store, now);
        }
        if self.dirty.take(Gate::Endpoints) {
            services::endpoint_slices(store, now);
        }
        if self.dirty.take(Gate::Budgets) {
            services::disruption_budgets(store, now);
        }
        self.dirty.observe(store);
        let longhorn_inputs_changed = self.dirty.take(Gate::Longhorn);
        if longhorn_inputs_changed || longhorn::busy(self) {
            longhorn::reconcile(
                self,
                store,
                now,
                longhorn_inputs_changed || self.bootstrapping,
            );
        }
    }

    /// Applies a cluster-side fault. API-side faults are the server's business.
    pub fn inject(&mut self, store: &mut Store, fault: &Fault, now: Timestamp) {
        faults::inject(self, store, fault, now);
    }
}
