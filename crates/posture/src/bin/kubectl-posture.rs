//! `kubectl-posture`: posture as a kubectl plugin. kubectl runs any `kubectl-NAME` on the PATH
//! as `kubectl NAME`, so `cargo install` puts this beside `posture` and `kubectl posture check`
//! works with nothing to link by hand.

fn main() -> std::process::ExitCode {
    posture::main()
}
