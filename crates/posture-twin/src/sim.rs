//! The simulated control plane, kubelets and Longhorn manager.

use jiff::Timestamp;

use crate::fault::Fault;
use crate::store::Store;

/// Everything the simulation remembers between steps that is not in the store.
#[derive(Debug, Default)]
pub struct Simulation {}

impl Simulation {
    /// Runs every controller once at `now`, without time passing.
    pub fn reconcile(&mut self, _store: &mut Store, _now: Timestamp) {}

    /// Applies a cluster-side fault. API-side faults are the server's business.
    pub fn inject(&mut self, _store: &mut Store, _fault: &Fault, _now: Timestamp) {}
}
