//! The route table: which model each route serves, split between which arms, keyed by what.
//!
//! ```toml
//! [routes.default]
//! model = "bike-demand"
//! sticky = "sub"                      # the JWT subject; or "request_id", or "header:x-user-id"
//! arms = [
//!   { name = "champion", alias = "champion", weight = 90 },
//!   { name = "challenger", version = 7, weight = 10 },
//! ]
//! ```
//!
//! Parsed once into types that cannot hold an invalid table; every problem is reported
//! together, each with the path of the value at fault.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use thiserror::Error;
use velocast_catalog::{AliasName, ModelName, VersionNumber};

/// Largest weight an arm may have (weights are relative; this only keeps them sane).
pub const MAX_WEIGHT: u32 = 1_000_000;

/// Why a route table was refused: every problem, each naming where it is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid route table:\n  {}", problems.join("\n  "))]
pub struct RouteError {
    pub problems: Vec<String>,
}

/// `^[a-z][a-z0-9_-]*$` up to `max` characters.
fn identifier(text: &str, max: usize) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && text.len() <= max
}

macro_rules! name_type {
    ($name:ident, $max:expr, $what:expr) => {
        #[doc = concat!("A ", $what, ": lowercase letters, digits, `-` and `_`, starting with a letter.")]
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, String> {
                if identifier(text, $max) {
                    Ok($name(text.to_owned()))
                } else {
                    Err(format!(
                        "`{text}` is not a valid {}: lowercase letters, digits, `-` and `_`, starting with a letter, at most {} characters",
                        $what, $max
                    ))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(RouteName, 64, "route name");
// Arm names label metrics: a closed, short set from the config.
name_type!(ArmName, 32, "arm name");

impl ArmName {
    /// The name a route's shadow is labelled with (a valid name by construction).
    pub fn shadow() -> ArmName {
        ArmName("shadow".to_owned())
    }
}

/// What an arm serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArmTarget {
    /// Whatever version the alias points at, followed as it moves.
    Alias(AliasName),
    /// One pinned version.
    Version(VersionNumber),
}

/// One arm of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arm {
    pub name: ArmName,
    pub target: ArmTarget,
    /// Relative share of the route's traffic; 0 takes the arm out of rotation.
    pub weight: u32,
}

/// What keeps a caller on the same arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickyKey {
    /// The token's `sub` claim.
    Subject,
    /// A request header (name in lowercase).
    Header(String),
    /// No stickiness: each request by its id.
    RequestId,
}

/// A sampled copy of a route's requests, scored by another version off the critical path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow {
    pub target: ArmTarget,
    /// Requests copied, per 10,000 (the same buckets as the arms: sampling is by request id).
    pub per_10k: u32,
}

/// A route: a model and its arms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub name: RouteName,
    pub model: ModelName,
    pub sticky: StickyKey,
    pub arms: Vec<Arm>,
    pub shadow: Option<Shadow>,
}

/// Every route, by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteTable {
    pub routes: BTreeMap<RouteName, Route>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(default)]
    routes: BTreeMap<String, RawRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    model: String,
    #[serde(default = "default_sticky")]
    sticky: String,
    arms: Vec<RawArm>,
    #[serde(default)]
    shadow: Option<RawShadow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShadow {
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    version: Option<u32>,
    /// The share of requests copied, in (0, 1].
    sample: f64,
}

fn default_sticky() -> String {
    "sub".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArm {
    name: String,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    version: Option<u32>,
    weight: u32,
}

/// A header name: the token characters of RFC 9110, lowercase.
fn header_name(text: &str) -> Option<String> {
    let valid = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    valid.then(|| text.to_ascii_lowercase())
}

impl RouteTable {
    /// Parses and validates a table; every problem at once.
    pub fn parse(text: &str) -> Result<RouteTable, RouteError> {
        let raw: RawTable = toml::from_str(text).map_err(|e| RouteError {
            problems: vec![e.message().to_owned()],
        })?;
        let mut problems = Vec::new();
        let mut routes = BTreeMap::new();
        for (name, raw_route) in raw.routes {
            let at = format!("routes.{name}");
            let route_name = RouteName::parse(&name)
                .map_err(|e| problems.push(format!("{at}: {e}")))
                .ok();
            if let Some(route) = Route::validate(&at, route_name, raw_route, &mut problems) {
                routes.insert(route.name.clone(), route);
            }
        }
        if routes.is_empty() && problems.is_empty() {
            problems.push("routes: at least one route is needed".to_owned());
        }
        if problems.is_empty() {
            Ok(RouteTable { routes })
        } else {
            Err(RouteError { problems })
        }
    }

    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, r)| r)
    }
}

