//! A self-contained SVG chart of a run's timeline: calls waiting per service (left axis) and the rolling service
//! level of all services (right axis, dashed) over simulated time. No external assets, no dependencies.

use std::fmt::Write as _;

use crate::scenario::Model;
use crate::simulation::Sample;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 70.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];
const LEVEL_COLOR: &str = "#111111";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round step for an axis spanning `range` with about `ticks` ticks.
fn nice_step(range: f64, ticks: f64) -> f64 {
    let raw = (range / ticks).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// The chart of a timeline.
pub fn chart(model: &Model, timeline: &[Sample], title: &str) -> String {
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let end_seconds = timeline
        .last()
        .map(|s| s.at)
        .unwrap_or(0.0)
        .max(model.duration.0 as f64 / 1e6)
        .max(1.0);
    let (time_unit, time_name) = if end_seconds >= 3.0 * 3600.0 {
        (3600.0, "hours")
    } else {
        (60.0, "minutes")
    };
    let max_waiting = timeline
        .iter()
        .flat_map(|s| s.waiting.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let waiting_step = nice_step(max_waiting, 5.0).max(1.0);
    let waiting_top = (max_waiting / waiting_step).ceil() * waiting_step;
    let x = |seconds: f64| LEFT + plot_width * seconds / end_seconds;
    let y_waiting = |n: f64| TOP + plot_height * (1.0 - n / waiting_top);
    let y_level = |fraction: f64| TOP + plot_height * (1.0 - fraction);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    // Grid and axes.
    let mut tick = 0.0;
    while tick <= waiting_top + 1e-9 {
        let y = y_waiting(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{tick}</text>"##,
            LEFT + plot_width,
            LEFT - 6.0,
            y + 4.0
        );
        tick += waiting_step;
    }
    for percent in (0..=100).step_by(20) {
        let y = y_level(f64::from(percent) / 100.0);
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{percent}%</text>"#,
            LEFT + plot_width + 6.0,
            y + 4.0
        );
    }
    let time_step = nice_step(end_seconds / time_unit, 8.0);
    let mut t = 0.0;
    while t * time_unit <= end_seconds + 1e-9 {
        let px = x(t * time_unit);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#f0f0f0"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_height,
            TOP + plot_height + 18.0,
            (t * 1000.0).round() / 1000.0
        );
        t += time_step;
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_width}" height="{plot_height}" fill="none" stroke="#888"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">simulated time ({time_name})</text>"#,
        LEFT + plot_width / 2.0,
        HEIGHT - 18.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">calls waiting</text>"#,
        TOP + plot_height / 2.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate({:.1} {:.1}) rotate(90)" text-anchor="middle">rolling service level ({} min)</text>"#,
        WIDTH - 16.0,
        TOP + plot_height / 2.0,
        model.rolling_window.0 / 60_000_000
    );
    // Series: waiting per service, then the rolling service level.
    for (index, service) in model.services.iter().enumerate() {
        let points: Vec<String> = timeline
            .iter()
            .map(|s| {
                format!(
                    "{:.1},{:.1}",
                    x(s.at),
                    y_waiting(f64::from(s.waiting[index]))
                )
            })
            .collect();
        let color = COLORS[index % COLORS.len()];
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"><title>{} waiting</title></polyline>"#,
            points.join(" "),
            escape(&service.name)
        );
    }
    // The level is drawn in segments: where no call stopped waiting in the window it is undefined.
    let mut segment: Vec<String> = Vec::new();
    let mut segments = Vec::new();
    for sample in timeline {
        match sample.rolling_service_level {
            Some(level) => segment.push(format!("{:.1},{:.1}", x(sample.at), y_level(level))),
            None if !segment.is_empty() => segments.push(std::mem::take(&mut segment)),
            None => {}
        }
    }
    if !segment.is_empty() {
        segments.push(segment);
    }
    for segment in segments {
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{LEVEL_COLOR}" stroke-width="1.5" stroke-dasharray="5 3" points="{}"><title>rolling service level</title></polyline>"#,
            segment.join(" ")
        );
    }
    // Legend.
    let mut legend_x = LEFT;
    let legend_y = TOP - 12.0;
    let mut entries: Vec<(String, &str, bool)> = model
        .services
        .iter()
        .enumerate()
        .map(|(index, s)| {
            (
                format!("{} waiting", s.name),
                COLORS[index % COLORS.len()],
                false,
            )
        })
        .collect();
    entries.push(("service level".to_string(), LEVEL_COLOR, true));
    for (label, color, dashed) in entries {
        let dash = if dashed {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r#"<line x1="{legend_x:.1}" y1="{legend_y:.1}" x2="{:.1}" y2="{legend_y:.1}" stroke="{color}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            legend_x + 22.0,
            legend_x + 26.0,
            legend_y + 4.0,
            escape(&label)
        );
        legend_x += 40.0 + 7.0 * label.len() as f64;
    }
    let _ = writeln!(svg, "</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b;
        assert!(close(nice_step(10.0, 5.0), 2.0));
        assert!(close(nice_step(37.0, 5.0), 10.0));
        assert!(close(nice_step(8.0, 8.0), 1.0));
        assert!(close(nice_step(0.3, 5.0), 0.1));
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
