//! The cluster lock: a coordination.k8s.io Lease that names who applies, renewed in the
//! background while the apply runs, so two posture runs never write to one cluster at once.
//!
//! # Guarantees
//! - Taking the lock is a create (or a replace pinned to the resourceVersion read), so two
//!   runs racing for it cannot both win.
//! - A lock someone else holds is never taken over while it is fresh; an expired one only with
//!   `break_expired` (`--break-lock`).
//! - A run that cannot renew its lock in time, or finds it taken over, knows before its next
//!   write ([`HeldLock::lost`]): the engine stops instead of writing without it.
//! - Release is retried with backoff; a lock that still cannot be deleted is reported with the
//!   command that deletes it, never only logged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use tokio::task::JoinHandle;

/// Where the lock lives and how long it stays valid without renewal.
#[derive(Debug, Clone)]
pub struct LockSettings {
    pub namespace: String,
    pub name: String,
    /// `user@host/pid`.
    pub holder: String,
    pub lease_duration: Duration,
    /// Take over a lock whose holder stopped renewing it.
    pub break_expired: bool,
}

/// The lock's name; the lease lives in kube-system.
pub const LOCK_NAME: &str = "posture-lock";

impl LockSettings {
    /// `posture-lock` in kube-system, held by this process.
    pub fn for_this_process(break_expired: bool) -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into());
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into());
        Self {
            namespace: "kube-system".into(),
            name: LOCK_NAME.into(),
            holder: format!("{user}@{host}/{}", std::process::id()),
            lease_duration: Duration::from_secs(60),
            break_expired,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the cluster lock is held by {holder}")]
    Held { holder: String },
    #[error("the cluster lock held by {holder} expired; --break-lock takes it over")]
    Expired { holder: String },
    #[error("failed to take the cluster lock")]
    Api(#[source] kube::Error),
}

/// A held lock; renewal stops and the Lease is deleted on [`HeldLock::release`].
#[derive(Debug)]
pub struct HeldLock {
    api: Api<Lease>,
    name: String,
    namespace: String,
    holder: String,
    uid: Option<String>,
    renewal: JoinHandle<()>,
    state: Arc<Mutex<Renewal>>,
    lease_duration: Duration,
}

/// What the renewal task last saw.
#[derive(Debug, Clone)]
struct Renewal {
    /// When the lease was last written by this run (taken or renewed).
    at: Instant,
    /// Someone else holds the lease now (it was taken over or deleted).
    taken_over: Option<String>,
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

fn lease_body(settings: &LockSettings) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(settings.name.clone()),
            namespace: Some(settings.namespace.clone()),
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_owned(),
                    "posture".to_owned(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(settings.holder.clone()),
            lease_duration_seconds: i32::try_from(settings.lease_duration.as_secs()).ok(),
            acquire_time: Some(now()),
            renew_time: Some(now()),
            ..LeaseSpec::default()
        }),
    }
}

fn expired(lease: &Lease) -> bool {
    let Some(spec) = &lease.spec else { return true };
    let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    renewed.0 + jiff::SignedDuration::from_secs(seconds) < jiff::Timestamp::now()
}

