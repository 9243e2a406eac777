//! `posture watch`: the runbook's anti-flap appendix as live detectors. Alerts go out as log
//! lines (`<time> RAISED restart-loop apps/web ...`) or JSON lines; `--until-stable` turns the
//! watch into a gate (exit 0 stable, 1 alerted); `--record` and `--replay` keep and reproduce
//! the signal stream.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use posture_core::ObjectRef;
use posture_core::detect::{
    Alert, DetectPolicy, Detectors, ReplayError, SIGNALS_SCHEMA, Signal, SignalKind,
    StabilityVerdict, UntilStable, header_line, parse_line,
};
use posture_kube::watch::{SignalWatch, Update, WatchOptions};

use crate::cli::{GlobalArgs, WatchArgs, WatchOutput};
use crate::dashboard::{Model, render};
use crate::error::{CliError, exit};
use crate::render::alert::{alert_line, alert_moves, counter_moves_line};

mod act;

pub(crate) fn run(global: &GlobalArgs, args: &WatchArgs) -> Result<u8, CliError> {
    if let Some(action) = args.act {
        return act::run(global, args, action);
    }
    let policy = super::load_policy(global)?.detect;
    let mut session = Session::new(args, &policy)?;
    let outputs = args.metrics.is_some() || args.notify.is_some();
    if !outputs {
        if let Some(path) = &args.replay {
            return session.replay(path);
        }
        return super::runtime(super::RuntimeKind::CurrentThread)?
            .block_on(session.live(global, args));
    }
    // The metrics server and the notifier run beside the detectors, on workers of their own.
    super::runtime(super::RuntimeKind::MultiThread)?.block_on(async {
        session.start_outputs(args).await?;
        let code = match &args.replay {
            Some(path) => session.replay(path),
            None => session.live(global, args).await,
        };
        session.finish_outputs().await;
        code
    })
}

/// Detectors, the optional gate and the outputs: the same for a live watch and a replay.
struct Session {
    detectors: Detectors,
    gate: Option<UntilStable>,
    output: WatchOutput,
    record: Option<std::io::BufWriter<std::fs::File>>,
    record_path: String,
    /// The dashboard's model when drawing on a terminal; alerts go there instead of stdout.
    dashboard: Option<Model>,
    /// Workloads with their metadata, to fit counter-moves to their owners; empty in a replay.
    workloads: Vec<(ObjectRef, ObjectMeta)>,
    /// When `workloads` was last read.
    workloads_read: Option<std::time::Instant>,
    /// `--metrics`: what the detectors saw, served as Prometheus metrics.
    metrics: Option<std::sync::Arc<posture_kube::watch::metrics::AlertMetrics>>,
    /// `--notify`: alerts posted to a webhook, off the detectors' path.
    notifier: Option<(posture_kube::notify::Notifier, String, Duration)>,
}

impl Session {
    fn new(args: &WatchArgs, policy: &DetectPolicy) -> Result<Self, CliError> {
        let record_path = args
            .record
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let record = match &args.record {
            Some(path) => {
                let file = std::fs::File::create(path).map_err(|source| CliError::Write {
                    path: record_path.clone(),
                    source,
                })?;
                let mut writer = std::io::BufWriter::new(file);
                writeln!(writer, "{}", header_line()).map_err(|source| CliError::Write {
                    path: record_path.clone(),
                    source,
                })?;
                Some(writer)
            }
            None => None,
        };
        Ok(Self {
            detectors: Detectors::new(policy),
            gate: args.until_stable.map(|d| UntilStable::new(policy, d)),
            output: args.output,
            record,
            record_path,
            dashboard: None,
            workloads: Vec::new(),
            workloads_read: None,
            metrics: None,
            notifier: None,
        })
    }

