//! An estimate of the reducer's memory, to show it follows the live objects and not the events.

use std::collections::HashMap;

use super::Reducer;

impl Reducer {
    /// About how many bytes the reducer's state takes: its tables (by capacity) and every
    /// string and list its memos own. Allocator overhead is not counted.
    pub fn live_bytes(&self) -> usize {
        size_of::<Self>()
            + table_bytes(&self.pods, |m| m.heap_bytes())
            + table_bytes(&self.revisions, |r| table_bytes(r, |_| 0))
            + table_bytes(&self.slices, |m| m.heap_bytes())
            + table_bytes(&self.services, |_| 0)
            + table_bytes(&self.leases, |m| m.heap_bytes())
            + table_bytes(&self.nodes, |_| 0)
            + table_bytes(&self.attachments, |m| m.heap_bytes())
            + table_bytes(&self.volumes, |m| m.heap_bytes())
            + table_bytes(&self.replica_nodes, String::capacity)
            + table_bytes(&self.engines, |m| m.heap_bytes())
            + table_bytes(&self.dropped_rebuilds, |d| d.heap_bytes())
    }
}

/// A hash table's slots (key, value and one control byte each) plus what its keys and values
/// own on the heap.
fn table_bytes<V>(table: &HashMap<String, V>, heap: impl Fn(&V) -> usize) -> usize {
    table.capacity() * (size_of::<(String, V)>() + 1)
        + (table.iter())
            .map(|(key, value)| key.capacity() + heap(value))
            .sum::<usize>()
}
