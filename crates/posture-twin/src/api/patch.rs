//! PATCH requests: JSON patch (RFC 6902, `test` included), merge patch, strategic merge patch
//! and an approximation of server-side apply.

use axum::response::Response;
use serde_json::Value;

use super::objects::{self, Target, check_type, parse_body, prepare_update, respond_as, write};
use super::status::{ApiError, json_response};
use super::{Request, Shared, json_patch, strategic};
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

/// Custom resources have no patch strategies, so the API server refuses strategic merge
/// patches for them.
fn is_custom(rt: &ResourceType) -> bool {
    crate::model::is_custom(rt)
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
                objects::check_namespace(twin, target)?;
                let object = objects::admit(twin, target, None, object)?;
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
        let patched = apply(kind, view, &body)?;
        objects::check_scale(target, &patched)?;
        let next = prepare_update(target, &current, patched);
        let next = objects::admit(twin, target, Some(&current), next)?;
        let updated = twin
            .store
            .update(&key, next, dry_run)
            .map_err(|e| ApiError::from_store(target.rt, e))?;
        Ok((200, updated))
    })?;
    Ok(json_response(code, &respond_as(target, written)))
}

fn apply(kind: PatchKind, mut document: Value, body: &Value) -> Result<Value, ApiError> {
    match kind {
        PatchKind::Json => {
            // The real server answers a failed operation with a bare 422 Invalid: no details.
            json_patch::apply(&mut document, body)
                .map_err(|error| ApiError::new(422, "Invalid", error.0))?;
        }
        PatchKind::Merge | PatchKind::Apply => ::json_patch::merge(&mut document, body),
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
        let document = json!({"spec": {"replicas": 1}});
        let body = json!([
            {"op": "test", "path": "/spec/replicas", "value": 2},
            {"op": "replace", "path": "/spec/replicas", "value": 3},
        ]);
        let error = apply(PatchKind::Json, document.clone(), &body).expect_err("the test fails");
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
        let patched = apply(PatchKind::Json, document, &passing).expect("applies");
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
