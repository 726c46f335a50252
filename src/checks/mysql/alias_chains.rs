//! T17 (aliases resolve): every alias of the account's domain followed through
//! virtual_alias_maps the way cleanup(8) expands it (cleanup_map1n.c: each target looked up
//! again, an address that expands into itself kept, virtual_alias_recursion_limit and
//! virtual_alias_expansion_limit enforced), then each final address resolved as
//! trivial-rewrite(8) classifies it (mydestination, virtual_alias_domains,
//! virtual_mailbox_domains, relay_domains, else remote) and, in a virtual mailbox domain, looked
//! up in virtual_mailbox_maps as virtual(8) does. An alias whose chain ends without a mailbox, or
//! loops until Postfix gives up, is a fail that shows the chain.
//!
//! The observation holds every answer the maps gave (the lookups, not the expansion); the judge
//! replays Postfix's expansion over them, so a fixture can hold any chain.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{round_ms, unreadable};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::lookup::{LookupPurpose, MapSummary, Resolver};
use crate::probe::postfix::{map_references, split_list};
use crate::verdict::{Verdict, worst_of};

/// `[probe]` of T17 (aliases).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The alias addresses of the account's domain (`%s` = the account, `%d` its domain): first
    /// column the address. Every row, active or not: the map's own query decides what Postfix
    /// sees.
    pub aliases_query: String,
    /// At most this many aliases are followed.
    #[serde(default = "default_alias_limit")]
    pub alias_limit: usize,
    /// At most this many map lookups in all.
    #[serde(default = "default_lookup_budget")]
    pub lookup_budget: usize,
}

fn default_alias_limit() -> usize {
    200
}

fn default_lookup_budget() -> usize {
    2000
}

/// One map answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Answer {
    /// What came back (values joined with commas); none = not found.
    pub result: Option<String>,
    pub error: Option<String>,
    /// The error is the server's (a broken query or table), not a lost connection.
    pub server_error: bool,
    /// The map file that answered (or erred), if any was asked.
    pub file: Option<String>,
}

/// Whether a domain is listed in one of the domain parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "listed")]
pub enum Listed {
    Yes,
    #[default]
    No,
    /// It could not be told (a map mailcheck does not read, or a lookup error).
    Unknown {
        why: String,
    },
}

/// How trivial-rewrite(8) would class a domain: each parameter it consults, in its order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DomainClass {
    pub mydestination: Listed,
    pub virtual_alias_domains: Listed,
    pub virtual_mailbox_domains: Listed,
    pub relay_domains: Listed,
}

/// What T17 (aliases) looked at.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Observation {
    pub maps: Vec<MapSummary>,
    pub account: String,
    pub domain: String,
    /// The alias addresses of the domain, as the alias table lists them.
    pub aliases: Vec<String>,
    /// The list was cut at alias_limit, or the lookup budget ran out.
    pub truncated: bool,
    pub list_error: Option<String>,
    /// virtual_alias_recursion_limit and virtual_alias_expansion_limit as Postfix has them.
    pub recursion_limit: usize,
    pub expansion_limit: usize,
    /// `$myorigin`, appended to a target without a domain.
    pub myorigin: String,
    /// `$recipient_delimiter`: its characters split `user+ext@domain`; empty = no extensions.
    pub recipient_delimiter: String,
    /// `virtual` is in `$propagate_unmatched_extensions`: an alias found as `user@domain` for
    /// `user+ext@domain` passes `+ext` on to its targets.
    pub propagate_virtual: bool,
    /// virtual_alias_maps answers, by key (an address or `@domain`).
    pub alias_answers: BTreeMap<String, Answer>,
    /// virtual_mailbox_maps answers, by key.
    pub mailbox_answers: BTreeMap<String, Answer>,
    pub domains: BTreeMap<String, DomainClass>,
    /// Map queries made (domain membership included).
    pub lookups: usize,
    pub queries_ms: f64,
}

/// Where one address of an expansion ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// A mailbox in virtual_mailbox_maps (what the map answered).
    Mailbox(String),
    /// A domain in mydestination: local(8) delivers it.
    Local,
    /// A relay domain, or another domain: it leaves this server.
    Relay,
    Remote,
    /// A virtual mailbox domain whose mailbox map has no entry.
    NoMailbox,
    /// A virtual alias domain with no alias for the address.
    NoAlias,
    /// A lookup failed or could not be told.
    Unknown(String),
}

