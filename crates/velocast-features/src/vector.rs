//! The one function from a demand request to the model's feature vector, and its signature.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use validator::{Validate, ValidationErrors};

use crate::calendar::Calendar;
use crate::request::DemandRequest;

/// Version of the feature set. Bump it whenever a feature's meaning, order or unit changes: the
/// gateway refuses a model whose signature version it does not implement.
pub const FEATURE_SET_VERSION: u32 = 1;

/// Normalization constants of the UCI Readme (DESIGN decision 1): the dataset stores
/// temperature / 41, feels-like / 50, humidity / 100 and wind speed / 67.
pub const TEMPERATURE_SCALE_C: f64 = 41.0;
pub const FEELS_LIKE_SCALE_C: f64 = 50.0;
pub const HUMIDITY_SCALE_PCT: f64 = 100.0;
pub const WIND_SCALE_KMH: f64 = 67.0;

/// Working-day hours of the commuter peaks seen in the training data (07–09 and 17–19).
const RUSH_HOURS: [u8; 4] = [7, 8, 17, 18];

/// How a feature is to be read by people and by drift tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// Integer codes without order meaning (drift: chi-square / Jensen-Shannon).
    Categorical,
    /// 0 or 1.
    Binary,
    /// Real-valued (drift: K-S / Wasserstein).
    Numeric,
}

/// One column of the feature vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    pub name: String,
    pub kind: FeatureKind,
    /// Smallest and largest value a valid request can produce.
    pub min: f64,
    pub max: f64,
    pub description: String,
}

/// Number of features in version 1.
pub const FEATURE_COUNT: usize = 15;

/// Column positions, so code that reads a vector names what it reads.
pub mod index {
    pub const SEASON: usize = 0;
    pub const YEAR: usize = 1;
    pub const MONTH: usize = 2;
    pub const HOUR: usize = 3;
    pub const HOLIDAY: usize = 4;
    pub const WEEKDAY: usize = 5;
    pub const WORKING_DAY: usize = 6;
    pub const WEATHER: usize = 7;
    pub const TEMPERATURE: usize = 8;
    pub const FEELS_LIKE: usize = 9;
    pub const HUMIDITY: usize = 10;
    pub const WIND_SPEED: usize = 11;
    pub const HOUR_BY_WORKING_DAY: usize = 12;
    pub const RUSH_HOUR: usize = 13;
    pub const DAY_OF_YEAR: usize = 14;
}

/// Feature values in signature order, as `f32`: exactly what ONNX Runtime sees, so that tree
/// thresholds learnt on these values route every row the same way at serving time.
pub type FeatureVector = [f32; FEATURE_COUNT];

/// The ordered feature list, its version and a hash of both. Models carry it; services compare
/// the hash before serving a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub version: u32,
    pub features: Vec<FeatureSpec>,
    /// Hex sha256 over the version and every feature spec (see [`Signature::compute_hash`]).
    pub hash: String,
}

impl Signature {
    /// The signature this build of Velocast implements.
    pub fn current() -> Self {
        let features = feature_specs();
        let hash = Self::compute_hash(FEATURE_SET_VERSION, &features);
        Signature {
            version: FEATURE_SET_VERSION,
            features,
            hash,
        }
    }

    pub fn feature_names(&self) -> Vec<&str> {
        self.features.iter().map(|f| f.name.as_str()).collect()
    }

    /// Hash over a canonical text form (not JSON, whose float formatting is a serializer detail).
    pub fn compute_hash(version: u32, features: &[FeatureSpec]) -> String {
        let mut hasher = Sha256::new();
        hasher.update(format!("velocast-features v{version}\n"));
        for spec in features {
            hasher.update(format!(
                "{}\t{:?}\t{:e}\t{:e}\n",
                spec.name, spec.kind, spec.min, spec.max
            ));
        }
        hex::encode(hasher.finalize())
    }

    /// Whether a model trained with `other` can be served by this build.
    pub fn is_compatible_with(&self, other: &Signature) -> bool {
        self.version == other.version && self.hash == other.hash
    }

