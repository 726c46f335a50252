//! T34: mime_header_checks names a regexp:/pcre: table whose first matching rule rejects an
//! attachment by name, quoted or not (header_checks(5), regexp_table(5)).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Param;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::ProbeError;
use crate::probe::maps::{PatternError, RegexpTable};
use crate::probe::postfix::map_references;
use crate::verdict::Verdict;

/// T34: the header lines a rule must reject and the fix to suggest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub parameter: String,
    /// A MIME header with an unquoted attachment name: the tutorial's rule must reject it.
    pub unquoted: String,
    /// The same with a quoted name, as mail programs write it.
    pub quoted: String,
    /// The rule that rejects both.
    pub fix_rule: String,
    /// Judge the mail this master.cf smtpd service receives: its receive_override_options
    /// and the cleanup service it hands mail to (cleanup_service_name), whose `-o` or
    /// main.cf's value of `parameter` applies (header checks are cleanup(8)'s parameters).
    #[serde(default)]
    pub service: Option<super::ServiceSpec>,
}

/// One table the parameter names.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HeaderTable {
    pub kind: String,
    pub path: PathBuf,
    #[serde(default)]
    pub table: Option<RegexpTable>,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub needs_root: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub param: Param,
    #[serde(default)]
    pub tables: Vec<HeaderTable>,
    /// With a service: its receive_override_options (`no_header_body_checks` turns the
    /// checks off for the mail it receives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_override_options: Option<Param>,
    /// With a service: its cleanup_service_name, and whether master.cf has that service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_service_name: Option<Param>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cleanup_service_missing: bool,
}

/// T34: the kind.
pub struct MimeHeaderChecks;

