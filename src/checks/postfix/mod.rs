//! Checks of Postfix's configuration (postconf(5), master(5) and the lookup tables main.cf
//! names): one submodule per area, re-exported so `crate::checks::postfix::X` names each
//! check's spec, observation, probe and judge.

mod base;
mod maps;
mod ops;
mod smtpd;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use base::*;
pub use maps::*;
pub use ops::*;
pub use smtpd::*;

use crate::context::Ctx;
use crate::probe::postfix::{MainCf, PostfixConfig, split_list};
use crate::verdict::Verdict;

/// One main.cf parameter as a check saw it: what is written and where, and the value Postfix
/// uses (default applied, `$names` expanded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    /// The value as written; `None` when main.cf does not set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<String>,
    /// Line of main.cf where it is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(default)]
    pub effective: String,
}

impl Param {
    /// Reads `name` from main.cf.
    pub fn read(main: &MainCf, name: &str) -> Param {
        Param {
            name: name.to_string(),
            written: main.raw(name).map(str::to_string),
            line: main.line(name),
            effective: main.get(name),
        }
    }

    /// Where the value comes from: "main.cf line 12", or Postfix's default.
    pub fn at(&self) -> String {
        match self.line {
            Some(l) => format!("main.cf line {l}"),
            None => "not set in main.cf, Postfix's default".to_string(),
        }
    }

    /// `name = value (main.cf line N)`, with the expansion when it differs from the text.
    pub fn shown(&self) -> String {
        let value = match &self.written {
            Some(w) if *w != self.effective => format!("{w} (= {})", self.effective),
            Some(w) => w.clone(),
            None => self.effective.clone(),
        };
        format!("{} = {} ({})", self.name, value, self.at())
    }

    /// The value split as a Postfix list.
    pub fn list(&self) -> Vec<String> {
        split_list(&self.effective)
    }
}

/// main.cf and master.cf, or the `error` verdict saying why they could not be read.
async fn config(ctx: &Ctx) -> Result<Arc<PostfixConfig>, Verdict> {
    ctx.postfix()
        .await
        .map_err(|e| Verdict::error(e.to_string()))
}

/// Compares two parameter values as Postfix would treat them: list items split on commas and
/// whitespace, case-insensitive (`yes`/`YES`, `All`/`all`).
fn same_value(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        split_list(s)
            .iter()
            .map(|x| x.to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    norm(a) == norm(b)
}
