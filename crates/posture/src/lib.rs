//! `posture`: make a two-node k3s + Longhorn cluster survive the loss of one node, safely.
//!
//! The command line as a library, so that two binaries share it: `posture`, and
//! `kubectl-posture`, which kubectl runs as `kubectl posture`. [`main`] parses arguments, sets up
//! logging, dispatches to a command, and turns its outcome into the documented exit code.

mod cli;
mod commands;
mod dashboard;
mod error;
mod render;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::Cli;

/// The whole program; its usage lines name the binary it was started as.
pub fn main() -> ExitCode {
    let bin_name = cli::bin_name(std::env::args_os().next().as_deref());
    let matches = Cli::command().bin_name(bin_name).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_tracing(cli.global.verbose);
    posture_kube::deadline::set_request_timeout(cli.global.request_timeout);
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let error = anstyle::Style::new()
                .fg_color(Some(anstyle::AnsiColor::Red.into()))
                .bold();
            let hint = anstyle::Style::new().bold();
            anstream::eprintln!("{error}error:{error:#} {}", err.one_line());
            anstream::eprintln!("{hint}hint:{hint:#} {}", err.hint());
            ExitCode::from(err.exit_code())
        }
    }
}

/// Quiet by default; each `-v` shows more of what posture does. `RUST_LOG` overrides.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 if std::env::var_os("RUST_LOG").is_none() => return,
        0 => "off",
        1 => "warn,posture=info,posture_kube=info,posture_core=info",
        2 => "info,posture=debug,posture_kube=debug,posture_core=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let stderr = std::io::stderr();
    let colour = stderr.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
