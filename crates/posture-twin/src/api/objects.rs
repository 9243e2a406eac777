//! Object requests: get, list, create, update and delete with the real API server's rules
//! for status subresources, dry runs and preconditions.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::Method;
use serde_json::{Value, json};

use super::status::{ApiError, json_response, text_response};
pub(crate) use super::target::{Query, Target, parse_target};
use super::{Request, Shared, eviction, pages, patch, selectors, table, table_crd, watch};
use crate::Twin;
use crate::model;
use crate::resources::{self, ResourceType};

pub(crate) async fn route(shared: &Arc<Shared>, request: Request) -> Response {
    let target = match parse_target(&request.path) {
        Ok(target) => target,
        Err(error) => return error.into_response(),
    };
    if !crd_installed(shared, target.rt) {
        return ApiError::page_not_found().into_response();
    }
    let result = match (
        &request.method,
        target.name.is_some(),
        target.sub.as_deref(),
    ) {
        (&Method::GET, false, _) if request.query.flag("watch") => {
            return watch::serve(Arc::clone(shared), target, &request);
        }
        (&Method::GET, false, _) => list(shared, &target, &request),
        (&Method::GET, true, Some("log")) => Ok(text_response(200, String::new())),
        (&Method::GET, true, _) => get(shared, &target, &request),
        (&Method::POST, false, None) => create(shared, &target, &request),
        (&Method::POST, true, Some("eviction")) => eviction::evict(shared, &target, &request),
        (&Method::PUT, true, _) => update(shared, &target, &request),
        (&Method::PATCH, true, _) => patch::patch(shared, &target, &request),
        (&Method::DELETE, true, None) => delete(shared, &target, &request),
        (&Method::DELETE, false, None) => delete_collection(shared, &target, &request),
        _ => Err(ApiError::method_not_allowed()),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// False for a CRD-gated resource whose CustomResourceDefinition the store does not hold.
pub(crate) fn crd_installed(shared: &Shared, rt: &ResourceType) -> bool {
    let Some(crd) = resources::required_crd(rt) else {
        return true;
    };
    let Some(crds) = resources::by_plural("apiextensions.k8s.io", "customresourcedefinitions")
    else {
        return false;
    };
    let key = crate::store::ObjectKey::new(crds, "", &crd);
    shared.twin().store.get(&key).is_some()
}

/// How the client asked to see objects (`Accept: application/json;as=...;g=meta.k8s.io;v=v1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Representation {
    Object,
    Table,
    /// `PartialObjectMetadata(List)`: the objects' metadata only, as kube-rs's
    /// `list_metadata` and controllers' metadata informers ask for.
    Metadata,
}

/// What the client asked for: the first media range of `Accept` the twin can serve decides.
/// 406 when it can serve none of them (a Table or metadata version it does not have).
pub(crate) fn representation(request: &Request) -> Result<Representation, ApiError> {
    let accept = request.accept();
    if accept.trim().is_empty() {
        return Ok(Representation::Object);
    }
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        if !matches!(media, "application/json" | "application/*" | "*/*") {
            continue;
        }
        let meta_v1 =
            param("g") == Some("meta.k8s.io") && matches!(param("v"), Some("v1" | "v1beta1"));
        match param("as") {
            None => return Ok(Representation::Object),
            Some("Table") if meta_v1 => return Ok(Representation::Table),
            Some("PartialObjectMetadata" | "PartialObjectMetadataList") if meta_v1 => {
                return Ok(Representation::Metadata);
            }
            Some(_) => {}
        }
    }
    Err(ApiError::new(
        406,
        "NotAcceptable",
        format!(
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf (asked for {accept:?})"
        ),
    ))
}

/// An object's `PartialObjectMetadata`: its metadata only.
pub(crate) fn partial_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A Table of `items`: a custom resource's columns come from its CRD's printer columns.
fn table_for(twin: &Twin, rt: &ResourceType, items: &[&Value], rv: u64) -> Value {
    if model::is_custom(rt)
        && let Some(columns) = model::crd::printer_columns(&twin.store, rt)
    {
        return table_crd::table(&columns, items, twin.now(), rv);
    }
    table::table(rt, items, twin.now(), rv)
}

