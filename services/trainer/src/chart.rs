//! An SVG chart of predicted against actual demand over the holdout, drawn by hand: a few
//! polylines and labels do not justify a plotting dependency.

use std::fmt::Write;

use chrono::{Datelike, NaiveDateTime, Weekday};

const WIDTH: f64 = 1200.0;
const PANEL_HEIGHT: f64 = 260.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const GAP: f64 = 70.0;

struct Panel<'a> {
    title: String,
    timestamps: &'a [NaiveDateTime],
    actual: &'a [f64],
    predicted: &'a [f64],
    top: f64,
}

/// Two panels: the whole holdout hour by hour, and its last two weeks for detail.
pub fn holdout_svg(
    timestamps: &[NaiveDateTime],
    actual: &[f64],
    predicted: &[f64],
    headline: &str,
) -> String {
    let n = timestamps.len().min(actual.len()).min(predicted.len());
    let zoom_from = timestamps[..n]
        .iter()
        .rposition(|t| n > 0 && (timestamps[n - 1] - *t).num_days() >= 14)
        .map_or(0, |i| i + 1);
    let panels = [
        Panel {
            title: "Holdout, hourly".into(),
            timestamps: &timestamps[..n],
            actual: &actual[..n],
            predicted: &predicted[..n],
            top: TOP,
        },
        Panel {
            title: "Last two weeks".into(),
            timestamps: &timestamps[zoom_from..n],
            actual: &actual[zoom_from..n],
            predicted: &predicted[zoom_from..n],
            top: TOP + PANEL_HEIGHT + GAP,
        },
    ];
    let height = TOP + 2.0 * PANEL_HEIGHT + GAP + 50.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{}</text>"#,
        escape(headline)
    );
    for panel in &panels {
        draw_panel(&mut svg, panel);
    }
    let legend_y = height - 18.0;
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{legend_y}" x2="{}" y2="{legend_y}" stroke="#888" stroke-width="2"/><text x="{}" y="{}">actual</text><line x1="{}" y1="{legend_y}" x2="{}" y2="{legend_y}" stroke="#1f6fd1" stroke-width="2"/><text x="{}" y="{}">predicted</text>"##,
        LEFT + 30.0,
        LEFT + 36.0,
        legend_y + 4.0,
        LEFT + 100.0,
        LEFT + 130.0,
        LEFT + 136.0,
        legend_y + 4.0
    );
    svg.push_str("</svg>\n");
    svg
}

fn draw_panel(svg: &mut String, panel: &Panel<'_>) {
    let plot_width = WIDTH - LEFT - RIGHT;
    let n = panel.timestamps.len();
    let max = panel
        .actual
        .iter()
        .chain(panel.predicted)
        .copied()
        .fold(1.0_f64, f64::max);
    let y_max = nice_ceiling(max);
    let x = |i: usize| LEFT + plot_width * i as f64 / (n.max(2) - 1) as f64;
    let y = |v: f64| panel.top + PANEL_HEIGHT * (1.0 - v.max(0.0) / y_max);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{}" font-weight="bold">{}</text>"#,
        panel.top - 8.0,
        escape(&panel.title)
    );
    for tick in 0..=4 {
        let value = y_max * f64::from(tick) / 4.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{value:.0}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(value) + 4.0,
            yy = y(value)
        );
    }
    // A gridline and date at the start of each week (Mondays at midnight).
    for (i, t) in panel.timestamps.iter().enumerate() {
        if t.weekday() == Weekday::Mon && t.time() == chrono::NaiveTime::MIN {
            let _ = writeln!(
                svg,
                r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{}" y2="{}" stroke="#ddd"/><text x="{xx:.1}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
                panel.top,
                panel.top + PANEL_HEIGHT,
                panel.top + PANEL_HEIGHT + 16.0,
                t.format("%b %d"),
                xx = x(i)
            );
        }
    }
    for (series, colour) in [(panel.actual, "#888"), (panel.predicted, "#1f6fd1")] {
        let mut points = String::with_capacity(n * 12);
        for (i, v) in series.iter().enumerate() {
            let _ = write!(points, "{:.1},{:.1} ", x(i), y(*v));
        }
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1" points="{}"/>"#,
            points.trim_end()
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{}" width="{plot_width}" height="{PANEL_HEIGHT}" fill="none" stroke="#999"/><text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">rentals per hour</text>"##,
        panel.top,
        panel.top + PANEL_HEIGHT / 2.0,
        panel.top + PANEL_HEIGHT / 2.0
    );
}

fn nice_ceiling(value: f64) -> f64 {
    let magnitude = 10_f64.powf(value.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= value {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};

    #[test]
    fn chart_has_both_series_in_both_panels_and_week_marks() {
        let start = NaiveDate::from_ymd_opt(2012, 9, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let timestamps: Vec<NaiveDateTime> =
            (0..(30 * 24)).map(|h| start + Duration::hours(h)).collect();
        let actual: Vec<f64> = (0..timestamps.len())
            .map(|i| (i % 24) as f64 * 10.0)
            .collect();
        let predicted: Vec<f64> = actual.iter().map(|a| a * 0.9).collect();
        let svg = holdout_svg(&timestamps, &actual, &predicted, "MAE <40> & more");
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert!(svg.contains("Sep 03")); // first Monday
        assert!(svg.contains("MAE &lt;40&gt; &amp; more"));
        assert_eq!(nice_ceiling(977.0), 1000.0);
        assert_eq!(nice_ceiling(230.0), 250.0);
    }
}