/// Takes the lock or says who holds it.
pub async fn acquire(
    client: &kube::Client,
    settings: &LockSettings,
) -> Result<HeldLock, LockError> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &settings.namespace);
    let body = lease_body(settings);
    let created = match api.get_opt(&settings.name).await.map_err(LockError::Api)? {
        None => api.create(&PostParams::default(), &body).await,
        Some(current) => {
            let holder = current
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.clone())
                .unwrap_or_default();
            if !holder.is_empty() && holder != settings.holder {
                if !expired(&current) {
                    return Err(LockError::Held { holder });
                }
                if !settings.break_expired {
                    return Err(LockError::Expired { holder });
                }
            }
            let mut body = body;
            body.metadata.resource_version = current.metadata.resource_version.clone();
            api.replace(&settings.name, &PostParams::default(), &body)
                .await
        }
    };
    let lease = match created {
        Ok(lease) => lease,
        // Someone created or renewed it between our read and our write.
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let holder = api
                .get_opt(&settings.name)
                .await
                .ok()
                .flatten()
                .and_then(|l| l.spec.and_then(|s| s.holder_identity))
                .unwrap_or_else(|| "another posture run".into());
            return Err(LockError::Held { holder });
        }
        Err(e) => return Err(LockError::Api(e)),
    };
    let state = Arc::new(Mutex::new(Renewal {
        at: Instant::now(),
        taken_over: None,
    }));
    let renewal = tokio::spawn(renew(
        api.clone(),
        settings.name.clone(),
        settings.holder.clone(),
        settings.lease_duration,
        Arc::clone(&state),
    ));
    Ok(HeldLock {
        api,
        name: settings.name.clone(),
        namespace: settings.namespace.clone(),
        holder: settings.holder.clone(),
        uid: lease.metadata.uid,
        renewal,
        state,
        lease_duration: settings.lease_duration,
    })
}

/// Renews the lease a few times per duration; a failed renewal is retried at the next tick.
/// Each renewal tests that the lease still names this run, so a lock taken over (after it
/// expired) is noticed, never silently renewed back.
async fn renew(
    api: Api<Lease>,
    name: String,
    holder: String,
    duration: Duration,
    state: Arc<Mutex<Renewal>>,
) {
    let mut ticks = tokio::time::interval((duration / 3).max(Duration::from_millis(100)));
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Ok(patch) = serde_json::from_value::<kube_json_patch::Patch>(serde_json::json!([
            {"op": "test", "path": "/spec/holderIdentity", "value": holder},
            {"op": "replace", "path": "/spec/renewTime", "value": now()},
        ])) else {
            return;
        };
        let sent = Instant::now();
        match api
            .patch(&name, &PatchParams::default(), &Patch::Json::<()>(patch))
            .await
        {
            Ok(_) => {
                if let Ok(mut state) = state.lock() {
                    state.at = sent;
                }
            }
            Err(kube::Error::Api(status)) if matches!(status.code, 404 | 409 | 422) => {
                let holder = api
                    .get_opt(&name)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|l| l.spec.and_then(|s| s.holder_identity))
                    .unwrap_or_else(|| "nobody (the lease was deleted)".into());
                if let Ok(mut state) = state.lock() {
                    state.taken_over = Some(holder);
                }
                return;
            }
            Err(error) => tracing::warn!(%error, "failed to renew the cluster lock"),
        }
    }
}

impl HeldLock {
    /// Why this run may no longer write, if it may not: the lease was taken over, or it has not
    /// been renewed for two thirds of its duration, so it may expire before a write lands.
    pub fn lost(&self) -> Option<String> {
        let state = self.state.lock().ok()?.clone();
        if let Some(holder) = state.taken_over {
            return Some(format!("the cluster lock was taken over by {holder}"));
        }
        let stale = state.at.elapsed();
        (stale > self.lease_duration * 2 / 3).then(|| {
            format!(
                "the cluster lock could not be renewed for {}s (it lasts {}s)",
                stale.as_secs(),
                self.lease_duration.as_secs()
            )
        })
    }