fn get(shared: &Shared, target: &Target, request: &Request) -> Result<Response, ApiError> {
    let twin = shared.twin();
    let object = twin
        .store
        .get(&target.key())
        .ok_or_else(|| ApiError::not_found(target.rt, target.name()))?;
    if target.sub.as_deref() == Some("scale") {
        return Ok(json_response(200, &scale_of(object)));
    }
    match representation(request)? {
        Representation::Table => {
            let rv = twin.store.resource_version();
            Ok(json_response(
                200,
                &table_for(&twin, target.rt, &[object], rv),
            ))
        }
        Representation::Metadata => Ok(json_response(200, &partial_metadata(object))),
        Representation::Object => Ok(json_response(200, object)),
    }
}

fn list(shared: &Shared, target: &Target, request: &Request) -> Result<Response, ApiError> {
    let filter = selectors::Filter::from_query(&request.query, target.rt)?;
    let twin = shared.twin();
    let selected: Vec<_> = twin
        .store
        .list(target.rt, target.namespace.as_deref())
        .filter(|(_, object)| filter.matches(object))
        .collect();
    let rv = twin.store.resource_version();
    let page = pages::page(
        selected,
        &request.query,
        rv,
        !filter.is_empty(),
        |token_rv| twin.store.is_compacted(token_rv),
    )?;
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(next) = &page.next {
        metadata["continue"] = json!(next);
    }
    if let Some(remaining) = page.remaining {
        metadata["remainingItemCount"] = json!(remaining);
    }
    match representation(request)? {
        Representation::Table => {
            let mut table = table_for(&twin, target.rt, &page.items, rv);
            table["metadata"] = metadata;
            return Ok(json_response(200, &table));
        }
        Representation::Metadata => {
            let items: Vec<Value> = page.items.iter().map(|o| partial_metadata(o)).collect();
            return Ok(json_response(
                200,
                &json!({
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": metadata,
                    "items": items,
                }),
            ));
        }
        Representation::Object => {}
    }
    // Serialized straight from the store: a list of 10,000 pods is not copied first.
    let list = ListBody {
        kind: format!("{}List", target.rt.kind),
        api_version: target.rt.api_version(),
        metadata,
        items: &page.items,
    };
    Ok(json_response(200, &list))
}

/// A list response, borrowing its items from the store.
#[derive(serde::Serialize)]
struct ListBody<'a> {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    metadata: Value,
    items: &'a [&'a Value],
}

pub(crate) fn parse_body(request: &Request) -> Result<Value, ApiError> {
    serde_json::from_slice(&request.body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded as JSON: {e}"
        ))
    })
}

/// Runs a write under the twin's lock; a real write is followed by a settle and wakes watches.
pub(crate) fn write<R>(
    shared: &Shared,
    dry_run: bool,
    op: impl FnOnce(&mut Twin) -> Result<R, ApiError>,
) -> Result<R, ApiError> {
    if dry_run {
        let mut twin = shared.twin();
        return op(&mut twin);
    }
    shared.mutate(|twin| {
        let result = op(twin)?;
        twin.settle();
        Ok(result)
    })
}

fn create(shared: &Shared, target: &Target, request: &Request) -> Result<Response, ApiError> {
    let rt = target.rt;
    let mut object = parse_body(request)?;
    if !object.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    check_type(rt, &object)?;
    if let Some(namespace) = &target.namespace {
        let declared = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !declared.is_empty() && declared != namespace {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("namespace".into(), json!(namespace));
        } else {
            object["metadata"] = json!({"namespace": namespace});
        }
    } else if rt.namespaced {
        return Err(ApiError::method_not_allowed());
    }
    if has_status(rt)
        && let Some(fields) = object.as_object_mut()
    {
        fields.remove("status");
    }
    let dry_run = request.query.dry_run();
    let created = write(shared, dry_run, |twin| {
        check_namespace(twin, target)?;
        let object = admit(twin, target, None, object)?;
        let now = twin.now();
        twin.store
            .create(rt, object, now, dry_run)
            .map_err(|e| ApiError::from_store(rt, e))
    })?;
    Ok(json_response(201, &created))
}

