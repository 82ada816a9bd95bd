//! Reports from CSV files: Evidently's column typing and verdicts on hour.csv (2011 against
//! September 2012, compared with the golden file Evidently wrote), missing values dropped and
//! counted, text columns and bad files refused with the column or line named.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};

use velocast_drift::StatTest;
use velocast_drift_report::{
    ColumnType, DriftOptions, ReportError, Storage, build, read_csv_pair, to_html,
};

const COLUMNS: [&str; 11] = [
    "temp",
    "atemp",
    "hum",
    "windspeed",
    "hr",
    "weekday",
    "weathersit",
    "season",
    "holiday",
    "workingday",
    "cnt",
];

fn hour_csv() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.velocast/data/hour.csv");
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run `make setup` to fetch hour.csv)"))
}

/// hour.csv's rows that pass `keep(yr, mnth)`, written as a CSV file in `dir`.
fn window(dir: &Path, name: &str, keep: impl Fn(u32, u32) -> bool) -> PathBuf {
    let text = hour_csv();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let names: Vec<&str> = header.split(',').collect();
    let at = |name: &str| names.iter().position(|n| *n == name).unwrap();
    let (yr, mnth) = (at("yr"), at("mnth"));
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(file, "{header}").unwrap();
    for line in lines.filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        if keep(fields[yr].parse().unwrap(), fields[mnth].parse().unwrap()) {
            writeln!(file, "{line}").unwrap();
        }
    }
    path
}

#[derive(serde::Deserialize)]
struct Golden {
    cases: Vec<Case>,
    reports: Vec<GoldenReport>,
}