/// The expansion of one alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expansion {
    /// Each final address with the chain that led to it (the alias first).
    Done(Vec<(Vec<String>, End)>),
    /// Postfix stops and defers the mail: why, the chain, and whether it is the server's
    /// doing (a limit, a broken query) rather than a lookup mailcheck could not make.
    Deferred {
        why: String,
        chain: Vec<String>,
        server_fault: bool,
    },
    /// The alias map does not answer for this address: not an alias Postfix sees.
    NotAnAlias,
}

/// What the replay needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    Alias(String),
    Mailbox(String),
    Domain(String),
}

fn domain_of(a: &str) -> &str {
    a.rsplit_once('@').map_or("", |(_, d)| d)
}

fn targets(result: &str, myorigin: &str) -> Vec<String> {
    result
        .split([',', ' ', '\t', '\n', '\r'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            let t = t.to_lowercase();
            if t.contains('@') || myorigin.is_empty() {
                t
            } else {
                format!("{t}@{myorigin}")
            }
        })
        .collect()
}

/// strip_addr(3): `user+ext@domain` → (`user@domain`, `+ext`), split at the first of the
/// delimiter characters; `None` without one. postmaster and MAILER-DAEMON are never split, nor
/// owner-foo and foo-request when `-` is a delimiter (split_addr(3)).
pub fn strip_extension(addr: &str, delimiters: &str) -> Option<(String, String)> {
    if delimiters.is_empty() {
        return None;
    }
    let (local, domain) = match addr.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (addr, None),
    };
    if local.eq_ignore_ascii_case("postmaster") || local.eq_ignore_ascii_case("mailer-daemon") {
        return None;
    }
    let lower = local.to_ascii_lowercase();
    if delimiters.contains('-') && (lower.starts_with("owner-") || lower.ends_with("-request")) {
        return None;
    }
    let at = local.find(|c| delimiters.contains(c))?;
    let (user, ext) = local.split_at(at);
    let bare = match domain {
        Some(d) => format!("{user}@{d}"),
        None => user.to_string(),
    };
    Some((bare, ext.to_string()))
}

/// `ext` put back before the domain of each target (propagate_unmatched_extensions).
fn with_extension(target: &str, ext: &str) -> String {
    match target.rsplit_once('@') {
        Some((l, d)) => format!("{l}{ext}@{d}"),
        None => format!("{target}{ext}"),
    }
}

/// One answer that counts (a result or an error), or `None`.
fn found<'a>(
    o: &'a BTreeMap<String, Answer>,
    key: &str,
    need: fn(String) -> Need,
) -> Result<Option<&'a Answer>, Need> {
    let a = o.get(key).ok_or_else(|| need(key.to_string()))?;
    Ok((a.result.is_some() || a.error.is_some()).then_some(a))
}

/// mail_addr_find(3): `user+ext@domain`, then `user@domain` (with the extension it chopped
/// off), then `@domain`. The local-part-only keys apply to local domains only, which the
/// virtual maps of this tutorial do not serve.
fn lookup<'a>(
    o: &'a Observation,
    answers: &'a BTreeMap<String, Answer>,
    addr: &str,
    need: fn(String) -> Need,
) -> Result<Option<(&'a Answer, Option<String>)>, Need> {
    if let Some(a) = found(answers, addr, need)? {
        return Ok(Some((a, None)));
    }
    if let Some((bare, ext)) = strip_extension(addr, &o.recipient_delimiter)
        && let Some(a) = found(answers, &bare, need)?
    {
        return Ok(Some((a, Some(ext))));
    }
    let d = domain_of(addr);
    if d.is_empty() {
        return Ok(None);
    }
    Ok(found(answers, &format!("@{d}"), need)?.map(|a| (a, None)))
}

/// The alias answer for `addr`, and the extension to pass on to its targets, if any.
fn alias_of<'a>(
    o: &'a Observation,
    addr: &str,
) -> Result<Option<(&'a Answer, Option<String>)>, Need> {
    let got = lookup(o, &o.alias_answers, addr, Need::Alias)?;
    Ok(got.map(|(a, ext)| (a, ext.filter(|_| o.propagate_virtual))))
}

