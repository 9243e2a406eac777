//! Leader election on a `coordination.k8s.io/v1` Lease, the way client-go's leaderelection does
//! it: the holder renews every retry period; another instance takes over only once it has seen
//! the same lease record unchanged for a whole lease duration on its own clock (so clocks need
//! not agree); every write is pinned to the resourceVersion read, so two instances cannot both
//! win; and a leader that has not renewed within the renew deadline stops acting before anyone
//! else may take over (no split brain on a partition).

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;

#[derive(Debug, Clone)]
pub struct LeaderSettings {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// How long a record must stay unrenewed before another instance takes over.
    pub lease_duration: Duration,
    /// A leader that could not renew for this long stops acting (shorter than the duration).
    pub renew_deadline: Duration,
    /// How often to try to acquire or renew.
    pub retry_period: Duration,
}

impl LeaderSettings {
    /// client-go's defaults scaled to `lease_duration`: renew deadline 2/3 of it, retry 1/5.
    pub fn new(namespace: &str, name: &str, identity: &str, lease_duration: Duration) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            identity: identity.to_owned(),
            lease_duration,
            renew_deadline: lease_duration * 2 / 3,
            retry_period: (lease_duration / 5).max(Duration::from_millis(200)),
        }
    }
}

/// One instance's view of the election.
pub struct Elector {
    api: Api<Lease>,
    settings: LeaderSettings,
    /// The record last seen (holder, renew time, transitions) and when it was first seen so.
    observed: Option<(String, Instant)>,
    /// When this instance last renewed as the holder.
    renewed: Option<Instant>,
    /// The lease's `leaseTransitions` as last read or written: how often the leader changed.
    pub transitions: u64,
}

impl Elector {
    pub fn new(client: &kube::Client, settings: LeaderSettings) -> Self {
        Self {
            api: Api::namespaced(client.clone(), &settings.namespace),
            settings,
            observed: None,
            renewed: None,
            transitions: 0,
        }
    }

    pub fn settings(&self) -> &LeaderSettings {
        &self.settings
    }

    /// True while this instance leads: renewed within the renew deadline.
    pub fn is_leader(&self) -> bool {
        self.renewed
            .is_some_and(|at| at.elapsed() < self.settings.renew_deadline)
    }

    /// One round: acquire or renew. Returns whether this instance leads after it. API errors
    /// count as a failed round (a leader keeps leading until its renew deadline passes).
    pub async fn round(&mut self) -> bool {
        if let Err(error) = self.try_round().await {
            tracing::debug!(%error, "leader election round failed");
        }
        self.is_leader()
    }

    async fn try_round(&mut self) -> Result<(), kube::Error> {
        let now = jiff::Timestamp::now();
        let micro = MicroTime(now);
        let Some(current) = self.api.get_opt(&self.settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(micro.clone(), micro, 0)),
            };
            self.api.create(&PostParams::default(), &lease).await?;
            self.became_leader();
            return Ok(());
        };
        let spec = current.spec.clone().unwrap_or_default();
        self.transitions = u64::try_from(spec.lease_transitions.unwrap_or(0)).unwrap_or(0);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let record = format!(
            "{holder}|{:?}|{:?}",
            spec.renew_time.as_ref().map(|t| t.0),
            spec.lease_transitions
        );
        let seen_since = match &self.observed {
            Some((seen, since)) if *seen == record => *since,
            _ => {
                let since = Instant::now();
                self.observed = Some((record, since));
                since
            }
        };
        let mine = holder == self.settings.identity;
        let expired = holder.is_empty() || seen_since.elapsed() >= self.settings.lease_duration;
        if !mine && !expired {
            self.renewed = None;
            return Ok(());
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let acquired = if mine {
            spec.acquire_time.clone().unwrap_or_else(|| micro.clone())
        } else {
            micro.clone()
        };
        let mut next = current.clone();
        next.spec = Some(self.spec(acquired, micro, transitions));
        // Pinned to the resourceVersion read: a competing write in between makes this a 409.
        self.api
            .replace(&self.settings.name, &PostParams::default(), &next)
            .await?;
        self.transitions = u64::try_from(transitions).unwrap_or(0);
        if !mine {
            self.became_leader();
        } else {
            self.renewed = Some(Instant::now());
        }
        Ok(())
    }

    fn became_leader(&mut self) {
        self.renewed = Some(Instant::now());
        tracing::info!(identity = %self.settings.identity, "became leader");
    }

    fn spec(&self, acquired: MicroTime, renewed: MicroTime, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.settings.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX),
            ),
            acquire_time: Some(acquired),
            renew_time: Some(renewed),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Gives the lease up (on a clean stop), so a standby takes over at once.
    pub async fn release(&mut self) {
        if !self.is_leader() {
            return;
        }
        if let Ok(Some(mut current)) = self.api.get_opt(&self.settings.name).await
            && let Some(spec) = current.spec.as_mut()
            && spec.holder_identity.as_deref() == Some(self.settings.identity.as_str())
        {
            spec.holder_identity = None;
            let _ = self
                .api
                .replace(&self.settings.name, &PostParams::default(), &current)
                .await;
        }
        self.renewed = None;
    }
}
