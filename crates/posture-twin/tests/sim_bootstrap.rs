//! A loaded scenario is in steady state at t0.

use jiff::Timestamp;
use posture_twin::Twin;
use posture_twin::resources::by_plural;
use serde_json::Value;

fn t0() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().expect("valid")
}

fn pods(twin: &Twin) -> Vec<Value> {
    let rt = by_plural("", "pods").expect("registered");
    twin.store.list(rt, None).map(|(_, p)| p.clone()).collect()
}

#[test]
fn dump() {
    let twin = Twin::homelab(t0());
    for p in pods(&twin) {
        println!(
            "{} {} {} {}",
            p["metadata"]["namespace"],
            p["metadata"]["name"],
            p["spec"]["nodeName"],
            p["status"]["phase"]
        );
    }
    let p = pods(&twin).into_iter().next().expect("pod");
    println!("{}", serde_json::to_string_pretty(&p).expect("json"));
    let rt = by_plural("discovery.k8s.io", "endpointslices").expect("registered");
    for (_, s) in twin.store.list(rt, None) {
        println!("{}", serde_json::to_string(s).expect("json"));
    }
    let rt = by_plural("apps", "deployments").expect("registered");
    for (_, s) in twin.store.list(rt, None).take(1) {
        println!("{}", serde_json::to_string_pretty(s).expect("json"));
    }
    let rt = by_plural("apps", "daemonsets").expect("registered");
    for (_, s) in twin.store.list(rt, None).take(1) {
        println!("{}", serde_json::to_string(&s["status"]).expect("json"));
    }
    println!("rv {}", twin.store.resource_version());
}
