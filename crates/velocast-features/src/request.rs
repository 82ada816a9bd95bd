//! The demand request: what a client says about one hour, in physical units.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

/// Earliest and latest calendar years a request may name. The model was trained on 2011–2012;
/// later years are served (the year index saturates in the trees) but far-off ones are typos.
pub const MIN_YEAR: i32 = 2011;
pub const MAX_YEAR: i32 = 2100;

/// One hour of demand to predict.
///
/// `timestamp` is the civil (wall-clock) time at the station, as `hour.csv` records it: the hour
/// it falls in is the hour predicted (minutes and seconds are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DemandRequest {
    /// Local civil time, ISO 8601 without offset, e.g. `2012-09-01T17:00:00`, in 2011..=2100.
    /// (The documented pattern leaves out 29 February, which leap years accept.)
    #[validate(custom(function = "validate_year"))]
    #[serde(deserialize_with = "crate::json::civil_time")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "2012-10-01T08:00:00",
        pattern = r"^(201[1-9]|20[2-9][0-9]|2100)-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?$"))]
    pub timestamp: NaiveDateTime,
    /// Weather situation as the UCI data codes it: 1 clear, 2 mist, 3 light rain/snow,
    /// 4 heavy rain/snow.
    #[validate(range(min = 1, max = 4))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 4))]
    #[serde(deserialize_with = "crate::json::integral")]
    pub weather: u8,
    /// Air temperature in °C.
    #[validate(custom(function = "finite"), range(min = -40.0, max = 50.0))]
    #[cfg_attr(feature = "openapi", schema(minimum = -40, maximum = 50))]
    pub temperature_c: f64,
    /// Feels-like temperature in °C.
    #[validate(custom(function = "finite"), range(min = -50.0, max = 60.0))]
    #[cfg_attr(feature = "openapi", schema(minimum = -50, maximum = 60))]
    pub feels_like_c: f64,
    /// Relative humidity in percent.
    #[validate(custom(function = "finite"), range(min = 0.0, max = 100.0))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub humidity_pct: f64,
    /// Wind speed in km/h.
    #[validate(custom(function = "finite"), range(min = 0.0, max = 150.0))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 150))]
    pub wind_speed_kmh: f64,
    /// Whether the day is a public holiday (DC holiday schedule).
    pub holiday: bool,
}

fn validate_year(timestamp: &NaiveDateTime) -> Result<(), ValidationError> {
    use chrono::Datelike;
    let year = timestamp.year();
    if (MIN_YEAR..=MAX_YEAR).contains(&year) {
        Ok(())
    } else {
        let mut error = ValidationError::new("year_range");
        error.message = Some(format!("year must be within {MIN_YEAR}..={MAX_YEAR}").into());
        Err(error)
    }
}

// `range` alone lets NaN through (every comparison with NaN is false), so finiteness is its own
// rule. JSON cannot carry NaN, but Rust callers can.
fn finite(value: f64) -> Result<(), ValidationError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(ValidationError::new("finite"))
    }
}
