//! The API resources the twin serves, and how discovery describes them.

/// One servable resource type. The twin serves exactly one version per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Subresources served, e.g. `status`, `eviction`, `scale`.
    pub subresources: &'static [&'static str],
}

impl ResourceType {
    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

macro_rules! rt {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, $ns:expr, [$($short:expr),*], [$($sub:expr),*]) => {
        ResourceType {
            group: $group, version: $version, kind: $kind, plural: $plural, singular: $singular,
            namespaced: $ns, short_names: &[$($short),*], subresources: &[$($sub),*],
        }
    };
}

pub static RESOURCES: &[ResourceType] = &[
    rt!(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        false,
        ["ns"],
        ["status"]
    ),
    rt!("", "v1", "Node", "nodes", "node", false, ["no"], ["status"]),
    rt!(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        true,
        ["hpa"],
        ["status"]
    ),
    rt!(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        true,
        ["po"],
        ["status", "eviction", "log"]
    ),
    rt!(
        "",
        "v1",
        "Service",
        "services",
        "service",
        true,
        ["svc"],
        ["status"]
    ),
    rt!(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        "endpoints",
        true,
        ["ep"],
        []
    ),
    rt!(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        true,
        ["cm"],
        []
    ),
    rt!("", "v1", "Secret", "secrets", "secret", true, [], []),
    rt!(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        true,
        ["sa"],
        []
    ),
    rt!("", "v1", "Event", "events", "event", true, ["ev"], []),
    rt!(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        false,
        ["pv"],
        ["status"]
    ),
    rt!(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        true,
        ["pvc"],
        ["status"]
    ),
    rt!(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        true,
        ["deploy"],
        ["status", "scale"]
    ),
    rt!(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        true,
        ["rs"],
        ["status", "scale"]
    ),
    rt!(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        true,
        ["sts"],
        ["status", "scale"]
    ),
    rt!(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        "daemonset",
        true,
        ["ds"],
        ["status"]
    ),
    rt!(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        "controllerrevision",
        true,
        [],
        []
    ),
    rt!(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        true,
        ["pdb"],
        ["status"]
    ),
    rt!(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        true,
        [],
        []
    ),
    rt!(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        true,
        [],
        []
    ),
    rt!(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        "storageclass",
        false,
        ["sc"],
        []
    ),
    rt!(
        "storage.k8s.io",
        "v1",
        "VolumeAttachment",
        "volumeattachments",
        "volumeattachment",
        false,
        [],
        ["status"]
    ),
    rt!(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        "event",
        true,
        ["ev"],
        []
    ),
    rt!(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        false,
        ["crd", "crds"],
        ["status"]
    ),
    rt!(
        "longhorn.io",
        "v1beta2",
        "Volume",
        "volumes",
        "volume",
        true,
        ["lhv"],
        ["status"]
    ),
    rt!(
        "longhorn.io",
        "v1beta2",
        "Replica",
        "replicas",
        "replica",
        true,
        ["lhr"],
        ["status"]
    ),
    rt!(
        "longhorn.io",
        "v1beta2",
        "Engine",
        "engines",
        "engine",
        true,
        ["lhe"],
        ["status"]
    ),
    rt!(
        "longhorn.io",
        "v1beta2",
        "Setting",
        "settings",
        "setting",
        true,
        ["lhs"],
        ["status"]
    ),
    rt!(
        "longhorn.io",
        "v1beta2",
        "Node",
        "nodes",
        "node",
        true,
        ["lhn"],
        ["status"]
    ),
    rt!(
        "longhorn.io",
        "v1beta2",
        "Snapshot",
        "snapshots",
        "snapshot",
        true,
        ["lhsnap"],
        ["status"]
    ),
    rt!(
        "longhorn.io",
        "v1beta2",
        "Backup",
        "backups",
        "backup",
        true,
        ["lhb"],
        ["status"]
    ),
    rt!(
        "argoproj.io",
        "v1alpha1",
        "Application",
        "applications",
        "application",
        true,
        ["app", "apps"],
        ["status"]
    ),
    rt!(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        "kustomizations",
        "kustomization",
        true,
        ["ks"],
        ["status"]
    ),
    rt!(
        "helm.toolkit.fluxcd.io",
        "v2",
        "HelmRelease",
        "helmreleases",
        "helmrelease",
        true,
        ["hr"],
        ["status"]
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        false,
        [],
        []
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        false,
        [],
        []
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        "role",
        true,
        [],
        []
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        true,
        [],
        []
    ),
    rt!(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        "cronjob",
        true,
        ["cj"],
        ["status"]
    ),
    rt!(
        "posture.dev",
        "v1alpha1",
        "PostureReport",
        "posturereports",
        "posturereport",
        true,
        ["pr"],
        ["status"]
    ),
    rt!(
        "keda.sh",
        "v1alpha1",
        "ScaledObject",
        "scaledobjects",
        "scaledobject",
        true,
        ["so"],
        ["status"]
    ),
];

/// Groups a cluster serves only once someone installs their CustomResourceDefinitions (Argo CD,
/// Flux and KEDA are not part of k3s or Longhorn): the twin serves them while the store holds
/// the CRD.
const CRD_GATED_GROUPS: &[&str] = &[
    "argoproj.io",
    "kustomize.toolkit.fluxcd.io",
    "helm.toolkit.fluxcd.io",
    "keda.sh",
    "posture.dev",
];

/// The CustomResourceDefinition name (`plural.group`) a resource needs before it is served, for
/// the resources that are not always there.
pub fn required_crd(rt: &ResourceType) -> Option<String> {
    CRD_GATED_GROUPS
        .contains(&rt.group)
        .then(|| format!("{}.{}", rt.plural, rt.group))
}

/// Finds a resource by group and plural (as URLs name it).
pub fn by_plural(group: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

/// Finds a resource by `apiVersion` and `kind` (as objects name it). The version is not
/// required to match: objects from other served versions of a group are stored as this one.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.kind == kind)
}

/// Every group (empty for core) in discovery order.
pub fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for r in RESOURCES {
        if !groups.contains(&r.group) {
            groups.push(r.group);
        }
    }
    groups
}
