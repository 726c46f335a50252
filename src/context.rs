//! TRANSITION: the old names of the run's facts and inputs, for check kinds not yet moved to
//! the `Kind` shape. Removed when the last one has moved.

pub use crate::facts::Facts as Ctx;
pub use crate::target::{Account, Target};
