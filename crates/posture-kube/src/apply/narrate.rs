//! One timestamped line per stage event on stderr, so a run without a terminal (CI, cron, a
//! pipe) leaves a log of what it did and when: each stage's start, end and outcome, and each
//! change a rollback undid.

use std::time::{Duration, Instant};

use posture_core::apply::journal::Record;
use posture_core::apply::{ApplyState, Effect};
use posture_core::plan::{Plan, PostCondition};

/// Remembers what it already said, so a line is printed once per event.
#[derive(Debug, Default)]
pub(crate) struct Narrator {
    enabled: bool,
    /// The running stage's clock.
    stage: Option<StageClock>,
    /// The clock of the stage before it: the step that completes a stage also starts the next,
    /// so the completion is told after the next stage's clock has started.
    ending: Option<StageClock>,
    rolling_back: bool,
}

#[derive(Debug)]
struct StageClock {
    index: usize,
    id: String,
    since: Instant,
    /// How much of the stage went to waiting for the cluster (post-conditions and settle
    /// pauses): the rest is posture's own work and the API's answers to its writes.
    waited: Duration,
}

impl Narrator {
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            ..Self::default()
        }
    }

    fn say(&self, text: &str) {
        if self.enabled {
            eprintln!("{} {text}", stamp());
        }
    }

    /// The machine moved to `state`: says when a stage starts or a rollback begins.
    pub(crate) fn state(&mut self, plan: &Plan, state: &ApplyState, running: Option<usize>) {
        if let Some(index) = running
            && self.stage.as_ref().is_none_or(|clock| clock.index != index)
        {
            self.ending = self.stage.replace(StageClock {
                index,
                id: plan
                    .stages
                    .get(index)
                    .map(|s| s.id.clone())
                    .unwrap_or_default(),
                since: Instant::now(),
                waited: Duration::ZERO,
            });
            if let Some(stage) = plan.stages.get(index) {
                self.say(&format!(
                    "stage {} started: {} ({} change(s))",
                    stage.id,
                    stage.title,
                    stage.changes.len()
                ));
            }
        }
        match state {
            ApplyState::RollingBack(rb) if !self.rolling_back => {
                self.rolling_back = true;
                self.say(&format!(
                    "rollback started: {} change(s) to undo, newest first",
                    rb.queue.len()
                ));
            }
            ApplyState::RollingBack(_) => {}
            _ => self.rolling_back = false,
        }
    }

    /// An effect the engine is about to carry out.
    pub(crate) fn effect(&mut self, effect: &Effect) {
        match effect {
            Effect::Journal(Record::StageComplete { stage }) => {
                let took = self.elapsed(stage);
                self.say(&format!("stage {stage} done: applied{took}"));
            }
            Effect::Journal(Record::Failed {
                stage,
                change,
                reason,
            }) => {
                let took = self.elapsed(stage);
                let change = change
                    .as_deref()
                    .map(|c| format!(" at {c}"))
                    .unwrap_or_default();
                self.say(&format!("stage {stage} failed{change}{took}: {reason}"));
            }
            Effect::Journal(Record::RolledBack { stage, change }) => {
                self.say(&format!("rolled back {change} (stage {stage})"));
            }
            Effect::WaitFor(PostCondition::RolloutComplete {
                workload, replicas, ..
            }) if self.rolling_back => {
                self.say(&format!(
                    "waiting for {workload} to roll out {replicas} ready replica(s)"
                ));
            }
            _ => {}
        }
    }

    /// Another run holds the cluster lock and this one waits up to `up_to` for it. Said even
    /// on a terminal: a run that seems to hang must say why.
    pub(crate) fn lock_wait(&self, holder: &str, up_to: Duration) {
        eprintln!(
            "{} waiting up to {}s for the cluster lock held by {holder}",
            stamp(),
            up_to.as_secs()
        );
    }

    /// The running stage waited `duration` for the cluster.
    pub(crate) fn waited(&mut self, duration: Duration) {
        if let Some(clock) = self.stage.as_mut() {
            clock.waited += duration;
        }
    }

    /// How long stage `id` took, and how much of it went to waiting for the cluster.
    fn elapsed(&self, id: &str) -> String {
        let Some(clock) = [&self.stage, &self.ending]
            .into_iter()
            .flatten()
            .find(|clock| clock.id == id)
        else {
            return String::new();
        };
        let took = clock.since.elapsed().as_secs_f64();
        if clock.waited.is_zero() {
            format!(" in {took:.3}s")
        } else {
            format!(
                " in {took:.3}s, {:.3}s of it waiting for the cluster",
                clock.waited.as_secs_f64()
            )
        }
    }
}

/// Wall-clock time in RFC 3339, seconds precision, UTC.
pub(crate) fn stamp() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}
