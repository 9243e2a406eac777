//! Detector throughput on a recorded stream of signals (JSON lines).
//!
//! `cargo bench -p posture-core --bench detectors [-- --signals N --events N --rounds N --objects-only --view-only --write FILE]`
//!
//! For a stream of N signals (default 500k, about 70 MB) and one four times as long, it measures, in chunks so
//! the stream never has to fit in memory:
//! - baseline: parsing each line into `serde_json::Value`, what a naive tool does first;
//! - typed parse only: parsing each line into a `Signal`, for the split of the cost;
//! - parse+detect: parsing each line into a typed `Signal` and running every detector;
//! - detect-only: running the detectors over already parsed signals;
//! - the peak live state (subjects tracked plus window entries), sampled at chunk boundaries,
//!   which must stay flat when the stream gets longer.
//!
//! Then watch events of whole objects (`--events N`, default 200k) through the reducer and the
//! detectors, read into `serde_json::Value`s (the baseline) and read into the reducer's sparse
//! typed view, `--rounds N` times (default 3; `--objects-only` skips the signal streams).
//! Generation and serialization are never timed.

mod objects;
mod stream;

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use posture_core::detect::{
    DetectPolicy, Detectors, EventType, Reducer, Signal, WatchEvent, WatchedKind, header_line,
    parse_line,
};

const CHUNK: usize = 32_768;

#[derive(Default)]
struct Run {
    signals: usize,
    bytes: usize,
    baseline: Duration,
    parse_only: Duration,
    parse_detect: Duration,
    detect_only: Duration,
    peak_live: usize,
    raised: std::collections::BTreeMap<String, usize>,
    cleared: usize,
}

fn run(total: usize, mut record: Option<&mut dyn Write>) -> Run {
    let policy = DetectPolicy::default();
    let mut parsing = Detectors::new(&policy);
    let mut detecting = Detectors::new(&policy);
    let mut generator = stream::StreamGen::new(0x5EED);
    let mut out = Run::default();
    let mut text = String::with_capacity(CHUNK * 200);
    while out.signals < total {
        let n = CHUNK.min(total - out.signals);
        text.clear();
        for signal in generator.by_ref().take(n) {
            text.push_str(&signal.to_line());
            text.push('\n');
        }
        out.bytes += text.len();
        if let Some(w) = record.as_mut() {
            w.write_all(text.as_bytes()).expect("write recording");
        }

        let started = Instant::now();
        for line in text.lines() {
            black_box(serde_json::from_str::<serde_json::Value>(line).expect("valid JSON"));
        }
        out.baseline += started.elapsed();

        let started = Instant::now();
        for line in text.lines() {
            black_box(parse_line(line).expect("valid signal"));
        }
        out.parse_only += started.elapsed();

        let started = Instant::now();
        for line in text.lines() {
            if let Some(signal) = parse_line(line).expect("valid signal") {
                for alert in parsing.observe(&signal) {
                    black_box(alert);
                }
            }
        }
        out.parse_detect += started.elapsed();

        let parsed: Vec<Signal> = text
            .lines()
            .filter_map(|l| parse_line(l).expect("valid signal"))
            .collect();
        let started = Instant::now();
        for signal in &parsed {
            for alert in detecting.observe(signal) {
                if alert.is_raised() {
                    *out.raised.entry(alert.detector().to_string()).or_default() += 1;
                } else {
                    out.cleared += 1;
                }
            }
        }
        out.detect_only += started.elapsed();

        out.peak_live = out.peak_live.max(detecting.live_entries());
        out.signals += n;
    }
    out
}

fn rate(signals: usize, took: Duration) -> String {
    rate_of(signals, "signals", took)
}

fn rate_of(count: usize, unit: &str, took: Duration) -> String {
    let per_second = count as f64 / took.as_secs_f64();
    format!(
        "{:>10.0} {unit}/s  ({:>7.3} s)",
        per_second,
        took.as_secs_f64()
    )
}

fn report(label: &str, r: &Run) {
    println!(
        "{label}: {} signals, {:.1} MB of JSON lines",
        r.signals,
        r.bytes as f64 / 1e6
    );
    println!(
        "  baseline serde_json::Value parse  {}",
        rate(r.signals, r.baseline)
    );
    println!(
        "  typed Signal parse only           {}",
        rate(r.signals, r.parse_only)
    );
    println!(
        "  parse + detect                    {}",
        rate(r.signals, r.parse_detect)
    );
    println!(
        "  detect only                       {}",
        rate(r.signals, r.detect_only)
    );
    println!(
        "  peak live state                   {:>10} entries",
        r.peak_live
    );
    println!(
        "  process peak RSS so far           {:>10}",
        peak_rss().unwrap_or_else(|| "n/a".to_owned())
    );
    let raised: usize = r.raised.values().sum();
    println!(
        "  alerts                            {raised:>10} raised, {} cleared",
        r.cleared
    );
    for (detector, n) in &r.raised {
        println!("    {detector:<30}  {n:>8}");
    }
}

