//! EndpointSlices, Leases, Nodes and VolumeAttachments.

use jiff::Timestamp;

use super::{Fields, Out, Reducer, join_key};
use crate::detect::reduce::EventType;
use crate::detect::signal::SignalKind;

#[derive(Debug)]
pub(super) struct SliceMemo {
    service: String,
    ready: u32,
    important: bool,
    /// Endpoints backed by a pod, by `namespace/pod`, to tell readiness flips from a rollout.
    endpoints: Vec<EndpointMemo>,
}

#[derive(Debug)]
struct EndpointMemo {
    pod: String,
    ready: bool,
    /// Has been seen ready: becoming ready again after that is a flip, the first time is not.
    was_ready: bool,
}

#[derive(Debug)]
pub(super) struct ServiceMemo {
    ready: u32,
    slices: u32,
    important: bool,
}

#[derive(Debug)]
pub(super) struct LeaseMemo {
    holder: String,
    renew_time: Option<String>,
}

#[derive(Debug)]
pub(super) struct AttachmentMemo {
    attached: bool,
    volume: String,
    node: String,
}

impl SliceMemo {
    pub(super) fn heap_bytes(&self) -> usize {
        self.service.capacity()
            + self.endpoints.capacity() * size_of::<EndpointMemo>()
            + self
                .endpoints
                .iter()
                .map(|e| e.pod.capacity())
                .sum::<usize>()
    }

    /// Compares with the slice as it was: counts flips, and carries `was_ready` over.
    fn flips_since(&mut self, old: Option<&SliceMemo>) -> u32 {
        let mut flips = 0;
        for endpoint in &mut self.endpoints {
            let Some(before) = old.and_then(|o| o.endpoints.iter().find(|e| e.pod == endpoint.pod))
            else {
                continue;
            };
            endpoint.was_ready |= before.was_ready;
            if (before.ready && !endpoint.ready)
                || (!before.ready && endpoint.ready && before.was_ready)
            {
                flips += 1;
            }
        }
        flips
    }
}

impl LeaseMemo {
    pub(super) fn heap_bytes(&self) -> usize {
        self.holder.capacity() + self.renew_time.as_ref().map_or(0, String::capacity)
    }
}

impl AttachmentMemo {
    pub(super) fn heap_bytes(&self) -> usize {
        self.volume.capacity() + self.node.capacity()
    }
}

impl Reducer {
    pub(super) fn endpoint_slice(&mut self, change: EventType, object: &Fields<'_>, out: &mut Out) {
        let slice = object.key();
        let old = self.slices.remove(&slice);
        let mut new = (change != EventType::Deleted)
            .then(|| self.slice_memo(object))
            .flatten();
        let flips = new.as_mut().map_or(0, |n| n.flips_since(old.as_ref()));
        let service = match (&old, &new) {
            (_, Some(n)) => n.service.clone(),
            (Some(o), None) => o.service.clone(),
            (None, None) => return,
        };
        let first_sight = !self.services.contains_key(&service);
        let memo = self.services.entry(service.clone()).or_insert(ServiceMemo {
            ready: 0,
            slices: 0,
            important: false,
        });
        let before = memo.ready;
        if let Some(o) = &old {
            memo.ready = memo.ready.saturating_sub(o.ready);
            memo.slices = memo.slices.saturating_sub(1);
        }
        if let Some(n) = &new {
            memo.ready = memo.ready.saturating_add(n.ready);
            memo.slices += 1;
            memo.important |= n.important;
        }
        let (ready, important) = (memo.ready, memo.important);
        if memo.slices == 0 {
            self.services.remove(&service);
        }
        if let Some(n) = new {
            self.slices.insert(slice, n);
        }
        if first_sight || ready != before || flips > 0 {
            out.push(SignalKind::EndpointsChanged {
                service,
                ready,
                important,
                flips,
            });
        }
    }

