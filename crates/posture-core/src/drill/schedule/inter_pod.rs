//! Filters on the pods already placed: required pod anti-affinity (the candidate's terms and
//! those of the pods around it) and DoNotSchedule topology spread.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, PodAffinityTerm, PodSpec, TopologySpreadConstraint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::node::without_node_name;
use super::{Candidate, Cluster, label, rejection};
use crate::checks::selectors;
use crate::drill::pods::PodView;
use crate::drill::types::{Filter, Rejection};
use crate::report::Evidence;
use crate::snapshot::Snapshot;
use crate::topology::node_name;

impl<'s> Cluster<'s, '_> {
    pub(super) fn anti_affinity(&self, c: &Candidate<'_>, node: &Node, out: &mut Vec<Rejection>) {
        let own = required_anti_affinity(Some(c.spec));
        for term in own {
            if let Some(other) = self.in_domain(term, c.namespace, node).next() {
                let path = format!(
                    "{}.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution",
                    c.spec_path
                );
                out.push(rejection(
                    node,
                    Filter::PodAntiAffinity,
                    format!(
                        "{} already runs in its {} domain",
                        other.describe_short(),
                        term.topology_key
                    ),
                    Evidence::field(
                        c.source,
                        &path,
                        serde_json::to_value(own).unwrap_or_default(),
                    ),
                ));
                return;
            }
        }
        // Pods already there keep the candidate off their domain with their own terms.
        for other in self.pods {
            let Some(on) = other.node.as_deref().and_then(|n| self.node(n)) else {
                continue;
            };
            for term in required_anti_affinity(other.spec) {
                let key = term.topology_key.as_str();
                let domain = label(node, key);
                if domain.is_some()
                    && label(on, key) == domain
                    && term_namespaces(term, &other.namespace, c.namespace, self.snapshot)
                    && term_selects(term, c.labels)
                {
                    out.push(rejection(
                        node,
                        Filter::PodAntiAffinity,
                        format!(
                            "{}'s required anti-affinity keeps it off the {key} domain",
                            other.describe_short()
                        ),
                        Evidence::field(
                            &other.object,
                            "spec.affinity.podAntiAffinity",
                            serde_json::to_value(term).unwrap_or_default(),
                        ),
                    ));
                    return;
                }
            }
        }
    }

    /// Pods in `node`'s domain for `term` that the term selects, seen from namespace `ns`.
    fn in_domain<'a>(
        &'a self,
        term: &'a PodAffinityTerm,
        ns: &'a str,
        node: &'a Node,
    ) -> impl Iterator<Item = &'a PodView<'s>> + 'a {
        let key = term.topology_key.as_str();
        let domain = label(node, key);
        self.pods.iter().filter(move |p| {
            let Some(on) = p.node.as_deref().and_then(|n| self.node(n)) else {
                return false;
            };
            domain.is_some()
                && label(on, key) == domain
                && term_namespaces(term, ns, &p.namespace, self.snapshot)
                && term_selects(term, &p.labels)
        })
    }

    pub(super) fn spread(&self, c: &Candidate<'_>, node: &Node, out: &mut Vec<Rejection>) {
        let constraints = c
            .spec
            .topology_spread_constraints
            .as_deref()
            .unwrap_or_default();
        for constraint in constraints
            .iter()
            .filter(|t| t.when_unsatisfiable == "DoNotSchedule")
        {
            if let Some(detail) = self.skew(c, constraint, node) {
                let path = format!("{}.topologySpreadConstraints", c.spec_path);
                out.push(rejection(
                    node,
                    Filter::TopologySpread,
                    detail,
                    Evidence::field(
                        c.source,
                        &path,
                        serde_json::to_value(constraints).unwrap_or_default(),
                    ),
                ));
                return;
            }
        }
    }

    /// Why placing on `node` breaks `constraint`, if it does. Domains are those of the nodes the
    /// pod's node affinity admits, taints ignored (kube-scheduler's defaults); pods being deleted
    /// do not count.
    fn skew(
        &self,
        c: &Candidate<'_>,
        constraint: &TopologySpreadConstraint,
        node: &Node,
    ) -> Option<String> {
        let key = constraint.topology_key.as_str();
        let Some(here) = label(node, key) else {
            return Some(format!("{} has no {key} label", node_name(node)));
        };
        let mut counts: BTreeMap<&String, i64> = BTreeMap::new();
        for n in self
            .nodes
            .iter()
            .filter(|n| selectors::admits_node(&without_node_name(c.spec), n))
        {
            let Some(domain) = label(n, key) else {
                continue;
            };
            let matching = self
                .on(node_name(n))
                .filter(|p| {
                    !p.terminating
                        && p.namespace == c.namespace
                        && constraint
                            .label_selector
                            .as_ref()
                            .is_some_and(|s| selectors::selects(s, &p.labels))
                })
                .count() as i64;
            *counts.entry(domain).or_default() += matching;
        }
        let min_domains = constraint.min_domains.unwrap_or(1).max(1) as usize;
        let min = if counts.len() < min_domains {
            0
        } else {
            counts.values().copied().min().unwrap_or(0)
        };
        let count = counts.get(here).copied().unwrap_or(0);
        let max_skew = i64::from(constraint.max_skew.max(1));
        (count + 1 - min > max_skew).then(|| format!(
            "maxSkew {max_skew} on {key}: {} would have {} matching pods against {min} in the emptiest domain",
            here, count + 1
        ))
    }
}

pub(super) fn required_anti_affinity(spec: Option<&PodSpec>) -> &[PodAffinityTerm] {
    spec.and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or_default()
}

/// A term without a label selector selects nothing, as in the API.
fn term_selects(term: &PodAffinityTerm, labels: &BTreeMap<String, String>) -> bool {
    term.label_selector
        .as_ref()
        .is_some_and(|s| selectors::selects(s, labels))
}

/// Whether `term`, written in a pod of namespace `own`, covers pods of namespace `other`.
fn term_namespaces(term: &PodAffinityTerm, own: &str, other: &str, snapshot: &Snapshot) -> bool {
    let listed = term.namespaces.as_deref().unwrap_or_default();
    match (&term.namespace_selector, listed.is_empty()) {
        (None, true) => own == other,
        (None, false) => listed.iter().any(|n| n == other),
        (Some(selector), _) => {
            listed.iter().any(|n| n == other) || namespace_selected(selector, other, snapshot)
        }
    }
}

fn namespace_selected(selector: &LabelSelector, namespace: &str, snapshot: &Snapshot) -> bool {
    let labels = (snapshot.namespaces.iter())
        .find(|n| n.metadata.name.as_deref() == Some(namespace))
        .and_then(|n| n.metadata.labels.clone())
        .unwrap_or_else(|| {
            [(
                "kubernetes.io/metadata.name".to_owned(),
                namespace.to_owned(),
            )]
            .into()
        });
    selectors::selects(selector, &labels)
}
