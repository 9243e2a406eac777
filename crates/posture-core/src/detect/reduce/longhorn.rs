//! Longhorn volumes, replicas, engines and the rebuild-limit setting.
//!
//! Rebuilds are read from the engine's `status.replicaModeMap`: a replica in `WO` is being
//! rebuilt; `WO → RW` finished it, `WO → ERR` failed it.
//!
//! A rebuild is keyed on its replica: an engine's map may be emptied and refilled while a
//! rebuild runs, so a replica in `WO` that drops out of the map is still the same rebuild, and
//! coming back in `WO` (with no `RW` or `ERR` between) starts nothing new. Coming back in `RW`
//! finishes it; coming back in any other mode, the replica being marked failed
//! (`spec.failedAt`) or deleted, or the engine being deleted fails it. A replica whose Replica
//! object is not known when it drops out fails at once: nothing would end its rebuild later.

use super::{Fields, Out, Reducer};
use crate::detect::reduce::EventType;
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

/// A rebuild whose replica dropped out of its engine's mode map while in `WO`.
#[derive(Debug)]
pub(super) struct DroppedRebuild {
    engine: String,
    volume: String,
}

impl DroppedRebuild {
    pub(super) fn heap_bytes(&self) -> usize {
        self.engine.capacity() + self.volume.capacity()
    }
}

impl VolumeMemo {
    pub(super) fn heap_bytes(&self) -> usize {
        self.state.capacity() + self.robustness.capacity()
    }
}

impl EngineMemo {
    pub(super) fn heap_bytes(&self) -> usize {
        self.volume.capacity()
            + self.modes.capacity() * size_of::<(String, String)>()
            + (self.modes.iter())
                .map(|(replica, mode)| replica.capacity() + mode.capacity())
                .sum::<usize>()
    }
}

impl Reducer {
    pub(super) fn volume(&mut self, change: EventType, object: &Fields<'_>, out: &mut Out) {
        let volume = object.name();
        if change == EventType::Deleted {
            self.volumes.remove(volume);
            return;
        }
        let state = object.status.state.get().unwrap_or_default();
        let robustness = object.status.robustness.get().unwrap_or_default();
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

    pub(super) fn replica(&mut self, change: EventType, object: &Fields<'_>, out: &mut Out) {
        let replica = object.name();
        let failed = change == EventType::Deleted
            || object.spec.failed_at.get().is_some_and(|at| !at.is_empty());
        if failed && let Some(dropped) = self.dropped_rebuilds.remove(replica) {
            out.push(SignalKind::ReplicaRebuildFailed {
                volume: dropped.volume,
                replica: replica.to_owned(),
                node: self.replica_node(replica),
            });
        }
        if change == EventType::Deleted {
            self.replica_nodes.remove(replica);
            return;
        }
        let node = (object.spec.node_id.get())
            .or_else(|| object.labels().longhorn_node.get())
            .unwrap_or_default();
        if self.replica_nodes.get(replica).map(String::as_str) != Some(node) {
            self.replica_nodes
                .insert(replica.to_owned(), node.to_owned());
        }
    }

    pub(super) fn engine(&mut self, change: EventType, object: &Fields<'_>, out: &mut Out) {
        let engine = object.name().to_owned();
        let old = self.engines.remove(&engine);
        let volume = (object.spec.volume_name.get())
            .or_else(|| object.labels().longhorn_volume.get())
            .or(old.as_ref().map(|m| m.volume.as_str()))
            .unwrap_or_default()
            .to_owned();
        let modes: Vec<(String, String)> = if change == EventType::Deleted {
            Vec::new()
        } else {
            (object.status.replica_mode_map.0.iter())
                .map(|(replica, mode)| {
                    (
                        replica.as_ref().to_owned(),
                        mode.get().unwrap_or_default().to_owned(),
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
            let dropped = (self.dropped_rebuilds.get(replica)).is_some_and(|d| d.engine == engine);
            if dropped {
                self.dropped_rebuilds.remove(replica);
            }
            let rebuilding_now = mode == REBUILDING;
            let was_rebuilding = dropped || old_mode(replica) == Some(REBUILDING);
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
            if mode != REBUILDING || modes.iter().any(|(r, _)| r == replica) {
                continue;
            }
            if change != EventType::Deleted && self.replica_nodes.contains_key(replica) {
                self.dropped_rebuilds.insert(
                    replica.clone(),
                    DroppedRebuild {
                        engine: engine.clone(),
                        volume: volume.clone(),
                    },
                );
            } else {
                out.push(SignalKind::ReplicaRebuildFailed {
                    volume: volume.clone(),
                    replica: replica.clone(),
                    node: self.replica_node(replica),
                });
            }
        }
        if change == EventType::Deleted {
            let mut gone: Vec<String> = (self.dropped_rebuilds.iter())
                .filter(|(_, d)| d.engine == engine)
                .map(|(replica, _)| replica.clone())
                .collect();
            gone.sort();
            for replica in gone {
                self.dropped_rebuilds.remove(&replica);
                out.push(SignalKind::ReplicaRebuildFailed {
                    volume: volume.clone(),
                    node: self.replica_node(&replica),
                    replica,
                });
            }
        } else {
            self.engines.insert(engine, EngineMemo { volume, modes });
        }
    }

    fn replica_node(&self, replica: &str) -> String {
        self.replica_nodes.get(replica).cloned().unwrap_or_default()
    }

    pub(super) fn setting(&mut self, change: EventType, object: &Fields<'_>, out: &mut Out) {
        if object.name() != REBUILD_LIMIT_SETTING || change == EventType::Deleted {
            return;
        }
        let Some(raw) = object.value.get() else {
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
