//! The LISTs that make up a snapshot: every resource the runbook's discovery steps read.

/// One LIST the runbook needs.
pub(crate) struct Target {
    /// `group/version`, or `v1` for the core group.
    pub(crate) api_version: &'static str,
    pub(crate) plural: &'static str,
    pub(crate) kind: &'static str,
    /// Only this namespace, where the runbook reads a single one.
    pub(crate) namespace: Option<&'static str>,
    /// Only the objects this field selector matches, where the checks read a few of many.
    pub(crate) field_selector: Option<&'static str>,
}

const fn all(api_version: &'static str, plural: &'static str, kind: &'static str) -> Target {
    Target {
        api_version,
        plural,
        kind,
        namespace: None,
        field_selector: None,
    }
}

const fn only(
    ns: &'static str,
    api_version: &'static str,
    plural: &'static str,
    kind: &'static str,
) -> Target {
    Target {
        api_version,
        plural,
        kind,
        namespace: Some(ns),
        field_selector: None,
    }
}

/// Events about one kind of object, in every namespace. The checks read only the newest event
/// about a pod that cannot be scheduled or a claim that is not bound; a cluster that keeps events
/// for long holds many more about everything else.
const fn events_about(field_selector: &'static str) -> Target {
    Target {
        api_version: "v1",
        plural: "events",
        kind: "Event",
        namespace: None,
        field_selector: Some(field_selector),
    }
}

const LONGHORN: &str = posture_core::longhorn::API_VERSION;
/// Where Longhorn installs unless told otherwise; collection follows it elsewhere.
pub(crate) const LONGHORN_DEFAULT_NAMESPACE: &str = "longhorn-system";
const LEASES: &str = "coordination.k8s.io/v1";

pub(crate) const TARGETS: &[Target] = &[
    all("v1", "nodes", "Node"),
    all("v1", "namespaces", "Namespace"),
    all("v1", "pods", "Pod"),
    all("v1", "services", "Service"),
    all("v1", "persistentvolumes", "PersistentVolume"),
    all("v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    // Kubernetes keeps events for an hour by default: all of them are "recent".
    events_about("involvedObject.kind=Pod"),
    events_about("involvedObject.kind=PersistentVolumeClaim"),
    only(LONGHORN_DEFAULT_NAMESPACE, "v1", "configmaps", "ConfigMap"),
    all("apps/v1", "deployments", "Deployment"),
    all("apps/v1", "daemonsets", "DaemonSet"),
    all("apps/v1", "statefulsets", "StatefulSet"),
    all("apps/v1", "replicasets", "ReplicaSet"),
    all("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    all(
        "autoscaling/v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
    ),
    all("discovery.k8s.io/v1", "endpointslices", "EndpointSlice"),
    only("kube-system", LEASES, "leases", "Lease"),
    only("kube-node-lease", LEASES, "leases", "Lease"),
    all("storage.k8s.io/v1", "storageclasses", "StorageClass"),
    all(LONGHORN, "settings", "Setting"),
    all(LONGHORN, "volumes", "Volume"),
    all(LONGHORN, "replicas", "Replica"),
    all(LONGHORN, "engines", "Engine"),
    all(LONGHORN, "nodes", "Node"),
    all("argoproj.io/v1alpha1", "applications", "Application"),
    all(
        "kustomize.toolkit.fluxcd.io/v1",
        "kustomizations",
        "Kustomization",
    ),
    all("helm.toolkit.fluxcd.io/v2", "helmreleases", "HelmRelease"),
    all("keda.sh/v1alpha1", "scaledobjects", "ScaledObject"),
];

/// Groups whose CRDs a cluster may simply not have: a 404 on them is "not installed".
const OPTIONAL_GROUPS: &[&str] = &[
    "argoproj.io",
    "kustomize.toolkit.fluxcd.io",
    "helm.toolkit.fluxcd.io",
    "keda.sh",
];

impl Target {
    /// Longhorn's resources: a 404 on them means Longhorn is not installed.
    pub(crate) fn is_longhorn(&self) -> bool {
        self.api_version == LONGHORN
    }

    /// Argo CD's, Flux's and KEDA's resources: a 404 on them means the tool is not installed.
    pub(crate) fn is_optional(&self) -> bool {
        self.api_version
            .split_once('/')
            .is_some_and(|(group, _)| OPTIONAL_GROUPS.contains(&group))
    }

    /// The resource as kubectl names it (`pods`, `volumes.longhorn.io`): recorded when unreadable.
    pub(crate) fn resource(&self) -> String {
        match self.api_version.split_once('/') {
            Some((group, _)) if group.contains('.') && !group.ends_with(".k8s.io") => {
                format!("{}.{group}", self.plural)
            }
            _ => self.plural.to_owned(),
        }
    }

    pub(crate) fn path(&self) -> String {
        let prefix = if self.api_version.contains('/') {
            "/apis"
        } else {
            "/api"
        };
        match self.namespace {
            Some(ns) => format!(
                "{prefix}/{}/namespaces/{ns}/{}",
                self.api_version, self.plural
            ),
            None => format!("{prefix}/{}/{}", self.api_version, self.plural),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_names_follow_the_api() {
        let lease = only("kube-system", LEASES, "leases", "Lease");
        assert_eq!(
            lease.path(),
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
        );
        assert_eq!(lease.resource(), "leases");
        let volumes = all(LONGHORN, "volumes", "Volume");
        assert_eq!(volumes.path(), "/apis/longhorn.io/v1beta2/volumes");
        assert_eq!(volumes.resource(), "volumes.longhorn.io");
        assert!(volumes.is_longhorn());
        assert_eq!(all("v1", "pods", "Pod").path(), "/api/v1/pods");
    }
}