    /// Starts the metrics server and the notifier the arguments ask for.
    async fn start_outputs(&mut self, args: &WatchArgs) -> Result<(), CliError> {
        if let Some(addr) = args.metrics {
            let metrics =
                std::sync::Arc::new(posture_kube::watch::metrics::AlertMetrics::default());
            let scraped = std::sync::Arc::clone(&metrics);
            let bound = super::metrics_http::serve(addr, move || scraped.render())
                .await
                .map_err(|source| CliError::Metrics { addr, source })?;
            anstream::eprintln!("metrics: http://{bound}/metrics");
            self.metrics = Some(metrics);
        }
        if let Some(url) = &args.notify {
            let timeout = Duration::try_from(args.notify_timeout).unwrap_or(Duration::from_secs(5));
            let settings = posture_kube::notify::NotifySettings {
                template: args.notify_template.clone(),
                timeout,
                ..posture_kube::notify::NotifySettings::new(url.clone())
            };
            let notifier =
                posture_kube::notify::Notifier::start(settings).map_err(CliError::Notify)?;
            if let Some(metrics) = &self.metrics
                && let Ok(mut slot) = metrics.notify.lock()
            {
                *slot = Some(std::sync::Arc::clone(&notifier.counters));
            }
            self.notifier = Some((notifier, url.to_string(), timeout));
        }
        Ok(())
    }

    /// Gives the notifier a moment to post what is queued, and says what never arrived.
    async fn finish_outputs(&mut self) {
        if let Some((notifier, url, timeout)) = self.notifier.take() {
            let undelivered = notifier.finish(timeout * 2).await;
            if undelivered > 0 {
                anstream::eprintln!("notify: {undelivered} alert(s) not delivered to {url}");
            }
        }
    }

    /// Feeds one signal everywhere; returns the exit code once the gate has a verdict.
    fn signal(&mut self, signal: &Signal) -> Result<Option<u8>, CliError> {
        if let Some(record) = &mut self.record {
            writeln!(record, "{}", signal.to_line())
                .and_then(|()| record.flush())
                .map_err(|source| CliError::Write {
                    path: self.record_path.clone(),
                    source,
                })?;
        }
        if let Some(model) = &mut self.dashboard
            && matches!(signal.kind, posture_core::detect::SignalKind::Tick)
        {
            model.tick(signal.at);
        }
        if let Some(metrics) = &self.metrics {
            metrics.signal(signal.at);
        }
        for alert in self.detectors.observe(signal) {
            // Metrics and the webhook first: once the line is out, both already know.
            if let Some(metrics) = &self.metrics {
                metrics.alert(&alert);
            }
            if let Some((notifier, _, _)) = &self.notifier {
                notifier.notify(&alert);
            }
            self.print(&alert)?;
        }
        let Some(gate) = &mut self.gate else {
            return Ok(None);
        };
        Ok(gate.observe(signal).map(|verdict| match verdict {
            StabilityVerdict::Stable { since, at } => {
                anstream::eprintln!("stable: no alert from {since} to {at}");
                exit::OK
            }
            StabilityVerdict::Alerted(alert) => {
                anstream::eprintln!("unstable: {}", alert_line(&alert));
                exit::FINDINGS
            }
        }))
    }

    fn print(&mut self, alert: &Alert) -> Result<(), CliError> {
        if let Some(model) = &mut self.dashboard {
            model.alert(alert, &alert_moves(alert, &self.workloads));
            return Ok(());
        }
        let line = match self.output {
            WatchOutput::Human => match counter_moves_line(alert, &self.workloads) {
                Some(moves) => format!("{}\n{moves}", alert_line(alert)),
                None => alert_line(alert),
            },
            WatchOutput::Json => {
                serde_json::to_string(alert).map_err(|source| CliError::Serialize {
                    what: "alert",
                    source: Box::new(source),
                })?
            }
        };
        crate::render::write_stdout(&format!("{line}\n"))
    }

