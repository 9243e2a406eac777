//! References to API objects, and the kubectl command a human would run to look at one.

use serde::{Deserialize, Serialize};

/// Names one API object the way a person would search for it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Kind as the API spells it, e.g. `Deployment`, `Volume`.
    pub kind: String,
    /// `group/version` or `v1` for the core group.
    pub api_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(
        api_version: impl Into<String>,
        kind: impl Into<String>,
        namespace: Option<&str>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            kind: kind.into(),
            api_version: api_version.into(),
            namespace: namespace.map(str::to_owned),
            name: name.into(),
        }
    }

    /// Builds a reference from any k8s-openapi resource.
    pub fn of<K>(obj: &K) -> Self
    where
        K: k8s_openapi::Resource
            + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    {
        let meta = obj.metadata();
        Self {
            kind: K::KIND.to_owned(),
            api_version: K::API_VERSION.to_owned(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
        }
    }

    /// The resource's plural as URLs name it (`deployments`, `storageclasses`, `poddisruptionbudgets`).
    pub fn plural(&self) -> String {
        plural(&self.kind.to_ascii_lowercase())
    }

    /// The resource name kubectl accepts unambiguously (`volumes.longhorn.io`, `deployment`).
    pub fn kubectl_resource(&self) -> String {
        let kind = self.kind.to_ascii_lowercase();
        match self.api_version.split_once('/') {
            Some((group, _)) if !is_builtin_group(group) => format!("{}.{group}", plural(&kind)),
            _ => kind,
        }
    }

    /// `kubectl get` for this object, optionally narrowed to a JSONPath.
    pub fn kubectl_get(&self, jsonpath: Option<&str>) -> String {
        let mut cmd = String::from("kubectl get ");
        cmd.push_str(&self.kubectl_resource());
        cmd.push(' ');
        cmd.push_str(&self.name);
        if let Some(ns) = &self.namespace {
            cmd.push_str(" -n ");
            cmd.push_str(ns);
        }
        match jsonpath {
            Some(path) => {
                cmd.push_str(" -o jsonpath='{");
                cmd.push_str(path);
                cmd.push_str("}'");
            }
            None => cmd.push_str(" -o yaml"),
        }
        cmd
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

fn is_builtin_group(group: &str) -> bool {
    matches!(
        group,
        "apps"
            | "batch"
            | "policy"
            | "autoscaling"
            | "coordination.k8s.io"
            | "discovery.k8s.io"
            | "storage.k8s.io"
            | "events.k8s.io"
            | "networking.k8s.io"
            | "rbac.authorization.k8s.io"
    )
}

fn plural(kind: &str) -> String {
    if kind.ends_with('s') {
        format!("{kind}es")
    } else if let Some(stem) = kind.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{kind}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_names_custom_resources_with_their_group() {
        let volume = ObjectRef::new(
            "longhorn.io/v1beta2",
            "Volume",
            Some("longhorn-system"),
            "pvc-1",
        );
        assert_eq!(
            volume.kubectl_get(Some(".spec.numberOfReplicas")),
            "kubectl get volumes.longhorn.io pvc-1 -n longhorn-system -o jsonpath='{.spec.numberOfReplicas}'"
        );
        let deploy = ObjectRef::new("apps/v1", "Deployment", Some("kube-system"), "coredns");
        assert_eq!(
            deploy.kubectl_get(None),
            "kubectl get deployment coredns -n kube-system -o yaml"
        );
        let node = ObjectRef::new("v1", "Node", None, "n1");
        assert_eq!(node.to_string(), "Node n1");
    }
}
