//! The twin: a simulated two-node k3s cluster with Longhorn that speaks the Kubernetes API.
//!
//! State changes only through API writes, injected faults, and explicit advances of the
//! [`clock::Clock`], so every test is deterministic.

pub mod api;
pub mod clock;
pub mod fault;
pub mod model;
pub mod resources;
pub mod sim;
pub mod store;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::Value;

use crate::clock::Clock;
use crate::fault::Fault;
use crate::sim::Simulation;
use crate::store::Store;

/// The runbook's starting cluster, embedded so the binary needs no files.
pub const HOMELAB_SCENARIO: &str = include_str!("../../../scenarios/homelab.yaml");

/// Argo CD, Flux, KEDA and an HPA on CoreDNS, loaded over the homelab by [`Twin::homelab_gitops`].
pub const GITOPS_OVERLAY: &str = include_str!("../../../scenarios/gitops-overlay.yaml");

/// The CustomResourceDefinitions of the Longhorn kinds the twin serves, installed in every
/// twin so custom resources are validated against their real schemas.
pub const LONGHORN_CRDS: &str = include_str!("../crds/longhorn-v1.12.1.yaml");

/// How far one simulation step moves the clock when advancing.
pub const STEP: SignedDuration = SignedDuration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: invalid YAML: {message}")]
    Yaml { file: String, message: String },
    #[error("{file}: document {index}: {kind} is not a resource the twin serves")]
    UnknownKind {
        file: String,
        index: usize,
        kind: String,
    },
    #[error("{file}: document {index}: {source}")]
    Store {
        file: String,
        index: usize,
        #[source]
        source: store::StoreError,
    },
}

/// A whole simulated cluster: objects, time and the controllers that act on them.
pub struct Twin {
    pub store: Store,
    pub clock: Clock,
    pub sim: Simulation,
}

impl Twin {
    pub fn new(start: Timestamp) -> Self {
        Self {
            store: Store::default(),
            clock: Clock::starting_at(start),
            sim: Simulation::default(),
        }
    }

    /// A twin running the embedded homelab scenario, settled so its pods exist.
    pub fn homelab(start: Timestamp) -> Self {
        let mut twin = Self::new(start);
        twin.load_scenario("homelab.yaml", HOMELAB_SCENARIO)
            .expect("the embedded scenario is valid");
        twin
    }

    /// The homelab with what would fight posture's changes: an Argo CD Application with
    /// self-heal owning the HAProxy ingress controller, a Flux Kustomization owning qdrant, and
    /// an HPA on CoreDNS ([`GITOPS_OVERLAY`]).
    pub fn homelab_gitops(start: Timestamp) -> Self {
        let mut twin = Self::homelab(start);
        twin.create_scenario_objects("gitops-overlay.yaml", GITOPS_OVERLAY)
            .expect("the embedded overlay is valid");
        let tracking = "argocd.argoproj.io/tracking-id";
        for (group, plural, kind) in [
            ("apps", "deployments", "Deployment"),
            ("policy", "poddisruptionbudgets", "PodDisruptionBudget"),
        ] {
            let id = format!("ingress:apps/{kind}:haproxy-controller/haproxy-kubernetes-ingress");
            let rt = resources::by_plural(group, plural).expect("the twin serves it");
            twin.mark(
                rt,
                "haproxy-controller",
                "haproxy-kubernetes-ingress",
                "annotations",
                tracking,
                &id,
            );
        }
        for (key, value) in [
            ("kustomize.toolkit.fluxcd.io/name", "apps"),
            ("kustomize.toolkit.fluxcd.io/namespace", "flux-system"),
        ] {
            let rt = resources::by_plural("apps", "statefulsets").expect("the twin serves it");
            twin.mark(rt, "apps", "qdrant", "labels", key, value);
        }
        twin.store.compact();
        twin
    }

    /// Sets one label or annotation on an object the twin holds, if it holds it.
    fn mark(
        &mut self,
        rt: &'static resources::ResourceType,
        namespace: &str,
        name: &str,
        map: &str,
        key: &str,
        value: &str,
    ) {
        let object_key = store::ObjectKey::new(rt, namespace, name);
        let Some(mut object) = self.store.get(&object_key).cloned() else {
            return;
        };
        object["metadata"][map][key] = Value::String(value.to_owned());
        // The object was just read: the update cannot conflict.
        let _ = self.store.update(&object_key, object, false);
    }

