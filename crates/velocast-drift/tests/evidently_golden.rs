//! Every number against Evidently 0.7.23 on hour.csv: 2011 against each month of 2012, eleven
//! columns, the default pick and every test this crate can force; small references (January
//! 2011, its first 600 rows, every 18th row) for K-S exact with unequal and equal sizes and K-S
//! asymptotic against more than 10,000 rows, chi-square and Z; edge cases on made-up values;
//! all from Evidently's own stat-test functions. The dataset verdicts come from `Report.run`
//! with `DataDriftPreset`, whose per-column methods and values the generator checked equal to
//! the default picks (tests/golden/generate.py wrote the JSON; Evidently is not needed to run
//! this). Distances agree to 1e-9 relative, p-values in ln p (or through their statistic below
//! 1e-6), names, thresholds and verdicts exactly.

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
        StatTest::Ks => velocast_drift::ks::ks_2samp(reference, current).unwrap(),
        StatTest::AndersonDarling => {
            velocast_drift::rank::anderson_darling(reference, current).unwrap()
        }
        StatTest::CramerVonMises => {
            velocast_drift::rank::cramer_von_mises(reference, current).unwrap()
        }
        other => panic!("{other:?} has no p-value"),
    }
}

#[derive(Deserialize)]
struct Golden {
    cases: Vec<Case>,
    edges: Vec<Edge>,
    /// `Report.run` with `DataDriftPreset` on the 2011 reference, per month of 2012 (the
    /// generator also checked that every column's method and value there equal `cases`).
    reports: Vec<Report>,
}

#[derive(Deserialize)]
struct Report {
    current: String,
    number_of_drifted_columns: usize,
    share_of_drifted_columns: f64,
    drift_share: f64,
}

#[derive(Deserialize)]
struct Case {
    /// Window selectors: `2011`, `2012-09`, `all`, `every:18`, each with an optional `[:N]`.
    reference: String,
    current: String,
    column: String,
    kind: String,
    integer: bool,
    tests: BTreeMap<String, Outcome>,
}

