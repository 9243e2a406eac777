//! What the dashboard shows, kept up to date from the watch's objects, alerts and notes. Nothing
//! here draws or does I/O.

use std::collections::{BTreeMap, VecDeque};

use jiff::Timestamp;
use posture_core::detect::{Alert, EventType, WatchedKind};
use serde_json::Value;

/// Timeline entries kept: enough to fill a tall terminal.
const TIMELINE: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeRow {
    pub(crate) ready: bool,
    pub(crate) cordoned: bool,
}

/// The runbook's components, recognised from the pods' labels and images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Component {
    IngressController,
    CoreDns,
}

impl Component {
    pub(crate) fn title(self) -> &'static str {
        match self {
            Self::IngressController => "ingress controller",
            Self::CoreDns => "CoreDNS",
        }
    }

    fn of(pod: &Value) -> Option<Self> {
        if pod["metadata"]["labels"]["k8s-app"] == "kube-dns" {
            return Some(Self::CoreDns);
        }
        let images = pod["spec"]["containers"].as_array()?;
        images
            .iter()
            .filter_map(|c| c["image"].as_str())
            .any(|image| image.contains("ingress"))
            .then_some(Self::IngressController)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PodRow {
    component: Component,
    node: String,
    ready: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct VolumeRow {
    pub(crate) robustness: String,
    pub(crate) state: String,
    pub(crate) desired_replicas: u64,
    /// Rebuild progress (percent) of the engine's rebuilding replicas.
    pub(crate) rebuilds: Vec<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct Model {
    pub(crate) now: Option<Timestamp>,
    pub(crate) source: String,
    pub(crate) nodes: BTreeMap<String, NodeRow>,
    pods: BTreeMap<String, PodRow>,
    pub(crate) volumes: BTreeMap<String, VolumeRow>,
    /// Replica name → (volume, node).
    replicas: BTreeMap<String, (String, String)>,
    pub(crate) active: BTreeMap<String, Alert>,
    /// The counter-moves under each active alert, fitted to its workload's owner.
    pub(crate) moves: BTreeMap<String, Vec<String>>,
    pub(crate) timeline: VecDeque<String>,
}

impl Model {
    pub(crate) fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            ..Self::default()
        }
    }

    pub(crate) fn tick(&mut self, at: Timestamp) {
        self.now = Some(at);
    }

    pub(crate) fn object(&mut self, kind: WatchedKind, change: EventType, object: &Value) {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let deleted = change == EventType::Deleted;
        match kind {
            WatchedKind::Node => {
                if deleted {
                    self.nodes.remove(&name);
                } else {
                    let ready = posture_core::facts::ready(object);
                    let cordoned = object["spec"]["unschedulable"] == true;
                    let row = NodeRow { ready, cordoned };
                    if let Some(before) = self.nodes.get(&name).cloned() {
                        self.node_changed(&name, &before, &row);
                    }
                    self.nodes.insert(name, row);
                }
            }
            WatchedKind::Pod => {
                let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
                let key = format!("{namespace}/{name}");
                match Component::of(object) {
                    Some(component) if !deleted => {
                        let ready = posture_core::facts::ready(object);
                        let node = object["spec"]["nodeName"]
                            .as_str()
                            .unwrap_or("-")
                            .to_owned();
                        self.pods.insert(
                            key,
                            PodRow {
                                component,
                                node,
                                ready,
                            },
                        );
                    }
                    _ => {
                        self.pods.remove(&key);
                    }
                }
            }
            WatchedKind::LonghornVolume => {
                if deleted {
                    self.volumes.remove(&name);
                } else {
                    let row = self.volumes.entry(name).or_default();
                    row.robustness = text(object, &["status", "robustness"]);
                    row.state = text(object, &["status", "state"]);
                    row.desired_replicas = object["spec"]["numberOfReplicas"].as_u64().unwrap_or(0);
                }
            }
            WatchedKind::LonghornReplica => {
                if deleted {
                    self.replicas.remove(&name);
                } else {
                    let volume = posture_core::facts::longhorn_volume_of(object).to_owned();
                    let node = text(object, &["spec", "nodeID"]);
                    self.replicas.insert(name, (volume, node));
                }
            }
            WatchedKind::LonghornEngine => {
                let volume = posture_core::facts::longhorn_volume_of(object).to_owned();
                let rebuilds = if deleted {
                    Vec::new()
                } else {
                    object["status"]["rebuildStatus"]
                        .as_object()
                        .into_iter()
                        .flat_map(|m| m.values())
                        .filter(|s| s["isRebuilding"] == true)
                        .map(|s| s["progress"].as_u64().unwrap_or(0))
                        .collect()
                };
                if let Some(row) = self.volumes.get_mut(&volume) {
                    row.rebuilds = rebuilds;
                }
            }
            _ => {}
        }
    }

    /// Node transitions are the notable events of a two-node cluster: they go on the timeline.
    fn node_changed(&mut self, name: &str, before: &NodeRow, after: &NodeRow) {
        let at = self.now.map(|t| t.to_string()).unwrap_or_default();
        if before.ready != after.ready {
            let state = if after.ready { "Ready" } else { "NotReady" };
            self.push_timeline(format!("{at} NODE {name} {state}"));
        }
        if before.cordoned != after.cordoned {
            let state = if after.cordoned {
                "cordoned"
            } else {
                "uncordoned"
            };
            self.push_timeline(format!("{at} NODE {name} {state}"));
        }
    }

    pub(crate) fn alert(&mut self, alert: &Alert, moves: &[posture_core::detect::CounterMove]) {
        self.push_timeline(crate::render::alert::alert_line(alert));
        if alert.is_raised() {
            self.active.insert(alert.id().to_owned(), alert.clone());
            let moves = (moves.iter())
                .map(|m| match m {
                    posture_core::detect::CounterMove::Act { name } => (*name).to_owned(),
                    source => source.describe(),
                })
                .collect();
            self.moves.insert(alert.id().to_owned(), moves);
        } else {
            self.active.remove(alert.id());
            self.moves.remove(alert.id());
        }
    }

    pub(crate) fn note(&mut self, note: &str) {
        let at = self.now.map(|t| t.to_string()).unwrap_or_default();
        self.push_timeline(format!("{at} NOTE {note}"));
    }

    fn push_timeline(&mut self, line: String) {
        if self.timeline.len() == TIMELINE {
            self.timeline.pop_front();
        }
        self.timeline.push_back(line);
    }

    /// Ready replicas of `component` on `node`, and all its replicas there.
    pub(crate) fn component_on(&self, component: Component, node: &str) -> (usize, usize) {
        let on_node = self
            .pods
            .values()
            .filter(|p| p.component == component && p.node == node);
        on_node.fold((0, 0), |(ready, all), p| {
            (ready + usize::from(p.ready), all + 1)
        })
    }

    /// Replicas of `volume` per node.
    pub(crate) fn replicas_on(&self, volume: &str, node: &str) -> usize {
        self.replicas
            .values()
            .filter(|(v, n)| v == volume && n == node)
            .count()
    }
}

fn text(object: &Value, path: &[&str]) -> String {
    path.iter()
        .try_fold(object, |v, key| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_owned()
}
