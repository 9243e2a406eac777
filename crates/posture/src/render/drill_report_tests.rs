//! Rendering of hand-built drill reports: what each form leads with, escaping of names from
//! the cluster, and the HTML grid as a browser actually draws it.

use std::path::Path;

use posture_core::drill::observed::{
    Breach, Criterion, CriterionResult, DRILL_REPORT_SCHEMA, DrillKind, TimelineEntry,
};

use super::page::NODE_COLOURS;
use super::*;

fn ts(text: &str) -> Timestamp {
    text.parse().expect("valid timestamp")
}

fn node(name: &str, ready: Option<bool>, pods: &[&str], replicas: &[&str]) -> NodePlacement {
    NodePlacement {
        node: name.into(),
        ready,
        unschedulable: false,
        pods: pods.iter().map(|p| (*p).to_owned()).collect(),
        replicas: replicas.iter().map(|r| (*r).to_owned()).collect(),
    }
}

fn phase(name: &str, at: &str, nodes: Vec<NodePlacement>, pending: &[&str]) -> PhasePlacement {
    PhasePlacement {
        phase: name.into(),
        at: Some(ts(at)),
        nodes,
        pending: pending.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// A node-loss drill of `edge-b` that a restart loop aborted; one of its pods carries markup
/// in its name, as a hostile namespace could.
fn example() -> DrillReport {
    let breach = Breach {
        criterion: Criterion::NoRestartLoops,
        at: ts("2026-05-14T10:02:10Z"),
        detector: "restart-loop".into(),
        subject: "shop/cart-7d9f8-x2v4q".into(),
        message: "restarted 4 times in 3m".into(),
        evidence: vec!["restartCount 2 -> 6 between 10:00:40 and 10:02:10".into()],
    };
    let criteria = Criterion::ALL
        .iter()
        .map(|&c| CriterionResult {
            criterion: c,
            title: c.title().into(),
            passed: c != Criterion::NoRestartLoops,
            evidence: if c == Criterion::NoRestartLoops {
                vec![breach.describe()]
            } else {
                vec![format!("watched {} for 130s, no alert", c.as_str())]
            },
        })
        .collect();
    let mut lost = node(
        "edge-b",
        Some(false),
        &["shop/cart-7d9f8-x2v4q (terminating)"],
        &[],
    );
    lost.unschedulable = true;
    DrillReport {
        schema: DRILL_REPORT_SCHEMA.into(),
        source: "https://10.0.0.5:6443".into(),
        node: "edge-b".into(),
        kind: DrillKind::NodeLoss,
        outcome: Outcome::Aborted,
        aborted_by: Some(breach),
        window_seconds: 300,
        settle_seconds: 60,
        criteria,
        unrestored: Vec::new(),
        timeline: vec![
            TimelineEntry {
                at: ts("2026-05-14T10:00:00Z"),
                what: "stopped k3s on edge-b".into(),
            },
            TimelineEntry {
                at: ts("2026-05-14T10:00:41.25Z"),
                what: "edge-b NotReady".into(),
            },
            TimelineEntry {
                at: ts("2026-05-14T10:02:10Z"),
                what: "aborted: no-restart-loops breached".into(),
            },
            TimelineEntry {
                at: ts("2026-05-14T10:03:30Z"),
                what: "restored: edge-b Ready, replicas healthy".into(),
            },
        ],
        placement: vec![
            phase(
                "before",
                "2026-05-14T09:59:58Z",
                vec![
                    node("edge-a", Some(true), &["shop/web-5c6b-a1"], &["shop/data"]),
                    node(
                        "edge-b",
                        Some(true),
                        &["shop/<script>alert(1)</script>", "shop/cart-7d9f8-x2v4q"],
                        &["shop/data"],
                    ),
                ],
                &[],
            ),
            phase(
                "during",
                "2026-05-14T10:02:10Z",
                vec![
                    node(
                        "edge-a",
                        Some(true),
                        &["shop/web-5c6b-a1", "shop/<script>alert(1)</script>"],
                        &["shop/data (rebuilding)"],
                    ),
                    lost,
                ],
                &["shop/cart-7d9f8-k8m2n"],
            ),
            phase(
                "after",
                "2026-05-14T10:03:30Z",
                vec![
                    node("edge-a", Some(true), &["shop/web-5c6b-a1"], &["shop/data"]),
                    node(
                        "edge-b",
                        Some(true),
                        &["shop/<script>alert(1)</script>", "shop/cart-7d9f8-k8m2n"],
                        &["shop/data"],
                    ),
                ],
                &[],
            ),
        ],
        interrupted: false,
        journal: Some("/var/lib/posture/journal/drill-edge-b.jsonl".into()),
    }
}

fn plain(text: &str) -> String {
    anstream::adapter::strip_str(text).to_string()
}

#[test]
fn markdown_of_an_aborted_node_loss() {
    insta::assert_snapshot!(markdown(&example()));
}

#[test]
fn markdown_names_every_criterion_and_the_breach_that_aborted() {
    let text = markdown(&example());
    for c in Criterion::ALL {
        assert!(text.contains(c.as_str()), "{} missing:\n{text}", c.as_str());
    }
    assert!(text.contains("**Aborted by** `no-restart-loops`"), "{text}");
    assert!(
        text.contains("`restart-loop` `shop/cart-7d9f8-x2v4q`"),
        "{text}"
    );
    assert!(text.contains("`/var/lib/posture/journal/drill-edge-b.jsonl`"));
    assert!(
        text.contains("| phase | `edge-a` | `edge-b` | Pending |"),
        "{text}"
    );
}

#[test]
fn every_form_leads_with_the_outcome_and_lists_what_was_not_restored() {
    let mut report = example();
    report.outcome = Outcome::NotRestored;
    report.unrestored = vec![
        "edge-b is cordoned".into(),
        "volume shop/data degraded".into(),
    ];
    let human = plain(&human(&report));
    let first = human.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "drill edge-b (node-loss): not-restored  window 300s, settle 60s"
    );
    let markdown = markdown(&report);
    assert!(markdown.starts_with("# Drill of `edge-b`: ⚠️ not-restored\n"));
    let html = html(&report);
    for text in [&human, &markdown, &html] {
        assert!(text.contains("edge-b is cordoned"), "{text}");
        assert!(text.contains("volume shop/data degraded"), "{text}");
    }
    assert!(html.contains("<span class=\"badge not-restored\">not-restored</span>"));
}

#[test]
fn human_shows_times_in_rfc3339_and_where_pods_were() {
    let text = plain(&human(&example()));
    assert!(
        text.contains("  2026-05-14T10:00:41Z  edge-b NotReady\n"),
        "{text}"
    );
    assert!(text.contains("aborted by no-restart-loops: restart-loop shop/cart-7d9f8-x2v4q"));
    assert!(text.contains("    edge-b [not ready, cordoned]: pods shop/cart-7d9f8-x2v4q"));
    assert!(
        text.contains("    pending: shop/cart-7d9f8-k8m2n\n"),
        "{text}"
    );
}

#[test]
fn json_round_trips() {
    let report = example();
    let text = json(&report).expect("serializes");
    let back: DrillReport = serde_json::from_str(&text).expect("parses");
    assert_eq!(back, report);
}

#[test]
fn html_escapes_names_from_the_cluster() {
    let text = html(&example());
    assert!(!text.contains("<script"), "{text}");
    assert!(text.contains("shop/&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(page::esc(r#"a&b<c>"d'"#), "a&amp;b&lt;c&gt;&quot;d&#39;");
}

#[test]
fn html_is_one_file_that_fetches_nothing() {
    let text = html(&example()).replace("https://10.0.0.5:6443", "");
    for needle in [
        "<script", "<link", "src=", "url(", "@import", "http://", "https://",
    ] {
        assert!(!text.contains(needle), "{needle} in:\n{text}");
    }
    assert!(text.contains("<style>"));
}

#[test]
fn html_has_a_column_header_per_node_and_pending_only_when_some_phase_has_it() {
    let text = html(&example());
    assert_eq!(text.matches("<th scope=\"col\" class=\"node ").count(), 2);
    assert!(text.contains("class=\"node node-0\" data-node=\"edge-a\">edge-a</th>"));
    assert!(text.contains("class=\"node node-1\" data-node=\"edge-b\">edge-b</th>"));
    assert_eq!(text.matches("class=\"pending\">Pending</th>").count(), 1);
    assert_eq!(text.matches("<tr data-phase=").count(), 3);

    let mut calm = example();
    for phase in &mut calm.placement {
        phase.pending.clear();
    }
    assert!(!html(&calm).contains("Pending</th>"));
}

#[test]
fn html_sets_apart_a_node_that_was_down_or_cordoned() {
    let text = html(&example());
    let during = text
        .split("<tr data-phase=\"during\">")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("a during row");
    assert!(during.contains("<td class=\"cell down\" data-node=\"edge-b\">"));
    assert!(during.contains("<span class=\"tag cordoned\">cordoned</span>"));
    assert!(during.contains("<td class=\"cell\" data-node=\"edge-a\">"));
    assert_eq!(text.matches("class=\"cell down\"").count(), 1);
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// Draws the example report in headless Chromium and looks for the node column headers in
/// the screenshot: each header has its own solid colour, so a row of pixels crossing the
/// headers must hold a long run of every node's colour, in node order. In CI
/// (`POSTURE_REQUIRE_CHROMIUM`) a missing browser is a failure, not a skip.
#[test]
fn html_grid_shows_a_column_per_node_in_chromium() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("POSTURE_REQUIRE_CHROMIUM").is_none(),
            "POSTURE_REQUIRE_CHROMIUM is set but {CHROMIUM} is missing"
        );
        eprintln!(
            "SKIPPED html_grid_shows_a_column_per_node_in_chromium: {CHROMIUM} is not installed \
             (set POSTURE_REQUIRE_CHROMIUM=1 to fail instead)"
        );
        return;
    }
    let report = example();
    let dir = tempfile::tempdir().expect("a temp dir");
    let page = dir.path().join("report.html");
    std::fs::write(&page, html(&report)).expect("the page is written");
    let shot = dir.path().join("shot.png");
    browser::screenshot(dir.path(), &page, &shot);
    let image = browser::Image::decode(&shot);

    let nodes = columns(&report.placement);
    let colours: Vec<[u8; 3]> = (0..nodes.len())
        .map(|k| browser::rgb(NODE_COLOURS[k % NODE_COLOURS.len()]))
        .collect();
    let side_by_side = (0..image.height).any(|y| {
        let starts: Option<Vec<usize>> = colours.iter().map(|&c| image.run(y, c, 40)).collect();
        starts.is_some_and(|s| s.windows(2).all(|w| w[0] < w[1]))
    });
    let longest: Vec<(&str, usize)> = (nodes.iter().zip(&colours))
        .map(|(n, &c)| (*n, image.longest_run(c)))
        .collect();
    assert!(
        side_by_side,
        "no row of the {}x{} screenshot crosses the headers of {nodes:?} left to right; \
         longest run of each node's colour: {longest:?}",
        image.width, image.height
    );
}

#[path = "drill_report_browser.rs"]
mod browser;
