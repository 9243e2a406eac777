//! `docs/install.md`'s Role and ClusterRole grant exactly the verbs in
//! `posture_kube::rbac::PERMISSIONS`: every one the code needs, and nothing else.

use std::collections::BTreeSet;

use posture_kube::rbac::{NON_RESOURCE_URLS, PERMISSIONS, Scope};
use serde::Deserialize;
use serde_json::Value;

const DOC: &str = include_str!("../../../docs/install.md");

type Grant = (String, String, String, String);

fn scope_name(scope: Scope) -> String {
    match scope {
        Scope::Cluster => "*".into(),
        Scope::Namespace(ns) => ns.into(),
    }
}

/// The YAML documents of every ```yaml block in the doc.
fn manifests() -> Vec<Value> {
    let mut out = Vec::new();
    for block in DOC.split("```yaml\n").skip(1) {
        let text = block.split("\n```").next().expect("closed block");
        for document in serde_norway::Deserializer::from_str(text) {
            out.push(Value::deserialize(document).expect("valid YAML"));
        }
    }
    out
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().expect("a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn install_md_grants_exactly_what_the_code_uses() {
    let mut granted: BTreeSet<Grant> = BTreeSet::new();
    let mut urls: BTreeSet<(String, String)> = BTreeSet::new();
    for manifest in manifests() {
        let scope = match manifest["kind"].as_str() {
            Some("ClusterRole") => "*".to_owned(),
            Some("Role") => manifest["metadata"]["namespace"]
                .as_str()
                .expect("a Role has a namespace")
                .to_owned(),
            other => panic!("unexpected manifest kind {other:?}"),
        };
        for rule in manifest["rules"].as_array().expect("rules") {
            for url in strings(&rule["nonResourceURLs"]) {
                for verb in strings(&rule["verbs"]) {
                    urls.insert((url.clone(), verb));
                }
            }
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    for verb in strings(&rule["verbs"]) {
                        let grant = (group.clone(), resource.clone(), verb, scope.clone());
                        assert!(granted.insert(grant.clone()), "granted twice: {grant:?}");
                    }
                }
            }
        }
    }
    let needed: BTreeSet<Grant> = PERMISSIONS
        .iter()
        .flat_map(|p| {
            p.verbs.iter().map(|verb| {
                (
                    p.group.to_owned(),
                    p.resource.to_owned(),
                    (*verb).to_owned(),
                    scope_name(p.scope),
                )
            })
        })
        .collect();
    let missing: Vec<_> = needed.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "docs/install.md does not grant {missing:?}"
    );
    let extra: Vec<_> = granted.difference(&needed).collect();
    assert!(
        extra.is_empty(),
        "docs/install.md grants what posture never uses: {extra:?}"
    );
    let wanted: BTreeSet<(String, String)> = NON_RESOURCE_URLS
        .iter()
        .map(|u| ((*u).to_owned(), "get".to_owned()))
        .collect();
    assert_eq!(urls, wanted, "non-resource URLs");
}
