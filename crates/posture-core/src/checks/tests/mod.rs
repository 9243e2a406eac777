//! Unit tests of every check on both sides of its threshold, built from `testkit` fixtures.

mod control_plane;
mod coredns;
mod drain_budgets;
mod drain_pods;
mod ingress;
mod longhorn;
mod odd;
mod ownership;
mod preconditions;
mod risks;
mod startable;
