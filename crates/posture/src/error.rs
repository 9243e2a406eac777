//! Every way the CLI can fail, each with the exit code it documents and a hint for the person.

use std::path::PathBuf;

use posture_kube::{ClientError, CollectError};

/// Exit codes, as `docs/exit-codes.md` and `--help` document them.
pub(crate) mod exit {
    /// Nothing reaches `--fail-on`.
    pub(crate) const OK: u8 = 0;
    /// A finding reaches `--fail-on`.
    pub(crate) const FINDINGS: u8 = 1;
    /// apply/rollback halted: a stage failed, a conflict, the lock is held, a stage declined.
    pub(crate) const HALTED: u8 = 1;
    /// Usage, configuration or input error.
    pub(crate) const USAGE: u8 = 2;
    /// The cluster cannot be reached, or refuses the credentials as a whole.
    pub(crate) const CLUSTER: u8 = 3;
    /// apply/rollback stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
    pub(crate) const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error("cannot read config file {path}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config")]
    Config(#[source] posture_core::policy::PolicyError),
    #[error("cannot read snapshot {path}")]
    ReadSnapshot {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid snapshot")]
    Snapshot(#[source] posture_core::LoadError),
    #[error(transparent)]
    TooDeep(posture_core::nesting::TooDeep),
    #[error("cannot configure a cluster client")]
    Client(#[source] ClientError),
    #[error(transparent)]
    Collect(CollectError),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot write {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Twin(crate::commands::twin::TwinError),
    #[error("cannot watch the cluster")]
    Watch(#[source] posture_kube::watch::WatchError),
    #[error("cannot act")]
    Act(#[source] posture_kube::watch::act::ActError),
    #[error("cannot read recording {path}")]
    ReadRecording {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid recording {path}")]
    Recording {
        path: String,
        #[source]
        source: posture_core::detect::ReplayError,
    },
    #[error("unknown section {0:?} (expected preconditions, ingress, coredns or longhorn)")]
    UnknownSection(String),
    #[error("the snapshot has no kube-system namespace with a uid to identify the cluster by")]
    NoClusterIdentity,
    #[error("cannot plan")]
    Plan(#[source] posture_core::plan::PlanError),
    #[error("cannot read plan file {path}")]
    ReadPlan {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("plan file {path} refused")]
    PlanFile {
        path: PathBuf,
        #[source]
        source: posture_core::plan::PlanFileError,
    },
    #[error("journal error")]
    Journal(#[source] posture_kube::journal::JournalIoError),
    #[error("journal does not fit the plan")]
    JournalPlan(#[source] posture_core::apply::journal::JournalError),
    #[error("cannot undo the `watch --act` journal")]
    ActJournal(#[source] posture_kube::watch::act::journal::ActJournalError),
    #[error("journal {0} already exists")]
    JournalExists(PathBuf),
    #[error("stdin is not a terminal, so posture cannot ask for approval")]
    NeedsApproval,
    #[error("not applied: stdin is not a terminal, so posture cannot ask for approval")]
    ActNeedsApproval,
    #[error("cannot read the answer from stdin")]
    ReadAnswer(#[source] std::io::Error),
    #[error("cannot drill")]
    Drill(#[source] posture_core::drill::DrillError),
    #[error("the API server's dry-run drain failed")]
    ServerDrill(#[source] posture_kube::drill::DrillError),
    #[error("no drill of {node}: {why}")]
    DrillRefused { node: String, why: String },
    #[error("the drill could not run")]
    DrillRun(#[source] Box<posture_kube::drill::DrillRunError>),
    #[error(transparent)]
    Engine(posture_kube::apply::EngineError),
    #[error("not applied")]
    Pause(#[source] posture_kube::apply::pause::PauseError),
    #[error("cannot notify")]
    Notify(#[source] posture_kube::notify::NotifyError),
    #[error("cannot serve metrics on {addr}")]
    Metrics {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("no HA route")]
    Ha(#[source] posture_core::ha::HaError),
    #[error("cannot read host root {path}")]
    HostRoot {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no HostFacts document")]
    NoHostFacts { path: String },
    #[error("cannot serialize the {what}")]
    Serialize {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl CliError {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Twin(e) => e.exit_code(),
            Self::Collect(_)
            | Self::Watch(_)
            | Self::Act(_)
            | Self::Engine(_)
            | Self::Pause(_)
            | Self::ServerDrill(_)
            | Self::DrillRun(_) => exit::CLUSTER,
            _ => exit::USAGE,
        }
    }

    /// What the person can do about it.
    pub(crate) fn hint(&self) -> String {
        // Whatever was being done, a request that timed out or was throttled says so first.
        if !matches!(self, Self::Collect(_)) {
            if posture_kube::deadline::timed_out(self).is_some() {
                return Self::Collect(CollectError::TimedOut {
                    server: String::new(),
                    context: String::new(),
                    timeout: std::time::Duration::ZERO,
                })
                .hint();
            }
            if throttled(self) {
                return Self::Collect(CollectError::Throttled {
                    server: String::new(),
                    context: String::new(),
                    retry_after: None,
                })
                .hint();
            }
        }
        match self {
            Self::ReadConfig { path, .. } => {
                format!("check the path given to --config ({})", path.display())
            }
            Self::Config(_) => "fix the field named above; `posture.yaml` keys are camelCase and unknown keys are rejected".into(),
            Self::ReadSnapshot { .. } => "check the path given to --snapshot (`-` reads stdin)".into(),
            Self::TooDeep(_) => "no snapshot, policy or scenario nests this deep: the file is damaged or not one posture reads".into(),
            Self::Snapshot(_) => "fix the document at the position named above, or save a fresh one with `posture snapshot -o FILE`".into(),
            Self::Client(_) => "check --kubeconfig, KUBECONFIG and --context; `kubectl config get-contexts` lists the contexts".into(),
            Self::Collect(CollectError::Unreachable { .. }) => {
                "is the API server up and the address right? `kubectl cluster-info` uses the same kubeconfig".into()
            }
            Self::Collect(CollectError::Unauthorized { .. }) => {
                "the credentials are expired or wrong; refresh the kubeconfig and retry".into()
            }
            Self::Collect(CollectError::Forbidden { .. }) => {
                "posture needs get/list on the resources it checks; `kubectl auth can-i list pods -A` shows what is allowed".into()
            }
            Self::Collect(CollectError::TimedOut { .. }) => {
                "the server accepted the connection but did not answer: is it overloaded, or a proxy in the way? --request-timeout gives a slow link longer".into()
            }
            Self::Collect(CollectError::Throttled { .. }) => {
                "the API server is overloaded or its priority and fairness limits hold these requests back; retry later (`kubectl get flowschemas` shows the limits)".into()
            }
            Self::Collect(CollectError::NothingRead { .. }) => {
                "the API server answered every request with an error; `kubectl get --raw '/readyz?verbose'` shows its health".into()
            }
            Self::Watch(_) => "is the API server up and the address right? `kubectl get --raw /readyz` uses the same kubeconfig".into(),
            Self::Act(_) => "nothing was applied unless the journal says so; `posture rollback --journal FILE` undoes what it records".into(),
            Self::ReadRecording { .. } => "check the path given to --replay".into(),
            Self::Recording { .. } => "the file is not a `posture watch --record` recording, or it was cut at the line named above".into(),
            Self::Runtime(_) => "the system is short of resources; retry".into(),
            Self::Write { .. } => "check that the directory exists and is writable".into(),
            Self::Twin(e) => e.hint(),
            Self::UnknownSection(_) => "--section takes preconditions, ingress, coredns, longhorn (comma-separated)".into(),
            Self::NoClusterIdentity => "collect a fresh snapshot with `posture snapshot`; it must include the kube-system Namespace".into(),
            Self::Plan(_) => "this is a bug in posture; please report it with the snapshot".into(),
            Self::ReadPlan { .. } => "check the plan file's path".into(),
            Self::PlanFile { .. } => "make a fresh plan with `posture plan -o FILE`; a plan file must not be edited".into(),
            Self::Journal(_) => "check the journal path; a journal in use belongs to a running posture".into(),
            Self::JournalPlan(_) => "use the plan file the journal was written for (--plan)".into(),
            Self::ActJournal(_) => "the journal was edited or damaged; undo what it records by hand (each record names the object and its inverse patch)".into(),
            Self::JournalExists(_) => "continue it with --resume, undo it with `posture rollback`, or pass another --journal".into(),
            Self::NeedsApproval => "review the plan (`posture plan`) and pass --approve to apply it without asking".into(),
            Self::ActNeedsApproval => "review the dry run above and pass --approve to apply it without asking".into(),
            Self::ReadAnswer(_) => "answer y or n on the terminal, or pass --approve to apply without asking".into(),
            Self::Drill(_) => "name a node the cluster has: `kubectl get nodes` lists them".into(),
            Self::ServerDrill(_) => "--no-server-dry-run judges from the cluster's objects alone; the dry run needs `patch` on nodes and `create` on pods/eviction".into(),
            Self::DrillRefused { .. } => "`posture drill NODE` without --node-loss or --drain shows why, with the evidence".into(),
            Self::DrillRun(_) => "nothing was taken away if the lock or the first read failed; otherwise `posture rollback --journal FILE` undoes the drill's writes and `posture twin fault start-node NODE` starts a twin's node".into(),
            Self::Engine(_) => "is the API server up and the address right? `kubectl cluster-info` uses the same kubeconfig".into(),
            Self::Notify(_) => "--notify takes the webhook's URL, e.g. http://receiver:8080/hook or https://ntfy.sh/TOPIC".into(),
            Self::Metrics { .. } => "pick a free address with --metrics 127.0.0.1:0 (the address bound is printed)".into(),
            Self::Pause(posture_kube::apply::pause::PauseError::Read { .. }) => "--pause lists Argo CD Applications, Flux Kustomizations and HelmReleases, HPAs and KEDA ScaledObjects: grant `list` on them (docs/install.md), or apply without --pause".into(),
            Self::Pause(_) => "nothing of the plan was written; `posture rollback --journal FILE.pause` undoes a pause that is still in place".into(),
            Self::Ha(posture_core::ha::HaError::NoThirdServer { .. }) => "`posture plan --ha --third-server NAME` names the machine you will add (or an existing node)".into(),
            Self::Ha(_) => "`posture check` shows the control plane's evidence; docs/k3s.md says what each route needs".into(),
            Self::HostRoot { .. } => "--root names the directory to read as the host's `/` (default `/`)".into(),
            Self::NoHostFacts { .. } => "--host-facts takes what `posture host` printed on a server (`posture host > FILE`)".into(),
            Self::Serialize { .. } => "this is a bug in posture; please report it with the input that caused it".into(),
        }
    }

    /// The message and its causes on one line, outermost first; an answer of the API server as
    /// `<code> <reason>: <message>`.
    pub(crate) fn one_line(&self) -> String {
        posture_kube::message::one_line(self)
    }
}

/// Whether a request in `error`'s chain was answered 429 Too Many Requests.
fn throttled(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    for _ in 0..32 {
        let Some(error) = current else { break };
        if let Some(kube::Error::Api(status)) = error.downcast_ref::<kube::Error>()
            && status.code == 429
        {
            return true;
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_joined_on_one_line() {
        let err = CliError::ReadSnapshot {
            path: "x.yaml".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        };
        assert_eq!(err.one_line(), "cannot read snapshot x.yaml: no such file");
        assert_eq!(err.exit_code(), exit::USAGE);
    }

    #[test]
    fn api_answers_are_one_line_without_debug_text() {
        let status =
            kube::core::Status::failure("namespaces \"kube-system\" is forbidden", "Forbidden")
                .with_code(403);
        let err = CliError::Watch(posture_kube::watch::WatchError::Unreachable(
            kube::Error::Api(status.boxed()),
        ));
        let line = err.one_line();
        assert!(
            line.ends_with(": 403 Forbidden: namespaces \"kube-system\" is forbidden"),
            "{line}"
        );
        assert!(
            !line.contains("Status {") && !line.contains("ApiError"),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn a_timeout_anywhere_is_hinted_as_one() {
        let timed_out = kube::Error::Service(Box::new(posture_kube::deadline::TimedOut {
            timeout: std::time::Duration::from_secs(3),
        }));
        let err = CliError::Watch(posture_kube::watch::WatchError::Unreachable(timed_out));
        assert!(
            err.one_line()
                .ends_with("no answer within the request timeout of 3s"),
            "{}",
            err.one_line()
        );
        assert!(err.hint().contains("--request-timeout"), "{}", err.hint());
    }

    #[test]
    fn collection_failures_are_cluster_errors() {
        let err = CliError::Collect(CollectError::Forbidden {
            server: "https://k".into(),
            context: "lab".into(),
        });
        assert_eq!(err.exit_code(), exit::CLUSTER);
        assert!(err.one_line().contains("https://k"));
    }
}
