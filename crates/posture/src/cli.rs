//! Command-line types. Subcommands grow here; each variant's arguments live next to it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use posture_core::Severity;

const AFTER_HELP: &str = "\
Exit codes:
  0  nothing reaches --fail-on
  1  a finding reaches --fail-on (or a check is unknown, with --fail-on unknown)
  2  usage, configuration or input error
  3  cluster unreachable, or credentials rejected for the whole cluster";

/// Make a two-node k3s + Longhorn cluster survive the loss of one node, safely.
#[derive(Debug, Parser)]
#[command(name = "posture", version, about, after_help = AFTER_HELP, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every subcommand accepts, spelled as kubectl spells them.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) context: Option<String>,
    /// Policy file overriding the runbook's targets.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// How long to wait for the API server to answer one request (e.g. 10s, 2m; a bare number
    /// is seconds). Throttled requests are retried within a budget of their own.
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = parse_request_timeout)]
    pub(crate) request_timeout: std::time::Duration,
    /// Log what posture does to stderr (-v, -vv, -vvv for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// The subcommands. A new one is a variant here, a module in `commands/`, and an arm in
/// `commands::run`.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check the cluster (or a saved snapshot) against the runbook.
    #[command(after_help = AFTER_HELP)]
    Check(CheckArgs),
    /// Save everything `check` reads as one multi-document YAML file.
    #[command(after_help = AFTER_HELP)]
    Snapshot(SnapshotArgs),
    /// Plan the runbook's changes as a diff and a plan file.
    #[command(after_help = PLAN_AFTER_HELP)]
    Plan(PlanArgs),
    /// Apply a plan file stage by stage, journaled, under the cluster lock.
    #[command(after_help = APPLY_AFTER_HELP)]
    Apply(ApplyArgs),
    /// Undo what an apply journal records, newest first, never overwriting others' edits.
    #[command(after_help = APPLY_AFTER_HELP)]
    Rollback(RollbackArgs),
    /// Print a saved plan file as `posture plan` printed it (its hash is verified first).
    Show(ShowArgs),
    /// Serve, fault and generate simulated clusters (the twin) to try posture without a cluster.
    Twin(crate::commands::twin::TwinArgs),
    /// Walk through the whole runbook on a simulated cluster, in about ten seconds.
    #[command(long_about = crate::commands::demo::LONG_ABOUT)]
    Demo(crate::commands::demo::DemoArgs),
    /// Watch the cluster for the runbook's flapping risks and report alerts as they rise and clear.
    #[command(after_help = WATCH_AFTER_HELP)]
    Watch(WatchArgs),
    /// Say what losing one node would do before anyone drains it: where its pods would go, which
    /// Services and volumes suffer, what blocks a drain, and the API server's own dry-run answer.
    /// Read only.
    #[command(after_help = DRILL_AFTER_HELP)]
    Drill(DrillArgs),
    /// Read this k3s host's own files (config, service, datastore, packaged addons): the host
    /// half of runbook 2.1, for `check --host-facts`. Read only; secrets are never printed.
    Host(HostArgs),
    /// Run the checks in the cluster: instances elect a leader on a Lease, and the leader
    /// checks every --interval and keeps a PostureReport (status conditions per section).
    /// Read-only; serves /metrics, /healthz and /readyz.
    Operator(OperatorArgs),
    /// Print the PostureReport CustomResourceDefinition the operator writes to (YAML).
    Crd,
    /// Print a shell completion script (`posture completions bash > /etc/bash_completion.d/posture`).
    Completions(CompletionsArgs),
    /// Print posture's man page (roff), or write one page per command with --dir.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub(crate) struct OperatorArgs {
    /// How often the leader checks the cluster.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    pub(crate) interval: jiff::SignedDuration,
    /// After a change the watch sees (a pod placed or gone, a node's readiness, endpoints,
    /// Longhorn), check again once the cluster has been quiet this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub(crate) debounce: jiff::SignedDuration,
    /// Namespace of the Lease and the PostureReport (default: the pod's own, else kube-system).
    #[arg(long, value_name = "NAME", env = "POD_NAMESPACE")]
    pub(crate) namespace: Option<String>,
    /// The Lease the instances elect a leader on.
    #[arg(long, value_name = "NAME", default_value = "posture-operator")]
    pub(crate) lease: String,
    /// How long a leader's record must go unrenewed before another instance takes over.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "15s")]
    pub(crate) lease_duration: jiff::SignedDuration,
    /// This instance's name in the Lease (default: the pod's name, else host and pid).
    #[arg(long, value_name = "NAME", env = "POD_NAME")]
    pub(crate) identity: Option<String>,
    /// The PostureReport's name.
    #[arg(long, value_name = "NAME", default_value = "cluster")]
    pub(crate) report: String,
    /// Serve /metrics, /healthz and /readyz on ADDR (port 0 picks one; the address is printed).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:9464")]
    pub(crate) metrics: std::net::SocketAddr,
    /// Check once, write the report and exit, without an election or a metrics server: for a
    /// CronJob (exit 1 when the check could not run).
    #[arg(long)]
    pub(crate) once: bool,
    /// After each check, apply the runbook's changes of these sections (`preconditions`,
    /// `ingress`, `coredns`, `longhorn`) through the apply engine: never a stage the runbook
    /// marks APPROVAL REQUIRED, never an owned object live. Needs the write Role in deploy/.
    #[arg(long, value_name = "SECTION", value_delimiter = ',', value_parser = parse_plan_section)]
    pub(crate) enforce: Vec<posture_core::report::Section>,
    /// Where --enforce keeps each run's journal (a writable volume in a pod).
    #[arg(long, value_name = "DIR", default_value = "/tmp/posture")]
    pub(crate) journal_dir: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write `posture.1` and a `posture-COMMAND.1` for each command into this directory instead
    /// of printing `posture.1`.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The plan file `posture plan -o` wrote.
    #[arg(value_name = "PLAN")]
    pub(crate) plan: PathBuf,
    /// Also read the cluster and say, for each change delivered through its owner (Argo CD,
    /// Flux, Helm, k3s), whether it has arrived or what is still waiting.
    #[arg(long)]
    pub(crate) live: bool,
}

