//! `posture`: make a two-node k3s + Longhorn cluster survive the loss of one node, safely.

fn main() -> std::process::ExitCode {
    posture::main()
}
