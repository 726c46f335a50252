//! The run's facts for issue 13: the server's log, access as Postfix's processes have it, running daemons against their configuration, TLS material: memoised here, gathered by probes.

/// What this area of the run has learned so far (each fact gathered once).
#[derive(Default)]
pub struct Cells {}
