//! Every number against Evidently 0.7.23 on hour.csv: 2011 (and, as a small reference,
//! January 2011) against each month of 2012, eleven columns, the default pick and every test
//! this crate can force, from Evidently's own stat-test functions; the dataset verdicts from
//! `Report.run` with `DataDriftPreset`, whose per-column methods and values the generator
//! checked equal to the default picks (tests/golden/generate.py wrote the JSON; Evidently is
//! not needed to run this). Distances agree to 1e-9 relative, p-values in ln p (or through
//! their statistic below 1e-6), names, thresholds and verdicts exactly.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use serde::Deserialize;
use velocast_drift::{
    Column, ColumnKind, DriftError, StatTest, column_drift, dataset_drift, infer_kind,
};

fn statistic_of(test: StatTest, reference: &[f64], current: &[f64]) -> (f64, f64) {
    match test {
        StatTest::ChiSquare => velocast_drift::tests::chi_square(reference, current).unwrap(),
        StatTest::Z => velocast_drift::tests::z_test(reference, current).unwrap(),
        other => panic!("{other:?} has no p-value"),
    }
}

#[derive(Deserialize)]
struct Golden {
    cases: Vec<Case>,
    /// `Report.run` with `DataDriftPreset` on the 2011 reference, per month of 2012 (the
    /// generator also checked that every column's method and value there equal `cases`).
    reports: Vec<Report>,
}

#[derive(Deserialize)]
struct Report {
    month: u32,
    number_of_drifted_columns: usize,
    share_of_drifted_columns: f64,
    drift_share: f64,
}

#[derive(Deserialize)]
struct Case {
    month: u32,
    column: String,
    kind: String,
    /// `2011` (8,645 rows), or `2011-01` (688 rows: chi-square and Z by default).
    reference: String,
    integer: bool,
    tests: BTreeMap<String, Expected>,
}

#[derive(Deserialize)]
struct Expected {
    stattest_name: String,
    drift_score: f64,
    stattest_threshold: f64,
    drift_detected: bool,
    /// For p-value tests: the statistic, compared where the p-value underflows (`"inf"` when
    /// infinite, which JSON cannot write as a number).
    statistic: Option<serde_json::Value>,
}

/// hour.csv as columns (every value of the file is a number but `dteday`).
fn hour_csv() -> BTreeMap<String, Vec<f64>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.velocast/data/hour.csv");
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run `make setup` to fetch hour.csv)"));
    let mut lines = text.lines();
    let names: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let mut columns: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        for (name, field) in names.iter().zip(line.split(',')) {
            if name != "dteday" {
                columns
                    .entry(name.clone())
                    .or_default()
                    .push(field.parse().unwrap());
            }
        }
    }
    columns
}

fn test_named(name: &str) -> StatTest {
    match name {
        "wasserstein" => StatTest::Wasserstein,
        "jensenshannon" => StatTest::JensenShannon,
        "psi" => StatTest::Psi,
        "kl_div" => StatTest::KlDiv,
        "hellinger" => StatTest::Hellinger,
        "ed" => StatTest::EnergyDistance,
        "chisquare" => StatTest::ChiSquare,
        "z" => StatTest::Z,
        other => panic!("no test {other}"),
    }
}

fn relative(got: f64, expected: f64) -> f64 {
    if got == expected {
        0.0
    } else {
        (got - expected).abs() / expected.abs().max(f64::MIN_POSITIVE)
    }
}

/// Below this a p-value is compared through its statistic: Evidently's Z p-value is
/// `2 · (1 − Φ(|z|))`, which keeps only ~16 − |log10 p| digits, and chi-square's underflows
/// to 0 for large statistics.
const SMALLEST_COMPARED_P: f64 = 1e-6;