    fn slice_memo(&self, object: &Fields<'_>) -> Option<SliceMemo> {
        let service_name = object.labels().service_name.get()?;
        let namespace = object.namespace().unwrap_or_default();
        // The EndpointSlice controller copies the Service's labels onto its slices.
        let mut important = object.labels().k8s_app.get() == Some("kube-dns");
        let mut ready = 0usize;
        let mut tracked = Vec::new();
        for endpoint in object.endpoints.iter() {
            // A missing `ready` condition means ready, as the API documents.
            let is_ready = endpoint.conditions.ready.0 != Some(false);
            ready += usize::from(is_ready);
            let target = &endpoint.target_ref;
            let Some(pod) = target
                .name
                .get()
                .filter(|_| target.kind.get() == Some("Pod"))
            else {
                continue;
            };
            let pod = join_key(target.namespace.get().unwrap_or(namespace), pod);
            important = important || self.pod_serves_critical(&pod);
            // Terminating endpoints are going away (a rollout, a drain): not flips.
            if endpoint.conditions.terminating.0 != Some(true) {
                tracked.push(EndpointMemo {
                    pod,
                    ready: is_ready,
                    was_ready: is_ready,
                });
            }
        }
        Some(SliceMemo {
            service: join_key(namespace, service_name),
            ready: u32::try_from(ready).unwrap_or(u32::MAX),
            important,
            endpoints: tracked,
        })
    }

    pub(super) fn lease(&mut self, change: EventType, object: &Fields<'_>, out: &mut Out) {
        let lease = object.key();
        if change == EventType::Deleted {
            if self.leases.remove(&lease).is_some() {
                out.push(SignalKind::LeaseDeleted { lease });
            }
            return;
        }
        let holder = object.spec.holder_identity.get().unwrap_or_default();
        let renew_raw = object.spec.renew_time.get();
        let duration_seconds = object.spec.lease_duration_seconds.0.unwrap_or(0);
        let renewed = |lease: String| SignalKind::LeaseRenewed {
            lease,
            holder: holder.to_owned(),
            renew_time: renew_raw.and_then(|r| r.parse::<Timestamp>().ok()),
            duration_seconds,
        };
        let Some(memo) = self.leases.get_mut(&lease) else {
            self.leases.insert(
                lease.clone(),
                LeaseMemo {
                    holder: holder.to_owned(),
                    renew_time: renew_raw.map(str::to_owned),
                },
            );
            if renew_raw.is_some() {
                out.push(renewed(lease));
            }
            return;
        };
        if memo.holder != holder {
            out.push(SignalKind::LeaseHolderChanged {
                lease: lease.clone(),
                from: std::mem::replace(&mut memo.holder, holder.to_owned()),
                to: holder.to_owned(),
            });
        }
        if memo.renew_time.as_deref() != renew_raw {
            match (&mut memo.renew_time, renew_raw) {
                // Renewals come every few seconds: reuse the buffer.
                (Some(known), Some(raw)) => {
                    known.clear();
                    known.push_str(raw);
                }
                (known, raw) => *known = raw.map(str::to_owned),
            }
            out.push(renewed(lease));
        }
    }

    pub(super) fn node(&mut self, change: EventType, object: &Fields<'_>, out: &mut Out) {
        let node = object.name();
        if change == EventType::Deleted {
            self.nodes.remove(node);
            return;
        }
        let ready = (object.status.conditions.iter())
            .find(|c| c.type_.get() == Some("Ready"))
            .and_then(|c| c.status.get())
            == Some("True");
        match self.nodes.get_mut(node) {
            None => {
                self.nodes.insert(node.to_owned(), ready);
            }
            Some(known) if *known != ready => {
                *known = ready;
                out.push(SignalKind::NodeReadyChanged {
                    node: node.to_owned(),
                    ready,
                });
            }
            Some(_) => {}
        }
    }

    pub(super) fn attachment(&mut self, change: EventType, object: &Fields<'_>, out: &mut Out) {
        let attachment = object.name().to_owned();
        if change == EventType::Deleted {
            // A deleted attachment is detached; the memo knows what it attached.
            if let Some(memo) = self.attachments.remove(&attachment)
                && memo.attached
            {
                out.push(SignalKind::VolumeAttachmentChanged {
                    attachment,
                    volume: memo.volume,
                    node: memo.node,
                    attached: false,
                });
            }
            return;
        }
        let volume = (object.spec.source.persistent_volume_name.get())
            .unwrap_or(&attachment)
            .to_owned();
        let node = object.spec.node_name.get().unwrap_or_default().to_owned();
        let attached = object.status.attached.0 == Some(true);
        let was = self.attachments.insert(
            attachment.clone(),
            AttachmentMemo {
                attached,
                volume: volume.clone(),
                node: node.clone(),
            },
        );
        if was.is_some_and(|was| was.attached != attached) {
            out.push(SignalKind::VolumeAttachmentChanged {
                attachment,
                volume,
                node,
                attached,
            });
        }
    }
}
