//! The server's own log, read for the window of the run (issue 13 §1): which log was used, and
//! the services master(8) stopped starting or whose processes exited while mailcheck talked
//! to them (T38: the services must run).

pub mod server_log;
