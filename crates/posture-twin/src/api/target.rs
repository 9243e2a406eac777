//! What a request names: its query parameters and the resource, namespace, object and
//! subresource its URL points at.

use std::collections::HashMap;

use http::Uri;

use super::status::ApiError;
use crate::resources::{self, ResourceType};
use crate::store::ObjectKey;

/// Query parameters of one request.
#[derive(Debug, Default)]
pub(crate) struct Query(HashMap<String, String>);

impl Query {
    pub(crate) fn parse(uri: &Uri) -> Self {
        axum::extract::Query::<HashMap<String, String>>::try_from_uri(uri)
            .map(|q| Self(q.0))
            .unwrap_or_default()
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// `1` or `true`, as Kubernetes boolean parameters are written.
    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("1" | "true" | "True"))
    }

    pub(crate) fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }
}

/// What a URL names: a collection, an object, or one of its subresources.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub rt: &'static ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

impl Target {
    pub(crate) fn key(&self) -> ObjectKey {
        ObjectKey::new(
            self.rt,
            self.namespace.as_deref().unwrap_or(""),
            self.name.as_deref().unwrap_or(""),
        )
    }

    pub(crate) fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

pub(crate) fn parse_target(path: &str) -> Result<Target, ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, version, rest @ ..] => {
            let served = resources::RESOURCES
                .iter()
                .any(|r| r.group == *group && r.version == *version);
            if !served {
                return Err(ApiError::page_not_found());
            }
            (*group, rest)
        }
        _ => return Err(ApiError::page_not_found()),
    };
    let namespaced_form = rest.first() == Some(&"namespaces")
        && rest.len() >= 3
        && resources::by_plural(group, rest[2]).is_some_and(|rt| rt.namespaced);
    let (namespace, rest) = if namespaced_form {
        (Some(rest[1].to_owned()), &rest[2..])
    } else {
        (None, rest)
    };
    let (plural, name, sub) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return Err(ApiError::not_found_path()),
    };
    let rt = resources::by_plural(group, plural).ok_or_else(|| {
        // Custom resource groups are served by the apiextensions server, whose unknown paths
        // fall through to the mux's plain-text 404.
        let custom = resources::RESOURCES
            .iter()
            .any(|r| r.group == group && crate::model::is_custom(r));
        if custom {
            ApiError::page_not_found()
        } else {
            ApiError::not_found_path()
        }
    })?;
    if rt.namespaced && name.is_some() && namespace.is_none() {
        return Err(ApiError::not_found_path());
    }
    if let Some(sub) = sub
        && !rt.subresources.contains(&sub)
    {
        return Err(ApiError::not_found_path());
    }
    Ok(Target {
        rt,
        namespace: if rt.namespaced { namespace } else { None },
        name: name.map(str::to_owned),
        sub: sub.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_collections_objects_and_subresources() {
        let pods = parse_target("/api/v1/namespaces/apps/pods/web/eviction").expect("valid");
        assert_eq!(pods.rt.plural, "pods");
        assert_eq!(pods.namespace.as_deref(), Some("apps"));
        assert_eq!(pods.name.as_deref(), Some("web"));
        assert_eq!(pods.sub.as_deref(), Some("eviction"));

        let all = parse_target("/apis/apps/v1/deployments").expect("valid");
        assert_eq!((all.namespace, all.name), (None, None));

        let namespace = parse_target("/api/v1/namespaces/apps").expect("valid");
        assert_eq!(namespace.rt.plural, "namespaces");
        assert_eq!(namespace.name.as_deref(), Some("apps"));

        let node_status = parse_target("/api/v1/nodes/worker/status").expect("valid");
        assert_eq!(node_status.sub.as_deref(), Some("status"));

        let volume = parse_target("/apis/longhorn.io/v1beta2/namespaces/longhorn-system/volumes/v")
            .expect("valid");
        assert_eq!(volume.rt.group, "longhorn.io");
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in [
            "/api/v2/pods",
            "/apis/apps/v2/deployments",
            "/api/v1/widgets",
            "/api/v1/namespaces/apps/pods/web/exec",
            "/api/v1/pods/web",
            "/api/v1/namespaces/apps/nodes/n",
        ] {
            let error = parse_target(path).expect_err(path);
            assert_eq!(error.code, 404, "{path}");
        }
    }
}
