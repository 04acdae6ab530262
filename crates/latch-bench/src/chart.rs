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

const WIDTH: f64 = 960.0;
const LABEL_W: f64 = 360.0;
const NOTE_W: f64 = 130.0;
const ROW_H: f64 = 26.0;
const TOP: f64 = 48.0;

/// A bar chart with a log10 x axis from the decade below the smallest value to the decade
/// above the largest. `tick` names a power of ten (`-6` is `1 µs` when the unit is seconds).
pub fn log_bars(title: &str, bars: &[Bar], tick: impl Fn(i32) -> String) -> String {
    let values = bars.iter().flat_map(|b| [Some(b.value), b.p99]).flatten();
    let (lo, hi) = values
        .filter(|v| *v > 0.0)
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo > hi { (1.0, 10.0) } else { (lo, hi) };
    let (d0, d1) = (
        lo.log10().floor() as i32,
        (hi.log10().ceil() as i32).max(lo.log10().floor() as i32 + 1),
    );
    let plot_w = WIDTH - LABEL_W - NOTE_W;
    let x = |v: f64| {
        let t = (v.max(10f64.powi(d0)).log10() - f64::from(d0)) / f64::from(d1 - d0);
        LABEL_W + t * plot_w
    };
    let height = TOP + ROW_H * bars.len() as f64 + 40.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let axis_y = TOP + ROW_H * bars.len() as f64 + 4.0;
    for d in d0..=d1 {
        let tx = x(10f64.powi(d));
        let _ = write!(
            s,
            r##"<line x1="{tx:.1}" y1="{TOP}" x2="{tx:.1}" y2="{axis_y}" stroke="#ddd"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            axis_y + 16.0,
            esc(&tick(d))
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">log scale</text>"##,
        LABEL_W + plot_w / 2.0,
        axis_y + 32.0
    );
    for (i, b) in bars.iter().enumerate() {
        let y = TOP + ROW_H * i as f64;
        let w = (x(b.value) - LABEL_W).max(1.0);
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LABEL_W - 8.0,
            y + ROW_H * 0.62,
            esc(&b.label)
        );
        let _ = write!(
            s,
            r#"<rect x="{LABEL_W}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}"/>"#,
            y + 4.0,
            ROW_H - 8.0,
            b.color
        );
        let mut end = LABEL_W + w;
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
    s.push_str("</svg>\n");
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_placed_on_a_log_scale() {
        let bars = [
            Bar {
                label: "a".into(),
                value: 10.0,
                p99: Some(20.0),
                color: "red",
                note: "10".into(),
            },
            Bar {
                label: "b <c>".into(),
                value: 1000.0,
                p99: None,
                color: "blue",
                note: "1k".into(),
            },
        ];
        let svg = log_bars("t", &bars, |d| format!("1e{d}"));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("b &lt;c&gt;"));
        // Decades 10^1 to 10^3: the 1000 bar spans the whole plot, the 10 bar is a sliver.
        assert!(svg.contains(">1e1<") && svg.contains(">1e3<"));
        assert!(svg.contains(r#"width="470.0""#), "{svg}");
        assert!(svg.contains(r#"width="1.0""#), "{svg}");
    }
}
