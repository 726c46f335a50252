//! Secrets (passwords) and the redactor that keeps them, and their base64 forms, out of output.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// A password. `Debug` and `Display` never show it; only `expose` does.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that must send it (SMTP AUTH, saslauthd, MySQL).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What replaces a secret in every output.
pub const REDACTED: &str = "<redacted>";

/// Replaces every known secret, and the base64 forms SMTP AUTH would carry, with `<redacted>`.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    needles: Vec<String>,
}

impl Redactor {
    /// Registers a password. `user` (if known) adds the AUTH PLAIN form `\0user\0password`.
    pub fn add(&mut self, secret: &Secret, user: Option<&str>) {
        let pw = secret.expose();
        // Very short strings would redact ordinary words; nobody uses a 1-3 char password
        // on a mail server, and if they do it is still not printed by us anywhere.
        if pw.len() < 4 {
            return;
        }
        self.push(pw.to_string());
        self.push(B64.encode(pw));
        if let Some(u) = user {
            self.push(B64.encode(format!("\0{u}\0{pw}")));
            self.push(B64.encode(format!("{u}\0{u}\0{pw}")));
        }
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    fn push(&mut self, n: String) {
        if !n.is_empty() && !self.needles.contains(&n) {
            self.needles.push(n);
        }
    }

    /// `text` with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), REDACTED);
            }
        }
        out
    }

    /// Redacts every string inside a JSON value, in place.
    pub fn redact_json(&self, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => {
                let r = self.redact(s);
                if r != *s {
                    *s = r;
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| self.redact_json(x)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| self.redact_json(x)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_and_auth_plain_forms() {
        let mut r = Redactor::default();
        r.add(&Secret::new("s3cret-pw"), Some("root@example.com"));
        let plain = B64.encode("\0root@example.com\0s3cret-pw");
        let text = format!(
            "pw=s3cret-pw C: AUTH PLAIN {plain} login={}",
            B64.encode("s3cret-pw")
        );
        let out = r.redact(&text);
        assert!(!out.contains("s3cret"), "{out}");
        assert!(!out.contains(&plain), "{out}");
        assert_eq!(out.matches(REDACTED).count(), 3);
    }

    #[test]
    fn debug_hides_secret() {
        assert_eq!(format!("{:?}", Secret::new("x")), "<redacted>");
    }
}
