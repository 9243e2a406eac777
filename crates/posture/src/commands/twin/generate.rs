//! `posture twin generate`: a large steady-state scenario, so collection can be measured at scale.

use posture_twin::sim::{ScaleParams, generate_scenario};

use super::GenerateArgs;
use crate::error::{CliError, exit};
use crate::render;

pub(super) fn run(args: &GenerateArgs) -> Result<u8, CliError> {
    let yaml = generate_scenario(ScaleParams {
        nodes: args.nodes,
        pods: args.pods,
        volumes: args.volumes,
        replicas_per_volume: args.replicas_per_volume,
    });
    if args.output.as_os_str() == "-" {
        render::write_stdout(&yaml)?;
    } else {
        std::fs::write(&args.output, yaml).map_err(|source| CliError::Write {
            path: args.output.display().to_string(),
            source,
        })?;
        anstream::eprintln!(
            "wrote {} ({} nodes, {} pods, {} volumes x {} replicas)",
            args.output.display(),
            args.nodes,
            args.pods,
            args.volumes,
            args.replicas_per_volume
        );
    }
    Ok(exit::OK)
}