#[derive(serde::Deserialize)]
struct Case {
    reference: String,
    current: String,
    column: String,
    tests: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct GoldenReport {
    current: String,
    number_of_drifted_columns: usize,
    share_of_drifted_columns: f64,
}

#[test]
fn hour_csv_2011_against_september_2012_is_evidentlys_report() {
    let dir = tempfile::tempdir().unwrap();
    let reference = window(dir.path(), "reference.csv", |yr, _| yr == 0);
    let current = window(dir.path(), "current.csv", |yr, m| yr == 1 && m == 9);
    let (reference, current) = read_csv_pair(&reference, &current).unwrap();
    // hour.csv's own columns, typed as pandas types them.
    assert_eq!(reference.rows, 8645);
    assert_eq!(current.rows, 720);
    assert_eq!(current.column("temp").unwrap().storage, Storage::Float);
    assert_eq!(current.column("hr").unwrap().storage, Storage::Integer);
    assert!(matches!(
        current.column("dteday").unwrap().storage,
        Storage::Labels(_)
    ));
    let options = DriftOptions {
        columns: Some(COLUMNS.iter().map(|c| (*c).to_owned()).collect()),
        ..DriftOptions::default()
    };
    let report = build(&reference, &current, &options).unwrap();

    let golden: Golden = serde_json::from_str(include_str!(
        "../../velocast-drift/tests/golden/evidently_0_7_23.json"
    ))
    .unwrap();
    for column in &report.drift_by_columns.0 {
        let case = golden
            .cases
            .iter()
            .find(|c| {
                c.reference == "2011" && c.current == "2012-09" && c.column == column.column_name
            })
            .unwrap();
        let expected = &case.tests["default"];
        assert_eq!(
            column.stattest, expected["stattest_name"],
            "{}",
            column.column_name
        );
        let score = expected["drift_score"].as_f64().unwrap();
        assert!(
            (column.drift_score - score).abs() <= 1e-9 * score.abs(),
            "{}: {} vs {score}",
            column.column_name,
            column.drift_score
        );
        assert_eq!(column.drift_detected, expected["drift_detected"]);
        assert_eq!(column.reference_missing + column.current_missing, 0);
    }
    let expected = golden
        .reports
        .iter()
        .find(|r| r.current == "2012-09")
        .unwrap();
    assert_eq!(report.number_of_columns, 11);
    assert_eq!(
        report.number_of_drifted_columns,
        expected.number_of_drifted_columns
    );
    assert_eq!(
        report.share_of_drifted_columns,
        expected.share_of_drifted_columns
    );
    // Evidently's types: hr (24 values) numerical, weekday (7) categorical.
    let type_of = |name: &str| {
        report
            .drift_by_columns
            .0
            .iter()
            .find(|c| c.column_name == name)
            .unwrap()
            .column_type
    };
    assert_eq!(type_of("hr"), ColumnType::Numerical);
    assert_eq!(type_of("weekday"), ColumnType::Categorical);

    // The JSON carries Evidently's names, columns in the order asked.
    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "number_of_drifted_columns",
        "share_of_drifted_columns",
        "dataset_drift",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    let temp = &json["drift_by_columns"]["temp"];
    for key in [
        "column_name",
        "stattest_name",
        "drift_score",
        "stattest_threshold",
        "drift_detected",
    ] {
        assert!(temp.get(key).is_some(), "{key}");
    }
    assert_eq!(temp["stattest_name"], "Wasserstein distance (normed)");
    let order: Vec<&String> = json["drift_by_columns"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(order.len(), 11);

    // The page names every column and the verdict, and runs nothing.
    let page = to_html(&report, "September 2012 against 2011");
    assert!(page.contains("Dataset drift detected"));
    for column in COLUMNS {
        assert!(page.contains(&format!("<td>{column}</td>")), "{column}");
    }
    assert!(!page.contains("<script"));
    assert_eq!(page.matches("<svg").count(), 11);
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn missing_cells_are_dropped_and_counted_and_text_is_coded_by_its_labels() {
    let dir = tempfile::tempdir().unwrap();
    let mut reference = String::from("x,colour,n\n");
    let mut current = String::from("x,colour,n\n");
    for i in 0..1200 {
        let colour = ["red", "green", "blue"][i % 3];
        reference.push_str(&format!("{},{colour},{}\n", i as f64 / 7.0, i % 4));
    }
    for i in 0..300 {
        let colour = ["red", "green", "violet"][i % 3];
        let x = if i % 50 == 0 {
            "NA".to_owned()
        } else {
            format!("{}", i as f64 / 3.0)
        };
        current.push_str(&format!("{x},{colour},{}\n", i % 4));
    }
    let (reference, current) = read_csv_pair(
        &write(dir.path(), "r.csv", &reference),
        &write(dir.path(), "c.csv", &current),
    )
    .unwrap();
    // A missing cell makes a column float, as in pandas; labels are shared and sorted.
    assert_eq!(current.column("x").unwrap().storage, Storage::Float);
    assert_eq!(current.column("n").unwrap().storage, Storage::Integer);
    let Storage::Labels(labels) = &current.column("colour").unwrap().storage else {
        panic!("colour is text");
    };
    assert_eq!(&labels[..], ["blue", "green", "red", "violet"]);
    let report = build(&reference, &current, &DriftOptions::default()).unwrap();
    let columns = &report.drift_by_columns.0;
    assert_eq!(columns[0].current_missing, 6);
    assert_eq!(columns[0].reference_missing, 0);
    assert_eq!(columns[1].column_type, ColumnType::Categorical);
    // A colour the reference never showed: Jensen-Shannon sees it.
    assert!(columns[1].drift_detected);
    assert!(columns[1].histogram.labels.iter().any(|l| l == "violet"));
    // n has four values: categorical, the same shares: no drift.
    assert_eq!(columns[2].column_type, ColumnType::Categorical);
    assert!(!columns[2].drift_detected);

    // Forcing and thresholds per column and for all.
    let options = DriftOptions {
        stattest: Some(StatTest::Psi),
        per_column_stattest: [("x".to_owned(), StatTest::Ks)].into(),
        per_column_threshold: [("n".to_owned(), 0.5)].into(),
        ..DriftOptions::default()
    };
    let forced = build(&reference, &current, &options).unwrap();
    let names: Vec<&str> = forced
        .drift_by_columns
        .0
        .iter()
        .map(|c| c.stattest)
        .collect();
    assert_eq!(names, ["ks", "psi", "psi"]);
    assert_eq!(forced.drift_by_columns.0[2].stattest_threshold, 0.5);
}

#[test]
fn bad_inputs_are_refused_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.csv", "a,b\n1,2\n3,4\n5,6\n");
    // A text column (every value distinct) is refused, not tested some other way.
    let text = write(dir.path(), "text.csv", "a,b\n1,x\n3,y\n5,z\n");
    let (reference, current) = read_csv_pair(&good, &text).unwrap();
    assert!(matches!(
        build(&reference, &current, &DriftOptions::default()),
        Err(ReportError::TextColumn { column }) if column == "b"
    ));
    // A column the current window lacks.
    let narrow = write(dir.path(), "narrow.csv", "a\n1\n2\n");
    let (reference, current) = read_csv_pair(&good, &narrow).unwrap();
    assert!(matches!(
        build(&reference, &current, &DriftOptions::default()),
        Err(ReportError::MissingColumn { column, window: "current" }) if column == "b"
    ));
    // A row with the wrong number of fields names its line.
    let ragged = write(dir.path(), "ragged.csv", "a,b\n1,2\n3\n");
    let error = read_csv_pair(&good, &ragged).unwrap_err().to_string();
    assert!(error.contains("ragged.csv"), "{error}");
    // A window whose column is all missing: Evidently's empty-column error.
    let empty = write(dir.path(), "empty.csv", "a,b\n,1\nNA,2\n");
    let (reference, current) = read_csv_pair(&good, &empty).unwrap();
    let error = build(&reference, &current, &DriftOptions::default()).unwrap_err();
    assert!(
        matches!(&error, ReportError::Column { column, .. } if column == "a"),
        "{error}"
    );
    // A per-column setting for a column not tested.
    let options = DriftOptions {
        per_column_threshold: [("zzz".to_owned(), 0.3)].into(),
        ..DriftOptions::default()
    };
    let (reference, current) = read_csv_pair(&good, &good).unwrap();
    assert!(matches!(
        build(&reference, &current, &options),
        Err(ReportError::Option { .. })
    ));
    // A duplicated header.
    let twice = write(dir.path(), "twice.csv", "a,a\n1,2\n");
    assert!(matches!(
        read_csv_pair(&twice, &good),
        Err(ReportError::DuplicateColumn { .. })
    ));
    // A cell that is not UTF-8 names its line and column.
    let binary = dir.path().join("binary.csv");
    std::fs::write(&binary, b"a,b\n1,2\n3,\xff\xfe\n").unwrap();
    assert!(matches!(
        read_csv_pair(&good, &binary),
        Err(ReportError::NotUtf8 { line: 3, column, .. }) if column == "b"
    ));
    // A file that is not there.
    assert!(matches!(
        read_csv_pair(&dir.path().join("absent.csv"), &good),
        Err(ReportError::Csv { .. })
    ));
}
