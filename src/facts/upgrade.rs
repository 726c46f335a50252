//! The run's facts for issue 14: versions and what a Debian upgrade left behind: memoised here, gathered by probes.

/// What this area of the run has learned so far (each fact gathered once).
#[derive(Default)]
pub struct Cells {}
