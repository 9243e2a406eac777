//! The store's vocabulary: where an object lives, what a committed change is, and how a
//! write can fail (the API server turns these into Status bodies).

use serde_json::Value;

use crate::resources::{self, ResourceType};

/// Where an object lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub group: &'static str,
    pub plural: &'static str,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(rt: &'static ResourceType, namespace: &str, name: &str) -> Self {
        Self {
            group: rt.group,
            plural: rt.plural,
            namespace: if rt.namespaced {
                namespace.to_owned()
            } else {
                String::new()
            },
            name: name.to_owned(),
        }
    }

    pub fn resource(&self) -> &'static ResourceType {
        resources::by_plural(self.group, self.plural)
            .expect("keys are only built from registered resources")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One committed change, as a watch reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    pub resource_version: u64,
    pub change: ChangeType,
    pub key: ObjectKey,
    pub object: Value,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} \"{name}\" not found")]
    NotFound { kind: String, name: String },
    #[error("{kind} \"{name}\" already exists")]
    AlreadyExists { kind: String, name: String },
    #[error(
        "Operation cannot be fulfilled on {plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict { plural: String, name: String },
    #[error("too old resource version: {requested} ({oldest})")]
    Gone { requested: u64, oldest: u64 },
    #[error("{kind} \"{name}\" is invalid: {reason}")]
    Invalid {
        kind: String,
        name: String,
        reason: String,
    },
}
