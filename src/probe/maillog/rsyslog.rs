//! Which files rsyslog writes the mail and auth facilities to, from its configuration
//! (rsyslog.conf(5): legacy `facility.priority action` selector lines, `$IncludeConfig`,
//! RainerScript `action(type="omfile" file=...)`, `include(file=...)`, property filters and simple
//! `if ... then` statements).

use serde::{Deserialize, Serialize};

/// How much of a facility a rule writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Only some priorities (`mail.=info`, `mail.!info`).
    Some,
    /// Priorities from `emerg` down to this syslog priority (0 emerg .. 7 debug): `mail.err` is 3,
    /// `mail.warn` 4, `mail.*` 7. Postfix logs deliveries at info (6), problems at warning (4) and
    /// worse.
    UpTo(u8),
    /// A property filter or `if` on the program name (`:programname, startswith, "postfix"`).
    Program,
}

impl Coverage {
    /// Every line Postfix writes (info and worse).
    pub fn is_complete(self) -> bool {
        match self {
            Coverage::UpTo(p) => p >= 6,
            Coverage::Program => true,
            Coverage::Some => false,
        }
    }
}

/// One rule that writes to a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRule {
    /// The file, as written (without the legacy `-` that turns off syncing).
    pub file: String,
    /// 1-based line of the statement in its config file.
    pub line: usize,
    /// The selector or filter as written, e.g. `mail.*` or `*.*;auth,authpriv.none`.
    pub selector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<Coverage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Coverage>,
    /// The selector names the facility (`mail.*`) rather than matching it with `*`.
    pub mail_named: bool,
    pub auth_named: bool,
}

/// What one config file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub rules: Vec<FileRule>,
    /// `$IncludeConfig` / `include(file=...)` patterns, in order.
    pub includes: Vec<String>,
}

/// Most statements looked at in one file.
const MAX_STATEMENTS: usize = 10_000;

/// Parses one rsyslog config file.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    for (line, stmt) in statements(text).into_iter().take(MAX_STATEMENTS) {
        if let Some(p) = stmt.strip_prefix("$IncludeConfig") {
            let p = p.trim();
            if !p.is_empty() {
                out.includes.push(p.to_string());
            }
            continue;
        }
        if stmt.starts_with("include(") {
            if let Some(f) = param(&stmt, "file") {
                out.includes.push(f);
            }
            continue;
        }
        if stmt.starts_with('$')
            || stmt.starts_with("module(")
            || stmt.starts_with("input(")
            || stmt.starts_with("global(")
            || stmt.starts_with("template(")
            || stmt.starts_with("main_queue(")
            || stmt.starts_with("ruleset(")
        {
            continue;
        }
        if let Some(rule) = property_filter(line, &stmt).or_else(|| if_statement(line, &stmt)) {
            out.rules.push(rule);
            continue;
        }
        if let Some(rule) = selector_line(line, &stmt) {
            out.rules.push(rule);
        }
    }
    out
}

/// Logical statements: comments removed, lines joined while parentheses or braces are open.
fn statements(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut depth: i32 = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if cur.is_empty() {
            start = i + 1;
        } else {
            cur.push(' ');
        }
        cur.push_str(line);
        depth += nesting(line);
        // A legacy line continued with a trailing backslash.
        if cur.ends_with('\\') {
            cur.pop();
            continue;
        }
        if depth <= 0 || cur.len() > 64 * 1024 {
            out.push((start, std::mem::take(&mut cur)));
            depth = 0;
        }
    }
    if !cur.is_empty() {
        out.push((start, cur));
    }
    out
}

/// The line without a `#` comment (a `#` inside quotes is kept).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('#', None) => return line.get(..i).unwrap_or(""),
            _ => {}
        }
    }
    line
}