#[derive(Deserialize)]
struct Edge {
    name: String,
    kind: String,
    integer: bool,
    reference_values: Vec<f64>,
    current_values: Vec<f64>,
    tests: BTreeMap<String, Outcome>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Outcome {
    /// Evidently raised; ours must not answer with a number it would not stand behind.
    Refused {
        error: String,
    },
    Scored(Expected),
}

#[derive(Deserialize)]
struct Expected {
    stattest_name: String,
    /// A number, or `"nan"` (JSON has no NaN).
    drift_score: serde_json::Value,
    stattest_threshold: f64,
    drift_detected: bool,
    /// For p-value tests: the statistic, compared where the p-value underflows (`"inf"` when
    /// infinite, which JSON cannot write as a number).
    statistic: Option<serde_json::Value>,
}

fn number(value: &serde_json::Value) -> f64 {
    match value {
        serde_json::Value::String(text) if text == "inf" => f64::INFINITY,
        serde_json::Value::String(text) if text == "-inf" => f64::NEG_INFINITY,
        serde_json::Value::String(text) if text == "nan" => f64::NAN,
        other => other.as_f64().unwrap(),
    }
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

/// The rows a window selector names, in file order.
fn select(data: &BTreeMap<String, Vec<f64>>, selector: &str) -> Vec<usize> {
    let (selector, head) = match selector.split_once("[:") {
        Some((selector, head)) => (
            selector,
            Some(head.trim_end_matches(']').parse::<usize>().unwrap()),
        ),
        None => (selector, None),
    };
    let (year, month) = (&data["yr"], &data["mnth"]);
    let rows = 0..year.len();
    let rows: Vec<usize> = if selector == "all" {
        rows.collect()
    } else if let Some(step) = selector.strip_prefix("every:") {
        rows.step_by(step.parse().unwrap()).collect()
    } else if let Some((y, m)) = selector.split_once('-') {
        let (y, m): (f64, f64) = (y.parse().unwrap(), m.parse().unwrap());
        rows.filter(|&i| year[i] == y - 2011.0 && month[i] == m)
            .collect()
    } else {
        let y: f64 = selector.parse().unwrap();
        rows.filter(|&i| year[i] == y - 2011.0).collect()
    };
    rows.into_iter().take(head.unwrap_or(usize::MAX)).collect()
}

fn relative(got: f64, expected: f64) -> f64 {
    if got == expected {
        0.0
    } else {
        (got - expected).abs() / expected.abs().max(f64::MIN_POSITIVE)
    }
}

/// Below this a p-value is compared through its statistic: Evidently's Z p-value is
/// `2 · (1 − Φ(|z|))`, which keeps only ~16 − |log10 p| digits, chi-square's underflows to 0
/// for large statistics, and K-S's asymptotic one and Cramér-von Mises's are `1 − CDF`.
const SMALLEST_COMPARED_P: f64 = 1e-6;

/// Runs one test as Evidently ran it and returns how far ours is from its number (0 for an
/// agreed refusal), after checking name, threshold and verdict exactly.
fn compare(
    label: &str,
    reference: Column<'_>,
    current: Column<'_>,
    name: &str,
    outcome: &Outcome,
) -> (f64, Option<velocast_drift::ColumnDrift>) {
    let forced = (name != "default").then(|| StatTest::from_name(name).unwrap());
    let got = column_drift(reference, current, forced, None);
    let expected = match outcome {
        Outcome::Refused { error } => {
            // Evidently's exact Cramér-von Mises overflows its own 16-bit counters on some
            // sizes (a bug, not a verdict); ours counts in 64 bits and is checked against
            // brute force in the crate's unit tests. Every other refusal must be ours too.
            if name == "cramer_von_mises" && error.contains("UFuncTypeError") {
                let drift = got.unwrap();
                assert!((0.0..=1.0).contains(&drift.drift_score), "{label}");
                return (0.0, Some(drift));
            }
            assert!(
                got.is_err(),
                "{label}: Evidently refused ({error}), ours {got:?}"
            );
            return (0.0, None);
        }
        Outcome::Scored(expected) => expected,
    };
    let expected_score = number(&expected.drift_score);
    if expected_score.is_nan() {
        // Evidently's NaN p-value (a single category in both windows) is an error here.
        assert!(got.is_err(), "{label}: Evidently gave NaN, ours {got:?}");
        return (0.0, None);
    }
    let got = got.unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(got.stattest_name, expected.stattest_name, "{label}");
    assert_eq!(
        got.stattest_threshold, expected.stattest_threshold,
        "{label}"
    );
    assert_eq!(got.drift_detected, expected.drift_detected, "{label}");
    let difference = match expected.statistic.as_ref().map(number) {
        // p-values: ln p, or the statistic where p is too small to carry its digits.
        Some(statistic) if expected_score < SMALLEST_COMPARED_P => {
            let test = StatTest::from_name(&expected.stattest_name).unwrap();
            let (got_statistic, _) = statistic_of(test, reference.values, current.values);
            relative(got_statistic.abs(), statistic.abs())
        }
        Some(_) => (got.drift_score.ln() - expected_score.ln()).abs(),
        None => relative(got.drift_score, expected_score),
    };
    assert!(
        difference <= 1e-9,
        "{label}: {} vs Evidently {expected_score} (difference {difference:e})",
        got.drift_score
    );
    (difference, Some(got))
}

fn kind_named(kind: &str) -> ColumnKind {
    if kind == "numerical" {
        ColumnKind::Numerical
    } else {
        ColumnKind::Categorical
    }
}

#[test]
fn every_score_and_verdict_matches_evidently_on_hour_csv() {
    let golden: Golden =
        serde_json::from_str(include_str!("golden/evidently_0_7_23.json")).unwrap();
    let data = hour_csv();
    let (mut checked, mut expected_checks) = (0, 0);
    let mut worst: f64 = 0.0;
    let mut per_window: BTreeMap<&str, Vec<velocast_drift::ColumnDrift>> = BTreeMap::new();
    for case in &golden.cases {
        let values = &data[&case.column];
        let pick = |selector| -> Vec<f64> {
            select(&data, selector)
                .into_iter()
                .map(|i| values[i])
                .collect()
        };
        let (reference, current) = (pick(&case.reference), pick(&case.current));
        let kind = kind_named(&case.kind);
        // The kind is the one Evidently's `Report.run` inferred on the current window.
        let label = format!("{} vs {} {}", case.reference, case.current, case.column);
        assert_eq!(infer_kind(&current, case.integer), kind, "{label}");
        let column = |values| Column {
            values,
            kind,
            integer: case.integer,
        };
        expected_checks += case.tests.len();
        for (name, outcome) in &case.tests {
            let label = format!("{label} {name}");
            let (difference, got) =
                compare(&label, column(&reference), column(&current), name, outcome);
            worst = worst.max(difference);
            checked += 1;
            if name == "default" && case.reference == "2011" {
                per_window
                    .entry(&case.current)
                    .or_default()
                    .push(got.unwrap());
            }
        }
    }
    for edge in &golden.edges {
        let kind = kind_named(&edge.kind);
        let column = |values| Column {
            values,
            kind,
            integer: edge.integer,
        };
        expected_checks += edge.tests.len();
        for (name, outcome) in &edge.tests {
            let label = format!("{} {name}", edge.name);
            let (reference, current) = (&edge.reference_values, &edge.current_values);
            let (difference, _) =
                compare(&label, column(reference), column(current), name, outcome);
            worst = worst.max(difference);
            checked += 1;
        }
    }
    // 2011 against 12 months, 1,000-row-or-less references against 12 months twice (exact K-S
    // with unequal and equal sizes), two against all rows (asymptotic K-S): 11 columns each.
    assert_eq!(golden.cases.len(), 11 * (12 + 12 + 12 + 2));
    assert_eq!(checked, expected_checks);
    assert!(checked > 1_400, "{checked}");
    assert!(worst <= 1e-9);
    #[allow(clippy::print_stderr)] // the margin, for the record
    {
        eprintln!("{checked} scores checked, largest difference {worst:e}");
    }
    // The dataset verdict, as `Report.run` with `DataDriftPreset` gave it for each month.
    assert_eq!(golden.reports.len(), 12);
    for report in &golden.reports {
        let columns = &per_window[report.current.as_str()];
        assert_eq!(columns.len(), 11, "{}", report.current);
        let (drifted, share, drift) = dataset_drift(columns, report.drift_share);
        assert_eq!(
            drifted, report.number_of_drifted_columns,
            "{}",
            report.current
        );
        assert_eq!(share, report.share_of_drifted_columns, "{}", report.current);
        assert_eq!(drift, share >= 0.5, "{}", report.current);
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
    // A small reference picks K-S for a numerical column of more than five values.
    let small = column_drift(
        numerical(&reference[..500]),
        numerical(&[1.0, 2.0]),
        None,
        None,
    )
    .unwrap();
    assert_eq!(small.stattest_name, "ks");
    assert_eq!(
        column_drift(
            numerical(&[2.0; 50]),
            numerical(&[2.0; 50]),
            Some(StatTest::AndersonDarling),
            None
        ),
        Err(DriftError::Constant)
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