/// Creating in a namespace that does not exist is 404 for the namespace (the NamespaceLifecycle
/// admission plugin), before the object is validated.
pub(crate) fn check_namespace(twin: &Twin, target: &Target) -> Result<(), ApiError> {
    let (Some(namespace), Some(namespaces)) = (
        target.namespace.as_deref(),
        resources::by_plural("", "namespaces"),
    ) else {
        return Ok(());
    };
    let key = crate::store::ObjectKey::new(namespaces, "", namespace);
    if twin.store.get(&key).is_none() {
        return Err(ApiError::not_found(namespaces, namespace));
    }
    Ok(())
}

/// Normalizes, defaults and validates `next` (a create when `old` is None), as the real API
/// server does to every write: 422 Invalid with every cause when it is not valid.
pub(crate) fn admit(
    twin: &Twin,
    target: &Target,
    old: Option<&Value>,
    mut next: Value,
) -> Result<Value, ApiError> {
    let causes = model::admit(&twin.store, target.rt, &mut next, old);
    if causes.0.is_empty() {
        return Ok(next);
    }
    let name = next
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(target.name())
        .to_owned();
    Err(ApiError::invalid_causes(
        target.rt.group,
        target.rt.kind,
        &name,
        &causes.0,
    ))
}

/// A write to the scale subresource is validated as an `autoscaling/v1 Scale`.
pub(crate) fn check_scale(target: &Target, scale: &Value) -> Result<(), ApiError> {
    if target.sub.as_deref() != Some("scale") {
        return Ok(());
    }
    let mut causes = model::Causes::default();
    model::validate::replicas(&mut causes, scale.get("spec").unwrap_or(&Value::Null));
    if causes.0.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid_causes(
        "autoscaling",
        "Scale",
        target.name(),
        &causes.0,
    ))
}

/// Rejects a body whose `apiVersion`/`kind` name another resource than the URL.
pub(crate) fn check_type(rt: &ResourceType, object: &Value) -> Result<(), ApiError> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if kind.is_empty() || api_version.is_empty() {
        return Ok(());
    }
    match resources::by_kind(api_version, kind) {
        Some(found) if std::ptr::eq(found, rt) => Ok(()),
        _ => Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({}) \
             or the kind ({kind}) is not {}",
            rt.api_version(),
            rt.kind
        ))),
    }
}

pub(crate) fn has_status(rt: &ResourceType) -> bool {
    rt.subresources.contains(&"status")
}

fn update(shared: &Shared, target: &Target, request: &Request) -> Result<Response, ApiError> {
    let incoming = parse_body(request)?;
    let body_name = incoming
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let is_scale = target.sub.as_deref() == Some("scale");
    if !is_scale {
        check_type(target.rt, &incoming)?;
    }
    if !body_name.is_empty() && body_name != target.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            target.name()
        )));
    }
    let dry_run = request.query.dry_run();
    let key = target.key();
    let updated = write(shared, dry_run, |twin| {
        let current = twin
            .store
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(target.rt, target.name()))?;
        check_scale(target, &incoming)?;
        let next = prepare_update(target, &current, incoming);
        let next = admit(twin, target, Some(&current), next)?;
        twin.store
            .update(&key, next, dry_run)
            .map_err(|e| ApiError::from_store(target.rt, e))
    })?;
    Ok(json_response(200, &respond_as(target, updated)))
}

/// The object to store when `incoming` is written to `target`: status and main resource each
/// change only their own part, as on the real API server.
pub(crate) fn prepare_update(target: &Target, current: &Value, incoming: Value) -> Value {
    let rt = target.rt;
    let incoming_rv = incoming.pointer("/metadata/resourceVersion").cloned();
    match target.sub.as_deref() {
        Some("status") => {
            let mut next = current.clone();
            set_field(&mut next, "status", incoming.get("status").cloned());
            set_resource_version(&mut next, incoming_rv);
            next
        }
        Some("scale") => {
            let mut next = current.clone();
            if let Some(replicas) = incoming.pointer("/spec/replicas") {
                next["spec"]["replicas"] = replicas.clone();
            }
            set_resource_version(&mut next, incoming_rv);
            next
        }
        _ => {
            let mut next = incoming;
            if has_status(rt) {
                set_field(&mut next, "status", current.get("status").cloned());
            }
            next
        }
    }
}

