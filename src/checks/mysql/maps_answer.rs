//! T17: the maps answer for the account the way Postfix asks them (mysql_table(5),
//! ADDRESS_REWRITING_README, VIRTUAL_README): its domain is a virtual mailbox domain, its
//! mailbox maps to `domain/user/`, its alias resolves, every active domain and every alias to
//! it answers, and the relay map does not claim its domain.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{round_ms, unreadable};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::lookup::{Lookup, LookupPurpose, MapSummary};
use crate::probe::mysql::expand_query;
use crate::probe::postfix::map_references;
use crate::verdict::{Verdict, worst_of};

/// T17: the maps answer for the account as Postfix asks them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub domains_param: String,
    pub mailbox_param: String,
    pub alias_param: String,
    pub relay_param: String,
    /// What the mailbox map must return for the account (`%d`, `%u` of the account).
    pub mailbox_result: String,
    /// The account's mailbox row: first column `active` (query template, `%s` = account).
    pub mailbox_row_query: String,
    /// Active domains: columns domain, backupmx.
    pub active_domains_query: String,
    /// Active aliases that may point at the account: columns address, goto (`%s` = account).
    pub aliases_to_query: String,
    /// At most this many domains and aliases are asked about.
    #[serde(default = "default_sweep_limit")]
    pub sweep_limit: usize,
}

fn default_sweep_limit() -> usize {
    200
}

/// The account's mailbox row.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxRow {
    #[serde(default)]
    pub found: bool,
    #[serde(default)]
    pub active: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// What T17 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    pub maps: Vec<MapSummary>,
    pub account: String,
    pub domain: String,
    pub local_part: String,
    /// Parameter → the maps it names, in order (non-mysql ones included, not asked).
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub lookups: Vec<Lookup>,
    #[serde(default)]
    pub mailbox_row: Option<MailboxRow>,
    /// Active domains read from the database: (domain, backupmx).
    #[serde(default)]
    pub active_domains: Vec<(String, String)>,
    #[serde(default)]
    pub sweep_error: Option<String>,
    #[serde(default)]
    pub sweep_truncated: bool,
    #[serde(default)]
    pub queries_ms: f64,
}

/// T17: the kind.
pub struct MapsAnswer;

impl Kind for MapsAnswer {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let Some(account) = &facts.account else {
            return Err(Unobserved::NotApplicable {
                reason: "needs --account".into(),
            });
        };
        let (cfg, maps) = super::maps(facts).await?;
        let key = account.address.to_lowercase();
        let domain = account.domain.clone();
        let mut params = BTreeMap::new();
        for p in [
            &spec.domains_param,
            &spec.mailbox_param,
            &spec.alias_param,
            &spec.relay_param,
        ] {
            params.insert(
                p.clone(),
                map_references(&cfg.get(p))
                    .into_iter()
                    .map(|(k, path)| format!("{k}:{}", path.display()))
                    .collect::<Vec<_>>(),
            );
        }
        let mut a = facts.resolver().await?;
        let mut queries_ms = 0.0;
        a.resolve(LookupPurpose::Domain, &spec.domains_param, &domain)
            .await;
        a.resolve(LookupPurpose::Mailbox, &spec.mailbox_param, &key)
            .await;
        // Postfix tries @domain (catch-all) only when the address itself found nothing.
        if a.resolve(LookupPurpose::Alias, &spec.alias_param, &key)
            .await
            .is_none()
            && !a
                .lookups()
                .iter()
                .any(|l| l.purpose == LookupPurpose::Alias && l.error.is_some())
        {
            a.resolve(
                LookupPurpose::AliasCatchall,
                &spec.alias_param,
                &format!("@{domain}"),
            )
            .await;
        }
        a.resolve(LookupPurpose::Relay, &spec.relay_param, &domain)
            .await;

        let mailbox_row = match a
            .diagnose(&spec.mailbox_param, &spec.mailbox_row_query, &key)
            .await
        {
            Ok(answer) => {
                queries_ms += answer.ms;
                Some(MailboxRow {
                    found: !answer.rows.is_empty(),
                    active: answer
                        .rows
                        .first()
                        .and_then(|r| r.first().cloned().flatten()),
                    error: None,
                })
            }
            Err(e) => Some(MailboxRow {
                found: false,
                active: None,
                error: Some(e.to_string()),
            }),
        };