/// `--lock-timeout` as the engine takes it (none: do not wait).
pub(crate) fn lock_wait(timeout: Option<jiff::SignedDuration>) -> std::time::Duration {
    timeout
        .and_then(|t| std::time::Duration::try_from(t).ok())
        .unwrap_or_default()
}

#[derive(Debug, Args)]
pub(crate) struct HostArgs {
    /// The directory to read as the host's `/` (a copy of a server's files, or a test tree).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub(crate) root: PathBuf,
    /// Output format: a `HostFacts` document either way.
    #[arg(short, long, value_enum, default_value_t = HostFormat::Yaml)]
    pub(crate) output: HostFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HostFormat {
    Yaml,
    Json,
}

const DRILL_AFTER_HELP: &str = "\
Exit codes:
  0  safe, or safe-degraded (what degrades is listed); with --node-loss or --drain: the drill
     passed and the cluster is back as it was
  1  unsafe: a blocker (listed with its evidence) would take something down or hold a drain;
     with --node-loss or --drain: a criterion was breached (the drill aborted and restored), or
     the restore gate did not hold in time
  2  usage, configuration or input error; a node the cluster does not have; a drill refused
     (unsafe what-if, the control-plane node, no approval)
  3  cluster unreachable, or the cluster lock is held";

#[derive(Debug, Args)]
pub(crate) struct DrillArgs {
    /// The node to lose.
    pub(crate) node: String,
    /// Judge a saved snapshot instead of the live cluster (`-` reads stdin); the API server is
    /// then not asked.
    #[arg(long, value_name = "FILE")]
    pub(crate) snapshot: Option<PathBuf>,
    /// Do not ask the API server for a dry-run drain (cordon and evictions with dryRun=All).
    #[arg(long)]
    pub(crate) no_server_dry_run: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Human)]
    pub(crate) output: OutputFormat,
    /// Run the drill: the node goes away (the twin stops it; on a real cluster posture tells you
    /// when to power it off or stop its k3s agent, and waits for NotReady).
    #[arg(long, conflicts_with_all = ["drain", "snapshot"])]
    pub(crate) node_loss: bool,
    /// Run the drill: evict the node's pods as `kubectl drain --ignore-daemonsets` would, with
    /// the node cordoned and tainted posture.dev/drill:NoSchedule for the drill's duration.
    #[arg(long, conflicts_with = "snapshot")]
    pub(crate) drain: bool,
    /// Run the drill without asking.
    #[arg(long)]
    pub(crate) approve: bool,
    /// How long to observe with the node gone (cluster time).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub(crate) window: jiff::SignedDuration,
    /// How long the cluster must stay quiet, and as it was, before the drill counts as restored.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    pub(crate) settle: jiff::SignedDuration,
    /// How long to wait for the restore gate before giving up.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30m")]
    pub(crate) restore_within: jiff::SignedDuration,
    /// Where the drill journals its own writes (default: drill-NODE.journal).
    #[arg(long, value_name = "FILE")]
    pub(crate) journal: Option<PathBuf>,
    /// During the window, every 15 s, a one-shot pod on the surviving node resolves the
    /// ingress controller's Service through cluster DNS and fetches from it; two failures in a
    /// row breach dns-and-ingress-serve. Needs `create` and `delete` on pods in `default`.
    #[arg(long)]
    pub(crate) probe: bool,
    /// Pin the HPAs and pause the KEDA ScaledObjects of the workloads on the node for the
    /// drill, so its counts do not move under it; journaled (the journal + `.pause`) and
    /// restored when the drill ends.
    #[arg(long)]
    pub(crate) pause: bool,
    /// Also write the drill's report as Markdown.
    #[arg(long, value_name = "FILE")]
    pub(crate) report: Option<PathBuf>,
    /// Also write the drill's report as one self-contained HTML file.
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
}

