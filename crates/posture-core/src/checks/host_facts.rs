//! 2.1 on the host: what `posture host` read on the servers, held against what the API says.
//! A disagreement means one of the two is out of date (a config edited but k3s not restarted,
//! facts read on another machine) and the datastore decision rests on it, so it is a finding.

use super::context::Ctx;
use super::control_plane::{Datastore, datastore_of};
use super::record::{CheckDef, Recorder, Verdict};
use crate::host::{HostDatastore, HostFacts, HostRole};
use crate::object::ObjectRef;
use crate::report::{Evidence, Finding, Section, Severity};
use crate::topology::{NODE_ARGS_ANNOTATION, NodeRole, node_args, node_name, role_of};

const S: Section = Section::ControlPlane;

pub(super) fn check(ctx: &Ctx<'_>, out: &mut Recorder) {
    let def = CheckDef::new(
        S,
        "control-plane.host-facts",
        "What the servers' files say agrees with the API",
    );
    let verdict = agreement(ctx, out, &def);
    out.record(&def, verdict);
}

/// The evidence object for a host's files.
fn host_object(facts: &HostFacts) -> ObjectRef {
    ObjectRef::new("posture.dev/v1", "HostFacts", None, &facts.host)
}

fn host_evidence(facts: &HostFacts, field: &str, value: impl Into<serde_json::Value>) -> Evidence {
    let command = match field {
        "datastore.kind" => "sudo ls -la /var/lib/rancher/k3s/server/db/",
        "role" => "systemctl cat k3s k3s-agent",
        _ => "sudo cat /etc/rancher/k3s/config.yaml",
    };
    Evidence::with_command(
        &host_object(facts),
        field,
        value,
        format!("{command}  # on {}", facts.host),
    )
}

fn api_datastore(kind: Datastore) -> HostDatastore {
    match kind {
        Datastore::Sqlite => HostDatastore::Sqlite,
        Datastore::EmbeddedEtcd => HostDatastore::EmbeddedEtcd,
        Datastore::External => HostDatastore::External,
    }
}

fn agreement(ctx: &Ctx<'_>, out: &mut Recorder, def: &CheckDef) -> Verdict {
    let all = &ctx.snap.host_facts;
    if all.is_empty() {
        return Verdict::Skipped(
            "no host facts given: run `posture host` on each server and pass its output with --host-facts".into(),
        );
    }
    if let Some(v) = ctx.unreadable(&["nodes"]) {
        return v;
    }
    let mut findings = Vec::new();
    let mut agreed = Vec::new();
    for facts in all {
        let seen = if facts.datastore.seen.is_empty() {
            String::from("nothing")
        } else {
            facts.datastore.seen.join(", ")
        };
        out.fact(
            S,
            format!("host {}", facts.host),
            format!(
                "{} {}, datastore {} (seen: {seen})",
                match facts.role {
                    HostRole::Server => "k3s server",
                    HostRole::Agent => "k3s agent",
                    HostRole::Unknown => "k3s role unknown",
                },
                facts.root,
                facts.datastore.kind.label()
            ),
        );
        let node = ctx.snap.nodes.iter().find(|node| {
            super::control_plane::host_facts_for(ctx.snap, node)
                .is_some_and(|f| std::ptr::eq(f, facts))
        });
        let Some(node) = node else {
            findings.push(
                def.finding(
                    Severity::Warning,
                    &host_object(facts),
                    format!(
                        "host facts for {} match no node by name or by its k3s.io/hostname annotation: they were read on a host outside this cluster",
                        facts.host
                    ),
                )
                .with_evidence(Evidence::with_command(
                    &host_object(facts),
                    "host",
                    facts.host.clone(),
                    "kubectl get nodes -L kubernetes.io/hostname",
                ))
                .with_remediation("run `posture host` on each server of this cluster"),
            );
            continue;
        };
        let before = findings.len();
        findings.extend(disagreements(def, facts, node));
        if findings.len() == before {
            agreed.push(node_name(node).to_owned());
        }
    }
    Verdict::judged(
        findings,
        if agreed.is_empty() {
            String::new()
        } else {
            format!("host facts agree with the API for {}", agreed.join(", "))
        },
    )
}

fn disagreements(
    def: &CheckDef,
    facts: &HostFacts,
    node: &k8s_openapi::api::core::v1::Node,
) -> Vec<Finding> {
    let obj = ObjectRef::of(node);
    let name = node_name(node);
    let node_args_field = format!(
        "metadata.annotations.{}",
        NODE_ARGS_ANNOTATION.replace('.', "\\.")
    );
    let mut findings = Vec::new();
    let api_role = role_of(node);
    let host_role = facts.role;
    let roles_differ = matches!(
        (api_role, host_role),
        (NodeRole::Server, HostRole::Agent) | (NodeRole::Agent, HostRole::Server)
    );
    if roles_differ {
        findings.push(
            def.finding(
                Severity::Warning,
                &obj,
                format!(
                    "{name} runs as a k3s {} by its service on the host, but the API shows it as {}",
                    if host_role == HostRole::Server { "server" } else { "agent" },
                    if api_role == NodeRole::Server { "a server" } else { "an agent" },
                ),
            )
            .with_evidence(host_evidence(facts, "role", serde_json::to_value(host_role).unwrap_or_default()))
            .with_evidence(Evidence::field(&obj, &node_args_field, node_args(node).join(" ")))
            .with_remediation("the API shows how k3s last started: if the service was changed since, k3s has not been restarted; otherwise the facts were read on another host"),
        );
    }
    let on_host = facts.datastore.kind;
    let known_on_host = !matches!(on_host, HostDatastore::Unknown | HostDatastore::None);
    if let Some(from_api) = datastore_of(node).map(api_datastore)
        && known_on_host
        && from_api != on_host
    {
        findings.push(
            def.finding(
                Severity::Warning,
                &obj,
                format!(
                    "{name}'s files show {} ({}), but its k3s arguments and labels in the API say {}",
                    on_host.label(),
                    facts.datastore.seen.join(", "),
                    from_api.label()
                ),
            )
            .with_evidence(host_evidence(facts, "datastore.kind", on_host.label()))
            .with_evidence(Evidence::field(&obj, &node_args_field, node_args(node).join(" ")))
            .with_remediation("k3s uses an etcd it finds on disk over every datastore flag, and the API records the flags k3s last started with: find which is current before any control-plane change"),
        );
    }
    findings
}
