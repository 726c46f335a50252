//! Every test that drives the real lab server (tests/lab/up.sh), in one binary: one support
//! module (`support.rs`: the lab's values, running the real binary, breaking and restoring),
//! and one lock, so the tests take the shared server one at a time.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support;
#[path = "../support/workstation.rs"]
mod workstation;

mod alias_tls;
mod db_causes;
mod delivery;
mod foundation;
mod hardening;
mod host_causes;
mod hostfacts;
mod logcause;
mod machine;
mod maillog;
mod mysql;
mod network;
mod nonroot;
mod per_service;
mod postfix;
mod reliability;
mod report_schema;
mod reports;
mod ssh;
mod system;
mod upgrade_checks;
