//! Validation of the built-in kinds, after defaulting, as `k8s.io/kubernetes/pkg/apis/*/validation`
//! does it: every problem is one [`Cause`] naming the field path and the reason, and any cause
//! makes the write a 422 Invalid.

use serde_json::{Map, Value};

use super::names;

/// One validation problem, as a `StatusCause` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cause {
    pub field: String,
    pub reason: &'static str,
    pub message: String,
}

/// The causes found so far.
#[derive(Debug, Default)]
pub(crate) struct Causes(pub Vec<Cause>);

impl Causes {
    fn push(&mut self, field: &str, reason: &'static str, message: impl Into<String>) {
        self.0.push(Cause {
            field: field.to_owned(),
            reason,
            message: message.into(),
        });
    }
    pub(crate) fn invalid(&mut self, field: &str, value: &Value, detail: &str) {
        self.push(
            field,
            "FieldValueInvalid",
            format!("Invalid value: {value}: {detail}"),
        );
    }
    pub(crate) fn required(&mut self, field: &str) {
        self.push(field, "FieldValueRequired", "Required value");
    }
    pub(crate) fn forbidden(&mut self, field: &str, detail: &str) {
        self.push(field, "FieldValueForbidden", format!("Forbidden: {detail}"));
    }
    pub(crate) fn not_supported(&mut self, field: &str, value: &Value, allowed: &[&str]) {
        let allowed: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
        self.push(
            field,
            "FieldValueNotSupported",
            format!(
                "Unsupported value: {value}: supported values: {}",
                allowed.join(", ")
            ),
        );
    }
    pub(crate) fn type_invalid(&mut self, field: &str, value: &Value, expected: &str) {
        self.push(
            field,
            "FieldValueTypeInvalid",
            format!("Invalid value: {value}: {field} in body must be of type {expected}"),
        );
    }
}

/// Validates an object of `group`/`kind` being created (`old` None) or updated.
pub(crate) fn validate(group: &str, kind: &str, object: &Value, old: Option<&Value>) -> Causes {
    let mut causes = Causes::default();
    object_meta(&mut causes, "metadata", object.get("metadata"));
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let old_spec = old.and_then(|o| o.get("spec"));
    match (group, kind) {
        ("apps", "Deployment") => {
            replicas(&mut causes, spec);
            workload(&mut causes, spec, old_spec);
            deployment_strategy(&mut causes, spec);
        }
        ("apps", "ReplicaSet") => {
            replicas(&mut causes, spec);
            workload(&mut causes, spec, old_spec);
        }
        ("apps", "StatefulSet") => {
            replicas(&mut causes, spec);
            workload(&mut causes, spec, None);
            if let Some(old_spec) = old_spec {
                stateful_set_update(&mut causes, spec, old_spec);
            }
        }
        ("apps", "DaemonSet") => workload(&mut causes, spec, old_spec),
        ("", "Pod") => pod_spec(&mut causes, "spec", spec),
        ("", "ConfigMap") | ("", "Secret") => {
            for field in ["data", "binaryData", "stringData"] {
                for key in object
                    .get(field)
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(Map::keys)
                {
                    if !names::is_config_map_key(key) {
                        causes.invalid(
                            &format!("{field}[{key}]"),
                            &Value::from(key.as_str()),
                            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                        );
                    }
                }
            }
        }
        ("", "Service") => service(&mut causes, spec),
        ("policy", "PodDisruptionBudget") => disruption_budget(&mut causes, spec),
        ("coordination.k8s.io", "Lease") => {
            if let Some(d) = spec.get("leaseDurationSeconds").and_then(Value::as_i64)
                && d <= 0
            {
                causes.invalid(
                    "spec.leaseDurationSeconds",
                    &spec["leaseDurationSeconds"],
                    "must be greater than 0",
                );
            }
            if let Some(t) = spec.get("leaseTransitions").and_then(Value::as_i64)
                && t < 0
            {
                causes.invalid(
                    "spec.leaseTransitions",
                    &spec["leaseTransitions"],
                    "must be greater than or equal to 0",
                );
            }
        }
        _ => {}
    }
    causes
}

/// `spec.replicas` of a workload, or of a Scale.
pub(crate) fn replicas(causes: &mut Causes, spec: &Value) {
    if let Some(n) = spec.get("replicas").and_then(Value::as_i64)
        && n < 0
    {
        causes.invalid(
            "spec.replicas",
            &spec["replicas"],
            "must be greater than or equal to 0",
        );
    }
}

