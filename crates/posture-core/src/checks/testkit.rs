//! Compact fixture builders for check tests: Kubernetes and Longhorn objects from a few calls,
//! e.g. `node("a").server()`, `deployment("ns", "x").replicas(2).anti_affinity_required()`.

use std::marker::PhantomData;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Node, PersistentVolume, PersistentVolumeClaim, Pod, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::longhorn::{LonghornEngine, LonghornNode, Replica, Setting, Volume};
use crate::policy::Policy;
use crate::report::{CheckStatus, Report, Severity};
use crate::snapshot::{Longhorn, Snapshot, Unreadable};

/// An object under construction, kept as JSON until `build`.
#[derive(Debug, Clone)]
pub(crate) struct Fx<K> {
    v: Value,
    kind: PhantomData<K>,
}

fn fx<K>(v: Value) -> Fx<K> {
    Fx {
        v,
        kind: PhantomData,
    }
}

/// The value at a dotted path, created as objects along the way.
fn at<'a>(v: &'a mut Value, path: &str) -> &'a mut Value {
    path.split('.').fold(v, |cur, key| {
        if !cur.is_object() {
            *cur = json!({});
        }
        cur.as_object_mut()
            .expect("just made an object")
            .entry(key.to_owned())
            .or_insert(Value::Null)
    })
}

const POD: &str = "spec.template.spec";

impl<K: DeserializeOwned> Fx<K> {
    pub fn build(self) -> K {
        serde_json::from_value(self.v).expect("fixture fits the type")
    }
    pub fn set(mut self, path: &str, value: Value) -> Self {
        *at(&mut self.v, path) = value;
        self
    }
    pub fn push(mut self, path: &str, value: Value) -> Self {
        let slot = at(&mut self.v, path);
        if !slot.is_array() {
            *slot = json!([]);
        }
        slot.as_array_mut().expect("just made an array").push(value);
        self
    }
    /// Merges `value` into the object at `path`.
    pub fn merge(mut self, path: &str, value: Value) -> Self {
        let slot = at(&mut self.v, path);
        if !slot.is_object() {
            *slot = json!({});
        }
        if let (Some(dst), Value::Object(src)) = (slot.as_object_mut(), value) {
            dst.extend(src);
        }
        self
    }
    pub fn label(self, key: &str, value: &str) -> Self {
        self.merge("metadata.labels", json!({ key: value }))
    }
    pub fn annotate(self, key: &str, value: &str) -> Self {
        self.merge("metadata.annotations", json!({ key: value }))
    }