    /// Reads the workloads' owners when none were read yet, or when a restart names a workload
    /// not read (created since), at most every 30 s; a failure leaves moves unfitted, noted.
    async fn read_owners(&mut self, client: &kube::Client, signals: &[Signal]) {
        let stale = match self.workloads_read {
            None => true,
            Some(at) => {
                at.elapsed() >= Duration::from_secs(30)
                    && signals.iter().any(|s| self.names_unknown_workload(s))
            }
        };
        if !stale {
            return;
        }
        self.workloads_read = Some(std::time::Instant::now());
        match posture_kube::watch::act::workload_owners(client).await {
            Ok(workloads) => self.workloads = workloads,
            Err(e) => {
                let note = format!("counter-moves not fitted to owners: {e}");
                match &mut self.dashboard {
                    Some(model) => model.note(&note),
                    None => anstream::eprintln!("note: {note}"),
                }
            }
        }
    }

    fn names_unknown_workload(&self, signal: &Signal) -> bool {
        let workload = match &signal.kind {
            SignalKind::ContainerRestarted { workload, .. }
            | SignalKind::CrashLoopBackOff { workload, .. } => workload,
            _ => return false,
        };
        !self.workloads.iter().any(|(w, _)| {
            workload.split_once('/')
                == Some((w.namespace.as_deref().unwrap_or_default(), w.name.as_str()))
        })
    }

    fn replay(&mut self, path: &Path) -> Result<u8, CliError> {
        let text = std::fs::read_to_string(path).map_err(|source| CliError::ReadRecording {
            path: path.display().to_string(),
            source,
        })?;
        for (index, line) in text.lines().enumerate() {
            if index == 0 && line.trim_start().starts_with(r#"{"schema""#) {
                let schema = serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|header| header["schema"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                if schema != SIGNALS_SCHEMA {
                    return Err(CliError::Recording {
                        path: path.display().to_string(),
                        source: ReplayError::Schema {
                            line: 1,
                            found: schema,
                        },
                    });
                }
                continue;
            }
            let signal = parse_line(line).map_err(|source| CliError::Recording {
                path: path.display().to_string(),
                source: ReplayError::Parse {
                    line: index + 1,
                    source,
                },
            })?;
            if let Some(signal) = signal
                && let Some(code) = self.signal(&signal)?
            {
                return Ok(code);
            }
        }
        Ok(match self.gate {
            // The recording ended before a verdict: not proven stable.
            Some(_) => exit::FINDINGS,
            None => exit::OK,
        })
    }

    async fn live(&mut self, global: &GlobalArgs, args: &WatchArgs) -> Result<u8, CliError> {
        let (client, cluster) =
            posture_kube::client_from(global.kubeconfig.as_deref(), global.context.as_deref())
                .await
                .map_err(CliError::Client)?;
        tracing::info!(server = %cluster.server, context = %cluster.context, "watching");
        let options = WatchOptions {
            tick_every: Duration::from_millis(args.tick_ms.max(10)),
        };
        let mut watch = posture_kube::watch::start(&client, options)
            .await
            .map_err(CliError::Watch)?;
        let on_terminal = std::io::stdout().is_terminal()
            && args.output == WatchOutput::Human
            && args.until_stable.is_none();
        if on_terminal {
            self.dashboard = Some(Model::new(cluster.server.clone()));
        }
        self.read_owners(&client, &[]).await;
        if on_terminal {
            return self.draw(&mut watch, &client).await;
        }
        loop {
            let update = tokio::select! {
                update = watch.next() => update.map_err(CliError::Watch)?,
                _ = tokio::signal::ctrl_c() => return Ok(exit::OK),
            };
            match update {
                Update::Signals(signals) => {
                    self.read_owners(&client, &signals).await;
                    for signal in &signals {
                        if let Some(code) = self.signal(signal)? {
                            return Ok(code);
                        }
                    }
                }
                Update::Note(note) => anstream::eprintln!("note: {note}"),
                Update::Object { .. } => {}
            }
        }
    }
}

impl Session {
    /// Runs the dashboard until `q` or Ctrl-C; the terminal is restored however it ends.
    async fn draw(
        &mut self,
        watch: &mut SignalWatch,
        client: &kube::Client,
    ) -> Result<u8, CliError> {
        let mut terminal = ratatui::init();
        let (quit_sender, mut quit) = tokio::sync::mpsc::channel::<()>(1);
        // Raw mode turns Ctrl-C into a key, so keys are read on a thread of their own.
        std::thread::spawn(move || {
            use ratatui::crossterm::event::{self, Event, KeyCode, KeyModifiers};
            loop {
                if quit_sender.is_closed() {
                    return;
                }
                if !event::poll(Duration::from_millis(100)).unwrap_or(false) {
                    continue;
                }
                if let Ok(Event::Key(key)) = event::read() {
                    let ctrl_c = key.code == KeyCode::Char('c')
                        && key.modifiers.contains(KeyModifiers::CONTROL);
                    if key.code == KeyCode::Char('q') || ctrl_c {
                        let _ = quit_sender.blocking_send(());
                        return;
                    }
                }
            }
        });
        let result = self
            .draw_until_quit(watch, client, &mut terminal, &mut quit)
            .await;
        ratatui::restore();
        result
    }

