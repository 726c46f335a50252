//! Reads Postfix's `main.cf` and `master.cf` the way Postfix does (postconf(5), master(5)):
//! comments, continuation lines, `$name`/`${name}` expansion, defaults, `-o` overrides.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ProbeError;

/// Defaults of the parameters mailcheck reads, exactly as `postconf -d` prints them (Postfix 3.7
/// on Debian 12), including the `${{$compatibility_level} <level {2} ? ... }` expressions that
/// make a default depend on `compatibility_level`. A test compares this table with `postconf -d`.
/// A parameter that is neither set nor listed here reads as empty, except `myhostname`,
/// `mydomain` (derived as Postfix derives them) and `mynetworks` (computed by Postfix from the
/// interfaces and `mynetworks_style`; it reads as empty here).
const DEFAULTS: &[(&str, &str)] = &[
    ("alias_database", "hash:/etc/aliases"),
    ("alias_maps", "hash:/etc/aliases, nis:mail.aliases"),
    (
        "append_dot_mydomain",
        "${{$compatibility_level} <level {1} ? {yes} : {no}}",
    ),
    ("biff", "yes"),
    ("broken_sasl_auth_clients", "no"),
    ("cleanup_service_name", "cleanup"),
    ("command_directory", "/usr/sbin"),
    ("compatibility_level", "0"),
    ("config_directory", "/etc/postfix"),
    ("daemon_directory", "/usr/lib/postfix/sbin"),
    ("data_directory", "/var/lib/postfix"),
    ("header_checks", ""),
    ("inet_interfaces", "all"),
    ("inet_protocols", "all"),
    ("mail_name", "Postfix"),
    ("mail_owner", "postfix"),
    ("mailbox_size_limit", "51200000"),
    ("message_size_limit", "10240000"),
    ("mime_header_checks", "$header_checks"),
    (
        "mydestination",
        "$myhostname, localhost.$mydomain, localhost",
    ),
    (
        "mynetworks_style",
        "${{$compatibility_level} <level {2} ? {subnet} : {host}}",
    ),
    ("myorigin", "$myhostname"),
    ("propagate_unmatched_extensions", "canonical, virtual"),
    ("queue_directory", "/var/spool/postfix"),
    ("recipient_delimiter", ""),
    (
        "relay_domains",
        "${{$compatibility_level} <level {2} ? {$mydestination} : {}}",
    ),
    ("relayhost", ""),
    ("setgid_group", "postdrop"),
    ("smtpd_banner", "$myhostname ESMTP $mail_name"),
    ("smtpd_client_restrictions", ""),
    ("smtpd_enforce_tls", "no"),
    ("smtpd_recipient_restrictions", ""),
    (
        "smtpd_relay_restrictions",
        "${{$compatibility_level} <level {1} ? {} : {permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination}}",
    ),
    ("smtpd_sasl_auth_enable", "no"),
    ("smtpd_sasl_authenticated_header", "no"),
    ("smtpd_sasl_path", "smtpd"),
    ("smtpd_sasl_type", "cyrus"),
    ("smtpd_tls_auth_only", "no"),
    ("smtpd_tls_cert_file", ""),
    ("smtpd_tls_chain_files", ""),
    ("smtpd_tls_dcert_file", ""),
    ("smtpd_tls_dkey_file", "$smtpd_tls_dcert_file"),
    ("smtpd_tls_eccert_file", ""),
    ("smtpd_tls_eckey_file", "$smtpd_tls_eccert_file"),
    ("smtpd_tls_key_file", "$smtpd_tls_cert_file"),
    ("smtpd_tls_security_level", ""),
    ("smtpd_use_tls", "no"),
    ("virtual_alias_maps", "$virtual_maps"),
    ("virtual_gid_maps", ""),
    ("virtual_mailbox_base", ""),
    ("virtual_mailbox_domains", "$virtual_mailbox_maps"),
    ("virtual_mailbox_limit", "51200000"),
    ("virtual_mailbox_maps", ""),
    ("virtual_maps", ""),
    ("virtual_minimum_uid", "100"),
    ("virtual_transport", "virtual"),
    ("virtual_uid_maps", ""),
];

/// The parameters whose defaults [`MainCf`] knows (for tests that compare with `postconf -d`).
pub fn known_defaults() -> impl Iterator<Item = (&'static str, &'static str)> {
    DEFAULTS.iter().copied()
}

/// Longest expanded value; longer means a `$name` loop.
const MAX_EXPANSION: usize = 64 * 1024;
/// Most `$name` lookups in one expansion; a real main.cf needs a few dozen.
const MAX_LOOKUPS: usize = 2_000;
/// Most parameters being expanded inside each other at once.
const MAX_NESTING: usize = 64;

/// The state of one expansion: what is left of the lookup budget, and the parameters being
/// expanded (a reference to one of them is a loop).
struct Expansion {
    budget: usize,
    in_progress: Vec<String>,
}

