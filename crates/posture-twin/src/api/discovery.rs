//! Discovery (`/version`, `/api`, `/apis`, resource lists), health checks and OpenAPI stubs.
//!
//! Only the legacy (unaggregated) discovery documents are served, always as
//! `application/json`: clients that ask for aggregated discovery first fall back to them.

use axum::response::Response;
use http::Method;
use serde_json::{Value, json};

use super::status::{json_response, text_response};
use super::{Request, Shared};
use crate::resources::{self, RESOURCES, ResourceType};

/// The Kubernetes version the twin claims, matching the scenario's k3s nodes.
pub(crate) const GIT_VERSION: &str = "v1.31.4+k3s1";

const HEALTH_CHECKS: &[&str] = &[
    "ping",
    "log",
    "etcd",
    "informer-sync",
    "poststarthook/start-apiextensions-controllers",
    "poststarthook/crd-informer-synced",
    "poststarthook/scheduling/bootstrap-system-priority-classes",
    "shutdown",
];

pub(crate) fn route(shared: &Shared, request: &Request) -> Option<Response> {
    if request.method != Method::GET {
        return None;
    }
    let path = request.path.as_str();
    let body = match path {
        "/version" => version(),
        "/api" => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
        }),
        "/apis" => group_list(|group| !group_hidden(shared, group)),
        "/api/v1" => resource_list(""),
        "/readyz" | "/livez" | "/healthz" => return Some(health(request)),
        "/openapi/v3" => openapi_v3_root(),
        "/openapi/v2" => json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": GIT_VERSION},
            "paths": {},
            "definitions": {},
        }),
        _ if path.starts_with("/openapi/v3/") => openapi_v3_group_version(path)?,
        _ => {
            let rest = path.strip_prefix("/apis/")?;
            let parts: Vec<&str> = rest.split('/').collect();
            if parts
                .first()
                .is_some_and(|group| group_hidden(shared, group))
            {
                return None;
            }
            match parts.as_slice() {
                [group] => group_document(group)?,
                [group, version] => {
                    if !served_version(group, version) {
                        return None;
                    }
                    resource_list(group)
                }
                _ => return None,
            }
        }
    };
    Some(json_response(200, &body))
}

/// An OpenAPI v3 index naming every served group version, each with an empty document:
/// enough for kubectl to find a document and skip client-side schema validation.
fn openapi_v3_root() -> Value {
    let mut paths = serde_json::Map::new();
    for group in resources::groups() {
        if let Some(rt) = RESOURCES.iter().find(|r| r.group == group) {
            let path = if group.is_empty() {
                format!("api/{}", rt.version)
            } else {
                format!("apis/{group}/{}", rt.version)
            };
            let url = format!("/openapi/v3/{path}?hash=0");
            paths.insert(path, json!({"serverRelativeURL": url}));
        }
    }
    json!({"paths": paths})
}

