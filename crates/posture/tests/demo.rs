//! `posture demo` runs the whole walk-through on the embedded twin and says what happened.

mod common;

use common::{posture, run};

const HEADINGS: [&str; 6] = [
    "== Step 1: The cluster, as kubectl shows it",
    "== Step 2: posture check: the cluster against the runbook",
    "== Step 3: The plan: what posture would change, stage by stage",
    "== Step 4: posture drill: what losing the secondary would do",
    "== Step 5: Losing the secondary node before migration",
    "== Step 6: Next: your own cluster",
];

/// The text between one step's heading and the next.
fn step<'a>(stdout: &'a str, heading: &str) -> &'a str {
    let start = stdout.find(heading).expect("heading present");
    let rest = &stdout[start + heading.len()..];
    &rest[..rest.find("\n== Step").unwrap_or(rest.len())]
}

fn assert_walkthrough(stdout: &str) {
    for heading in HEADINGS {
        assert!(stdout.contains(heading), "missing {heading:?} in\n{stdout}");
    }
    assert!(
        !stdout.contains('\x1b'),
        "no colour when piped with NO_COLOR"
    );

    let cluster = step(stdout, HEADINGS[0]);
    assert!(cluster.contains("miniserver       Ready"), "{cluster}");
    assert!(cluster.contains("primary miniserver"), "{cluster}");
    assert!(cluster.contains("secondary worker-1"), "{cluster}");

    // The summary's error count is the number of error findings listed under it.
    let check = step(stdout, HEADINGS[1]);
    let summary = check
        .lines()
        .find(|l| l.contains(" errors, "))
        .expect("summary line");
    let errors: usize = summary
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("error count");
    assert!(errors > 0, "{summary}");
    assert_eq!(check.matches("  ✗ ").count(), errors, "{check}");
    assert!(check.contains("coredns.replicas (Deployment kube-system/coredns)"));

    let plan = step(stdout, HEADINGS[2]);
    assert!(
        plan.contains("(primary miniserver, secondary worker-1)"),
        "{plan}"
    );
    assert!(
        plan.contains("CoreDNS: two replicas spread across nodes"),
        "{plan}"
    );
    assert!(plan.contains("[runbook: approval required]"), "{plan}");

    let drill = step(stdout, HEADINGS[3]);
    assert!(drill.contains("$ posture drill worker-1"), "{drill}");
    assert!(
        drill.contains("verdict: safe-degraded (0 blocker(s), 1 degradation(s))"),
        "{drill}"
    );
    assert!(drill.contains("drill.volume.degraded"), "{drill}");

    let loss = step(stdout, HEADINGS[4]);
    assert!(loss.contains("stop-node worker-1"), "{loss}");
    assert!(
        loss.contains("worker-1: Ready,SchedulingDisabled -> NotReady,SchedulingDisabled"),
        "{loss}"
    );
    assert!(
        loss.contains("(apps/gitea-data): healthy -> degraded"),
        "{loss}"
    );
    assert!(loss.contains("start-node worker-1"), "{loss}");
    assert!(
        loss.contains("✓ worker-1: Ready,SchedulingDisabled again"),
        "{loss}"
    );

    let next = step(stdout, HEADINGS[5]);
    assert!(next.contains("$ posture check"), "{next}");
    assert!(next.contains("$ posture drill NODE"), "{next}");
}

#[tokio::test]
async fn the_demo_walks_through_the_runbook_at_its_default_speed() {
    let out = run(posture(&["demo"])).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_walkthrough(&out.stdout);
}

#[tokio::test]
async fn the_fast_demo_tells_the_same_story() {
    let out = run(posture(&["demo", "--fast"])).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_walkthrough(&out.stdout);
}

#[tokio::test]
async fn the_help_explains_the_demo() {
    let out = run(posture(&["demo", "--help"])).await;
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains("no cluster and no files"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--fast"));
    assert!(out.stdout.contains("--speed"));
}