/// The process's high-water mark of resident memory (Linux), including the chunk buffers.
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_owned())
}

/// One watch event as the API server streams it, read the naive way.
#[derive(serde::Deserialize)]
struct ValueEvent {
    #[serde(rename = "type")]
    change: String,
    object: serde_json::Value,
}

/// What one way of reading the whole-object stream measured in one round.
#[derive(Clone, Copy)]
struct ObjectTimes {
    value_parse: Duration,
    value_full: Duration,
    view_parse: Duration,
    view_full: Duration,
    reduce_only: Duration,
}

const OBJECT_LABELS: [&str; 5] = [
    "baseline serde_json::Value parse",
    "Value parse + reduce + detect",
    "typed view parse only",
    "view parse + reduce + detect",
    "reduce + detect (views read)",
];

impl ObjectTimes {
    fn all(&self) -> [Duration; 5] {
        [
            self.value_parse,
            self.value_full,
            self.view_parse,
            self.view_full,
            self.reduce_only,
        ]
    }
}

/// Counts of one pass, compared between the two ways of reading.
#[derive(Debug, Default, PartialEq)]
struct Pass {
    signals: usize,
    alerts: usize,
}

fn stamp(i: usize) -> jiff::Timestamp {
    let base: jiff::Timestamp = "2026-11-24T00:00:00Z".parse().expect("timestamp");
    base + jiff::SignedDuration::from_millis(i as i64 * 25)
}

fn detect(detectors: &mut Detectors, signals: Vec<Signal>, pass: &mut Pass) {
    for signal in signals {
        pass.signals += 1;
        pass.alerts += black_box(detectors.observe(&signal)).len();
    }
}

/// Typed-view events through a fresh reducer and the detectors; the reducer is returned for
/// its live state.
fn view_pass<'a, E: std::borrow::Borrow<WatchEvent<'a>>>(
    events: impl Iterator<Item = E>,
    policy: &DetectPolicy,
) -> (Pass, Reducer) {
    let (mut reducer, mut detectors) = (Reducer::new(), Detectors::new(policy));
    let mut pass = Pass::default();
    for (i, event) in events.enumerate() {
        let event = event.borrow();
        let (Some(change), Some(resource)) = (event.change, event.object.watched_kind()) else {
            continue;
        };
        let signals = reducer.reduce_object(stamp(i), resource, change, &event.object);
        detect(&mut detectors, signals, &mut pass);
    }
    (pass, reducer)
}

/// Whole-object watch events through the reducer and the detectors, read into
/// `serde_json::Value`s and read into the reducer's typed view: what `posture watch` does per
/// event when it records nothing but objects. Returns the reducer of the last view pass.
fn object_round(lines: &[String], policy: &DetectPolicy) -> (ObjectTimes, Pass, Pass, Reducer) {
    let started = Instant::now();
    for line in lines {
        black_box(serde_json::from_str::<serde_json::Value>(line).expect("valid JSON"));
    }
    let value_parse = started.elapsed();

    let (mut reducer, mut detectors) = (Reducer::new(), Detectors::new(policy));
    let mut by_value = Pass::default();
    let started = Instant::now();
    for (i, line) in lines.iter().enumerate() {
        let event: ValueEvent = serde_json::from_str(line).expect("valid event");
        let api_version = event.object["apiVersion"].as_str().unwrap_or_default();
        let kind = event.object["kind"].as_str().unwrap_or_default();
        let Some(resource) = WatchedKind::of(api_version, kind) else {
            continue;
        };
        let change = match event.change.as_str() {
            "ADDED" => EventType::Added,
            "DELETED" => EventType::Deleted,
            _ => EventType::Modified,
        };
        let signals = reducer.reduce(stamp(i), resource, change, &event.object);
        detect(&mut detectors, signals, &mut by_value);
    }
    let value_full = started.elapsed();

    let started = Instant::now();
    for line in lines {
        black_box(WatchEvent::from_json(line).expect("valid event"));
    }
    let view_parse = started.elapsed();

    let started = Instant::now();
    let (by_view, _) = view_pass(
        lines
            .iter()
            .map(|l| WatchEvent::from_json(l).expect("valid event")),
        policy,
    );
    let view_full = started.elapsed();

    let events: Vec<WatchEvent> = lines
        .iter()
        .map(|l| WatchEvent::from_json(l).expect("valid event"))
        .collect();
    let started = Instant::now();
    let (_, reducer) = view_pass(events.iter(), policy);
    let reduce_only = started.elapsed();
    let times = ObjectTimes {
        value_parse,
        value_full,
        view_parse,
        view_full,
        reduce_only,
    };
    (times, by_value, by_view, reducer)
}

