//! Kubernetes `Status` bodies for failures, and JSON responses in general.

use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde_json::{Value, json};

use crate::model::Cause;
use crate::resources::ResourceType;
use crate::store::StoreError;

/// A failed request, answered as the real API server would: a `Status` with a reason.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// `metadata.continue` of the Status: how an expired list may go on, inconsistently.
    pub list_continue: Option<String>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            list_continue: None,
        }
    }

    pub fn with_list_continue(mut self, token: String) -> Self {
        self.list_continue = Some(token);
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn not_found_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// The plain-text `404 page not found` the real server's mux answers for paths no API
    /// handler serves: unknown groups, and unknown resources of custom resource groups.
    pub fn page_not_found() -> Self {
        Self::new(404, PAGE_NOT_FOUND, "404 page not found")
    }

    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified_plural(rt)),
        )
        .with_details(name_details(rt, name))
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 422 with one cause, as kubectl prints invalid objects: `The Kind "name" is invalid: ...`.
    /// `field: message` when the reason names a field, as validation errors do.
    pub fn invalid(rt: &ResourceType, name: &str, reason: impl std::fmt::Display) -> Self {
        let reason = reason.to_string();
        let (field, message) = reason.split_once(": ").unwrap_or(("", reason.as_str()));
        let mut details = json!({
            "name": name,
            "kind": rt.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}],
        });
        if !rt.group.is_empty() {
            details["group"] = json!(rt.group);
        }
        Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {reason}", qualified_kind(rt)),
        )
        .with_details(details)
    }

    /// 422 Invalid listing every cause, as validation failures answer: details name the
    /// object, its group and its kind.
    pub fn invalid_causes(group: &str, kind: &str, name: &str, causes: &[Cause]) -> Self {
        let listed: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let qualified = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let mut details = json!({
            "name": name,
            "kind": kind,
            "causes": causes.iter().map(|c| json!({
                "reason": c.reason, "message": c.message, "field": c.field,
            })).collect::<Vec<_>>(),
        });
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        let message = match listed.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        Self::new(
            422,
            "Invalid",
            format!("{qualified} \"{name}\" is invalid: {message}"),
        )
        .with_details(details)
    }

    pub fn from_store(rt: &ResourceType, error: StoreError) -> Self {
        let message = error.to_string();
        match error {
            StoreError::NotFound { name, .. } => Self::not_found(rt, &name),
            StoreError::AlreadyExists { name, .. } => Self::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", qualified_plural(rt)),
            )
            .with_details(name_details(rt, &name)),
            StoreError::Conflict { name, .. } => Self::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                     please apply your changes to the latest version and try again",
                    qualified_plural(rt)
                ),
            )
            .with_details(name_details(rt, &name)),
            StoreError::Gone { .. } => Self::new(410, "Expired", message),
            StoreError::Invalid { name, reason, .. } => Self::invalid(rt, &name, reason),
        }
    }

    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        if let Some(token) = &self.list_continue {
            status["metadata"]["continue"] = json!(token);
        }
        status
    }
}

/// The reason that marks [`ApiError::page_not_found`], answered as text rather than a Status.
const PAGE_NOT_FOUND: &str = "PageNotFound";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.reason == PAGE_NOT_FOUND {
            return text_response(404, format!("{}\n", self.message));
        }
        json_response(self.code, &self.to_status())
    }
}

/// `pods` or `deployments.apps`, as messages name a resource.
pub(crate) fn qualified_plural(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.plural.to_owned()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    }
}

/// `Pod` or `Deployment.apps`, as validation messages name a kind.
fn qualified_kind(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.kind.to_owned()
    } else {
        format!("{}.{}", rt.kind, rt.group)
    }
}

fn name_details(rt: &ResourceType, name: &str) -> Value {
    let mut details = json!({"name": name, "kind": rt.plural});
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    details
}

pub(crate) fn json_response(code: u16, body: &(impl serde::Serialize + ?Sized)) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => text_response(500, format!("the response could not be encoded: {e}")),
    }
}

pub(crate) fn text_response(code: u16, body: String) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A `Status` reporting success, as deletes and evictions answer.
pub(crate) fn success(code: u16) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code})
}