fn object_meta(causes: &mut Causes, path: &str, meta: Option<&Value>) {
    let Some(meta) = meta else {
        return;
    };
    for (key, value) in meta
        .get("labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if !names::is_qualified_name(key) {
            causes.invalid(
                &format!("{path}.labels"),
                &Value::from(key.as_str()),
                "name part must consist of alphanumeric characters, '-', '_' or '.'",
            );
        }
        match value.as_str() {
            Some(v) if names::is_label_value(v) => {}
            _ => causes.invalid(
                &format!("{path}.labels"),
                value,
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'",
            ),
        }
    }
    for key in meta
        .get("annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::keys)
    {
        if !names::is_qualified_name(key) {
            causes.invalid(
                &format!("{path}.annotations"),
                &Value::from(key.as_str()),
                "name part must consist of alphanumeric characters, '-', '_' or '.'",
            );
        }
    }
}

/// Selector, template and (on update) the immutable selector of a workload.
fn workload(causes: &mut Causes, spec: &Value, old_spec: Option<&Value>) {
    let selector = spec.get("selector");
    let empty = selector.is_none_or(|s| {
        s.get("matchLabels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
            && s.get("matchExpressions")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
    });
    if selector.is_none() {
        causes.required("spec.selector");
    } else if empty {
        causes.invalid(
            "spec.selector",
            &Value::Null,
            "empty selector is invalid for deployment",
        );
    }
    if let Some(old) = old_spec
        && old.get("selector") != selector
    {
        causes.invalid(
            "spec.selector",
            selector.unwrap_or(&Value::Null),
            "field is immutable",
        );
    }
    let template = spec.get("template").unwrap_or(&Value::Null);
    object_meta(causes, "spec.template.metadata", template.get("metadata"));
    let labels = template.pointer("/metadata/labels");
    if !empty && !selector.is_some_and(|s| selects(s, labels)) {
        causes.invalid(
            "spec.template.metadata.labels",
            labels.unwrap_or(&Value::Null),
            "`selector` does not match template `labels`",
        );
    }
    let pod = template.get("spec").unwrap_or(&Value::Null);
    pod_spec(causes, "spec.template.spec", pod);
    if let Some(policy) = pod.get("restartPolicy")
        && policy != "Always"
    {
        causes.not_supported("spec.template.spec.restartPolicy", policy, &["Always"]);
    }
}

/// Whether a label selector selects `labels`.
fn selects(selector: &Value, labels: Option<&Value>) -> bool {
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let match_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e.get("operator").and_then(Value::as_str) {
                Some("In") => label(key).is_some_and(|v| values.contains(&v)),
                Some("NotIn") => label(key).is_none_or(|v| !values.contains(&v)),
                Some("Exists") => label(key).is_some(),
                Some("DoesNotExist") => label(key).is_none(),
                _ => false,
            }
        });
    match_labels && expressions
}

fn deployment_strategy(causes: &mut Causes, spec: &Value) {
    let strategy = spec.get("strategy").unwrap_or(&Value::Null);
    match strategy.get("type").and_then(Value::as_str) {
        Some("Recreate") => {
            if strategy.get("rollingUpdate").is_some() {
                causes.forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                );
            }
        }
        Some("RollingUpdate") => {
            let rolling = strategy.get("rollingUpdate").unwrap_or(&Value::Null);
            let zero = |v: Option<&Value>| v.is_some_and(|v| v == 0 || v == "0%");
            if zero(rolling.get("maxUnavailable")) && zero(rolling.get("maxSurge")) {
                causes.invalid(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    &rolling["maxUnavailable"],
                    "may not be 0 when `maxSurge` is 0",
                );
            }
        }
        _ => causes.not_supported(
            "spec.strategy.type",
            strategy.get("type").unwrap_or(&Value::Null),
            &["Recreate", "RollingUpdate"],
        ),
    }
}

