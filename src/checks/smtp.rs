//! T1: Postfix answers on the MX port with a `220` banner naming myhostname (RFC 5321 §4.3.1,
//! postconf(5) smtpd_banner), and EHLO answers.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::Ctx;
use crate::probe::session::{self, ErrorKind, PortSession, Service, Step};
use crate::verdict::{Status, Verdict};

/// Adds the session transcript to the evidence of a verdict that is not a pass.
pub(crate) fn with_transcript(v: Verdict, transcript: &[String]) -> Verdict {
    if matches!(v.status, Status::Pass | Status::Skip) || transcript.is_empty() {
        return v;
    }
    let mut evidence = match v.evidence {
        serde_json::Value::Object(m) => m,
        serde_json::Value::Null => serde_json::Map::new(),
        other => {
            let mut m = serde_json::Map::new();
            m.insert("facts".into(), other);
            m
        }
    };
    evidence.insert("transcript".into(), json!(transcript));
    Verdict {
        evidence: serde_json::Value::Object(evidence),
        ..v
    }
}

/// Whether `host` is a DNS name worth comparing with a certificate or banner (not an address,
/// not `localhost`).
pub(crate) fn is_public_name(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_err()
        && !bare.eq_ignore_ascii_case("localhost")
        && !bare.to_ascii_lowercase().ends_with(".localhost")
}

/// The verdict for a session that got no usable greeting (`None` when it was greeted):
/// refused is a fail (nothing listens), timeouts and 421 are errors, another code is a fail.
pub(crate) fn greeting_verdict(s: &PortSession, what: &str) -> Option<Verdict> {
    let addr = &s.addr;
    let v = match &s.banner {
        Step::Error {
            kind: ErrorKind::Refused,
            ..
        } => Verdict::fail(format!(
            "nothing listens on {addr}: connection refused ({what} is not running there)"
        )),
        Step::Error { message, .. } => Verdict::error(format!("{addr}: {message}")),
        Step::Reply { code: 220, .. } => return None,
        other => Verdict::fail(format!(
            "{addr} greets with `{}`, not 220: it refuses this client",
            other.describe()
        )),
    };
    Some(v)
}

/// T1 has no parameters: the expected name is main.cf's myhostname (on the server) or --host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BannerSpec {}

/// What T1 looks at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BannerObservation {
    /// As given with --host.
    pub host: String,
    pub local: bool,
    /// main.cf's myhostname (local only).
    #[serde(default)]
    pub myhostname: Option<String>,
    /// Why main.cf could not be read (local only).
    #[serde(default)]
    pub config_problem: Option<String>,
    pub session: PortSession,
}

pub async fn banner(spec: &BannerSpec, ctx: &Ctx) -> Verdict {
    let session = session::port(ctx, Service::Smtp).await;
    let (mut myhostname, mut config_problem) = (None, None);
    if ctx.target.local {
        match ctx.postfix().await {
            Ok(cfg) => myhostname = Some(cfg.get("myhostname")),
            Err(e) => config_problem = Some(e.to_string()),
        }
    }
    judge_banner(
        spec,
        &BannerObservation {
            host: ctx.target.host.clone(),
            local: ctx.target.local,
            myhostname,
            config_problem,
            session: (*session).clone(),
        },
    )
}

pub fn judge_banner(_spec: &BannerSpec, o: &BannerObservation) -> Verdict {
    let s = &o.session;
    let evidence = json!({
        "addr": s.addr, "banner": s.banner, "ehlo": s.ehlo, "host": o.host,
        "myhostname": o.myhostname,
    });
    if let Some(v) = greeting_verdict(s, "Postfix") {
        return with_transcript(
            v.with_fix(
                "start Postfix (`postfix start`), and check that master.cf has the `smtp inet ... smtpd` line and main.cf inet_interfaces = all",
            )
            .with_evidence(evidence),
            &s.transcript,
        );
    }
    let greeting = s.banner.describe();
    let first = match &s.banner {
        Step::Reply { lines, .. } => lines.first().cloned().unwrap_or_default(),
        Step::Error { .. } => String::new(),
    };
    let named = first.split_whitespace().next().unwrap_or("").to_string();
    let ehlo = match &s.ehlo {
        Some(st) if st.code() == Some(250) => None,
        Some(st @ Step::Reply { .. }) => Some(Verdict::fail(format!(
            "{}: EHLO answered `{}`, not 250",
            s.addr,
            st.describe()
        ))),
        Some(st) => Some(Verdict::error(format!(
            "{}: EHLO: {}",
            s.addr,
            st.describe()
        ))),
        None => Some(Verdict::error(format!("{}: no EHLO was sent", s.addr))),
    };
    let name_verdict = match (&o.myhostname, o.local) {
        (Some(my), true) if !my.eq_ignore_ascii_case(&named) => Verdict::fail(format!(
            "{} greets `{greeting}`: the banner names {}, not myhostname {my}",
            s.addr,
            if named.is_empty() { "nothing" } else { &named }
        ))
        .with_fix(format!(
            "set `smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)` in main.cf (myhostname = {my}), then `postfix reload`"
        )),
        (Some(my), true) if is_public_name(&o.host) && !o.host.eq_ignore_ascii_case(my) => {
            Verdict::warn(format!(
                "{} greets `{greeting}` (myhostname {my}), but --host is {}: clients that connect by that name see another name",
                s.addr, o.host
            ))
        }
        (Some(my), true) => Verdict::pass(format!(
            "{} greets `{greeting}`, naming myhostname {my}; EHLO answers 250",
            s.addr
        )),
        _ if !is_public_name(&o.host) => Verdict::warn(format!(
            "{} greets `{greeting}`; cannot tell whether {named} is myhostname: --host is not a name{}",
            s.addr,
            o.config_problem
                .as_ref()
                .map(|p| format!(" and main.cf is unreadable ({p})"))
                .unwrap_or_else(|| " and mailcheck does not run on the server".into())
        )),
        _ if named.eq_ignore_ascii_case(&o.host) => Verdict::pass(format!(
            "{} greets `{greeting}`, naming {}; EHLO answers 250",
            s.addr, o.host
        )),
        _ => Verdict::warn(format!(
            "{} greets `{greeting}`: the banner names {named}, not --host {} (myhostname can only be read on the server)",
            s.addr, o.host
        )),
    };
    let v = match ehlo {
        Some(e) if e.status >= name_verdict.status => e,
        _ => name_verdict,
    };
    with_transcript(v.with_evidence(evidence), &s.transcript)
}