    /// `count` rows of values drawn within each feature's range (whole numbers for
    /// categorical and binary features), row-major, the same for the same `seed`: inputs for
    /// checking one engine against another beyond the rows anyone recorded.
    pub fn rows_in_range(&self, count: usize, seed: u64) -> Vec<f32> {
        // splitmix64: enough for test inputs, and the same on every platform.
        let mut state = seed;
        let mut unit = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut rows = Vec::with_capacity(count * self.features.len());
        for _ in 0..count {
            for spec in &self.features {
                let value = match spec.kind {
                    FeatureKind::Numeric => spec.min + unit() * (spec.max - spec.min),
                    FeatureKind::Categorical | FeatureKind::Binary => {
                        (spec.min + (unit() * (spec.max - spec.min + 1.0)).floor()).min(spec.max)
                    }
                };
                rows.push(value as f32);
            }
        }
        rows
    }
}

#[cfg(test)]
mod sampling_tests {
    use super::*;

    #[test]
    fn rows_in_range_stay_in_range_and_repeat_with_their_seed() {
        let signature = Signature::current();
        let rows = signature.rows_in_range(500, 7);
        assert_eq!(rows.len(), 500 * FEATURE_COUNT);
        assert_eq!(rows, signature.rows_in_range(500, 7));
        assert_ne!(rows, signature.rows_in_range(500, 8));
        for row in rows.chunks_exact(FEATURE_COUNT) {
            for (value, spec) in row.iter().zip(&signature.features) {
                let v = f64::from(*value);
                assert!(
                    v >= spec.min as f32 as f64 && v <= spec.max as f32 as f64,
                    "{}: {v}",
                    spec.name
                );
                if spec.kind != FeatureKind::Numeric {
                    assert_eq!(value.fract(), 0.0, "{}", spec.name);
                }
            }
        }
        // Every value of a categorical feature shows up.
        let hours: std::collections::BTreeSet<u32> = rows
            .chunks_exact(FEATURE_COUNT)
            .map(|r| r[index::HOUR] as u32)
            .collect();
        assert_eq!(hours.len(), 24);
    }
}

fn spec(name: &str, kind: FeatureKind, min: f64, max: f64, description: &str) -> FeatureSpec {
    FeatureSpec {
        name: name.to_owned(),
        kind,
        min,
        max,
        description: description.to_owned(),
    }
}

fn feature_specs() -> Vec<FeatureSpec> {
    use FeatureKind::{Binary, Categorical, Numeric};
    let max_year_index = f64::from(crate::request::MAX_YEAR - crate::calendar::BASE_YEAR);
    vec![
        spec(
            "season",
            Categorical,
            1.0,
            4.0,
            "1 winter, 2 spring, 3 summer, 4 fall",
        ),
        spec("yr", Numeric, 0.0, max_year_index, "years since 2011"),
        spec("mnth", Categorical, 1.0, 12.0, "month"),
        spec("hr", Categorical, 0.0, 23.0, "hour of day"),
        spec("holiday", Binary, 0.0, 1.0, "public holiday"),
        spec("weekday", Categorical, 0.0, 6.0, "0 Sunday .. 6 Saturday"),
        spec(
            "workingday",
            Binary,
            0.0,
            1.0,
            "neither weekend nor holiday",
        ),
        spec(
            "weathersit",
            Categorical,
            1.0,
            4.0,
            "1 clear .. 4 heavy rain/snow",
        ),
        spec(
            "temp",
            Numeric,
            -40.0 / 41.0,
            50.0 / 41.0,
            "temperature °C / 41",
        ),
        spec("atemp", Numeric, -1.0, 60.0 / 50.0, "feels-like °C / 50"),
        spec("hum", Numeric, 0.0, 1.0, "relative humidity % / 100"),
        spec(
            "windspeed",
            Numeric,
            0.0,
            150.0 / 67.0,
            "wind speed km/h / 67",
        ),
        spec(
            "hr_workingday",
            Categorical,
            0.0,
            47.0,
            "hr + 24 × workingday",
        ),
        spec(
            "rush_hour",
            Binary,
            0.0,
            1.0,
            "working day at 07, 08, 17 or 18 h",
        ),
        spec("day_of_year", Numeric, 1.0, 366.0, "1..366"),
    ]
}