fn describe_answer(a: &Answer) -> String {
    match (&a.error, &a.file) {
        (Some(e), Some(f)) => format!("{f}: {e}"),
        (Some(e), None) => e.clone(),
        _ => String::new(),
    }
}

/// Where a final address ends (trivial-rewrite's class, then virtual(8)'s mailbox lookup).
fn end_of(o: &Observation, addr: &str) -> Result<End, Need> {
    let d = domain_of(addr);
    let c = o
        .domains
        .get(d)
        .ok_or_else(|| Need::Domain(d.to_string()))?;
    let unknown = |l: &Listed| match l {
        Listed::Unknown { why } => Some(End::Unknown(why.clone())),
        _ => None,
    };
    for (l, end) in [
        (&c.mydestination, End::Local),
        (&c.virtual_alias_domains, End::NoAlias),
    ] {
        if let Some(u) = unknown(l) {
            return Ok(u);
        }
        if *l == Listed::Yes {
            return Ok(end);
        }
    }
    if let Some(u) = unknown(&c.virtual_mailbox_domains) {
        return Ok(u);
    }
    if c.virtual_mailbox_domains == Listed::Yes {
        return Ok(match lookup(o, &o.mailbox_answers, addr, Need::Mailbox)? {
            Some((a, _)) if a.error.is_some() => End::Unknown(describe_answer(a)),
            Some((a, _)) => End::Mailbox(a.result.clone().unwrap_or_default()),
            None => End::NoMailbox,
        });
    }
    if let Some(u) = unknown(&c.relay_domains) {
        return Ok(u);
    }
    Ok(if c.relay_domains == Listed::Yes {
        End::Relay
    } else {
        End::Remote
    })
}

/// cleanup_map1n_internal() replayed over the recorded answers: each address is looked up
/// until it no longer answers or has expanded into itself, at most recursion_limit times; the
/// list may not grow past expansion_limit; `Err` names the lookup the replay still needs.
pub fn expand(o: &Observation, alias: &str) -> Result<Expansion, Need> {
    let root = alias.to_lowercase();
    if alias_of(o, &root)?.is_none() {
        return Ok(Expansion::NotAnAlias);
    }
    // Each entry: the address and the chain that led to it.
    let mut argv: Vec<(String, Vec<String>)> = vec![(root.clone(), vec![root.clone()])];
    let mut been_here: BTreeSet<String> = BTreeSet::new();
    let mut arg = 0;
    while arg < argv.len() {
        if argv.len() > o.expansion_limit.max(1) {
            return Ok(Expansion::Deferred {
                why: format!(
                    "expands to more than virtual_alias_expansion_limit = {} addresses: Postfix logs \"unreasonable virtual_alias_maps map expansion size\" and defers the mail",
                    o.expansion_limit
                ),
                chain: argv[arg].1.clone(),
                server_fault: true,
            });
        }
        let mut count = 0;
        loop {
            let (addr, chain) = argv[arg].clone();
            if been_here.contains(&addr) {
                break;
            }
            if count >= o.recursion_limit.max(1) {
                return Ok(Expansion::Deferred {
                    why: format!(
                        "nests deeper than virtual_alias_recursion_limit = {}: Postfix logs \"unreasonable virtual_alias_maps map nesting\" and defers the mail (4.6.0 Alias expansion error)",
                        o.recursion_limit
                    ),
                    chain,
                    server_fault: true,
                });
            }
            let Some((a, ext)) = alias_of(o, &addr)? else {
                break;
            };
            if a.error.is_some() {
                return Ok(Expansion::Deferred {
                    why: format!(
                        "the alias map cannot answer for {addr} ({}): Postfix defers the mail",
                        describe_answer(a)
                    ),
                    chain,
                    server_fault: a.server_error,
                });
            }
            let mut ts = targets(a.result.as_deref().unwrap_or_default(), &o.myorigin);
            if let Some(ext) = &ext {
                ts = ts.iter().map(|t| with_extension(t, ext)).collect();
            }
            if ts.is_empty() {
                break;
            }
            for (i, t) in ts.iter().enumerate() {
                let mut c = chain.clone();
                c.push(t.clone());
                if i == 0 {
                    argv[arg] = (t.clone(), c);
                } else {
                    argv.push((t.clone(), c));
                }
                // An address may expand into itself once (Postfix Admin's mailbox rows).
                if *t == addr {
                    been_here.insert(addr.clone());
                }
            }
            count += 1;
        }
        arg += 1;
    }
    let mut done = Vec::new();
    for (addr, chain) in argv {
        done.push((chain, end_of(o, &addr)?));
    }
    Ok(Expansion::Done(done))
}