/// Opened minus closed `(` and `{` outside quotes.
fn nesting(line: &str) -> i32 {
    let mut depth = 0;
    let mut quote = None;
    for c in line.chars() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('(' | '{', None) => depth += 1,
            (')' | '}', None) => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// The value of `name="..."` inside a RainerScript object (name matched case-insensitively).
fn param(stmt: &str, name: &str) -> Option<String> {
    let lower = stmt.to_ascii_lowercase();
    let needle = format!("{}=", name.to_ascii_lowercase());
    let mut from = 0;
    for _ in 0..64 {
        let i = from + lower.get(from..)?.find(&needle)?;
        let boundary = i == 0
            || !lower
                .as_bytes()
                .get(i - 1)
                .is_some_and(|c| c.is_ascii_alphanumeric());
        if boundary {
            let v = stmt.get(i + needle.len()..)?.trim_start();
            let q = v.chars().next()?;
            if q == '"' || q == '\'' {
                let body = v.get(1..)?;
                return Some(body.split_once(q).map_or(body, |(a, _)| a).to_string());
            }
            return None;
        }
        from = i + 1;
    }
    None
}

/// The file an action writes: `-/var/log/mail.log`, `/var/log/mail.log`,
/// `action(type="omfile" file="...")`. Dynamic files, remote hosts and other modules give none.
fn action_file(action: &str) -> Option<String> {
    let a = action.trim();
    if a.starts_with("action(") {
        let kind = param(a, "type")?;
        if kind != "omfile" {
            return None;
        }
        return param(a, "file");
    }
    let a = a.strip_prefix('-').unwrap_or(a);
    let a = a.strip_prefix(":omfile:").unwrap_or(a);
    let path = a.split([';', ' ']).next()?;
    path.starts_with('/').then(|| path.to_string())
}

/// Syslog priority names (rsyslog accepts `error`, `warn`, `panic` as old aliases).
fn priority(name: &str) -> Option<u8> {
    Some(match name.to_ascii_lowercase().as_str() {
        "emerg" | "panic" => 0,
        "alert" => 1,
        "crit" => 2,
        "err" | "error" => 3,
        "warning" | "warn" => 4,
        "notice" => 5,
        "info" => 6,
        "debug" | "*" => 7,
        _ => return None,
    })
}

/// What a selector (`mail.*;auth,authpriv.none`) gives the facilities in `wanted`: coverage and
/// whether the part that decided names one of them. The last part that applies wins.
fn coverage(selector: &str, wanted: &[&str]) -> (Option<Coverage>, bool) {
    let mut cov: Option<Coverage> = None;
    let mut named = false;
    for part in selector.split(';') {
        let Some((facilities, prio)) = part.trim().rsplit_once('.') else {
            continue;
        };
        let hits_named = facilities
            .split(',')
            .any(|f| wanted.contains(&f.trim().to_ascii_lowercase().as_str()));
        let hits = hits_named || facilities.split(',').any(|f| f.trim() == "*");
        if !hits {
            continue;
        }
        let prio = prio.trim();
        let this = if prio.eq_ignore_ascii_case("none") {
            None
        } else if prio.starts_with('=') || prio.starts_with('!') {
            Some(Coverage::Some)
        } else {
            match priority(prio) {
                Some(p) => Some(Coverage::UpTo(p)),
                None => continue,
            }
        };
        // Later parts override earlier ones, as in rsyslog (`*.*;mail.none` drops mail).
        cov = this;
        named = hits_named && this.is_some();
    }
    (cov, named)
}

const MAIL: &[&str] = &["mail"];
const AUTH: &[&str] = &["auth", "authpriv", "security"];

/// `facility.priority[;...]  action`.
fn selector_line(line: usize, stmt: &str) -> Option<FileRule> {
    let split = stmt.find([' ', '\t'])?;
    let (selector, action) = stmt.split_at(split);
    if !selector.contains('.') {
        return None;
    }
    let file = action_file(action)?;
    let (mail, mail_named) = coverage(selector, MAIL);
    let (auth, auth_named) = coverage(selector, AUTH);
    if mail.is_none() && auth.is_none() {
        return None;
    }
    Some(FileRule {
        file,
        line,
        selector: selector.to_string(),
        mail,
        auth,
        mail_named,
        auth_named,
    })
}

/// What a program-name condition selects: Postfix (mail) or saslauthd (auth).
fn program_streams(value: &str) -> (Option<Coverage>, Option<Coverage>) {
    let v = value.to_ascii_lowercase();
    let mail = v.starts_with("postfix").then_some(Coverage::Program);
    let auth = v.starts_with("saslauthd").then_some(Coverage::Program);
    (mail, auth)
}

/// `:programname, startswith, "postfix"  -/var/log/postfix.log`.
fn property_filter(line: usize, stmt: &str) -> Option<FileRule> {
    let rest = stmt.strip_prefix(':')?;
    let mut parts = rest.splitn(3, ',');
    let property = parts.next()?.trim();
    let _op = parts.next()?.trim();
    let tail = parts.next()?.trim_start();
    let body = tail.strip_prefix('"')?;
    let (value, action) = body.split_once('"')?;
    let (mail, auth) = match property {
        "programname" | "syslogtag" | "app-name" => program_streams(value),
        "syslogfacility-text" => facility_streams(value),
        _ => (None, None),
    };
    if mail.is_none() && auth.is_none() {
        return None;
    }
    Some(FileRule {
        file: action_file(action)?,
        line,
        selector: stmt.get(..stmt.len() - action.len())?.trim().to_string(),
        mail,
        auth,
        mail_named: mail.is_some(),
        auth_named: auth.is_some(),
    })
}

fn facility_streams(value: &str) -> (Option<Coverage>, Option<Coverage>) {
    let v = value.to_ascii_lowercase();
    let mail = (v == "mail").then_some(Coverage::UpTo(7));
    let auth = AUTH.contains(&v.as_str()).then_some(Coverage::UpTo(7));
    (mail, auth)
}

/// `if $programname startswith 'postfix' then -/var/log/postfix.log`, `if $syslogfacility-text ==
/// 'mail' then { action(type="omfile" file="...") }`: the condition's first quoted value decides.
fn if_statement(line: usize, stmt: &str) -> Option<FileRule> {
    let cond_and_action = stmt.strip_prefix("if ")?;
    let (cond, action) = cond_and_action.split_once(" then")?;
    let value = cond
        .split(['\'', '"'])
        .nth(1)
        .map(str::to_string)
        .unwrap_or_default();
    let (mail, auth) = if cond.contains("programname") || cond.contains("syslogtag") {
        program_streams(&value)
    } else if cond.contains("syslogfacility-text") {
        facility_streams(&value)
    } else {
        (None, None)
    };
    if mail.is_none() && auth.is_none() {
        return None;
    }
    let action = action.trim().trim_start_matches('{').trim();
    let file = action_file(action).or_else(|| {
        action
            .find("action(")
            .and_then(|i| action.get(i..))
            .and_then(action_file)
    })?;
    Some(FileRule {
        file,
        line,
        selector: format!("if {}", cond.trim()),
        mail,
        auth,
        mail_named: mail.is_some(),
        auth_named: auth.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian 12's /etc/rsyslog.conf (rsyslog 8.2302.0-1), rules part.
    const DEBIAN_12: &str = r#"
module(load="imuxsock") # provides support for local system logging
module(load="imklog")   # provides kernel logging support
$FileOwner root
$IncludeConfig /etc/rsyslog.d/*.conf
*.*;auth,authpriv.none		-/var/log/syslog
auth,authpriv.*			/var/log/auth.log
cron.*				-/var/log/cron.log
kern.*				-/var/log/kern.log
mail.*				-/var/log/mail.log
user.*				-/var/log/user.log
*.emerg				:omusrmsg:*
"#;

    #[test]
    fn debian_12() {
        let p = parse(DEBIAN_12);
        assert_eq!(p.includes, vec!["/etc/rsyslog.d/*.conf"]);
        let files: Vec<&str> = p.rules.iter().map(|r| r.file.as_str()).collect();
        assert_eq!(
            files,
            // cron, kern, user and the console carry neither mail nor auth.
            vec!["/var/log/syslog", "/var/log/auth.log", "/var/log/mail.log"]
        );
        let syslog = &p.rules[0];
        assert_eq!(syslog.mail, Some(Coverage::UpTo(7)));
        assert!(!syslog.mail_named);
        assert_eq!(syslog.auth, None);
        let auth = &p.rules[1];
        assert_eq!(auth.auth, Some(Coverage::UpTo(7)));
        assert!(auth.auth_named);
        assert_eq!(auth.mail, None);
        let mail = &p.rules[2];
        assert_eq!(
            (mail.mail, mail.mail_named),
            (Some(Coverage::UpTo(7)), true)
        );
        assert_eq!(mail.line, 10);
    }

    #[test]
    fn older_debian_mail_err_and_warn() {
        let p = parse(
            "mail.info -/var/log/mail.info\nmail.warn -/var/log/mail.warn\nmail.err /var/log/mail.err\n",
        );
        let cov: Vec<_> = p.rules.iter().map(|r| r.mail).collect();
        assert_eq!(
            cov,
            vec![
                Some(Coverage::UpTo(6)),
                Some(Coverage::UpTo(4)),
                Some(Coverage::UpTo(3))
            ]
        );
        assert!(!Coverage::UpTo(4).is_complete());
    }

    #[test]
    fn rainerscript_forms() {
        let text = r#"
include(file="/etc/rsyslog.d/*.conf" mode="optional")
mail.* action(type="omfile"
              file="/srv/log/mail.log")   # two lines
:programname, startswith, "postfix" -/var/log/postfix-only.log
if $programname == 'saslauthd' then /var/log/sasl.log
if $syslogfacility-text == 'mail' then {
  action(type="omfile" File="/var/log/mail-if.log")
}
mail.* ?DynamicFile
mail.* @@loghost.example:514
*.*;mail.none /var/log/no-mail.log
"#;
        let p = parse(text);
        assert_eq!(p.includes, vec!["/etc/rsyslog.d/*.conf"]);
        let got: Vec<(&str, Option<Coverage>, Option<Coverage>)> = p
            .rules
            .iter()
            .map(|r| (r.file.as_str(), r.mail, r.auth))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/srv/log/mail.log", Some(Coverage::UpTo(7)), None),
                ("/var/log/postfix-only.log", Some(Coverage::Program), None),
                ("/var/log/sasl.log", None, Some(Coverage::Program)),
                ("/var/log/mail-if.log", Some(Coverage::UpTo(7)), None),
                // `*.*;mail.none`: everything but mail, so auth.
                ("/var/log/no-mail.log", None, Some(Coverage::UpTo(7))),
            ]
        );
        assert_eq!(p.rules[0].line, 3);
    }

    #[test]
    fn none_after_wildcard_removes_the_facility() {
        let (c, _) = coverage("*.*;mail.none", MAIL);
        assert_eq!(c, None);
        let (c, named) = coverage("mail.none;*.info", MAIL);
        assert_eq!((c, named), (Some(Coverage::UpTo(6)), false));
        let (c, named) = coverage("mail,news.warn", MAIL);
        assert_eq!((c, named), (Some(Coverage::UpTo(4)), true));
    }
}
