//! Relisting after a watch restarts (410 Gone, a dropped connection): objects deleted while the
//! watch was down never send a `Deleted`, so the full new list is compared with the memos, and
//! the missing ones are reduced as deletions. Without this, memos of vanished objects would
//! outlive them and state would grow with churn instead of with live objects.

use std::collections::HashSet;

use jiff::Timestamp;
use serde_json::Value;

use super::{EventType, Reducer, WatchedKind, WatchedObject};
use crate::detect::signal::Signal;

impl Reducer {
    /// Reduces a complete fresh list of `resource`: deletions for remembered objects missing
    /// from it, then every listed object as `Added` (a known object is compared as usual).
    pub fn relist(
        &mut self,
        at: Timestamp,
        resource: WatchedKind,
        objects: &[Value],
    ) -> Vec<Signal> {
        let objects: Vec<WatchedObject<'_>> =
            objects.iter().map(WatchedObject::from_value).collect();
        self.relist_objects(at, resource, &objects)
    }

    /// [`Reducer::relist`] of objects already viewed.
    pub fn relist_objects(
        &mut self,
        at: Timestamp,
        resource: WatchedKind,
        objects: &[WatchedObject<'_>],
    ) -> Vec<Signal> {
        let namespaced = matches!(
            resource,
            WatchedKind::Pod | WatchedKind::EndpointSlice | WatchedKind::Lease
        );
        let listed: HashSet<String> = objects
            .iter()
            .map(|o| {
                let o = o.fields();
                if namespaced {
                    o.key()
                } else {
                    o.name().to_owned()
                }
            })
            .collect();
        let mut gone: Vec<String> = self
            .remembered(resource)
            .into_iter()
            .filter(|k| !listed.contains(*k))
            .map(str::to_owned)
            .collect();
        gone.sort();
        let mut out = Vec::new();
        for k in gone {
            let object = match k.split_once('/') {
                Some((namespace, name)) if namespaced => {
                    WatchedObject::named(Some(namespace), name)
                }
                _ => WatchedObject::named(None, &k),
            };
            out.extend(self.reduce_object(at, resource, EventType::Deleted, &object));
        }
        for object in objects {
            out.extend(self.reduce_object(at, resource, EventType::Added, object));
        }
        out
    }

    fn remembered(&self, resource: WatchedKind) -> Vec<&str> {
        fn keys<V>(map: &std::collections::HashMap<String, V>) -> Vec<&str> {
            map.keys().map(String::as_str).collect()
        }
        match resource {
            WatchedKind::Pod => keys(&self.pods),
            WatchedKind::EndpointSlice => keys(&self.slices),
            WatchedKind::Lease => keys(&self.leases),
            WatchedKind::Node => keys(&self.nodes),
            WatchedKind::VolumeAttachment => keys(&self.attachments),
            WatchedKind::LonghornVolume => keys(&self.volumes),
            WatchedKind::LonghornReplica => keys(&self.replica_nodes),
            WatchedKind::LonghornEngine => keys(&self.engines),
            WatchedKind::Event | WatchedKind::LonghornSetting => Vec::new(),
        }
    }
}
