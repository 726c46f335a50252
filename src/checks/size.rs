//! T35: the message size limit (postconf(5) message_size_limit; RFC 1870 SIZE): announced in
//! EHLO, and a declared size above it refused with 552 before any byte of the message is sent.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::checks::smtp::with_transcript;
use crate::context::Ctx;
use crate::probe::session::{self, PortSession, Service, Step};
use crate::verdict::{Verdict, worst_of};

/// T35: nothing to set here; the limit comes from the settings (the tutorial's 20480000 unless
/// the config file's `[tutorial] message_size_limit` says otherwise).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvertisedSpec {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdvertisedObservation {
    /// The limit required (settings).
    pub expected: u64,
    pub session: PortSession,
    /// main.cf's message_size_limit as Postfix reads it (local only).
    #[serde(default)]
    pub main_cf: Option<String>,
    #[serde(default)]
    pub main_cf_line: Option<usize>,
}

pub async fn advertised(spec: &AdvertisedSpec, ctx: &Ctx) -> Verdict {
    let s = session::port(ctx, Service::Smtp).await;
    let (mut main_cf, mut main_cf_line) = (None, None);
    if ctx.target.local
        && let Ok(cfg) = ctx.postfix().await
    {
        main_cf = Some(cfg.get("message_size_limit"));
        main_cf_line = cfg.main.line("message_size_limit");
    }
    judge_advertised(
        spec,
        &AdvertisedObservation {
            expected: ctx.settings.message_size_limit,
            session: (*s).clone(),
            main_cf,
            main_cf_line,
        },
    )
}

pub fn judge_advertised(_spec: &AdvertisedSpec, o: &AdvertisedObservation) -> Verdict {
    let s = &o.session;
    let addr = &s.addr;
    let want = o.expected;
    let caps = s.capabilities();
    let evidence = json!({
        "addr": addr, "size": caps.params("SIZE"), "expected": want,
        "main_cf": o.main_cf, "main_cf_line": o.main_cf_line,
    });
    let where_set = match (&o.main_cf, o.main_cf_line) {
        (Some(v), Some(l)) => format!(" (main.cf line {l}: message_size_limit = {v})"),
        (Some(v), None) => {
            format!(" (message_size_limit is not set in main.cf: the default {v} applies)")
        }
        _ => String::new(),
    };
    let fix = format!("set `message_size_limit = {want}` in main.cf, then `postfix reload`");
    let v = if let Some(why) = s.not_greeted() {
        Verdict::error(format!("could not read EHLO: {why}"))
    } else {
        match caps.size() {
            None => Verdict::fail(format!(
                "EHLO on {addr} announces no SIZE (want SIZE {want})"
            ))
            .with_fix(fix),
            Some(None) => Verdict::fail(format!(
                "EHLO on {addr} announces SIZE without a number (want SIZE {want})"
            ))
            .with_fix(fix),
            Some(Some(0)) => Verdict::fail(format!(
                "EHLO on {addr} announces SIZE 0: no size limit (want {want}){where_set}"
            ))
            .with_fix(fix),
            Some(Some(n)) if n != want => Verdict::fail(format!(
                "EHLO on {addr} announces SIZE {n}, not the tutorial's message_size_limit {want}{where_set}"
            ))
            .with_fix(fix),
            Some(Some(n)) => match &o.main_cf {
                Some(v) if v.trim().parse::<u64>().ok() != Some(n) => Verdict::warn(format!(
                    "EHLO on {addr} announces SIZE {n}, but main.cf now says message_size_limit = {v}: `postfix reload` to apply it"
                )),
                Some(_) => Verdict::pass(format!(
                    "EHLO on {addr} announces SIZE {n} = message_size_limit{where_set}"
                )),
                None => Verdict::pass(format!("EHLO on {addr} announces SIZE {n}")),
            },
        }
    };
    with_transcript(v.with_evidence(evidence), &s.transcript)
}

