//! The quality report on small synthetic files with one defect each.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use velocast_dataset::{FeatureColumns, QualityReport, Severity, assess, parse};

const HEADER: &str = "instant,dteday,season,yr,mnth,hr,holiday,weekday,workingday,weathersit,temp,atemp,hum,windspeed,casual,registered,cnt";

/// Four good hours of 2011-01-01 (a Saturday, winter).
fn rows() -> Vec<String> {
    (0..4)
        .map(|h| {
            format!(
                "{},2011-01-01,1,0,1,{h},0,6,0,1,0.24,0.2879,0.81,0,3,{},{}",
                h + 1,
                10 + h,
                13 + h
            )
        })
        .collect()
}

fn report(rows: &[String]) -> QualityReport {
    let text = format!("{HEADER}\n{}\n", rows.join("\n"));
    let dataset = parse(Path::new("synthetic.csv"), text.as_bytes()).unwrap();
    assess(&dataset, &FeatureColumns::of_records(&dataset.records))
}

fn checks(report: &QualityReport, severity: Severity) -> Vec<&'static str> {
    report
        .violations
        .iter()
        .filter(|v| v.severity == severity)
        .map(|v| v.check)
        .collect()
}

#[test]
fn clean_rows_pass() {
    let report = report(&rows());
    assert!(report.passed, "{:?}", report.violations);
    assert!(report.violations.is_empty());
}

#[test]
fn missing_target_is_hard_missing_part_is_soft() {
    let mut rows = rows();
    rows[1] = rows[1].replace(",11,14", ",11,");
    rows[2] = rows[2].replace(",0,3,12,", ",0,,12,");
    let report = report(&rows);
    assert!(!report.passed);
    assert_eq!(checks(&report, Severity::Hard), vec!["missing_values"]);
    assert_eq!(checks(&report, Severity::Soft), vec!["missing_values"]);
    let cnt = report.columns.iter().find(|c| c.name == "cnt").unwrap();
    assert_eq!(cnt.missing, 1);
    // The row of hour 1 is line 3 (the header is line 1).
    assert_eq!(cnt.missing_lines, vec![3]);
    let message = &report
        .violations
        .iter()
        .find(|v| v.severity == Severity::Hard)
        .unwrap()
        .message;
    assert!(
        message.contains("`cnt`") && message.contains("line 3"),
        "{message}"
    );
}

#[test]
fn out_of_range_humidity_is_hard() {
    let mut rows = rows();
    rows[0] = rows[0].replace("0.81", "1.81");
    let report = report(&rows);
    assert_eq!(checks(&report, Severity::Hard), vec!["out_of_range"]);
    let hum = report.columns.iter().find(|c| c.name == "hum").unwrap();
    assert_eq!((hum.out_of_range, hum.max), (1, Some(1.81)));
}

#[test]
fn weekday_that_disagrees_with_the_date_is_hard() {
    let mut rows = rows();
    rows[3] = rows[3].replace(",0,6,0,1,", ",0,5,0,1,");
    let report = report(&rows);
    assert_eq!(
        checks(&report, Severity::Hard),
        vec!["calendar_consistency"]
    );
}

#[test]
fn exact_duplicates_are_dropped_and_reported_gaps_soft() {
    let mut rows = rows();
    // Line 6 repeats line 5 (hour 3) apart from its running index.
    rows.push(rows[3].replace("4,2011", "5,2011"));
    rows.push(rows[0].replace("1,2011-01-01,1,0,1,0,", "9,2011-01-01,1,0,1,9,"));
    let text = format!("{HEADER}\n{}\n", rows.join("\n"));
    let dataset = parse(Path::new("synthetic.csv"), text.as_bytes()).unwrap();
    assert_eq!(dataset.records.len(), 5, "the repeat is dropped");
    let report = assess(&dataset, &FeatureColumns::of_records(&dataset.records));
    assert!(report.passed, "{:?}", report.violations);
    assert_eq!(report.sequence.duplicate_rows, 1);
    assert_eq!(report.sequence.duplicate_timestamps, 0);
    assert_eq!(report.sequence.missing_hours, 5);
    assert_eq!(
        checks(&report, Severity::Soft),
        vec!["duplicate_rows", "hourly_gaps"]
    );
    let message = &report
        .violations
        .iter()
        .find(|v| v.check == "duplicate_rows")
        .unwrap()
        .message;
    assert!(message.contains("line 6 repeats line 5"), "{message}");
}

#[test]
fn an_hour_with_two_different_rows_is_refused_naming_both_lines() {
    let mut rows = rows();
    // Hour 3 again (line 6), with another count.
    rows.push(
        rows[3]
            .replace("4,2011", "5,2011")
            .replace(",13,16", ",13,99"),
    );
    let report = report(&rows);
    assert!(!report.passed);
    assert_eq!(
        checks(&report, Severity::Hard),
        vec!["duplicate_timestamps"]
    );
    assert_eq!(report.sequence.conflicting_hours[0].lines, vec![5, 6]);
    let message = &report.violations[0].message;
    assert!(
        message.contains("2011-01-01 03:00:00") && message.contains("lines 5, 6"),
        "{message}"
    );
}

#[test]
fn negative_target_is_hard_and_part_mismatch_soft() {
    let mut rows = rows();
    rows[0] = rows[0].replace(",3,10,13", ",3,10,-13");
    rows[1] = rows[1].replace(",3,11,14", ",3,11,15");
    let report = report(&rows);
    assert!(checks(&report, Severity::Hard).contains(&"target_negative"));
    assert!(checks(&report, Severity::Soft).contains(&"target_parts"));
    assert_eq!(report.target.parts_mismatch, 2);
}

#[test]
fn report_serializes_to_json_with_its_verdict() {
    let json = serde_json::to_value(report(&rows())).unwrap();
    assert_eq!(json["passed"], true);
    assert_eq!(json["rows"], 4);
    assert_eq!(json["columns"].as_array().unwrap().len(), 16);
}