/// `a -> b -> c`, cut at the first repeat (a loop) and capped in length; an address that
/// expanded into itself (Postfix Admin's row for a mailbox) is shown once.
pub fn chain_words(chain: &[String]) -> String {
    let mut chain = chain;
    while let [rest @ .., a, b] = chain
        && a == b
    {
        chain = &chain[..rest.len() + 1];
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for a in chain {
        out.push(a.as_str());
        if !seen.insert(a.as_str()) {
            return format!("{}: a loop", out.join(" -> "));
        }
        if out.len() >= 12 {
            return format!("{} -> ...", out.join(" -> "));
        }
    }
    out.join(" -> ")
}

/// A domain parameter's membership test, as trivial-rewrite makes it: literal domains, then
/// its maps in order (mysql ones asked, others not read).
async fn listed(r: &mut Resolver<'_>, param: &str, value: &str, domain: &str) -> Listed {
    let maps = map_references(value);
    for item in split_list(value) {
        if !item.contains(':') && !item.contains('/') && item.eq_ignore_ascii_case(domain) {
            return Listed::Yes;
        }
    }
    let mut other = Vec::new();
    for (kind, path) in &maps {
        if kind != "mysql" {
            other.push(format!("{kind}:{}", path.display()));
        }
    }
    if maps.iter().any(|(k, _)| k == "mysql") {
        let before = r.lookups().len();
        let got = r
            .resolve(LookupPurpose::ActiveDomain, param, &domain.to_lowercase())
            .await;
        let err = r.lookups()[before..].iter().find_map(|l| {
            l.error
                .clone()
                .map(|e| format!("{}: {e}", l.file.display()))
        });
        if got.is_some() {
            return Listed::Yes;
        }
        if let Some(e) = err {
            return Listed::Unknown { why: e };
        }
    }
    if other.is_empty() {
        Listed::No
    } else {
        Listed::Unknown {
            why: format!(
                "{param} names {}, which mailcheck does not read",
                other.join(", ")
            ),
        }
    }
}

async fn answer(r: &mut Resolver<'_>, param: &str, key: &str) -> Answer {
    let before = r.lookups().len();
    let result = r.resolve(LookupPurpose::Alias, param, key).await;
    let last = r.lookups()[before..].last();
    Answer {
        result,
        error: last.and_then(|l| l.error.clone()),
        server_error: last.is_some_and(|l| l.server_error),
        file: last.map(|l| l.file.display().to_string()),
    }
}

/// T17 (aliases): the kind.
pub struct AliasChains;

impl Kind for AliasChains {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let Some(account) = &facts.account else {
            return Err(Unobserved::NotApplicable {
                reason: "needs --account".into(),
            });
        };
        let (cfg, maps) = super::maps(facts).await?;
        let mut r = facts.resolver().await?;
        let key = account.address.to_lowercase();
        let limit = |p: &str| cfg.get(p).trim().parse::<usize>().unwrap_or(1000);
        let mut o = Observation {
            maps: super::summaries(&maps),
            account: key.clone(),
            domain: account.domain.to_lowercase(),
            recursion_limit: limit("virtual_alias_recursion_limit"),
            expansion_limit: limit("virtual_alias_expansion_limit"),
            myorigin: cfg.get("myorigin").trim().to_lowercase(),
            recipient_delimiter: cfg.get("recipient_delimiter"),
            propagate_virtual: split_list(&cfg.get("propagate_unmatched_extensions"))
                .iter()
                .any(|c| c.eq_ignore_ascii_case("virtual")),
            ..Observation::default()
        };
        let mut ms = 0.0;
        match r
            .diagnose("virtual_alias_maps", &spec.aliases_query, &key)
            .await
        {
            Ok(a) => {
                ms += a.ms;
                let mut seen = BTreeSet::new();
                for row in a.rows {
                    if let Some(Some(addr)) = row.first() {
                        let addr = addr.trim().to_lowercase();
                        if !addr.is_empty() && seen.insert(addr.clone()) {
                            o.aliases.push(addr);
                        }
                    }
                }
            }
            Err(e) => o.list_error = Some(e.to_string()),
        }
        if o.aliases.len() > spec.alias_limit {
            o.aliases.truncate(spec.alias_limit);
            o.truncated = true;
        }
        // virtual_alias_domains defaults to $virtual_alias_maps.
        let vad_param = if cfg.main.settings.contains_key("virtual_alias_domains") {
            "virtual_alias_domains"
        } else {
            "virtual_alias_maps"
        };
        let vad = cfg.get(vad_param);
        let aliases = o.aliases.clone();
        'aliases: for alias in &aliases {
            loop {
                let need = match expand(&o, alias) {
                    Ok(_) => break,
                    Err(n) => n,
                };
                if r.lookups().len() >= spec.lookup_budget {
                    o.truncated = true;
                    break 'aliases;
                }
                match need {
                    Need::Alias(k) => {
                        let a = answer(&mut r, "virtual_alias_maps", &k).await;
                        o.alias_answers.insert(k, a);
                    }
                    Need::Mailbox(k) => {
                        let a = answer(&mut r, "virtual_mailbox_maps", &k).await;
                        o.mailbox_answers.insert(k, a);
                    }
                    Need::Domain(d) => {
                        let mut c = DomainClass::default();
                        let mydest = cfg.get("mydestination");
                        c.mydestination = listed(&mut r, "mydestination", &mydest, &d).await;
                        c.virtual_alias_domains = listed(&mut r, vad_param, &vad, &d).await;
                        let vmd = cfg.get("virtual_mailbox_domains");
                        c.virtual_mailbox_domains =
                            listed(&mut r, "virtual_mailbox_domains", &vmd, &d).await;
                        let rd = cfg.get("relay_domains");
                        c.relay_domains = listed(&mut r, "relay_domains", &rd, &d).await;
                        o.domains.insert(d, c);
                    }
                }
            }
        }
        o.lookups = r.lookups().len();
        ms += r.lookups().iter().map(|l| l.ms).sum::<f64>();
        o.queries_ms = round_ms(ms);
        Ok(o)
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        if let Some(v) = unreadable(&o.maps) {
            return v;
        }
        if let Some(e) = &o.list_error {
            return Verdict::error(format!("cannot list the aliases of {}: {e}", o.domain));
        }
        let mut findings = Vec::new();
        let mut resolved = Vec::new();
        let mut not_aliases = 0;
        let mut unasked = 0;
        for alias in &o.aliases {
            match expand(o, alias) {
                Err(_) => unasked += 1,
                Ok(Expansion::NotAnAlias) => not_aliases += 1,
                Ok(Expansion::Deferred {
                    why,
                    chain,
                    server_fault,
                }) => {
                    let msg = format!("alias {alias}: {} {why}", chain_words(&chain));
                    findings.push(if server_fault {
                        Verdict::fail(msg)
                    } else {
                        Verdict::error(msg)
                    });
                }
                Ok(Expansion::Done(ends)) => {
                    let mut ok = Vec::new();
                    for (chain, end) in ends {
                        let words = chain_words(&chain);
                        let last = chain.last().cloned().unwrap_or_default();
                        match end {
                            End::Mailbox(m) => ok.push(format!("{words} (mailbox {m})")),
                            End::Local => ok.push(format!("{words} (local)")),
                            End::Relay => ok.push(format!("{words} (relayed)")),
                            End::Remote => ok.push(format!("{words} (leaves this server)")),
                            End::NoMailbox => findings.push(Verdict::fail(format!(
                                "alias {alias}: {words}: no mailbox (virtual_mailbox_maps has no entry for {last}, so Postfix bounces it: User unknown in virtual mailbox table)"
                            ))),
                            End::NoAlias => findings.push(Verdict::fail(format!(
                                "alias {alias}: {words}: {} is a virtual alias domain and {last} has no alias (User unknown in virtual alias table)",
                                domain_of(&last)
                            ))),
                            End::Unknown(why) => findings.push(Verdict::error(format!(
                                "alias {alias}: {words}: cannot tell where it ends ({why})"
                            ))),
                        }
                    }
                    resolved.push(ok.join(", "));
                }
            }
        }
        if o.truncated || unasked > 0 {
            findings.push(Verdict::warn(format!(
                "only {} of the aliases of {} were followed (lookup budget or alias limit)",
                resolved.len(),
                o.domain
            )));
        }
        let shown: Vec<&str> = resolved.iter().take(3).map(String::as_str).collect();
        let pass = format!(
            "{} alias(es) of {} resolve to a mailbox or leave the server: {}{}{} ({} map queries, {} ms)",
            resolved.len(),
            o.domain,
            shown.join("; "),
            if resolved.len() > shown.len() {
                format!("; {} more", resolved.len() - shown.len())
            } else {
                String::new()
            },
            if not_aliases > 0 {
                format!("; {not_aliases} row(s) the alias map does not answer for (inactive)")
            } else {
                String::new()
            },
            o.lookups,
            o.queries_ms
        );
        worst_of(findings, &pass)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(aliases: &[(&str, &str)], mailboxes: &[&str]) -> Observation {
        let mut o = Observation {
            account: "root@example.com".into(),
            domain: "example.com".into(),
            recursion_limit: 1000,
            expansion_limit: 1000,
            myorigin: "atlantis.example.com".into(),
            ..Observation::default()
        };
        for (k, v) in aliases {
            o.alias_answers.insert(
                (*k).into(),
                Answer {
                    result: Some((*v).into()),
                    ..Answer::default()
                },
            );
            o.aliases.push((*k).into());
        }
        for m in mailboxes {
            o.mailbox_answers.insert(
                (*m).into(),
                Answer {
                    result: Some("example.com/x/".into()),
                    ..Answer::default()
                },
            );
        }
        o.domains.insert(
            "example.com".into(),
            DomainClass {
                virtual_mailbox_domains: Listed::Yes,
                ..DomainClass::default()
            },
        );
        o.domains
            .insert("elsewhere.org".into(), DomainClass::default());
        o
    }

    /// Fills what the replay asks for with "not found" (as the maps would answer).
    fn settle(o: &mut Observation, alias: &str) -> Expansion {
        for _ in 0..100 {
            match expand(o, alias) {
                Ok(x) => return x,
                Err(Need::Alias(k)) => {
                    o.alias_answers.insert(k, Answer::default());
                }
                Err(Need::Mailbox(k)) => {
                    o.mailbox_answers.insert(k, Answer::default());
                }
                Err(Need::Domain(d)) => {
                    o.domains.insert(d, DomainClass::default());
                }
            }
        }
        panic!("the replay did not settle")
    }

    #[test]
    fn a_mailbox_alias_expands_into_itself_once() {
        let mut o = obs(
            &[("root@example.com", "root@example.com")],
            &["root@example.com"],
        );
        let x = settle(&mut o, "root@example.com");
        assert_eq!(
            x,
            Expansion::Done(vec![(
                vec!["root@example.com".into(), "root@example.com".into()],
                End::Mailbox("example.com/x/".into())
            )])
        );
    }

    #[test]
    fn a_target_without_a_mailbox_is_shown_with_its_chain() {
        let mut o = obs(
            &[
                ("a@example.com", "b@example.com"),
                ("b@example.com", "c@example.com"),
            ],
            &[],
        );
        let x = settle(&mut o, "a@example.com");
        let Expansion::Done(ends) = x else { panic!() };
        assert_eq!(ends[0].1, End::NoMailbox);
        assert_eq!(
            chain_words(&ends[0].0),
            "a@example.com -> b@example.com -> c@example.com"
        );
        let v = AliasChains::judge(&spec(), &o);
        assert_eq!(v.status, crate::verdict::Status::Fail, "{}", v.message);
        assert!(
            v.message
                .contains("a@example.com -> b@example.com -> c@example.com: no mailbox")
        );
    }

    #[test]
    fn extensions_are_stripped_as_postfix_does() {
        let s = |a| strip_extension(a, "+");
        assert_eq!(
            s("bob+lists@example.com"),
            Some(("bob@example.com".into(), "+lists".into()))
        );
        assert_eq!(s("bob@example.com"), None);
        assert_eq!(
            s("postmaster+x@example.com"),
            Some(("postmaster@example.com".into(), "+x".into()))
        );
        assert_eq!(strip_extension("MAILER-DAEMON@example.com", "-"), None);
        assert_eq!(strip_extension("bob+x@example.com", ""), None);
        // Several delimiter characters: the first one in the local part splits.
        assert_eq!(
            strip_extension("a-b+c@example.com", "+-"),
            Some(("a@example.com".into(), "-b+c".into()))
        );
        assert_eq!(strip_extension("owner-list@example.com", "-"), None);
        assert_eq!(strip_extension("list-request@example.com", "-"), None);
    }

    #[test]
    fn a_target_with_an_extension_reaches_the_mailbox() {
        // bob+lists is no mailbox key, but virtual(8) tries bob@ after it (recipient_delimiter).
        let mut o = obs(
            &[("lists@example.com", "bob+lists@example.com")],
            &["bob@example.com"],
        );
        o.recipient_delimiter = "+".into();
        o.propagate_virtual = true;
        let Expansion::Done(ends) = settle(&mut o, "lists@example.com") else {
            panic!()
        };
        assert_eq!(ends[0].1, End::Mailbox("example.com/x/".into()));
        let v = AliasChains::judge(&spec(), &o);
        assert_eq!(v.status, crate::verdict::Status::Pass, "{}", v.message);
        // Without a delimiter Postfix looks up bob+lists@ only: no mailbox.
        let mut o = obs(
            &[("lists@example.com", "bob+lists@example.com")],
            &["bob@example.com"],
        );
        let Expansion::Done(ends) = settle(&mut o, "lists@example.com") else {
            panic!()
        };
        assert_eq!(ends[0].1, End::NoMailbox);
    }

    #[test]
    fn an_alias_found_without_its_extension_passes_it_on() {
        let mut o = obs(
            &[
                ("team+x@example.com", ""),
                ("team@example.com", "carol@example.com"),
            ],
            &["carol@example.com"],
        );
        o.alias_answers
            .get_mut("team+x@example.com")
            .expect("key")
            .result = None;
        o.recipient_delimiter = "+".into();
        o.propagate_virtual = true;
        let Expansion::Done(ends) = settle(&mut o, "team+x@example.com") else {
            panic!()
        };
        assert_eq!(
            ends[0].0,
            vec![
                "team+x@example.com".to_string(),
                "carol+x@example.com".into()
            ]
        );
        assert_eq!(ends[0].1, End::Mailbox("example.com/x/".into()));
    }

    #[test]
    fn a_two_alias_loop_hits_the_recursion_limit() {
        let mut o = obs(
            &[
                ("a@example.com", "b@example.com"),
                ("b@example.com", "a@example.com"),
            ],
            &[],
        );
        let Expansion::Deferred { chain, why, .. } = settle(&mut o, "a@example.com") else {
            panic!()
        };
        assert!(why.contains("virtual_alias_recursion_limit = 1000"));
        assert_eq!(
            chain_words(&chain),
            "a@example.com -> b@example.com -> a@example.com: a loop"
        );
    }

    #[test]
    fn several_targets_and_remote_ones() {
        let mut o = obs(
            &[("list@example.com", "root@example.com, x@elsewhere.org")],
            &["root@example.com"],
        );
        let Expansion::Done(ends) = settle(&mut o, "list@example.com") else {
            panic!()
        };
        assert_eq!(ends.len(), 2);
        assert!(matches!(ends[0].1, End::Mailbox(_)));
        assert_eq!(ends[1].1, End::Remote);
    }

    #[test]
    fn the_expansion_limit_defers() {
        let mut o = obs(
            &[(
                "big@example.com",
                "a@elsewhere.org,b@elsewhere.org,c@elsewhere.org",
            )],
            &[],
        );
        o.expansion_limit = 2;
        assert!(matches!(
            settle(&mut o, "big@example.com"),
            Expansion::Deferred { .. }
        ));
    }

    #[test]
    fn a_catch_all_answers_for_an_address_without_its_own_alias() {
        let mut o = obs(
            &[
                ("a@example.com", "nobody@example.com"),
                ("@example.com", "root@example.com"),
            ],
            &["root@example.com"],
        );
        let Expansion::Done(ends) = settle(&mut o, "a@example.com") else {
            panic!()
        };
        assert!(matches!(ends[0].1, End::Mailbox(_)), "{ends:?}");
    }

    fn spec() -> Spec {
        Spec {
            aliases_query: String::new(),
            alias_limit: 200,
            lookup_budget: 2000,
        }
    }
}