impl Expansion {
    fn new() -> Self {
        Expansion {
            budget: MAX_LOOKUPS,
            in_progress: Vec::new(),
        }
    }

    fn is_in_progress(&self, name: &str) -> bool {
        self.in_progress.iter().any(|n| n == name)
    }
}

/// One `name = value` line of main.cf, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    /// 1-based line where the logical line starts.
    pub line: usize,
}

/// Logical lines of a Postfix config file: comments and blank lines dropped, lines that start
/// with whitespace joined to the previous one. Returns (first line number, text).
pub(crate) fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with(char::is_whitespace)
            && let Some(last) = out.last_mut()
        {
            last.1.push(' ');
            last.1.push_str(trimmed);
            continue;
        }
        out.push((i + 1, trimmed.to_string()));
    }
    out
}

/// main.cf: the parameters as written, plus expansion with defaults.
#[derive(Debug, Clone, Default)]
pub struct MainCf {
    pub path: PathBuf,
    pub settings: BTreeMap<String, Setting>,
    /// Lines that are not `name = value`.
    pub malformed: Vec<(usize, String)>,
    /// The machine's hostname, for the `myhostname` default.
    pub system_hostname: String,
}

impl MainCf {
    pub fn parse(path: &Path, text: &str, system_hostname: &str) -> MainCf {
        let mut settings = BTreeMap::new();
        let mut malformed = Vec::new();
        for (line, l) in logical_lines(text) {
            match l.split_once('=') {
                Some((name, value))
                    if !name.trim().is_empty() && !name.trim().contains(char::is_whitespace) =>
                {
                    // A later setting of the same name wins, as in Postfix.
                    settings.insert(
                        name.trim().to_string(),
                        Setting {
                            value: value.trim().to_string(),
                            line,
                        },
                    );
                }
                _ => malformed.push((line, l)),
            }
        }
        MainCf {
            path: path.to_path_buf(),
            settings,
            malformed,
            system_hostname: system_hostname.to_string(),
        }
    }