fn set_field(object: &mut Value, field: &str, value: Option<Value>) {
    if let Some(fields) = object.as_object_mut() {
        match value {
            Some(value) => {
                fields.insert(field.into(), value);
            }
            None => {
                fields.remove(field);
            }
        }
    }
}

fn set_resource_version(object: &mut Value, rv: Option<Value>) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        match rv {
            Some(rv) => meta.insert("resourceVersion".into(), rv),
            None => meta.remove("resourceVersion"),
        };
    }
}

/// What a write answers: the object, or the `Scale` view for the scale subresource.
pub(crate) fn respond_as(target: &Target, object: Value) -> Value {
    if target.sub.as_deref() == Some("scale") {
        scale_of(&object)
    } else {
        object
    }
}

/// The `autoscaling/v1 Scale` view of a workload.
pub(crate) fn scale_of(object: &Value) -> Value {
    let meta = &object["metadata"];
    let selector = object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": object.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": object.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

fn delete(shared: &Shared, target: &Target, request: &Request) -> Result<Response, ApiError> {
    let options: Value = if request.body.is_empty() {
        json!({})
    } else {
        parse_body(request)?
    };
    let dry_run = request.query.dry_run()
        || options
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|modes| modes.iter().any(|m| m == "All"));
    let key = target.key();
    let deleted = write(shared, dry_run, |twin| {
        let current = twin
            .store
            .get(&key)
            .ok_or_else(|| ApiError::not_found(target.rt, target.name()))?;
        check_preconditions(target, current, &options)?;
        let now = twin.now();
        twin.store
            .request_deletion(&key, now, dry_run)
            .map_err(|e| ApiError::from_store(target.rt, e))
    })?;
    Ok(json_response(200, &deleted))
}

/// Deletes every selected object of a collection; answers with the list of them.
fn delete_collection(
    shared: &Shared,
    target: &Target,
    request: &Request,
) -> Result<Response, ApiError> {
    let filter = selectors::Filter::from_query(&request.query, target.rt)?;
    let dry_run = request.query.dry_run();
    let (deleted, rv) = write(shared, dry_run, |twin| {
        let keys: Vec<_> = twin
            .store
            .list(target.rt, target.namespace.as_deref())
            .filter(|(_, object)| filter.matches(object))
            .map(|(key, _)| key.clone())
            .collect();
        let now = twin.now();
        let mut deleted = Vec::new();
        for key in keys {
            let object = twin
                .store
                .request_deletion(&key, now, dry_run)
                .map_err(|e| ApiError::from_store(target.rt, e))?;
            deleted.push(object);
        }
        Ok((deleted, twin.store.resource_version()))
    })?;
    let list = json!({
        "kind": format!("{}List", target.rt.kind),
        "apiVersion": target.rt.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": deleted,
    });
    Ok(json_response(200, &list))
}

/// DeleteOptions preconditions on uid and resourceVersion: 409 when they no longer hold.
pub(crate) fn check_preconditions(
    target: &Target,
    current: &Value,
    options: &Value,
) -> Result<(), ApiError> {
    for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
        let Some(expected) = options
            .pointer(&format!("/preconditions/{field}"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let actual = current
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if expected != actual {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Precondition failed: {label} in precondition: {expected}, {label} in object meta: {actual}"
                ),
            )
            .with_details(precondition_details(target)));
        }
    }
    Ok(())
}

/// A failed precondition names the object's group and Kind (not its resource, as other
/// conflicts do).
fn precondition_details(target: &Target) -> Value {
    let mut details = json!({"name": target.name(), "kind": target.rt.kind});
    if !target.rt.group.is_empty() {
        details["group"] = json!(target.rt.group);
    }
    details
}