impl Kind for MimeHeaderChecks {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let svc = super::service_of(&cfg, spec.service.as_ref())?;
        let roo = svc.map(|s| Param::read_for(&cfg, Some(s), "receive_override_options"));
        let cleanup_name = svc.map(|s| Param::read_for(&cfg, Some(s), "cleanup_service_name"));
        // The cleanup(8) service the smtpd hands mail to reads the header checks.
        let cleanup = cleanup_name.as_ref().and_then(|p| {
            let want = p.effective.trim();
            cfg.master
                .services
                .iter()
                .find(|s| s.name == want && s.kind == "unix")
        });
        let cleanup_service_missing = cleanup_name.is_some() && cleanup.is_none();
        let param = Param::read_for(&cfg, cleanup, &spec.parameter);
        let tables = map_references(&param.effective)
            .into_iter()
            .map(|(kind, path)| {
                let mut t = HeaderTable {
                    kind: kind.clone(),
                    path: path.clone(),
                    table: None,
                    problem: None,
                    missing: false,
                    needs_root: false,
                };
                if kind == "regexp" || kind == "pcre" {
                    match std::fs::read_to_string(&path) {
                        Ok(text) => t.table = Some(RegexpTable::parse(&text)),
                        Err(e) => {
                            let e = ProbeError::from_io(&path, &e);
                            t.missing = matches!(e, ProbeError::NotFound { .. });
                            t.needs_root = matches!(e, ProbeError::PermissionDenied { .. });
                            t.problem = Some(e.to_string());
                        }
                    }
                }
                t
            })
            .collect();
        Ok(Observation {
            param,
            tables,
            receive_override_options: roo,
            cleanup_service_name: cleanup_name,
            cleanup_service_missing,
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        if let Some(roo) = &o.receive_override_options
            && roo
                .list()
                .iter()
                .any(|x| x.eq_ignore_ascii_case("no_header_body_checks"))
        {
            let svc = roo.service.as_ref().map(|s| s.name.as_str()).unwrap_or("");
            return Verdict::fail(format!(
                "{}: no_header_body_checks turns off {} for the mail `{svc}` receives: .exe attachments get through there",
                roo.shown(),
                spec.parameter
            ))
            .with_fix(roo.fix("remove no_header_body_checks from receive_override_options in main.cf, then `postfix reload`"));
        }
        if o.cleanup_service_missing
            && let Some(c) = &o.cleanup_service_name
        {
            return Verdict::fail(format!(
                "{}: master.cf has no `{} unix` service, so mail received there cannot be cleaned up (or header-checked)",
                c.shown(),
                c.effective.trim()
            ))
            .with_fix(c.fix("set cleanup_service_name = cleanup, then `postfix reload`"));
        }
        let shown = o.param.shown();
        let fix_file = o
            .tables
            .first()
            .map_or("/etc/postfix/mime_header_checks".to_string(), |t| {
                t.path.display().to_string()
            });
        if o.param.list().is_empty() {
            return Verdict::fail(format!(
                "{} is empty: no MIME header is checked, so .exe attachments are accepted",
                if o.param.service.is_some() {
                    shown.clone()
                } else {
                    o.param.name.clone()
                }
            ))
            .with_fix(o.param.fix(&format!(
                "postconf -e '{} = regexp:{fix_file}' && echo '{}' >> {fix_file} && postfix reload",
                o.param.name, spec.fix_rule
            )));
        }
        for t in &o.tables {
            if t.needs_root {
                return Verdict::error(t.problem.clone().unwrap_or_default());
            }
            if t.missing {
                return Verdict::fail(format!(
                    "{shown}: {} does not exist: Postfix cannot check MIME headers and defers mail",
                    t.path.display()
                ));
            }
            if let Some(p) = &t.problem {
                return Verdict::error(p.clone());
            }
        }
        if !o.tables.iter().any(|t| t.table.is_some()) {
            return Verdict::warn(format!(
                "{shown}: mailcheck evaluates only regexp: and pcre: tables named by a file"
            ));
        }
        let (unquoted, quoted) = match (
            first_action(&o.tables, &spec.unquoted),
            first_action(&o.tables, &spec.quoted),
        ) {
            (Ok(u), Ok(q)) => (u, q),
            (Err(e), _) | (_, Err(e)) => {
                return Verdict::error(format!("{shown}: {e}"));
            }
        };
        match (&unquoted, &quoted) {
            (Some(u), Some(q)) if rejects(&u.action) && rejects(&q.action) => Verdict::pass(format!(
                "{shown}: {} line {} `{}` rejects `{}`, and line {} rejects the quoted form too",
                u.table.display(),
                u.line,
                u.rule,
                spec.unquoted,
                q.line
            )),
            (Some(u), _) if rejects(&u.action) => Verdict::warn(format!(
                "{shown}: {} line {} `{}` rejects `{}` but not `{}`, the quoted form mail programs send (the tutorial's rule has this gap)",
                u.table.display(),
                u.line,
                u.rule,
                spec.unquoted,
                spec.quoted
            ))
            .with_fix(format!(
                "replace the rule in {} with `{}`, then postfix reload",
                u.table.display(),
                spec.fix_rule
            )),
            (u, _) => {
                let hit = u
                    .as_ref()
                    .map(|u| format!(" (line {} `{}` matches first)", u.line, u.rule))
                    .unwrap_or_default();
                Verdict::fail(format!(
                    "{shown}: no rule rejects `{}`{hit}: .exe attachments get through",
                    spec.unquoted
                ))
                .with_fix(format!(
                    "add `{}` to {fix_file}, then postfix reload",
                    spec.fix_rule
                ))
            }
        }
    }
}

/// The first rule, across the tables in order, that applies to `header`. `Err` when a pattern
/// cannot be evaluated.
fn first_action(tables: &[HeaderTable], header: &str) -> Result<Option<Hit>, PatternError> {
    for t in tables {
        let Some(table) = &t.table else { continue };
        if let Some(r) = table.first_match(header)? {
            let neg = if r.negated { "!" } else { "" };
            return Ok(Some(Hit {
                table: t.path.clone(),
                line: r.line,
                rule: format!("{neg}/{}/{} {}", r.pattern, r.flags, r.action),
                action: r.action.clone(),
            }));
        }
    }
    Ok(None)
}

/// The rule that applies to a header line.
struct Hit {
    table: PathBuf,
    line: usize,
    /// As written, e.g. `/name=[^>]*\.exe/ REJECT`.
    rule: String,
    action: String,
}

fn rejects(action: &str) -> bool {
    action
        .split_whitespace()
        .next()
        .is_some_and(|a| a.eq_ignore_ascii_case("REJECT"))
}
