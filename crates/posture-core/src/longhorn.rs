//! Longhorn's `longhorn.io/v1beta2` objects, typed only as far as the runbook reads them.
//!
//! Every field is optional: Longhorn versions add and rename fields, and a check that meets a
//! missing field should say "unknown" rather than fail to load the snapshot.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::object::ObjectRef;

pub const API_VERSION: &str = "longhorn.io/v1beta2";

/// A Longhorn setting. Since v1.8 data-engine-specific settings hold a JSON object per engine
/// (`{"v1":"3","v2":"3"}`); older ones and engine-neutral settings hold a plain string.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Setting {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub value: Option<String>,
}

/// A setting value in either of Longhorn's formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    Plain(String),
    PerDataEngine(BTreeMap<String, String>),
}

impl SettingValue {
    /// Parses a raw value. A value that looks like a JSON object but does not parse as one is kept
    /// plain, so a typo shows up as a wrong value rather than a load failure.
    pub fn parse(raw: &str) -> Self {
        let trimmed = raw.trim();
        if trimmed.starts_with('{')
            && let Ok(map) = serde_json::from_str::<BTreeMap<String, serde_json::Value>>(trimmed)
        {
            let map = map
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect();
            return Self::PerDataEngine(map);
        }
        Self::Plain(raw.to_owned())
    }

    /// True when every data engine's value satisfies `pred`.
    pub fn all(&self, pred: impl Fn(&str) -> bool) -> bool {
        match self {
            Self::Plain(v) => pred(v),
            Self::PerDataEngine(map) => !map.is_empty() && map.values().all(|v| pred(v)),
        }
    }

    /// The same value written in this value's format: per-engine values keep their engines.
    pub fn with_value(&self, value: &str) -> Self {
        match self {
            Self::Plain(_) => Self::Plain(value.to_owned()),
            Self::PerDataEngine(map) => {
                Self::PerDataEngine(map.keys().map(|k| (k.clone(), value.to_owned())).collect())
            }
        }
    }

    /// The raw string as Longhorn stores it.
    pub fn to_raw(&self) -> String {
        match self {
            Self::Plain(v) => v.clone(),
            Self::PerDataEngine(map) => serde_json::to_string(map).unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for SettingValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_raw())
    }
}

