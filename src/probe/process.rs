//! Running processes from /proc: command lines of saslauthd and the Postfix master.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One process: pid and argv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProcessFacts {
    pub pid: u32,
    pub argv: Vec<String>,
}

impl ProcessFacts {
    /// The value following `flag` in argv (`-m /dir` or `-m/dir`).
    pub fn flag_value(&self, flag: &str) -> Option<String> {
        let mut it = self.argv.iter().skip(1);
        while let Some(a) = it.next() {
            if a == flag {
                return it.next().cloned();
            }
            if let Some(rest) = a.strip_prefix(flag)
                && !rest.is_empty()
                && flag.len() == 2
            {
                return Some(rest.to_string());
            }
        }
        None
    }
}

/// Every process of this PID namespace whose executable name (argv[0]'s file name) is `name`.
pub fn find_by_name(name: &str) -> Vec<ProcessFacts> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if !crate::probe::procfs::same_pid_namespace(pid) {
            continue;
        }
        let Ok(raw) = std::fs::read(PathBuf::from("/proc").join(pid.to_string()).join("cmdline"))
        else {
            continue;
        };
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let Some(arg0) = argv.first() else { continue };
        let base = arg0.rsplit('/').next().unwrap_or(arg0);
        if base == name {
            out.push(ProcessFacts { pid, argv });
        }
    }
    out.sort_by_key(|p| p.pid);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values() {
        let p = ProcessFacts {
            pid: 1,
            argv: [
                "saslauthd",
                "-a",
                "pam",
                "-m",
                "/var/spool/postfix/var/run/saslauthd",
                "-n5",
            ]
            .map(String::from)
            .to_vec(),
        };
        assert_eq!(
            p.flag_value("-m").as_deref(),
            Some("/var/spool/postfix/var/run/saslauthd")
        );
        assert_eq!(p.flag_value("-n").as_deref(), Some("5"));
        assert_eq!(p.flag_value("-r"), None);
    }
}
