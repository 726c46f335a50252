//! Checks of Postfix's mail queue (postqueue(1), QSHAPE_README): no mail stuck for the virtual
//! domains (T36).

pub mod no_stuck_mail;
