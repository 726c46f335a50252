//! mailcheck: checks a hand-built Postfix + MySQL + saslauthd mail server, requirement by
//! requirement, against the tutorial it was built from.

pub mod catalogue;
pub mod checks;
pub mod cli;
pub mod clock;
pub mod config;
pub mod exit;
pub mod facts;
pub mod net;
pub mod probe;
pub mod remote;
pub mod report;
pub mod run;
pub mod runner;
pub mod secret;
pub mod settings;
pub mod target;
pub mod verdict;
