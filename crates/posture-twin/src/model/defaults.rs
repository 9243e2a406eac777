//! The defaults the real API server fills in when it decodes a built-in object (the Go
//! `SetDefaults_*` functions of `k8s.io/kubernetes/pkg/apis/*/v1`), applied on every create,
//! update and patch, so a field a patch removes comes back with its default.
//!
//! Fields are defaulted only when absent: [`super::shape::normalize`] runs first, so absent
//! also covers the Go zero values a client may have sent.

use serde_json::{Map, Value, json};

/// Fills in the defaults of an object of `group`/`kind`.
pub(crate) fn apply(group: &str, kind: &str, object: &mut Value) {
    match (group, kind) {
        ("apps", "Deployment") => deployment(object),
        ("apps", "StatefulSet") => stateful_set(object),
        ("apps", "DaemonSet") => daemon_set(object),
        ("apps", "ReplicaSet") => {
            if let Some(spec) = field(object, "spec") {
                default(spec, "replicas", json!(1));
            }
            template(object);
        }
        ("", "Pod") => pod(object),
        ("", "Service") => service(object),
        ("", "Secret") => {
            if let Some(secret) = object.as_object_mut() {
                default(secret, "type", json!("Opaque"));
            }
        }
        ("", "PersistentVolumeClaim") => claim(object),
        ("", "PersistentVolume") => {
            if let Some(spec) = field(object, "spec") {
                default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
                default(spec, "volumeMode", json!("Filesystem"));
            }
            if let Some(status) = field(object, "status") {
                default(status, "phase", json!("Pending"));
            }
        }
        ("", "Namespace") => namespace(object),
        ("", "Endpoints") => {
            for subset in items(object.get_mut("subsets")) {
                for port in items(subset.get_mut("ports")) {
                    if let Some(port) = port.as_object_mut() {
                        default(port, "protocol", json!("TCP"));
                    }
                }
            }
        }
        ("storage.k8s.io", "StorageClass") => {
            if let Some(class) = object.as_object_mut() {
                default(class, "reclaimPolicy", json!("Delete"));
                default(class, "volumeBindingMode", json!("Immediate"));
            }
        }
        _ => {}
    }
}

/// The object field `name`, created as `{}` when absent.
fn field<'a>(object: &'a mut Value, name: &str) -> Option<&'a mut Map<String, Value>> {
    let fields = object.as_object_mut()?;
    let slot = fields.entry(name).or_insert_with(|| json!({}));
    slot.as_object_mut()
}

fn default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_owned(), value);
    }
}

fn items(list: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    list.and_then(Value::as_array_mut).into_iter().flatten()
}

fn deployment(object: &mut Value) {
    if let Some(spec) = field(object, "spec") {
        default(spec, "replicas", json!(1));
        default(spec, "revisionHistoryLimit", json!(10));
        default(spec, "progressDeadlineSeconds", json!(600));
        let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
        if let Some(strategy) = strategy.as_object_mut() {
            default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                let rolling = strategy.entry("rollingUpdate").or_insert_with(|| json!({}));
                if let Some(rolling) = rolling.as_object_mut() {
                    default(rolling, "maxUnavailable", json!("25%"));
                    default(rolling, "maxSurge", json!("25%"));
                }
            }
        }
    }
    template(object);
}

fn stateful_set(object: &mut Value) {
    if let Some(spec) = field(object, "spec") {
        default(spec, "replicas", json!(1));
        default(spec, "podManagementPolicy", json!("OrderedReady"));
        default(spec, "revisionHistoryLimit", json!(10));
        let strategy = spec.entry("updateStrategy").or_insert_with(|| json!({}));
        if let Some(strategy) = strategy.as_object_mut() {
            default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                let rolling = strategy.entry("rollingUpdate").or_insert_with(|| json!({}));
                if let Some(rolling) = rolling.as_object_mut() {
                    default(rolling, "partition", json!(0));
                }
            }
        }
        for claim_template in items(spec.get_mut("volumeClaimTemplates")) {
            claim(claim_template);
        }
    }
    template(object);
}

fn daemon_set(object: &mut Value) {
    if let Some(spec) = field(object, "spec") {
        default(spec, "revisionHistoryLimit", json!(10));
        let strategy = spec.entry("updateStrategy").or_insert_with(|| json!({}));
        if let Some(strategy) = strategy.as_object_mut() {
            default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                let rolling = strategy.entry("rollingUpdate").or_insert_with(|| json!({}));
                if let Some(rolling) = rolling.as_object_mut() {
                    default(rolling, "maxUnavailable", json!(1));
                    default(rolling, "maxSurge", json!(0));
                }
            }
        }
    }
    template(object);
}

