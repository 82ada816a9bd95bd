//! Tests on the real `hour.csv` (fetched by `make setup` into `.velocast/data/`, or named by

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `VELOCAST_DATA_DIR`).

use std::path::PathBuf;

use velocast_dataset::{FeatureColumns, Severity, TrainingTable, assess, load};
use velocast_features::{Signature, features, index};

fn hour_csv() -> PathBuf {
    let dir = std::env::var_os("VELOCAST_DATA_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.velocast/data"),
        PathBuf::from,
    );
    let path = dir.join("hour.csv");
    assert!(
        path.exists(),
        "{} is missing: run `make setup` first",
        path.display()
    );
    path
}

#[test]
fn every_row_round_trips_through_physical_units_to_the_dataset_features() {
    let dataset = load(&hour_csv()).unwrap();
    assert_eq!(dataset.records.len(), 17_379);
    assert_eq!(
        dataset.fingerprint.sha256,
        "e03de4ee4ef4dc376ac6e04bf829673c6269e8eba5c60fa121640fa2f829504f"
    );
    let mut checked = 0;
    for record in &dataset.records {
        // Physical units, as a client would send them, through the one feature function.
        let request = record.to_request().unwrap();
        let vector = features(&request).unwrap_or_else(|e| panic!("{record:?}: {e}"));
        let expect = |i: usize, stored: Option<i64>| {
            assert_eq!(
                f64::from(vector[i]),
                stored.unwrap() as f64,
                "{} at {}",
                Signature::current().features[i].name,
                record.timestamp()
            );
        };
        expect(index::SEASON, record.season);
        expect(index::YEAR, record.yr);
        expect(index::MONTH, record.mnth);
        expect(index::HOUR, Some(i64::from(record.hour)));
        expect(index::HOLIDAY, record.holiday);
        expect(index::WEEKDAY, record.weekday);
        expect(index::WORKING_DAY, record.workingday);
        expect(index::WEATHER, record.weathersit);
        // The normalized weather values come back as the same f32 the dataset's decimal gives.
        assert_eq!(vector[index::TEMPERATURE], record.temp.unwrap() as f32);
        assert_eq!(vector[index::FEELS_LIKE], record.atemp.unwrap() as f32);
        assert_eq!(vector[index::HUMIDITY], record.hum.unwrap() as f32);
        assert_eq!(vector[index::WIND_SPEED], record.windspeed.unwrap() as f32);
        checked += 1;
    }
    assert_eq!(checked, 17_379);
}

#[test]
fn the_real_data_passes_with_only_soft_findings() {
    let dataset = load(&hour_csv()).unwrap();
    let report = assess(&dataset, &FeatureColumns::of_records(&dataset.records));
    assert!(report.passed, "{:#?}", report.violations);
    assert_eq!(report.rows, 17_379);
    // 731 days × 24 h = 17,544 hours; 165 are missing from the file.
    assert_eq!(report.sequence.missing_hours, 165);
    assert_eq!(report.sequence.duplicate_timestamps, 0);
    assert_eq!(report.target.min, Some(1));
    assert_eq!(report.target.max, Some(977));
    assert_eq!(report.target.parts_mismatch, 0);
    assert!(report.leakage.reconstructing.is_empty());
    assert!(
        report
            .violations
            .iter()
            .all(|v| v.severity == Severity::Soft)
    );
    assert!(report.violations.iter().any(|v| v.check == "hourly_gaps"));
}

#[test]
fn leakage_guard_refuses_casual_and_registered() {
    let dataset = load(&hour_csv()).unwrap();
    let mut candidate = FeatureColumns::of_records(&dataset.records);
    let casual: fn(&velocast_dataset::HourRecord) -> Option<i64> = |r| r.casual;
    let registered: fn(&velocast_dataset::HourRecord) -> Option<i64> = |r| r.registered;
    for (name, column) in [("casual", casual), ("registered", registered)] {
        candidate.names.push(name.to_owned());
        candidate.columns.push(
            dataset
                .records
                .iter()
                .map(|r| column(r).unwrap() as f64)
                .collect(),
        );
    }
    let report = assess(&dataset, &candidate);
    assert!(!report.passed);
    assert_eq!(
        report.leakage.forbidden_columns,
        vec!["casual", "registered"]
    );
    assert_eq!(report.leakage.reconstructing, vec!["casual+registered"]);
}

#[test]
fn a_renamed_copy_of_the_target_is_caught_by_its_values() {
    let dataset = load(&hour_csv()).unwrap();
    let mut candidate = FeatureColumns::of_records(&dataset.records);
    candidate.names.push("rentals_lagged_0h".to_owned());
    candidate.columns.push(
        dataset
            .records
            .iter()
            .map(|r| r.cnt.unwrap() as f64)
            .collect(),
    );
    let report = assess(&dataset, &candidate);
    assert!(!report.passed);
    assert!(report.leakage.forbidden_columns.is_empty());
    assert_eq!(report.leakage.reconstructing, vec!["rentals_lagged_0h"]);
}

#[test]
fn a_rescaled_target_is_caught_by_its_rank_correlation() {
    // `atemp := cnt / 1000`: no value matches the target, so only a scale-free test sees it
    // (it used to pass and train to R² 0.997).
    let mut dataset = load(&hour_csv()).unwrap();
    for record in &mut dataset.records {
        record.atemp = record.cnt.map(|c| c as f64 / 1000.0);
    }
    let report = assess(&dataset, &FeatureColumns::of_records(&dataset.records));
    assert!(!report.passed);
    assert!(report.leakage.reconstructing.is_empty());
    let leaks: Vec<&str> = report
        .leakage
        .rank_leaks
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(leaks, vec!["atemp"]);
    let (_, rho) = &report.leakage.rank_leaks[0];
    assert!(*rho > 0.999, "{rho}");
    let message = report
        .violations
        .iter()
        .find(|v| v.check == "leakage")
        .map(|v| v.message.clone())
        .unwrap();
    assert!(
        message.contains("atemp") && message.contains("rank correlation"),
        "{message}"
    );
}

#[test]
fn honest_features_stay_well_below_the_rank_correlation_limit() {
    let dataset = load(&hour_csv()).unwrap();
    let report = assess(&dataset, &FeatureColumns::of_records(&dataset.records));
    assert!(report.leakage.rank_leaks.is_empty());
    let strongest = report
        .leakage
        .rank_correlation
        .iter()
        .map(|rho| rho.abs())
        .fold(0.0, f64::max);
    assert!(
        strongest < 0.8,
        "strongest honest rank correlation {strongest}"
    );
}

#[test]
fn training_table_is_time_ordered_and_splits_at_the_holdout_date() {
    let dataset = load(&hour_csv()).unwrap();
    let table = TrainingTable::from_records(&dataset.records);
    assert_eq!(table.len(), 17_379);
    assert!(table.timestamps.windows(2).all(|w| w[0] < w[1]));
    let cutoff = chrono::NaiveDate::from_ymd_opt(2012, 9, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let (train, holdout) = table.split_at_time(cutoff);
    assert_eq!((train.len(), holdout.len()), (14_491, 2_888));
}
