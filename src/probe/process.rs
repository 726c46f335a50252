//! Running processes from /proc: command lines of saslauthd and the Postfix master.

use serde::{Deserialize, Serialize};

use super::procfs::ProcInfo;

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

/// Every process of `table` (the process table) whose executable name (argv[0]'s file name)
/// is `name`.
pub fn find_by_name(table: &[ProcInfo], name: &str) -> Vec<ProcessFacts> {
    table
        .iter()
        .filter(|p| {
            p.argv
                .first()
                .is_some_and(|a| a.rsplit('/').next().unwrap_or(a) == name)
        })
        .map(|p| ProcessFacts {
            pid: p.pid,
            argv: p.argv.clone(),
        })
        .collect()
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
