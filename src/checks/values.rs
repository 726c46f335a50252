//! Typed values of check specs, validated when the catalogue loads: a file mode written in
//! octal, a duration, a port.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Why a spec's mode is not a mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    #[error("`{0}` is not an octal file mode like \"0640\"")]
    NotOctal(String),
    #[error("`{0}` is more than a file mode (max 7777)")]
    TooLarge(String),
}

/// A permission mode, written in octal in the TOML (`"0640"` or `"640"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(u32);

impl Mode {
    pub fn new(bits: u32) -> Mode {
        Mode(bits & 0o7777)
    }
    pub fn bits(self) -> u32 {
        self.0
    }
    /// Sets no bit that `allowed` does not set.
    pub fn within(self, allowed: Mode) -> bool {
        self.0 & !allowed.0 == 0
    }
    pub fn group_can_read(self) -> bool {
        self.0 & 0o040 != 0
    }
    /// Others can read (or, for a directory, list) it: the one rule for "world-readable".
    pub fn others_can_read(self) -> bool {
        self.0 & 0o004 != 0
    }
    /// Parses `0640`, `640` or `0o640`.
    pub fn parse(s: &str) -> Result<Mode, ModeError> {
        let digits = s.trim().trim_start_matches("0o");
        if digits.is_empty()
            || digits.len() > 5
            || !digits.chars().all(|c| ('0'..='7').contains(&c))
        {
            return Err(ModeError::NotOctal(s.to_string()));
        }
        let bits =
            u32::from_str_radix(digits, 8).map_err(|_| ModeError::NotOctal(s.to_string()))?;
        if bits > 0o7777 {
            return Err(ModeError::TooLarge(s.to_string()));
        }
        Ok(Mode(bits))
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Mode::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A duration written like `"15s"` or `"2m"` (humantime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map(Span).map_err(|e| {
            serde::de::Error::custom(format!("`{s}` is not a duration like \"15s\": {e}"))
        })
    }
}

/// A TCP port, 1..=65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port(pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        match u16::try_from(n) {
            Ok(p) if p > 0 => Ok(Port(p)),
            _ => Err(serde::de::Error::custom(format!(
                "{n} is not a TCP port (1..65535)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_strictly() {
        assert_eq!(Mode::parse("0640").map(Mode::bits), Ok(0o640));
        assert_eq!(Mode::parse("640").map(Mode::bits), Ok(0o640));
        assert!(Mode::parse("0x9").is_err());
        assert!(Mode::parse("0980").is_err());
        assert!(Mode::parse("").is_err());
        assert!(Mode::parse("77777").is_err());
    }

    #[test]
    fn mode_rules() {
        assert!(Mode::new(0o600).within(Mode::new(0o640)));
        assert!(!Mode::new(0o644).within(Mode::new(0o640)));
        assert!(Mode::new(0o644).others_can_read());
        assert!(!Mode::new(0o640).others_can_read());
        assert!(!Mode::new(0o600).group_can_read());
    }
}
