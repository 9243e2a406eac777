//! The reducer's signals over a long stream of odd objects, pinned by digest: reading objects
//! differently (a `Value`, a sparse typed view) must not change a single signal.
//!
//! Re-pinned when CoreDNS and ingress controllers came to be recognised by the rule `check` uses
//! (images, not labels): with `important` and `critical` set aside, the signals were unchanged.

use sha2::{Digest, Sha256};

use super::mutations::Fixtures;
use crate::detect::tests::t;
use crate::detect::{Reducer, Signal, SignalKind};

const EVENTS: usize = 20_000;
const SEED: u64 = 0x0BAD_5EED_F00D;

/// Every signal of the stream as JSON lines, in order, with a relist now and then.
fn signals_of_the_stream() -> Vec<Signal> {
    let fixtures = Fixtures::new();
    let stream = fixtures.stream(SEED, EVENTS);
    let mut reducer = Reducer::new();
    let mut out = Vec::new();
    for (i, (kind, change, object)) in stream.iter().enumerate() {
        let at = t(i as i64);
        if i % 997 == 0 {
            let listed: Vec<_> = stream[i..]
                .iter()
                .filter(|(k, _, _)| k == kind)
                .take(4)
                .map(|(_, _, o)| o.clone())
                .collect();
            out.extend(reducer.relist(at, *kind, &listed));
        }
        out.extend(reducer.reduce(at, *kind, *change, object));
    }
    out
}

pub(super) fn digest(signals: &[Signal]) -> String {
    let mut hasher = Sha256::new();
    for signal in signals {
        hasher.update(signal.to_line().as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

#[test]
fn the_signals_of_a_long_stream_of_odd_objects_are_pinned() {
    let (histories, signals): (Vec<Signal>, Vec<Signal>) = signals_of_the_stream()
        .into_iter()
        .partition(|s| matches!(s.kind, SignalKind::ContainerHistory { .. }));
    assert_eq!(
        histories.len(),
        365,
        "{:#?}",
        &histories[..3.min(histories.len())]
    );
    assert_eq!(
        (signals.len(), digest(&signals).as_str()),
        (
            9535,
            "e39e092ee9b65002295aff2c581b84deb7098269734784ccdbd80ff9478ab6b3"
        ),
        "first signals: {:#?}",
        &signals[..5.min(signals.len())]
    );
}
