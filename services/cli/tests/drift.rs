//! `velocast drift` as a user runs it: two CSV files of hour.csv in, the JSON and HTML reports
//! out; bad options and files refused with outputs left as they were; the page opened in
//! headless Chromium (Debian's `chromium`, installed by `make setup`) without console output.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `velocast drift --reference … --current …` and then `extra`.
fn drift(reference: &Path, current: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "drift",
        "--reference",
        reference.to_str().unwrap(),
        "--current",
        current.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    velocast(&args)
}

fn velocast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_velocast"))
        .args(args)
        .output()
        .unwrap()
}

/// hour.csv's rows of one year (`yr`) and, optionally, one month, as a CSV file.
fn hour_window(dir: &Path, name: &str, year: &str, month: Option<&str>) -> PathBuf {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.velocast/data/hour.csv");
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run `make setup` to fetch hour.csv)"));
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    for line in lines {
        // instant,dteday,season,yr,mnth,...
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() > 4 && fields[3] == year && month.is_none_or(|m| fields[4] == m) {
            out.push_str(line);
            out.push('\n');
        }
    }
    let file = dir.join(name);
    std::fs::write(&file, out).unwrap();
    file
}

const COLUMNS: &str =
    "temp,atemp,hum,windspeed,hr,weekday,weathersit,season,holiday,workingday,cnt";

#[test]
fn writes_evidentlys_json_and_a_page_and_keeps_outputs_when_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let reference = hour_window(dir.path(), "2011.csv", "0", None);
    let current = hour_window(dir.path(), "2012-09.csv", "1", Some("9"));
    let (json, html) = (dir.path().join("drift.json"), dir.path().join("drift.html"));
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let (json_path, html_path) = (path(&json), path(&html));
    let outputs = ["--json", &json_path, "--html", &html_path];
    let run = drift(
        &reference,
        &current,
        &[&["--columns", COLUMNS][..], &outputs].concat(),
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("dataset drift: yes (6 of 11 columns"),
        "{stdout}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["number_of_drifted_columns"], 6);
    assert_eq!(report["dataset_drift"], true);
    assert_eq!(
        report["drift_by_columns"]["season"]["stattest_name"],
        "Jensen-Shannon distance"
    );
    assert_eq!(report["drift_by_columns"]["hr"]["drift_detected"], false);

    // A forced test and a threshold, on one column and on all.
    let forced = drift(
        &reference,
        &current,
        &[
            "--columns",
            "temp,hum,weekday",
            "--stattest",
            "psi",
            "--stattest",
            "temp=ks",
            "--threshold",
            "hum=0.3",
        ],
    );
    let stdout = String::from_utf8_lossy(&forced.stdout);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert!(stdout.contains("K-S p_value"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("hum") && l.contains("PSI") && l.contains("0.3"))
    );

    // Failures: a usage error (2) and a missing file (1); the reports stay as they were.
    let before = (std::fs::read(&json).unwrap(), std::fs::read(&html).unwrap());
    for (args, code, message) in [
        (vec!["--stattest", "temp=nope"], 2, "unknown test"),
        (
            vec!["--columns", "temp,nothing"],
            2,
            "column `nothing` is not in the reference",
        ),
        (vec!["--threshold=-1"], 2, "finite number"),
    ] {
        let failed = drift(&reference, &current, &[&outputs[..], &args].concat());
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert_eq!(failed.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let absent = dir.path().join("absent.csv");
    let failed = drift(&absent, &current, &outputs);
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(
        (std::fs::read(&json).unwrap(), std::fs::read(&html).unwrap()),
        before
    );
}

/// Chromium's DOM of a page and what it logged to its console (each message is a `CONSOLE`
/// line in its log, whatever its level).
fn open_in_chromium(page: &Path) -> (String, Vec<String>) {
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("chromium: {e} (run `make setup` to install it)"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let console = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        console,
    )
}

#[test]
fn the_html_report_renders_in_chromium_without_console_output() {
    let dir = tempfile::tempdir().unwrap();
    // The check itself catches a page that logs.
    let noisy = dir.path().join("noisy.html");
    std::fs::write(
        &noisy,
        "<html><body><script>console.error('boom')</script></body></html>",
    )
    .unwrap();
    let (_, console) = open_in_chromium(&noisy);
    assert_eq!(console.len(), 1, "{console:?}");

    let reference = hour_window(dir.path(), "2011.csv", "0", None);
    let current = hour_window(dir.path(), "2012-09.csv", "1", Some("9"));
    let html = dir.path().join("drift.html");
    let run = drift(
        &reference,
        &current,
        &["--columns", COLUMNS, "--html", html.to_str().unwrap()],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (dom, console) = open_in_chromium(&html);
    assert!(console.is_empty(), "{console:?}");
    assert!(dom.contains("Dataset drift detected"), "{dom}");
    assert_eq!(dom.matches("<svg").count(), 11);
    assert_eq!(dom.matches("<tr>").count(), 12);
}
