//! JSON forms the wire accepts beyond serde's defaults, so that what an OpenAPI document
//! promises is what the server takes.

use chrono::NaiveDateTime;
use serde::Deserialize;

/// An integer as JSON Schema defines one: `3` and `3.0` alike (a number with no fraction), in
/// the target type's range. serde alone refuses `3.0` for an integer field, which a client
/// generated from the schema may well send.
pub fn integral<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    use serde::de::Error as _;
    let number = serde_json::Number::deserialize(deserializer)?;
    let out_of_range = || D::Error::custom(format!("{number} is out of range"));
    if let Some(value) = number.as_u64() {
        return T::try_from(value).map_err(|_| out_of_range());
    }
    if let Some(value) = number.as_i64() {
        return T::try_from(value).map_err(|_| out_of_range());
    }
    match number.as_f64() {
        // Within ±2^53 every integral f64 is exact, so the cast below loses nothing.
        Some(value) if value.fract() == 0.0 && value.abs() <= 9_007_199_254_740_992.0 => {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "integral and within ±2^53, checked above"
            )]
            let whole = value as i64;
            T::try_from(whole).map_err(|_| out_of_range())
        }
        _ => Err(D::Error::custom(format!("{number} is not an integer"))),
    }
}

/// Civil time without an offset: `2012-10-01T08:00`, with or without seconds and fractions.
pub fn civil_time<'de, D>(deserializer: D) -> Result<NaiveDateTime, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
    // chrono's own ISO reader first (no format string to interpret on every request), then the
    // form without seconds.
    text.parse::<NaiveDateTime>()
        .ok()
        .filter(|_| text.len() >= "YYYY-MM-DDTHH:MM:SS".len())
        .or_else(|| NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M").ok())
        .ok_or_else(|| {
            D::Error::custom(format!(
                "`{text}` is not a civil time like 2012-10-01T08:00 or 2012-10-01T08:00:00"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "integral")]
        code: u8,
        #[serde(deserialize_with = "civil_time")]
        at: NaiveDateTime,
    }

    #[test]
    fn integers_and_times_as_clients_write_them() {
        for (json, ok) in [
            (r#"{"code": 3, "at": "2012-10-01T08:00"}"#, true),
            (r#"{"code": 3.0, "at": "2012-10-01T08:00:00"}"#, true),
            (r#"{"code": 3, "at": "2012-10-01T08:00:00.250"}"#, true),
            (r#"{"code": 3.5, "at": "2012-10-01T08:00"}"#, false),
            (r#"{"code": 300, "at": "2012-10-01T08:00"}"#, false),
            (r#"{"code": 3, "at": "2012-10-01"}"#, false),
            (r#"{"code": 3, "at": "2012-10-01T08:00+02:00"}"#, false),
            (r#"{"code": 3, "at": "2012-02-30T08:00"}"#, false),
        ] {
            assert_eq!(serde_json::from_str::<Probe>(json).is_ok(), ok, "{json}");
        }
        let probe: Probe =
            serde_json::from_str(r#"{"code": 4.0, "at": "2012-10-01T08:30"}"#).unwrap();
        assert_eq!(probe.code, 4);
        assert_eq!(
            probe.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            "2012-10-01 08:30:00"
        );
    }
}
