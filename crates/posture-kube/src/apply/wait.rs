//! Waits for a post-condition by watching the objects it is about: every change re-evaluates
//! the condition against what the watches have seen, so nothing polls and nothing sleeps.
//! Flapping is not judged here but by the flap gate beside the whole run (`gate.rs`), with the
//! same detectors `posture watch` runs.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::select_all;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use posture_core::ObjectRef;
use posture_core::plan::PostCondition;
use serde_json::Value;

use super::objects::api_resource;
use posture_core::apply::conditions::{self, Seen, Verdict};

/// How waiting ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WaitOutcome {
    Met,
    TimedOut,
    Flapping(String),
}

fn key(namespace: Option<&str>, name: &str) -> String {
    Seen::key(namespace, name)
}

/// The resources to watch for a post-condition: (resource, namespace).
fn watched(condition: &PostCondition) -> Vec<(ApiResource, Option<String>)> {
    let of = |o: &ObjectRef| (api_resource(o), o.namespace.clone());
    let in_ns = |api_version: &str, kind: &str, ns: &Option<String>| {
        (
            api_resource(&ObjectRef::new(api_version, kind, None, "")),
            ns.clone(),
        )
    };
    match condition {
        PostCondition::RolloutComplete { workload, .. } => {
            vec![of(workload), in_ns("v1", "Pod", &workload.namespace)]
        }
        PostCondition::ObjectExists { object } => vec![of(object)],
        PostCondition::SettingApplied { setting, .. } => vec![of(setting)],
        PostCondition::StorageClassParameter { .. } => {
            vec![in_ns("storage.k8s.io/v1", "StorageClass", &None)]
        }
        PostCondition::VolumeReplicas { volume, .. }
        | PostCondition::VolumeHealthy { volume, .. } => {
            let api = &volume.api_version;
            vec![
                of(volume),
                in_ns(api, "Replica", &volume.namespace),
                in_ns(api, "Engine", &volume.namespace),
            ]
        }
    }
}

/// A progress report: done out of total (percent for rebuilds), and what is being waited on.
pub(crate) type OnProgress<'a> = &'a mut (dyn FnMut(Option<u64>, &str) + Send);

/// Watches until `condition` holds or `timeout` passes.
pub(crate) async fn wait_for(
    client: &kube::Client,
    condition: &PostCondition,
    timeout: Duration,
    on_progress: OnProgress<'_>,
) -> WaitOutcome {
    let streams = watched(condition).into_iter().map(|(resource, ns)| {
        let api: Api<DynamicObject> = match &ns {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        let plural = resource.plural.clone();
        watcher(api, watcher::Config::default())
            .default_backoff()
            .map(move |event| (plural.clone(), event))
            .boxed()
    });
    let mut events = select_all(streams);
    let mut seen = Seen::default();
    let mut last = String::new();
    let waiting = async {
        while let Some((plural, event)) = events.next().await {
            let objects = seen.objects.entry(plural).or_default();
            match event {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                    let k = key(
                        o.metadata.namespace.as_deref(),
                        o.metadata.name.as_deref().unwrap_or_default(),
                    );
                    objects.insert(k, serde_json::to_value(&o).unwrap_or(Value::Null));
                }
                Ok(watcher::Event::Delete(o)) => {
                    let k = key(
                        o.metadata.namespace.as_deref(),
                        o.metadata.name.as_deref().unwrap_or_default(),
                    );
                    objects.remove(&k);
                }
                Ok(watcher::Event::Init) => objects.clear(),
                Ok(watcher::Event::InitDone) => {}
                Err(error) => {
                    // The watcher re-lists on its own; the condition is judged on what it sees.
                    tracing::debug!(%error, "watch interrupted");
                    continue;
                }
            }
            match conditions::evaluate(condition, &seen) {
                Verdict::Met => return WaitOutcome::Met,
                Verdict::Waiting { percent, what } => {
                    on_progress(percent, &what);
                    last = what;
                }
            }
        }
        WaitOutcome::TimedOut
    };
    let outcome = tokio::time::timeout(timeout, waiting)
        .await
        .unwrap_or(WaitOutcome::TimedOut);
    if outcome == WaitOutcome::TimedOut {
        tracing::warn!(waiting_for = %last, "post-condition not met in time");
    }
    outcome
}