#[test]
fn every_score_and_verdict_matches_evidently_on_2011_against_each_month_of_2012() {
    let golden: Golden =
        serde_json::from_str(include_str!("golden/evidently_0_7_23.json")).unwrap();
    let data = hour_csv();
    let year = &data["yr"];
    let month = &data["mnth"];
    let mut checked = 0;
    let mut worst: f64 = 0.0;
    let mut per_month: BTreeMap<u32, Vec<velocast_drift::ColumnDrift>> = BTreeMap::new();
    for case in &golden.cases {
        let values = &data[&case.column];
        let in_reference =
            |i: usize| year[i] == 0.0 && (case.reference == "2011" || month[i] == 1.0);
        let reference: Vec<f64> = (0..values.len())
            .filter(|&i| in_reference(i))
            .map(|i| values[i])
            .collect();
        let current: Vec<f64> = (0..values.len())
            .filter(|&i| year[i] == 1.0 && month[i] == f64::from(case.month))
            .map(|i| values[i])
            .collect();
        let kind = if case.kind == "numerical" {
            ColumnKind::Numerical
        } else {
            ColumnKind::Categorical
        };
        // The kind is the one Evidently's `Report.run` inferred on the current window.
        assert_eq!(
            infer_kind(&current, case.integer),
            kind,
            "month {} {}",
            case.month,
            case.column
        );
        let column = |values| Column {
            values,
            kind,
            integer: case.integer,
        };
        for (name, expected) in &case.tests {
            let forced = (name != "default").then(|| test_named(name));
            let got = column_drift(column(&reference), column(&current), forced, None).unwrap();
            let label = format!("month {} {} {name}", case.month, case.column);
            assert_eq!(got.stattest_name, expected.stattest_name, "{label}");
            assert_eq!(
                got.stattest_threshold, expected.stattest_threshold,
                "{label}"
            );
            assert_eq!(got.drift_detected, expected.drift_detected, "{label}");
            let statistic = expected.statistic.as_ref().map(|value| match value {
                serde_json::Value::String(text) if text == "inf" => f64::INFINITY,
                serde_json::Value::String(text) if text == "-inf" => f64::NEG_INFINITY,
                other => other.as_f64().unwrap(),
            });
            let difference = match statistic {
                // p-values: ln p, or the statistic where p is too small to carry its digits.
                Some(statistic) if expected.drift_score < SMALLEST_COMPARED_P => {
                    let test = test_named(&expected.stattest_name);
                    let (got_statistic, _) = statistic_of(test, &reference, &current);
                    relative(got_statistic.abs(), statistic.abs())
                }
                Some(_) => (got.drift_score.ln() - expected.drift_score.ln()).abs(),
                None => relative(got.drift_score, expected.drift_score),
            };
            assert!(
                difference <= 1e-9,
                "{label}: {} vs Evidently {} (difference {difference:e})",
                got.drift_score,
                expected.drift_score
            );
            worst = worst.max(difference);
            checked += 1;
            if name == "default" && case.reference == "2011" {
                per_month.entry(case.month).or_default().push(got);
            }
        }
    }
    // 2011: 6 numerical columns × (default + 6 forced), 5 categorical × (default + 5 forced), 2
    // binary × Z; 2011-01: the 60 column-months whose default is chi-square or Z.
    assert_eq!(checked, 12 * (6 * 7 + 5 * 6 + 2) + 60);
    assert!(worst <= 1e-9);
    // The dataset verdict, as `Report.run` with `DataDriftPreset` gave it for each month.
    assert_eq!(golden.reports.len(), 12);
    for report in &golden.reports {
        let columns = &per_month[&report.month];
        assert_eq!(columns.len(), 11, "month {}", report.month);
        let (drifted, share, drift) = dataset_drift(columns, report.drift_share);
        assert_eq!(
            drifted, report.number_of_drifted_columns,
            "month {}",
            report.month
        );
        assert_eq!(
            share, report.share_of_drifted_columns,
            "month {}",
            report.month
        );
        assert_eq!(drift, share >= 0.5, "month {}", report.month);
    }
}

#[test]
fn bad_windows_are_clear_errors() {
    let reference: Vec<f64> = (0..2000).map(f64::from).collect();
    let numerical = |values| Column {
        values,
        kind: ColumnKind::Numerical,
        integer: false,
    };
    assert_eq!(
        column_drift(numerical(&reference), numerical(&[]), None, None),
        Err(DriftError::Empty { window: "current" })
    );
    assert_eq!(
        column_drift(
            numerical(&reference),
            numerical(&[1.0, f64::NAN]),
            None,
            None
        ),
        Err(DriftError::NotFinite {
            window: "current",
            row: 1
        })
    );
    assert_eq!(
        column_drift(
            numerical(&reference[..500]),
            numerical(&[1.0, 2.0]),
            None,
            None
        ),
        Err(DriftError::SmallReference)
    );
    let categorical = |values| Column {
        values,
        kind: ColumnKind::Categorical,
        integer: true,
    };
    assert!(matches!(
        column_drift(
            categorical(&reference),
            categorical(&[1.0]),
            Some(StatTest::Wasserstein),
            None
        ),
        Err(DriftError::NotApplicable { .. })
    ));
    // Evidently flags the energy distance only strictly above its threshold, the rest at it.
    assert!(!StatTest::EnergyDistance.drifted(0.1, 0.1));
    assert!(StatTest::Wasserstein.drifted(0.1, 0.1));
    assert!(StatTest::Hellinger.drifted(0.1, 0.1));
    // A constant reference: Wasserstein is normed by 0.001, not divided by zero.
    let constant = vec![3.0; 2000];
    let drift = column_drift(
        numerical(&constant),
        numerical(&[3.0, 4.0, 5.0, 6.0, 7.0, 8.0]),
        None,
        None,
    )
    .unwrap();
    assert_eq!(drift.stattest_name, "wasserstein");
    assert!(drift.drift_score.is_finite() && drift.drift_detected);
}
