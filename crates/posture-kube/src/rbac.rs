//! The permissions posture's requests need, per API group and resource: what `docs/install.md`
//! grants (tested against this table), and what every request the code makes must fit
//! ([`permission_of`] turns a request into the verb it needs).

/// Where a grant applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Every namespace (a ClusterRole).
    Cluster,
    /// One namespace (a Role there).
    Namespace(&'static str),
}

/// Verbs on one resource, and the commands that use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// API group; `""` is the core group.
    pub group: &'static str,
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
    pub scope: Scope,
    /// Commands that need it, in words.
    pub used_by: &'static str,
}

const READ: &[&str] = &["get", "list", "watch"];
const READERS: &str = "check, snapshot, plan, watch, apply";

const fn read(group: &'static str, resource: &'static str) -> Permission {
    Permission {
        group,
        resource,
        verbs: READ,
        scope: Scope::Cluster,
        used_by: READERS,
    }
}

/// Where Longhorn's ConfigMaps live (collection reads only there).
pub const LONGHORN_NAMESPACE: &str = "longhorn-system";
/// Where `drill --probe` runs its probe pods.
pub const PROBE_NAMESPACE: &str = posture_core::drill::observed::probe::PROBE_NAMESPACE;
/// Where the cluster lock's Lease lives.
pub const LOCK_NAMESPACE: &str = "kube-system";

/// Every permission posture needs. Reading covers `check`, `snapshot`, `plan`, `watch` and the
/// flap gate of `apply`; the writes are `apply`, `rollback` and `watch --act`. Every write is
/// first sent as a server-side dry run, which needs the same verb.
pub const PERMISSIONS: &[Permission] = &[
    read("", "nodes"),
    read("", "namespaces"),
    read("", "pods"),
    read("", "services"),
    read("", "persistentvolumes"),
    read("", "persistentvolumeclaims"),
    read("", "events"),
    read("apps", "deployments"),
    read("apps", "statefulsets"),
    read("apps", "replicasets"),
    read("policy", "poddisruptionbudgets"),
    read("autoscaling", "horizontalpodautoscalers"),
    read("discovery.k8s.io", "endpointslices"),
    read("coordination.k8s.io", "leases"),
    read("storage.k8s.io", "storageclasses"),
    read("storage.k8s.io", "volumeattachments"),
    read("longhorn.io", "replicas"),
    read("longhorn.io", "engines"),
    read("longhorn.io", "nodes"),
    read("longhorn.io", "snapshots"),
    read("longhorn.io", "backups"),
    Permission {
        group: "argoproj.io",
        resource: "applications",
        verbs: &["get", "list", "patch"],
        scope: Scope::Cluster,
        used_by: "watch --act argo-rollback (list); apply --pause (automated sync off and back)",
    },
    Permission {
        group: "autoscaling",
        resource: "horizontalpodautoscalers",
        verbs: &["patch"],
        scope: Scope::Cluster,
        used_by: "apply --pause: pin an HPA and restore it",
    },
    Permission {
        group: "kustomize.toolkit.fluxcd.io",
        resource: "kustomizations",
        verbs: &["get", "list", "patch"],
        scope: Scope::Cluster,
        used_by: "apply --pause: suspend and resume",
    },
    Permission {
        group: "helm.toolkit.fluxcd.io",
        resource: "helmreleases",
        verbs: &["get", "list", "patch"],
        scope: Scope::Cluster,
        used_by: "apply --pause: suspend and resume",
    },
    Permission {
        group: "keda.sh",
        resource: "scaledobjects",
        verbs: &["get", "list", "patch"],
        scope: Scope::Cluster,
        used_by: "apply --pause: KEDA's paused annotation, set and removed",
    },
    Permission {
        group: "",
        resource: "nodes",
        verbs: &["patch"],
        scope: Scope::Cluster,
        used_by: "watch --act cordon-secondary; drill (as a dry run)",
    },
    Permission {
        group: "",
        resource: "pods/eviction",
        verbs: &["create"],
        scope: Scope::Cluster,
        used_by: "drill: the server's answer to a drain (dry runs); drill --drain",
    },
    Permission {
        group: "",
        resource: "pods",
        verbs: &["create", "delete"],
        scope: Scope::Namespace(PROBE_NAMESPACE),
        used_by: "drill --probe: the probe pods",
    },
    Permission {
        group: "apps",
        resource: "deployments",
        verbs: &["patch"],
        scope: Scope::Cluster,
        used_by: "apply, rollback, watch --act pin-to-primary",
    },
    Permission {
        group: "apps",
        resource: "statefulsets",
        verbs: &["patch"],
        scope: Scope::Cluster,
        used_by: "apply, rollback, watch --act pin-to-primary",
    },
    Permission {
        group: "apps",
        resource: "daemonsets",
        verbs: &["get", "list", "watch", "patch", "create", "delete"],
        scope: Scope::Cluster,
        used_by: "reading; apply and rollback (create and delete with --ingress-daemonset)",
    },
    Permission {
        group: "policy",
        resource: "poddisruptionbudgets",
        verbs: &["create", "delete", "patch"],
        scope: Scope::Cluster,
        used_by: "apply (create; patch a budget that forbids every eviction), rollback (delete)",
    },
    Permission {
        group: "longhorn.io",
        resource: "settings",
        verbs: &["get", "list", "watch", "patch"],
        scope: Scope::Cluster,
        used_by: "reading; apply, rollback, watch --act stop-rebuilds | disable-auto-balance",
    },
    Permission {
        group: "longhorn.io",
        resource: "volumes",
        verbs: &["get", "list", "watch", "patch"],
        scope: Scope::Cluster,
        used_by: "reading; apply, rollback",
    },
    Permission {
        group: "",
        resource: "configmaps",
        verbs: &["get", "list", "watch", "patch"],
        scope: Scope::Namespace(LONGHORN_NAMESPACE),
        used_by: "reading; apply, rollback (Longhorn's StorageClass ConfigMap)",
    },
    Permission {
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["get", "create", "update", "patch", "delete"],
        scope: Scope::Namespace(LOCK_NAMESPACE),
        used_by: "apply, rollback, watch --act: the posture-lock Lease (take, renew, release)",
    },
];

