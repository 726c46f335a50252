//! Checks of file types, modes and owners (stat(2)): the mysql map files (T14) and the vmail
//! tree (T9).

pub mod maildir_access;
pub mod maps_access;
pub mod mysql_maps_perms;
pub mod vmail_tree;
