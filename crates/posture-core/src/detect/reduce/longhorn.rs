//! Longhorn volumes, replicas, engines and the rebuild-limit setting.
//!
//! Rebuilds are read from the engine's `status.replicaModeMap`: a replica in `WO` is being
//! rebuilt; `WO → RW` finished it, `WO → ERR` or dropping out of the map failed it.

use serde_json::Value;

use super::{Out, Reducer, at_path, label, name, str_at};
use crate::detect::reduce::Change;
use crate::detect::signal::SignalKind;
use crate::longhorn::SettingValue;

const REBUILD_LIMIT_SETTING: &str = "concurrent-replica-rebuild-per-node-limit";
const REBUILDING: &str = "WO";

#[derive(Debug)]
pub(super) struct VolumeMemo {
    state: String,
    robustness: String,
}

#[derive(Debug)]
pub(super) struct EngineMemo {
    volume: String,
    /// Replica name and mode, as last seen.
    modes: Vec<(String, String)>,
}

impl Reducer {
    pub(super) fn volume(&mut self, change: Change, object: &Value, out: &mut Out) {
        let volume = name(object);
        if change == Change::Deleted {
            self.volumes.remove(volume);
            return;
        }
        let state = str_at(object, &["status", "state"]).unwrap_or_default();
        let robustness = str_at(object, &["status", "robustness"]).unwrap_or_default();
        let Some(memo) = self.volumes.get_mut(volume) else {
            self.volumes.insert(
                volume.to_owned(),
                VolumeMemo {
                    state: state.to_owned(),
                    robustness: robustness.to_owned(),
                },
            );
            return;
        };
        if memo.state != state {
            memo.state = state.to_owned();
            out.push(SignalKind::VolumeStateChanged {
                volume: volume.to_owned(),
                state: state.to_owned(),
            });
        }
        if memo.robustness != robustness {
            memo.robustness = robustness.to_owned();
            out.push(SignalKind::VolumeRobustnessChanged {
                volume: volume.to_owned(),
                robustness: robustness.to_owned(),
            });
        }
    }

    pub(super) fn replica(&mut self, change: Change, object: &Value) {
        let replica = name(object);
        if change == Change::Deleted {
            self.replica_nodes.remove(replica);
            return;
        }
        let node = str_at(object, &["spec", "nodeID"])
            .or_else(|| label(object, "longhornnode"))
            .unwrap_or_default();
        if self.replica_nodes.get(replica).map(String::as_str) != Some(node) {
            self.replica_nodes
                .insert(replica.to_owned(), node.to_owned());
        }
    }

    pub(super) fn engine(&mut self, change: Change, object: &Value, out: &mut Out) {
        let engine = name(object).to_owned();
        let old = self.engines.remove(&engine);
        let volume = str_at(object, &["spec", "volumeName"])
            .or_else(|| label(object, "longhornvolume"))
            .or(old.as_ref().map(|m| m.volume.as_str()))
            .unwrap_or_default()
            .to_owned();
        let modes: Vec<(String, String)> = if change == Change::Deleted {
            Vec::new()
        } else {
            at_path(object, &["status", "replicaModeMap"])
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(replica, mode)| {
                    (
                        replica.clone(),
                        mode.as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        };
        let old = old.map(|m| m.modes).unwrap_or_default();
        let old_mode = |replica: &str| {
            old.iter()
                .find(|(r, _)| r == replica)
                .map(|(_, m)| m.as_str())
        };
        for (replica, mode) in &modes {
            let before = old_mode(replica);
            let rebuilding_now = mode == REBUILDING;
            let was_rebuilding = before == Some(REBUILDING);
            let signal = match (was_rebuilding, rebuilding_now) {
                (false, true) => SignalKind::ReplicaRebuildStarted {
                    volume: volume.clone(),
                    replica: replica.clone(),
                    node: self.replica_node(replica),
                },
                (true, false) if mode == "RW" => SignalKind::ReplicaRebuildFinished {
                    volume: volume.clone(),
                    replica: replica.clone(),
                    node: self.replica_node(replica),
                },
                (true, false) => SignalKind::ReplicaRebuildFailed {
                    volume: volume.clone(),
                    replica: replica.clone(),
                    node: self.replica_node(replica),
                },
                _ => continue,
            };
            out.push(signal);
        }
        for (replica, mode) in &old {
            if mode == REBUILDING && !modes.iter().any(|(r, _)| r == replica) {
                out.push(SignalKind::ReplicaRebuildFailed {
                    volume: volume.clone(),
                    replica: replica.clone(),
                    node: self.replica_node(replica),
                });
            }
        }
        if change != Change::Deleted {
            self.engines.insert(engine, EngineMemo { volume, modes });
        }
    }

    fn replica_node(&self, replica: &str) -> String {
        self.replica_nodes.get(replica).cloned().unwrap_or_default()
    }

    pub(super) fn setting(&mut self, change: Change, object: &Value, out: &mut Out) {
        if name(object) != REBUILD_LIMIT_SETTING || change == Change::Deleted {
            return;
        }
        let Some(raw) = str_at(object, &["value"]) else {
            return;
        };
        // Per-data-engine values: the strictest limit applies to the storm we watch for.
        let limit = match SettingValue::parse(raw) {
            SettingValue::Plain(v) => v.trim().parse::<u32>().ok(),
            SettingValue::PerDataEngine(map) => map
                .values()
                .filter_map(|v| v.trim().parse::<u32>().ok())
                .min(),
        };
        if let Some(limit) = limit
            && self.rebuild_limit != Some(limit)
        {
            self.rebuild_limit = Some(limit);
            out.push(SignalKind::RebuildLimitChanged { limit });
        }
    }
}