        let mut active_domains = Vec::new();
        let mut sweep_error = None;
        let mut sweep_truncated = false;
        match a
            .diagnose(&spec.domains_param, &spec.active_domains_query, &key)
            .await
        {
            Ok(answer) => {
                queries_ms += answer.ms;
                sweep_truncated = answer.rows.len() > spec.sweep_limit;
                for row in answer.rows.into_iter().take(spec.sweep_limit) {
                    if let [Some(d), b, ..] = row.as_slice() {
                        active_domains.push((d.to_lowercase(), b.clone().unwrap_or_default()));
                    }
                }
            }
            Err(e) => sweep_error = Some(e.to_string()),
        }
        for (d, backupmx) in &active_domains {
            if d == &domain {
                continue;
            }
            if backupmx.trim() == "0" || backupmx.trim().is_empty() {
                a.resolve(LookupPurpose::ActiveDomain, &spec.domains_param, d)
                    .await;
            } else {
                a.resolve(LookupPurpose::BackupDomain, &spec.relay_param, d)
                    .await;
            }
        }
        match a
            .diagnose(&spec.alias_param, &spec.aliases_to_query, &key)
            .await
        {
            Ok(answer) => {
                queries_ms += answer.ms;
                let mut n = 0;
                for row in answer.rows {
                    let [Some(address), Some(goto), ..] = row.as_slice() else {
                        continue;
                    };
                    let points_here = goto
                        .split([',', ' ', '\t', '\n'])
                        .any(|g| g.trim().eq_ignore_ascii_case(&key));
                    if !points_here || address.eq_ignore_ascii_case(&key) || n >= spec.sweep_limit {
                        continue;
                    }
                    n += 1;
                    a.resolve(LookupPurpose::AliasToAccount, &spec.alias_param, address)
                        .await;
                }
            }
            Err(e) => {
                if sweep_error.is_none() {
                    sweep_error = Some(e.to_string());
                }
            }
        }
        queries_ms += a.lookups().iter().map(|l| l.ms).sum::<f64>();
        let lookups = a.into_lookups();
        Ok(Observation {
            maps: super::summaries(&maps),
            account: key,
            domain,
            local_part: account.local_part.to_lowercase(),
            params,
            lookups,
            mailbox_row,
            active_domains,
            sweep_error,
            sweep_truncated,
            queries_ms: round_ms(queries_ms),
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        if let Some(v) = unreadable(&o.maps) {
            return v;
        }
        let mut findings = Vec::new();
        // A lookup that errs: the server's fault (Postfix defers the mail) or ours (can't tell).
        for l in &o.lookups {
            if let Some(e) = &l.error {
                let msg = format!(
                    "{}; Postfix cannot answer this lookup and defers the mail",
                    describe(l)
                );
                findings.push(if l.server_error {
                    Verdict::fail(msg)
                } else {
                    Verdict::error(format!("{} ({e})", describe(l)))
                });
            }
        }
        let last = |p: LookupPurpose| o.lookups.iter().rev().find(|l| l.purpose == p);
        let answered = |p: LookupPurpose| last(p).and_then(|l| l.result.clone());
        let errored = |p: LookupPurpose| {
            o.lookups
                .iter()
                .any(|l| l.purpose == p && l.error.is_some())
        };
        let mut summary = Vec::new();

        // The account's domain is a virtual mailbox domain.
        let no_maps = |param: &str| -> String {
            format!(
                "{param} names no mysql: map ({})",
                o.params
                    .get(param)
                    .map(|v| v.join(", "))
                    .unwrap_or_default()
            )
        };
        match (last(LookupPurpose::Domain), answered(LookupPurpose::Domain)) {
            (None, _) => findings.push(Verdict::warn(format!(
                "{}; not asked here (see T15)",
                no_maps(&spec.domains_param)
            ))),
            (Some(_), Some(_)) => summary.push(format!("{} is a virtual mailbox domain", o.domain)),
            (Some(l), None) if !errored(LookupPurpose::Domain) => findings.push(Verdict::fail(format!(
                "{}: Postfix does not take {} as a virtual mailbox domain (is its row active, backupmx = 0?)",
                describe(l),
                o.domain
            ))),
            _ => {}
        }

        // The account's mailbox maps to domain/user/ and its row is active.
        let want =
            expand_query(&spec.mailbox_result, &o.account, &|s| s.to_string()).unwrap_or_default();
        let row = o.mailbox_row.as_ref();
        let row_state = match row {
            Some(r) if r.error.is_some() => String::new(),
            Some(r) if !r.found => format!("; there is no mailbox row for {}", o.account),
            Some(r) if r.active.as_deref().map(str::trim) != Some("1") => format!(
                "; its mailbox row has active = {}",
                r.active.clone().unwrap_or_else(|| "NULL".into())
            ),
            Some(_) => {
                "; its mailbox row exists and is active, so the map's query does not match it"
                    .to_string()
            }
            None => String::new(),
        };
        match (last(LookupPurpose::Mailbox), answered(LookupPurpose::Mailbox)) {
            (None, _) => findings.push(Verdict::warn(format!(
                "{}; not asked here (see T15)",
                no_maps(&spec.mailbox_param)
            ))),
            (Some(l), Some(got)) => {
                if got == want {
                    summary.push(format!("{} → {got}", o.account));
                } else if got.eq_ignore_ascii_case(&want) {
                    summary.push(format!("{} → {got} (case differs from {want})", o.account));
                } else if got.trim_end_matches('/') == want.trim_end_matches('/') {
                    findings.push(Verdict::fail(format!(
                        "{}, not '{want}': without the trailing / virtual(8) delivers to an mbox file, not a Maildir",
                        describe(l)
                    )));
                } else {
                    findings.push(Verdict::fail(format!("{}, not '{want}'", describe(l))));
                }
            }
            (Some(l), None) if !errored(LookupPurpose::Mailbox) => findings.push(Verdict::fail(format!(
                "{}{row_state}; Postfix rejects mail for {} (User unknown in virtual mailbox table)",
                describe(l),
                o.account
            ))),
            _ => {}
        }
        if let Some(r) = row {
            if let Some(e) = &r.error {
                findings.push(Verdict::error(format!(
                    "cannot read the mailbox row of {}: {e}",
                    o.account
                )));
            } else if r.found
                && answered(LookupPurpose::Mailbox).is_some()
                && r.active.as_deref().map(str::trim) != Some("1")
            {
                findings.push(Verdict::fail(format!(
                    "the mailbox map answers for {}, but{}; pam_mysql refuses its login",
                    o.account,
                    row_state.trim_start_matches(';')
                )));
            }
        }

        // The alias map resolves for the account (absent: Postfix Admin would have made one).
        match (last(LookupPurpose::Alias), answered(LookupPurpose::Alias)) {
            (None, _) => findings.push(Verdict::warn(format!(
                "{}; aliases not asked",
                no_maps(&spec.alias_param)
            ))),
            (Some(_), Some(got)) => {
                let to_self = got
                    .split(',')
                    .any(|g| g.trim().eq_ignore_ascii_case(&o.account));
                summary.push(if to_self {
                    format!("alias {} → {got}", o.account)
                } else {
                    format!(
                        "alias {} → {got} (mail is forwarded, not kept in its mailbox)",
                        o.account
                    )
                });
            }
            (Some(l), None) if !errored(LookupPurpose::Alias) => match answered(LookupPurpose::AliasCatchall) {
                Some(c) => summary.push(format!(
                    "no alias for {}, the catch-all @{} → {c}",
                    o.account, o.domain
                )),
                None => findings.push(Verdict::warn(format!(
                    "{}: no alias row for {} (Postfix Admin makes one; Postfix delivers without it)",
                    describe(l),
                    o.account
                ))),
            },
            _ => {}
        }

        // The relay map answers without error; the account's domain should not be in it.
        match (last(LookupPurpose::Relay), answered(LookupPurpose::Relay)) {
            (None, _) => {}
            (Some(l), Some(_)) => findings.push(Verdict::warn(format!(
                "{}: {} is both a virtual mailbox domain and a relay domain (Postfix warns and relays it)",
                describe(l),
                o.domain
            ))),
            (Some(_), None) => summary.push(format!(
                "{} answers (not a relay domain)",
                spec.relay_param
            )),
        }

        // Every active domain answers from the map for its kind; aliases to the account resolve.
        let mut missing_domains = Vec::new();
        for l in o.lookups.iter().filter(|l| {
            matches!(
                l.purpose,
                LookupPurpose::ActiveDomain | LookupPurpose::BackupDomain
            )
        }) {
            if l.result.is_none() && l.error.is_none() {
                missing_domains.push(describe(l));
            }
        }
        if !missing_domains.is_empty() {
            findings.push(Verdict::fail(format!(
                "active domains the maps do not answer for: {}",
                missing_domains.join("; ")
            )));
        } else if o.active_domains.len() > 1 {
            summary.push(format!("{} active domains answer", o.active_domains.len()));
        }
        for l in o
            .lookups
            .iter()
            .filter(|l| l.purpose == LookupPurpose::AliasToAccount && l.error.is_none())
        {
            let ok = l.result.as_deref().is_some_and(|r| {
                r.split(',')
                    .any(|g| g.trim().eq_ignore_ascii_case(&o.account))
            });
            if !ok {
                findings.push(Verdict::fail(format!(
                    "{}, though its alias row sends it to {}",
                    describe(l),
                    o.account
                )));
            }
        }
        let n_alias_to = o
            .lookups
            .iter()
            .filter(|l| l.purpose == LookupPurpose::AliasToAccount)
            .count();
        if n_alias_to > 0 {
            summary.push(format!("{n_alias_to} alias(es) to {} resolve", o.account));
        }
        if let Some(e) = &o.sweep_error {
            findings.push(Verdict::error(format!(
                "cannot list the active domains or aliases: {e}"
            )));
        }
        let queries = o.lookups.iter().filter(|l| l.query.is_some()).count();
        let pass = format!(
            "{} ({queries} map queries, {} ms)",
            summary.join("; "),
            o.queries_ms
        );
        worst_of(findings, &pass)
    }
}

/// "file: key → what came back" for a message.
fn describe(l: &Lookup) -> String {
    let got = match (&l.result, &l.error, &l.suppressed) {
        (Some(r), _, _) => format!("'{r}'"),
        (None, Some(e), _) => format!("error: {e}"),
        (None, None, Some(s)) => format!("no query ({s})"),
        (None, None, None) => "nothing".to_string(),
    };
    format!(
        "{} ({}) for '{}' returned {got}",
        l.file.display(),
        l.param,
        l.key
    )
}
