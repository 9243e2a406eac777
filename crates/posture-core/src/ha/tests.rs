//! The HA route for the runbook's cluster and for clusters part of the way along it.

use super::*;
use crate::checks::testkit::{etcd_servers, node};
use crate::host::{DatastoreFacts, HostDatastore, HostFacts, HostRole};

const HOMELAB: &str = include_str!("../../../../scenarios/homelab.yaml");

fn homelab() -> Snapshot {
    crate::load_snapshot_str("homelab.yaml", HOMELAB).expect("scenario loads")
}

fn route(snapshot: &Snapshot, third: Option<&str>) -> Result<HaPlan, HaError> {
    ha_plan(snapshot, &Policy::default(), third)
}

#[test]
fn the_homelab_route_names_its_nodes_version_and_address() {
    let plan = route(&homelab(), Some("server-3")).expect("a route");
    assert_eq!(plan.servers.first.name, "miniserver");
    assert_eq!(plan.servers.first.address.as_deref(), Some("192.168.1.10"));
    assert_eq!(plan.servers.second.name, "worker-1");
    assert_eq!(plan.servers.second.now, "agent");
    assert_eq!(plan.servers.third.now, "new machine");
    let version = plan.version.clone().expect("the server's version");
    assert!(version.contains("k3s"), "{version}");
    let titles: Vec<&str> = plan.steps.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Back up miniserver's sqlite datastore and the cluster token",
            "Convert miniserver to embedded etcd",
            "Join worker-1 as the second etcd server",
            "Join server-3 as the third etcd server",
            "Prove it: check, then a drill of each server",
        ]
    );
    assert!(plan.steps.iter().all(|s| s.manual && !s.checks.is_empty()));
    // Every step but the last two changes something, and says how to undo it.
    assert!(plan.steps[..4].iter().all(|s| !s.rollback.is_empty()));
    let join = &plan.steps[3].commands;
    let install = join
        .iter()
        .find(|c| c.run.contains("get.k3s.io"))
        .expect("install");
    assert_eq!(install.on, "server-3");
    assert!(
        install
            .run
            .contains(&format!("INSTALL_K3S_VERSION='{version}'")),
        "{}",
        install.run
    );
    assert!(
        install.run.contains("--server https://192.168.1.10:6443"),
        "{}",
        install.run
    );
    assert!(
        install
            .run
            .contains("--disable traefik --disable servicelb"),
        "{}",
        install.run
    );
    // The second server's join warns of the two-member window.
    assert!(
        plan.steps[2].why.contains("2 of 2"),
        "{}",
        plan.steps[2].why
    );
    let text = markdown(&plan);
    assert!(
        text.contains("## Step 2: Convert miniserver to embedded etcd (manual)"),
        "{text}"
    );
    assert!(text.contains("cluster-init: true"));
    assert!(text.contains("## Not taken: An external datastore"));
}

#[test]
fn a_route_ending_at_two_etcd_servers_is_refused() {
    let error = route(&homelab(), None).expect_err("two nodes cannot make three servers");
    let message = error.to_string();
    assert!(message.contains("--third-server NAME"), "{message}");
    assert!(message.contains("2 of 2"), "{message}");
    assert!(matches!(
        route(&homelab(), Some("miniserver")),
        Err(HaError::ThirdServerTaken(_))
    ));
}

#[test]
fn a_cluster_part_of_the_way_gets_the_rest_of_the_route() {
    let two = etcd_servers(&["a", "b"]);
    let plan = route(&two, Some("c")).expect("a route");
    assert!(plan.position.starts_with("halfway"), "{}", plan.position);
    let titles: Vec<&str> = plan.steps.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Snapshot etcd on a and keep the cluster token",
            "Join c as the third etcd server",
            "Prove it: check, then a drill of each server",
        ]
    );
    let three = etcd_servers(&["a", "b", "c"]);
    let plan = route(&three, None).expect("a route");
    assert!(plan.position.starts_with("done"), "{}", plan.position);
    assert_eq!(plan.steps.len(), 1);
}

#[test]
fn host_facts_make_the_route_certain_and_add_the_shared_flags() {
    let mut snapshot = homelab();
    let mut facts = HostFacts {
        host: "miniserver".into(),
        role: HostRole::Server,
        datastore: DatastoreFacts {
            kind: HostDatastore::Sqlite,
            seen: vec!["/var/lib/rancher/k3s/server/db/state.db".into()],
            data_dir: "/var/lib/rancher/k3s".into(),
            ..DatastoreFacts::default()
        },
        ..HostFacts::default()
    };
    facts.config.settings.insert(
        "cluster-cidr".into(),
        crate::host::Setting {
            value: "10.52.0.0/16".into(),
            source: "/etc/rancher/k3s/config.yaml".into(),
        },
    );
    snapshot.host_facts = vec![facts];
    let plan = route(&snapshot, Some("server-3")).expect("a route");
    assert!(
        plan.datastore
            .contains("seen: /var/lib/rancher/k3s/server/db/state.db on miniserver")
    );
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
    let install = (plan.steps.iter())
        .flat_map(|s| &s.commands)
        .find(|c| c.run.contains("get.k3s.io") && c.on == "server-3")
        .expect("install");
    assert!(
        install.run.contains("--cluster-cidr 10.52.0.0/16"),
        "{}",
        install.run
    );
}

#[test]
fn an_old_k3s_or_an_external_datastore_gets_no_route() {
    let mut snapshot = homelab();
    for n in &mut snapshot.nodes {
        if let Some(info) = n.status.as_mut().and_then(|s| s.node_info.as_mut()) {
            info.kubelet_version = "v1.21.5+k3s1".into();
        }
    }
    assert!(matches!(
        route(&snapshot, Some("x")),
        Err(HaError::TooOld { .. })
    ));
    let external = Snapshot {
        nodes: vec![
            node("a")
                .server()
                .args(&["server", "--datastore-endpoint=postgres://db"])
                .build(),
        ],
        ..Snapshot::default()
    };
    assert_eq!(route(&external, Some("x")), Err(HaError::External));
}
