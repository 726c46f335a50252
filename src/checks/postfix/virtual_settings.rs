//! T15: the virtual_* settings: mailboxes under vmail's home, the virtual(8) transport, the
//! mysql: maps, and the uid/gid virtual(8) delivers as (postconf(5), VIRTUAL_README).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Param;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::postfix::{StaticId, map_references, static_id};
use crate::verdict::{Verdict, worst_of};

/// T15: the transport and the parameters that must be mysql: maps; the uid, gid and home come
/// from the settings and the real vmail user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub transport: String,
    pub mysql_maps: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
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

/// T15: the kind.
pub struct VirtualSettings;

impl Kind for VirtualSettings {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let s = &facts.settings;
        let user = uzers::get_user_by_name(&s.vmail_user);
        let actual_gid = uzers::get_group_by_name(&s.vmail_group)
            .map(|g| g.gid())
            .or_else(|| user.as_ref().map(|u| u.primary_group_id()));
        let main = &cfg.main;
        Ok(Observation {
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
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
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
                StaticId::Id(n) if n == want => {}
                StaticId::Id(n) => findings.push(
                    Verdict::fail(format!(
                        "{}, but {from} is {want}: mailboxes get owner {n}, which vmail cannot use",
                        p.shown()
                    ))
                    .with_fix(format!(
                        "postconf -e '{} = static:{want}' && postfix reload",
                        p.name
                    )),
                ),
                StaticId::Invalid => findings.push(Verdict::fail(format!(
                    "{}: {} is not static:<number>",
                    p.shown(),
                    p.effective.trim()
                ))),
                StaticId::NotStatic if p.effective.trim().is_empty() => findings.push(Verdict::fail(format!(
                    "{} is empty: virtual(8) has no id to deliver as (the tutorial: static:{want})",
                    p.name
                ))),
                StaticId::NotStatic => findings.push(Verdict::warn(format!(
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
        worst_of(findings, &pass)
    }
}
