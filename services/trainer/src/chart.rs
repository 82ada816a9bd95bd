//! An SVG chart of predicted against actual demand over the holdout, drawn by hand: a few
//! polylines and labels do not justify a plotting dependency.
//!
//! Top: daily totals over the whole holdout (hourly points over four months are unreadable).
//! Bottom: the last two weeks hour by hour. The x axis is real time, and lines break where hours
//! are missing from the data (the Hurricane Sandy days, for one), so gaps show as gaps.

use std::fmt::Write;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Weekday};

const WIDTH: f64 = 1200.0;
const PANEL_HEIGHT: f64 = 250.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 64.0;
const GAP: f64 = 80.0;
const ACTUAL_COLOUR: &str = "#888";
const PREDICTED_COLOUR: &str = "#1f6fd1";

/// One point: x in the panel's unit (hours or days from its start), actual, predicted.
type Point = (f64, f64, f64);

struct Panel {
    title: &'static str,
    y_label: &'static str,
    points: Vec<Point>,
    x_max: f64,
    /// Consecutive points further apart than this are not joined.
    max_step: f64,
    /// Week marks: x and label.
    marks: Vec<(f64, String)>,
    top: f64,
}

fn hours_between(a: NaiveDateTime, b: NaiveDateTime) -> f64 {
    (b - a).num_minutes() as f64 / 60.0
}

fn daily_panel(timestamps: &[NaiveDateTime], actual: &[f64], predicted: &[f64]) -> Panel {
    let mut days: Vec<(NaiveDate, f64, f64)> = Vec::new();
    for ((t, a), p) in timestamps.iter().zip(actual).zip(predicted) {
        match days.last_mut() {
            Some((day, sum_a, sum_p)) if *day == t.date() => {
                *sum_a += a;
                *sum_p += p.max(0.0);
            }
            _ => days.push((t.date(), *a, p.max(0.0))),
        }
    }
    let first = days.first().map_or(NaiveDate::MIN, |d| d.0);
    let x = |d: NaiveDate| (d - first).num_days() as f64;
    Panel {
        title: "Daily totals over the holdout",
        y_label: "rentals per day",
        points: days.iter().map(|(d, a, p)| (x(*d), *a, *p)).collect(),
        x_max: days.last().map_or(1.0, |d| x(d.0).max(1.0)),
        max_step: 1.0,
        marks: days
            .iter()
            .filter(|(d, _, _)| d.weekday() == Weekday::Mon)
            .map(|(d, _, _)| (x(*d), d.format("%b %d").to_string()))
            .collect(),
        top: TOP,
    }
}

fn hourly_panel(
    timestamps: &[NaiveDateTime],
    actual: &[f64],
    predicted: &[f64],
    top: f64,
) -> Panel {
    let first = timestamps.first().copied().unwrap_or_default();
    let last = timestamps.last().copied().unwrap_or_default();
    Panel {
        title: "Hourly, last two weeks",
        y_label: "rentals per hour",
        points: timestamps
            .iter()
            .zip(actual)
            .zip(predicted)
            .map(|((t, a), p)| (hours_between(first, *t), *a, p.max(0.0)))
            .collect(),
        x_max: hours_between(first, last).max(1.0),
        max_step: 1.0,
        marks: timestamps
            .iter()
            .filter(|t| t.weekday() == Weekday::Mon && t.time() == chrono::NaiveTime::MIN)
            .map(|t| (hours_between(first, *t), t.format("%b %d").to_string()))
            .collect(),
        top,
    }
}

/// The chart for a holdout (timestamps ascending).
pub fn holdout_svg(
    timestamps: &[NaiveDateTime],
    actual: &[f64],
    predicted: &[f64],
    headline: &str,
) -> String {
    let n = timestamps.len().min(actual.len()).min(predicted.len());
    let (timestamps, actual, predicted) = (&timestamps[..n], &actual[..n], &predicted[..n]);
    let zoom_from = timestamps.last().map_or(0, |last| {
        timestamps.partition_point(|t| (*last - *t).num_days() >= 14)
    });
    let panels = [
        daily_panel(timestamps, actual, predicted),
        hourly_panel(
            &timestamps[zoom_from..],
            &actual[zoom_from..],
            &predicted[zoom_from..],
            TOP + PANEL_HEIGHT + GAP,
        ),
    ];
    let height = TOP + 2.0 * PANEL_HEIGHT + GAP + 60.0;
    let mut svg = open_svg(height, headline);
    for panel in &panels {
        draw_panel(&mut svg, panel);
    }
    let y = height - 20.0;
    let _ = writeln!(
        svg,
        r#"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="{ACTUAL_COLOUR}" stroke-width="2"/><text x="{}" y="{}">actual</text><line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{PREDICTED_COLOUR}" stroke-width="2"/><text x="{}" y="{}">predicted</text>"#,
        LEFT + 30.0,
        LEFT + 36.0,
        y + 4.0,
        LEFT + 100.0,
        LEFT + 130.0,
        LEFT + 136.0,
        y + 4.0
    );
    svg.push_str("</svg>\n");
    svg
}

