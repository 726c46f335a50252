//! The virtual-domain settings and the `mysql:` map files they name (mysql_table(5),
//! VIRTUAL_README): T13 the four map files and their queries, T15 the virtual_* settings,
//! T16 relay_domains' map file (the tutorial's `.cfl` typo).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Param, config};
use crate::context::Ctx;
use crate::probe::ProbeError;
use crate::probe::maps::{MYSQL_KEYS, MysqlMap, MysqlMapSummary, data_file};
use crate::probe::postfix::map_references;
use crate::verdict::{Verdict, worst_of};

/// The tutorial's typo: `mysql_relay_domains_maps.cfl`. When a missing map file ends so and the
/// `.cf` beside it exists, the message says so.
fn typo_note(path: &Path, sibling_exists: bool) -> String {
    if path.extension().is_some_and(|e| e == "cfl") {
        let fixed = path.with_extension("cf");
        let exists = if sibling_exists {
            format!("{} exists", fixed.display())
        } else {
            format!("nor does {}", fixed.display())
        };
        format!(" (the tutorial's own typo: it prints .cfl for .cf; {exists})")
    } else {
        String::new()
    }
}

// ---------------------------------------------------------------------------------------------
// T13: the mysql map files.

/// One map the tutorial creates: the parameter that names it and the lookup it must do.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedMysqlMap {
    /// main.cf parameter, e.g. "virtual_alias_maps".
    pub parameter: String,
    /// The tutorial's file name, for messages.
    pub file: String,
    /// `SELECT <select> FROM <from> WHERE <key>='%s'`, compared without spaces, case and
    /// quotes around numbers.
    pub select: String,
    pub from: String,
    pub key: String,
    /// Conditions the query must also have, e.g. "backupmx = '0'".
    #[serde(default)]
    pub conditions: Vec<String>,
}

/// T13: the maps and the keys every map file needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlMapFilesSpec {
    pub required_keys: Vec<String>,
    pub maps: Vec<ExpectedMysqlMap>,
}

/// One parameter's mysql map file as read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MysqlMapFile {
    pub param: Param,
    /// The first `mysql:` file the parameter names.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Its keys and query (never the password).
    #[serde(default)]
    pub map: Option<MysqlMapSummary>,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub needs_root: bool,
    /// For a missing `.cfl` file: whether the `.cf` beside it exists.
    #[serde(default)]
    pub sibling_exists: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MysqlMapFilesObservation {
    pub files: Vec<MysqlMapFile>,
}

pub async fn mysql_map_files(spec: &MysqlMapFilesSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    let files = spec
        .maps
        .iter()
        .map(|m| {
            let param = Param::read(&cfg.main, &m.parameter);
            let path = map_references(&param.effective)
                .into_iter()
                .find(|(k, _)| k == "mysql")
                .map(|(_, p)| p);
            let mut f = MysqlMapFile {
                param,
                path: path.clone(),
                map: None,
                problem: None,
                missing: false,
                needs_root: false,
                sibling_exists: false,
            };
            if let Some(p) = &path {
                match MysqlMap::load(p) {
                    Ok(m) => f.map = Some(m.summary()),
                    Err(e) => {
                        f.missing = matches!(e, ProbeError::NotFound { .. });
                        f.needs_root = matches!(e, ProbeError::PermissionDenied { .. });
                        f.sibling_exists = p.with_extension("cf").exists();
                        f.problem = Some(e.to_string());
                    }
                }
            }
            f
        })
        .collect();
    judge_mysql_map_files(spec, &MysqlMapFilesObservation { files })
}

