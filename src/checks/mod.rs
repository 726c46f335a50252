//! The Rust side of each check kind (`kind.rs`: a validated spec, an observation gathered
//! through the run's facts, a pure judge), one file per kind under `checks/<family>/`, and the
//! one list that registers them (`registry.rs`). The TOML in `checks/` picks the kind under
//! `[probe] kind` and gives its parameters.

pub mod judge;
pub mod kind;
pub mod registry;
pub mod values;

pub mod auth;
pub mod delivery;
pub mod fs;
pub mod hardening;
pub mod log;
pub mod mysql;
pub mod postfix;
pub mod queue;
pub mod relay;
pub mod sasl;
pub mod size;
pub mod smtp;
pub mod submission;
pub mod system;
pub mod tls;
