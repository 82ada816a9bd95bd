//! One row of the hourly data and its conversion to a demand request in physical units.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use velocast_features::{
    DemandRequest, FEELS_LIKE_SCALE_C, HUMIDITY_SCALE_PCT, TEMPERATURE_SCALE_C, WIND_SCALE_KMH,
};

/// A row of `hour.csv` as stored. Every column but the date and hour may be missing (an empty
/// cell); the quality report counts what is missing and decides whether training may go on.
#[derive(Debug, Clone, PartialEq)]
pub struct HourRecord {
    pub instant: Option<i64>,
    pub date: NaiveDate,
    pub hour: u8,
    pub season: Option<i64>,
    pub yr: Option<i64>,
    pub mnth: Option<i64>,
    pub holiday: Option<i64>,
    pub weekday: Option<i64>,
    pub workingday: Option<i64>,
    pub weathersit: Option<i64>,
    /// Normalized as in the dataset: °C / 41.
    pub temp: Option<f64>,
    /// °C / 50.
    pub atemp: Option<f64>,
    /// % / 100.
    pub hum: Option<f64>,
    /// km/h / 67.
    pub windspeed: Option<f64>,
    pub casual: Option<i64>,
    pub registered: Option<i64>,
    pub cnt: Option<i64>,
}

impl HourRecord {
    pub fn timestamp(&self) -> NaiveDateTime {
        let time = NaiveTime::from_hms_opt(u32::from(self.hour), 0, 0).unwrap_or(NaiveTime::MIN);
        self.date.and_time(time)
    }

    /// The request a client would have sent for this hour, in physical units, or `None` when a
    /// column the request needs is missing or a code does not fit.
    pub fn to_request(&self) -> Option<DemandRequest> {
        Some(DemandRequest {
            timestamp: self.timestamp(),
            weather: u8::try_from(self.weathersit?).ok()?,
            temperature_c: self.temp? * TEMPERATURE_SCALE_C,
            feels_like_c: self.atemp? * FEELS_LIKE_SCALE_C,
            humidity_pct: self.hum? * HUMIDITY_SCALE_PCT,
            wind_speed_kmh: self.windspeed? * WIND_SCALE_KMH,
            holiday: self.holiday? == 1,
        })
    }
}
