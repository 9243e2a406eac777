//! A deterministic generator of a realistic recorded signal stream: a busy cluster of 200 nodes,
//! 10k pods, 2k Longhorn volumes and 1k Services, with steady lease renewals and background
//! churn, and a storm every minute (restart loops, endpoint flapping, rebuild storms, eviction
//! loops, lease thrash, attach/detach cycles, Ready flapping).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use jiff::Timestamp;
use posture_core::detect::{Signal, SignalKind};

mod storms;

pub const NODES: usize = 200;
pub const PODS: usize = 10_000;
pub const VOLUMES: usize = 2_000;
pub const SERVICES: usize = 1_000;
const NAMESPACES: usize = 20;

/// SplitMix64: small, fast and reproducible across platforms.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// `rate` events on average: the integer part always, the fraction by chance.
    fn count(&mut self, rate: f64) -> usize {
        let whole = rate.floor();
        let extra = ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < rate - whole;
        whole as usize + usize::from(extra)
    }
}

struct Scheduled {
    at_ms: i64,
    seq: u64,
    kind: SignalKind,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.seq) == (other.at_ms, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at_ms, self.seq).cmp(&(other.at_ms, other.seq))
    }
}

pub struct StreamGen {
    rng: Rng,
    start_ms: i64,
    second: i64,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    restarts: Vec<i64>,
    /// Generation of each pod slot: a deleted pod comes back under a new name.
    pod_generation: Vec<u32>,
    ready: Vec<u32>,
    holders: [usize; 2],
    pending: std::collections::VecDeque<Signal>,
}

fn node(i: usize) -> String {
    format!("node-{i:03}")
}
fn workload(i: usize) -> String {
    format!("ns-{:02}/app-{:04}", i % NAMESPACES, i / 5)
}
fn volume(i: usize) -> String {
    format!(
        "pvc-{:08x}-3c8a-4f06-b1e2-{:012x}",
        i * 2_654_435_761 % (1 << 32),
        i
    )
}
fn service(i: usize) -> String {
    match i {
        0 => "kube-system/kube-dns".to_owned(),
        1 => "haproxy-controller/haproxy-kubernetes-ingress".to_owned(),
        _ => format!("ns-{:02}/svc-{i:04}", i % NAMESPACES),
    }
}
const CONTROL_PLANE: [&str; 2] = [
    "kube-system/kube-scheduler",
    "kube-system/kube-controller-manager",
];

impl StreamGen {
    pub fn new(seed: u64) -> Self {
        let start: Timestamp = "2026-11-24T00:00:00Z".parse().expect("start timestamp");
        Self {
            rng: Rng(seed),
            start_ms: start.as_millisecond(),
            second: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            restarts: vec![0; PODS],
            pod_generation: vec![0; PODS],
            ready: vec![2; SERVICES],
            holders: [0, 0],
            pending: std::collections::VecDeque::new(),
        }
    }

    fn pod(&self, i: usize) -> String {
        format!(
            "{}-7d9f8c6b5-{:05x}",
            workload(i),
            self.pod_generation[i] as usize * PODS + i
        )
    }

    fn schedule(&mut self, after_ms: i64, kind: SignalKind) {
        self.seq += 1;
        let at_ms = self.start_ms + self.second * 1000 + after_ms;
        self.queue.push(Reverse(Scheduled {
            at_ms,
            seq: self.seq,
            kind,
        }));
    }

    fn now(&self, offset_ms: i64) -> Timestamp {
        Timestamp::from_millisecond(self.start_ms + self.second * 1000 + offset_ms)
            .expect("in range")
    }

