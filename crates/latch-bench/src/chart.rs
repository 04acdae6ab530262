//! SVG charts, written by hand (no network, no plotting library): horizontal bars on a log
//! scale, one per approach, with the p99 as a whisker when there is one.

use std::fmt::Write as _;

/// One bar.
pub struct Bar {
    /// The label on the left.
    pub label: String,
    /// The bar's value (the median, or the delay), in the chart's unit.
    pub value: f64,
    /// A whisker to this value (the p99), if any.
    pub p99: Option<f64>,
    /// The bar's colour, by approach family.
    pub color: &'static str,
    /// Text after the bar (the value as people read it).
    pub note: String,
}

const PLOT_W: f64 = 560.0;
const NOTE_W: f64 = 110.0;
/// Roughly the width of a character of the 12 px labels.
const CHAR_W: f64 = 6.8;
const ROW_H: f64 = 26.0;
const TOP: f64 = 48.0;

/// The decades an axis spans: from one below the smallest value (two below when it sits near
/// a decade, so no bar is a sliver) to the one above the largest.
fn decades(bars: &[Bar]) -> (i32, i32) {
    let values = bars.iter().flat_map(|b| [Some(b.value), b.p99]).flatten();
    let (lo, hi) = values
        .filter(|v| *v > 0.0)
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo > hi { (1.0, 10.0) } else { (lo, hi) };
    let mut d0 = lo.log10().floor() as i32;
    if lo / 10f64.powi(d0) < 2.0 {
        d0 -= 1;
    }
    (d0, (hi.log10().ceil() as i32).max(d0 + 1))
}

/// A bar chart with a log10 x axis. `tick` names a power of ten (the chart's unit is the
/// caller's: `tick(-6)` might be `1 µs`).
pub fn log_bars(title: &str, bars: &[Bar], tick: impl Fn(i32) -> String) -> String {
    let (d0, d1) = decades(bars);
    let longest = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0);
    let label_w = (longest as f64 * CHAR_W + 16.0).max(120.0);
    let width = label_w + PLOT_W + NOTE_W;
    let x = |v: f64| {
        let t = (v.max(10f64.powi(d0)).log10() - f64::from(d0)) / f64::from(d1 - d0);
        label_w + t * PLOT_W
    };
    let height = TOP + ROW_H * bars.len() as f64 + 40.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let axis_y = TOP + ROW_H * bars.len() as f64 + 4.0;
    // Label every decade, or every other one when they would crowd.
    let step = if PLOT_W / f64::from(d1 - d0) < 60.0 {
        2
    } else {
        1
    };
    for d in d0..=d1 {
        let tx = x(10f64.powi(d));
        let _ = write!(
            s,
            r##"<line x1="{tx:.1}" y1="{TOP}" x2="{tx:.1}" y2="{axis_y}" stroke="#ddd"/>"##
        );
        if (d - d0) % step == 0 {
            let _ = write!(
                s,
                r##"<text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                axis_y + 16.0,
                esc(&tick(d))
            );
        }
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">log scale</text>"##,
        label_w + PLOT_W / 2.0,
        axis_y + 32.0
    );
    for (i, b) in bars.iter().enumerate() {
        bar(&mut s, b, TOP + ROW_H * i as f64, label_w, &x);
    }
    s.push_str("</svg>\n");
    s
}

fn bar(s: &mut String, b: &Bar, y: f64, label_w: f64, x: &impl Fn(f64) -> f64) {
    let w = (x(b.value) - label_w).max(1.0);
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
        label_w - 8.0,
        y + ROW_H * 0.62,
        esc(&b.label)
    );
    let _ = write!(
        s,
        r#"<rect x="{label_w:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}"/>"#,
        y + 4.0,
        ROW_H - 8.0,
        b.color
    );
    let mut end = label_w + w;
    if let Some(p) = b.p99.filter(|p| *p > b.value) {
        let px = x(p);
        let mid = y + ROW_H / 2.0;
        let _ = write!(
            s,
            r##"<line x1="{end:.1}" y1="{mid:.1}" x2="{px:.1}" y2="{mid:.1}" stroke="#333"/><line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="#333"/>"##,
            mid - 5.0,
            mid + 5.0
        );
        end = px;
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" fill="#222">{}</text>"##,
        end + 6.0,
        y + ROW_H * 0.62,
        esc(&b.note)
    );
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(label: &str, value: f64, p99: Option<f64>) -> Bar {
        Bar {
            label: label.into(),
            value,
            p99,
            color: "red",
            note: String::new(),
        }
    }

    #[test]
    fn bars_are_placed_on_a_log_scale() {
        let bars = [b("a", 10.0, Some(20.0)), b("b <c>", 1000.0, None)];
        let svg = log_bars("t", &bars, |d| format!("1e{d}"));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("b &lt;c&gt;"));
        // 10 sits on a decade, so the axis starts one lower: 10^0 to 10^3. The 1000 bar spans
        // the whole plot, the 10 bar a third of it.
        assert!(svg.contains(">1e0<") && svg.contains(">1e3<"), "{svg}");
        assert!(svg.contains(r#"width="560.0""#), "{svg}");
        assert!(svg.contains(r#"width="186.7""#), "{svg}");
    }

    #[test]
    fn crowded_axes_label_every_other_decade() {
        let bars = [b("a", 1e-5, None), b("b", 1e6, None)];
        let svg = log_bars("t", &bars, |d| format!("1e{d}"));
        assert!(svg.contains(">1e-6<") && !svg.contains(">1e-5<"), "{svg}");
    }
}
