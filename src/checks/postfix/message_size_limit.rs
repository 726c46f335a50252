//! T35: message_size_limit is the tutorial's (or the configured) limit, and no mailbox limit
//! below it makes local(8) or virtual(8) refuse to deliver (postconf(5)).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Param;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::verdict::{Verdict, worst_of};

/// T35: the limit comes from the settings (the tutorial's 20480000, or the config's); with
/// `service`, the limit that master.cf service's smtpd uses (its `-o`, else main.cf's).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub service: Option<super::ServiceSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub expected: u64,
    pub message_size_limit: Param,
    pub mailbox_size_limit: Param,
    pub virtual_mailbox_limit: Param,
}

/// T35: the kind.
pub struct MessageSizeLimit;

impl Kind for MessageSizeLimit {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let svc = super::service_of(&cfg, spec.service.as_ref())?;
        Ok(Observation {
            expected: facts.settings.message_size_limit,
            message_size_limit: Param::read_for(&cfg, svc, "message_size_limit"),
            mailbox_size_limit: Param::read(&cfg.main, "mailbox_size_limit"),
            virtual_mailbox_limit: Param::read(&cfg.main, "virtual_mailbox_limit"),
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let shown = o.message_size_limit.shown();
        let Ok(limit) = o.message_size_limit.effective.trim().parse::<u64>() else {
            return Verdict::fail(format!("{shown} is not a number"));
        };
        let mut findings = Vec::new();
        if limit != o.expected {
            let mb = |n: u64| format!("{:.1} MB", n as f64 / 1_000_000.0);
            findings.push(
                Verdict::fail(format!(
                    "{shown}, not {} ({} instead of {})",
                    o.expected,
                    mb(limit),
                    mb(o.expected)
                ))
                .with_fix(o.message_size_limit.fix(&format!(
                    "postconf -e 'message_size_limit = {}' && postfix reload",
                    o.expected
                ))),
            );
        }
        // local(8) and virtual(8) refuse to run when their mailbox limit is below the message limit.
        for (p, agent) in [
            (&o.mailbox_size_limit, "local(8)"),
            (&o.virtual_mailbox_limit, "virtual(8)"),
        ] {
            if let Ok(n) = p.effective.trim().parse::<u64>()
                && n != 0
                && n < limit
            {
                findings.push(
                    Verdict::fail(format!(
                        "{} is smaller than message_size_limit = {limit}: {agent} refuses to deliver (\"{} is smaller than message_size_limit\")",
                        p.shown(),
                        p.name
                    ))
                    .with_fix(format!("postconf -e '{} = 0' && postfix reload", p.name)),
                );
            }
        }
        worst_of(findings, &shown)
    }
}
