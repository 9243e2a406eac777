//! Longhorn rebuild storms: more replicas rebuilding at once on one node than Longhorn's
//! `concurrent-replica-rebuild-per-node-limit` allows (the runbook sets it to 1, and to 0 to
//! stop rebuilds in an emergency).

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;

use super::alert::{Alert, DetectorKind};
use super::policy::RebuildPolicy;
use super::window::{Millis, millis, seconds_to_millis};
use crate::report::Severity;

#[derive(Debug, Default)]
struct Node {
    /// `volume/replica` of each rebuild in progress.
    active: BTreeSet<String>,
    raised: bool,
    within_since: Option<Millis>,
}

#[derive(Debug)]
pub(crate) struct RebuildConcurrencyDetector {
    limit: u32,
    clear_after: Millis,
    clear_after_seconds: u64,
    nodes: HashMap<String, Node>,
}

impl RebuildConcurrencyDetector {
    pub(crate) fn new(policy: &RebuildPolicy) -> Self {
        Self {
            limit: policy.per_node_limit,
            clear_after: seconds_to_millis(policy.over_limit_clear_seconds),
            clear_after_seconds: policy.over_limit_clear_seconds,
            nodes: HashMap::new(),
        }
    }

    /// A rebuild whose replica's node is not known yet (its Replica object has not been seen,
    /// as when watches relist out of order) is not counted: rebuilds on unknown nodes are not
    /// rebuilds on one node.
    pub(crate) fn started(&mut self, node: &str, rebuild: String, at: Timestamp) -> Option<Alert> {
        if node.is_empty() {
            return None;
        }
        let entry = match self.nodes.get_mut(node) {
            Some(n) => n,
            None => self.nodes.entry(node.to_owned()).or_default(),
        };
        entry.active.insert(rebuild);
        self.evaluate(node, at)
    }

    pub(crate) fn ended(&mut self, node: &str, rebuild: &str, at: Timestamp) -> Option<Alert> {
        let n = self.nodes.get_mut(node)?;
        n.active.remove(rebuild);
        self.evaluate(node, at)
    }

    pub(crate) fn set_limit(&mut self, limit: u32, at: Timestamp, out: &mut Vec<Alert>) {
        self.limit = limit;
        let mut names: Vec<String> = self.nodes.keys().cloned().collect();
        names.sort();
        for node in names {
            out.extend(self.evaluate(&node, at));
        }
    }

    fn evaluate(&mut self, node: &str, at: Timestamp) -> Option<Alert> {
        let limit = self.limit;
        let n = self.nodes.get_mut(node)?;
        let count = n.active.len();
        if count > limit as usize {
            n.within_since = None;
            if n.raised {
                return None;
            }
            n.raised = true;
            return Some(Alert::raised(
                DetectorKind::RebuildConcurrency,
                node,
                Severity::Error,
                at,
                format!("{count} replicas rebuilding at once on {node} (limit {limit})"),
                n.active.iter().map(|r| format!("rebuilding {r}")).collect(),
            ));
        }
        if n.raised {
            n.within_since.get_or_insert(millis(at));
        }
        None
    }

    pub(crate) fn sweep(&mut self, now: Timestamp, out: &mut Vec<Alert>) {
        let now_ms = millis(now);
        let mut cleared = Vec::new();
        for (node, n) in &mut self.nodes {
            if n.raised
                && n.within_since
                    .is_some_and(|s| now_ms.saturating_sub(s) >= self.clear_after)
            {
                n.raised = false;
                n.within_since = None;
                cleared.push(node.clone());
            }
        }
        self.nodes.retain(|_, n| n.raised || !n.active.is_empty());
        cleared.sort();
        for node in cleared {
            out.push(Alert::cleared(
                DetectorKind::RebuildConcurrency,
                &node,
                now,
                format!(
                    "{node} within the rebuild limit ({}) for {}s",
                    self.limit, self.clear_after_seconds
                ),
            ));
        }
    }

    pub(crate) fn live_entries(&self) -> usize {
        self.nodes.len() + self.nodes.values().map(|n| n.active.len()).sum::<usize>()
    }
}
