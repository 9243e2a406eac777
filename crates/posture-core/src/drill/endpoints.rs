//! Services with ready endpoints on the node: how many are left the moment it goes, and how
//! many once the replacements have started. Cluster DNS and the ingress controller's Service
//! are marked critical, since every app is reached through them.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::pods::PodView;
use super::types::ServiceOutcome;
use crate::checks::context::Ctx;
use crate::checks::selectors::map_selects;
use crate::object::ObjectRef;

const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

pub(super) fn judge(
    ctx: &Ctx<'_>,
    before: &[PodView<'_>],
    replacements: &[PodView<'_>],
    node: &str,
) -> Vec<ServiceOutcome> {
    let critical: Vec<ObjectRef> = (ctx.coredns().into_iter())
        .chain(ctx.ingress_controllers())
        .flat_map(|w| ctx.services_for(w))
        .map(ObjectRef::of)
        .collect();
    ctx.snap
        .services
        .iter()
        .filter_map(|s| {
            let selector = s
                .spec
                .as_ref()?
                .selector
                .as_ref()
                .filter(|m| !m.is_empty())?;
            let namespace = s.metadata.namespace.as_deref().unwrap_or_default();
            let selects =
                |p: &&PodView<'_>| p.namespace == namespace && map_selects(selector, &p.labels);
            let (ready_now, ready_on_node) = match slices_of(ctx, s) {
                slices if !slices.is_empty() => ready_in_slices(&slices, node),
                _ => {
                    let ready = || {
                        before
                            .iter()
                            .filter(selects)
                            .filter(|p| p.ready && !p.terminating)
                    };
                    (
                        ready().count(),
                        ready().filter(|p| p.node.as_deref() == Some(node)).count(),
                    )
                }
            };
            if ready_on_node == 0 {
                return None;
            }
            let ready_left = ready_now - ready_on_node;
            let started = replacements
                .iter()
                .filter(selects)
                .filter(|p| p.ready)
                .count();
            let service = ObjectRef::of(s);
            Some(ServiceOutcome {
                critical: critical.contains(&service),
                service,
                ready_now,
                ready_on_node,
                ready_left,
                ready_after: ready_left + started,
            })
        })
        .collect()
}

fn slices_of<'a>(ctx: &Ctx<'a>, service: &Service) -> Vec<&'a EndpointSlice> {
    ctx.snap
        .endpoint_slices
        .iter()
        .filter(|e| {
            e.metadata.namespace == service.metadata.namespace
                && (e.metadata.labels.as_ref())
                    .and_then(|l| l.get(SERVICE_NAME_LABEL))
                    .is_some_and(|n| Some(n) == service.metadata.name.as_ref())
        })
        .collect()
}

/// Ready endpoints in all, and on `node`. A missing `ready` counts as ready, as the API asks
/// consumers to read it; addresses in several slices (dual stack) count once per slice, as
/// kube-proxy sees them.
fn ready_in_slices(slices: &[&EndpointSlice], node: &str) -> (usize, usize) {
    let ready = || {
        slices.iter().flat_map(|s| &s.endpoints).filter(|e| {
            (e.conditions.as_ref())
                .and_then(|c| c.ready)
                .unwrap_or(true)
        })
    };
    (
        ready().count(),
        ready()
            .filter(|e| e.node_name.as_deref() == Some(node))
            .count(),
    )
}