fn draw_panel(svg: &mut String, panel: &Panel) {
    let plot_width = WIDTH - LEFT - RIGHT;
    let max = panel
        .points
        .iter()
        .map(|p| p.1.max(p.2))
        .fold(1.0_f64, f64::max);
    let y_max = nice_ceiling(max);
    let x = |v: f64| LEFT + plot_width * v / panel.x_max;
    let y = |v: f64| panel.top + PANEL_HEIGHT * (1.0 - v.max(0.0) / y_max);
    let bottom = panel.top + PANEL_HEIGHT;
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
        panel.top - 10.0,
        panel.title
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
    for (at, label) in &panel.marks {
        let _ = writeln!(
            svg,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{}" y2="{bottom}" stroke="#ddd"/><text x="{xx:.1}" y="{}" text-anchor="middle" fill="#555">{label}</text>"##,
            panel.top,
            bottom + 16.0,
            xx = x(*at)
        );
    }
    for (pick, colour) in [(1_usize, ACTUAL_COLOUR), (2, PREDICTED_COLOUR)] {
        let value = |p: &Point| if pick == 1 { p.1 } else { p.2 };
        let mut segment = String::new();
        let mut previous: Option<f64> = None;
        for point in &panel.points {
            if previous.is_some_and(|prev| point.0 - prev > panel.max_step + 1e-9) {
                flush(svg, &mut segment, colour);
            }
            let _ = write!(segment, "{:.1},{:.1} ", x(point.0), y(value(point)));
            previous = Some(point.0);
        }
        flush(svg, &mut segment, colour);
    }
    let middle = panel.top + PANEL_HEIGHT / 2.0;
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{}" width="{plot_width}" height="{PANEL_HEIGHT}" fill="none" stroke="#999"/><text x="16" y="{middle:.1}" transform="rotate(-90 16 {middle:.1})" text-anchor="middle">{}</text>"##,
        panel.top, panel.y_label
    );
}

fn flush(svg: &mut String, segment: &mut String, colour: &str) {
    if !segment.is_empty() {
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.2" points="{}"/>"#,
            segment.trim_end()
        );
        segment.clear();
    }
}

/// An SVG document of the chart width and `height`, white, with `title` at the top left.
fn open_svg(height: f64, title: &str) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="24" font-size="16" font-weight="bold">{}</text>"#,
        escape(title)
    );
    svg
}