impl DrillArgs {
    /// The observed drill asked for, if any.
    pub(crate) fn kind(&self) -> Option<posture_core::drill::observed::DrillKind> {
        use posture_core::drill::observed::DrillKind;
        if self.node_loss {
            Some(DrillKind::NodeLoss)
        } else if self.drain {
            Some(DrillKind::Drain)
        } else {
            None
        }
    }
}

const WATCH_AFTER_HELP: &str = "\
Exit codes:
  0  stopped, or --until-stable: no alert for the whole duration
  1  --until-stable: an alert was raised first; --act argo-rollback: listing Applications is
     forbidden
  2  usage, configuration or input error; --act without --approve when stdin is not a terminal
  3  cluster unreachable";

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Exit 0 once the cluster has been free of alerts this long (cluster time, e.g. 5m), or 1
    /// if an alert is raised first.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) until_stable: Option<jiff::SignedDuration>,
    /// Output format: log lines for people, or one JSON alert per line (with --act
    /// argo-rollback or snapshot-restore: the report as one JSON document).
    #[arg(short, long, value_enum, default_value_t = WatchOutput::Human)]
    pub(crate) output: WatchOutput,
    /// Append every signal to FILE, for `--replay`.
    #[arg(long, value_name = "FILE")]
    pub(crate) record: Option<PathBuf>,
    /// Run the detectors over a recording instead of a cluster.
    #[arg(long, value_name = "FILE", conflicts_with = "record")]
    pub(crate) replay: Option<PathBuf>,
    /// Act on a storm instead of watching: dry-run the change, then apply it with approval.
    #[arg(long, value_enum, value_name = "ACTION", conflicts_with_all = ["replay", "until_stable", "record"])]
    pub(crate) act: Option<WatchAction>,
    /// Apply the --act change without asking.
    #[arg(long, requires = "act")]
    pub(crate) approve: bool,
    /// Journal for --act changes (same format as apply; `posture rollback --journal` undoes them).
    #[arg(long, value_name = "FILE", default_value = "posture-watch.journal")]
    pub(crate) journal: PathBuf,
    /// Milliseconds between ticks (each reads the cluster's time).
    #[arg(long, default_value_t = 1000, hide = true)]
    pub(crate) tick_ms: u64,
    /// Serve Prometheus metrics (active alerts by detector, alerts raised and cleared, signals,
    /// notifications) on ADDR (`127.0.0.1:9464`; port 0 picks one), with /healthz and /readyz.
    #[arg(long, value_name = "ADDR", conflicts_with = "act")]
    pub(crate) metrics: Option<std::net::SocketAddr>,
    /// Post each raised and cleared alert to this webhook (Alertmanager's webhook format, with a
    /// `text` line for Slack-style hooks), retried, from a task of its own so a receiver that
    /// is down never holds up detection.
    #[arg(long, value_name = "URL", conflicts_with = "act")]
    pub(crate) notify: Option<http::Uri>,
    /// The body to post instead: {status} {id} {detector} {subject} {severity} {message} {at}
    /// {text} are replaced, escaped as the inside of a JSON string (e.g. '{"text":"{text}"}').
    #[arg(long, value_name = "TEMPLATE", requires = "notify")]
    pub(crate) notify_template: Option<String>,
    /// How long one delivery attempt may take (three are made per alert).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s", requires = "notify")]
    pub(crate) notify_timeout: jiff::SignedDuration,
}

