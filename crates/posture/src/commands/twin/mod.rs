//! `posture twin ...`: serve a simulated cluster, fault it, move its clock, or generate a large
//! scenario for benchmarks.

mod control;
mod generate;
mod serve;

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::GlobalArgs;
use crate::error::{CliError, exit};

pub(crate) use control::FaultCommand;

#[derive(Debug, Args)]
pub(crate) struct TwinArgs {
    #[command(subcommand)]
    pub(crate) command: TwinCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TwinCommand {
    /// Serve a simulated k3s cluster on loopback until Ctrl-C; kubectl and posture can use it.
    Serve(ServeArgs),
    /// Inject a fault into a served twin (found from the kubeconfig's server URL).
    Fault {
        #[command(subcommand)]
        fault: FaultCommand,
    },
    /// Move a served twin's virtual clock forward.
    Advance {
        /// Virtual seconds to let pass; controllers act at every second.
        seconds: f64,
    },
    /// Write a large scenario (nodes, Deployments, Longhorn volumes) for benchmarks.
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Multi-document YAML scenario to load (`-` reads stdin; default: the runbook's homelab
    /// cluster, embedded).
    #[arg(long, value_name = "FILE")]
    pub(crate) scenario: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port. Only loopback unless --allow-remote.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "IP:PORT")]
    pub(crate) addr: std::net::SocketAddr,
    /// Serve on a non-loopback --addr: every request (API and faults) then needs the bearer
    /// token written into the kubeconfig.
    #[arg(long)]
    pub(crate) allow_remote: bool,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with a self-signed certificate made at start, which the
    /// written kubeconfig trusts: how a real API server is reached.
    #[arg(long)]
    pub(crate) tls: bool,
    /// Where to write the kubeconfig (default: a file in the temporary directory).
    #[arg(long, value_name = "FILE")]
    pub(crate) kubeconfig_out: Option<PathBuf>,
    /// How fast virtual time runs: 1 is real time, 60 a minute per second, 0 only when advanced.
    #[arg(long, default_value_t = 1.0, value_name = "N")]
    pub(crate) speed: f64,
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    #[arg(long, default_value_t = 2)]
    pub(crate) nodes: usize,
    /// Pods in total, made by Deployments of up to ten replicas.
    #[arg(long, default_value_t = 100)]
    pub(crate) pods: usize,
    #[arg(long, default_value_t = 10)]
    pub(crate) volumes: usize,
    #[arg(long, default_value_t = 2)]
    pub(crate) replicas_per_volume: usize,
    /// File to write (`-` for stdout).
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
}

/// What can go wrong with the twin, beyond the CLI's common errors.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TwinError {
    #[error("cannot read scenario {path}")]
    ReadScenario {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid scenario")]
    Scenario(#[source] posture_twin::ScenarioError),
    #[error("invalid scenario")]
    TooDeep(#[source] posture_core::nesting::TooDeep),
    #[error("cannot serve the twin")]
    Serve(#[source] posture_twin::api::ServeError),
    #[error("cannot wait for Ctrl-C or SIGTERM")]
    Signal(#[source] std::io::Error),
    #[error("the twin at {server} did not accept the request")]
    Control {
        server: String,
        #[source]
        source: kube::Error,
    },
    #[error("invalid value")]
    Value(String),
    #[error("refusing to serve the twin on {0}, which is not a loopback address")]
    Remote(std::net::SocketAddr),
    #[error("not injected: {fault}: the twin has no such object ({message})")]
    NoTarget { fault: String, message: String },
}

impl TwinError {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Control { .. } => exit::CLUSTER,
            _ => exit::USAGE,
        }
    }

    pub(crate) fn hint(&self) -> String {
        match self {
            Self::ReadScenario { .. } => "check the path given to --scenario".into(),
            Self::TooDeep(_) => "no scenario nests this deep: the file is damaged or not one posture reads".into(),
            Self::Scenario(_) => {
                "fix the document named above; the twin serves the kinds `posture snapshot` saves"
                    .into()
            }
            Self::Serve(_) => "pick another --addr, or port 0 for any free port".into(),
            Self::Signal(_) => "the system is short of resources; retry".into(),
            Self::Control { .. } => "is `posture twin serve` running, and does --kubeconfig (or KUBECONFIG) point at the file it wrote?".into(),
            Self::Value(_) => "see `posture twin fault --help`".into(),
            Self::Remote(_) => "the twin's API and fault endpoint would be open to the network; pass --allow-remote to serve it with a bearer token, or use 127.0.0.1".into(),
            Self::NoTarget { .. } => "`kubectl get nodes` and `kubectl get pods -A` list what the twin has".into(),
        }
    }
}

impl From<TwinError> for CliError {
    fn from(error: TwinError) -> Self {
        CliError::Twin(error)
    }
}

pub(crate) fn run(global: &GlobalArgs, args: &TwinArgs) -> Result<u8, CliError> {
    match &args.command {
        TwinCommand::Serve(serve) => serve::run(serve),
        TwinCommand::Fault { fault } => control::fault(global, fault),
        TwinCommand::Advance { seconds } => control::advance(global, *seconds),
        TwinCommand::Generate(generate) => generate::run(generate),
    }
}

/// The current wall clock at whole seconds, as the API server writes timestamps.
pub(crate) fn start_time() -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
}
