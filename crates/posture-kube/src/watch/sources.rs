//! The watched resources and one kube-rs watcher per resource, merged into one channel. A
//! resource the cluster does not serve (Longhorn not installed) is skipped with a note.

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use posture_core::detect::WatchedKind;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::WatchError;
use crate::retry::{retrying, transient};

/// What a source task sends: one watcher event of one resource, or a watcher error to note.
pub(crate) enum Raw {
    Event(WatchedKind, Box<Event<DynamicObject>>),
    Error(WatchedKind, String),
}

/// `(kind, group, version, kind name, plural)` of every watched resource.
const SOURCES: [(WatchedKind, &str, &str, &str, &str); 10] = [
    (WatchedKind::Pod, "", "v1", "Pod", "pods"),
    (
        WatchedKind::EndpointSlice,
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
    ),
    (
        WatchedKind::Lease,
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
    ),
    (WatchedKind::Node, "", "v1", "Node", "nodes"),
    (WatchedKind::Event, "", "v1", "Event", "events"),
    (
        WatchedKind::LonghornVolume,
        "longhorn.io",
        "v1beta2",
        "Volume",
        "volumes",
    ),
    (
        WatchedKind::LonghornReplica,
        "longhorn.io",
        "v1beta2",
        "Replica",
        "replicas",
    ),
    (
        WatchedKind::LonghornEngine,
        "longhorn.io",
        "v1beta2",
        "Engine",
        "engines",
    ),
    (
        WatchedKind::LonghornSetting,
        "longhorn.io",
        "v1beta2",
        "Setting",
        "settings",
    ),
    (
        WatchedKind::VolumeAttachment,
        "storage.k8s.io",
        "v1",
        "VolumeAttachment",
        "volumeattachments",
    ),
];

/// Lease namespaces the runbook cares about: control-plane leader election and kubelet heartbeats.
pub(crate) const LEASE_NAMESPACES: [&str; 2] = ["kube-system", "kube-node-lease"];

fn api_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    let api_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        api_version,
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    }
}

/// Starts a watcher per served resource; returns the tasks and a note per skipped resource.
pub(crate) async fn start(
    client: &kube::Client,
    sender: &mpsc::Sender<Raw>,
) -> Result<(Vec<JoinHandle<()>>, Vec<String>), WatchError> {
    let mut tasks = Vec::new();
    let mut notes = Vec::new();
    for (kind, group, version, kind_name, plural) in SOURCES {
        let resource = api_resource(group, version, kind_name, plural);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let params = ListParams::default().limit(1);
        let probe = retrying(|| api.list(&params), transient).await;
        match probe {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {
                notes.push(format!(
                    "skipping {plural}.{}: not served by this cluster",
                    if group.is_empty() { "core" } else { group }
                ));
                continue;
            }
            Err(kube::Error::Api(status)) if status.code == 403 => {
                notes.push(format!("skipping {plural}: forbidden ({})", status.message));
                continue;
            }
            Err(source) => return Err(WatchError::Unreachable(source)),
        }
        let sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = watcher(api).boxed();
            while let Some(item) = stream.next().await {
                let raw = match item {
                    Ok(event) => Raw::Event(kind, Box::new(event)),
                    Err(error) => Raw::Error(kind, crate::message::one_line(&error)),
                };
                if sender.send(raw).await.is_err() {
                    return;
                }
            }
        }));
    }
    Ok((tasks, notes))
}

fn watcher(
    api: Api<DynamicObject>,
) -> impl futures::Stream<Item = Result<Event<DynamicObject>, watcher::Error>> {
    watcher::watcher(api, watcher::Config::default()).default_backoff()
}
