//! `posture demo`: the whole runbook on a simulated cluster, for a newcomer with no cluster.

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::{CliError, exit};

pub(crate) const LONG_ABOUT: &str = "TODO";

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How fast the simulated cluster's clock runs, as a multiple of real time.
    #[arg(long, default_value_t = 60.0, value_name = "N")]
    pub(crate) speed: f64,
    /// Jump the simulated clock instead of letting virtual time pass at --speed.
    #[arg(long)]
    pub(crate) fast: bool,
}

pub(crate) fn run(_global: &GlobalArgs, _args: &DemoArgs) -> Result<u8, CliError> {
    Ok(exit::OK)
}
