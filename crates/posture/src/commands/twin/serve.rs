//! `posture twin serve`: a simulated cluster on loopback for kubectl and posture to talk to.

use std::path::{Path, PathBuf};

use posture_twin::Twin;
use posture_twin::api::{RunningTwin, ServeOptions};

use super::{ServeArgs, TwinError};
use crate::commands::RuntimeKind;
use crate::error::{CliError, exit};

pub(super) fn run(args: &ServeArgs) -> Result<u8, CliError> {
    let remote = !args.addr.ip().is_loopback();
    if remote && !args.allow_remote {
        return Err(TwinError::Remote(args.addr).into());
    }
    let twin = load(args.scenario.as_deref())?;
    let runtime = crate::commands::runtime(RuntimeKind::MultiThread)?;
    runtime.block_on(async {
        let options = ServeOptions {
            addr: args.addr,
            speed: args.speed,
        };
        // Reachable from elsewhere: nobody without the kubeconfig may read or fault it.
        let token = remote.then(|| {
            format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )
        });
        let running = match args.tls {
            true => posture_twin::api::serve_tls(twin, options, token).await,
            false => posture_twin::api::serve_with_token(twin, options, token).await,
        }
        .map_err(TwinError::Serve)?;
        let (kubeconfig, chosen) = match &args.kubeconfig_out {
            Some(path) => (path.clone(), true),
            None => (default_kubeconfig(&running), false),
        };
        running
            .write_kubeconfig(&kubeconfig)
            .map_err(|source| CliError::Write {
                path: kubeconfig.display().to_string(),
                source,
            })?;
        announce(&running, &kubeconfig, args);
        let stopped = wait_for_stop().await;
        running.shutdown().await;
        if !chosen {
            let _ = std::fs::remove_file(&kubeconfig);
        }
        anstream::eprintln!("twin stopped");
        stopped.map(|()| exit::OK).map_err(CliError::from)
    })
}

/// The embedded homelab cluster, or the scenario given (a file, or stdin for `-`).
fn load(scenario: Option<&Path>) -> Result<Twin, TwinError> {
    let start = super::start_time();
    let Some(path) = scenario else {
        return Ok(Twin::homelab(start));
    };
    let name = crate::commands::input_name(path);
    let text = crate::commands::read_input(path).map_err(|source| TwinError::ReadScenario {
        path: PathBuf::from(&name),
        source,
    })?;
    posture_core::nesting::check_nesting(&name, &text, posture_core::nesting::MAX_NESTING)
        .map_err(TwinError::TooDeep)?;
    let mut twin = Twin::new(start);
    twin.load_scenario(&name, &text)
        .map_err(TwinError::Scenario)?;
    Ok(twin)
}

fn default_kubeconfig(running: &RunningTwin) -> PathBuf {
    std::env::temp_dir().join(format!("posture-twin-{}.kubeconfig", running.addr().port()))
}

/// Tells the person where the twin is and what to try; scripts can read the first line.
fn announce(running: &RunningTwin, kubeconfig: &Path, args: &ServeArgs) {
    let speed = if args.speed > 0.0 {
        format!("virtual time runs at {}x real time", args.speed)
    } else {
        "virtual time moves only with `posture twin advance SECONDS`".to_owned()
    };
    println!("twin serving at {}", running.url());
    println!("{speed}; Ctrl-C stops it.");
    if !running.addr().ip().is_loopback() {
        println!(
            "reachable from the network: every request needs the bearer token in {} (keep it private; \
             kubectl sends no token over plain HTTP, so reach it through an SSH tunnel to loopback instead)",
            kubeconfig.display()
        );
    }
    println!();
    println!("export KUBECONFIG={}", kubeconfig.display());
    println!("kubectl get nodes -o wide");
    println!("kubectl get pods -A -o wide");
    println!("kubectl -n longhorn-system get volumes.longhorn.io");
    println!("posture check");
    println!("posture twin fault stop-node NODE   # then: kubectl get nodes -w");
}

/// Resolves on Ctrl-C, or SIGTERM where there is one.
async fn wait_for_stop() -> Result<(), TwinError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(TwinError::Signal)?;
        tokio::select! {
            interrupted = tokio::signal::ctrl_c() => interrupted.map_err(TwinError::Signal),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(TwinError::Signal)
    }
}
