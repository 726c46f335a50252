//! Checks of Postfix's mail queue (postqueue(1), QSHAPE_README): no mail stuck for the virtual
//! domains (T36), and the queue directories writable as Postfix's daemons write them.

pub mod no_stuck_mail;
pub mod queue_access;
