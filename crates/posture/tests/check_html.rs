//! `posture check --html FILE` on a served twin, opened in headless Chromium: the screenshot
//! shows a column for each node (each header has its own solid colour) side by side, and the
//! page holds the findings with their evidence. In CI (`POSTURE_REQUIRE_CHROMIUM`) a missing
//! browser is a failure, not a skip.

mod common;

use std::path::Path;

use common::{posture, run};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The node header colours of the page, in column order (the drill report's).
const NODE_COLOURS: [&str; 2] = ["#0969da", "#8250df"];

#[path = "../src/render/drill_report_browser.rs"]
mod browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_shows_both_nodes_and_the_findings_with_evidence() {
    let lab = common::serve_scenario("homelab.yaml", 1.0).await;
    let dir = &lab.dir;
    let kubeconfig = std::path::PathBuf::from(&lab.kubeconfig);
    let page = dir.path().join("report.html");
    let out = run(posture(&[
        "check",
        "--kubeconfig",
        &kubeconfig.display().to_string(),
        "--html",
        &page.display().to_string(),
        "--fail-on",
        "never",
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let html = std::fs::read_to_string(&page).expect("the page is written");
    for expected in [
        "data-node=\"miniserver\"",
        "data-node=\"worker-1\"",
        "haproxy-controller/haproxy-kubernetes-ingress",
        "preconditions.workloads.pinned",
        "kubectl get statefulset qdrant -n apps",
    ] {
        assert!(html.contains(expected), "{expected:?} missing");
    }
    assert!(!html.contains("<script"), "the page runs nothing");
    assert!(
        !html.contains("<link") && !html.contains(" src="),
        "the page fetches nothing"
    );
    for colour in NODE_COLOURS {
        assert!(
            html.contains(colour),
            "the page's node colours changed: {colour}"
        );
    }

    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("POSTURE_REQUIRE_CHROMIUM").is_none(),
            "POSTURE_REQUIRE_CHROMIUM is set but {CHROMIUM} is missing"
        );
        eprintln!("SKIPPED the screenshot: {CHROMIUM} is not installed");
        return;
    }
    let shot = dir.path().join("shot.png");
    browser::screenshot(dir.path(), &page, &shot);
    let image = browser::Image::decode(&shot);
    let colours: Vec<[u8; 3]> = NODE_COLOURS.iter().map(|c| browser::rgb(c)).collect();
    let side_by_side = (0..image.height).any(|y| {
        let starts: Option<Vec<usize>> = colours.iter().map(|&c| image.run(y, c, 40)).collect();
        starts.is_some_and(|s| s.windows(2).all(|w| w[0] < w[1]))
    });
    assert!(
        side_by_side,
        "no row of the {}x{} screenshot crosses both node headers left to right; longest runs: {:?}",
        image.width,
        image.height,
        colours
            .iter()
            .map(|&c| image.longest_run(c))
            .collect::<Vec<_>>()
    );
}