    /// Fills `pending` with one simulated second of signals, in time order.
    fn advance(&mut self) {
        let mut second: Vec<(i64, SignalKind)> = Vec::with_capacity(64);
        let s = self.second;
        if s % 2 == 0 {
            for (lease, holder) in CONTROL_PLANE.iter().zip(self.holders) {
                second.push((
                    100,
                    SignalKind::LeaseRenewed {
                        lease: (*lease).to_owned(),
                        holder: format!("{}_5c1e0a52", node(holder)),
                        renew_time: Some(self.now(100)),
                        duration_seconds: 15,
                    },
                ));
            }
        }
        for n in (0..NODES).filter(|n| (*n as i64) % 10 == s % 10) {
            second.push((
                (n as i64 * 37) % 1000,
                SignalKind::LeaseRenewed {
                    lease: format!("kube-node-lease/{}", node(n)),
                    holder: node(n),
                    renew_time: Some(self.now((n as i64 * 37) % 1000)),
                    duration_seconds: 40,
                },
            ));
        }
        for _ in 0..self.rng.count(2.0) {
            let i = 2 + self.rng.below(SERVICES - 2);
            let ready = if self.ready[i] == 2 { 1 } else { 2 };
            self.ready[i] = ready;
            second.push((
                self.rng.below(1000) as i64,
                SignalKind::EndpointsChanged {
                    service: service(i),
                    ready,
                    important: false,
                    flips: 0,
                },
            ));
        }
        for _ in 0..self.rng.count(1.0) {
            let i = self.rng.below(PODS);
            self.restarts[i] += 1;
            second.push((
                self.rng.below(1000) as i64,
                SignalKind::ContainerRestarted {
                    pod: self.pod(i),
                    workload: workload(i),
                    container: "app".into(),
                    restart_count: self.restarts[i],
                },
            ));
        }
        for _ in 0..self.rng.count(2.0) {
            let i = self.rng.below(PODS);
            second.push((
                200,
                SignalKind::PodDeleted {
                    pod: self.pod(i),
                    workload: workload(i),
                    critical: false,
                    replaced: false,
                },
            ));
            self.pod_generation[i] += 1;
            self.restarts[i] = 0;
            second.push((
                700,
                SignalKind::PodCreated {
                    pod: self.pod(i),
                    workload: workload(i),
                },
            ));
        }
        for _ in 0..self.rng.count(0.02) {
            let v = self.rng.below(VOLUMES);
            let n = self.rng.below(NODES);
            let takes = 60_000 + self.rng.below(240) as i64 * 1000;
            self.rebuild(v, n, 0, takes);
        }
        for _ in 0..self.rng.count(0.02) {
            let v = self.rng.below(VOLUMES);
            let detached = 30_000 + self.rng.below(90) as i64 * 1000;
            self.attach_cycle(v, 0, detached);
        }
        if s % 60 == 30 {
            self.storm();
        }
        second.sort_by_key(|(offset, _)| *offset);
        let tick_at = self.now(999);
        let end_ms = tick_at.as_millisecond();
        let mut due: Vec<Signal> = Vec::new();
        while self
            .queue
            .peek()
            .is_some_and(|Reverse(q)| q.at_ms <= end_ms)
        {
            let Some(Reverse(q)) = self.queue.pop() else {
                break;
            };
            due.push(Signal::new(
                Timestamp::from_millisecond(q.at_ms).expect("in range"),
                q.kind,
            ));
        }
        let mut all: Vec<Signal> = second
            .into_iter()
            .map(|(o, k)| Signal::new(self.now(o), k))
            .collect();
        all.extend(due);
        all.sort_by_key(|sig| sig.at);
        self.pending.extend(all);
        self.pending.push_back(Signal::tick(tick_at));
        self.second += 1;
    }

    /// A degraded volume rebuilds one replica and is healthy again when it finishes.
    fn rebuild(&mut self, v: usize, n: usize, after_ms: i64, takes_ms: i64) {
        let replica = format!("{}-r-{:07x}", volume(v), self.seq);
        self.schedule(
            after_ms,
            SignalKind::VolumeRobustnessChanged {
                volume: volume(v),
                robustness: "degraded".into(),
            },
        );
        self.schedule(
            after_ms + 1_000,
            SignalKind::ReplicaRebuildStarted {
                volume: volume(v),
                replica: replica.clone(),
                node: node(n),
            },
        );
        self.schedule(
            after_ms + takes_ms,
            SignalKind::ReplicaRebuildFinished {
                volume: volume(v),
                replica,
                node: node(n),
            },
        );
        self.schedule(
            after_ms + takes_ms + 500,
            SignalKind::VolumeRobustnessChanged {
                volume: volume(v),
                robustness: "healthy".into(),
            },
        );
    }

    fn attach_cycle(&mut self, v: usize, after_ms: i64, detached_ms: i64) {
        let n = node(v % NODES);
        let attachment = format!("csi-{:064x}", v);
        for (offset, state, attached) in [(0, "detached", false), (detached_ms, "attached", true)] {
            self.schedule(
                after_ms + offset,
                SignalKind::VolumeStateChanged {
                    volume: volume(v),
                    state: state.into(),
                },
            );
            self.schedule(
                after_ms + offset + 200,
                SignalKind::VolumeAttachmentChanged {
                    attachment: attachment.clone(),
                    volume: volume(v),
                    node: n.clone(),
                    attached,
                },
            );
        }
    }
}

impl Iterator for StreamGen {
    type Item = Signal;

    fn next(&mut self) -> Option<Signal> {
        while self.pending.is_empty() {
            self.advance();
        }
        self.pending.pop_front()
    }
}
