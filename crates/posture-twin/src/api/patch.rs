//! PATCH requests: JSON patch (RFC 6902, `test` included), merge patch, strategic merge patch
//! and an approximation of server-side apply.

use axum::response::Response;
use serde_json::Value;

use super::objects::{self, Target, check_type, parse_body, prepare_update, respond_as, write};
use super::status::{ApiError, json_response};
use super::{Request, Shared, strategic};
use crate::resources::ResourceType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

fn patch_kind(content_type: &str) -> Option<PatchKind> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "application/json-patch+json" => Some(PatchKind::Json),
        "application/merge-patch+json" => Some(PatchKind::Merge),
        "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+json" => Some(PatchKind::Apply),
        _ => None,
    }
}

/// Custom resources (a group of our own that is not a `*.k8s.io` group) have no patch
/// strategies, so the API server refuses strategic merge patches for them.
fn is_custom(rt: &ResourceType) -> bool {
    rt.group.contains('.') && !rt.group.ends_with(".k8s.io")
}

fn unsupported_media_type(content_type: &str) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml \
             (got {content_type:?})"
        ),
    )
}

pub(crate) fn patch(
    shared: &Shared,
    target: &Target,
    request: &Request,
) -> Result<Response, ApiError> {
    let content_type = request.content_type();
    let kind = patch_kind(content_type).ok_or_else(|| unsupported_media_type(content_type))?;
    if kind == PatchKind::Strategic && is_custom(target.rt) {
        return Err(unsupported_media_type(content_type));
    }
    let body = parse_body(request)?;
    let dry_run = request.query.dry_run();
    let key = target.key();
    let name = target.name.clone().unwrap_or_default();
    let (code, written) = write(shared, dry_run, |twin| {
        let Some(current) = twin.store.get(&key).cloned() else {
            if kind == PatchKind::Apply && target.sub.is_none() {
                check_type(target.rt, &body)?;
                let mut object = body.clone();
                object["metadata"]["name"] = Value::String(name.clone());
                if let Some(namespace) = &target.namespace {
                    object["metadata"]["namespace"] = Value::String(namespace.clone());
                }
                if objects::has_status(target.rt)
                    && let Some(fields) = object.as_object_mut()
                {
                    fields.remove("status");
                }
                let now = twin.now();
                let created = twin
                    .store
                    .create(target.rt, object, now, dry_run)
                    .map_err(|e| ApiError::from_store(target.rt, e))?;
                return Ok((201, created));
            }
            return Err(ApiError::not_found(target.rt, &name));
        };
        let view = respond_as(target, current.clone());
        let patched = apply(kind, target.rt, &name, view, &body)?;
        let next = prepare_update(target, &current, patched);
        let updated = twin
            .store
            .update(&key, next, dry_run)
            .map_err(|e| ApiError::from_store(target.rt, e))?;
        Ok((200, updated))
    })?;
    Ok(json_response(code, &respond_as(target, written)))
}

fn apply(
    kind: PatchKind,
    rt: &ResourceType,
    name: &str,
    mut document: Value,
    body: &Value,
) -> Result<Value, ApiError> {
    match kind {
        PatchKind::Json => {
            let operations: json_patch::Patch = serde_json::from_value(body.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            let original = document.clone();
            json_patch::patch(&mut document, &operations).map_err(|error| {
                let path = error.path.to_string();
                let reason = match error.kind {
                    json_patch::PatchErrorKind::TestFailed => {
                        let expected = body
                            .get(error.operation)
                            .and_then(|op| op.get("value"))
                            .map_or_else(|| "null".to_owned(), Value::to_string);
                        let found = original
                            .pointer(&path)
                            .map_or_else(|| "nothing".to_owned(), Value::to_string);
                        format!(
                            "{path}: json patch test operation {} failed: expected {expected}, found {found}",
                            error.operation
                        )
                    }
                    _ => format!(
                        "{path}: json patch operation {} failed: {}",
                        error.operation, error.kind
                    ),
                };
                ApiError::invalid(rt, name, reason)
            })?;
        }
        PatchKind::Merge | PatchKind::Apply => json_patch::merge(&mut document, body),
        PatchKind::Strategic => strategic::merge(&mut document, body),
    }
    if !document.is_object() {
        return Err(ApiError::bad_request(
            "the patched object is not a JSON object",
        ));
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources;
    use serde_json::json;

    #[test]
    fn failed_json_patch_test_is_invalid_with_a_clear_message() {
        let rt = resources::by_plural("apps", "deployments").expect("registered");
        let document = json!({"spec": {"replicas": 1}});
        let body = json!([
            {"op": "test", "path": "/spec/replicas", "value": 2},
            {"op": "replace", "path": "/spec/replicas", "value": 3},
        ]);
        let error =
            apply(PatchKind::Json, rt, "web", document.clone(), &body).expect_err("the test fails");
        assert_eq!(error.code, 422);
        assert!(
            error.message.contains("/spec/replicas"),
            "{}",
            error.message
        );
        let passing = json!([
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 3},
        ]);
        let patched = apply(PatchKind::Json, rt, "web", document, &passing).expect("applies");
        assert_eq!(patched["spec"]["replicas"], 3);
    }

    #[test]
    fn strategic_patches_are_refused_for_custom_resources() {
        let volumes = resources::by_plural("longhorn.io", "volumes").expect("registered");
        let pods = resources::by_plural("", "pods").expect("registered");
        let leases = resources::by_plural("coordination.k8s.io", "leases").expect("registered");
        assert!(is_custom(volumes));
        assert!(!is_custom(pods));
        assert!(!is_custom(leases));
    }
}
