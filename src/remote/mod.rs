//! Running mailcheck's host checks on the server itself, over SSH, for `mailcheck run --ssh`.

pub mod ssh;
