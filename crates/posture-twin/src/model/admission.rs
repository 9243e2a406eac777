//! What admission plugins and registries add to new pods and services on a real API server:
//! the default service account, the default not-ready/unreachable tolerations, priority, the
//! pending status with its QoS class, and a Service's cluster IP, IP families and node ports.

use serde_json::{Map, Value, json};

use crate::resources;
use crate::store::Store;

/// The admission of a new Pod.
pub(super) fn pod(object: &mut Value) {
    let qos = qos_class(object.get("spec").unwrap_or(&Value::Null));
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("serviceAccountName").is_none() {
        spec.insert("serviceAccountName".into(), json!("default"));
        spec.insert("serviceAccount".into(), json!("default"));
    }
    default_tolerations(spec);
    let priority = match spec.get("priorityClassName").and_then(Value::as_str) {
        Some("system-node-critical") => 2_000_001_000,
        Some("system-cluster-critical") => 2_000_000_000,
        _ => 0,
    };
    spec.entry("priority").or_insert(json!(priority));
    spec.entry("preemptionPolicy")
        .or_insert(json!("PreemptLowerPriority"));
    let status = object
        .as_object_mut()
        .map(|o| o.entry("status").or_insert_with(|| json!({})));
    if let Some(status) = status.and_then(Value::as_object_mut) {
        status.entry("phase").or_insert(json!("Pending"));
        status.insert("qosClass".into(), json!(qos));
    }
}

/// DefaultTolerationSeconds: tolerate not-ready and unreachable nodes for 300 s unless the pod
/// already tolerates them.
fn default_tolerations(spec: &mut Map<String, Value>) {
    let list = spec.entry("tolerations").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return;
    };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let tolerated = list.iter().any(|t| {
            let k = t.get("key").and_then(Value::as_str).unwrap_or("");
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
            let exists = t.get("operator").and_then(Value::as_str) == Some("Exists");
            (k == key || (k.is_empty() && exists)) && (effect.is_empty() || effect == "NoExecute")
        });
        if !tolerated {
            list.push(
                json!({"key": key, "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300}),
            );
        }
    }
}

/// Guaranteed when every container limits cpu and memory with equal requests, BestEffort
/// when none requests or limits anything, else Burstable.
pub(crate) fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|l| spec.get(*l).and_then(Value::as_array))
        .flatten()
        .collect();
    let resources = |c: &Value, kind: &str| -> Map<String, Value> {
        c.pointer(&format!("/resources/{kind}"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let none = containers
        .iter()
        .all(|c| resources(c, "requests").is_empty() && resources(c, "limits").is_empty());
    if none {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let limits = resources(c, "limits");
        let requests = resources(c, "requests");
        ["cpu", "memory"]
            .iter()
            .all(|r| limits.contains_key(*r) && requests.get(*r) == limits.get(*r))
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The Service registry: keeps allocated addresses across updates, allocates a cluster IP and
/// node ports to a new Service, and records its (single-stack IPv4) IP families.
pub(super) fn service(store: &Store, object: &mut Value, old: Option<&Value>) {
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Some(old) = old.and_then(|o| o.get("spec")) {
        for field in ["clusterIP", "clusterIPs", "healthCheckNodePort"] {
            if spec.get(field).is_none()
                && let Some(v) = old.get(field)
            {
                spec.insert(field.into(), v.clone());
            }
        }
    }
    if kind == "ExternalName" {
        return;
    }
    let (used_ips, used_ports) = allocated(store);
    if spec.get("clusterIP").is_none() {
        let ip = (1..=65_000u32)
            .map(|n| format!("10.43.{}.{}", 100 + n / 250, 1 + n % 250))
            .find(|ip| !used_ips.contains(ip))
            .unwrap_or_default();
        spec.insert("clusterIP".into(), json!(ip));
    }
    let ip = spec["clusterIP"].clone();
    spec.entry("clusterIPs").or_insert_with(|| json!([ip]));
    spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
    spec.entry("ipFamilyPolicy")
        .or_insert_with(|| json!("SingleStack"));
    if kind == "NodePort" || kind == "LoadBalancer" {
        let old_ports = old
            .and_then(|o| o.pointer("/spec/ports"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut taken = used_ports;
        for port in spec
            .get_mut("ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if port.get("nodePort").is_some() {
                continue;
            }
            let kept = old_ports
                .iter()
                .find(|p| p.get("port") == port.get("port"))
                .and_then(|p| p.get("nodePort"))
                .and_then(Value::as_i64);
            let next = kept.or_else(|| (30_000..=32_767).find(|p| !taken.contains(p)));
            if let (Some(n), Some(port)) = (next, port.as_object_mut()) {
                taken.push(n);
                port.insert("nodePort".into(), json!(n));
            }
        }
    }
}

/// Cluster IPs and node ports already taken by stored Services.
fn allocated(store: &Store) -> (Vec<String>, Vec<i64>) {
    let Some(services) = resources::by_plural("", "services") else {
        return (Vec::new(), Vec::new());
    };
    let mut ips = Vec::new();
    let mut ports = Vec::new();
    for (_, svc) in store.list(services, None) {
        if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str) {
            ips.push(ip.to_owned());
        }
        for p in svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = p.get("nodePort").and_then(Value::as_i64) {
                ports.push(n);
            }
        }
    }
    (ips, ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_classes() {
        let guaranteed = json!({"containers": [{"resources": {
            "limits": {"cpu": "1", "memory": "1Mi"}, "requests": {"cpu": "1", "memory": "1Mi"}}}]});
        assert_eq!(qos_class(&guaranteed), "Guaranteed");
        assert_eq!(
            qos_class(&json!({"containers": [{"resources": {}}]})),
            "BestEffort"
        );
        let burstable = json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]});
        assert_eq!(qos_class(&burstable), "Burstable");
    }

    #[test]
    fn new_pods_get_admission_defaults() {
        let mut pod = json!({"spec": {"containers": [{"name": "a"}],
            "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}]}});
        super::pod(&mut pod);
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        assert_eq!(pod["spec"]["tolerations"].as_array().map(Vec::len), Some(2));
        assert_eq!(pod["spec"]["priority"], 0);
        assert_eq!(
            pod["status"],
            json!({"phase": "Pending", "qosClass": "BestEffort"})
        );
    }
}
