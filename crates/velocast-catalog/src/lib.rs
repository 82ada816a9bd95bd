//! The registry's vocabulary, parsed once (CONVENTIONS 7, "parse, don't validate").
//!
//! A [`ModelName`], [`AliasName`], [`VersionNumber`] or [`Digest`] can only be built from valid
//! input, so code holding one never checks it again. Every parser reports which rule failed;
//! services turn that into a 4xx body naming the field.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub mod filter;

pub use filter::{MetricFilter, TagFilter, VersionFilter};

/// A rejected value and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{value}` is not a valid {what}: {rule}")]
pub struct ParseError {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

impl ParseError {
    fn new(what: &'static str, value: &str, rule: &'static str) -> Self {
        // Echo at most 80 characters of what was sent.
        let value = value.chars().take(80).collect();
        ParseError { what, value, rule }
    }
}

/// `^[a-z][a-z0-9_-]*$` up to `max` characters (`too_long` says so in words).
fn check_identifier(
    what: &'static str,
    text: &str,
    max: usize,
    too_long: &'static str,
) -> Result<(), ParseError> {
    const RULE: &str = "lowercase letters, digits, `-` and `_`, starting with a letter";
    if text.is_empty() {
        return Err(ParseError::new(what, text, "must not be empty"));
    }
    if text.chars().count() > max {
        return Err(ParseError::new(what, text, too_long));
    }
    let mut chars = text.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(ParseError::new(what, text, RULE))
    }
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(text: String) -> Result<Self, ParseError> {
                text.parse()
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A registered model's name, e.g. `bike-demand`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModelName(String);

impl ModelName {
    pub const MAX_LEN: usize = 64;
}

impl FromStr for ModelName {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Self, ParseError> {
        check_identifier("model name", text, Self::MAX_LEN, "at most 64 characters")?;
        Ok(ModelName(text.to_owned()))
    }
}

string_newtype!(ModelName);

/// An alias such as `champion` or `challenger`. It starts with a letter, so it can never be
/// mistaken for a version number in a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AliasName(String);

impl AliasName {
    pub const MAX_LEN: usize = 32;
    /// `latest` always means the highest version; it cannot be set by hand.
    pub const RESERVED: [&'static str; 1] = ["latest"];
}

impl FromStr for AliasName {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Self, ParseError> {
        check_identifier("alias", text, Self::MAX_LEN, "at most 32 characters")?;
        if Self::RESERVED.contains(&text) {
            return Err(ParseError::new("alias", text, "`latest` is reserved"));
        }
        Ok(AliasName(text.to_owned()))
    }
}

string_newtype!(AliasName);

/// A model version: 1, 2, 3, … per model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct VersionNumber(NonZeroU32);

impl VersionNumber {
    pub const FIRST: VersionNumber = VersionNumber(NonZeroU32::MIN);

    pub fn get(self) -> u32 {
        self.0.get()
    }

    /// The version after this one, or `None` at `u32::MAX`.
    pub fn next(self) -> Option<VersionNumber> {
        self.0.checked_add(1).map(VersionNumber)
    }
}

impl TryFrom<u32> for VersionNumber {
    type Error = ParseError;
    fn try_from(value: u32) -> Result<Self, ParseError> {
        NonZeroU32::new(value)
            .map(VersionNumber)
            .ok_or_else(|| ParseError::new("version", &value.to_string(), "versions start at 1"))
    }
}

impl TryFrom<i64> for VersionNumber {
    type Error = ParseError;
    fn try_from(value: i64) -> Result<Self, ParseError> {
        u32::try_from(value)
            .map_err(|_| {
                ParseError::new(
                    "version",
                    &value.to_string(),
                    "must be within 1..=4294967295",
                )
            })?
            .try_into()
    }
}

impl From<VersionNumber> for u32 {
    fn from(value: VersionNumber) -> u32 {
        value.get()
    }
}

impl FromStr for VersionNumber {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Self, ParseError> {
        let canonical =
            !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0');
        if !canonical {
            return Err(ParseError::new(
                "version",
                text,
                "a positive integer without sign or leading zeros",
            ));
        }
        text.parse::<u32>()
            .map_err(|_| ParseError::new("version", text, "must be within 1..=4294967295"))?
            .try_into()
    }
}

impl fmt::Display for VersionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A sha256 digest as 64 lowercase hex characters: how artifacts are addressed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl FromStr for Digest {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Self, ParseError> {
        let text = text.strip_prefix("sha256:").unwrap_or(text);
        if text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Digest(text.to_owned()))
        } else {
            Err(ParseError::new(
                "sha256 digest",
                text,
                "64 lowercase hexadecimal characters",
            ))
        }
    }
}

impl Digest {
    /// From raw digest bytes (what a hasher returns).
    pub fn from_bytes(bytes: &[u8; 32]) -> Digest {
        Digest(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

string_newtype!(Digest);

/// What a path names: a fixed version, an alias, or the latest version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VersionSelector {
    Number(VersionNumber),
    Alias(AliasName),
    Latest,
}

impl FromStr for VersionSelector {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Self, ParseError> {
        if text == "latest" {
            return Ok(VersionSelector::Latest);
        }
        if text.starts_with(|c: char| c.is_ascii_digit()) {
            return text.parse().map(VersionSelector::Number);
        }
        text.parse().map(VersionSelector::Alias)
    }
}

impl fmt::Display for VersionSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSelector::Number(n) => write!(f, "{n}"),
            VersionSelector::Alias(a) => write!(f, "{a}"),
            VersionSelector::Latest => f.write_str("latest"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_follow_the_identifier_rule() {
        assert_eq!(
            "bike-demand".parse::<ModelName>().unwrap().as_str(),
            "bike-demand"
        );
        for bad in [
            "",
            "Bike",
            "1bike",
            "bike demand",
            "bike/../x",
            "bike\u{e9}",
            &"a".repeat(65),
        ] {
            let error = bad.parse::<ModelName>().unwrap_err();
            assert_eq!(error.what, "model name", "{bad}");
        }
        assert_eq!(
            "x".repeat(64).parse::<ModelName>().unwrap().as_str().len(),
            64
        );
        assert_eq!(
            "".parse::<ModelName>().unwrap_err().rule,
            "must not be empty"
        );
    }

    #[test]
    fn aliases_reserve_latest_and_cannot_look_like_versions() {
        assert!("champion".parse::<AliasName>().is_ok());
        assert_eq!(
            "latest".parse::<AliasName>().unwrap_err().rule,
            "`latest` is reserved"
        );
        assert!("3".parse::<AliasName>().is_err());
        assert!("a".repeat(33).parse::<AliasName>().is_err());
    }

    #[test]
    fn versions_are_canonical_positive_integers() {
        assert_eq!("7".parse::<VersionNumber>().unwrap().get(), 7);
        for bad in ["0", "07", "-1", "+1", "1.0", "", "4294967296", " 1"] {
            assert!(bad.parse::<VersionNumber>().is_err(), "{bad}");
        }
        assert_eq!(VersionNumber::FIRST.next().unwrap().get(), 2);
        assert!(VersionNumber::try_from(u32::MAX).unwrap().next().is_none());
        assert!(VersionNumber::try_from(-3_i64).is_err());
    }

    #[test]
    fn digests_are_lowercase_hex_with_an_optional_prefix() {
        let hex = "e03de4ee4ef4dc376ac6e04bf829673c6269e8eba5c60fa121640fa2f829504f";
        assert_eq!(hex.parse::<Digest>().unwrap().as_str(), hex);
        assert_eq!(
            format!("sha256:{hex}").parse::<Digest>().unwrap().as_str(),
            hex
        );
        assert!(hex.to_uppercase().parse::<Digest>().is_err());
        assert!(hex[1..].parse::<Digest>().is_err());
        assert_eq!(Digest::from_bytes(&[0xab; 32]).as_str(), "ab".repeat(32));
    }

    #[test]
    fn selectors_tell_numbers_aliases_and_latest_apart() {
        assert_eq!(
            "3".parse::<VersionSelector>().unwrap(),
            VersionSelector::Number(VersionNumber::try_from(3_u32).unwrap())
        );
        assert_eq!(
            "latest".parse::<VersionSelector>().unwrap(),
            VersionSelector::Latest
        );
        assert!(matches!(
            "champion".parse::<VersionSelector>().unwrap(),
            VersionSelector::Alias(_)
        ));
        assert!("03".parse::<VersionSelector>().is_err());
    }

    #[test]
    fn serde_refuses_invalid_values() {
        assert!(serde_json::from_str::<ModelName>("\"Bad Name\"").is_err());
        assert!(serde_json::from_str::<VersionNumber>("0").is_err());
        assert_eq!(
            serde_json::to_string(&"bike".parse::<ModelName>().unwrap()).unwrap(),
            "\"bike\""
        );
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(name in "[a-z][a-z0-9_-]{0,63}", version in 1_u32..) {
            let parsed: ModelName = name.parse().unwrap();
            prop_assert_eq!(parsed.to_string(), name);
            let v = VersionNumber::try_from(version).unwrap();
            prop_assert_eq!(v.to_string().parse::<VersionNumber>().unwrap(), v);
        }

        #[test]
        fn parsing_never_panics_and_accepts_only_the_rule(text in "\\PC{0,70}") {
            let expected = !text.is_empty()
                && text.chars().count() <= 64
                && text.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            prop_assert_eq!(text.parse::<ModelName>().is_ok(), expected);
            let _ = text.parse::<VersionSelector>();
            let _ = text.parse::<Digest>();
        }
    }
}
