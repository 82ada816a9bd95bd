//! Version search filters, parsed from query strings such as `tag=stage:prod` or
//! `metric=holdout_mae<40`, and matched against a version's metadata document.
//!
//! A version's metadata carries `tags` (string → string) and `metrics` (string → number); a
//! filter holds when every condition holds (conditions are ANDed).

use std::fmt;
use std::str::FromStr;

use crate::ParseError;

/// `key:value`: the version's tag `key` equals `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    pub key: String,
    pub value: String,
}

impl FromStr for TagFilter {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Self, ParseError> {
        // Exactly the registry's documented pattern `[^:,\s][^:,]{0,127}:[^,]{0,256}`: the key
        // (1–128 characters, not starting with a space) ends at the first `:`; commas separate
        // conditions, so neither part holds one.
        let valid = |key: &str, value: &str| {
            !text.contains('\0')
                && key.chars().next().is_some_and(|c| !is_pattern_space(c))
                && key.chars().count() <= 128
                && value.chars().count() <= 256
                && !value.contains(',')
                && !key.contains(',')
        };
        match text.split_once(':') {
            Some((key, value)) if valid(key, value) => Ok(TagFilter {
                key: key.to_owned(),
                value: value.to_owned(),
            }),
            _ => Err(ParseError::new(
                "tag filter",
                text,
                "`key:value` with a key of 1 to 128 characters not starting with a space, a value of at most 256, no commas",
            )),
        }
    }
}

/// `\s` as the documented pattern means it: JSON Schema patterns are ECMAScript regular
/// expressions, whose `\s` is the Unicode space separators, the line terminators, tab, vertical
/// tab, form feed and U+FEFF. It differs from Rust's `char::is_whitespace` in two characters:
/// U+0085 (next line) is not in it, U+FEFF is. A client that builds values from the published
/// schema must not be refused for the difference (schemathesis found it with a key starting
/// with U+0085).
fn is_pattern_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// A comparison in a metric filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
}

impl Comparison {
    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Comparison::Less => left < right,
            Comparison::LessOrEqual => left <= right,
            Comparison::Greater => left > right,
            Comparison::GreaterOrEqual => left >= right,
            Comparison::Equal => left == right,
        }
    }

    /// The operator as written in a filter (and in SQL).
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Equal => "=",
        }
    }
}

/// `name<op>value` with op one of `<`, `<=`, `>`, `>=`, `=`, and a finite value.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFilter {
    pub name: String,
    pub comparison: Comparison,
    pub value: f64,
}

impl FromStr for MetricFilter {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Self, ParseError> {
        const RULE: &str = "`name<op>number` with op one of <, <=, >, >=, = and a finite number";
        let bad = || ParseError::new("metric filter", text, RULE);
        let at = text.find(['<', '>', '=']).ok_or_else(bad)?;
        let (name, rest) = text.split_at(at);
        let (comparison, number) = if let Some(n) = rest.strip_prefix("<=") {
            (Comparison::LessOrEqual, n)
        } else if let Some(n) = rest.strip_prefix(">=") {
            (Comparison::GreaterOrEqual, n)
        } else if let Some(n) = rest.strip_prefix('<') {
            (Comparison::Less, n)
        } else if let Some(n) = rest.strip_prefix('>') {
            (Comparison::Greater, n)
        } else if let Some(n) = rest.strip_prefix('=') {
            (Comparison::Equal, n)
        } else {
            return Err(bad());
        };
        // Names of letters, digits and `_.:-`; numbers as `-?digits[.digits]`, nothing looser
        // (no exponent, no sign but `-`, no spaces), as the documented pattern says.
        let name_ok = (1..=128).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
        let digits =
            |part: &str| (1..=15).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit());
        let unsigned = number.strip_prefix('-').unwrap_or(number);
        let number_ok = match unsigned.split_once('.') {
            Some((whole, fraction)) => digits(whole) && digits(fraction),
            None => digits(unsigned),
        };
        if !name_ok || !number_ok {
            return Err(bad());
        }
        let value: f64 = number.parse().map_err(|_| bad())?;
        Ok(MetricFilter {
            name: name.to_owned(),
            comparison,
            value,
        })
    }
}

impl fmt::Display for MetricFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.comparison.symbol(), self.value)
    }
}

/// Every condition a search asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VersionFilter {
    pub tags: Vec<TagFilter>,
    pub metrics: Vec<MetricFilter>,
}