/// The runbook's "Act" for a storm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum WatchAction {
    /// Cordon the secondary node again (the topology comes from a live collect).
    #[value(alias = "recordon-secondary")]
    CordonSecondary,
    /// Pin workloads with storage and no placement of their own to the primary.
    PinToPrimary,
    /// Set Longhorn's concurrent-replica-rebuild-per-node-limit to 0.
    StopRebuilds,
    /// Set Longhorn's replica-auto-balance to disabled.
    DisableAutoBalance,
    /// Show the Argo CD Applications owning the workloads, their history, and the exact
    /// `argocd app rollback` commands (printed, never run).
    ArgoRollback,
    /// Show the Longhorn volumes involved, their users, snapshots and backups, and the exact
    /// revert steps (printed, never run).
    SnapshotRestore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum WatchOutput {
    Human,
    Json,
}

const PLAN_AFTER_HELP: &str = "\
Exit codes:
  0  plan written (an empty plan means the cluster already meets the runbook)
  2  usage, configuration or input error
  3  cluster unreachable, or credentials rejected for the whole cluster";

const APPLY_AFTER_HELP: &str = "\
Exit codes:
  0  applied (or rolled back) completely
  1  halted: a stage failed or timed out and was rolled back, a conflict, the lock is held,
     or a stage was declined
  2  usage, plan or journal file error (tampered plan, another cluster, non-TTY without --approve)
  3  cluster unreachable";

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// Plan from a saved snapshot instead of the live cluster (`-` reads stdin).
    #[arg(long, value_name = "FILE")]
    pub(crate) snapshot: Option<PathBuf>,
    /// Sections to plan (default: all).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "preconditions,ingress,coredns,longhorn"
    )]
    pub(crate) section: Vec<String>,
    /// Write the plan file here (owned objects' source files go beside it).
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Patch objects that Argo CD, Flux, Helm or k3s own live anyway.
    #[arg(long)]
    pub(crate) allow_owned: bool,
    /// Run the ingress controller as a DaemonSet instead of a spread Deployment.
    #[arg(long)]
    pub(crate) ingress_daemonset: bool,
    /// What `posture host` read on each server: a k3s addon whose manifest every server skips
    /// (`coredns.yaml.skip`) is then changed live without --allow-owned. Repeat for each server.
    #[arg(long, value_name = "FILE")]
    pub(crate) host_facts: Vec<PathBuf>,
    /// Write the route to three embedded-etcd servers instead (runbook 2.1, "migrate to HA
    /// later"): every step manual, with its checks and rollback. Nothing is applied.
    #[arg(long, conflicts_with_all = ["section", "allow_owned", "ingress_daemonset"])]
    pub(crate) ha: bool,
    /// With --ha: the third server, a node of the cluster or the name of a machine to add.
    #[arg(long, value_name = "NAME", requires = "ha")]
    pub(crate) third_server: Option<String>,
    /// With --ha: Markdown to read, or JSON for tools.
    #[arg(long, value_enum, default_value_t = HaFormat::Markdown, requires = "ha")]
    pub(crate) format: HaFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HaFormat {
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// The plan file `posture plan -o` wrote.
    #[arg(value_name = "PLAN")]
    pub(crate) plan: PathBuf,
    /// Approve every stage up front (required when stdin is not a terminal).
    #[arg(long)]
    pub(crate) approve: bool,
    /// Stop after the Nth stage (1-based); `--resume` continues.
    #[arg(long, value_name = "N")]
    pub(crate) stage: Option<usize>,
    /// Continue an apply that stopped, from its journal.
    #[arg(long)]
    pub(crate) resume: bool,
    /// Journal file (default: the plan file's path + `.journal`).
    #[arg(long, value_name = "FILE")]
    pub(crate) journal: Option<PathBuf>,
    /// Leave a failed stage's changes in place instead of rolling them back.
    #[arg(long)]
    pub(crate) no_rollback_on_failure: bool,
    /// For this run, pause what would fight it: Argo CD automated sync and Flux reconciliation of the
    /// objects the plan changes, and their HPAs and KEDA ScaledObjects. Journaled (the journal +
    /// `.pause`) and restored when the run ends, halts or is rolled back.
    #[arg(long)]
    pub(crate) pause: bool,
    /// Take over a cluster lock whose holder stopped renewing it.
    #[arg(long)]
    pub(crate) break_lock: bool,
    /// Wait this long for a cluster lock another run holds (`5m`, `90s`) instead of stopping
    /// at once.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) lock_timeout: Option<jiff::SignedDuration>,
    /// Minutes to wait for one change's post-condition (1 to 1440).
    #[arg(
        long = "timeout",
        value_name = "MINUTES",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_MINUTES)
    )]
    pub(crate) timeout_minutes: u64,
}