/// A StatefulSet may change only some of its spec.
fn stateful_set_update(causes: &mut Causes, spec: &Value, old: &Value) {
    const MUTABLE: &[&str] = &[
        "replicas",
        "template",
        "updateStrategy",
        "persistentVolumeClaimRetentionPolicy",
        "minReadySeconds",
    ];
    let rest = |s: &Value| -> Map<String, Value> {
        s.as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !MUTABLE.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    if rest(spec) != rest(old) {
        causes.forbidden(
            "spec",
            "updates to statefulset spec for fields other than 'replicas', 'template', \
             'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        );
    }
}

fn items<'a>(value: &'a Value, field: &str) -> impl Iterator<Item = (usize, &'a Value)> {
    value
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

fn pod_spec(causes: &mut Causes, path: &str, spec: &Value) {
    let volumes: Vec<&str> = items(spec, "volumes")
        .filter_map(|(_, v)| v.get("name").and_then(Value::as_str))
        .collect();
    if spec
        .get("containers")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        causes.required(&format!("{path}.containers"));
    }
    for list in ["initContainers", "containers"] {
        for (i, c) in items(spec, list) {
            container(causes, &format!("{path}.{list}[{i}]"), c, &volumes);
        }
    }
    for (i, v) in items(spec, "volumes") {
        match v.get("name").and_then(Value::as_str) {
            None | Some("") => causes.required(&format!("{path}.volumes[{i}].name")),
            Some(name) if !names::is_dns_label(name) => causes.invalid(
                &format!("{path}.volumes[{i}].name"),
                &v["name"],
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
            ),
            _ => {}
        }
    }
    if let Some(policy) = spec.get("restartPolicy")
        && !["Always", "OnFailure", "Never"].contains(&policy.as_str().unwrap_or(""))
    {
        causes.not_supported(
            &format!("{path}.restartPolicy"),
            policy,
            &["Always", "OnFailure", "Never"],
        );
    }
    if let Some(policy) = spec.get("dnsPolicy")
        && !["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
            .contains(&policy.as_str().unwrap_or(""))
    {
        causes.not_supported(
            &format!("{path}.dnsPolicy"),
            policy,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        );
    }
}

fn container(causes: &mut Causes, path: &str, c: &Value, volumes: &[&str]) {
    match c.get("name").and_then(Value::as_str) {
        None | Some("") => causes.required(&format!("{path}.name")),
        Some(name) if !names::is_dns_label(name) => causes.invalid(
            &format!("{path}.name"),
            &c["name"],
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
        ),
        _ => {}
    }
    if c.get("image")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        causes.required(&format!("{path}.image"));
    }
    for (i, port) in items(c, "ports") {
        let field = format!("{path}.ports[{i}]");
        match port.get("containerPort").and_then(Value::as_i64) {
            None => causes.required(&format!("{field}.containerPort")),
            Some(n) if !(1..=65535).contains(&n) => causes.invalid(
                &format!("{field}.containerPort"),
                &port["containerPort"],
                "must be between 1 and 65535, inclusive",
            ),
            _ => {}
        }
        if let Some(name) = port.get("name").and_then(Value::as_str)
            && !names::is_iana_svc_name(name)
        {
            causes.invalid(
                &format!("{field}.name"),
                &port["name"],
                "must be no more than 15 characters",
            );
        }
    }
    for (i, env) in items(c, "env") {
        if env
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            causes.required(&format!("{path}.env[{i}].name"));
        }
    }
    for (i, mount) in items(c, "volumeMounts") {
        let name = mount.get("name").and_then(Value::as_str).unwrap_or("");
        if !volumes.contains(&name) {
            causes.push(
                &format!("{path}.volumeMounts[{i}].name"),
                "FieldValueNotFound",
                format!("Not found: \"{name}\""),
            );
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get(probe) {
            handler_ports(causes, &format!("{path}.{probe}"), p);
        }
    }
}

/// Ports of a probe's or hook's httpGet and tcpSocket: a number in 1..=65535 or an IANA name.
fn handler_ports(causes: &mut Causes, path: &str, handler: &Value) {
    for action in ["httpGet", "tcpSocket"] {
        let Some(port) = handler.get(action).and_then(|a| a.get("port")) else {
            continue;
        };
        let field = format!("{path}.{action}.port");
        match port {
            Value::Number(n) if n.as_i64().is_some_and(|n| (1..=65535).contains(&n)) => {}
            Value::Number(_) => {
                causes.invalid(&field, port, "must be between 1 and 65535, inclusive");
            }
            Value::String(name) if names::is_iana_svc_name(name) => {}
            _ => causes.invalid(
                &field,
                port,
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            ),
        }
    }
}

fn service(causes: &mut Causes, spec: &Value) {
    let kind = spec.get("type").and_then(Value::as_str).unwrap_or("");
    const TYPES: &[&str] = &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
    if !TYPES.contains(&kind) {
        causes.not_supported("spec.type", &spec["type"], TYPES);
    }
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    let ports: Vec<(usize, &Value)> = items(spec, "ports").collect();
    if ports.is_empty() && kind != "ExternalName" && !headless {
        causes.required("spec.ports");
    }
    for (i, port) in &ports {
        let field = format!("spec.ports[{i}]");
        if ports.len() > 1
            && port
                .get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            causes.required(&format!("{field}.name"));
        }
        match port.get("port").and_then(Value::as_i64) {
            None => causes.required(&format!("{field}.port")),
            Some(n) if !(1..=65535).contains(&n) => causes.invalid(
                &format!("{field}.port"),
                &port["port"],
                "must be between 1 and 65535, inclusive",
            ),
            _ => {}
        }
        if let Some(protocol) = port.get("protocol")
            && !["TCP", "UDP", "SCTP"].contains(&protocol.as_str().unwrap_or(""))
        {
            causes.not_supported(
                &format!("{field}.protocol"),
                protocol,
                &["SCTP", "TCP", "UDP"],
            );
        }
        match port.get("targetPort") {
            Some(Value::Number(n)) if !n.as_i64().is_some_and(|n| (1..=65535).contains(&n)) => {
                causes.invalid(
                    &format!("{field}.targetPort"),
                    &port["targetPort"],
                    "must be between 1 and 65535, inclusive",
                );
            }
            Some(Value::String(name)) if !names::is_iana_svc_name(name) => causes.invalid(
                &format!("{field}.targetPort"),
                &port["targetPort"],
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            ),
            _ => {}
        }
    }
}

