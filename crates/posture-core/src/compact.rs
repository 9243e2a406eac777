//! Gives back the room decoded objects keep to spare.
//!
//! A list decoded from JSON grows as its elements arrive: by doubling, and to at least four
//! elements, so a pod's five conditions take the room of eight and its one container status the
//! room of four. On a 10,000-pod cluster that spare room was a third of what the pods held.
//! Shrinking each list once, as the object is added, costs a copy of the few that have spare
//! room and changes no value.

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// `pod` without spare room in its lists.
pub fn pod(mut pod: Pod) -> Pod {
    metadata(&mut pod.metadata);
    if let Some(spec) = &mut pod.spec {
        pod_spec(spec);
    }
    if let Some(status) = &mut pod.status {
        pod_status(status);
    }
    pod
}

/// A pod's spec (the same type as a pod template's).
fn pod_spec(spec: &mut PodSpec) {
    spec.containers.shrink_to_fit();
    spec.containers.iter_mut().for_each(container);
    if let Some(init) = &mut spec.init_containers {
        init.shrink_to_fit();
        init.iter_mut().for_each(container);
    }
    shrink(&mut spec.tolerations);
    shrink(&mut spec.topology_spread_constraints);
    shrink(&mut spec.volumes);
    shrink(&mut spec.image_pull_secrets);
    shrink(&mut spec.readiness_gates);
    shrink(&mut spec.host_aliases);
    shrink(&mut spec.resource_claims);
    shrink(&mut spec.scheduling_gates);
    shrink(&mut spec.ephemeral_containers);
}

fn metadata(metadata: &mut ObjectMeta) {
    shrink(&mut metadata.owner_references);
    shrink(&mut metadata.finalizers);
}

fn pod_status(status: &mut PodStatus) {
    shrink(&mut status.conditions);
    shrink(&mut status.host_ips);
    shrink(&mut status.pod_ips);
    shrink(&mut status.resource_claim_statuses);
    for statuses in [
        &mut status.container_statuses,
        &mut status.init_container_statuses,
        &mut status.ephemeral_container_statuses,
    ]
    .into_iter()
    .flatten()
    {
        statuses.shrink_to_fit();
        statuses.iter_mut().for_each(container_status);
    }
}

fn container(container: &mut Container) {
    shrink(&mut container.args);
    shrink(&mut container.command);
    shrink(&mut container.env);
    shrink(&mut container.env_from);
    shrink(&mut container.ports);
    shrink(&mut container.resize_policy);
    shrink(&mut container.volume_devices);
    shrink(&mut container.volume_mounts);
}

fn container_status(status: &mut ContainerStatus) {
    shrink(&mut status.volume_mounts);
    shrink(&mut status.allocated_resources_status);
}

fn shrink<T>(list: &mut Option<Vec<T>>) {
    if let Some(list) = list {
        list.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoded_pod_keeps_its_values_and_no_spare_room() {
        let text = r#"{"metadata":{"name":"p","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"r","uid":"u"}]},
            "spec":{"containers":[{"name":"c","image":"i","env":[{"name":"A","value":"1"}]}],
                    "tolerations":[{"key":"a","operator":"Exists"},{"key":"b","operator":"Exists"}]},
            "status":{"conditions":[{"type":"Ready","status":"True"},{"type":"Initialized","status":"True"},
                      {"type":"PodScheduled","status":"True"},{"type":"ContainersReady","status":"True"},
                      {"type":"PodReadyToStartContainers","status":"True"}],
                      "containerStatuses":[{"name":"c","image":"i","imageID":"","ready":true,"restartCount":0}]}}"#;
        let decoded: Pod = serde_json::from_str(text).expect("a pod");
        let spare = |p: &Pod| {
            let status = p.status.as_ref().expect("status");
            let spec = p.spec.as_ref().expect("spec");
            [
                status.conditions.as_ref().map(|v| v.capacity() - v.len()),
                status
                    .container_statuses
                    .as_ref()
                    .map(|v| v.capacity() - v.len()),
                spec.tolerations.as_ref().map(|v| v.capacity() - v.len()),
                spec.containers[0]
                    .env
                    .as_ref()
                    .map(|v| v.capacity() - v.len()),
                p.metadata
                    .owner_references
                    .as_ref()
                    .map(|v| v.capacity() - v.len()),
            ]
            .into_iter()
            .flatten()
            .sum::<usize>()
        };
        assert!(spare(&decoded) > 0, "serde leaves room to spare");
        let compact = pod(decoded.clone());
        assert_eq!(spare(&compact), 0);
        assert_eq!(compact, decoded);
    }
}
