//! `posture check`: judge a live cluster or a saved snapshot against the runbook.

use posture_core::policy::PolicyError;
use posture_core::report::CheckStatus;
use posture_core::{Policy, Snapshot};

use crate::cli::{CheckArgs, CheckFormat, FailPolicy, GlobalArgs};
use crate::error::{CliError, exit};
use crate::render;

pub(crate) fn run(global: &GlobalArgs, args: &CheckArgs) -> Result<u8, CliError> {
    let policy = super::load_policy(global)?;
    let host_facts = super::load_host_facts(&args.host_facts)?;
    let mut snapshot = match &args.snapshot {
        Some(path) => super::load_snapshot(path)?,
        None => super::collect_live(global)?,
    };
    snapshot.host_facts.extend(host_facts);
    posture_core::ensure_cluster(&snapshot).map_err(CliError::Snapshot)?;
    policy_fits(global, &policy, &snapshot)?;
    // Checks that needed these say "unknown"; say why once, where it does not disturb stdout.
    for unreadable in &snapshot.unreadable {
        anstream::eprintln!(
            "note: could not read {}: {}",
            unreadable.resource,
            unreadable.reason
        );
    }
    let report = posture_core::checks::run(&snapshot, &policy);
    let fail = FailPolicy::from_args(&args.fail_on);
    if let Some(path) = &args.html {
        super::write_file(path, &render::check_html::page(&report, &snapshot))?;
    }
    match args.output {
        CheckFormat::Human => render::write_stdout(&render::human::render(&report))?,
        CheckFormat::Json => render::structured::print(&report, render::structured::Format::Json)?,
        CheckFormat::Yaml => render::structured::print(&report, render::structured::Format::Yaml)?,
        CheckFormat::Junit => render::write_stdout(&render::ci::junit(&report, &fail))?,
        CheckFormat::Sarif => render::structured::print_value(&render::ci::sarif(&report, &fail))?,
    }
    let failed = report
        .findings
        .iter()
        .any(|f| fail.severity.is_reached_by(f.severity))
        || (fail.unknown
            && report
                .checks
                .iter()
                .any(|c| c.status == CheckStatus::Unknown));
    // The process exits next. Freeing a large cluster's objects one allocation at a time took an
    // eighth of a 10k-pod check; the operating system takes the memory back at once.
    std::mem::forget(snapshot);
    std::mem::forget(report);
    Ok(if failed { exit::FINDINGS } else { exit::OK })
}

/// The policy's cross-checks against the cluster about to be judged or changed: the nodes it
/// names exist, and it asks no volume for more replicas than there are nodes.
pub(crate) fn policy_fits(
    global: &GlobalArgs,
    policy: &Policy,
    snapshot: &Snapshot,
) -> Result<(), CliError> {
    policy.validate_for(snapshot).map_err(|violations| {
        let file = global
            .config
            .as_ref()
            .map_or_else(|| "policy".to_owned(), |p| p.display().to_string());
        CliError::Config(PolicyError::invalid(&file, &violations))
    })
}