/// Non-resource URLs read with `get`: their `Date` header is the cluster's clock.
pub const NON_RESOURCE_URLS: &[&str] = &["/readyz", "/healthz"];

/// What a request needs: (group, resource, namespace, verb). `None` for a path that is not a
/// resource (then it must be in [`NON_RESOURCE_URLS`]).
pub fn permission_of(
    method: &str,
    path: &str,
    query: &str,
) -> Option<(String, String, Option<String>, &'static str)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => (String::new(), rest),
        ["apis", group, _version, rest @ ..] => ((*group).to_owned(), rest),
        _ => return None,
    };
    let (group, rest) = rest;
    let (namespace, rest) = match rest {
        ["namespaces", ns, more @ ..] if !more.is_empty() => (Some((*ns).to_owned()), more),
        other => (None, other),
    };
    let (resource, named) = match rest {
        [resource] => ((*resource).to_owned(), false),
        [resource, _name] => ((*resource).to_owned(), true),
        [resource, _name, sub] => (format!("{resource}/{sub}"), true),
        _ => return None,
    };
    let watching = query
        .split('&')
        .any(|p| p == "watch=true" || p == "watch=1");
    let verb = match (method, named) {
        ("GET", true) => "get",
        ("GET", false) if watching => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    };
    Some((group, resource, namespace, verb))
}

/// Whether the table grants `verb` on `group/resource` in `namespace` (`None`: cluster-wide).
pub fn allows(group: &str, resource: &str, namespace: Option<&str>, verb: &str) -> bool {
    PERMISSIONS.iter().any(|p| {
        p.group == group
            && p.resource == resource
            && p.verbs.contains(&verb)
            && match p.scope {
                Scope::Cluster => true,
                Scope::Namespace(ns) => namespace == Some(ns),
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_map_to_verbs() {
        let p = |m, path, q| permission_of(m, path, q);
        assert_eq!(
            p("GET", "/api/v1/nodes", ""),
            Some(("".into(), "nodes".into(), None, "list"))
        );
        assert_eq!(
            p(
                "GET",
                "/apis/longhorn.io/v1beta2/volumes",
                "watch=true&resourceVersion=1"
            ),
            Some(("longhorn.io".into(), "volumes".into(), None, "watch"))
        );
        assert_eq!(
            p(
                "PATCH",
                "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/posture-lock",
                ""
            ),
            Some((
                "coordination.k8s.io".into(),
                "leases".into(),
                Some("kube-system".into()),
                "patch"
            ))
        );
        assert_eq!(
            p("GET", "/api/v1/namespaces/kube-system", ""),
            Some(("".into(), "namespaces".into(), None, "get"))
        );
        assert_eq!(p("GET", "/readyz", "verbose"), None);
    }

    #[test]
    fn the_lock_can_be_taken_renewed_and_released() {
        for verb in ["get", "create", "update", "patch", "delete"] {
            assert!(
                allows("coordination.k8s.io", "leases", Some(LOCK_NAMESPACE), verb),
                "{verb}"
            );
        }
        assert!(!allows(
            "coordination.k8s.io",
            "leases",
            Some("default"),
            "delete"
        ));
        assert!(allows("apps", "daemonsets", None, "delete"));
    }
}
