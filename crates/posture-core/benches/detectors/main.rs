//! Detector throughput on a recorded stream of signals (JSON lines).
//!
//! `cargo bench -p posture-core --bench detectors [-- --signals N] [-- --write FILE]`
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
//! Generation and serialization are never timed.

mod stream;

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use posture_core::detect::{DetectPolicy, Detectors, Signal, parse_line};

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
    let per_second = signals as f64 / took.as_secs_f64();
    format!(
        "{:>10.0} signals/s  ({:>7.3} s)",
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

fn main() {
    let mut args = std::env::args().skip(1);
    let mut signals = 500_000usize;
    let mut write: Option<String> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--signals" => {
                signals = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--signals takes a number");
            }
            "--write" => write = args.next(),
            // `cargo bench` passes --bench; other harness flags are ignored too.
            _ => {}
        }
    }
    println!(
        "stream: {} nodes, {} pods, {} volumes, {} services; chunks of {CHUNK}",
        stream::NODES,
        stream::PODS,
        stream::VOLUMES,
        stream::SERVICES
    );
    let mut file = write.map(|path| {
        std::io::BufWriter::new(std::fs::File::create(&path).expect("create recording file"))
    });
    let one = run(signals, file.as_mut().map(|f| f as &mut dyn Write));
    report("1x", &one);
    let four = run(signals * 4, None);
    report("4x", &four);
    println!(
        "live state 4x/1x: {:.2} (bounded by objects when close to 1)",
        four.peak_live as f64 / one.peak_live.max(1) as f64
    );
}
