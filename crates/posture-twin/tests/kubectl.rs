//! The real kubectl against a served twin.

mod common;

use common::serve_homelab;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_nodes_prints_status_and_roles() {
    let served = serve_homelab().await;
    let out = served.kubectl_ok(&["get", "nodes"]).await;
    eprintln!("{out}");
    assert!(out.contains("NAME"), "{out}");
    assert!(out.contains("Ready,SchedulingDisabled"), "{out}");
    assert!(out.contains("control-plane,master"), "{out}");
}