/// T35: the reply a declared size above the limit must get.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OversizeSpec {
    pub refusal_code: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OversizeObservation {
    pub session: PortSession,
}

pub async fn oversize(spec: &OversizeSpec, ctx: &Ctx) -> Verdict {
    let s = session::port(ctx, Service::Smtp).await;
    judge_oversize(
        spec,
        &OversizeObservation {
            session: (*s).clone(),
        },
    )
}

pub fn judge_oversize(spec: &OversizeSpec, o: &OversizeObservation) -> Verdict {
    let s = &o.session;
    let addr = &s.addr;
    let limit = s.size_limit;
    let over = limit.saturating_add(1);
    let evidence = json!({
        "addr": addr, "limit": limit, "size_at_limit": s.size_at_limit,
        "size_over_limit": s.size_over_limit, "bytes_sent": 0,
    });
    if let Some(why) = s.not_greeted() {
        return with_transcript(
            Verdict::error(format!("could not get past EHLO: {why}")).with_evidence(evidence),
            &s.transcript,
        );
    }
    let fix = format!("set `message_size_limit = {limit}` in main.cf, then `postfix reload`");
    let mut findings = Vec::new();
    let not_tried = |what: &str| Verdict::error(format!("{addr}: {what} was not tried"));
    match &s.size_at_limit {
        None => findings.push(not_tried(&format!("MAIL FROM:<> SIZE={limit}"))),
        Some(st) if st.is_positive() => {}
        Some(st) if st.code() == Some(spec.refusal_code) => findings.push(
            Verdict::fail(format!(
                "{addr} refuses MAIL FROM:<> SIZE={limit} (`{}`): its limit is below the tutorial's {limit}",
                st.describe()
            ))
            .with_fix(fix.clone()),
        ),
        Some(st) if st.is_permanent() => findings.push(Verdict::warn(format!(
            "{addr} refuses MAIL FROM:<> SIZE={limit}: `{}`",
            st.describe()
        ))),
        Some(st) if st.code().is_none() => findings.push(Verdict::error(format!(
            "{addr}: MAIL FROM:<> SIZE={limit}: {}",
            st.describe()
        ))),
        Some(st) => findings.push(Verdict::error(format!(
            "{addr}: MAIL FROM:<> SIZE={limit}: `{}`: cannot tell",
            st.describe()
        ))),
    }
    match &s.size_over_limit {
        None if s.size_at_limit.as_ref().is_some_and(|x| x.code().is_none()) => {}
        None => findings.push(not_tried(&format!("MAIL FROM:<> SIZE={over}"))),
        Some(st) if st.code() == Some(spec.refusal_code) => {}
        Some(st) if st.is_positive() => findings.push(
            Verdict::fail(format!(
                "{addr} accepts MAIL FROM:<> SIZE={over} (`{}`): its limit is above the tutorial's {limit}",
                st.describe()
            ))
            .with_fix(fix.clone()),
        ),
        Some(st) if st.is_permanent() => findings.push(Verdict::warn(format!(
            "{addr} refuses MAIL FROM:<> SIZE={over}, but with `{}`, not {}",
            st.describe(),
            spec.refusal_code
        ))),
        Some(st) if st.code().is_none() => findings.push(Verdict::error(format!(
            "{addr}: MAIL FROM:<> SIZE={over}: {}",
            st.describe()
        ))),
        Some(st) => findings.push(Verdict::error(format!(
            "{addr}: MAIL FROM:<> SIZE={over}: `{}`: cannot tell",
            st.describe()
        ))),
    }
    let pass = format!(
        "{addr}: MAIL FROM:<> SIZE={limit} gets `{}`, SIZE={over} gets `{}` (no message bytes sent)",
        s.size_at_limit
            .as_ref()
            .map(Step::describe)
            .unwrap_or_default(),
        s.size_over_limit
            .as_ref()
            .map(Step::describe)
            .unwrap_or_default()
    );
    with_transcript(
        worst_of(findings, &pass).with_evidence(evidence),
        &s.transcript,
    )
}
