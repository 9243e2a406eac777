//! One module per subcommand; each returns the exit code it decided on, or an error.

mod apply;
mod check;
pub(crate) mod demo;
mod docs;
mod drill;
mod host;
pub(crate) mod metrics_http;
mod operator;
mod plan;
mod rollback;
mod snapshot;
pub(crate) mod twin;
pub(crate) mod watch;

use std::io::Read;
use std::path::{Path, PathBuf};

use posture_core::{Policy, Snapshot};
use posture_kube::Collection;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::error::{CliError, exit};

pub(crate) fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Check(args) => check::run(&cli.global, &args),
        Command::Snapshot(args) => snapshot::run(&cli.global, &args),
        Command::Twin(args) => twin::run(&cli.global, &args),
        Command::Demo(args) => demo::run(&cli.global, &args),
        Command::Watch(args) => watch::run(&cli.global, &args),
        Command::Plan(args) => plan::run(&cli.global, &args),
        Command::Apply(args) => apply::run(&cli.global, &args),
        Command::Rollback(args) => rollback::run(&cli.global, &args),
        Command::Drill(args) => drill::run(&cli.global, &args),
        Command::Host(args) => host::run(&args),
        Command::Show(args) => plan::show(&cli.global, &args),
        Command::Operator(args) => operator::run(&cli.global, &args),
        Command::Crd => {
            crate::render::write_stdout(&posture_kube::operator::report::crd_yaml())?;
            Ok(exit::OK)
        }
        Command::Completions(args) => docs::completions(&args),
        Command::Man(args) => docs::man(&args),
    }
}

/// The runbook's defaults, overridden by `--config` when given.
pub(crate) fn load_policy(global: &GlobalArgs) -> Result<Policy, CliError> {
    let Some(path) = &global.config else {
        return Ok(Policy::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| CliError::ReadConfig {
        path: path.clone(),
        source,
    })?;
    let name = path.display().to_string();
    shallow(&name, &text)?;
    Policy::from_yaml(&name, &text).map_err(CliError::Config)
}

/// How an input file is named in messages: stdin has no path to show.
pub(crate) fn input_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Reads an input file, or stdin for `-`, so a snapshot can be piped straight from
/// `posture snapshot -o -` into any command that takes one.
pub(crate) fn read_input(path: &Path) -> std::io::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path)
    }
}

/// Every command that takes a saved snapshot loads it here, so each accepts `-` and refuses a
/// damaged file with the same message.
pub(crate) fn load_snapshot(path: &Path) -> Result<Snapshot, CliError> {
    let name = input_name(path);
    let text = read_input(path).map_err(|source| CliError::ReadSnapshot {
        path: name.clone(),
        source,
    })?;
    // The loader refuses deep nesting itself, where it would parse YAML.
    posture_core::load_snapshot_str(&name, &text).map_err(|e| match e {
        posture_core::LoadError::TooDeep(too_deep) => CliError::TooDeep(too_deep),
        other => CliError::Snapshot(other),
    })
}

/// The `HostFacts` documents of each `--host-facts` file.
pub(crate) fn load_host_facts(
    paths: &[PathBuf],
) -> Result<Vec<posture_core::host::HostFacts>, CliError> {
    let mut all = Vec::new();
    for path in paths {
        let facts = load_snapshot(path)?.host_facts;
        if facts.is_empty() {
            return Err(CliError::NoHostFacts {
                path: input_name(path),
            });
        }
        all.extend(facts);
    }
    Ok(all)
}

/// Refuses a document nested so deeply that parsing it would take minutes.
pub(crate) fn shallow(file: &str, text: &str) -> Result<(), CliError> {
    posture_core::nesting::check_nesting(file, text, posture_core::nesting::MAX_NESTING)
        .map_err(CliError::TooDeep)
}

/// Runs `work` on a runtime of its own with a client for the cluster the global options name.
pub(crate) fn with_client<T>(
    global: &GlobalArgs,
    work: impl AsyncFnOnce(kube::Client, posture_kube::ClusterEndpoint) -> Result<T, CliError>,
) -> Result<T, CliError> {
    runtime(RuntimeKind::CurrentThread)?.block_on(async {
        let (client, cluster) =
            posture_kube::client_from(global.kubeconfig.as_deref(), global.context.as_deref())
                .await
                .map_err(CliError::Client)?;
        work(client, cluster).await
    })
}

/// Reads the live cluster named by the global options, typed for checks and plans.
pub(crate) fn collect_live(global: &GlobalArgs) -> Result<posture_core::Snapshot, CliError> {
    with_client(global, async |client, cluster| {
        tracing::info!(server = %cluster.server, context = %cluster.context, "collecting");
        posture_kube::collect(&client, &cluster)
            .await
            .map_err(CliError::Collect)
    })
}

/// Reads the live cluster named by the global options as documents to save.
pub(crate) fn collect_live_documents(global: &GlobalArgs) -> Result<Collection, CliError> {
    with_client(global, async |client, cluster| {
        tracing::info!(server = %cluster.server, context = %cluster.context, "collecting");
        posture_kube::collect_documents(&client, &cluster)
            .await
            .map_err(CliError::Collect)
    })
}

/// Runs a future on a runtime of its own (apply's lock renewal needs a second thread).
pub(crate) fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, CliError> {
    Ok(runtime(RuntimeKind::MultiThread)?.block_on(future))
}

/// Whether a command's async work may share the thread that waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuntimeKind {
    /// The command only waits on the API, so nothing has to run while it blocks.
    CurrentThread,
    /// Two workers: something must keep going while the main thread waits, such as apply's lock
    /// renewal or a served twin answering requests.
    MultiThread,
}

/// Every command's runtime comes from here, so all of them enable the same drivers and report a
/// failure to start the same way.
pub(crate) fn runtime(kind: RuntimeKind) -> Result<tokio::runtime::Runtime, CliError> {
    let mut builder = match kind {
        RuntimeKind::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        RuntimeKind::MultiThread => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(2);
            builder
        }
    };
    builder.enable_all().build().map_err(CliError::Runtime)
}

/// Turns Ctrl-C and SIGTERM into a stop request for a run that writes: the first asks it to
/// stop as `first` says (an apply finishes the write in flight, journals it, releases the lock
/// and stops; a drill aborts and restores); a second exits at once. Must be called inside the
/// runtime.
pub(crate) fn stop_on_signals(first: &'static str) -> tokio::sync::watch::Receiver<bool> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        for count in 1.. {
            if next_stop_signal().await.is_err() {
                return;
            }
            if count == 1 {
                anstream::eprintln!("interrupted: {first} (again to exit at once)");
                let _ = stop.send(true);
            } else {
                anstream::eprintln!(
                    "exiting at once; the cluster lock expires on its own and the journal says where \
                     to go on"
                );
                std::process::exit(i32::from(exit::INTERRUPTED));
            }
        }
    });
    stopped
}

/// Resolves on Ctrl-C, or SIGTERM where there is one.
async fn next_stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            interrupted = tokio::signal::ctrl_c() => interrupted,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// Asks a yes/no question before a write to the cluster. Anything but `y` or `yes` declines, so a
/// stray key never approves a change, and without a terminal there is nobody to ask.
pub(crate) fn confirm(question: &str) -> Result<bool, CliError> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    anstream::eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(CliError::ReadAnswer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Writes a file the person asked for (a plan, a report).
pub(crate) fn write_file(path: &std::path::Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|source| CliError::Write {
        path: path.display().to_string(),
        source,
    })
}
