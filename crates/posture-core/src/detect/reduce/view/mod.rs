//! Sparse typed views of watched objects: only the fields the reducer reads, read straight
//! from a watch event's JSON (borrowing its strings) or from a `serde_json::Value`, so both
//! paths reduce exactly the same thing. Everything else in an object is scanned past and never
//! stored: most of its bytes, and all of the allocation a `Value` would make.
//!
//! One view serves every watched kind: the kind is known only after `apiVersion` and `kind`
//! are read, and the fields of different kinds do not clash (absent fields cost nothing).

mod lenient;

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

pub(crate) use lenient::{Entries, Flag, Int, List, Obj, Text};

use super::{EventType, WatchedKind};

/// A watch event's JSON could not be read at all (not JSON, or truncated).
#[derive(Debug, thiserror::Error)]
#[error("unreadable watch event")]
pub struct UnreadableEvent(#[from] serde_json::Error);

/// What the reducer reads of one watched object, borrowed from the JSON it came from. Boxed:
/// the view is large and serde moves it through several layers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchedObject<'a>(Obj<Box<Fields<'a>>>);

impl<'de: 'a, 'a> Deserialize<'de> for WatchedObject<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Obj::deserialize(deserializer).map(WatchedObject)
    }
}

impl<'a> WatchedObject<'a> {
    /// Reads an object's JSON, borrowing its strings.
    pub fn from_json(json: &'a str) -> Result<Self, UnreadableEvent> {
        match serde_json::from_str(json) {
            Ok(object) => Ok(object),
            // A repeated key (which the view rejects and a `Value` resolves, last one
            // winning) goes the `Value` way, so both always agree.
            Err(_) => Ok(Self::from_owned_value(serde_json::from_str(json)?)),
        }
    }

    /// [`WatchedObject::from_json`] from bytes, which must be UTF-8 (checked as read).
    pub fn from_json_bytes(json: &'a [u8]) -> Result<Self, UnreadableEvent> {
        match serde_json::from_slice(json) {
            Ok(object) => Ok(object),
            Err(_) => Ok(Self::from_owned_value(serde_json::from_slice(json)?)),
        }
    }

    /// Views an object already parsed into a `Value`, borrowing its strings.
    pub fn from_value(object: &'a Value) -> Self {
        // Every field is lenient and a `Value` has no repeated keys, so this cannot fail;
        // if it ever did, the object would read as empty rather than panic.
        Self::deserialize(object).unwrap_or_default()
    }

    fn from_owned_value(object: Value) -> Self {
        Self::deserialize(object).unwrap_or_default()
    }

    /// The watched resource this object is, from its `apiVersion` and `kind`.
    pub fn watched_kind(&self) -> Option<WatchedKind> {
        WatchedKind::of(self.0.api_version.get()?, self.0.kind.get()?)
    }

    /// A stand-in for an object known only by its key, as a relist reduces what vanished.
    pub(crate) fn named(namespace: Option<&'a str>, name: &'a str) -> Self {
        let metadata = Metadata {
            name: Text(Some(Cow::Borrowed(name))),
            namespace: Text(namespace.map(Cow::Borrowed)),
            ..Metadata::default()
        };
        Self(Obj(Box::new(Fields {
            metadata: Obj(metadata),
            ..Fields::default()
        })))
    }

    pub(crate) fn fields(&self) -> &Fields<'a> {
        &self.0
    }
}

/// One line of a recorded watch stream, `{"type":"MODIFIED","object":{...}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchEvent<'a> {
    /// `None` for `BOOKMARK`, `ERROR` and anything else that is not a change of an object.
    pub change: Option<EventType>,
    pub object: WatchedObject<'a>,
}

#[derive(Debug, Default, Deserialize)]
struct Envelope<'a> {
    #[serde(default, rename = "type", borrow)]
    change: Text<'a>,
    #[serde(default, borrow)]
    object: WatchedObject<'a>,
}