impl Setting {
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }
    pub fn parsed(&self) -> Option<SettingValue> {
        self.value.as_deref().map(SettingValue::parse)
    }
    pub fn object_ref(&self) -> ObjectRef {
        object_ref("Setting", &self.metadata)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: VolumeSpec,
    #[serde(default)]
    pub status: VolumeStatus,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSpec {
    pub number_of_replicas: Option<i64>,
    pub size: Option<serde_json::Value>,
    pub data_engine: Option<String>,
    pub replica_auto_balance: Option<String>,
    pub replica_soft_anti_affinity: Option<String>,
    pub replica_zone_soft_anti_affinity: Option<String>,
    pub replica_disk_soft_anti_affinity: Option<String>,
    pub data_locality: Option<String>,
    #[serde(rename = "nodeID")]
    pub node_id: Option<String>,
    pub access_mode: Option<String>,
    /// Minutes a failed replica is kept (for reuse) before it is cleaned up.
    pub stale_replica_timeout: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeStatus {
    pub state: Option<String>,
    pub robustness: Option<String>,
    #[serde(rename = "currentNodeID")]
    pub current_node_id: Option<String>,
    pub last_degraded_at: Option<String>,
    pub kubernetes_status: Option<KubernetesStatus>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesStatus {
    pub pv_name: Option<String>,
    pub pv_status: Option<String>,
    pub namespace: Option<String>,
    pub pvc_name: Option<String>,
    #[serde(default)]
    pub workloads_status: Vec<WorkloadStatus>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    pub pod_name: Option<String>,
    pub pod_status: Option<String>,
    pub workload_name: Option<String>,
    pub workload_type: Option<String>,
}

impl Volume {
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }
    pub fn object_ref(&self) -> ObjectRef {
        object_ref("Volume", &self.metadata)
    }
    /// Size in bytes, whether Longhorn wrote it as a string or a number.
    pub fn size_bytes(&self) -> Option<u64> {
        match self.spec.size.as_ref()? {
            serde_json::Value::String(s) => s.parse().ok(),
            serde_json::Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replica {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ReplicaSpec,
    #[serde(default)]
    pub status: ReplicaStatus,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSpec {
    pub volume_name: Option<String>,
    #[serde(rename = "nodeID")]
    pub node_id: Option<String>,
    #[serde(rename = "diskID")]
    pub disk_id: Option<String>,
    pub engine_name: Option<String>,
    pub active: Option<bool>,
    pub desire_state: Option<String>,
    pub healthy_at: Option<String>,
    pub failed_at: Option<String>,
    pub last_failed_at: Option<String>,
    pub rebuild_retry_count: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    pub current_state: Option<String>,
    pub started: Option<bool>,
    #[serde(rename = "ownerID")]
    pub owner_id: Option<String>,
}

impl Replica {
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }
    pub fn object_ref(&self) -> ObjectRef {
        object_ref("Replica", &self.metadata)
    }
    /// The volume this replica belongs to: the spec field, else Longhorn's `longhornvolume` label.
    pub fn volume_name(&self) -> Option<&str> {
        self.spec
            .volume_name
            .as_deref()
            .filter(|s| !s.is_empty())
            .or_else(|| {
                self.metadata
                    .labels
                    .as_ref()?
                    .get("longhornvolume")
                    .map(String::as_str)
            })
    }
    pub fn node_id(&self) -> Option<&str> {
        self.spec.node_id.as_deref().filter(|s| !s.is_empty())
    }
    /// Failed replicas are ones Longhorn has marked failed or that sit in an error state.
    pub fn is_failed(&self) -> bool {
        self.spec
            .failed_at
            .as_deref()
            .is_some_and(|s| !s.is_empty())
            || self.status.current_state.as_deref() == Some("error")
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LonghornEngine {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: EngineSpec,
    #[serde(default)]
    pub status: EngineStatus,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineSpec {
    pub volume_name: Option<String>,
    #[serde(rename = "nodeID")]
    pub node_id: Option<String>,
    pub active: Option<bool>,
    #[serde(default)]
    pub replica_address_map: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineStatus {
    pub current_state: Option<String>,
    /// Replica name to mode: `RW` healthy, `WO` rebuilding, `ERR` failed.
    #[serde(default)]
    pub replica_mode_map: BTreeMap<String, String>,
    /// Replica address to rebuild progress, present while a rebuild runs.
    #[serde(default)]
    pub rebuild_status: BTreeMap<String, RebuildStatus>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildStatus {
    pub progress: Option<i64>,
    pub state: Option<String>,
    pub is_rebuilding: Option<bool>,
    pub error: Option<String>,
}

impl LonghornEngine {
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }
    pub fn object_ref(&self) -> ObjectRef {
        object_ref("Engine", &self.metadata)
    }
    pub fn volume_name(&self) -> Option<&str> {
        self.spec
            .volume_name
            .as_deref()
            .filter(|s| !s.is_empty())
            .or_else(|| {
                self.metadata
                    .labels
                    .as_ref()?
                    .get("longhornvolume")
                    .map(String::as_str)
            })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LonghornNode {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: LonghornNodeSpec,
    #[serde(default)]
    pub status: LonghornNodeStatus,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LonghornNodeSpec {
    pub allow_scheduling: Option<bool>,
    pub eviction_requested: Option<bool>,
    #[serde(default)]
    pub disks: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LonghornNodeStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Per disk: storageMaximum, storageAvailable, storageScheduled, conditions.
    #[serde(default)]
    pub disk_status: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
}

impl LonghornNode {
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }
    pub fn object_ref(&self) -> ObjectRef {
        object_ref("Node", &self.metadata)
    }
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.status
            .conditions
            .iter()
            .find(|c| c.type_.as_deref() == Some(type_))
    }
}

fn object_ref(kind: &str, meta: &ObjectMeta) -> ObjectRef {
    ObjectRef::new(
        API_VERSION,
        kind,
        meta.namespace.as_deref(),
        meta.name.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_values_parse_in_both_formats() {
        assert_eq!(SettingValue::parse("2"), SettingValue::Plain("2".into()));
        let per = SettingValue::parse(r#"{"v1":"3","v2":"3"}"#);
        assert!(matches!(per, SettingValue::PerDataEngine(ref m) if m.len() == 2));
        assert!(per.all(|v| v == "3"));
        assert!(!per.all(|v| v == "2"));
        assert_eq!(per.with_value("2").to_raw(), r#"{"v1":"2","v2":"2"}"#);
        assert_eq!(SettingValue::parse("2").with_value("3").to_raw(), "3");
        // Numbers inside the per-engine object are accepted too.
        assert!(SettingValue::parse(r#"{"v1":2}"#).all(|v| v == "2"));
        // A broken object is kept as the plain value it is.
        assert_eq!(
            SettingValue::parse("{oops"),
            SettingValue::Plain("{oops".into())
        );
        assert!(!SettingValue::PerDataEngine(BTreeMap::new()).all(|_| true));
    }
}
