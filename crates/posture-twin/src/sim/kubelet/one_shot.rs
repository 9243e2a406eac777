//! One-shot pods (`restartPolicy: Never`): the twin cannot run their containers, so it plays out
//! the network commands a probe runs. Each `nslookup NAME` resolves when the cluster DNS Service
//! (`kube-system/kube-dns`) has a ready endpoint and NAME (`service.namespace[.svc...]`) is a
//! Service; each `http://NAME[:PORT]` fetch connects when NAME resolves and its Service has a
//! ready endpoint. Anything else succeeds. Exit 0 when every command would, else 1.

use serde_json::Value;

use crate::sim::util::{rt, text};
use crate::store::Store;

const DNS_SERVICE: (&str, &str) = ("kube-system", "kube-dns");
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
const CONTROLLER: &str = "endpointslice-controller.k8s.io";

/// The exit code the pod's first container would end with.
pub(super) fn exit_code(store: &Store, pod: &Value) -> i32 {
    let script: Vec<String> = ["/spec/containers/0/command", "/spec/containers/0/args"]
        .iter()
        .filter_map(|p| pod.pointer(p)?.as_array().cloned())
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let script = script.join(" ");
    let namespace = text(pod, "/metadata/namespace");
    let words: Vec<&str> = script.split_whitespace().collect();
    let lookups = words
        .windows(2)
        .filter(|w| w[0] == "nslookup")
        .map(|w| w[1].to_owned());
    let fetches = words
        .iter()
        .filter_map(|w| w.strip_prefix("http://"))
        .map(|rest| {
            let host = rest.split(['/', ':']).next().unwrap_or_default();
            host.to_owned()
        });
    for host in lookups.collect::<Vec<_>>() {
        if resolve(store, &host, namespace).is_none() {
            return 1;
        }
    }
    for host in fetches.collect::<Vec<_>>() {
        match resolve(store, &host, namespace) {
            Some((ns, name)) if ready_endpoints(store, &ns, &name) > 0 => {}
            _ => return 1,
        }
    }
    0
}

/// The Service a cluster name names, if cluster DNS answers.
fn resolve(store: &Store, host: &str, namespace: &str) -> Option<(String, String)> {
    if ready_endpoints(store, DNS_SERVICE.0, DNS_SERVICE.1) == 0 {
        return None;
    }
    let mut labels = host.trim_end_matches('.').split('.');
    let name = labels.next()?.to_owned();
    let ns = labels.next().unwrap_or(namespace).to_owned();
    let exists = store
        .list(rt("", "services"), Some(&ns))
        .any(|(_, s)| text(s, "/metadata/name") == name);
    exists.then_some((ns, name))
}

/// Ready endpoints of a Service, from the EndpointSlice controller's slices when it has made
/// any (a scenario may carry unlabelled slices written before the controller took over).
fn ready_endpoints(store: &Store, namespace: &str, service: &str) -> usize {
    let slices: Vec<&Value> = store
        .list(rt("discovery.k8s.io", "endpointslices"), Some(namespace))
        .map(|(_, slice)| slice)
        .filter(|slice| label(slice, SERVICE_NAME_LABEL) == Some(service))
        .collect();
    let managed = slices
        .iter()
        .any(|slice| label(slice, MANAGED_BY_LABEL) == Some(CONTROLLER));
    slices
        .into_iter()
        .filter(|slice| !managed || label(slice, MANAGED_BY_LABEL) == Some(CONTROLLER))
        .flat_map(|slice| {
            slice
                .get("endpoints")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter(|e| e.pointer("/conditions/ready") == Some(&Value::Bool(true)))
        .count()
}

fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.pointer("/metadata/labels")?.get(key)?.as_str()
}
