//! The timeline: inline SVG, one row per account or per rule, x = event time, one mark
//! per alert (a dot, or a bar from its first to its last event), coloured by severity,
//! with the alert's title and times as the hover title.
//!
//! Event time, not the time of the run: a trail read a week late must show the attack's
//! own order. Plain SVG elements and CSS classes, so the page needs no script.

use super::{esc, short, SEVERITIES};
use crate::alert::Alert;
use crate::event::format_time;
use std::fmt::Write;

const WIDTH: f64 = 1200.0;
/// Left column for the row labels.
const LABEL: f64 = 280.0;
const RIGHT: f64 = 20.0;
const ROW: f64 = 22.0;
/// Room for the tick labels above the rows.
const AXIS: f64 = 24.0;
/// Longest row label drawn, in characters (the full one is its hover title).
const LABEL_CHARS: usize = 40;
/// Tick spacings tried, smallest first, in seconds.
const STEPS: &[i64] = &[
    1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172_800,
    604_800, 2_592_000, 7_776_000, 31_536_000,
];
/// Most ticks on the axis.
const MAX_TICKS: i64 = 8;

/// An alert placed in time: its first and last event (Unix seconds).
pub(super) struct Mark<'a> {
    pub alert: &'a Alert,
    pub first: i64,
    pub last: i64,
}

pub(super) struct Row<'a> {
    pub label: String,
    pub marks: Vec<Mark<'a>>,
}

/// The spacing that puts at most [`MAX_TICKS`] ticks on `span` seconds.
fn step_for(span: i64) -> i64 {
    let year = 31_536_000;
    STEPS
        .iter()
        .copied()
        .find(|s| span / s <= MAX_TICKS)
        .unwrap_or_else(|| year * (span / year / MAX_TICKS + 1))
}

/// Tick times within `[lo, hi]`, on multiples of the step, with their labels: the date
/// where it changes (and on the first), the time of day below a day's spacing.
fn ticks(lo: i64, hi: i64) -> Vec<(i64, String)> {
    let step = step_for(hi - lo);
    let mut out = Vec::new();
    let mut t = lo.div_euclid(step) * step;
    if t < lo {
        t += step;
    }
    let mut last_day = String::new();
    while t <= hi {
        let full = format_time(t); // YYYY-MM-DDTHH:MM:SSZ
        let (day, clock) = (&full[..10], &full[11..19]);
        let label = if step >= 86_400 {
            day.to_string()
        } else {
            let clock = if step < 60 { clock } else { &clock[..5] };
            if day == last_day {
                clock.to_string()
            } else {
                format!("{} {clock}", &day[5..])
            }
        };
        last_day = day.to_string();
        out.push((t, label));
        t += step;
    }
    out
}

/// The hover title of a mark.
fn hover(m: &Mark) -> String {
    let a = m.alert;
    let when = if m.first == m.last {
        format_time(m.first)
    } else {
        format!("{} .. {}", format_time(m.first), format_time(m.last))
    };
    format!(
        "[{}] {}\n{when}\n{} · account {} · {} event(s)",
        a.severity.to_string().to_uppercase(),
        short(&a.title, 300),
        a.rule_id,
        a.account_id.as_deref().unwrap_or("-"),
        a.count
    )
}

/// One SVG of `rows` over event time `[lo, hi]` (widened a little so end marks show).
pub(super) fn svg(out: &mut String, name: &str, rows: &[Row], lo: i64, hi: i64) {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 60, lo + 60)
    };
    let pad = ((hi - lo) / 40).max(1);
    let (lo, hi) = (lo - pad, hi + pad);
    let (x0, x1) = (LABEL, WIDTH - RIGHT);
    let x = |t: i64| x0 + (t - lo) as f64 / (hi - lo) as f64 * (x1 - x0);
    let height = AXIS + ROW * rows.len() as f64 + 6.0;
    let _ = write!(
        out,
        r#"<svg class="timeline" data-rows="{}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="alerts per {} over event time">"#,
        rows.len(),
        esc(name)
    );
    let bottom = height - 4.0;
    for (t, label) in ticks(lo, hi) {
        let tx = x(t);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{bottom:.1}"/><text class="tick" x="{tx:.1}" y="{:.1}">{}</text>"#,
            AXIS - 6.0,
            AXIS - 10.0,
            esc(&label)
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let top = AXIS + ROW * i as f64;
        let y = top + ROW / 2.0;
        let _ = write!(
            out,
            r#"<rect class="band{}" x="0" y="{top:.1}" width="{WIDTH}" height="{ROW}"/><text class="label" x="6" y="{:.1}"><title>{}</title>{}</text>"#,
            if i % 2 == 1 { " odd" } else { "" },
            y + 4.0,
            esc(&row.label),
            esc(&short(&row.label, LABEL_CHARS))
        );
        // The most urgent marks drawn last, on top.
        for sev in SEVERITIES.iter().rev() {
            for m in row.marks.iter().filter(|m| m.alert.severity == *sev) {
                let class = format!("mark sev-{sev}");
                let title = esc(&hover(m));
                if m.last > m.first {
                    let _ = write!(
                        out,
                        r#"<line class="{class} span" x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"><title>{title}</title></line>"#,
                        x(m.first),
                        x(m.last)
                    );
                } else {
                    let _ = write!(
                        out,
                        r#"<circle class="{class}" cx="{:.1}" cy="{y:.1}" r="5"><title>{title}</title></circle>"#,
                        x(m.first)
                    );
                }
            }
        }
    }
    out.push_str("</svg>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_times_and_say_the_date_where_it_changes() {
        let t = |s: &str| crate::event::parse_time(s).unwrap();
        let got = ticks(t("2024-11-05T23:12:00Z"), t("2024-11-06T00:50:00Z"));
        let labels: Vec<&str> = got.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "11-05 23:15",
                "23:30",
                "23:45",
                "11-06 00:00",
                "00:15",
                "00:30",
                "00:45"
            ]
        );
        let days = ticks(t("2024-01-01T06:00:00Z"), t("2024-01-20T00:00:00Z"));
        let labels: Vec<&str> = days.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            labels,
            ["2024-01-04", "2024-01-11", "2024-01-18"],
            "weekly, from the epoch"
        );
        assert_eq!(step_for(0), 1);
        assert!(ticks(0, 40 * 31_536_000).len() <= MAX_TICKS as usize + 1);
    }
}