/// The typed view path alone, `rounds` times: something to hold a profiler to.
fn profile_view_path(lines: &[String], rounds: usize, policy: &DetectPolicy) {
    for round in 1..=rounds {
        let started = Instant::now();
        black_box(view_pass(
            lines
                .iter()
                .map(|l| WatchEvent::from_json(l).expect("valid event")),
            policy,
        ));
        println!(
            "round {round}: view parse + reduce + detect {}",
            rate_of(lines.len(), "events", started.elapsed())
        );
    }
}

fn run_objects(events: usize, rounds: usize, view_only: bool) {
    let lines = objects::lines(
        events,
        stream::PODS,
        stream::NODES,
        stream::SERVICES,
        stream::VOLUMES,
    );
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let policy = DetectPolicy::default();
    println!(
        "objects: {events} watch events of whole objects, {:.1} MB, {rounds} rounds",
        bytes as f64 / 1e6
    );
    if view_only {
        profile_view_path(&lines, rounds, &policy);
        return;
    }
    let mut all = Vec::new();
    for round in 1..=rounds.max(1) {
        let (times, by_value, by_view, reducer) = object_round(&lines, &policy);
        assert_eq!(
            by_value, by_view,
            "both ways of reading give the same signals"
        );
        println!(
            "round {round}: {} signals, {} alerts (the same both ways); reducer live objects {}, about {} bytes",
            by_view.signals,
            by_view.alerts,
            reducer.live_objects(),
            reducer.live_bytes()
        );
        for (label, took) in OBJECT_LABELS.iter().zip(times.all()) {
            println!("  {label:<33} {}", rate_of(events, "events", took));
        }
        all.push(times);
    }
    println!("best of {} (range):", all.len());
    for (index, label) in OBJECT_LABELS.iter().enumerate() {
        let rates: Vec<f64> = all
            .iter()
            .map(|t| events as f64 / t.all()[index].as_secs_f64())
            .collect();
        let best = rates.iter().copied().fold(f64::MIN, f64::max);
        let worst = rates.iter().copied().fold(f64::MAX, f64::min);
        println!("  {label:<33} {best:>10.0} events/s  ({worst:.0}-{best:.0})");
    }
    // Rounds interleave both paths, so a round's ratio is fair even when the load changes.
    let speedups: Vec<f64> = all
        .iter()
        .map(|t| t.value_full.as_secs_f64() / t.view_full.as_secs_f64())
        .collect();
    let fastest = |pick: fn(&ObjectTimes) -> Duration| all.iter().map(pick).min();
    let of_bests = match (fastest(|t| t.value_full), fastest(|t| t.view_full)) {
        (Some(value), Some(view)) => value.as_secs_f64() / view.as_secs_f64(),
        _ => f64::NAN,
    };
    println!(
        "  view path / Value path            {of_bests:>10.2}x best vs best  (per round {:.2}-{:.2}x)",
        speedups.iter().copied().fold(f64::MAX, f64::min),
        speedups.iter().copied().fold(f64::MIN, f64::max)
    );
    println!(
        "  process peak RSS so far           {:>10}",
        peak_rss().unwrap_or_else(|| "n/a".to_owned())
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut signals = 500_000usize;
    let mut write: Option<String> = None;
    let mut events = 200_000usize;
    let mut rounds = 3usize;
    let mut signal_stream = true;
    let mut view_only = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--signals" => {
                signals = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--signals takes a number");
            }
            "--write" => write = args.next(),
            "--events" => {
                events = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--events takes a number");
            }
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--rounds takes a number");
            }
            "--objects-only" => signal_stream = false,
            "--view-only" => (signal_stream, view_only) = (false, true),
            // `cargo bench` passes --bench; other harness flags are ignored too.
            _ => {}
        }
    }
    if !signal_stream {
        run_objects(events, rounds, view_only);
        return;
    }
    println!(
        "stream: {} nodes, {} pods, {} volumes, {} services; chunks of {CHUNK}",
        stream::NODES,
        stream::PODS,
        stream::VOLUMES,
        stream::SERVICES
    );
    let mut file = write.map(|path| {
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(&path).expect("create recording file"));
        writeln!(file, "{}", header_line()).expect("write recording header");
        file
    });
    let one = run(signals, file.as_mut().map(|f| f as &mut dyn Write));
    report("1x", &one);
    let four = run(signals * 4, None);
    report("4x", &four);
    println!(
        "live state 4x/1x: {:.2} (bounded by objects when close to 1)",
        four.peak_live as f64 / one.peak_live.max(1) as f64
    );
    run_objects(events, rounds, view_only);
}
