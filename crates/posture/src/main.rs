//! `posture`: make a two-node k3s + Longhorn cluster survive the loss of one node, safely.

fn main() {
    println!("posture {}", env!("CARGO_PKG_VERSION"));
}