impl<'a> WatchEvent<'a> {
    /// Reads one watch event's JSON, borrowing its strings.
    pub fn from_json(json: &'a str) -> Result<Self, UnreadableEvent> {
        // A repeated key (which the view rejects and a `Value` resolves, last one winning)
        // goes the `Value` way, so both always agree.
        let envelope = serde_json::from_str(json).or_else(|_| {
            let value: Value = serde_json::from_str(json)?;
            Ok::<_, UnreadableEvent>(Obj::deserialize(value).unwrap_or_default())
        })?;
        Ok(Self::from_envelope(envelope))
    }

    /// [`WatchEvent::from_json`] from bytes, which must be UTF-8 (checked as read).
    pub fn from_json_bytes(json: &'a [u8]) -> Result<Self, UnreadableEvent> {
        let envelope = serde_json::from_slice(json).or_else(|_| {
            let value: Value = serde_json::from_slice(json)?;
            Ok::<_, UnreadableEvent>(Obj::deserialize(value).unwrap_or_default())
        })?;
        Ok(Self::from_envelope(envelope))
    }

    fn from_envelope(Obj(Envelope { change, object }): Obj<Envelope<'a>>) -> Self {
        let change = match change.get() {
            Some("ADDED") => Some(EventType::Added),
            Some("MODIFIED") => Some(EventType::Modified),
            Some("DELETED") => Some(EventType::Deleted),
            _ => None,
        };
        Self { change, object }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Fields<'a> {
    #[serde(default, borrow)]
    pub(crate) api_version: Text<'a>,
    #[serde(default, borrow)]
    pub(crate) kind: Text<'a>,
    #[serde(default, borrow)]
    pub(crate) metadata: Obj<Metadata<'a>>,
    #[serde(default, borrow)]
    pub(crate) spec: Obj<Spec<'a>>,
    #[serde(default, borrow)]
    pub(crate) status: Obj<Status<'a>>,
    /// EndpointSlice.
    #[serde(default, borrow)]
    pub(crate) endpoints: List<Obj<Endpoint<'a>>>,
    /// Event.
    #[serde(default, borrow)]
    pub(crate) reason: Text<'a>,
    /// Event.
    #[serde(default, borrow)]
    pub(crate) involved_object: Obj<ObjectReference<'a>>,
    /// Longhorn Setting.
    #[serde(default, borrow)]
    pub(crate) value: Text<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Metadata<'a> {
    #[serde(default, borrow)]
    pub(crate) name: Text<'a>,
    #[serde(default, borrow)]
    pub(crate) namespace: Text<'a>,
    #[serde(default, borrow)]
    pub(crate) labels: Obj<Labels<'a>>,
    #[serde(default, borrow)]
    pub(crate) owner_references: List<Obj<OwnerReference<'a>>>,
}

/// The labels the reducer reads; other labels are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct Labels<'a> {
    #[serde(default, rename = "k8s-app", borrow)]
    pub(crate) k8s_app: Text<'a>,
    #[serde(default, rename = "pod-template-hash", borrow)]
    pub(crate) pod_template_hash: Text<'a>,
    #[serde(default, rename = "controller-revision-hash", borrow)]
    pub(crate) controller_revision_hash: Text<'a>,
    #[serde(default, rename = "kubernetes.io/service-name", borrow)]
    pub(crate) service_name: Text<'a>,
    #[serde(default, rename = "longhornnode", borrow)]
    pub(crate) longhorn_node: Text<'a>,
    #[serde(default, rename = "longhornvolume", borrow)]
    pub(crate) longhorn_volume: Text<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct OwnerReference<'a> {
    #[serde(default)]
    pub(crate) controller: Flag,
    #[serde(default, borrow)]
    pub(crate) kind: Text<'a>,
    #[serde(default, borrow)]
    pub(crate) name: Text<'a>,
}

