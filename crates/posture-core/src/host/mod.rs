//! What a k3s server's own files say. Runbook 2.1 reads the datastore and the configuration on
//! the host, where the API cannot see: `config.yaml` (and its drop-ins, merged as k3s merges
//! them), the systemd unit's arguments and environment, `server/db/` and `server/manifests/`.
//!
//! The shell reads files through a [`HostTree`]; everything here is pure, so fixture trees and
//! in-memory trees exercise the same code a real host does. Secrets never leave this module: a
//! token is reported as set, a datastore endpoint without its credentials.

pub mod config;
mod read;
pub mod redact;
pub mod unit;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use read::{FileMeta, HostTree, read_host};

/// The document `posture host` prints and `--host-facts` reads back (kind `HostFacts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostFacts {
    /// The node this host runs as: k3s's `node-name` when set, else the host name.
    pub host: String,
    /// The directory read as `/` (a test tree, or `/` on the server itself).
    #[serde(default)]
    pub root: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected_at: Option<jiff::Timestamp>,
    #[serde(default)]
    pub role: HostRole,
    #[serde(default)]
    pub config: K3sConfig,
    #[serde(default)]
    pub datastore: DatastoreFacts,
    #[serde(default)]
    pub addons: AddonFacts,
    /// What could not be read, and why (a file only root may read, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

/// Whether the host runs a k3s server or an agent, from its service's subcommand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostRole {
    Server,
    Agent,
    #[default]
    Unknown,
}

/// k3s's configuration as the process sees it: the files read, and each setting's merged value
/// with where it came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct K3sConfig {
    /// Config files read, in the order k3s merges them.
    #[serde(default)]
    pub files: Vec<String>,
    /// The service unit whose command line was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Environment files the unit loads that were read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_files: Vec<String>,
    /// Every setting by its flag name without dashes (`datastore-endpoint`), secrets redacted.
    #[serde(default)]
    pub settings: BTreeMap<String, Setting>,
}

/// One merged setting: a flag given once reads as a string, a repeated one as a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    pub value: serde_json::Value,
    /// The file, unit or environment variable that gave the value.
    pub source: String,
}

impl K3sConfig {
    /// A setting's values, whatever their shape (`["traefik", "servicelb"]` for `disable`).
    pub fn values(&self, key: &str) -> Vec<String> {
        match self.settings.get(key).map(|s| &s.value) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect(),
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Bool(b)) => vec![b.to_string()],
            Some(other) => vec![other.to_string()],
            None => Vec::new(),
        }
    }

    /// Whether a boolean flag is on (`cluster-init: true`, `--cluster-init`).
    pub fn flag(&self, key: &str) -> bool {
        self.values(key).last().is_some_and(|v| v != "false")
    }

    pub fn has(&self, key: &str) -> bool {
        self.settings.contains_key(key)
    }
}

/// The datastore the host's files show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostDatastore {
    Sqlite,
    EmbeddedEtcd,
    External,
    /// An agent keeps no datastore.
    None,
    #[default]
    Unknown,
}

impl HostDatastore {
    pub fn label(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::EmbeddedEtcd => "embedded etcd",
            Self::External => "external datastore",
            Self::None => "none (agent)",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatastoreFacts {
    pub kind: HostDatastore,
    /// What decided `kind`: the paths seen, or the setting.
    #[serde(default)]
    pub seen: Vec<String>,
    /// k3s's data directory (`data-dir`, default `/var/lib/rancher/k3s`).
    #[serde(default)]
    pub data_dir: String,
    /// `datastore-endpoint` without its credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlite: Option<FileFacts>,
    /// `state.db.migrated`: k3s moved this server's sqlite data into etcd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlite_migrated: Option<FileFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<EtcdFacts>,
}

/// A file's path, size and last change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileFacts {
    pub path: String,
    pub size_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<jiff::Timestamp>,
}

/// Embedded etcd as its data directory shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EtcdFacts {
    /// This member's name (`db/etcd/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_name: Option<String>,
    /// The members named in `db/etcd/config`'s `initial-cluster`. k3s writes it when a member
    /// starts a cluster or joins one, and leaves it out on later restarts, so it is the
    /// membership at join time, not now; `None` when the file does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_at_join: Option<Vec<String>>,
    /// etcd snapshots on this host, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<FileFacts>,
}

/// The packaged addons k3s deploys from `server/manifests`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonFacts {
    #[serde(default)]
    pub manifests_dir: String,
    /// Manifests present (file names, directories with a trailing `/`).
    #[serde(default)]
    pub present: Vec<String>,
    /// Manifests with a `.skip` file beside them: k3s no longer applies them.
    #[serde(default)]
    pub skipped: Vec<String>,
    /// Addons turned off with `disable` (k3s deletes their manifests and uninstalls them).
    #[serde(default)]
    pub disabled: Vec<String>,
    /// Manifests that define the `kube-system/coredns-custom` ConfigMap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coredns_custom: Vec<String>,
}

impl AddonFacts {
    /// Whether k3s leaves an addon's objects alone on restart (`coredns` → `coredns.yaml.skip`).
    pub fn is_skipped(&self, addon: &str) -> bool {
        self.skipped
            .iter()
            .any(|m| m.strip_suffix(".yaml").or(m.strip_suffix(".yml")) == Some(addon))
    }
}

#[cfg(test)]
mod tests;