/// A day: longer than any rollout or rebuild should take, and far from overflowing when
/// turned into seconds.
pub(crate) const MAX_TIMEOUT_MINUTES: u64 = 24 * 60;

#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// Journal of the apply to undo (default: plan.json.journal).
    #[arg(long, value_name = "FILE")]
    pub(crate) journal: Option<PathBuf>,
    /// The plan the journal was written for (default: the journal's path without `.journal`;
    /// a `watch --act` journal needs none).
    #[arg(long, value_name = "FILE")]
    pub(crate) plan: Option<PathBuf>,
    /// Do not ask (required when stdin is not a terminal).
    #[arg(long)]
    pub(crate) approve: bool,
    /// Take over a cluster lock whose holder stopped renewing it.
    #[arg(long)]
    pub(crate) break_lock: bool,
    /// Wait this long for a cluster lock another run holds (`5m`, `90s`) instead of stopping
    /// at once.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) lock_timeout: Option<jiff::SignedDuration>,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Check a saved snapshot instead of the live cluster (`-` reads stdin).
    #[arg(long, value_name = "FILE")]
    pub(crate) snapshot: Option<PathBuf>,
    /// Output format: `junit` (one test case per check) and `sarif` (SARIF 2.1.0, one result
    /// per finding) are for CI; a failure in them is what `--fail-on` fails on.
    #[arg(short, long, value_enum, default_value_t = CheckFormat::Human)]
    pub(crate) output: CheckFormat,
    /// Also write the report as one self-contained HTML page: where pods and Longhorn replicas
    /// sit on each node, and the findings by section with their evidence.
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// Lowest finding severity that makes the exit code 1; `unknown` also fails on any check
    /// that could not be judged (comma-separated, e.g. `warning,unknown`).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "error",
        value_name = "SEVERITY"
    )]
    pub(crate) fail_on: Vec<FailOn>,
    /// What `posture host` read on a server; the datastore and addon checks then rest on the
    /// host's files. Repeat for each server.
    #[arg(long, value_name = "FILE")]
    pub(crate) host_facts: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct SnapshotArgs {
    /// File to write (`-` for stdout).
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// Save what `posture host` read on a server with the snapshot. Repeat for each server.
    #[arg(long, value_name = "FILE")]
    pub(crate) host_facts: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Human,
    Json,
    Yaml,
}

