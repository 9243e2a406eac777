//! Who owns an object. A live patch to an object that a GitOps tool or k3s manages is reverted
//! by its owner, which is exactly the flapping the runbook warns about.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Owner {
    ArgoCd {
        app: String,
    },
    Flux {
        kind: String,
        name: String,
    },
    Helm {
        release: String,
        /// The chart and version (`helm.sh/chart`: `ingress-nginx-4.10.0`), when labelled.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chart: Option<String>,
    },
    /// A k3s packaged component (manifests in /var/lib/rancher/k3s/server/manifests).
    K3sAddon {
        name: String,
    },
}

impl Owner {
    /// What reverts a live patch, in the words an operator uses.
    pub fn describe(&self) -> String {
        match self {
            Self::ArgoCd { app } => format!("Argo CD application {app}"),
            Self::Flux { kind, name } => format!("Flux {kind} {name}"),
            Self::Helm { release, .. } => format!("Helm release {release}"),
            Self::K3sAddon { name } => format!("k3s packaged addon {name}"),
        }
    }

    /// The metadata key that revealed the owner, for evidence.
    pub fn evidence_field(&self) -> &'static str {
        match self {
            Self::ArgoCd { .. } => "metadata.annotations.argocd\\.argoproj\\.io/tracking-id",
            Self::Flux { .. } => "metadata.labels",
            Self::Helm { .. } => "metadata.annotations.meta\\.helm\\.sh/release-name",
            Self::K3sAddon { .. } => {
                "metadata.annotations.objectset\\.rio\\.cattle\\.io/owner-name"
            }
        }
    }
}

/// Finds the owner of an object from its labels and annotations.
pub fn owner_of(meta: &ObjectMeta) -> Option<Owner> {
    let empty = BTreeMap::new();
    let labels = meta.labels.as_ref().unwrap_or(&empty);
    let annotations = meta.annotations.as_ref().unwrap_or(&empty);

    if let Some(id) = annotations.get("argocd.argoproj.io/tracking-id") {
        let app = id.split(':').next().unwrap_or(id).to_owned();
        return Some(Owner::ArgoCd { app });
    }
    if let Some(app) = labels.get("argocd.argoproj.io/instance") {
        return Some(Owner::ArgoCd { app: app.clone() });
    }
    for (label, kind) in [
        ("kustomize.toolkit.fluxcd.io/name", "Kustomization"),
        ("helm.toolkit.fluxcd.io/name", "HelmRelease"),
    ] {
        if let Some(name) = labels.get(label) {
            return Some(Owner::Flux {
                kind: kind.to_owned(),
                name: name.clone(),
            });
        }
    }
    if let Some(gvk) = annotations.get("objectset.rio.cattle.io/owner-gvk")
        && (gvk.contains("k3s.cattle.io") || gvk.contains("helm.cattle.io"))
    {
        let name = annotations
            .get("objectset.rio.cattle.io/owner-name")
            .cloned()
            .unwrap_or_default();
        return Some(Owner::K3sAddon { name });
    }
    let chart = labels.get("helm.sh/chart").cloned();
    if let Some(release) = annotations.get("meta.helm.sh/release-name") {
        return Some(Owner::Helm {
            release: release.clone(),
            chart,
        });
    }
    if labels
        .get("app.kubernetes.io/managed-by")
        .map(String::as_str)
        == Some("Helm")
    {
        let release = labels
            .get("app.kubernetes.io/instance")
            .cloned()
            .unwrap_or_default();
        return Some(Owner::Helm { release, chart });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> ObjectMeta {
        let to_map = |kv: &[(&str, &str)]| {
            Some(
                kv.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        ObjectMeta {
            labels: to_map(labels),
            annotations: to_map(annotations),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn recognises_each_owner() {
        let argo = meta(
            &[],
            &[(
                "argocd.argoproj.io/tracking-id",
                "nextcloud:apps/Deployment:apps/nextcloud",
            )],
        );
        assert_eq!(
            owner_of(&argo),
            Some(Owner::ArgoCd {
                app: "nextcloud".into()
            })
        );
        let flux = meta(&[("kustomize.toolkit.fluxcd.io/name", "apps")], &[]);
        assert!(matches!(owner_of(&flux), Some(Owner::Flux { .. })));
        let addon = meta(
            &[],
            &[
                (
                    "objectset.rio.cattle.io/owner-gvk",
                    "k3s.cattle.io/v1, Kind=Addon",
                ),
                ("objectset.rio.cattle.io/owner-name", "coredns"),
            ],
        );
        assert_eq!(
            owner_of(&addon),
            Some(Owner::K3sAddon {
                name: "coredns".into()
            })
        );
        let helm = meta(
            &[
                ("app.kubernetes.io/managed-by", "Helm"),
                ("app.kubernetes.io/instance", "haproxy"),
                ("helm.sh/chart", "kubernetes-ingress-1.39.4"),
            ],
            &[],
        );
        assert_eq!(
            owner_of(&helm),
            Some(Owner::Helm {
                release: "haproxy".into(),
                chart: Some("kubernetes-ingress-1.39.4".into()),
            })
        );
        // An instance label alone is not ownership: many charts and hand-written manifests set it.
        assert_eq!(
            owner_of(&meta(&[("app.kubernetes.io/instance", "x")], &[])),
            None
        );
    }
}