fn claim(object: &mut Value) {
    if let Some(spec) = field(object, "spec") {
        default(spec, "volumeMode", json!("Filesystem"));
    }
    if let Some(status) = field(object, "status") {
        default(status, "phase", json!("Pending"));
    }
}

fn namespace(object: &mut Value) {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Some(meta) = field(object, "metadata") {
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }
    // The namespace registry gives every namespace the kubernetes finalizer.
    if let Some(spec) = field(object, "spec") {
        default(spec, "finalizers", json!(["kubernetes"]));
    }
    if let Some(status) = field(object, "status") {
        default(status, "phase", json!("Active"));
    }
}

/// The pod template of a workload.
fn template(object: &mut Value) {
    if let Some(spec) = object.pointer_mut("/spec/template/spec") {
        pod_spec(spec);
    }
}

/// `SetDefaults_PodSpec` and the defaults of everything a pod spec holds.
pub(crate) fn pod_spec(spec: &mut Value) {
    let Some(fields) = spec.as_object_mut() else {
        return;
    };
    default(fields, "dnsPolicy", json!("ClusterFirst"));
    default(fields, "restartPolicy", json!("Always"));
    default(fields, "securityContext", json!({}));
    default(fields, "terminationGracePeriodSeconds", json!(30));
    default(fields, "schedulerName", json!("default-scheduler"));
    // The deprecated serviceAccount mirrors serviceAccountName (API conversion).
    match (
        fields.get("serviceAccountName").cloned(),
        fields.get("serviceAccount").cloned(),
    ) {
        (Some(name), _) => {
            fields.insert("serviceAccount".into(), name);
        }
        (None, Some(name)) => {
            fields.insert("serviceAccountName".into(), name);
        }
        (None, None) => {}
    }
    let host_network = fields.get("hostNetwork") == Some(&json!(true));
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in items(fields.get_mut(list)) {
            container(c, host_network);
        }
    }
    for volume in items(fields.get_mut("volumes")) {
        volume_source(volume);
    }
}