/// `check`'s output formats: the report's own, and the ones CI systems read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CheckFormat {
    Human,
    Json,
    Yaml,
    Junit,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FailOn {
    Info,
    Warning,
    Error,
    Never,
    /// A check that could not be judged fails the run too.
    Unknown,
}

/// What makes `check` exit 1: findings from a severity up, and unknown checks if asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FailPolicy {
    pub(crate) severity: FailOn,
    pub(crate) unknown: bool,
}

impl FailPolicy {
    /// The lowest severity given (`error` when only `unknown` is, nothing with `never`), and
    /// whether `unknown` is among them.
    pub(crate) fn from_args(values: &[FailOn]) -> Self {
        let severity = [FailOn::Info, FailOn::Warning, FailOn::Error]
            .into_iter()
            .find(|s| values.contains(s))
            .unwrap_or(if values.contains(&FailOn::Never) {
                FailOn::Never
            } else {
                FailOn::Error
            });
        Self {
            severity,
            unknown: values.contains(&FailOn::Unknown),
        }
    }
}

impl FailOn {
    /// Whether a finding of `severity` should fail the run.
    pub(crate) fn is_reached_by(self, severity: Severity) -> bool {
        let threshold = match self {
            Self::Info => Severity::Info,
            Self::Warning => Severity::Warning,
            Self::Error => Severity::Error,
            Self::Never | Self::Unknown => return false,
        };
        severity >= threshold
    }
}

/// `500ms`, `30s`, `2m`, `1h`, or a bare number of seconds, as kubectl's `--request-timeout`;
/// zero (kubectl's "no timeout") is refused, since a request without a deadline can hang forever.
pub(crate) fn parse_request_timeout(text: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("expected a duration such as 30s, 2m or 500ms, got {text:?}"))?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("unknown unit {unit:?}: use ms, s, m or h")),
    };
    if seconds <= 0.0 {
        return Err("must be more than zero: a request without a deadline can hang forever".into());
    }
    if seconds > 86_400.0 {
        return Err("must be at most 24h".into());
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses `--until-stable` (`5m`, `90s`, `1h30m`, or ISO 8601).
pub(crate) fn parse_duration(text: &str) -> Result<jiff::SignedDuration, String> {
    let duration: jiff::SignedDuration = text
        .parse()
        .map_err(|e| format!("not a duration like 5m or 90s: {e}"))?;
    if duration.is_negative() || duration.is_zero() {
        return Err("must be positive".into());
    }
    Ok(duration)
}

/// `NAMESPACE/NAME`, as kubectl names a namespaced object: a bare name would leave the twin to
/// guess the namespace.
pub(crate) fn parse_namespaced_name(value: &str) -> Result<(String, String), String> {
    match value.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_owned(), name.to_owned()))
        }
        _ => Err(format!("expected NAMESPACE/NAME, got {value:?}")),
    }
}

/// Only the failures the twin can inject: a broken server (500) or a throttling one (429).
pub(crate) fn parse_error_status(value: &str) -> Result<u16, String> {
    match value {
        "500" => Ok(500),
        "429" => Ok(429),
        _ => Err(format!("expected 500 or 429, got {value:?}")),
    }
}

/// A share of requests to fault; anything outside 0.0 to 1.0 is a typo, not a probability.
pub(crate) fn parse_rate(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "expected a share between 0.0 and 1.0, got {value:?}"
        )),
    }
}

/// One plan section by the name `--section` takes.
fn parse_plan_section(value: &str) -> Result<posture_core::report::Section, String> {
    posture_core::plan::parse_section(value).ok_or_else(|| {
        format!("expected one of preconditions, ingress, coredns, longhorn; got {value:?}")
    })
}