/// One group version's OpenAPI v3 document: a schema per kind that accepts any fields, so
/// kubectl's client-side validation finds every kind and passes.
fn openapi_v3_group_version(path: &str) -> Option<Value> {
    let gv = path.strip_prefix("/openapi/v3/")?;
    let group = match gv.split('/').collect::<Vec<_>>().as_slice() {
        ["api", _] => "",
        ["apis", group, _] => group,
        _ => return None,
    };
    let mut schemas = serde_json::Map::new();
    let mut paths = serde_json::Map::new();
    for rt in RESOURCES.iter().filter(|r| r.group == group) {
        // Advertising `fieldValidation` on PATCH makes kubectl validate on the server (which
        // accepts anything) instead of fetching the protobuf-only OpenAPI v2 document.
        let gvk = json!({"group": group, "version": rt.version, "kind": rt.kind});
        let operation = json!({
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK"}},
        });
        let prefix = if group.is_empty() {
            format!("/api/{}", rt.version)
        } else {
            format!("/apis/{group}/{}", rt.version)
        };
        let item = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("{prefix}/{}/{{name}}", rt.plural)
        };
        paths.insert(item, json!({"patch": operation}));
        let reversed_group = if group.is_empty() {
            "core".to_owned()
        } else {
            group.split('.').rev().collect::<Vec<_>>().join(".")
        };
        schemas.insert(
            format!("io.k8s.api.{reversed_group}.{}.{}", rt.version, rt.kind),
            json!({
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "x-kubernetes-group-version-kind": [
                    {"group": group, "version": rt.version, "kind": rt.kind}
                ],
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "31",
        "gitVersion": GIT_VERSION,
        "gitCommit": "4b2b2a8e3b5f1e0c9d7a6b5c4d3e2f1a0b9c8d7e",
        "gitTreeState": "clean",
        "buildDate": "2024-12-13T00:00:00Z",
        "goVersion": "go1.22.9",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn served_version(group: &str, version: &str) -> bool {
    RESOURCES
        .iter()
        .any(|r| !r.group.is_empty() && r.group == group && r.version == version)
}

fn group_version(group: &str) -> Option<Value> {
    let rt = RESOURCES.iter().find(|r| r.group == group)?;
    Some(json!({"groupVersion": rt.api_version(), "version": rt.version}))
}

fn group_entry(group: &str) -> Option<Value> {
    let version = group_version(group)?;
    Some(json!({"name": group, "versions": [version.clone()], "preferredVersion": version}))
}

fn group_document(group: &str) -> Option<Value> {
    if group.is_empty() {
        return None;
    }
    let mut entry = group_entry(group)?;
    entry["kind"] = json!("APIGroup");
    entry["apiVersion"] = json!("v1");
    Some(entry)
}

/// A group whose CustomResourceDefinition is not installed (see `resources::required_crd`).
fn group_hidden(shared: &Shared, group: &str) -> bool {
    RESOURCES
        .iter()
        .filter(|r| r.group == group)
        .any(|r| !super::objects::crd_installed(shared, r))
}

fn group_list(served: impl Fn(&str) -> bool) -> Value {
    let groups: Vec<Value> = resources::groups()
        .into_iter()
        .filter(|g| !g.is_empty() && served(g))
        .filter_map(group_entry)
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(group: &str) -> Value {
    let mut list = Vec::new();
    let mut version = "v1";
    for rt in RESOURCES.iter().filter(|r| r.group == group) {
        version = rt.version;
        list.push(resource_entry(rt));
        for sub in rt.subresources {
            list.push(subresource_entry(rt, sub));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list,
    })
}

/// Kinds `kubectl get all` shows.
const IN_CATEGORY_ALL: &[&str] = &[
    "pods",
    "services",
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
];

fn resource_entry(rt: &ResourceType) -> Value {
    let mut entry = json!({
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    });
    if !rt.short_names.is_empty() {
        entry["shortNames"] = json!(rt.short_names);
    }
    if IN_CATEGORY_ALL.contains(&rt.plural) {
        entry["categories"] = json!(["all"]);
    }
    entry
}

fn subresource_entry(rt: &ResourceType, sub: &str) -> Value {
    let name = format!("{}/{sub}", rt.plural);
    let namespaced = rt.namespaced;
    match sub {
        "eviction" => json!({
            "name": name, "singularName": "", "namespaced": namespaced,
            "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"],
        }),
        "scale" => json!({
            "name": name, "singularName": "", "namespaced": namespaced,
            "group": "autoscaling", "version": "v1", "kind": "Scale",
            "verbs": ["get", "patch", "update"],
        }),
        "log" => json!({
            "name": name, "singularName": "", "namespaced": namespaced,
            "kind": "Pod", "verbs": ["get"],
        }),
        _ => json!({
            "name": name, "singularName": "", "namespaced": namespaced,
            "kind": rt.kind, "verbs": ["get", "patch", "update"],
        }),
    }
}

/// `ok`, or with `?verbose` one `[+]check ok` line per check and a closing verdict.
fn health(request: &Request) -> Response {
    let endpoint = request.path.trim_start_matches('/');
    if request.query.has("verbose") {
        let mut text = String::new();
        // informer-sync and shutdown are readiness checks: /readyz lists them, /healthz and
        // /livez do not.
        let readiness_only = ["informer-sync", "shutdown"];
        for check in HEALTH_CHECKS
            .iter()
            .filter(|c| endpoint == "readyz" || !readiness_only.contains(c))
        {
            text.push_str(&format!("[+]{check} ok\n"));
        }
        text.push_str(&format!("{endpoint} check passed\n"));
        text_response(200, text)
    } else {
        text_response(200, "ok".to_owned())
    }
}