fn disruption_budget(causes: &mut Causes, spec: &Value) {
    if spec.get("minAvailable").is_some() && spec.get("maxUnavailable").is_some() {
        causes.invalid(
            "spec",
            spec,
            "minAvailable and maxUnavailable cannot be both set",
        );
    }
    for field in ["minAvailable", "maxUnavailable"] {
        let Some(value) = spec.get(field) else {
            continue;
        };
        let path = format!("spec.{field}");
        match value {
            Value::Number(n) if n.as_i64().is_some_and(|n| n < 0) => {
                causes.invalid(&path, value, "must be greater than or equal to 0");
            }
            Value::String(s) => match s.strip_suffix('%').map(str::parse::<i64>) {
                Some(Ok(p)) if (0..=100).contains(&p) => {}
                _ => causes.invalid(
                    &path,
                    value,
                    "must be an integer or a percentage between 0% and 100%",
                ),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(causes: &Causes) -> Vec<(&str, &str)> {
        causes
            .0
            .iter()
            .map(|c| (c.field.as_str(), c.reason))
            .collect()
    }

    fn deployment() -> Value {
        json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                "restartPolicy": "Always",
                "containers": [{"name": "web", "image": "nginx"}]}}}})
    }

    #[test]
    fn a_valid_deployment_has_no_causes() {
        let d = deployment();
        assert!(validate("apps", "Deployment", &d, Some(&d)).0.is_empty());
    }

    #[test]
    fn deployment_selector_is_immutable_and_must_match() {
        let old = deployment();
        let mut d = deployment();
        d["spec"]["selector"]["matchLabels"]["tier"] = json!("x");
        let causes = validate("apps", "Deployment", &d, Some(&old));
        assert_eq!(
            fields(&causes),
            [
                ("spec.selector", "FieldValueInvalid"),
                ("spec.template.metadata.labels", "FieldValueInvalid")
            ]
        );
    }

    #[test]
    fn recreate_forbids_rolling_update() {
        let mut d = deployment();
        d["spec"]["strategy"]["type"] = json!("Recreate");
        let causes = validate("apps", "Deployment", &d, None);
        assert_eq!(
            fields(&causes),
            [("spec.strategy.rollingUpdate", "FieldValueForbidden")]
        );
    }

    #[test]
    fn probe_ports_and_image() {
        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"] = json!([{
            "name": "web",
            "livenessProbe": {"httpGet": {"port": 70000}},
            "readinessProbe": {"tcpSocket": {"port": "no_such"}},
        }]);
        let causes = validate("apps", "Deployment", &d, None);
        let c = "spec.template.spec.containers[0]";
        assert_eq!(
            fields(&causes),
            [
                (format!("{c}.image").as_str(), "FieldValueRequired"),
                (
                    format!("{c}.livenessProbe.httpGet.port").as_str(),
                    "FieldValueInvalid"
                ),
                (
                    format!("{c}.readinessProbe.tcpSocket.port").as_str(),
                    "FieldValueInvalid"
                ),
            ]
        );
    }

    #[test]
    fn labels_budgets_and_leases() {
        let cm = json!({"metadata": {"name": "c", "labels": {"tier": "back end!"}}});
        assert_eq!(
            fields(&validate("", "ConfigMap", &cm, None)),
            [("metadata.labels", "FieldValueInvalid")]
        );
        let pdb = json!({"spec": {"minAvailable": 1, "maxUnavailable": 1}});
        assert_eq!(
            fields(&validate("policy", "PodDisruptionBudget", &pdb, None)),
            [("spec", "FieldValueInvalid")]
        );
        let lease = json!({"spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1}});
        assert_eq!(
            fields(&validate("coordination.k8s.io", "Lease", &lease, None)),
            [
                ("spec.leaseDurationSeconds", "FieldValueInvalid"),
                ("spec.leaseTransitions", "FieldValueInvalid")
            ]
        );
    }
}
