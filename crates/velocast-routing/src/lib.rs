//! The gateway's A/B traffic split (DESIGN decision 8), as pure functions:
//!
//! - [`RouteTable`]: routes → arms (an alias or a pinned version, with an integer weight) and
//!   the sticky key, parsed from the gateway's TOML and validated once, every problem reported
//!   together so an invalid edit can be refused while the old table keeps serving;
//! - [`assign`]: a sticky key's arm. The key is hashed into one of [`BUCKETS`] fixed buckets, and
//!   each bucket goes to the arm that wins a weighted race (rendezvous hashing with exponential
//!   scores): deterministic across processes and versions, arms get buckets in proportion to
//!   their weights, and raising one arm's weight only moves buckets *into* that arm.

mod assign;
mod table;

pub use assign::{Assignment, BUCKETS, arm_of_bucket, assign, bucket_of, stable_hash};
pub use table::{
    Arm, ArmName, ArmTarget, Route, RouteError, RouteName, RouteTable, Shadow, StickyKey,
};
