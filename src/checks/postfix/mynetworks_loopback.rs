//! T4: mynetworks is loopback only, so no client relays without authentication (postconf(5)
//! mynetworks, mynetworks_style; SMTPD_ACCESS_README).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Param;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::ProbeError;
use crate::probe::postfix::split_list;
use crate::verdict::{Verdict, worst_of};

/// T4 has no parameters: loopback is loopback.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// Entries of a `/file/name` in mynetworks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListFile {
    pub path: PathBuf,
    #[serde(default)]
    pub entries: Vec<String>,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub needs_root: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// When main.cf does not set it, `effective` is what Postfix computes from
    /// mynetworks_style and this machine's interfaces (`postconf -h mynetworks`).
    pub mynetworks: Param,
    /// Why Postfix's computed value could not be had (main.cf does not set mynetworks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_problem: Option<String>,
    pub mynetworks_style: Param,
    #[serde(default)]
    pub files: Vec<ListFile>,
}

/// T4: the kind.
pub struct MynetworksLoopback;

impl Kind for MynetworksLoopback {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let mut mynetworks = Param::read(&cfg.main, "mynetworks");
        let mut computed_problem = None;
        if mynetworks.written.is_none() {
            // The same value the relay probe picks its source address from.
            match facts.mynetworks().await {
                Ok(v) => mynetworks.effective = v,
                Err(e) => computed_problem = Some(e.to_string()),
            }
        }
        let files = mynetworks
            .list()
            .iter()
            .filter(|e| e.starts_with('/'))
            .map(|e| {
                let path = PathBuf::from(e);
                match std::fs::read_to_string(&path) {
                    Ok(t) => ListFile {
                        path,
                        entries: t
                            .lines()
                            .map(|l| l.split('#').next().unwrap_or(""))
                            .flat_map(split_list)
                            .collect(),
                        problem: None,
                        needs_root: false,
                    },
                    Err(e) => {
                        let err = ProbeError::from_io(&path, &e);
                        ListFile {
                            needs_root: matches!(err, ProbeError::PermissionDenied { .. }),
                            problem: Some(err.to_string()),
                            path,
                            entries: Vec::new(),
                        }
                    }
                }
            })
            .collect();
        Ok(Observation {
            mynetworks,
            computed_problem,
            mynetworks_style: Param::read(&cfg.main, "mynetworks_style"),
            files,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        if o.mynetworks.written.is_none() {
            let style = o.mynetworks_style.effective.trim().to_ascii_lowercase();
            let style_shown = o.mynetworks_style.shown();
            let fix = "postconf -e 'mynetworks = 127.0.0.0/8' && postfix reload";
            let computed = o.mynetworks.list();
            if o.computed_problem.is_none() && !computed.is_empty() {
                return unset_verdict(&computed, &style, &style_shown).with_fix(fix);
            }
            return match style.as_str() {
                "host" => Verdict::warn(format!(
                    "mynetworks is not set, so {style_shown} lets this machine's own addresses relay, not only loopback; the tutorial sets mynetworks = 127.0.0.0/8"
                )),
                _ => Verdict::fail(format!(
                    "mynetworks is not set, so {style_shown} lets every client in this machine's {} relay without authentication",
                    if style == "class" { "class A/B/C networks" } else { "IP subnets" }
                )),
            }
            .with_fix(fix);
        }
        let shown = o.mynetworks.shown();
        let mut entries: Vec<(String, Option<PathBuf>)> = Vec::new();
        let mut findings = Vec::new();
        for e in o.mynetworks.list() {
            if e.starts_with('/') {
                match o.files.iter().find(|f| f.path == Path::new(&e)) {
                    Some(f) if f.problem.is_none() => {
                        entries.extend(f.entries.iter().map(|x| (x.clone(), Some(f.path.clone()))));
                    }
                    Some(f) if f.needs_root => {
                        findings.push(Verdict::error(f.problem.clone().unwrap_or_default()));
                    }
                    Some(f) => findings.push(Verdict::fail(format!(
                        "{shown}: {}",
                        f.problem.clone().unwrap_or_default()
                    ))),
                    None => findings.push(Verdict::error(format!("{shown}: {e} was not read"))),
                }
            } else {
                entries.push((e, None));
            }
        }
        for (e, file) in &entries {
            // `!pattern` excludes clients: it can only narrow what relays.
            if e.starts_with('!') {
                continue;
            }
            let from = file
                .as_ref()
                .map(|f| format!(" (in {})", f.display()))
                .unwrap_or_default();
            match classify_network(e) {
                NetClass::Loopback => {}
                NetClass::Other(why) => {
                    findings.push(Verdict::fail(format!("{shown}: {why}{from}")).with_fix(
                        "postconf -e 'mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128' && postfix reload",
                    ));
                }
                NetClass::Unknown => findings.push(Verdict::warn(format!(
                    "{shown}: {e}{from} is a lookup table; mailcheck cannot tell which clients it lists"
                ))),
            }
        }
        if entries.iter().all(|(e, _)| e.starts_with('!')) && findings.is_empty() {
            return Verdict::pass(format!(
                "{shown}: no client is in mynetworks, so none relays without authentication"
            ));
        }
        worst_of(findings, &format!("{shown}: loopback only"))
    }
}

/// mynetworks not set in main.cf: judged on the list Postfix computes (`computed`).
fn unset_verdict(computed: &[String], style: &str, style_shown: &str) -> Verdict {
    let list = computed.join(" ");
    let others: Vec<&str> = computed
        .iter()
        .filter(|e| classify_network(e) != NetClass::Loopback)
        .map(String::as_str)
        .collect();
    if others.is_empty() {
        return Verdict::pass(format!(
            "mynetworks is not set; Postfix computes `{list}` from {style_shown} and this machine's interfaces: loopback only (until an interface is added; the tutorial sets mynetworks = 127.0.0.0/8)"
        ));
    }
    let msg = format!(
        "mynetworks is not set, so Postfix uses `{list}` (computed from {style_shown} and this machine's interfaces)"
    );
    match style {
        "host" => Verdict::warn(format!(
            "{msg}: this machine's own addresses {} relay without authentication, not only loopback",
            others.join(" ")
        )),
        _ => Verdict::fail(format!(
            "{msg}: every client in {} relays without authentication",
            others.join(" ")
        )),
    }
}

/// What one mynetworks entry lets relay.
#[derive(Debug, PartialEq, Eq)]
enum NetClass {
    Loopback,
    /// Not loopback; the text says what it opens.
    Other(String),
    /// mailcheck cannot tell (a lookup table).
    Unknown,
}

fn classify_network(entry: &str) -> NetClass {
    if entry.eq_ignore_ascii_case("localhost") {
        return NetClass::Loopback;
    }
    if entry.contains(':') && !entry.starts_with('[') && entry.parse::<IpAddr>().is_err() {
        let bare = entry.split('/').next().unwrap_or("");
        if bare.parse::<Ipv6Addr>().is_err() {
            return NetClass::Unknown; // type:table
        }
    }
    let flat: String = entry.chars().filter(|c| *c != '[' && *c != ']').collect();
    let (addr, prefix) = match flat.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (flat.as_str(), None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return NetClass::Other(format!(
            "{entry} names hosts by name: any client whose name matches may relay"
        ));
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let Some(prefix) = prefix.map_or(Some(max), |p| p.parse::<u32>().ok().filter(|p| *p <= max))
    else {
        return NetClass::Other(format!("{entry} has an invalid prefix length"));
    };
    if prefix == 0 {
        let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
        return NetClass::Other(format!(
            "{entry} is every {family} address: anyone on the Internet may relay through this server (open relay)"
        ));
    }
    let loopback = match ip {
        IpAddr::V4(v4) => prefix >= 8 && v4.octets()[0] == 127,
        IpAddr::V6(v6) => {
            let mapped_net = u128::from(Ipv4Addr::new(127, 0, 0, 0).to_ipv6_mapped());
            let mask = |p: u32| u128::MAX.checked_shl(128 - p).unwrap_or(0);
            (prefix == 128 && v6 == Ipv6Addr::LOCALHOST)
                || (prefix >= 104 && u128::from(v6) & mask(104) == mapped_net)
        }
    };
    if loopback {
        NetClass::Loopback
    } else {
        NetClass::Other(format!(
            "{entry} is not loopback: every client in it may relay without authentication"
        ))
    }
}
