//! Cyrus SASL application config files such as /etc/postfix/sasl/smtpd.conf, read as
//! libsasl2's lib/config.c does: `key: value` lines, `#` comments, keys lower-cased, and the
//! first occurrence of a key wins.

use serde::{Deserialize, Serialize};

/// One `key: value` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SaslOption {
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// What a config file holds: the options, and the lines libsasl2 would reject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaslConf {
    pub options: Vec<SaslOption>,
    /// (line, text) of lines that are not `key: value`; libsasl2 refuses the whole file then.
    pub malformed: Vec<(usize, String)>,
}

impl SaslConf {
    /// The value libsasl2 uses for `key`: the first one in the file.
    pub fn get(&self, key: &str) -> Option<&SaslOption> {
        self.options.iter().find(|o| o.key == key)
    }
}

pub fn parse(text: &str) -> SaslConf {
    let mut conf = SaslConf::default();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key_len = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(line.len());
        let (key, rest) = line.split_at(key_len);
        match rest.strip_prefix(':') {
            Some(value) if !key.is_empty() && !value.trim().is_empty() => {
                conf.options.push(SaslOption {
                    line: n + 1,
                    key: key.to_ascii_lowercase(),
                    value: value.trim().to_string(),
                });
            }
            _ => conf.malformed.push((n + 1, raw.to_string())),
        }
    }
    conf
}

/// `text` with the values of `keys` replaced by `replacement` (for evidence).
pub fn redact(text: &str, keys: &[&str], replacement: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for raw in text.split_inclusive('\n') {
        let line = raw.trim_start();
        let hit = line.split_once(':').is_some_and(|(k, v)| {
            keys.iter().any(|want| k.eq_ignore_ascii_case(want)) && !v.trim().is_empty()
        });
        match (hit, raw.split_once(':')) {
            (true, Some((k, _))) => {
                out.push_str(k);
                out.push_str(": ");
                out.push_str(replacement);
                if raw.ends_with('\n') {
                    out.push('\n');
                }
            }
            _ => out.push_str(raw),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tutorial_file() {
        let text = "pwcheck_method: saslauthd\nmech_list: plain login\n# c\nsql_passwd: newpassword\nMECH_LIST: cram-md5\n";
        let c = parse(text);
        assert_eq!(
            c.get("pwcheck_method").map(|o| o.value.as_str()),
            Some("saslauthd")
        );
        assert_eq!(
            c.get("mech_list").map(|o| o.value.as_str()),
            Some("plain login")
        );
        assert_eq!(c.get("mech_list").map(|o| o.line), Some(2));
        assert!(c.malformed.is_empty());
        let r = redact(text, &["sql_passwd"], "<redacted>");
        assert!(!r.contains("newpassword"));
        assert!(r.contains("sql_passwd: <redacted>\n"));
        assert!(r.contains("mech_list: plain login\n"));
    }

    #[test]
    fn malformed_lines() {
        let c = parse("pwcheck_method = saslauthd\nmech_list:\n");
        assert_eq!(c.malformed.len(), 2);
        assert!(c.options.is_empty());
    }
}
