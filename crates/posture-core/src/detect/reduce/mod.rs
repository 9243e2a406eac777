//! Reduces watch events of whole objects to [`Signal`]s by comparing each object with the little
//! the reducer remembers of it (restart counts, ready endpoint counts, lease holders, volume
//! states, replica modes). Memory is bounded by live objects: a deleted object's memo goes.
//!
//! The first sight of an object (an `Added` from the initial list or a later create) sets its
//! baseline: history such as an old restartCount is not reported as a change.
//!
//! Objects are read through [`WatchedObject`], a sparse view of the few fields compared; it is
//! read from a `serde_json::Value` or, much faster, straight from a watch event's JSON.

mod longhorn;
mod network;
mod pods;
mod relist;
mod size;
mod view;

use std::collections::HashMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::signal::{Signal, SignalKind};

use view::Fields;
pub use view::{UnreadableEvent, WatchEvent, WatchedObject};

/// The resources `posture watch` watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WatchedKind {
    Pod,
    EndpointSlice,
    /// Leases in kube-system (control plane) and kube-node-lease (kubelet heartbeats).
    Lease,
    Node,
    /// core/v1 Events.
    Event,
    LonghornVolume,
    LonghornReplica,
    LonghornEngine,
    LonghornSetting,
    VolumeAttachment,
}

impl WatchedKind {
    /// Recognises a watched resource from an object's `apiVersion` and `kind`.
    pub fn of(api_version: &str, kind: &str) -> Option<Self> {
        Some(match (api_version, kind) {
            ("v1", "Pod") => Self::Pod,
            ("discovery.k8s.io/v1", "EndpointSlice") => Self::EndpointSlice,
            ("coordination.k8s.io/v1", "Lease") => Self::Lease,
            ("v1", "Node") => Self::Node,
            ("v1", "Event") => Self::Event,
            ("storage.k8s.io/v1", "VolumeAttachment") => Self::VolumeAttachment,
            (group, kind) if group.starts_with("longhorn.io/") => match kind {
                "Volume" => Self::LonghornVolume,
                "Replica" => Self::LonghornReplica,
                "Engine" => Self::LonghornEngine,
                "Setting" => Self::LonghornSetting,
                _ => return None,
            },
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// Remembers per live object only what the next comparison needs.
#[derive(Debug, Default)]
pub struct Reducer {
    pods: HashMap<String, pods::PodMemo>,
    /// Live pods per workload and revision (pod-template-hash or controller-revision-hash),
    /// to tell a rollout's deletions from an eviction loop's.
    revisions: HashMap<String, HashMap<String, u32>>,
    slices: HashMap<String, network::SliceMemo>,
    services: HashMap<String, network::ServiceMemo>,
    leases: HashMap<String, network::LeaseMemo>,
    nodes: HashMap<String, bool>,
    attachments: HashMap<String, network::AttachmentMemo>,
    volumes: HashMap<String, longhorn::VolumeMemo>,
    replica_nodes: HashMap<String, String>,
    engines: HashMap<String, longhorn::EngineMemo>,
    /// Rebuilds still running whose replica dropped out of its engine's mode map, by replica.
    dropped_rebuilds: HashMap<String, longhorn::DroppedRebuild>,
    rebuild_limit: Option<u32>,
}

impl Reducer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The signals one watch event amounts to, stamped `at` (when the watcher saw it).
    pub fn reduce(
        &mut self,
        at: Timestamp,
        resource: WatchedKind,
        change: EventType,
        object: &Value,
    ) -> Vec<Signal> {
        self.reduce_object(at, resource, change, &WatchedObject::from_value(object))
    }

    /// [`Reducer::reduce`] from the object's JSON, read without building a `Value`.
    pub fn reduce_json(
        &mut self,
        at: Timestamp,
        resource: WatchedKind,
        change: EventType,
        object: &str,
    ) -> Result<Vec<Signal>, UnreadableEvent> {
        let object = WatchedObject::from_json(object)?;
        Ok(self.reduce_object(at, resource, change, &object))
    }

    /// [`Reducer::reduce`] from an object already viewed.
    pub fn reduce_object(
        &mut self,
        at: Timestamp,
        resource: WatchedKind,
        change: EventType,
        object: &WatchedObject<'_>,
    ) -> Vec<Signal> {
        let object = object.fields();
        let mut out = Out {
            at,
            signals: Vec::new(),
        };
        match resource {
            WatchedKind::Pod => self.pod(change, object, &mut out),
            WatchedKind::Event => self.event(object, &mut out),
            WatchedKind::EndpointSlice => self.endpoint_slice(change, object, &mut out),
            WatchedKind::Lease => self.lease(change, object, &mut out),
            WatchedKind::Node => self.node(change, object, &mut out),
            WatchedKind::VolumeAttachment => self.attachment(change, object, &mut out),
            WatchedKind::LonghornVolume => self.volume(change, object, &mut out),
            WatchedKind::LonghornReplica => self.replica(change, object, &mut out),
            WatchedKind::LonghornEngine => self.engine(change, object, &mut out),
            WatchedKind::LonghornSetting => self.setting(change, object, &mut out),
        }
        out.signals
    }

    /// Objects remembered: the reducer's whole state.
    pub fn live_objects(&self) -> usize {
        self.pods.len()
            + self.slices.len()
            + self.services.len()
            + self.leases.len()
            + self.nodes.len()
            + self.attachments.len()
            + self.volumes.len()
            + self.replica_nodes.len()
            + self.engines.len()
    }
}

/// The signals of one event, stamped with its time as they come.
struct Out {
    at: Timestamp,
    signals: Vec<Signal>,
}

impl Out {
    fn push(&mut self, kind: SignalKind) {
        self.signals.push(Signal::new(self.at, kind));
    }
}

/// `namespace/name` in one allocation.
fn join_key(namespace: &str, name: &str) -> String {
    let mut key = String::with_capacity(namespace.len() + 1 + name.len());
    key.push_str(namespace);
    key.push('/');
    key.push_str(name);
    key
}
