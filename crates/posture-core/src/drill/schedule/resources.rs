//! Resource requests against what the node has left: CPU, memory and pod slots.

use k8s_openapi::api::core::v1::{Container, Node, PodSpec};

use super::{Candidate, Cluster, rejection};
use crate::checks::quantity;
use crate::drill::types::{Filter, Rejection};
use crate::object::ObjectRef;
use crate::report::Evidence;
use crate::topology::node_name;

impl Cluster<'_, '_> {
    pub(super) fn used(&self, node: &str) -> (f64, f64) {
        self.on(node).fold((0.0, 0.0), |(cpu, mem), p| {
            let (c, m) = p.spec.map(requests).unwrap_or_default();
            (cpu + c, mem + m)
        })
    }

    pub(super) fn resources(&self, c: &Candidate<'_>, node: &Node, out: &mut Vec<Rejection>) {
        let (cpu, memory) = requests(c.spec);
        let (used_cpu, used_memory) = self.used(node_name(node));
        let pods = self.on(node_name(node)).count() as f64;
        let mut short = Vec::new();
        if allocatable(node, "pods").is_some_and(|cap| pods + 1.0 > cap) {
            short.push("pods".to_owned());
        }
        let free =
            |resource: &str, used: f64| allocatable(node, resource).unwrap_or_default() - used;
        if cpu > 0.0 && allocatable(node, "cpu").is_some_and(|cap| used_cpu + cpu > cap) {
            short.push(format!(
                "cpu (asks {}, {} free)",
                cores(cpu),
                cores(free("cpu", used_cpu))
            ));
        }
        if memory > 0.0 && allocatable(node, "memory").is_some_and(|cap| used_memory + memory > cap)
        {
            short.push(format!(
                "memory (asks {}, {} free)",
                mebibytes(memory),
                mebibytes(free("memory", used_memory))
            ));
        }
        if !short.is_empty() {
            let obj = ObjectRef::of(node);
            let value =
                serde_json::to_value(node.status.as_ref().and_then(|s| s.allocatable.as_ref()))
                    .unwrap_or_default();
            out.push(rejection(
                node,
                Filter::Resources,
                format!("insufficient {}", short.join(", ")),
                Evidence::field(&obj, "status.allocatable", value),
            ));
        }
    }
}

pub(super) fn allocatable(node: &Node, resource: &str) -> Option<f64> {
    let raw = node.status.as_ref()?.allocatable.as_ref()?.get(resource)?;
    quantity::parse(&raw.0)
}

/// `250m`, or `2` for whole cores.
fn cores(value: f64) -> String {
    let millis = (value * 1000.0).round() as i64;
    if millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

fn mebibytes(value: f64) -> String {
    format!("{}Mi", (value / (1024.0 * 1024.0)).round() as i64)
}

/// CPU cores and memory bytes the pod asks for: its containers together, or its largest init
/// container if that asks for more, as the scheduler counts them.
pub(super) fn requests(spec: &PodSpec) -> (f64, f64) {
    let of = |c: &Container, resource: &str| {
        (c.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(resource))
            .and_then(|q| quantity::parse(&q.0))
            .unwrap_or(0.0)
    };
    let sum = |resource: &str| spec.containers.iter().map(|c| of(c, resource)).sum::<f64>();
    let init = |resource: &str| {
        (spec.init_containers.as_deref().unwrap_or_default().iter())
            .map(|c| of(c, resource))
            .fold(0.0, f64::max)
    };
    (
        sum("cpu").max(init("cpu")),
        sum("memory").max(init("memory")),
    )
}