    /// Creates every object of a multi-document YAML scenario (status included), then brings
    /// the cluster to the steady state the objects describe (see [`Simulation::bootstrap`]).
    /// A freshly loaded cluster has no change history: watches start from its resourceVersion.
    pub fn load_scenario(&mut self, file: &str, text: &str) -> Result<(), ScenarioError> {
        let history_limit = self.store.history_limit();
        self.store.set_history_limit(1);
        self.create_scenario_objects("longhorn-v1.12.1.yaml", LONGHORN_CRDS)
            .expect("the embedded CRDs are valid");
        let loaded = self.create_scenario_objects(file, text);
        if loaded.is_ok() {
            self.create_system_namespaces();
            let now = self.clock.now();
            self.sim.bootstrap(&mut self.store, now);
        }
        self.store.set_history_limit(history_limit);
        self.store.compact();
        loaded
    }

    /// Every Kubernetes cluster has these namespaces; scenario files usually leave them out.
    /// Clients rely on them: posture identifies a cluster by the kube-system Namespace's uid.
    fn create_system_namespaces(&mut self) {
        let namespaces = resources::by_plural("", "namespaces").expect("namespaces are served");
        let now = self.clock.now();
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let key = store::ObjectKey::new(namespaces, "", name);
            if self.store.get(&key).is_none() {
                let mut namespace = serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": name},
                    "status": {"phase": "Active"},
                });
                model::prepare(&self.store, namespaces, &mut namespace, None);
                // The namespace was just found missing, so creating it cannot conflict.
                let _ = self.store.create(namespaces, namespace, now, false);
            }
        }
    }

    fn create_scenario_objects(&mut self, file: &str, text: &str) -> Result<(), ScenarioError> {
        let now = self.clock.now();
        for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
            let value = Value::deserialize(document).map_err(|e| ScenarioError::Yaml {
                file: file.to_owned(),
                message: e.to_string(),
            })?;
            if value.is_null() {
                continue;
            }
            let api_version = value
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let kind = value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let rt = resources::by_kind(api_version, kind).ok_or_else(|| {
                ScenarioError::UnknownKind {
                    file: file.to_owned(),
                    index: index + 1,
                    kind: format!("{api_version} {kind}"),
                }
            })?;
            let mut value = value;
            model::prepare(&self.store, rt, &mut value, None);
            let existing = meta_name(&value).and_then(|name| {
                let key = store::ObjectKey::new(rt, "", &name);
                (!rt.namespaced && self.store.get(&key).is_some()).then_some(key)
            });
            let written = match existing {
                // A scenario may bring its own version of a cluster-scoped object installed
                // before it (a CRD): the scenario's wins.
                Some(key) if rt.kind == "CustomResourceDefinition" => {
                    self.store.update(&key, value, false)
                }
                _ => self.store.create(rt, value, now, false),
            };
            written.map_err(|source| ScenarioError::Store {
                file: file.to_owned(),
                index: index + 1,
                source,
            })?;
        }
        Ok(())
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Lets controllers react to the current state without time passing.
    pub fn settle(&mut self) {
        let now = self.clock.now();
        self.sim.reconcile(&mut self.store, now);
    }

    /// Moves virtual time forward in [`STEP`]s, letting controllers act at each step.
    pub fn advance(&mut self, by: SignedDuration) {
        let mut remaining = by;
        while remaining.is_positive() {
            let step = if remaining < STEP { remaining } else { STEP };
            self.clock.advance(step);
            remaining -= step;
            self.settle();
        }
    }

    /// Injects a cluster-side fault.
    pub fn inject(&mut self, fault: &Fault) {
        let now = self.clock.now();
        self.sim.inject(&mut self.store, fault, now);
        self.settle();
    }
}

fn meta_name(object: &Value) -> Option<String> {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homelab_loads_into_the_store() {
        let twin = Twin::homelab("2026-11-23T12:00:00Z".parse().expect("valid"));
        let nodes = resources::by_plural("", "nodes").expect("registered");
        assert_eq!(twin.store.list(nodes, None).count(), 2);
        let volumes = resources::by_plural("longhorn.io", "volumes").expect("registered");
        assert_eq!(twin.store.list(volumes, Some("longhorn-system")).count(), 5);
        let namespaces = resources::by_plural("", "namespaces").expect("registered");
        let kube_system = store::ObjectKey::new(namespaces, "", "kube-system");
        let uid = twin
            .store
            .get(&kube_system)
            .and_then(|ns| ns.pointer("/metadata/uid").cloned());
        assert!(
            uid.is_some(),
            "kube-system exists with a uid, as in every cluster"
        );
    }

    #[test]
    fn advancing_moves_the_clock_exactly() {
        let start: Timestamp = "2026-11-23T12:00:00Z".parse().expect("valid");
        let mut twin = Twin::new(start);
        twin.advance(SignedDuration::from_millis(2500));
        assert_eq!(twin.now(), start + SignedDuration::from_millis(2500));
    }
}