impl VersionFilter {
    /// Whether a version with this metadata document passes. A missing tag or metric fails
    /// its condition.
    pub fn matches(&self, metadata: &serde_json::Value) -> bool {
        let tags_hold = self.tags.iter().all(|t| {
            metadata
                .get("tags")
                .and_then(|tags| tags.get(&t.key))
                .and_then(serde_json::Value::as_str)
                == Some(t.value.as_str())
        });
        let metrics_hold = self.metrics.iter().all(|m| {
            metadata
                .get("metrics")
                .and_then(|metrics| metrics.get(&m.name))
                .and_then(serde_json::Value::as_f64)
                .is_some_and(|value| m.comparison.holds(value, m.value))
        });
        tags_hold && metrics_hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn metric_filters_parse_every_operator() {
        let f: MetricFilter = "holdout_mae<=40.5".parse().unwrap();
        assert_eq!(
            (f.name.as_str(), f.comparison, f.value),
            ("holdout_mae", Comparison::LessOrEqual, 40.5)
        );
        assert_eq!(
            "r2>0.9".parse::<MetricFilter>().unwrap().comparison,
            Comparison::Greater
        );
        assert_eq!(
            "r2>=0.9".parse::<MetricFilter>().unwrap().comparison,
            Comparison::GreaterOrEqual
        );
        assert_eq!(
            "n=3".parse::<MetricFilter>().unwrap().comparison,
            Comparison::Equal
        );
        for bad in [
            "mae",
            "<3",
            "mae<",
            "mae<abc",
            "mae<NaN",
            "mae<inf",
            "mae=<3",
            "mae < 3",
            "mae<1e5",
            "mae<+3",
            "mae<.5",
            "mae<5.",
            "a b<1",
            "mae<1234567890123456",
        ] {
            let error = bad.parse::<MetricFilter>().unwrap_err();
            assert_eq!(error.what, "metric filter", "{bad}");
        }
    }

    #[test]
    fn tag_filters_need_a_key() {
        let t: TagFilter = "stage:prod".parse().unwrap();
        assert_eq!((t.key.as_str(), t.value.as_str()), ("stage", "prod"));
        assert_eq!("k:".parse::<TagFilter>().unwrap().value, "");
        assert_eq!("k:a:b".parse::<TagFilter>().unwrap().value, "a:b");
        // The pattern's `\s` is ECMAScript's: U+0085 may start a key, U+FEFF and U+3000 not.
        assert_eq!("\u{85}g:v".parse::<TagFilter>().unwrap().key, "\u{85}g");
        assert!("\u{FEFF}k:v".parse::<TagFilter>().is_err());
        assert!("\u{3000}k:v".parse::<TagFilter>().is_err());
        for bad in [
            ":v",
            "novalue",
            " k:v",
            "k,x:v",
            "k:v,w",
            &format!("{}:v", "k".repeat(129)),
        ] {
            assert!(bad.parse::<TagFilter>().is_err(), "{bad}");
        }
        // Lengths are characters, as the documented pattern counts them.
        assert!(
            format!("{}:v", "é".repeat(128))
                .parse::<TagFilter>()
                .is_ok()
        );
    }

    #[test]
    fn filters_and_their_conditions() {
        let metadata = json!({"tags": {"stage": "prod"}, "metrics": {"mae": 38.9, "r2": 0.92}});
        let filter = |tags: &[&str], metrics: &[&str]| VersionFilter {
            tags: tags.iter().map(|t| t.parse().unwrap()).collect(),
            metrics: metrics.iter().map(|m| m.parse().unwrap()).collect(),
        };
        assert!(filter(&[], &[]).matches(&metadata));
        assert!(filter(&["stage:prod"], &["mae<40", "r2>0.9"]).matches(&metadata));
        assert!(!filter(&["stage:dev"], &[]).matches(&metadata));
        assert!(!filter(&["stage:prod"], &["mae<38"]).matches(&metadata));
        assert!(
            !filter(&[], &["rmse<100"]).matches(&metadata),
            "missing metric"
        );
        assert!(!filter(&["owner:x"], &[]).matches(&metadata), "missing tag");
    }

    proptest! {
        #[test]
        fn a_metric_filter_prints_back_to_itself(value in -1e6f64..1e6, op in 0usize..5) {
            let value = (value * 1000.0).round() / 1000.0;
            let symbol = ["<", "<=", ">", ">=", "="][op];
            let text = format!("mae{symbol}{value}");
            let parsed: MetricFilter = text.parse().unwrap();
            prop_assert_eq!(parsed.to_string(), text);
        }
    }
}