    // Pod template (Deployment, StatefulSet, DaemonSet).
    pub fn replicas(self, n: i32) -> Self {
        self.set("spec.replicas", json!(n))
    }
    pub fn image(self, image: &str) -> Self {
        self.set(
            &format!("{POD}.containers"),
            json!([{"name": "main", "image": image}]),
        )
    }
    pub fn node_selector(self, key: &str, value: &str) -> Self {
        self.merge(&format!("{POD}.nodeSelector"), json!({ key: value }))
    }
    pub fn node_affinity_in(self, key: &str, values: &[&str]) -> Self {
        self.set(
            &format!("{POD}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"),
            json!({"nodeSelectorTerms": [{"matchExpressions": [{"key": key, "operator": "In", "values": values}]}]}),
        )
    }
    pub fn tolerate_unschedulable(self) -> Self {
        self.push(
            &format!("{POD}.tolerations"),
            json!({"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}),
        )
    }
    pub fn anti_affinity_required(self) -> Self {
        self.push(
            &format!(
                "{POD}.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution"
            ),
            json!({"topologyKey": "kubernetes.io/hostname"}),
        )
    }
    pub fn anti_affinity_preferred(self) -> Self {
        self.push(
            &format!(
                "{POD}.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution"
            ),
            json!({"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}),
        )
    }
    pub fn spread(self, max_skew: i32, when: &str) -> Self {
        self.push(
            &format!("{POD}.topologySpreadConstraints"),
            json!({"maxSkew": max_skew, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": when}),
        )
    }
    /// Sets a field of the first container, e.g. `container("readinessProbe", json!(..))`.
    pub fn container(mut self, field: &str, value: Value) -> Self {
        let containers = at(&mut self.v, &format!("{POD}.containers"));
        if let Some(first) = containers.get_mut(0).and_then(Value::as_object_mut) {
            first.insert(field.to_owned(), value);
        }
        self
    }
    pub fn readiness(self, path: &str, port: i32, period: i32, failures: i32) -> Self {
        self.container(
            "readinessProbe",
            json!({"httpGet": {"path": path, "port": port}, "periodSeconds": period, "failureThreshold": failures}),
        )
    }
    pub fn liveness(self, path: &str, port: i32, failures: i32) -> Self {
        self.container(
            "livenessProbe",
            json!({"httpGet": {"path": path, "port": port}, "failureThreshold": failures}),
        )
    }
    pub fn rolling(self, max_surge: Value, max_unavailable: Value) -> Self {
        self.set(
            "spec.strategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}}),
        )
    }
    pub fn recreate(self) -> Self {
        self.set("spec.strategy", json!({"type": "Recreate"}))
    }
}

impl Fx<Node> {
    pub fn server(self) -> Self {
        self.label("node-role.kubernetes.io/control-plane", "true")
            .annotate("k3s.io/node-args", r#"["server"]"#)
    }
    pub fn agent(self) -> Self {
        self.annotate(
            "k3s.io/node-args",
            r#"["agent","--server","https://10.0.0.1:6443"]"#,
        )
    }
    pub fn args(self, args: &[&str]) -> Self {
        let raw = serde_json::to_string(args).expect("strings serialize");
        self.annotate("k3s.io/node-args", &raw)
    }
    pub fn cordoned(self) -> Self {
        self.set("spec.unschedulable", json!(true)).push(
            "spec.taints",
            json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}),
        )
    }
    pub fn not_ready(self) -> Self {
        self.set(
            "status.conditions",
            json!([{"type": "Ready", "status": "False"}]),
        )
    }
}

impl Fx<Pod> {
    pub fn on(self, node: &str) -> Self {
        self.set("spec.nodeName", json!(node))
    }
    pub fn owned_by(self, kind: &str, name: &str) -> Self {
        self.push(
            "metadata.ownerReferences",
            json!({"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u"}),
        )
    }
    /// A container that restarted `count` times, the last finishing at `finished_at`.
    pub fn restarts(self, count: i32, finished_at: &str) -> Self {
        self.set(
            "status.containerStatuses",
            json!([{"name": "main", "image": "x", "imageID": "", "ready": true, "restartCount": count,
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": finished_at}}}]),
        )
    }
}

impl Fx<Pod> {
    /// Mounts claim `claim`.
    pub fn mounts(self, claim: &str) -> Self {
        self.push(
            "spec.volumes",
            json!({"name": claim, "persistentVolumeClaim": {"claimName": claim}}),
        )
    }
    /// In `phase`, with a PodScheduled condition of `status`, `reason` and `message`.
    pub fn scheduled(self, phase: &str, status: &str, reason: &str, message: &str) -> Self {
        self.set("status.phase", json!(phase)).push(
            "status.conditions",
            json!({"type": "PodScheduled", "status": status, "reason": reason, "message": message}),
        )
    }
}

impl<K: DeserializeOwned> Fx<K> {
    /// Mounts claim `claim` in the pod template.
    pub fn template_mounts(self, claim: &str) -> Self {
        self.push(
            &format!("{POD}.volumes"),
            json!({"name": claim, "persistentVolumeClaim": {"claimName": claim}}),
        )
    }
}

fn meta(ns: Option<&str>, name: &str) -> Value {
    match ns {
        Some(ns) => json!({"name": name, "namespace": ns}),
        None => json!({"name": name}),
    }
}

pub(crate) fn node(name: &str) -> Fx<Node> {
    fx(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }))
}

fn workload<K>(ns: &str, name: &str, replicas: bool) -> Fx<K> {
    let mut v = json!({
        "metadata": meta(Some(ns), name),
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "main", "image": "example/app:1"}]}},
        },
    });
    if replicas {
        v["spec"]["replicas"] = json!(1);
    }
    fx(v)
}

pub(crate) fn deployment(ns: &str, name: &str) -> Fx<Deployment> {
    workload(ns, name, true)
}
pub(crate) fn stateful_set(ns: &str, name: &str) -> Fx<StatefulSet> {
    workload(ns, name, true).set("spec.serviceName", json!(name))
}
pub(crate) fn daemon_set(ns: &str, name: &str) -> Fx<DaemonSet> {
    workload(ns, name, false)
}
pub(crate) fn pod(ns: &str, name: &str) -> Fx<Pod> {
    fx(json!({"metadata": meta(Some(ns), name), "spec": {"containers": [{"name": "main"}]}}))
}
/// A claim in `phase`, bound (or once bound) to `volume` when given.
pub(crate) fn pvc(
    ns: &str,
    name: &str,
    phase: &str,
    volume: Option<&str>,
) -> PersistentVolumeClaim {
    let mut v = json!({"metadata": meta(Some(ns), name), "spec": {}, "status": {"phase": phase}});
    if let Some(volume) = volume {
        v["spec"]["volumeName"] = json!(volume);
    }
    fx::<PersistentVolumeClaim>(v).build()
}
pub(crate) fn pv(name: &str, phase: &str) -> PersistentVolume {
    fx::<PersistentVolume>(json!({"metadata": meta(None, name), "status": {"phase": phase}}))
        .build()
}
/// An event about `kind` `ns/name`, last seen at `at`.
pub(crate) fn event(
    kind: &str,
    ns: &str,
    name: &str,
    type_: &str,
    reason: &str,
    message: &str,
    at: &str,
) -> Event {
    fx::<Event>(json!({
        "metadata": meta(Some(ns), &format!("{name}.{reason}.{at}")),
        "involvedObject": {"kind": kind, "namespace": ns, "name": name},
        "type": type_, "reason": reason, "message": message, "lastTimestamp": at,
    }))
    .build()
}
pub(crate) fn service(ns: &str, name: &str, app: &str) -> Fx<Service> {
    fx(json!({"metadata": meta(Some(ns), name), "spec": {"selector": {"app": app}}}))
}
pub(crate) fn endpoint_slice(ns: &str, service: &str, ready: &[bool]) -> EndpointSlice {
    let endpoints: Vec<Value> = ready
        .iter()
        .map(|r| json!({"addresses": ["10.42.0.1"], "conditions": {"ready": r}}))
        .collect();
    fx::<EndpointSlice>(json!({
        "metadata": {"name": format!("{service}-x"), "namespace": ns, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4", "endpoints": endpoints,
    }))
    .build()
}
pub(crate) fn pdb(ns: &str, app: &str) -> PodDisruptionBudget {
    fx::<PodDisruptionBudget>(json!({
        "metadata": meta(Some(ns), app),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": app}}},
    }))
    .build()
}
pub(crate) fn lease(name: &str, renewed: &str, duration: i32, transitions: i32) -> Fx<Lease> {
    fx(json!({
        "metadata": meta(Some("kube-system"), name),
        "spec": {"holderIdentity": "server_1", "leaseDurationSeconds": duration,
                 "leaseTransitions": transitions, "renewTime": renewed},
    }))
}
pub(crate) fn storage_class(name: &str, replicas: &str) -> Fx<StorageClass> {
    fx(
        json!({"metadata": meta(None, name), "provisioner": "driver.longhorn.io",
              "parameters": {"numberOfReplicas": replicas}}),
    )
}
pub(crate) fn config_map(ns: &str, name: &str, key: &str, text: &str) -> ConfigMap {
    fx::<ConfigMap>(json!({"metadata": meta(Some(ns), name), "data": {key: text}})).build()
}

pub(crate) const LH_NS: &str = "longhorn-system";

pub(crate) fn setting(name: &str, value: &str) -> Setting {
    fx::<Setting>(json!({"metadata": meta(Some(LH_NS), name), "value": value})).build()
}
pub(crate) fn volume(name: &str, replicas: i64) -> Fx<Volume> {
    fx(json!({
        "metadata": meta(Some(LH_NS), name),
        "spec": {"numberOfReplicas": replicas, "replicaAutoBalance": "ignored", "replicaSoftAntiAffinity": "ignored"},
        "status": {"state": "attached", "robustness": "healthy"},
    }))
}
pub(crate) fn replica(volume: &str, name: &str, node: &str) -> Fx<Replica> {
    fx(json!({
        "metadata": meta(Some(LH_NS), name),
        "spec": {"volumeName": volume, "nodeID": node},
        "status": {"currentState": "running"},
    }))
}
impl Fx<Replica> {
    pub fn failed(self) -> Self {
        self.set("spec.failedAt", json!("2026-01-01T00:00:00Z"))
            .set("status.currentState", json!("error"))
    }
}
/// An engine for `volume` with replica name to mode.
pub(crate) fn engine(volume: &str, modes: &[(&str, &str)]) -> Fx<LonghornEngine> {
    let map: serde_json::Map<String, Value> = modes
        .iter()
        .map(|(r, m)| ((*r).to_owned(), json!(m)))
        .collect();
    fx(json!({
        "metadata": meta(Some(LH_NS), &format!("{volume}-e-0")),
        "spec": {"volumeName": volume, "active": true},
        "status": {"currentState": "running", "replicaModeMap": map},
    }))
}
pub(crate) fn lh_node(name: &str) -> LonghornNode {
    fx::<LonghornNode>(json!({"metadata": meta(Some(LH_NS), name)})).build()
}

/// The runbook's starting shape: primary server `p`, cordoned agent `s`.
pub(crate) fn two_nodes() -> Snapshot {
    Snapshot {
        nodes: vec![
            node("p").server().build(),
            node("s").agent().cordoned().build(),
        ],
        ..Snapshot::default()
    }
}

/// Servers running embedded etcd, as the API shows them (control-plane and etcd roles).
pub(crate) fn etcd_servers(names: &[&str]) -> Snapshot {
    Snapshot {
        nodes: names
            .iter()
            .map(|n| {
                node(n)
                    .server()
                    .label("node-role.kubernetes.io/etcd", "true")
                    .build()
            })
            .collect(),
        ..Snapshot::default()
    }
}

/// `two_nodes` with Longhorn objects; volume tests fill them in.
pub(crate) fn with_longhorn(lh: Longhorn) -> Snapshot {
    Snapshot {
        longhorn: Some(lh),
        ..two_nodes()
    }
}

pub(crate) fn forbid(snap: &mut Snapshot, resource: &str) {
    snap.unreadable.push(Unreadable {
        resource: resource.into(),
        reason: "forbidden".into(),
    });
}

pub(crate) fn run(snap: &Snapshot) -> Report {
    super::run(snap, &Policy::default())
}

/// Names of the objects `id` raised a finding on, with their severity.
pub(crate) fn findings(report: &Report, id: &str) -> Vec<(String, Severity)> {
    report
        .findings
        .iter()
        .filter(|f| f.id == id)
        .map(|f| (f.object.name.clone(), f.severity))
        .collect()
}

#[track_caller]
pub(crate) fn status(report: &Report, id: &str) -> (CheckStatus, String) {
    let c = report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("check {id} not recorded"));
    (c.status, c.detail.clone().unwrap_or_default())
}
