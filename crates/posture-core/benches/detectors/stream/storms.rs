//! The storms the stream injects every minute, one kind after another.

use posture_core::detect::SignalKind;

use super::{CONTROL_PLANE, NODES, PODS, StreamGen, VOLUMES, node, service, workload};

impl StreamGen {
    /// One burst of trouble, of a kind chosen in turn.
    pub(super) fn storm(&mut self) {
        match (self.second / 60) % 8 {
            0 => {
                let i = self.rng.below(PODS);
                let (pod, wl) = (self.pod(i), workload(i));
                for k in 0..5 {
                    self.restarts[i] += 1;
                    let count = self.restarts[i];
                    self.schedule(
                        k * 20_000,
                        SignalKind::ContainerRestarted {
                            pod: pod.clone(),
                            workload: wl.clone(),
                            container: "app".into(),
                            restart_count: count,
                        },
                    );
                }
                self.schedule(
                    30_000,
                    SignalKind::CrashLoopBackOff {
                        pod: pod.clone(),
                        workload: wl.clone(),
                        container: "app".into(),
                        active: true,
                    },
                );
                self.schedule(
                    120_000,
                    SignalKind::CrashLoopBackOff {
                        pod,
                        workload: wl,
                        container: "app".into(),
                        active: false,
                    },
                );
            }
            1 => {
                let i = self.rng.below(2);
                for k in 0..8 {
                    self.schedule(
                        k * 15_000,
                        SignalKind::EndpointsChanged {
                            service: service(i),
                            ready: (k % 2) as u32,
                            important: true,
                            flips: 1,
                        },
                    );
                }
                self.schedule(
                    8 * 15_000,
                    SignalKind::EndpointsChanged {
                        service: service(i),
                        ready: 2,
                        important: true,
                        flips: 0,
                    },
                );
            }
            2 => {
                let n = self.rng.below(NODES);
                for k in 0..4 {
                    let v = self.rng.below(VOLUMES);
                    self.rebuild(v, n, k * 2_000, 300_000);
                }
            }
            3 => {
                let v = self.rng.below(VOLUMES);
                for k in 0..3 {
                    let n = self.rng.below(NODES);
                    self.rebuild(v, n, k * 400_000, 120_000);
                }
            }
            4 => {
                let wl = "kube-system/coredns".to_owned();
                for k in 0..5 {
                    let pod = format!("{wl}-6799fbcd5-{:05x}", self.seq + k as u64);
                    self.schedule(
                        k * 40_000,
                        SignalKind::PodEvicted {
                            pod: pod.clone(),
                            workload: wl.clone(),
                            reason: "Evicted".into(),
                            critical: true,
                        },
                    );
                    self.schedule(
                        k * 40_000 + 3_000,
                        SignalKind::PodCreated {
                            pod,
                            workload: wl.clone(),
                        },
                    );
                }
            }
            5 => {
                let lease = self.rng.below(2);
                for k in 0..3 {
                    let (from, to) = (self.holders[lease], (self.holders[lease] + 1) % 2);
                    self.holders[lease] = to;
                    self.schedule(
                        k * 60_000 + 50,
                        SignalKind::LeaseHolderChanged {
                            lease: CONTROL_PLANE[lease].to_owned(),
                            from: format!("{}_5c1e0a52", node(from)),
                            to: format!("{}_5c1e0a52", node(to)),
                        },
                    );
                }
            }
            6 => {
                let v = self.rng.below(VOLUMES);
                for k in 0..3 {
                    self.attach_cycle(v, k * 60_000, 20_000);
                }
            }
            _ => {
                let n = self.rng.below(NODES);
                for k in 0..4 {
                    self.schedule(
                        k * 45_000,
                        SignalKind::NodeReadyChanged {
                            node: node(n),
                            ready: k % 2 == 1,
                        },
                    );
                }
            }
        }
    }
}
