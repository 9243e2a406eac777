//! The leader's watch, run in a task of its own: the election loop waits on a channel, which it
//! may stop waiting on at any time, where waiting on the watch itself could drop a burst of
//! events half-taken.

use posture_core::detect::{Signal, SignalKind, WatchedKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::watch::{Update, WatchOptions};

/// What the feed hands the loop.
pub(super) enum Fed {
    /// An update, and whether it is news: made after every first list was handed out, so about
    /// the cluster changing rather than the cluster as it stood when the watch began.
    Update { update: Update, news: bool },
    /// The watch could not start, or every watcher ended; the loop starts another.
    Ended(String),
}

/// A running watch; dropping it stops the task and, with it, every watcher.
pub(super) struct WatchFeed {
    updates: mpsc::Receiver<Fed>,
    task: JoinHandle<()>,
}

impl Drop for WatchFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WatchFeed {
    /// Watches what the detectors need, leaving out the operator's own election Lease.
    pub(super) fn start(client: &kube::Client, own_lease: (&str, &str)) -> Self {
        let (sender, updates) = mpsc::channel(256);
        let client = client.clone();
        let (namespace, name) = (own_lease.0.to_owned(), own_lease.1.to_owned());
        let task = tokio::spawn(async move {
            let mut watch = match crate::watch::start(&client, WatchOptions::default()).await {
                Ok(mut watch) => {
                    watch.ignore_lease(&namespace, &name);
                    watch
                }
                Err(error) => {
                    let _ = sender.send(Fed::Ended(error.to_string())).await;
                    return;
                }
            };
            loop {
                let news = watch.is_synced();
                let fed = match watch.next().await {
                    Ok(update) => Fed::Update { update, news },
                    Err(error) => Fed::Ended(error.to_string()),
                };
                let ended = matches!(fed, Fed::Ended(_));
                if sender.send(fed).await.is_err() || ended {
                    return;
                }
            }
        });
        Self { updates, task }
    }

    /// The next update; `None` once the task is gone.
    pub(super) async fn recv(&mut self) -> Option<Fed> {
        self.updates.recv().await
    }
}

/// A signal about something `check` judges: where pods run, whether nodes are Ready, endpoints,
/// leader elections, Longhorn's volumes, replicas and attachments. Not the clock, not a lease's
/// routine renewal (kubelets renew every ten seconds), not a restart count first seen.
pub(super) fn signal_changes_posture(signal: &Signal) -> bool {
    !matches!(
        signal.kind,
        SignalKind::Tick | SignalKind::LeaseRenewed { .. } | SignalKind::ContainerHistory { .. }
    )
}

/// An object change no signal stands for that `check` judges: a Longhorn setting.
pub(super) fn object_changes_posture(kind: WatchedKind) -> bool {
    kind == WatchedKind::LonghornSetting
}