/// The spec fields of every watched kind (pods, leases, attachments, Longhorn replicas and
/// engines).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Spec<'a> {
    #[serde(default, borrow)]
    pub(crate) containers: List<Obj<Container<'a>>>,
    #[serde(default, borrow)]
    pub(crate) holder_identity: Text<'a>,
    #[serde(default, borrow)]
    pub(crate) renew_time: Text<'a>,
    #[serde(default)]
    pub(crate) lease_duration_seconds: Int,
    #[serde(default, borrow)]
    pub(crate) source: Obj<AttachmentSource<'a>>,
    #[serde(default, borrow)]
    pub(crate) node_name: Text<'a>,
    #[serde(default, rename = "nodeID", borrow)]
    pub(crate) node_id: Text<'a>,
    #[serde(default, borrow)]
    pub(crate) volume_name: Text<'a>,
    /// Longhorn Replica: set when the replica failed, cleared before it is rebuilt.
    #[serde(default, borrow)]
    pub(crate) failed_at: Text<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct Container<'a> {
    #[serde(default, borrow)]
    pub(crate) image: Text<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AttachmentSource<'a> {
    #[serde(default, borrow)]
    pub(crate) persistent_volume_name: Text<'a>,
}

/// The status fields of every watched kind (pods, nodes, attachments, Longhorn volumes and
/// engines).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Status<'a> {
    #[serde(default, borrow)]
    pub(crate) reason: Text<'a>,
    #[serde(default, borrow)]
    pub(crate) conditions: List<Obj<Condition<'a>>>,
    #[serde(default, borrow)]
    pub(crate) init_container_statuses: List<Obj<ContainerStatus<'a>>>,
    #[serde(default, borrow)]
    pub(crate) container_statuses: List<Obj<ContainerStatus<'a>>>,
    #[serde(default, borrow)]
    pub(crate) state: Text<'a>,
    #[serde(default, borrow)]
    pub(crate) robustness: Text<'a>,
    #[serde(default, borrow)]
    pub(crate) replica_mode_map: Entries<'a>,
    #[serde(default)]
    pub(crate) attached: Flag,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct Condition<'a> {
    #[serde(default, rename = "type", borrow)]
    pub(crate) type_: Text<'a>,
    #[serde(default, borrow)]
    pub(crate) status: Text<'a>,
    #[serde(default, borrow)]
    pub(crate) reason: Text<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContainerStatus<'a> {
    #[serde(default, borrow)]
    pub(crate) name: Text<'a>,
    #[serde(default)]
    pub(crate) restart_count: Int,
    #[serde(default, borrow)]
    pub(crate) state: Obj<ContainerState<'a>>,
    #[serde(default, borrow)]
    pub(crate) last_state: Obj<LastState<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct LastState<'a> {
    #[serde(default, borrow)]
    pub(crate) terminated: Obj<Terminated<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Terminated<'a> {
    #[serde(default, borrow)]
    pub(crate) finished_at: Text<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct ContainerState<'a> {
    #[serde(default, borrow)]
    pub(crate) waiting: Obj<Waiting<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct Waiting<'a> {
    #[serde(default, borrow)]
    pub(crate) reason: Text<'a>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Endpoint<'a> {
    #[serde(default)]
    pub(crate) conditions: Obj<EndpointConditions>,
    #[serde(default, borrow)]
    pub(crate) target_ref: Obj<ObjectReference<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct EndpointConditions {
    #[serde(default)]
    pub(crate) ready: Flag,
    #[serde(default)]
    pub(crate) terminating: Flag,
}

/// An Event's `involvedObject` or an endpoint's `targetRef`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct ObjectReference<'a> {
    #[serde(default, borrow)]
    pub(crate) kind: Text<'a>,
    #[serde(default, borrow)]
    pub(crate) name: Text<'a>,
    #[serde(default, borrow)]
    pub(crate) namespace: Text<'a>,
}

impl Fields<'_> {
    pub(crate) fn name(&self) -> &str {
        self.metadata.name.get().unwrap_or_default()
    }

    pub(crate) fn namespace(&self) -> Option<&str> {
        self.metadata.namespace.get()
    }

    /// `namespace/name`, or the name alone for cluster-scoped objects.
    pub(crate) fn key(&self) -> String {
        match self.namespace() {
            Some(ns) if !ns.is_empty() => super::join_key(ns, self.name()),
            _ => self.name().to_owned(),
        }
    }

    pub(crate) fn labels(&self) -> &Labels<'_> {
        &self.metadata.labels
    }
}
