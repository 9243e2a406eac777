//! The scale generator's clusters load in steady state and stay quiet.

mod support;

use posture_twin::Twin;
use posture_twin::sim::{ScaleParams, generate_scenario};
use support::*;

fn load(params: ScaleParams) -> Twin {
    let mut twin = Twin::new(t0());
    twin.load_scenario("generated.yaml", &generate_scenario(params))
        .expect("generated scenario loads");
    twin
}

#[test]
fn generated_cluster_is_steady_at_load() {
    let params = ScaleParams {
        nodes: 8,
        pods: 95,
        volumes: 12,
        replicas_per_volume: 3,
    };
    let mut twin = load(params);
    let pods = list(&twin, "", "pods", None);
    assert_eq!(pods.len(), 95);
    assert!(pods.iter().all(is_ready));
    let per_node = |n: &str| pods.iter().filter(|p| node_of(p) == n).count();
    assert!(per_node("node-0000") <= 13, "spread by least allocation");
    let volumes = list(&twin, "longhorn.io", "volumes", None);
    assert_eq!(volumes.len(), 12);
    assert!(
        volumes
            .iter()
            .all(|v| v["status"]["robustness"] == "healthy")
    );
    let before: Vec<_> = list(&twin, "", "pods", None);
    twin.advance(secs(30));
    assert_eq!(
        list(&twin, "", "pods", None),
        before,
        "nothing happens to pods in steady state"
    );
}

#[test]
fn generated_cluster_loses_a_node() {
    let params = ScaleParams {
        nodes: 4,
        pods: 20,
        volumes: 4,
        replicas_per_volume: 2,
    };
    let mut twin = load(params);
    twin.inject(&posture_twin::fault::Fault::StopNode {
        node: "node-0001".into(),
    });
    twin.advance(secs(60));
    let degraded = list(&twin, "longhorn.io", "volumes", None)
        .iter()
        .filter(|v| v["status"]["robustness"] == "degraded")
        .count();
    assert_eq!(degraded, 2, "volumes with a replica on node-0001");
}

/// Load and reconcile cost of a big cluster; run by hand with
/// `cargo test -p posture-twin --release --test sim_scale -- --ignored --nocapture`.
#[test]
#[ignore = "manual measurement"]
fn big_cluster_measurement() {
    let params = ScaleParams {
        nodes: 200,
        pods: 10_000,
        volumes: 2_000,
        replicas_per_volume: 3,
    };
    let started = std::time::Instant::now();
    let text = generate_scenario(params);
    let generated = started.elapsed();
    let mut twin = Twin::new(t0());
    twin.load_scenario("big.yaml", &text).expect("loads");
    let loaded = started.elapsed();
    twin.advance(secs(60));
    let advanced = started.elapsed();
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    println!(
        "objects {} generate {generated:?} load {:?} advance-60s {:?} {rss}",
        twin.store.len(),
        loaded - generated,
        advanced - loaded
    );
}