/// The name to show in usage lines: `kubectl posture` when installed as a kubectl plugin.
pub(crate) fn bin_name(argv0: Option<&std::ffi::OsStr>) -> String {
    let stem = argv0
        .and_then(|a| std::path::Path::new(a).file_stem())
        .and_then(|s| s.to_str())
        .unwrap_or("posture");
    match stem.strip_prefix("kubectl-") {
        Some(plugin) => format!("kubectl {plugin}"),
        None => stem.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn fail_on_thresholds() {
        assert!(FailOn::Error.is_reached_by(Severity::Error));
        assert!(!FailOn::Error.is_reached_by(Severity::Warning));
        assert!(FailOn::Warning.is_reached_by(Severity::Error));
        assert!(FailOn::Info.is_reached_by(Severity::Info));
        assert!(!FailOn::Never.is_reached_by(Severity::Error));
    }

    #[test]
    fn unknown_adds_to_the_severity_given() {
        let policy = |v: &[FailOn]| FailPolicy::from_args(v);
        assert_eq!(
            policy(&[FailOn::Unknown]),
            FailPolicy {
                severity: FailOn::Error,
                unknown: true
            }
        );
        assert_eq!(
            policy(&[FailOn::Warning, FailOn::Unknown]).severity,
            FailOn::Warning
        );
        assert_eq!(
            policy(&[FailOn::Never, FailOn::Unknown]).severity,
            FailOn::Never
        );
        assert!(!policy(&[FailOn::Error]).unknown);
    }

    #[test]
    fn request_timeouts_are_read_as_kubectl_reads_them() {
        use std::time::Duration;
        assert_eq!(parse_request_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_request_timeout("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_request_timeout("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(
            parse_request_timeout("500ms"),
            Ok(Duration::from_millis(500))
        );
        assert!(parse_request_timeout("0").is_err());
        assert!(parse_request_timeout("1y").is_err());
        assert!(parse_request_timeout("99999h").is_err());
        assert!(parse_request_timeout("soon").is_err());
    }

    #[test]
    fn durations_read_like_people_write_them() {
        use jiff::SignedDuration;
        assert_eq!(parse_duration("5m"), Ok(SignedDuration::from_mins(5)));
        assert_eq!(parse_duration("90s"), Ok(SignedDuration::from_secs(90)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn namespaced_names_need_both_halves() {
        assert_eq!(
            parse_namespaced_name("db/pg-0"),
            Ok(("db".into(), "pg-0".into()))
        );
        assert!(parse_namespaced_name("pg-0").is_err());
        assert!(parse_namespaced_name("/pg-0").is_err());
        assert!(parse_namespaced_name("a/b/c").is_err());
    }

    #[test]
    fn apply_timeouts_that_would_overflow_are_refused() {
        let parse = |minutes: &str| {
            Cli::try_parse_from(["posture", "apply", "plan.json", "--timeout", minutes])
        };
        assert!(parse("30").is_ok());
        assert!(parse("1440").is_ok());
        for refused in ["0", "1441", "307445734561825861", "18446744073709551615"] {
            let err = parse(refused).expect_err(refused);
            assert!(err.to_string().contains("--timeout"), "{err}");
        }
    }

    #[test]
    fn the_old_spelling_of_cordon_secondary_still_parses_but_is_not_offered() {
        use clap::ValueEnum;
        let act = |name: &str| WatchAction::from_str(name, false);
        assert_eq!(act("cordon-secondary"), Ok(WatchAction::CordonSecondary));
        assert_eq!(act("recordon-secondary"), Ok(WatchAction::CordonSecondary));
        let mut cmd = <Cli as clap::CommandFactory>::command();
        let help = cmd
            .find_subcommand_mut("watch")
            .expect("watch")
            .render_long_help()
            .to_string();
        assert!(help.contains("cordon-secondary"), "{help}");
        assert!(!help.contains("recordon"), "{help}");
    }

    #[test]
    fn plugin_installs_show_as_kubectl_subcommands() {
        let name = |s: &str| bin_name(Some(std::ffi::OsStr::new(s)));
        assert_eq!(name("/usr/local/bin/kubectl-posture"), "kubectl posture");
        assert_eq!(name("target/debug/posture"), "posture");
        assert_eq!(bin_name(None), "posture");
    }
}
