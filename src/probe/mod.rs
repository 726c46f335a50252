//! Probes observe the server (network, files, processes, database) and return plain data.
//! They never decide pass or fail and never print.

pub mod access;
pub mod boot;
pub mod daemons;
pub mod file;
pub mod firewall;
pub mod hardening;
pub mod leftovers;
pub mod listen;
pub mod lookup;
pub mod maildir;
pub mod maillog;
pub mod maps;
pub mod mynetworks;
pub mod mysql;
pub mod pam;
pub mod postfix;
pub mod process;
pub mod procfs;
pub mod queue;
pub mod sasl_conf;
pub mod saslauthd;
pub mod secrets;
pub mod session;
pub mod shell_vars;
pub mod smtp;
pub mod testmail;
pub mod tls;
pub mod tls_material;
pub mod tree;
pub mod users;
pub mod versions;
pub mod watch;

use std::path::{Path, PathBuf};

/// Server- or file-controlled input that does not parse: what was wrong, in words a person
/// can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// Why a local probe could not observe something.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProbeError {
    #[error("needs root to read {}", .path.display())]
    PermissionDenied { path: PathBuf },
    #[error("{} does not exist", .path.display())]
    NotFound { path: PathBuf },
    #[error("cannot read {}: {message}", .path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}:{line}: {message}", .path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

impl ProbeError {
    /// Maps an I/O error on `path` to the variant a person can act on.
    pub fn from_io(path: &Path, e: &std::io::Error) -> Self {
        let path = path.to_path_buf();
        match e.kind() {
            std::io::ErrorKind::PermissionDenied => ProbeError::PermissionDenied { path },
            std::io::ErrorKind::NotFound => ProbeError::NotFound { path },
            _ => ProbeError::Io {
                path,
                message: e.to_string(),
            },
        }
    }
}
