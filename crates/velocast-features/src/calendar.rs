//! Calendar fields derived from a civil timestamp, with the conventions of `hour.csv`.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

/// First year of the data; `year_index` counts from it (the dataset's `yr`).
pub const BASE_YEAR: i32 = 2011;

/// Calendar fields of one hour, numbered exactly as `hour.csv` numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    /// 1 winter, 2 spring, 3 summer, 4 fall (the data's seasons run solstice/equinox to
    /// solstice/equinox; the Readme's names are off by one, its numbers are what matter).
    pub season: u8,
    /// Years since 2011 (`yr`).
    pub year_index: i32,
    /// 1..=12.
    pub month: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0 Sunday .. 6 Saturday.
    pub weekday: u8,
    /// 1..=366.
    pub day_of_year: u16,
    /// Neither weekend nor holiday.
    pub working_day: bool,
}

impl Calendar {
    pub fn new(timestamp: NaiveDateTime, holiday: bool) -> Self {
        let date = timestamp.date();
        let weekday = date.weekday().num_days_from_sunday() as u8;
        let weekend = weekday == 0 || weekday == 6;
        Calendar {
            season: season_of(date),
            year_index: date.year() - BASE_YEAR,
            month: date.month() as u8,
            hour: timestamp.hour() as u8,
            weekday,
            day_of_year: date.ordinal() as u16,
            working_day: !weekend && !holiday,
        }
    }
}

/// The dataset's season boundaries are fixed calendar days (checked against every row of
/// `hour.csv`): winter from Dec 21, spring from Mar 21, summer from Jun 21, fall from Sep 23.
fn season_of(date: NaiveDate) -> u8 {
    let month_day = (date.month(), date.day());
    if month_day < (3, 21) {
        1
    } else if month_day < (6, 21) {
        2
    } else if month_day < (9, 23) {
        3
    } else if month_day < (12, 21) {
        4
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str, hour: u32) -> NaiveDateTime {
        NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(hour, 0, 0)
            .unwrap()
    }

    #[test]
    fn season_boundaries_match_the_dataset() {
        assert_eq!(season_of(at("2011-03-20", 0).date()), 1);
        assert_eq!(season_of(at("2011-03-21", 0).date()), 2);
        assert_eq!(season_of(at("2011-06-21", 0).date()), 3);
        assert_eq!(season_of(at("2011-09-22", 0).date()), 3);
        assert_eq!(season_of(at("2011-09-23", 0).date()), 4);
        assert_eq!(season_of(at("2011-12-20", 0).date()), 4);
        assert_eq!(season_of(at("2011-12-21", 0).date()), 1);
    }

    #[test]
    fn holiday_on_a_weekday_is_not_a_working_day() {
        // 2012-07-04 was a Wednesday.
        let plain = Calendar::new(at("2012-07-04", 9), false);
        let holiday = Calendar::new(at("2012-07-04", 9), true);
        assert_eq!(plain.weekday, 3);
        assert!(plain.working_day);
        assert!(!holiday.working_day);
        assert_eq!(holiday.year_index, 1);
        assert_eq!(holiday.day_of_year, 186);
    }

    #[test]
    fn weekend_is_never_a_working_day() {
        let saturday = Calendar::new(at("2011-01-01", 0), false);
        assert_eq!(saturday.weekday, 6);
        assert!(!saturday.working_day);
    }
}
