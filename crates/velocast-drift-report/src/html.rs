//! The report as one HTML page: the dataset verdict on top, then per column its test, score,
//! threshold, verdict and a small SVG histogram of reference against current. No script and
//! nothing fetched, so it opens offline and under a strict Content-Security-Policy (its one
//! inline style block is the fixed [`STYLE`]: a server can allow exactly it by its hash).

use std::fmt::Write;

use crate::report::{ColumnReport, ColumnType, DriftReport, Histogram};

/// The page's only style block.
pub const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1b1f24;padding:0 16px}\
h1{font-size:22px;margin:0 0 4px}\
.meta{color:#57606a;margin:0 0 16px}\
.verdict{padding:12px 16px;border-radius:6px;margin:0 0 20px;font-size:16px}\
.drift{background:#ffebe9;border:1px solid #ff8182}\
.stable{background:#dafbe1;border:1px solid #4ac26b}\
table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #d0d7de;vertical-align:middle}\
th{background:#f6f8fa;font-weight:600}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
.yes{color:#cf222e;font-weight:600}.no{color:#1a7f37}\
.legend{white-space:nowrap}.yes,.no{white-space:nowrap}\
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}\
.ref{background:#8c959f}.cur{background:#0969da}";

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A score as a person reads it: p-values and distances to four significant digits, tiny
/// p-values in exponent form.
fn score(value: f64) -> String {
    if value == 0.0 {
        "0".to_owned()
    } else if value.abs() < 1e-3 {
        format!("{value:.3e}")
    } else {
        format!("{value:.4}")
    }
}

/// Renders the report; `title` names the windows (file names, a model version and range).
pub fn to_html(report: &DriftReport, title: &str) -> String {
    let mut page = String::with_capacity(4096 + report.drift_by_columns.0.len() * 2048);
    let verdict_class = if report.dataset_drift {
        "drift"
    } else {
        "stable"
    };
    let verdict = if report.dataset_drift {
        "Dataset drift detected"
    } else {
        "No dataset drift"
    };
    // Writing to a String cannot fail.
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>Drift report: {title}</title><style>{STYLE}</style></head><body>\
<h1>Data drift</h1><p class=\"meta\">{title} · reference {reference} rows · current {current} rows</p>\
<div class=\"verdict {verdict_class}\"><strong>{verdict}</strong>: {drifted} of {columns} columns drifted \
(share {share:.3}; the dataset drifts at {threshold})</div>\
<table><thead><tr><th>Column</th><th>Type</th><th>Test</th><th>Score</th><th>Threshold</th>\
<th>Drift</th><th>Missing (ref / cur)</th><th>Distribution \
<span class=\"legend\"><span class=\"ref\"></span>reference<span class=\"cur\"></span>current</span></th></tr></thead><tbody>",
        title = escape(title),
        reference = report.reference_rows,
        current = report.current_rows,
        drifted = report.number_of_drifted_columns,
        columns = report.number_of_columns,
        share = report.share_of_drifted_columns,
        threshold = report.drift_share,
    );
    for column in &report.drift_by_columns.0 {
        row(&mut page, column);
    }
    page.push_str("</tbody></table></body></html>\n");
    page
}

fn row(page: &mut String, column: &ColumnReport) {
    let (class, drift) = if column.drift_detected {
        ("yes", "Detected")
    } else {
        ("no", "Not detected")
    };
    let kind = match column.column_type {
        ColumnType::Numerical => "numerical",
        ColumnType::Categorical => "categorical",
    };
    let _ = write!(
        page,
        "<tr><td>{name}</td><td>{kind}</td><td>{test}</td><td class=\"num\">{score}</td>\
<td class=\"num\">{threshold}</td><td class=\"{class}\">{drift}</td><td class=\"num\">{rm} / {cm}</td><td>{chart}</td></tr>",
        name = escape(&column.column_name),
        test = escape(column.stattest_name),
        score = score(column.drift_score),
        threshold = column.stattest_threshold,
        rm = column.reference_missing,
        cm = column.current_missing,
        chart = chart(&column.histogram),
    );
}

/// Paired bars per bin, scaled to the largest share of either window.
fn chart(histogram: &Histogram) -> String {
    const WIDTH: f64 = 260.0;
    const HEIGHT: f64 = 56.0;
    let bins = histogram.labels.len().max(1);
    let slot = WIDTH / bins as f64;
    let bar = (slot / 2.0 - 1.0).max(1.0);
    let tallest = histogram
        .reference
        .iter()
        .chain(&histogram.current)
        .copied()
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" \
aria-label=\"reference and current distributions\">"
    );
    for (i, label) in histogram.labels.iter().enumerate() {
        let x = i as f64 * slot;
        for (offset, share, colour) in [
            (0.0, histogram.reference[i], "#8c959f"),
            (bar + 1.0, histogram.current[i], "#0969da"),
        ] {
            let height = share / tallest * (HEIGHT - 2.0);
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{height:.1}\" fill=\"{colour}\">\
<title>{}: {:.1}%</title></rect>",
                x + offset,
                HEIGHT - height,
                escape(label),
                share * 100.0
            );
        }
    }
    svg.push_str("</svg>");
    svg
}