    /// The value as written in main.cf, unexpanded.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(|s| s.value.as_str())
    }

    /// The main.cf line where `name` is set.
    pub fn line(&self, name: &str) -> Option<usize> {
        self.settings.get(name).map(|s| s.line)
    }

    /// The unexpanded value: as written, else Postfix's default.
    pub fn raw_or_default(&self, name: &str) -> String {
        let mut cx = Expansion::new();
        cx.in_progress.push(name.to_string());
        self.raw_or_default_in(name, &mut cx)
    }

    /// `raw_or_default` inside an expansion: a default derived from another parameter
    /// (`myhostname` from `mydomain` and back) sees a parameter already being expanded as
    /// empty, as `postconf -x` does (`myhostname = $mydomain` gives both `localdomain`).
    fn raw_or_default_in(&self, name: &str, cx: &mut Expansion) -> String {
        if let Some(v) = self.raw(name) {
            return v.to_string();
        }
        match name {
            // mail_params.c check_myhostname(): a hostname without a dot gets `.$mydomain`
            // appended when mydomain is set in main.cf, else `.localdomain`.
            "myhostname" => {
                let host = self.system_hostname.clone();
                if host.contains('.') {
                    return host;
                }
                let domain = match self.raw("mydomain") {
                    Some(d) => self.expand_in(d, 1, cx),
                    None => "localdomain".to_string(),
                };
                format!("{host}.{domain}")
            }
            // check_mydomainname(): what follows the first dot of myhostname.
            "mydomain" => match self.get_at("myhostname", 0, cx).split_once('.') {
                Some((_, d)) if !d.is_empty() => d.to_string(),
                _ => "localdomain".to_string(),
            },
            _ => DEFAULTS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default(),
        }
    }

    /// The value Postfix uses: as written or default, with `$name` expanded.
    pub fn get(&self, name: &str) -> String {
        let mut cx = Expansion::new();
        self.get_at(name, 0, &mut cx)
    }

    /// Expands `$name`, `${name}`, `$(name)`, `${name?text}`, `${name:text}`,
    /// `${name?{text}:{text}}` and the relational form `${{a} op {b} ? {t} : {f}}` (op one of
    /// `== != < <= > >=`, numeric, or `==level <level ...`, compatibility levels) in `value`.
    /// A parameter that refers back to itself, directly or through defaults, expands to empty
    /// there instead of looping.
    pub fn expand(&self, value: &str, depth: usize) -> String {
        let mut cx = Expansion::new();
        self.expand_in(value, depth, &mut cx)
    }

    fn expand_in(&self, value: &str, depth: usize, cx: &mut Expansion) -> String {
        if depth > 20 {
            return value.to_string(); // a loop of $references; Postfix gives up too
        }
        let mut out = String::new();
        // Byte positions: every character the syntax looks at (`$ { } ( ) _`, letters, digits)
        // is ASCII, so a slice between two of them is whole characters.
        let bytes = value.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            // `a = $a $a` doubles at every level: stop long before memory runs out (Postfix
            // reports such a loop as an error; no real value is anywhere near this long).
            if out.len() > MAX_EXPANSION {
                out.truncate(out.floor_char_boundary(MAX_EXPANSION));
                return out;
            }
            if bytes[i] != b'$' || i + 1 >= bytes.len() {
                let c = value[i..].chars().next().unwrap_or_default();
                out.push(c);
                i += c.len_utf8();
                continue;
            }
            let next = bytes[i + 1];
            if next == b'$' {
                out.push('$');
                i += 2;
            } else if next == b'{' || next == b'(' {
                let close = if next == b'{' { b'}' } else { b')' };
                // Find the matching close, allowing nesting.
                let mut level = 0;
                let mut j = i + 1;
                while j < bytes.len() {
                    if bytes[j] == next {
                        level += 1;
                    } else if bytes[j] == close {
                        level -= 1;
                        if level == 0 {
                            break;
                        }
                    }
                    j += 1;
                }
                let inner = &value[i + 2..j.min(bytes.len())];
                out.push_str(&self.expand_braced(inner, depth, cx));
                i = j + 1;
            } else if next.is_ascii_alphanumeric() || next == b'_' {
                let mut j = i + 1;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                out.push_str(&self.get_at(&value[i + 1..j], depth, cx));
                i = j;
            } else {
                out.push('$');
                i += 1;
            }
        }
        out
    }

    fn expand_braced(&self, inner: &str, depth: usize, cx: &mut Expansion) -> String {
        if inner.trim_start().starts_with('{') {
            return self.expand_relational(inner, depth, cx).unwrap_or_default();
        }
        let Some(p) = inner.find(['?', ':']) else {
            return self.get_at(inner.trim(), depth, cx);
        };
        let name = inner[..p].trim();
        let rest = &inner[p + 1..];
        // mac_expand tests the looked-up value before it is expanded.
        let set = !cx.is_in_progress(name) && {
            cx.in_progress.push(name.to_string());
            let v = self.raw_or_default_in(name, cx);
            cx.in_progress.pop();
            !v.is_empty()
        };
        let (when_set, when_unset) = if inner.as_bytes()[p] == b'?' {
            // `${name?text}`, `${name?{text}}` or `${name?{t}:{f}}`.
            match take_group(rest.trim_start()) {
                Some((t, after)) => {
                    let f = after
                        .trim_start()
                        .strip_prefix(':')
                        .and_then(|f| take_group(f.trim_start()))
                        .map(|(f, _)| f);
                    (Some(t), f)
                }
                None => (Some(rest), None),
            }
        } else {
            let f = take_group(rest.trim_start()).map_or(rest, |(f, _)| f);
            (None, Some(f))
        };
        let chosen = if set { when_set } else { when_unset };
        chosen.map_or_else(String::new, |t| self.expand_in(t, depth + 1, cx))
    }

    /// `{a} op {b} ? {t} : {f}` (either branch optional); `None` when it does not parse.
    fn expand_relational(&self, inner: &str, depth: usize, cx: &mut Expansion) -> Option<String> {
        let (a, rest) = take_group(inner.trim_start())?;
        let rest = rest.trim_start();
        const OPS: [&str; 12] = [
            "==level", "!=level", "<=level", ">=level", "<level", ">level", "==", "!=", "<=", ">=",
            "<", ">",
        ];
        let op = OPS.iter().find(|op| rest.starts_with(**op))?;
        let (b, rest) = take_group(rest[op.len()..].trim_start())?;
        let a = self.expand_in(a.trim(), depth + 1, cx);
        let b = self.expand_in(b.trim(), depth + 1, cx);
        let ord = if let Some(op) = op.strip_suffix("level") {
            compare_levels(&a, &b).map(|o| (op, o))
        } else if *op == "==" || *op == "!=" {
            Some((*op, a.cmp(&b)))
        } else {
            let (x, y) = (a.parse::<i64>().ok()?, b.parse::<i64>().ok()?);
            Some((*op, x.cmp(&y)))
        };
        let (op, ord) = ord?;
        use std::cmp::Ordering::{Equal, Greater, Less};
        let truth = match op {
            "==" => ord == Equal,
            "!=" => ord != Equal,
            "<" => ord == Less,
            "<=" => ord != Greater,
            ">" => ord == Greater,
            _ => ord != Less, // ">="
        };
        let mut rest = rest.trim_start();
        let mut when_true = None;
        let mut when_false = None;
        if let Some(r) = rest.strip_prefix('?') {
            let (t, r) = take_group(r.trim_start())?;
            when_true = Some(t);
            rest = r.trim_start();
        }
        if let Some(r) = rest.strip_prefix(':') {
            let (f, _) = take_group(r.trim_start())?;
            when_false = Some(f);
        }
        let chosen = if truth { when_true } else { when_false };
        Some(chosen.map_or_else(String::new, |t| self.expand_in(t.trim(), depth + 1, cx)))
    }

    fn get_at(&self, name: &str, depth: usize, cx: &mut Expansion) -> String {
        // Every `$name` costs one lookup: a reference loop (`a = $a $a`) runs out of them
        // instead of doubling 20 times.
        if cx.budget == 0 || cx.is_in_progress(name) || cx.in_progress.len() >= MAX_NESTING {
            return String::new();
        }
        cx.budget -= 1;
        cx.in_progress.push(name.to_string());
        let raw = self.raw_or_default_in(name, cx);
        let v = self.expand_in(&raw, depth + 1, cx);
        cx.in_progress.pop();
        v
    }

    /// A list-valued parameter split on commas and whitespace, as Postfix does.
    pub fn list(&self, name: &str) -> Vec<String> {
        split_list(&self.get(name))
    }
}