/// SQL as compared: lower case, no whitespace or backquotes, `"` as `'`, and `'123'` as `123`.
fn normalise_sql(s: &str) -> String {
    let flat: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '`')
        .map(|c| {
            if c == '"' {
                '\''
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    // Unquote numeric literals.
    let chars: Vec<char> = flat.chars().collect();
    let mut out = String::with_capacity(flat.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\'' {
            let digits = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if digits > 0 && chars.get(i + 1 + digits) == Some(&'\'') {
                out.extend(&chars[i + 1..i + 1 + digits]);
                i += digits + 2;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

pub fn judge_mysql_map_files(spec: &MysqlMapFilesSpec, o: &MysqlMapFilesObservation) -> Verdict {
    let evidence = json!({ "files": o.files });
    let mut findings = Vec::new();
    let mut ok = Vec::new();
    for want in &spec.maps {
        let Some(f) = o.files.iter().find(|f| f.param.name == want.parameter) else {
            findings.push(Verdict::error(format!("{} was not read", want.parameter)));
            continue;
        };
        let Some(path) = &f.path else {
            findings.push(Verdict::fail(format!(
                "{} names no mysql: map; the tutorial has mysql:<config dir>/{}",
                f.param.shown(),
                want.file
            )));
            continue;
        };
        let shown = path.display();
        let Some(map) = &f.map else {
            let problem = f.problem.clone().unwrap_or_default();
            if f.needs_root {
                findings.push(Verdict::error(problem));
            } else if f.missing {
                findings.push(Verdict::fail(format!(
                    "{}: {shown} does not exist{}",
                    f.param.shown(),
                    typo_note(path, f.sibling_exists)
                )));
            } else {
                findings.push(Verdict::error(problem));
            }
            continue;
        };
        let mut wrong = Vec::new();
        for key in &spec.required_keys {
            let empty = match key.as_str() {
                "password" => !map.has_password,
                "user" => map.user.is_empty(),
                "hosts" => map.hosts.is_empty(),
                "dbname" => map.dbname.is_empty(),
                _ => false,
            };
            if !map.keys.contains_key(key) {
                wrong.push(format!("no `{key} =` line"));
            } else if empty {
                wrong.push(format!("`{key} =` is empty"));
            }
        }
        let expected = format!(
            "SELECT {} FROM {} WHERE {}='%s'",
            want.select, want.from, want.key
        );
        match &map.query {
            None => wrong.push(
                "neither `query =` nor table/select_field/where_field: Postfix cannot build a lookup"
                    .to_string(),
            ),
            Some(q) => {
                let nq = normalise_sql(q);
                if !nq.contains(&normalise_sql(&expected)) {
                    wrong.push(format!("the lookup is `{q}`, not the tutorial's `{expected}`"));
                }
                for c in &want.conditions {
                    if !nq.contains(&normalise_sql(c)) {
                        wrong.push(format!("the lookup `{q}` lacks the condition `{c}`"));
                    }
                }
            }
        }
        if !wrong.is_empty() {
            findings.push(Verdict::fail(format!(
                "{shown} (from {}): {}",
                want.parameter,
                wrong.join(", ")
            )));
            continue;
        }
        let mut oddities = Vec::new();
        for (k, line) in &map.keys {
            if !MYSQL_KEYS.contains(&k.as_str()) {
                oddities.push(format!("unknown key `{k}` (line {line})"));
            }
        }
        for (line, text) in &map.malformed {
            oddities.push(format!("line {line} is not `key = value`: {text}"));
        }
        if !oddities.is_empty() {
            findings.push(Verdict::warn(format!("{shown}: {}", oddities.join(", "))));
        }
        ok.push(format!(
            "{} ({})",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            map.query.clone().unwrap_or_default().trim()
        ));
    }
    let pass = format!(
        "{} map files hold user, password, hosts, dbname and the tutorial's lookups: {}",
        ok.len(),
        ok.join("; ")
    );
    worst_of(findings, &pass).with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T15: virtual_* settings.

/// T15: the transport and the parameters that must be mysql: maps; the uid, gid and home come
/// from the settings and the real vmail user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualSettingsSpec {
    pub transport: String,
    pub mysql_maps: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VirtualSettingsObservation {
    pub virtual_mailbox_base: Param,
    pub virtual_transport: Param,
    pub maps: Vec<Param>,
    pub virtual_minimum_uid: Param,
    pub virtual_uid_maps: Param,
    pub virtual_gid_maps: Param,
    /// The settings (tutorial: /home/vmail, vmail, 5000:5000, or the config's).
    pub vmail_home: PathBuf,
    pub vmail_user: String,
    pub vmail_group: String,
    pub vmail_uid: u32,
    pub vmail_gid: u32,
    /// The real ids of that user and group, when they exist.
    #[serde(default)]
    pub actual_uid: Option<u32>,
    #[serde(default)]
    pub actual_gid: Option<u32>,
}

pub async fn virtual_settings(spec: &VirtualSettingsSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    let s = &ctx.settings;
    let user = uzers::get_user_by_name(&s.vmail_user);
    let actual_gid = uzers::get_group_by_name(&s.vmail_group)
        .map(|g| g.gid())
        .or_else(|| user.as_ref().map(|u| u.primary_group_id()));
    let main = &cfg.main;
    judge_virtual_settings(
        spec,
        &VirtualSettingsObservation {
            virtual_mailbox_base: Param::read(main, "virtual_mailbox_base"),
            virtual_transport: Param::read(main, "virtual_transport"),
            maps: spec
                .mysql_maps
                .iter()
                .map(|n| Param::read(main, n))
                .collect(),
            virtual_minimum_uid: Param::read(main, "virtual_minimum_uid"),
            virtual_uid_maps: Param::read(main, "virtual_uid_maps"),
            virtual_gid_maps: Param::read(main, "virtual_gid_maps"),
            vmail_home: s.vmail_home.clone(),
            vmail_user: s.vmail_user.clone(),
            vmail_group: s.vmail_group.clone(),
            vmail_uid: s.vmail_uid,
            vmail_gid: s.vmail_gid,
            actual_uid: user.map(|u| u.uid()),
            actual_gid,
        },
    )
}

/// `static:5000` → 5000; `None` when the value is not a `static:` map, `Err` with the value
/// when its number does not parse.
pub fn static_id(value: &str) -> Option<Result<u32, String>> {
    let v = value.trim();
    let n = v.strip_prefix("static:")?;
    Some(n.trim().parse::<u32>().map_err(|_| v.to_string()))
}

pub fn judge_virtual_settings(
    spec: &VirtualSettingsSpec,
    o: &VirtualSettingsObservation,
) -> Verdict {
    let evidence = serde_json::to_value(o).unwrap_or_default();
    let mut findings = Vec::new();
    let base = o
        .virtual_mailbox_base
        .effective
        .trim()
        .trim_end_matches('/');
    let home = o.vmail_home.to_string_lossy();
    if base != home.trim_end_matches('/') {
        findings.push(
            Verdict::fail(format!(
                "{}, not {home}: mailboxes would not be under vmail's home",
                o.virtual_mailbox_base.shown()
            ))
            .with_fix(format!(
                "postconf -e 'virtual_mailbox_base = {home}' && postfix reload"
            )),
        );
    }
    if o.virtual_transport.effective.trim() != spec.transport {
        findings.push(Verdict::fail(format!(
            "{}, not {}: mail for the virtual domains does not go to Postfix's virtual(8) agent and {home}",
            o.virtual_transport.shown(),
            spec.transport
        )));
    }
    for p in &o.maps {
        let refs = map_references(&p.effective);
        if !refs.iter().any(|(k, _)| k == "mysql") {
            findings.push(Verdict::fail(format!(
                "{} names no mysql: map: Postfix does not ask the database",
                p.shown()
            )));
        }
    }
    // Compare with the real user when it exists (T8 checks it against the settings).
    let (uid, uid_from) = match o.actual_uid {
        Some(u) => (u, format!("user {}'s uid", o.vmail_user)),
        None => (
            o.vmail_uid,
            format!("the configured uid (user {} does not exist)", o.vmail_user),
        ),
    };
    let (gid, gid_from) = match o.actual_gid {
        Some(g) => (g, format!("group {}'s gid", o.vmail_group)),
        None => (
            o.vmail_gid,
            format!(
                "the configured gid (group {} does not exist)",
                o.vmail_group
            ),
        ),
    };
    match o.virtual_minimum_uid.effective.trim().parse::<u32>() {
        Ok(min) if min > uid => findings.push(Verdict::fail(format!(
            "{} is above {uid_from} {uid}: virtual(8) refuses to deliver as that uid",
            o.virtual_minimum_uid.shown()
        ))),
        Ok(_) => {}
        Err(_) => findings.push(Verdict::fail(format!(
            "{} is not a number",
            o.virtual_minimum_uid.shown()
        ))),
    }
    for (p, want, from) in [
        (&o.virtual_uid_maps, uid, &uid_from),
        (&o.virtual_gid_maps, gid, &gid_from),
    ] {
        match static_id(&p.effective) {
            Some(Ok(n)) if n == want => {}
            Some(Ok(n)) => findings.push(
                Verdict::fail(format!(
                    "{}, but {from} is {want}: mailboxes get owner {n}, which vmail cannot use",
                    p.shown()
                ))
                .with_fix(format!(
                    "postconf -e '{} = static:{want}' && postfix reload",
                    p.name
                )),
            ),
            Some(Err(v)) => findings.push(Verdict::fail(format!(
                "{}: {v} is not static:<number>",
                p.shown()
            ))),
            None if p.effective.trim().is_empty() => findings.push(Verdict::fail(format!(
                "{} is empty: virtual(8) has no id to deliver as (the tutorial: static:{want})",
                p.name
            ))),
            None => findings.push(Verdict::warn(format!(
                "{} is a lookup table; mailcheck cannot tell whether it gives {want} ({from})",
                p.shown()
            ))),
        }
    }
    let pass = format!(
        "virtual_mailbox_base = {base}, virtual_transport = {}, {} are mysql: maps, virtual_minimum_uid = {}, virtual_uid_maps = {}, virtual_gid_maps = {} ({uid_from} {uid}, {gid_from} {gid})",
        o.virtual_transport.effective,
        o.maps
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        o.virtual_minimum_uid.effective,
        o.virtual_uid_maps.effective,
        o.virtual_gid_maps.effective
    );
    worst_of(findings, &pass).with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T16: relay_domains' map file.

/// T16: the parameter and the tutorial's file name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayDomainsSpec {
    pub parameter: String,
    pub file: String,
}

/// One file a parameter names (`type:/path` or a plain `/path`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedFile {
    /// Map type, or "file" for a `/file/name` list.
    pub kind: String,
    /// As named.
    pub path: PathBuf,
    /// What Postfix opens (`hash:` maps add `.db`).
    pub opens: PathBuf,
    #[serde(default)]
    pub exists: bool,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub needs_root: bool,
    #[serde(default)]
    pub sibling_exists: bool,
}

impl NamedFile {
    pub fn check(kind: &str, path: &Path) -> NamedFile {
        let opens = data_file(kind, path);
        let (exists, problem, needs_root) = match std::fs::metadata(&opens) {
            Ok(_) => (true, None, false),
            Err(e) => {
                let e = ProbeError::from_io(&opens, &e);
                let root = matches!(e, ProbeError::PermissionDenied { .. });
                (false, Some(e.to_string()), root)
            }
        };
        NamedFile {
            kind: kind.to_string(),
            path: path.to_path_buf(),
            sibling_exists: !exists && path.with_extension("cf").exists(),
            opens,
            exists,
            problem,
            needs_root,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RelayDomainsObservation {
    pub param: Param,
    #[serde(default)]
    pub files: Vec<NamedFile>,
}

pub async fn relay_domains_map(spec: &RelayDomainsSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    let param = Param::read(&cfg.main, &spec.parameter);
    let mut files: Vec<NamedFile> = map_references(&param.effective)
        .iter()
        .map(|(k, p)| NamedFile::check(k, p))
        .collect();
    for e in param.list() {
        if e.starts_with('/') {
            files.push(NamedFile::check("file", Path::new(&e)));
        }
    }
    judge_relay_domains_map(spec, &RelayDomainsObservation { param, files })
}

pub fn judge_relay_domains_map(spec: &RelayDomainsSpec, o: &RelayDomainsObservation) -> Verdict {
    let evidence = json!({ "param": o.param, "files": o.files });
    let shown = o.param.shown();
    if o.param.list().is_empty() {
        return Verdict::warn(format!(
            "{} is empty: this server is backup MX for no domain; the tutorial points it at a mysql: map ({})",
            o.param.name, spec.file
        ))
        .with_evidence(evidence);
    }
    if o.files.is_empty() {
        return Verdict::pass(format!("{shown} lists domains, no map file"))
            .with_evidence(evidence);
    }
    let mut findings = Vec::new();
    for f in &o.files {
        if f.exists {
            continue;
        }
        if f.needs_root {
            findings.push(Verdict::error(f.problem.clone().unwrap_or_default()));
            continue;
        }
        let what = if f.opens == f.path {
            format!("{} does not exist", f.path.display())
        } else {
            format!(
                "{} does not exist (run postmap {})",
                f.opens.display(),
                f.path.display()
            )
        };
        findings.push(
            Verdict::fail(format!(
                "{shown}: {what}{}: Postfix cannot open the table and defers mail with \"451 4.3.5 Server configuration error\"",
                typo_note(&f.path, f.sibling_exists)
            ))
            .with_fix(if f.path.extension().is_some_and(|e| e == "cfl") {
                format!(
                    "postconf -e '{} = {}:{}' && postfix reload",
                    o.param.name,
                    f.kind,
                    f.path.with_extension("cf").display()
                )
            } else {
                format!(
                    "create {} or correct {} in main.cf, then postfix reload",
                    f.opens.display(),
                    o.param.name
                )
            }),
        );
    }
    let names: Vec<String> = o
        .files
        .iter()
        .map(|f| f.opens.display().to_string())
        .collect();
    worst_of(findings, &format!("{shown}: {} exists", names.join(", "))).with_evidence(evidence)
}