/// Turns a request into the model's feature vector. Every service calls this and only this.
///
/// Fails with the `validator` errors (field name and rule) when the request breaks a rule.
pub fn features(request: &DemandRequest) -> Result<FeatureVector, ValidationErrors> {
    request.validate()?;
    Ok(features_of_valid(request))
}

/// The feature vector of a request already known to be valid (for bulk paths such as training,
/// where rows were validated once).
pub fn features_of_valid(request: &DemandRequest) -> FeatureVector {
    let calendar = Calendar::new(request.timestamp, request.holiday);
    let working_day = u8::from(calendar.working_day);
    let rush_hour = calendar.working_day && RUSH_HOURS.contains(&calendar.hour);
    let mut vector = [0.0_f32; FEATURE_COUNT];
    vector[index::SEASON] = f32::from(calendar.season);
    vector[index::YEAR] = calendar.year_index as f32;
    vector[index::MONTH] = f32::from(calendar.month);
    vector[index::HOUR] = f32::from(calendar.hour);
    vector[index::HOLIDAY] = f32::from(u8::from(request.holiday));
    vector[index::WEEKDAY] = f32::from(calendar.weekday);
    vector[index::WORKING_DAY] = f32::from(working_day);
    vector[index::WEATHER] = f32::from(request.weather);
    // Divide in f64, round once to f32: the same value the dataset's decimal gives.
    vector[index::TEMPERATURE] = (request.temperature_c / TEMPERATURE_SCALE_C) as f32;
    vector[index::FEELS_LIKE] = (request.feels_like_c / FEELS_LIKE_SCALE_C) as f32;
    vector[index::HUMIDITY] = (request.humidity_pct / HUMIDITY_SCALE_PCT) as f32;
    vector[index::WIND_SPEED] = (request.wind_speed_kmh / WIND_SCALE_KMH) as f32;
    vector[index::HOUR_BY_WORKING_DAY] = f32::from(calendar.hour + 24 * working_day);
    vector[index::RUSH_HOUR] = f32::from(u8::from(rush_hour));
    vector[index::DAY_OF_YEAR] = f32::from(calendar.day_of_year);
    vector
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn request() -> DemandRequest {
        DemandRequest {
            timestamp: NaiveDate::from_ymd_opt(2012, 9, 3)
                .unwrap()
                .and_hms_opt(8, 30, 0)
                .unwrap(),
            weather: 2,
            temperature_c: 24.6,
            feels_like_c: 28.0,
            humidity_pct: 65.0,
            wind_speed_kmh: 12.998,
            holiday: false,
        }
    }

    #[test]
    fn signature_lists_every_column_once_in_order() {
        let signature = Signature::current();
        assert_eq!(signature.features.len(), FEATURE_COUNT);
        assert_eq!(signature.feature_names()[index::HOUR], "hr");
        assert_eq!(signature.feature_names()[index::DAY_OF_YEAR], "day_of_year");
        let mut names = signature.feature_names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FEATURE_COUNT);
        assert_eq!(signature.hash.len(), 64);
    }

    #[test]
    fn signature_hash_changes_with_any_spec() {
        let signature = Signature::current();
        let mut features = signature.features.clone();
        features[index::HUMIDITY].max = 2.0;
        assert_ne!(Signature::compute_hash(1, &features), signature.hash);
        assert_ne!(
            Signature::compute_hash(2, &signature.features),
            signature.hash
        );
        assert!(signature.is_compatible_with(&Signature::current()));
    }

    #[test]
    fn working_day_morning_peak_features() {
        let vector = features(&request()).unwrap();
        assert_eq!(vector[index::SEASON], 3.0); // before Sep 23: summer
        assert_eq!(vector[index::YEAR], 1.0);
        assert_eq!(vector[index::HOUR], 8.0); // minutes are ignored
        assert_eq!(vector[index::WEEKDAY], 1.0); // Monday
        assert_eq!(vector[index::WORKING_DAY], 1.0);
        assert_eq!(vector[index::HOUR_BY_WORKING_DAY], 32.0);
        assert_eq!(vector[index::RUSH_HOUR], 1.0);
        assert_eq!(vector[index::TEMPERATURE], 0.6_f32);
        assert_eq!(vector[index::FEELS_LIKE], 0.56_f32);
        assert_eq!(vector[index::HUMIDITY], 0.65_f32);
        assert_eq!(vector[index::WIND_SPEED], 0.194_f32);
        assert_eq!(vector[index::DAY_OF_YEAR], 247.0);
    }

    #[test]
    fn holiday_removes_the_rush_hour() {
        let vector = features(&DemandRequest {
            holiday: true,
            ..request()
        })
        .unwrap();
        assert_eq!(vector[index::WORKING_DAY], 0.0);
        assert_eq!(vector[index::RUSH_HOUR], 0.0);
        assert_eq!(vector[index::HOUR_BY_WORKING_DAY], 8.0);
    }

    fn failed_rules(request: &DemandRequest) -> Vec<(String, String)> {
        let errors = features(request).unwrap_err();
        let mut rules: Vec<(String, String)> = errors
            .field_errors()
            .iter()
            .flat_map(|(field, errs)| errs.iter().map(|e| (field.to_string(), e.code.to_string())))
            .collect();
        rules.sort();
        rules
    }

    #[test]
    fn out_of_range_values_name_field_and_rule() {
        let bad = DemandRequest {
            weather: 5,
            humidity_pct: 101.0,
            ..request()
        };
        assert_eq!(
            failed_rules(&bad),
            vec![
                ("humidity_pct".to_owned(), "range".to_owned()),
                ("weather".to_owned(), "range".to_owned())
            ]
        );
    }

    #[test]
    fn nan_is_rejected_even_though_range_would_pass_it() {
        let bad = DemandRequest {
            temperature_c: f64::NAN,
            ..request()
        };
        assert_eq!(
            failed_rules(&bad),
            vec![("temperature_c".to_owned(), "finite".to_owned())]
        );
    }

    #[test]
    fn year_outside_the_served_range_is_rejected() {
        let bad = DemandRequest {
            timestamp: NaiveDate::from_ymd_opt(1999, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            ..request()
        };
        assert_eq!(
            failed_rules(&bad),
            vec![("timestamp".to_owned(), "year_range".to_owned())]
        );
    }

    #[test]
    fn unknown_json_fields_are_refused() {
        let json = r#"{"timestamp":"2012-09-03T08:00:00","weather":1,"temperature_c":20,
            "feels_like_c":20,"humidity_pct":50,"wind_speed_kmh":10,"holiday":false,"casual":3}"#;
        let error = serde_json::from_str::<DemandRequest>(json).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `casual`"),
            "{error}"
        );
    }

    proptest::proptest! {
        #[test]
        fn every_valid_request_gives_features_within_the_signature_ranges(
            days in 0_i64..(90 * 365), hour in 0_u32..24, weather in 1_u8..=4,
            temperature_c in -40.0_f64..=50.0, feels_like_c in -50.0_f64..=60.0,
            humidity_pct in 0.0_f64..=100.0, wind_speed_kmh in 0.0_f64..=150.0, holiday: bool,
        ) {
            let timestamp = NaiveDate::from_ymd_opt(2011, 1, 1).unwrap().and_hms_opt(hour, 0, 0).unwrap()
                + chrono::Duration::days(days);
            let vector = features(&DemandRequest {
                timestamp, weather, temperature_c, feels_like_c, humidity_pct, wind_speed_kmh, holiday,
            }).unwrap();
            for (value, spec) in vector.iter().zip(Signature::current().features) {
                let value = f64::from(*value);
                // f32 rounding may step a hair past an f64 bound.
                proptest::prop_assert!(value >= spec.min - 1e-6 && value <= spec.max + 1e-6,
                    "{} = {} outside {}..={}", spec.name, value, spec.min, spec.max);
            }
        }
    }
}