/// `{text}rest` → (text, rest), braces nesting; `None` when `s` does not start with `{`.
fn take_group(s: &str) -> Option<(&str, &str)> {
    if !s.starts_with('{') {
        return None;
    }
    let mut level = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => level += 1,
            '}' => {
                level -= 1;
                if level == 0 {
                    return Some((&s[1..i], &s[i + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// Compares two compatibility levels (`major[.minor[.patch]]`) component by component.
fn compare_levels(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    let parse = |s: &str| -> Option<Vec<u64>> {
        s.split('.').map(|p| p.trim().parse::<u64>().ok()).collect()
    };
    let (mut x, mut y) = (parse(a)?, parse(b)?);
    let n = x.len().max(y.len());
    x.resize(n, 0);
    y.resize(n, 0);
    Some(x.cmp(&y))
}

/// Splits a Postfix list value on commas and whitespace, as Postfix does (`mystrtokq`): a
/// `{ ... }` group (Postfix 3.0+, e.g. `inline:{ a=b, c=d }`) stays one item.
pub fn split_list(value: &str) -> Vec<String> {
    split_grouped(value, |c| c == ',' || c.is_whitespace())
}

/// Splits `text` at characters for which `is_sep` holds, except inside `{ ... }` groups,
/// which stay whole (braces included). Empty pieces are dropped.
fn split_grouped(text: &str, is_sep: impl Fn(char) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' => {
                depth = depth.saturating_sub(1);
                cur.push(c);
            }
            c if depth == 0 && is_sep(c) => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// One service line of master.cf with its `-o` overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterService {
    pub name: String,
    pub kind: String,
    pub private: String,
    pub unprivileged: String,
    pub chroot: String,
    pub wakeup: String,
    pub maxproc: String,
    pub command: String,
    pub args: Vec<String>,
    /// `-o name=value` pairs, in order.
    pub overrides: Vec<(String, String)>,
    /// The master.cf line of each of `overrides` (same order).
    pub override_lines: Vec<usize>,
    pub line: usize,
}

impl MasterService {
    /// The value an `-o` override gives `name` in this service, if any (the last one wins).
    pub fn override_value(&self, name: &str) -> Option<&str> {
        self.overrides
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The last `-o name=...` of this service: its index in `overrides` and its master.cf line.
    pub fn override_at(&self, name: &str) -> Option<(usize, usize)> {
        let i = self.overrides.iter().rposition(|(n, _)| n == name)?;
        Some((i, self.override_lines.get(i).copied().unwrap_or(self.line)))
    }

    /// The `-o` overrides that take effect: each name once, with its last value (as
    /// `postconf -P` prints them), in the order the names first appear.
    pub fn effective_overrides(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for (n, v) in &self.overrides {
            match out.iter_mut().find(|(m, _)| *m == n.as_str()) {
                Some(slot) => slot.1 = v.as_str(),
                None => out.push((n.as_str(), v.as_str())),
            }
        }
        out
    }
}

/// master.cf's services.
#[derive(Debug, Clone, Default)]
pub struct MasterCf {
    pub path: PathBuf,
    pub services: Vec<MasterService>,
    pub malformed: Vec<(usize, String)>,
    /// Comment lines that look like a service line (`#submission inet n - ...`): (line, text
    /// without the `#`). Postfix ignores them, and joins the indented `-o` lines that follow
    /// such a line to the service *before* it.
    pub commented: Vec<(usize, String)>,
}

impl MasterCf {
    pub fn parse(path: &Path, text: &str) -> MasterCf {
        let mut services = Vec::new();
        let mut malformed = Vec::new();
        let physical: Vec<&str> = text.lines().collect();
        for (line, l) in logical_lines(text) {
            let words = split_master_words(&l);
            if words.len() < 8 {
                malformed.push((line, l));
                continue;
            }
            let args: Vec<String> = words[8..].to_vec();
            let o_lines = option_lines(&physical, line);
            let mut overrides = Vec::new();
            let mut override_lines = Vec::new();
            let (mut k, mut seen) = (0, 0);
            while k < args.len() {
                if args[k] == "-o" && k + 1 < args.len() {
                    let kv = args[k + 1].trim_start_matches('{').trim_end_matches('}');
                    if let Some((n, v)) = kv.split_once('=') {
                        overrides.push((n.trim().to_string(), v.trim().to_string()));
                        override_lines.push(o_lines.get(seen).copied().unwrap_or(line));
                    }
                    seen += 1;
                    k += 2;
                } else {
                    k += 1;
                }
            }
            services.push(MasterService {
                name: words[0].clone(),
                kind: words[1].clone(),
                private: words[2].clone(),
                unprivileged: words[3].clone(),
                chroot: words[4].clone(),
                wakeup: words[5].clone(),
                maxproc: words[6].clone(),
                command: words[7].clone(),
                args,
                overrides,
                override_lines,
                line,
            });
        }
        let commented = text
            .lines()
            .enumerate()
            .filter_map(|(i, l)| {
                let body = l.trim_start().strip_prefix('#')?.trim();
                let words = split_master_words(body);
                let looks_like_service = words.len() >= 8
                    && matches!(
                        words[1].as_str(),
                        "inet" | "unix" | "unix-dgram" | "fifo" | "pass"
                    );
                looks_like_service.then(|| (i + 1, body.to_string()))
            })
            .collect();
        MasterCf {
            path: path.to_path_buf(),
            services,
            malformed,
            commented,
        }
    }

    /// The service `name` of `kind` (e.g. "submission", "inet").
    pub fn service(&self, name: &str, kind: &str) -> Option<&MasterService> {
        self.services
            .iter()
            .find(|s| s.name == name && s.kind == kind)
    }
}

/// The physical line (1-based) of each `-o` word of the logical line that starts at `start`:
/// the service line and the indented lines that continue it (comments and blank lines between
/// them are skipped, as Postfix does).
fn option_lines(physical: &[&str], start: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, l) in physical.iter().enumerate().skip(start.saturating_sub(1)) {
        let t = l.trim();
        if i + 1 > start
            && !t.is_empty()
            && !t.starts_with('#')
            && !l.starts_with(char::is_whitespace)
        {
            break;
        }
        if t.starts_with('#') {
            continue;
        }
        let n = split_master_words(t).iter().filter(|w| *w == "-o").count();
        out.extend(std::iter::repeat_n(i + 1, n));
    }
    out
}

/// Splits a master.cf line into words; `{ ... }` groups (Postfix 3.0+) stay one word.
fn split_master_words(line: &str) -> Vec<String> {
    split_grouped(line, char::is_whitespace)
}

/// Both files of one Postfix instance.
#[derive(Debug, Clone)]
pub struct PostfixConfig {
    pub config_dir: PathBuf,
    pub main: MainCf,
    pub master: MasterCf,
}

impl PostfixConfig {
    /// Reads `main.cf` and `master.cf` from `config_dir`.
    pub fn load(config_dir: &Path) -> Result<PostfixConfig, ProbeError> {
        let main_path = config_dir.join("main.cf");
        let master_path = config_dir.join("master.cf");
        let main_text =
            std::fs::read_to_string(&main_path).map_err(|e| ProbeError::from_io(&main_path, &e))?;
        let master_text = std::fs::read_to_string(&master_path)
            .map_err(|e| ProbeError::from_io(&master_path, &e))?;
        Ok(PostfixConfig {
            config_dir: config_dir.to_path_buf(),
            main: MainCf::parse(&main_path, &main_text, &system_hostname()),
            master: MasterCf::parse(&master_path, &master_text),
        })
    }

    /// `name` as Postfix reads it (expanded, with defaults).
    pub fn get(&self, name: &str) -> String {
        self.main.get(name)
    }

    /// `name` as `service` sees it: its last `-o name=value` (expanded with main.cf's
    /// parameters), else main.cf's value.
    pub fn service_get(&self, service: &MasterService, name: &str) -> String {
        match service.override_value(name) {
            Some(v) => self.main.expand(v, 0),
            None => self.main.get(name),
        }
    }
}

/// Where the value a service sees for a parameter comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingSource {
    /// The service's last `-o name=value`: the master.cf line and the text as written.
    Override { line: usize, text: String },
    /// main.cf's line.
    Main { line: usize },
    /// Postfix's default.
    Default,
}

/// One parameter as a service sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSetting {
    /// As written (the `-o` value or main.cf's), `None` when only the default applies.
    pub written: Option<String>,
    /// Expanded with main.cf's parameters.
    pub effective: String,
    pub source: SettingSource,
}

impl PostfixConfig {
    /// main.cf as `service`'s process sees it: its `-o name=value` overrides set as if main.cf
    /// said so, so `$name` references expand to the service's values too.
    pub fn main_for(&self, service: &MasterService) -> MainCf {
        let mut m = self.main.clone();
        for ((n, v), line) in service.overrides.iter().zip(&service.override_lines) {
            m.settings.insert(
                n.clone(),
                Setting {
                    value: v.clone(),
                    line: *line,
                },
            );
        }
        m
    }

    /// `name` as `service` sees it, and where that comes from (`postconf -P` and main.cf);
    /// `$references` expand with the service's overrides.
    pub fn service_setting(&self, service: &MasterService, name: &str) -> ServiceSetting {
        let seen = self.main_for(service);
        match service.override_at(name) {
            Some((i, line)) => {
                let v = service.overrides[i].1.clone();
                ServiceSetting {
                    effective: seen.expand(&v, 0),
                    source: SettingSource::Override {
                        line,
                        text: format!("-o {name}={v}"),
                    },
                    written: Some(v),
                }
            }
            None => ServiceSetting {
                written: self.main.raw(name).map(str::to_string),
                effective: seen.get(name),
                source: match self.main.line(name) {
                    Some(line) => SettingSource::Main { line },
                    None => SettingSource::Default,
                },
            },
        }
    }

    /// The inet service for `name_or_port` (`submission`, `587`, `127.0.0.1:587`).
    pub fn inet_service(&self, name: &str, port: u16) -> Option<&MasterService> {
        self.master.services.iter().find(|s| {
            let p = s.name.rsplit(':').next().unwrap_or(&s.name);
            s.kind == "inet" && (p == name || p == port.to_string())
        })
    }
}

/// The machine's hostname (Postfix's default for myhostname), from the kernel.
pub fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Where Postfix's configuration lives, as Postfix's own programs find it: the explicit setting
/// (`--config-dir`), else `$MAIL_CONFIG`, else /etc/postfix when it holds a main.cf (the
/// compiled-in default of Debian's and most builds; saves a process on the run's critical
/// path), else `postconf -h config_directory` (read-only), else /etc/postfix.
pub fn find_config_dir(explicit: Option<&Path>) -> PathBuf {
    let mail_config = std::env::var_os("MAIL_CONFIG").map(PathBuf::from);
    config_dir_from(explicit, mail_config, Path::new(DEFAULT_CONFIG_DIR), || {
        postconf_config_directory(FIND_CONFIG_DIR_LIMIT)
    })
}

/// Debian's `config_directory` default.
const DEFAULT_CONFIG_DIR: &str = "/etc/postfix";

/// postconf gets this long to name the directory (it answers in milliseconds).
const FIND_CONFIG_DIR_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// [`find_config_dir`]'s order, with the environment and postconf passed in.
fn config_dir_from(
    explicit: Option<&Path>,
    mail_config: Option<PathBuf>,
    default: &Path,
    postconf: impl FnOnce() -> Option<PathBuf>,
) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = mail_config.filter(|p| p.is_absolute()) {
        return p;
    }
    if default.join("main.cf").is_file() {
        return default.to_path_buf();
    }
    postconf().unwrap_or_else(|| default.to_path_buf())
}

/// `postconf -h config_directory`, killed after `limit`; `None` when it gives no directory.
fn postconf_config_directory(limit: std::time::Duration) -> Option<PathBuf> {
    use std::io::Read as _;
    let mut child = std::process::Command::new("postconf")
        .args(["-h", "config_directory"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < limit => {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let mut out = String::new();
    child
        .stdout
        .take()?
        .take(4096)
        .read_to_string(&mut out)
        .ok()?;
    let s = out.trim();
    (status.success() && s.starts_with('/')).then(|| PathBuf::from(s))
}

/// Map references (`type:path`) with an absolute path in a parameter value, e.g.
/// `mysql:/etc/postfix/x.cf`; `proxy:` is looked through (`proxy:mysql:/x.cf` is `mysql`).
/// Inline maps (`inline:{...}`, `regexp:{...}`) and NIS-style names are left out.
pub fn map_references(value: &str) -> Vec<(String, PathBuf)> {
    split_list(value)
        .into_iter()
        .filter_map(|item| {
            let mut rest = item.as_str();
            while let Some(r) = rest
                .strip_prefix("proxy:")
                .or_else(|| rest.strip_prefix("proxywrite:"))
            {
                rest = r;
            }
            let (kind, path) = rest.split_once(':')?;
            (path.starts_with('/') && !kind.is_empty())
                .then(|| (kind.to_string(), PathBuf::from(path)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn main_cf(text: &str) -> MainCf {
        MainCf::parse(Path::new("/etc/postfix/main.cf"), text, "vm.example.org")
    }

    #[test]
    fn continuation_lines_comments_and_last_wins() {
        let m = main_cf(
            "# comment\nmydestination = a,\n  b\n    # indented comment\nmynetworks = 1\nmynetworks = 127.0.0.0/8\n",
        );
        assert_eq!(m.get("mydestination"), "a, b");
        assert_eq!(m.get("mynetworks"), "127.0.0.0/8");
        assert_eq!(m.settings["mynetworks"].line, 6);
    }

    #[test]
    fn expansion_and_defaults() {
        let m = main_cf("myhostname = atlantis.example.com\nsmtpd_tls_cert_file = /x.pem\n");
        assert_eq!(m.get("mydomain"), "example.com");
        assert_eq!(
            m.get("mydestination"),
            "atlantis.example.com, localhost.example.com, localhost"
        );
        assert_eq!(m.get("smtpd_tls_key_file"), "/x.pem");
        assert_eq!(m.get("smtpd_banner"), "atlantis.example.com ESMTP Postfix");
        assert_eq!(
            m.expand("${myhostname}/$(mail_name)/$$", 0),
            "atlantis.example.com/Postfix/$"
        );
        assert_eq!(
            m.expand("${smtpd_use_tls?yes}${relayhost:none}", 0),
            "yesnone"
        );
    }

    #[test]
    fn empty_value_is_empty_not_default() {
        let m = main_cf("mydestination =\n");
        assert_eq!(m.get("mydestination"), "");
        assert!(m.list("mydestination").is_empty());
    }

    #[test]
    fn default_hostname_is_the_system_one() {
        assert_eq!(main_cf("").get("myhostname"), "vm.example.org");
        // check_myhostname(): a bare hostname gets .$mydomain, else .localdomain.
        let bare = |text: &str| MainCf::parse(Path::new("main.cf"), text, "vm");
        assert_eq!(bare("").get("myhostname"), "vm.localdomain");
        assert_eq!(bare("").get("mydomain"), "localdomain");
        assert_eq!(
            bare("mydomain = corp.test\n").get("myhostname"),
            "vm.corp.test"
        );
        // The tutorial's warning: myhostname = example.com gives mydomain = com.
        assert_eq!(bare("myhostname = example.com\n").get("mydomain"), "com");
    }

    #[test]
    fn compatibility_level_expressions() {
        let old = main_cf("");
        assert_eq!(old.get("mynetworks_style"), "subnet");
        assert_eq!(old.get("append_dot_mydomain"), "yes");
        assert_eq!(old.get("smtpd_relay_restrictions"), "");
        assert_eq!(
            old.get("relay_domains"),
            "vm.example.org, localhost.example.org, localhost"
        );
        let new = main_cf("compatibility_level = 3.6\n");
        assert_eq!(new.get("mynetworks_style"), "host");
        assert_eq!(new.get("append_dot_mydomain"), "no");
        assert_eq!(new.get("relay_domains"), "");
        assert_eq!(
            new.get("smtpd_relay_restrictions"),
            "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"
        );
        // The forms `postconf -xh` was seen to evaluate this way (Postfix 3.7).
        let m = main_cf("compatibility_level=3.6\n");
        assert_eq!(
            m.expand(
                "${{$compatibility_level} == {3.6} ? {eq} : {ne}} ${{10} < {9} ? {lt}:{ge}} ${{3.10} >level {3.9} ? {gt}} ${{a} != {b}:{never}} ${{ 2 } <= {2}?{le}} ${{$mail_name}=={Postfix}?{pf}}",
                0
            ),
            "eq ge gt  le pf"
        );
        assert_eq!(
            m.expand(
                "${mail_name?{yes}:{no}} ${nonexist?{yes}:{no}} ${nonexist:y}",
                0
            ),
            "yes no y"
        );
    }

    #[test]
    fn master_cf_services_and_overrides() {
        let text = "smtp      inet  n       -       y       -       -       smtpd\n#submission inet n - y - - smtpd\nsubmission inet n       -       -       -       -       smtpd\n  -o smtpd_tls_security_level=encrypt\n  -o smtpd_sasl_auth_enable=yes\n  -o { smtpd_client_restrictions = permit_sasl_authenticated,reject }\n";
        let m = MasterCf::parse(Path::new("master.cf"), text);
        assert_eq!(m.services.len(), 2);
        let s = m.service("submission", "inet").expect("submission");
        assert_eq!(
            s.override_value("smtpd_tls_security_level"),
            Some("encrypt")
        );
        assert_eq!(
            s.override_value("smtpd_client_restrictions"),
            Some("permit_sasl_authenticated,reject")
        );
        assert_eq!(s.line, 3);
    }

    #[test]
    fn expansion_cap_cuts_at_a_character_boundary() {
        // 327 copies of a 201-byte value pass the 64 KiB cap; byte 65,536 falls inside an `é`,
        // where String::truncate panicked.
        let text = format!("b = a{}\nc = {}\n", "é".repeat(100), "$b".repeat(400));
        let v = main_cf(&text).get("c");
        assert!(v.len() <= MAX_EXPANSION && v.len() > MAX_EXPANSION - 4);
        assert!(v.starts_with("aéé"));
    }

    #[test]
    fn defaults_that_refer_back_do_not_loop() {
        // Found on real configs: `myhostname = $mydomain` with mydomain unset overflowed the
        // stack (mydomain's default is derived from myhostname). `postconf -xh` gives both
        // `localdomain` here, and `vm.` for the other direction on a host named `vm`.
        let bare = |text: &str| MainCf::parse(Path::new("main.cf"), text, "vm");
        let m = bare("myhostname = $mydomain\n");
        assert_eq!(m.get("myhostname"), "localdomain");
        assert_eq!(m.get("mydomain"), "localdomain");
        assert_eq!(
            m.get("mydestination"),
            "localdomain, localhost.localdomain, localhost"
        );
        assert_eq!(m.raw_or_default("mydomain"), "localdomain");
        let m = bare("mydomain = $myhostname\n");
        assert_eq!(m.get("myhostname"), "vm.");
        assert_eq!(m.get("mydomain"), "vm.");
        // With a dotted system name nothing is derived from mydomain.
        let m = main_cf("myhostname = $mydomain\n");
        assert_eq!(m.get("mydomain"), "localdomain");
        // Both set, each naming the other (Postfix: "unreasonable macro call nesting"):
        // empty, not a crash.
        let m = bare("myhostname = $mydomain\nmydomain = ${myhostname?x}$myhostname\n");
        assert_eq!(m.get("myhostname"), "");
        let _ = m.get("smtpd_banner");
        // A parameter that names itself through a conditional.
        let m = bare("a = ${a?{$a}:{x}} $b\nb = $(a)\n");
        assert_eq!(m.get("a"), "x ");
    }

    #[test]
    fn last_override_of_a_name_wins() {
        let text = "submission inet n - y - - smtpd\n  -o smtpd_tls_security_level=none\n  -o smtpd_sasl_auth_enable=yes\n  -o smtpd_tls_security_level=encrypt\n";
        let m = MasterCf::parse(Path::new("master.cf"), text);
        let s = m.service("submission", "inet").expect("submission");
        assert_eq!(
            s.effective_overrides(),
            vec![
                ("smtpd_tls_security_level", "encrypt"),
                ("smtpd_sasl_auth_enable", "yes")
            ]
        );
        assert_eq!(
            s.override_value("smtpd_tls_security_level"),
            Some("encrypt")
        );
    }

    #[test]
    fn config_dir_is_found_as_postfix_finds_it() {
        let tmp = std::env::temp_dir().join(format!("mc-config-dir-{}", std::process::id()));
        let with_main = tmp.join("postfix");
        std::fs::create_dir_all(&with_main).unwrap();
        std::fs::write(with_main.join("main.cf"), "").unwrap();
        let empty = tmp.join("none");
        let asked = |explicit: Option<&Path>, env: Option<&str>, default: &Path| {
            let called = std::cell::Cell::new(false);
            let dir = config_dir_from(explicit, env.map(PathBuf::from), default, || {
                called.set(true);
                Some(PathBuf::from("/from/postconf"))
            });
            (dir, called.get())
        };
        let explicit = Path::new("/srv/pf");
        assert_eq!(
            asked(Some(explicit), Some("/env"), &with_main),
            (explicit.to_path_buf(), false)
        );
        assert_eq!(
            asked(None, Some("/env"), &with_main),
            (PathBuf::from("/env"), false)
        );
        assert_eq!(asked(None, None, &with_main), (with_main.clone(), false));
        // A relative MAIL_CONFIG is not a directory Postfix would use either.
        assert_eq!(
            asked(None, Some("rel"), &with_main),
            (with_main.clone(), false)
        );
        // No main.cf in the default: postconf says where its build looks.
        assert_eq!(
            asked(None, None, &empty),
            (PathBuf::from("/from/postconf"), true)
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn map_refs() {
        let r = map_references("mysql:/etc/postfix/a.cf, hash:/etc/aliases nis:mail.aliases");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0, "mysql");
    }
}

/// `postconf -c DIR -h NAME`: the value Postfix computes for a parameter (e.g. mynetworks from
/// mynetworks_style when main.cf does not set it). Read-only; bounded by `limit`.
pub async fn postconf_value(
    config_dir: &Path,
    name: &str,
    limit: std::time::Duration,
) -> Result<String, ProbeError> {
    let mut cmd = tokio::process::Command::new("postconf");
    cmd.arg("-c")
        .arg(config_dir)
        .args(["-h", name])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(limit, cmd.output()).await {
        Err(_) => Err(ProbeError::Other(format!(
            "postconf -h {name} did not answer in time"
        ))),
        Ok(Err(e)) => Err(ProbeError::Other(format!(
            "cannot run postconf -h {name}: {e}"
        ))),
        Ok(Ok(o)) if !o.status.success() => Err(ProbeError::Other(format!(
            "postconf -h {name} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ))),
        Ok(Ok(o)) => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
    }
}

/// What a `virtual_uid_maps`/`virtual_gid_maps` value says when it is a `static:` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticId {
    /// Not `static:N` (a lookup table, or empty).
    NotStatic,
    Id(u32),
    /// `static:` followed by something that is not a number.
    Invalid,
}

/// Reads `static:5000`.
pub fn static_id(value: &str) -> StaticId {
    match value.trim().strip_prefix("static:") {
        None => StaticId::NotStatic,
        Some(n) => n.trim().parse().map_or(StaticId::Invalid, StaticId::Id),
    }
}
