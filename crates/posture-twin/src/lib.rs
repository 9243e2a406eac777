//! The twin: a simulated two-node k3s cluster with Longhorn that speaks the Kubernetes API.
//!
//! State changes only through API writes, injected faults, and explicit advances of the
//! [`clock::Clock`], so every test is deterministic.

pub mod clock;
pub mod fault;
pub mod resources;
pub mod store;