/// A number with at most three decimals and no trailing zeros (`23`, `0.42`).
fn compact(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
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

/// Mean |SHAP| per feature as horizontal bars, largest first (`features` already sorted).
pub fn importance_svg(features: &[(String, f64)], title: &str) -> String {
    let bar_height = 22.0;
    let label_width = 140.0;
    let plot_width = WIDTH - label_width - RIGHT - 80.0;
    let height = TOP + bar_height * features.len() as f64 + 40.0;
    let max = features.iter().map(|f| f.1).fold(0.0_f64, f64::max);
    let scale = if max > 0.0 { plot_width / max } else { 0.0 };
    let mut svg = open_svg(height, title);
    for (index, (name, value)) in features.iter().enumerate() {
        let y = TOP + bar_height * index as f64;
        let width = value * scale;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{label_width}" y="{:.1}" width="{width:.1}" height="{:.1}" fill="{PREDICTED_COLOUR}"/><text x="{:.1}" y="{:.1}">{value:.2}</text>"#,
            label_width - 8.0,
            y + bar_height * 0.7,
            escape(name),
            y + 3.0,
            bar_height - 6.0,
            label_width + width + 6.0,
            y + bar_height * 0.7,
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A SHAP dependence chart: each row's contribution of one feature against the feature's
/// value (the normalized value the model sees), one dot per row.
pub fn dependence_svg(feature: &str, values: &[f64], contributions: &[f64], title: &str) -> String {
    let height = TOP + PANEL_HEIGHT + 60.0;
    let plot_width = WIDTH - LEFT - RIGHT;
    let points: Vec<(f64, f64)> = values
        .iter()
        .zip(contributions)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (*x, *y))
        .collect();
    let (x_min, x_max) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.0), hi.max(p.0))
        });
    let y_abs = points.iter().map(|p| p.1.abs()).fold(0.0_f64, f64::max);
    let y_max = if y_abs > 0.0 {
        nice_ceiling(y_abs)
    } else {
        1.0
    };
    let span = if x_max > x_min { x_max - x_min } else { 1.0 };
    let x = |v: f64| LEFT + plot_width * (v - x_min) / span;
    let y = |v: f64| TOP + PANEL_HEIGHT * (0.5 - 0.5 * v / y_max);
    let mut svg = open_svg(height, title);
    for tick in [-1.0, -0.5, 0.0, 0.5, 1.0] {
        let value = y_max * tick;
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="{}"/><text x="{}" y="{:.1}" text-anchor="end">{value:.0}</text>"##,
            WIDTH - RIGHT,
            if tick == 0.0 { "#999" } else { "#eee" },
            LEFT - 6.0,
            y(value) + 4.0,
            yy = y(value)
        );
    }
    let mut dots = String::new();
    for (vx, vy) in &points {
        let _ = write!(dots, "M{:.1} {:.1}h0", x(*vx), y(*vy));
    }
    // One path of zero-length segments with round caps: a dot per row, one element in all.
    let _ = writeln!(
        svg,
        r#"<path d="{dots}" stroke="{PREDICTED_COLOUR}" stroke-opacity="0.35" stroke-width="4" stroke-linecap="round" fill="none"/>"#
    );
    let bottom = TOP + PANEL_HEIGHT;
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_width}" height="{PANEL_HEIGHT}" fill="none" stroke="#999"/><text x="{LEFT}" y="{:.1}">{}</text><text x="{}" y="{:.1}" text-anchor="end">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle">{} (model input)</text><text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">contribution (rentals)</text>"##,
        bottom + 16.0,
        compact(x_min),
        WIDTH - RIGHT,
        bottom + 16.0,
        compact(x_max),
        LEFT + plot_width / 2.0,
        bottom + 36.0,
        escape(feature),
        TOP + PANEL_HEIGHT / 2.0,
        TOP + PANEL_HEIGHT / 2.0,
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};

    fn series(hours: i64, skip: impl Fn(i64) -> bool) -> (Vec<NaiveDateTime>, Vec<f64>, Vec<f64>) {
        let start = NaiveDate::from_ymd_opt(2012, 9, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let timestamps: Vec<NaiveDateTime> = (0..hours)
            .filter(|h| !skip(*h))
            .map(|h| start + Duration::hours(h))
            .collect();
        let actual: Vec<f64> = timestamps
            .iter()
            .map(|t| f64::from(chrono::Timelike::hour(t)) * 10.0)
            .collect();
        let predicted = actual.iter().map(|a| a * 0.9).collect();
        (timestamps, actual, predicted)
    }

    #[test]
    fn both_series_in_both_panels_with_week_marks_and_an_escaped_title() {
        let (t, a, p) = series(30 * 24, |_| false);
        let svg = holdout_svg(&t, &a, &p, "MAE <40> & more");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert!(svg.contains("Sep 03")); // the first Monday
        assert!(svg.contains("MAE &lt;40&gt; &amp; more"));
        // Daily totals: 24 hours of 0..230 step 10 sum to 2760.
        assert!(svg.contains("rentals per day") && svg.contains("rentals per hour"));
    }

    #[test]
    fn missing_hours_break_the_lines() {
        // Two missing hours in the last two weeks: the hourly panel draws two segments per series.
        let (t, a, p) = series(30 * 24, |h| h == 25 * 24 || h == 25 * 24 + 1);
        let svg = holdout_svg(&t, &a, &p, "gap");
        assert_eq!(svg.matches("<polyline").count(), 6);
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(977.0), 1000.0);
        assert_eq!(nice_ceiling(230.0), 250.0);
        assert_eq!(nice_ceiling(8714.0), 10000.0);
    }
}
