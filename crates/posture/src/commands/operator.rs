//! `posture operator`: leader-elected checks in the cluster, a PostureReport and metrics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use posture_kube::operator::leader::LeaderSettings;
use posture_kube::operator::{OperatorSettings, OperatorState, metrics_text, run as run_operator};
use posture_kube::watch::metrics::AlertMetrics;

use crate::cli::{GlobalArgs, OperatorArgs};
use crate::error::{CliError, exit};

pub(crate) fn run(global: &GlobalArgs, args: &OperatorArgs) -> Result<u8, CliError> {
    let policy = super::load_policy(global)?;
    let interval = Duration::try_from(args.interval).unwrap_or(Duration::from_secs(300));
    let lease_duration = Duration::try_from(args.lease_duration).unwrap_or(Duration::from_secs(15));
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "posture".into());
        format!("{host}/{}", std::process::id())
    });
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| "kube-system".to_owned());
    let mut settings = OperatorSettings {
        leader: LeaderSettings::new(&namespace, &args.lease, &identity, lease_duration),
        interval,
        debounce: Duration::try_from(args.debounce).unwrap_or(Duration::from_secs(10)),
        report: args.report.clone(),
        policy,
        enforce: None,
    };
    super::block_on(async {
        let (client, cluster) =
            posture_kube::client_from(global.kubeconfig.as_deref(), global.context.as_deref())
                .await
                .map_err(CliError::Client)?;
        if !args.enforce.is_empty() {
            let (apply_client, _) = posture_kube::apply::client_for_apply(
                global.kubeconfig.as_deref(),
                global.context.as_deref(),
            )
            .await
            .map_err(CliError::Client)?;
            settings.enforce = Some(posture_kube::operator::enforce::Enforcement {
                sections: args.enforce.clone(),
                journal_dir: args.journal_dir.clone(),
                client: apply_client,
                timeout: Duration::from_secs(30 * 60),
            });
        }
        if args.once {
            return Ok(
                match posture_kube::operator::check_and_report(&client, &cluster, &settings).await {
                    Ok((summary, enforced)) => {
                        anstream::eprintln!(
                            "wrote {namespace}/{}: {} error(s), {} warning(s)",
                            args.report,
                            summary.errors,
                            summary.warnings
                        );
                        if let Some(enforced) = enforced {
                            anstream::eprintln!("enforce: {enforced}");
                        }
                        exit::OK
                    }
                    Err(why) => {
                        anstream::eprintln!("error: the check did not run: {why}");
                        exit::FINDINGS
                    }
                },
            );
        }
        let state = Arc::new(Mutex::new(OperatorState::default()));
        let alerts = Arc::new(AlertMetrics::default());
        let (scraped, scraped_alerts) = (Arc::clone(&state), Arc::clone(&alerts));
        let bound = super::metrics_http::serve(args.metrics, move || {
            let mut text = scraped.lock().map(|s| metrics_text(&s)).unwrap_or_default();
            text.push_str(&scraped_alerts.render());
            text
        })
        .await
        .map_err(|source| CliError::Metrics {
            addr: args.metrics,
            source,
        })?;
        anstream::eprintln!(
            "operator {identity}: lease {namespace}/{}, report {namespace}/{}, every {}s; metrics: http://{bound}/metrics",
            args.lease,
            args.report,
            interval.as_secs()
        );
        let stop = super::stop_on_signals("giving up the lease and stopping");
        run_operator(&client, &cluster, &settings, state, alerts, stop).await;
        Ok(exit::OK)
    })?
}
