//! Argo CD Applications and Flux objects as owners: which one an owner label names, and where it
//! takes its manifests from, so a change for the owner's source can say which repository and path
//! to commit it to.

use serde_json::Value;

use crate::ownership::Owner;

/// The Applications or Flux objects `owner` names, among `applications` and `flux`. Argo CD's
/// tracking names the Application (as `namespace_name` when Applications live outside Argo CD's
/// namespace); Flux's labels name the object, and every one so named counts when several
/// namespaces hold one.
pub fn owned_by<'v>(applications: &'v [Value], flux: &'v [Value], owner: &Owner) -> Vec<&'v Value> {
    match owner {
        Owner::ArgoCd { app } => applications
            .iter()
            .filter(|a| {
                let name = meta_str(a, "name");
                let namespace = meta_str(a, "namespace");
                name == Some(app.as_str())
                    || matches!((namespace, name), (Some(ns), Some(n)) if *app == format!("{ns}_{n}"))
            })
            .collect(),
        Owner::Flux { kind, name } => flux
            .iter()
            .filter(|f| {
                f.get("kind").and_then(Value::as_str) == Some(kind.as_str())
                    && meta_str(f, "name") == Some(name.as_str())
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn meta_str<'v>(object: &'v Value, field: &str) -> Option<&'v str> {
    object.get("metadata")?.get(field)?.as_str()
}

/// Where an Application, Kustomization or HelmRelease takes its manifests from, in words:
/// `Argo CD Application argocd/ingress: repo https://…, path ingress/haproxy, revision main`.
pub fn source_words(owner: &Value) -> String {
    let kind = owner
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("object");
    let at = format!(
        "{}/{}",
        meta_str(owner, "namespace").unwrap_or_default(),
        meta_str(owner, "name").unwrap_or_default()
    );
    let spec = owner.get("spec").unwrap_or(&Value::Null);
    let str_at =
        |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    match kind {
        "Application" => {
            let sources: Vec<&Value> = match spec.get("sources").and_then(Value::as_array) {
                Some(many) => many.iter().collect(),
                None => spec.get("source").into_iter().collect(),
            };
            let described: Vec<String> = sources
                .iter()
                .map(|source| {
                    let mut parts = Vec::new();
                    if let Some(repo) = str_at(source, "repoURL") {
                        parts.push(format!("repo {repo}"));
                    }
                    if let Some(path) = str_at(source, "path") {
                        parts.push(format!("path {path}"));
                    }
                    if let Some(chart) = str_at(source, "chart") {
                        parts.push(format!("chart {chart}"));
                    }
                    if let Some(revision) = str_at(source, "targetRevision") {
                        parts.push(format!("revision {revision}"));
                    }
                    parts.join(", ")
                })
                .filter(|words| !words.is_empty())
                .collect();
            match described.is_empty() {
                true => format!("Argo CD Application {at} (its spec names no source)"),
                false => format!("Argo CD Application {at}: {}", described.join("; ")),
            }
        }
        "Kustomization" => {
            let path = str_at(spec, "path").unwrap_or_else(|| "./".to_owned());
            format!(
                "Flux Kustomization {at}: path {path} of {}",
                source_ref(spec.get("sourceRef"))
            )
        }
        "HelmRelease" => {
            let chart_spec = spec.pointer("/chart/spec").unwrap_or(&Value::Null);
            match str_at(chart_spec, "chart") {
                Some(chart) => format!(
                    "Flux HelmRelease {at}: chart {chart} from {}; the change goes in its spec.values",
                    source_ref(chart_spec.get("sourceRef"))
                ),
                None => format!(
                    "Flux HelmRelease {at}: chart from {}; the change goes in its spec.values",
                    source_ref(spec.get("chartRef"))
                ),
            }
        }
        other => format!("{other} {at}"),
    }
}

fn source_ref(reference: Option<&Value>) -> String {
    let Some(reference) = reference else {
        return "its source".to_owned();
    };
    let kind = reference
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("source");
    let name = reference.get("name").and_then(Value::as_str).unwrap_or("?");
    match reference.get("namespace").and_then(Value::as_str) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sources_are_named_for_each_kind() {
        let app = json!({"kind": "Application", "metadata": {"name": "ingress", "namespace": "argocd"},
            "spec": {"source": {"repoURL": "https://git/x.git", "path": "ingress", "targetRevision": "main"}}});
        assert_eq!(
            source_words(&app),
            "Argo CD Application argocd/ingress: repo https://git/x.git, path ingress, revision main"
        );
        let multi = json!({"kind": "Application", "metadata": {"name": "a", "namespace": "argocd"},
            "spec": {"sources": [{"repoURL": "https://charts", "chart": "haproxy"}, {"repoURL": "https://git/v.git"}]}});
        assert_eq!(
            source_words(&multi),
            "Argo CD Application argocd/a: repo https://charts, chart haproxy; repo https://git/v.git"
        );
        let ks = json!({"kind": "Kustomization", "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"path": "./apps", "sourceRef": {"kind": "GitRepository", "name": "homelab"}}});
        assert_eq!(
            source_words(&ks),
            "Flux Kustomization flux-system/apps: path ./apps of GitRepository homelab"
        );
        let hr = json!({"kind": "HelmRelease", "metadata": {"name": "dns", "namespace": "infra"},
            "spec": {"chart": {"spec": {"chart": "coredns", "sourceRef": {"kind": "HelmRepository", "name": "coredns", "namespace": "flux-system"}}}}});
        assert_eq!(
            source_words(&hr),
            "Flux HelmRelease infra/dns: chart coredns from HelmRepository flux-system/coredns; the change goes in its spec.values"
        );
    }

    #[test]
    fn owners_match_by_name_or_tracking_name() {
        let apps = vec![
            json!({"kind": "Application", "metadata": {"name": "ingress", "namespace": "team"}}),
            json!({"kind": "Application", "metadata": {"name": "other", "namespace": "argocd"}}),
        ];
        let flux = vec![
            json!({"kind": "Kustomization", "metadata": {"name": "apps", "namespace": "a"}}),
            json!({"kind": "HelmRelease", "metadata": {"name": "apps", "namespace": "b"}}),
        ];
        let by = |owner| owned_by(&apps, &flux, &owner).len();
        assert_eq!(
            by(Owner::ArgoCd {
                app: "ingress".into()
            }),
            1
        );
        assert_eq!(
            by(Owner::ArgoCd {
                app: "team_ingress".into()
            }),
            1
        );
        assert_eq!(
            by(Owner::ArgoCd {
                app: "missing".into()
            }),
            0
        );
        assert_eq!(
            by(Owner::Flux {
                kind: "Kustomization".into(),
                name: "apps".into()
            }),
            1
        );
    }
}
