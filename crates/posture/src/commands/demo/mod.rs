//! `posture demo`: the whole runbook on a simulated cluster, for a newcomer with no cluster and
//! no files. Each step is a function over a shared [`DemoContext`], so steps slot in between
//! others without touching them.

mod cluster;
mod loss;
mod output;
mod steps;

use std::path::PathBuf;

use clap::Args;
use jiff::SignedDuration;
use posture_core::Policy;
use posture_twin::Twin;
use posture_twin::api::{RunningTwin, ServeOptions};

use crate::cli::GlobalArgs;
use crate::commands::twin::TwinError;
use crate::error::{CliError, exit};

pub(crate) use output::Output;

pub(crate) const LONG_ABOUT: &str = "\
Walk through the whole runbook on a simulated cluster, with no cluster and no files needed.

posture starts the runbook's two-node homelab (k3s + HAProxy ingress + CoreDNS + Longhorn) as a
simulated API server inside this process, with its clock running faster than real time, and then:
  1. shows the cluster as kubectl would (nodes, where the pods run);
  2. runs `posture check` against it over the Kubernetes API;
  3. plans the runbook's changes, stage by stage;
  4. stops the secondary node, lets a few simulated minutes pass, shows what breaks, and starts
     it again;
  5. says what to run next against a real cluster.
Nothing outside this process is touched. It takes a few seconds; --fast jumps the simulated
clock instead of letting it run.";

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How fast the simulated cluster's clock runs, as a multiple of real time.
    #[arg(long, default_value_t = 60.0, value_name = "N")]
    pub(crate) speed: f64,
    /// Jump the simulated clock instead of letting virtual time pass at --speed.
    #[arg(long)]
    pub(crate) fast: bool,
}

/// Everything a step may use; later steps read what earlier ones learned.
pub(crate) struct DemoContext {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) twin: RunningTwin,
    pub(crate) client: kube::Client,
    pub(crate) cluster: posture_kube::ClusterEndpoint,
    pub(crate) kubeconfig: PathBuf,
    pub(crate) out: Output,
    pub(crate) policy: Policy,
    /// The clock moves only when a step lets time pass (`--fast`, or speed 0).
    pub(crate) jump_clock: bool,
    /// The plan made by the plan step, for steps after it.
    pub(crate) plan: Option<posture_core::plan::Plan>,
}

/// One headed step of the walk-through.
pub(crate) struct Step {
    pub(crate) title: &'static str,
    pub(crate) run: fn(&mut DemoContext) -> Result<(), CliError>,
}

/// The walk-through, in order.
const STEPS: &[Step] = &[
    Step {
        title: "The cluster, as kubectl shows it",
        run: cluster::show,
    },
    Step {
        title: "posture check: the cluster against the runbook",
        run: steps::check,
    },
    Step {
        title: "The plan: what posture would change, stage by stage",
        run: steps::plan,
    },
    // Applying the plan (stage by stage, with its post-conditions) belongs here, once the apply
    // engine exists; it reads `DemoContext::plan`.
    Step {
        title: "posture drill: what losing the secondary would do",
        run: steps::drill,
    },
    Step {
        title: "Losing the secondary node before migration",
        run: loss::stop_and_start_secondary,
    },
    Step {
        title: "Next: your own cluster",
        run: steps::next,
    },
];

pub(crate) fn run(global: &GlobalArgs, args: &DemoArgs) -> Result<u8, CliError> {
    let mut ctx = start(global, args)?;
    ctx.out.intro(&ctx.twin.url(), args);
    for (index, step) in STEPS.iter().enumerate() {
        ctx.out.heading(index + 1, step.title);
        (step.run)(&mut ctx)?;
    }
    let DemoContext {
        runtime,
        twin,
        kubeconfig,
        ..
    } = ctx;
    runtime.block_on(twin.shutdown());
    let _ = std::fs::remove_file(kubeconfig);
    Ok(exit::OK)
}

/// Serves the homelab twin in-process and connects to it through a kubeconfig, exactly as the
/// other commands connect to a real cluster.
fn start(global: &GlobalArgs, args: &DemoArgs) -> Result<DemoContext, CliError> {
    let policy = super::load_policy(global)?;
    let runtime = super::runtime(super::RuntimeKind::MultiThread)?;
    let jump_clock = args.fast || !(args.speed.is_finite() && args.speed > 0.0);
    let options = ServeOptions {
        speed: if jump_clock { 0.0 } else { args.speed },
        ..ServeOptions::default()
    };
    let twin = Twin::homelab(crate::commands::twin::start_time());
    let twin = runtime
        .block_on(posture_twin::api::serve(twin, options))
        .map_err(TwinError::Serve)?;
    let kubeconfig = std::env::temp_dir().join(format!(
        "posture-demo-{}-{}.kubeconfig",
        std::process::id(),
        twin.addr().port()
    ));
    twin.write_kubeconfig(&kubeconfig)
        .map_err(|source| CliError::Write {
            path: kubeconfig.display().to_string(),
            source,
        })?;
    let (client, cluster) = runtime
        .block_on(posture_kube::client_from(Some(&kubeconfig), None))
        .map_err(CliError::Client)?;
    Ok(DemoContext {
        runtime,
        twin,
        client,
        cluster,
        kubeconfig,
        out: Output::stdout(),
        policy,
        jump_clock,
        plan: None,
    })
}

impl DemoContext {
    /// Reads the twin over the API, as `posture check` does.
    pub(crate) fn collect(&self) -> Result<posture_core::Snapshot, CliError> {
        self.runtime
            .block_on(posture_kube::collect(&self.client, &self.cluster))
            .map_err(CliError::Collect)
    }

    /// Lets `by` of virtual time pass: at the twin's speed, or at once with `--fast`.
    pub(crate) fn let_time_pass(&mut self, by: SignedDuration) {
        self.out.passing(by);
        if self.jump_clock {
            self.twin.advance(by);
            return;
        }
        let target = self.twin.now() + by;
        while self.twin.now() < target {
            // The twin's own ticker moves its clock; this only waits for it to get there.
            self.runtime.block_on(async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            });
        }
    }

    /// Injects a cluster-side fault.
    pub(crate) fn inject(&self, fault: &posture_twin::fault::Fault) {
        self.twin.inject(fault);
    }
}