    async fn draw_until_quit(
        &mut self,
        watch: &mut SignalWatch,
        client: &kube::Client,
        terminal: &mut ratatui::DefaultTerminal,
        quit: &mut tokio::sync::mpsc::Receiver<()>,
    ) -> Result<u8, CliError> {
        let mut drawn = std::time::Instant::now() - Duration::from_secs(1);
        loop {
            let update = tokio::select! {
                update = watch.next() => update.map_err(CliError::Watch)?,
                _ = quit.recv() => return Ok(exit::OK),
                // A SIGINT sent by another process (raw mode only turns the key into a key).
                _ = tokio::signal::ctrl_c() => return Ok(exit::OK),
            };
            match update {
                Update::Signals(signals) => {
                    self.read_owners(client, &signals).await;
                    for signal in &signals {
                        self.signal(signal)?;
                    }
                }
                Update::Note(note) => {
                    if let Some(model) = &mut self.dashboard {
                        model.note(&note);
                    }
                }
                Update::Object {
                    kind,
                    change,
                    object,
                } => {
                    if let Some(model) = &mut self.dashboard {
                        model.object(kind, change, &object);
                    }
                }
            }
            if drawn.elapsed() >= Duration::from_millis(100)
                && let Some(model) = &self.dashboard
            {
                terminal
                    .draw(|frame| render(model, frame))
                    .map_err(|source| CliError::Write {
                        path: "terminal".into(),
                        source,
                    })?;
                drawn = std::time::Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_detector_offers_counter_moves_that_watch_act_knows() {
        use clap::ValueEnum;
        for detector in posture_core::detect::DetectorKind::ALL {
            assert!(!detector.counter_moves().is_empty(), "{detector}");
            for name in detector.counter_moves() {
                assert!(
                    crate::cli::WatchAction::from_str(name, false).is_ok(),
                    "{detector}: --act {name} is no action"
                );
            }
        }
    }

    #[test]
    fn docs_watch_lists_every_detector_with_its_counter_moves() {
        const DOC: &str = include_str!("../../../../docs/watch.md");
        for detector in posture_core::detect::DetectorKind::ALL {
            let row = DOC
                .lines()
                .find(|l| l.starts_with(&format!("| `{detector}` |")))
                .unwrap_or_else(|| panic!("docs/watch.md has no row for {detector}"));
            let moves = detector.counter_moves().join(", ");
            assert!(
                row.trim_end().ends_with(&format!("| {moves} |")),
                "docs/watch.md: {detector} should list {moves}: {row}"
            );
        }
    }
}
