//! The apply engine's per-stage flap gate.

use super::*;
use crate::detect::StageGuard;

fn crash(seconds: i64, pod: &str, active: bool) -> Signal {
    at(
        seconds,
        SignalKind::CrashLoopBackOff {
            pod: format!("apps/{pod}"),
            workload: "apps/web".into(),
            container: "app".into(),
            active,
        },
    )
}

#[test]
fn an_alert_raised_during_a_stage_trips_it_once() {
    let mut guard = StageGuard::new(&DetectPolicy::default());
    assert!(guard.begin_stage().is_empty());
    assert!(guard.observe(&restart(0, 1)).is_none());
    assert!(guard.observe(&restart(10, 2)).is_none());
    let tripped = guard.observe(&restart(20, 3)).cloned().expect("a trip");
    assert_eq!(tripped.id(), "restart-loop/apps/web-1/app");
    // Later signals do not trip it again, but it stays tripped for the stage.
    assert!(guard.observe(&restart(30, 4)).is_none());
    assert_eq!(guard.tripped(), Some(&tripped));
}

#[test]
fn alerts_standing_when_a_stage_begins_do_not_trip_it() {
    let mut guard = StageGuard::new(&DetectPolicy::default());
    guard.observe(&crash(0, "web-1", true));
    let standing = guard.begin_stage();
    assert_eq!(
        ids(&standing.alerts),
        vec![(true, "crash-loop/apps/web-1/app".into())]
    );
    assert!(guard.observe(&tick(5)).is_none());
    assert!(guard.tripped().is_none());
    // Another pod starting to crash is news.
    let tripped = guard.observe(&crash(6, "web-2", true)).expect("a trip");
    assert_eq!(tripped.id(), "crash-loop/apps/web-2/app");
}

#[test]
fn another_detector_on_a_standing_subject_does_not_trip_the_stage() {
    let mut guard = StageGuard::new(&DetectPolicy::default());
    guard.observe(&crash(0, "web-1", true));
    guard.begin_stage();
    for (s, n) in [(10, 1), (20, 2), (30, 3)] {
        assert!(guard.observe(&restart(s, n)).is_none());
    }
    assert!(guard.tripped().is_none());
}

#[test]
fn a_standing_alert_that_clears_and_comes_back_trips_the_stage() {
    let policy = DetectPolicy::default();
    let clear_after = i64::try_from(policy.restarts.clear_after_seconds).expect("small");
    let mut guard = StageGuard::new(&policy);
    guard.observe(&crash(0, "web-1", true));
    guard.begin_stage();
    guard.observe(&crash(1, "web-1", false));
    for s in (2..clear_after + 5).step_by(5) {
        assert!(guard.observe(&tick(s)).is_none(), "cleared, not tripped");
    }
    let back = clear_after + 10;
    assert!(guard.observe(&crash(back, "web-1", true)).is_some());
}

#[test]
fn a_new_stage_forgets_the_last_trip() {
    let mut guard = StageGuard::new(&DetectPolicy::default());
    guard.begin_stage();
    for (s, n) in [(0, 1), (10, 2), (20, 3)] {
        guard.observe(&restart(s, n));
    }
    assert!(guard.tripped().is_some());
    let standing = guard.begin_stage();
    assert_eq!(standing.alerts.len(), 1, "the restart loop is still active");
    assert!(guard.tripped().is_none());
    assert!(guard.observe(&restart(40, 4)).is_none());
}

fn history(pod: &str, exited_at: i64) -> Signal {
    at(
        0,
        SignalKind::ContainerHistory {
            pod: format!("apps/{pod}"),
            workload: "apps/web".into(),
            container: "app".into(),
            restart_count: 7,
            last_exit: t(exited_at),
        },
    )
}

#[test]
fn a_crash_loop_first_listed_between_back_offs_is_standing() {
    let mut guard = StageGuard::new(&DetectPolicy::default());
    // Listed while running, having exited a moment ago: no alert is active yet.
    guard.observe(&history("web-1", -20));
    guard.observe(&tick(1));
    let standing = guard.begin_stage();
    assert!(standing.alerts.is_empty());
    assert_eq!(standing.restarting, vec!["apps/web-1/app".to_owned()]);
    assert!(guard.observe(&crash(30, "web-1", true)).is_none());
    for (s, n) in [(40, 8), (50, 9), (60, 10)] {
        assert!(guard.observe(&restart(s, n)).is_none());
    }
    assert!(guard.tripped().is_none());
    // A container that never restarted is not excused.
    assert!(guard.observe(&crash(70, "web-2", true)).is_some());
}

#[test]
fn a_container_seen_restarting_before_the_stage_is_standing() {
    let mut guard = StageGuard::new(&DetectPolicy::default());
    guard.observe(&restart(0, 1));
    guard.observe(&tick(5));
    let standing = guard.begin_stage();
    assert!(standing.alerts.is_empty(), "one restart raises nothing");
    assert_eq!(standing.restarting, vec!["apps/web-1/app".to_owned()]);
    for (s, n) in [(10, 2), (20, 3)] {
        assert!(guard.observe(&restart(s, n)).is_none());
    }
    assert!(guard.observe(&crash(25, "web-1", true)).is_none());
    assert!(guard.tripped().is_none());
}

#[test]
fn an_exit_older_than_the_clear_period_does_not_excuse_a_crash_loop() {
    let policy = DetectPolicy::default();
    let clear_after = i64::try_from(policy.restarts.clear_after_seconds).expect("small");
    let mut guard = StageGuard::new(&policy);
    guard.observe(&history("web-1", -clear_after - 60));
    guard.observe(&tick(1));
    assert!(guard.begin_stage().is_empty());
    assert!(guard.observe(&crash(30, "web-1", true)).is_some());
}
