//! What the real API server does to an object between receiving and storing it: decode into
//! the Go types ([`shape`]), default ([`defaults`]), admit (pods and services get what the
//! admission plugins and registries add: [`admission`]) and validate ([`validate`]); custom
//! resources are pruned and validated against their CRD's schema ([`crd`]).
//!
//! Every API create, update and patch goes through [`admit`]; scenario objects go through
//! [`prepare`], which does the same without validation, so the stored cluster looks like one
//! a real server holds.

mod admission;
pub(crate) mod crd;
mod defaults;
mod kinds;
mod names;
mod shape;
pub(crate) mod validate;

use serde_json::Value;

use crate::resources::ResourceType;
use crate::store::Store;
pub(crate) use validate::{Cause, Causes};

/// Whether a resource is a custom resource: served from a CustomResourceDefinition rather
/// than built in (a group of our own that is not a `*.k8s.io` group).
pub fn is_custom(rt: &ResourceType) -> bool {
    rt.group.contains('.') && !rt.group.ends_with(".k8s.io")
}

/// Normalizes, defaults and admits `object` as a create (`old` None) or an update of `old`;
/// the causes of what makes it invalid.
pub(crate) fn admit(
    store: &Store,
    rt: &ResourceType,
    object: &mut Value,
    old: Option<&Value>,
) -> Causes {
    if is_custom(rt) {
        return match crd::schema(store, rt) {
            Some(schema) => crd::admit(object, &schema),
            None => Causes::default(),
        };
    }
    prepare(store, rt, object, old);
    validate::validate(rt.group, rt.kind, object, old)
}

/// Normalizes, defaults and admits a built-in object without validating it.
pub fn prepare(store: &Store, rt: &ResourceType, object: &mut Value, old: Option<&Value>) {
    if is_custom(rt) {
        if let Some(schema) = crd::schema(store, rt) {
            crd::admit(object, &schema);
        }
        return;
    }
    let shape = kinds::of(rt.group, rt.kind);
    shape::normalize(object, shape);
    defaults::apply(rt.group, rt.kind, object);
    match (rt.group, rt.kind) {
        ("", "Pod") if old.is_none() => admission::pod(object),
        ("", "Service") => admission::service(store, object, old),
        _ => {}
    }
    shape::normalize(object, shape);
}

/// A pod a controller creates, as the API server stores it: defaulted and admitted.
pub fn prepare_new_pod(pod: &mut Value) {
    let shape = kinds::of("", "Pod");
    shape::normalize(pod, shape);
    defaults::apply("", "Pod", pod);
    admission::pod(pod);
    shape::normalize(pod, shape);
}

/// The Go serialization of a built-in object, without defaults.
pub fn normalize(rt: &ResourceType, object: &mut Value) {
    if !is_custom(rt) {
        shape::normalize(object, kinds::of(rt.group, rt.kind));
    }
}
