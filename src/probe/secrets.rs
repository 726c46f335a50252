//! Finds the passwords the server's own files hold (the mysql_*.cf maps' `password`, pam_mysql's
//! `passwd=` in /etc/pam.d/smtp, `sql_passwd` in sasl/smtpd.conf), so the redactor can keep them
//! out of every report even if a server echoes one back.

use std::path::Path;

use crate::secret::Secret;

/// Every password in the server's configuration files that this process can read.
pub fn server_secrets(config_dir: &Path) -> Vec<Secret> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir(config_dir) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".cf") || name == "main.cf" || name == "master.cf" {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(e.path()) {
                out.extend(values_after(&text, "password", '='));
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(config_dir.join("sasl/smtpd.conf")) {
        out.extend(values_after(&text, "sql_passwd", ':'));
    }
    if let Ok(text) = std::fs::read_to_string("/etc/pam.d/smtp") {
        for word in text.split_whitespace() {
            if let Some(v) = word.strip_prefix("passwd=") {
                out.push(Secret::new(v.trim_matches('"')));
            }
        }
    }
    out.retain(|s| !s.expose().is_empty());
    out.dedup();
    out
}

/// Values of `key <sep> value` lines (comments skipped).
fn values_after(text: &str, key: &str, sep: char) -> Vec<Secret> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once(sep))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| Secret::new(v.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_map_and_sasl_passwords() {
        let v = values_after(
            "user = a\npassword = s3cret\n# password = old\n",
            "password",
            '=',
        );
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].expose(), "s3cret");
        let v = values_after("sql_passwd: pw2\n", "sql_passwd", ':');
        assert_eq!(v[0].expose(), "pw2");
    }
}
