//! T27: smtpd refuses to relay for clients it does not permit: reject_unauth_destination after
//! permit_mynetworks and permit_sasl_authenticated (SMTPD_ACCESS_README, postconf(5)).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Param;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::verdict::{Verdict, worst_of};

/// T27: main.cf's lists, or with `service` the lists that master.cf service's smtpd uses
/// (its `-o`, else main.cf's), with its smtpd_client_restrictions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub service: Option<super::ServiceSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub smtpd_recipient_restrictions: Param,
    pub smtpd_relay_restrictions: Param,
    /// With a service: its smtpd_client_restrictions, which Postfix also applies at RCPT
    /// (smtpd_delay_reject): `permit_sasl_authenticated, reject` there refuses every
    /// unauthenticated client whatever the other lists say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtpd_client_restrictions: Option<Param>,
}

/// T27: the kind.
pub struct RecipientRestrictions;

impl Kind for RecipientRestrictions {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let svc = super::service_of(&cfg, spec.service.as_ref())?;
        Ok(Observation {
            smtpd_recipient_restrictions: Param::read_for(
                &cfg,
                svc,
                "smtpd_recipient_restrictions",
            ),
            smtpd_relay_restrictions: Param::read_for(&cfg, svc, "smtpd_relay_restrictions"),
            smtpd_client_restrictions: svc
                .map(|s| Param::read_for(&cfg, Some(s), "smtpd_client_restrictions")),
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        // A client list that refuses whoever it does not permit (and permits nobody without
        // AUTH or mynetworks) keeps other clients from relaying on its own.
        let client_guard = o.smtpd_client_restrictions.as_ref().filter(|p| {
            let items = p.list();
            let r = read_list(&items);
            r.protection.is_some() && !r.permit_before && r.static_ok_before.is_none()
        });
        let lists = [&o.smtpd_recipient_restrictions, &o.smtpd_relay_restrictions];
        // smtpd applies both lists (relay first): one that refuses relaying without a hole is
        // enough, whatever the other says.
        let guards: Vec<&Param> = lists
            .iter()
            .copied()
            .filter(|p| {
                let r = read_list(&p.list());
                r.protection.is_some() && !r.permit_before && r.static_ok_before.is_none()
            })
            .collect();
        let hole = |p: &Param, text: String| {
            if let Some(g) = guards.iter().find(|g| g.name != p.name) {
                return Verdict::warn(format!(
                    "{text}: that list lets every client through, but {} still refuses relaying, so this is not an open relay",
                    g.shown()
                ));
            }
            let text = format!("{text}, so every client may relay (open relay)");
            match client_guard {
                Some(c) => Verdict::warn(format!(
                    "{text}; only {} still refuses unauthenticated clients",
                    c.shown()
                )),
                None => Verdict::fail(text),
            }
        };
        let mut findings = Vec::new();
        let mut protected_by = Vec::new();
        for p in lists {
            let items = p.list();
            let r = read_list(&items);
            let Some(at) = r.protection else {
                continue;
            };
            if r.permit_before {
                findings.push(
                    hole(
                        p,
                        format!("{}: `permit` comes before {}", p.shown(), items[at]),
                    )
                    .with_fix(p.fix(
                        "put reject_unauth_destination before any `permit`, then `postfix reload`",
                    )),
                );
                continue;
            }
            if let Some(i) = r.static_ok_before {
                findings.push(hole(
                    p,
                    format!(
                        "{}: `{} {}` comes before {}: the table answers OK for every address",
                        p.shown(),
                        items[i],
                        items[i + 1],
                        items[at]
                    ),
                ));
                continue;
            }
            protected_by.push(p.name.clone());
            // Clients the tutorial lets relay must be permitted before the protection.
            let lower: Vec<String> = items.iter().map(|s| s.to_ascii_lowercase()).collect();
            for want in ["permit_mynetworks", "permit_sasl_authenticated"] {
                match lower.iter().position(|i| i == want) {
                    Some(i) if i < at => {}
                    Some(_) => findings.push(Verdict::warn(format!(
                        "{}: {want} comes after {}, so it lets nobody relay (harmless, but those clients are refused mail to other domains)",
                        p.shown(),
                        items[at]
                    ))),
                    None => findings.push(Verdict::warn(format!(
                        "{}: no {want} before {}, so {} cannot send mail to other domains",
                        p.shown(),
                        items[at],
                        if want == "permit_mynetworks" {
                            "local programs (mynetworks)"
                        } else {
                            "authenticated users"
                        }
                    ))),
                }
            }
        }
        if protected_by.is_empty() && findings.is_empty() {
            // A permit-less list with no protection at all (e.g. `-o ...=` emptied both).
            let text = format!(
                "neither {} nor {} has reject_unauth_destination (or defer_unauth_destination): open relay risk, anyone may send through this server to any domain",
                o.smtpd_recipient_restrictions.shown(),
                o.smtpd_relay_restrictions.shown()
            );
            return match client_guard {
                Some(c) => Verdict::warn(format!(
                    "{text}; only {} still refuses unauthenticated clients",
                    c.shown()
                )),
                None => Verdict::fail(text),
            }
            .with_fix("postconf -e 'smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination' && postfix reload");
        }
        let pass = format!(
            "{}; relaying is refused unless permitted by {}",
            o.smtpd_recipient_restrictions.shown(),
            protected_by.join(" and ")
        );
        worst_of(findings, &pass)
    }
}

/// Restrictions that stop relaying for whoever reaches them.
const PROTECTIONS: &[&str] = &[
    "reject_unauth_destination",
    "defer_unauth_destination",
    "reject",
    "defer",
    "defer_all",
];

/// How one restriction list treats relaying.
struct ListReading {
    /// Index of the first protecting restriction.
    protection: Option<usize>,
    /// A bare `permit` before the protection: everyone may relay.
    permit_before: bool,
    /// Where a `check_*_access static:OK` (a table that permits every address) comes before
    /// the protection: everyone may relay too.
    static_ok_before: Option<usize>,
}

fn read_list(items: &[String]) -> ListReading {
    let lower: Vec<String> = items.iter().map(|s| s.to_ascii_lowercase()).collect();
    let protection = lower.iter().position(|i| PROTECTIONS.contains(&i.as_str()));
    let end = protection.unwrap_or(lower.len());
    let static_ok_before = (0..end).find(|&i| {
        lower[i].starts_with("check_")
            && lower[i].ends_with("_access")
            && lower
                .get(i + 1)
                .is_some_and(|t| t == "static:ok" || t == "static:permit")
    });
    ListReading {
        protection,
        permit_before: lower[..end].iter().any(|i| i == "permit"),
        static_ok_before,
    }
}