/// An arm's (or shadow's) target: exactly one of an alias or a version.
fn target(
    at: &str,
    alias: Option<String>,
    version: Option<u32>,
    problems: &mut Vec<String>,
) -> Option<ArmTarget> {
    match (alias, version) {
        (Some(alias), None) => AliasName::try_from(alias)
            .map(ArmTarget::Alias)
            .map_err(|e| problems.push(format!("{at}.alias: {e}")))
            .ok(),
        (None, Some(version)) => VersionNumber::try_from(version)
            .map(ArmTarget::Version)
            .map_err(|e| problems.push(format!("{at}.version: {e}")))
            .ok(),
        _ => {
            problems.push(format!("{at}: give exactly one of `alias` or `version`"));
            None
        }
    }
}

impl Route {
    fn validate(
        at: &str,
        name: Option<RouteName>,
        raw: RawRoute,
        problems: &mut Vec<String>,
    ) -> Option<Route> {
        let before = problems.len();
        let model = ModelName::try_from(raw.model)
            .map_err(|e| problems.push(format!("{at}.model: {e}")))
            .ok();
        let sticky = match raw.sticky.as_str() {
            "sub" => Some(StickyKey::Subject),
            "request_id" => Some(StickyKey::RequestId),
            other => match other.strip_prefix("header:").and_then(header_name) {
                Some(header) => Some(StickyKey::Header(header)),
                None => {
                    problems.push(format!(
                        "{at}.sticky: `{other}` is not `sub`, `request_id` or `header:<name>`"
                    ));
                    None
                }
            },
        };
        if raw.arms.is_empty() {
            problems.push(format!("{at}.arms: at least one arm is needed"));
        }
        let mut names = BTreeSet::new();
        let mut arms = Vec::with_capacity(raw.arms.len());
        for (index, raw_arm) in raw.arms.into_iter().enumerate() {
            let at = format!("{at}.arms[{index}]");
            let name = ArmName::parse(&raw_arm.name)
                .map_err(|e| problems.push(format!("{at}.name: {e}")))
                .ok();
            if let Some(name) = &name
                && !names.insert(name.clone())
            {
                problems.push(format!("{at}.name: `{name}` is used by another arm"));
            }
            let target = target(&at, raw_arm.alias, raw_arm.version, problems);
            if raw_arm.weight > MAX_WEIGHT {
                problems.push(format!("{at}.weight: at most {MAX_WEIGHT}"));
            }
            if let (Some(name), Some(target)) = (name, target) {
                arms.push(Arm {
                    name,
                    target,
                    weight: raw_arm.weight,
                });
            }
        }
        if !arms.is_empty() && arms.iter().all(|arm| arm.weight == 0) {
            problems.push(format!(
                "{at}.arms: at least one arm needs a positive weight"
            ));
        }
        let shadow = raw.shadow.and_then(|raw_shadow| {
            let at = format!("{at}.shadow");
            let target = target(&at, raw_shadow.alias, raw_shadow.version, problems);
            if !(raw_shadow.sample > 0.0 && raw_shadow.sample <= 1.0) {
                problems.push(format!("{at}.sample: must be within (0, 1]"));
                return None;
            }
            // Whole buckets; at least one, so a tiny positive share still samples.
            let per_10k = ((raw_shadow.sample * f64::from(crate::BUCKETS)).round() as u32).max(1);
            target.map(|target| Shadow { target, per_10k })
        });
        match (name, model, sticky) {
            (Some(name), Some(model), Some(sticky)) if problems.len() == before => Some(Route {
                name,
                model,
                sticky,
                arms,
                shadow,
            }),
            _ => None,
        }
    }
}