    /// [`HeldLock::lost`], confirmed on the API: the lease is read, and a lease that is gone,
    /// replaced or names another holder means the lock is lost. Renewal notices a takeover only
    /// at its next tick; the engine asks this before every write, so it never writes in that
    /// gap. A read that fails says nothing either way, and only the renewal's view counts.
    pub async fn confirm(&self) -> Option<String> {
        if let Some(reason) = self.lost() {
            return Some(reason);
        }
        let lease = match self.api.get_opt(&self.name).await {
            Ok(lease) => lease,
            Err(error) => {
                tracing::debug!(%error, "could not read the cluster lock before a write");
                return None;
            }
        };
        let taken_over = match lease {
            None => "nobody (the lease was deleted)".to_owned(),
            Some(lease) if self.is_ours(&lease) => return None,
            Some(lease) => lease
                .spec
                .and_then(|s| s.holder_identity)
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "nobody".to_owned()),
        };
        if let Ok(mut state) = self.state.lock() {
            state.taken_over = Some(taken_over);
        }
        self.lost()
    }

    /// Stops renewing and leaves the Lease in place: for a run inside a longer one (a drill) that
    /// holds the same lock under the same holder and goes on renewing it.
    pub fn keep(self) {
        self.renewal.abort();
    }

    /// Stops renewing and deletes the Lease if it is still this run's, retrying with backoff. A
    /// lease that cannot be deleted is reported with the command that deletes it.
    ///
    /// Another run that takes over an expired lock replaces the Lease in place (same uid), so
    /// the delete is pinned to the resourceVersion of a read that found this run the holder.
    pub async fn release(self) {
        self.renewal.abort();
        let mut delay = Duration::from_millis(200);
        let mut last = None;
        for _ in 0..RELEASE_ATTEMPTS {
            match self.release_once().await {
                Ok(()) => return,
                Err(error) => last = Some(error),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        if let Some(error) = last {
            eprintln!(
                "warning: could not release the cluster lock ({error}); it expires in {}s, or \
                 delete it: kubectl -n {} delete lease {}",
                self.lease_duration.as_secs(),
                self.namespace,
                self.name
            );
        }
    }

    /// The Lease this run took (same uid: not deleted and re-created) and still names this run
    /// (a run that takes over an expired lock replaces it in place, keeping the uid).
    fn is_ours(&self, lease: &Lease) -> bool {
        let holder = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref());
        lease.metadata.uid == self.uid && holder == Some(self.holder.as_str())
    }

    /// One read and, if the lease is still ours, one delete pinned to what was read.
    async fn release_once(&self) -> Result<(), kube::Error> {
        let Some(lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        if !self.is_ours(&lease) {
            // No longer ours (taken over after it expired): nothing to release.
            return Ok(());
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: self.uid.clone(),
                resource_version: lease.metadata.resource_version.clone(),
            }),
            ..DeleteParams::default()
        };
        match self.api.delete(&self.name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            // Changed since the read (a renewal that was in flight): read again.
            Err(error) => Err(error),
        }
    }
}

/// Deletes tried before the lock is reported as left behind.
const RELEASE_ATTEMPTS: u32 = 6;

impl Drop for HeldLock {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock last renewed `ago`, lasting a minute; its client is never asked anything.
    fn renewed(ago: Duration) -> HeldLock {
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("a URL"));
        let client = kube::Client::try_from(config).expect("a client");
        HeldLock {
            api: Api::namespaced(client, "kube-system"),
            name: LOCK_NAME.into(),
            namespace: "kube-system".into(),
            holder: "alice@laptop/42".into(),
            uid: Some("u".into()),
            renewal: tokio::spawn(async {}),
            state: Arc::new(Mutex::new(Renewal {
                at: Instant::now() - ago,
                taken_over: None,
            })),
            lease_duration: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn a_lock_not_renewed_for_two_thirds_of_its_duration_is_lost() {
        assert_eq!(renewed(Duration::from_secs(30)).lost(), None);
        let lost = renewed(Duration::from_secs(41)).lost().expect("lost");
        assert_eq!(
            lost,
            "the cluster lock could not be renewed for 41s (it lasts 60s)"
        );
    }

    #[tokio::test]
    async fn a_lock_taken_over_is_lost_however_fresh() {
        let lock = renewed(Duration::ZERO);
        lock.state.lock().expect("state").taken_over = Some("bob@ci/7".into());
        assert_eq!(
            lock.lost().as_deref(),
            Some("the cluster lock was taken over by bob@ci/7")
        );
    }
}
