//! The run's facts for issue 15: the hardening probes (H1-H7): memoised here, gathered by probes.

/// What this area of the run has learned so far (each fact gathered once).
#[derive(Default)]
pub struct Cells {}