fn container(container: &mut Value, host_network: bool) {
    let Some(fields) = container.as_object_mut() else {
        return;
    };
    default(
        fields,
        "terminationMessagePath",
        json!("/dev/termination-log"),
    );
    default(fields, "terminationMessagePolicy", json!("File"));
    let image = fields.get("image").and_then(Value::as_str).unwrap_or("");
    default(fields, "imagePullPolicy", json!(image_pull_policy(image)));
    for port in items(fields.get_mut("ports")) {
        if let Some(port) = port.as_object_mut() {
            default(port, "protocol", json!("TCP"));
            if host_network && let Some(number) = port.get("containerPort").cloned() {
                default(port, "hostPort", number);
            }
        }
    }
    for env in items(fields.get_mut("env")) {
        if let Some(field_ref) = env
            .pointer_mut("/valueFrom/fieldRef")
            .and_then(Value::as_object_mut)
        {
            default(field_ref, "apiVersion", json!("v1"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(probe) = fields.get_mut(probe).and_then(Value::as_object_mut) {
            default(probe, "timeoutSeconds", json!(1));
            default(probe, "periodSeconds", json!(10));
            default(probe, "successThreshold", json!(1));
            default(probe, "failureThreshold", json!(3));
            handler(probe);
        }
    }
    if let Some(lifecycle) = fields.get_mut("lifecycle").and_then(Value::as_object_mut) {
        for hook in lifecycle.values_mut() {
            if let Some(hook) = hook.as_object_mut() {
                handler(hook);
            }
        }
    }
}

fn handler(handler: &mut Map<String, Value>) {
    if let Some(get) = handler.get_mut("httpGet").and_then(Value::as_object_mut) {
        default(get, "path", json!("/"));
        default(get, "scheme", json!("HTTP"));
    }
}

/// `Always` for an image tagged `latest` or not tagged at all (nor pinned by digest), else
/// `IfNotPresent`.
pub(crate) fn image_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn volume_source(volume: &mut Value) {
    let Some(fields) = volume.as_object_mut() else {
        return;
    };
    if fields.keys().all(|k| k == "name") {
        fields.insert("emptyDir".into(), json!({}));
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(source) = fields.get_mut(source).and_then(Value::as_object_mut) {
            default(source, "defaultMode", json!(420));
        }
    }
    if let Some(host_path) = fields.get_mut("hostPath").and_then(Value::as_object_mut) {
        default(host_path, "type", json!(""));
    }
}

/// `SetDefaults_Pod`: requests default to limits, service links are on.
fn pod(object: &mut Value) {
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        for list in ["initContainers", "containers"] {
            for c in items(spec.get_mut(list)) {
                let Some(limits) = c.pointer("/resources/limits").cloned() else {
                    continue;
                };
                let Some(resources) = c.get_mut("resources").and_then(Value::as_object_mut) else {
                    continue;
                };
                let requests = resources
                    .entry("requests")
                    .or_insert_with(|| json!({}))
                    .as_object_mut();
                if let (Some(requests), Some(limits)) = (requests, limits.as_object()) {
                    for (resource, quantity) in limits {
                        default(requests, resource, quantity.clone());
                    }
                }
            }
        }
        default(spec, "enableServiceLinks", json!(true));
    }
    if let Some(spec) = object.get_mut("spec") {
        pod_spec(spec);
    }
}

fn service(object: &mut Value) {
    let Some(spec) = field(object, "spec") else {
        return;
    };
    default(spec, "type", json!("ClusterIP"));
    default(spec, "sessionAffinity", json!("None"));
    let kind = spec["type"].as_str().unwrap_or("").to_owned();
    if spec["sessionAffinity"] == "ClientIP" {
        let config = spec
            .entry("sessionAffinityConfig")
            .or_insert_with(|| json!({}));
        if let Some(client_ip) = config
            .as_object_mut()
            .map(|c| c.entry("clientIP").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
        {
            default(client_ip, "timeoutSeconds", json!(10800));
        }
    }
    for port in items(spec.get_mut("ports")) {
        if let Some(port) = port.as_object_mut() {
            default(port, "protocol", json!("TCP"));
            if let Some(number) = port.get("port").cloned() {
                default(port, "targetPort", number);
            }
        }
    }
    if kind == "NodePort" || kind == "LoadBalancer" {
        default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if kind == "LoadBalancer" {
        default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if kind != "ExternalName" {
        default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_pull_policy_follows_the_tag() {
        assert_eq!(image_pull_policy("busybox"), "Always");
        assert_eq!(image_pull_policy("busybox:latest"), "Always");
        assert_eq!(image_pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(image_pull_policy("registry:5000/app"), "Always");
        assert_eq!(image_pull_policy("registry:5000/app:v1"), "IfNotPresent");
        assert_eq!(image_pull_policy("app@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn deployment_defaults() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1", "readinessProbe": {"httpGet": {"port": 80}}},
        ]}}}});
        apply("apps", "Deployment", &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            c["readinessProbe"],
            json!({"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}, "timeoutSeconds": 1,
                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(d["spec"]["template"]["spec"]["securityContext"], json!({}));
    }

    #[test]
    fn namespaces_are_labelled_with_their_name() {
        let mut ns = json!({"metadata": {"name": "apps"}});
        apply("", "Namespace", &mut ns);
        assert_eq!(
            ns,
            json!({"metadata": {"name": "apps", "labels": {"kubernetes.io/metadata.name": "apps"}},
                   "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        );
    }

    #[test]
    fn recreate_gets_no_rolling_update() {
        let mut d = json!({"spec": {"strategy": {"type": "Recreate"}}});
        apply("apps", "Deployment", &mut d);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn pod_requests_default_to_limits() {
        let mut p = json!({"spec": {"containers": [
            {"name": "a", "image": "a", "resources": {"limits": {"cpu": "1"}, "requests": {"memory": "1Mi"}}},
        ]}});
        apply("", "Pod", &mut p);
        assert_eq!(
            p["spec"]["containers"][0]["resources"]["requests"],
            json!({"cpu": "1", "memory": "1Mi"})
        );
        assert_eq!(p["spec"]["enableServiceLinks"], true);
    }

    #[test]
    fn service_ports_target_their_port() {
        let mut s = json!({"spec": {"ports": [{"port": 22}, {"port": 80, "targetPort": "http"}]}});
        apply("", "Service", &mut s);
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 22);
        assert_eq!(s["spec"]["ports"][1]["targetPort"], "http");
        assert_eq!(s["spec"]["type"], "ClusterIP");
        assert_eq!(s["spec"]["internalTrafficPolicy"], "Cluster");
    }
}
