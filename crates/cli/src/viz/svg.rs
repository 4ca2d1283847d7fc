//! A small SVG writer and a 2-D chart on top of it: axes with "nice"
//! ticks, grid, axis labels, a title, a legend, and data drawn as paths
//! (lines, step lines, vertical bars, point marks) clipped to the plot
//! area. Output is well-formed XML (text is escaped).
use std::fmt::Write as _;

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Style {
    /// Horizontal then vertical steps (a value that holds until the next).
    Step,
    /// Each item is a vertical bar from `y` to `y2` at `x` (a segment).
    Bars,
    /// Each point is a full-height vertical line at `x` (an event).
    Events,
}

/// One data series.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub style: Style,
    pub width: f64,
    pub dash: Option<&'static str>,
    /// Also draw a small cross at each point's (x, y2), so that sparse
    /// points stand out at any scale.
    pub marker: bool,
    /// (x, y, y2); y2 is used by [`Style::Bars`] only.
    pub points: Vec<(f64, f64, f64)>,
}

impl Series {
    pub fn new(name: &str, color: &'static str, style: Style) -> Series {
        Series {
            name: name.to_string(),
            color,
            style,
            width: 1.5,
            dash: None,
            marker: false,
            points: Vec::new(),
        }
    }
    pub fn width(mut self, w: f64) -> Series {
        self.width = w;
        self
    }
    pub fn dash(mut self, d: &'static str) -> Series {
        self.dash = Some(d);
        self
    }
    pub fn marker(mut self) -> Series {
        self.marker = true;
        self
    }
    pub fn push(&mut self, x: f64, y: f64) {
        self.points.push((x, y, y));
    }
    pub fn push_bar(&mut self, x: f64, y: f64, y2: f64) {
        self.points.push((x, y, y2));
    }
}

/// How tick labels of an axis are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Plain numbers.
    Plain,
    /// Bytes with k/M/G suffixes (decimal).
    Bytes,
}

/// A chart: title, axis labels and series.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub subtitle: Option<String>,
    pub x_label: String,
    pub y_label: String,
    pub y_unit: Unit,
    pub width: f64,
    pub height: f64,
    pub series: Vec<Series>,
    /// Force the x range to start at zero.
    pub x_from_zero: bool,
    /// Force the y range to start at zero.
    pub y_from_zero: bool,
}

/// "Nice" tick step for a range, about `n` ticks.
fn nice_step(range: f64, n: f64) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / n;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f < 1.5 {
        1.0
    } else if f < 3.0 {
        2.0
    } else if f < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn fmt_num(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{v:.decimals$}")
}

/// Formats a byte count for a tick label.
pub fn fmt_bytes(v: f64, step: f64) -> String {
    let (div, suffix) = if step >= 1e9 || v.abs() >= 1e9 {
        (1e9, " GB")
    } else if step >= 1e5 || v.abs() >= 1e6 {
        (1e6, " MB")
    } else if step >= 100.0 || v.abs() >= 1e3 {
        (1e3, " kB")
    } else {
        (1.0, " B")
    };
    if v == 0.0 {
        return "0".into();
    }
    format!("{}{suffix}", fmt_num(v / div, step / div))
}

impl Chart {
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Chart {
        Chart {
            title: title.to_string(),
            subtitle: None,
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            y_unit: Unit::Plain,
            width: 960.0,
            height: 560.0,
            series: Vec::new(),
            x_from_zero: true,
            y_from_zero: true,
        }
    }

    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let mut xr = (f64::INFINITY, f64::NEG_INFINITY);
        let mut yr = (f64::INFINITY, f64::NEG_INFINITY);
        for s in &self.series {
            for &(x, y, y2) in &s.points {
                if !(x.is_finite() && y.is_finite() && y2.is_finite()) {
                    continue;
                }
                xr = (xr.0.min(x), xr.1.max(x));
                if s.style != Style::Events {
                    yr = (yr.0.min(y.min(y2)), yr.1.max(y.max(y2)));
                }
            }
        }
        if !xr.0.is_finite() {
            xr = (0.0, 1.0);
        }
        if !yr.0.is_finite() {
            yr = (0.0, 1.0);
        }
        if self.x_from_zero {
            xr.0 = xr.0.min(0.0);
        }
        if self.y_from_zero {
            yr.0 = yr.0.min(0.0);
        }
        if xr.1 - xr.0 <= 0.0 {
            xr.1 = xr.0 + 1.0;
        }
        if yr.1 - yr.0 <= 0.0 {
            yr.1 = yr.0 + 1.0;
        }
        // A little headroom above the data.
        yr.1 += (yr.1 - yr.0) * 0.04;
        (xr, yr)
    }

    /// Renders the chart as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        let (w, h) = (self.width, self.height);
        let sub_lines = self.subtitle.as_ref().map_or(0, |s| s.lines().count());
        let (ml, mr, mt, mb) = (90.0, 30.0, 50.0 + 16.0 * sub_lines as f64, 60.0);
        let (pw, ph) = (w - ml - mr, h - mt - mb);
        let ((x0, x1), (y0, y1)) = self.ranges();
        let sx = |x: f64| ml + (x - x0) / (x1 - x0) * pw;
        let sy = |y: f64| mt + ph - (y - y0) / (y1 - y0) * ph;

        let mut o = String::new();
        let _ = writeln!(o, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        let _ = writeln!(
            o,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
        );
        let _ = writeln!(o, "<title>{}</title>", escape(&self.title));
        let _ = writeln!(
            o,
            r#"<defs><clipPath id="plot-area"><rect x="{ml}" y="{mt}" width="{pw}" height="{ph}"/></clipPath></defs>"#
        );
        let _ = writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            o,
            r#"<text class="title" x="{}" y="24" text-anchor="middle" font-size="16" font-weight="bold">{}</text>"#,
            w / 2.0,
            escape(&self.title)
        );
        for (i, line) in self.subtitle.iter().flat_map(|s| s.lines()).enumerate() {
            let _ = writeln!(
                o,
                r##"<text class="subtitle" x="{}" y="{}" text-anchor="middle" font-size="12" fill="#444">{}</text>"##,
                w / 2.0,
                44 + 16 * i,
                escape(line)
            );
        }

        // Grid and ticks.
        let _ = writeln!(o, r##"<g class="axes" stroke="#000" fill="none">"##);
        let _ = writeln!(
            o,
            r#"<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" stroke-width="1"/>"#
        );
        let _ = writeln!(o, "</g>");
        let _ = writeln!(o, r#"<g class="ticks" font-size="11">"#);
        let xs = nice_step(x1 - x0, 10.0);
        let mut t = (x0 / xs).ceil() * xs;
        while t <= x1 + xs * 1e-9 {
            let x = sx(t);
            let _ = writeln!(
                o,
                r##"<line x1="{x:.1}" y1="{mt}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#000"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                mt + ph,
                mt + ph,
                mt + ph + 5.0,
                mt + ph + 18.0,
                escape(&fmt_num(t, xs))
            );
            t += xs;
        }
        let ys = nice_step(y1 - y0, 8.0);
        let mut t = (y0 / ys).ceil() * ys;
        while t <= y1 + ys * 1e-9 {
            let y = sy(t);
            let label = match self.y_unit {
                Unit::Plain => fmt_num(t, ys),
                Unit::Bytes => fmt_bytes(t, ys),
            };
            let _ = writeln!(
                o,
                r##"<line x1="{ml}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><line x1="{:.1}" y1="{y:.1}" x2="{ml}" y2="{y:.1}" stroke="#000"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                ml + pw,
                ml - 5.0,
                ml - 8.0,
                y + 4.0,
                escape(&label)
            );
            t += ys;
        }
        let _ = writeln!(o, "</g>");
        let _ = writeln!(
            o,
            r#"<text class="xlabel" x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13">{}</text>"#,
            ml + pw / 2.0,
            h - 18.0,
            escape(&self.x_label)
        );
        let _ = writeln!(
            o,
            r#"<text class="ylabel" transform="translate(20 {:.1}) rotate(-90)" text-anchor="middle" font-size="13">{}</text>"#,
            mt + ph / 2.0,
            escape(&self.y_label)
        );

        // Data.
        let _ = writeln!(o, r#"<g class="data" clip-path="url(#plot-area)">"#);
        for s in &self.series {
            let mut d = String::new();
            let pts = s
                .points
                .iter()
                .filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite());
            match s.style {
                Style::Step => {
                    let mut prev_y: Option<f64> = None;
                    for &(x, y, _) in pts {
                        match prev_y {
                            None => {
                                let _ = write!(d, "M{:.1} {:.1}", sx(x), sy(y));
                            }
                            Some(_) => {
                                let _ = write!(d, "H{:.1}V{:.1}", sx(x), sy(y));
                            }
                        }
                        prev_y = Some(y);
                    }
                }
                Style::Bars => {
                    for &(x, y, y2) in pts {
                        // At least one pixel tall so tiny segments show.
                        let (a, b) = (sy(y), sy(y2));
                        let b = if (a - b).abs() < 1.0 { a - 1.0 } else { b };
                        let _ = write!(d, "M{:.1} {a:.1}V{b:.1}", sx(x));
                    }
                }
                Style::Events => {
                    for &(x, _, _) in pts {
                        let _ = write!(d, "M{:.1} {mt}V{:.1}", sx(x), mt + ph);
                    }
                }
            }
            if s.marker {
                for &(x, _, y2) in s
                    .points
                    .iter()
                    .filter(|p| p.0.is_finite() && p.2.is_finite())
                {
                    let _ = write!(d, "M{:.1} {:.1}l6 6m0 -6l-6 6", sx(x) - 3.0, sy(y2) - 3.0);
                }
            }
            if d.is_empty() {
                continue;
            }
            let dash = s
                .dash
                .map(|v| format!(r#" stroke-dasharray="{v}""#))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                r#"<path class="series" data-name="{}" d="{d}" fill="none" stroke="{}" stroke-width="{}"{dash}/>"#,
                escape(&s.name),
                s.color,
                s.width
            );
        }
        let _ = writeln!(o, "</g>");

        // Legend (top left inside the plot).
        let n = self.series.len() as f64;
        let lw = self
            .series
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0) as f64
            * 6.6
            + 44.0;
        let _ = writeln!(o, r#"<g class="legend">"#);
        let _ = writeln!(
            o,
            r##"<rect x="{:.1}" y="{:.1}" width="{lw:.1}" height="{:.1}" fill="white" fill-opacity="0.85" stroke="#999"/>"##,
            ml + 10.0,
            mt + 10.0,
            n * 18.0 + 8.0
        );
        for (i, s) in self.series.iter().enumerate() {
            let y = mt + 10.0 + 4.0 + 18.0 * i as f64 + 9.0;
            let x = ml + 18.0;
            let dash = s
                .dash
                .map(|v| format!(r#" stroke-dasharray="{v}""#))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="{}"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
                x + 20.0,
                s.color,
                s.width.max(2.0),
                x + 26.0,
                y + 4.0,
                escape(&s.name)
            );
        }
        let _ = writeln!(o, "</g>");
        let _ = writeln!(o, "</svg>");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"a<b & "c">'"#),
            "a&lt;b &amp; &quot;c&quot;&gt;&apos;"
        );
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(10.0, 10.0), 1.0);
        assert_eq!(nice_step(2_000_000.0, 8.0), 200_000.0);
        assert_eq!(nice_step(0.35, 10.0), 0.05);
        assert_eq!(fmt_bytes(1_500_000.0, 500_000.0), "1.5 MB");
        assert_eq!(fmt_bytes(200_000.0, 200_000.0), "0.2 MB");
        assert_eq!(fmt_bytes(3000.0, 1000.0), "3 kB");
    }

    #[test]
    fn chart_renders_all_parts() {
        let mut c = Chart::new("T <1>", "time (s)", "bytes");
        let mut s = Series::new("data", "blue", Style::Bars);
        s.push_bar(0.1, 0.0, 100.0);
        s.push_bar(0.2, 100.0, 200.0);
        c.series.push(s);
        let mut l = Series::new("ack", "green", Style::Step);
        l.push(0.1, 0.0);
        l.push(0.3, 200.0);
        c.series.push(l);
        let svg = c.to_svg();
        assert!(svg.starts_with("<?xml"));
        assert!(svg.contains("T &lt;1&gt;"));
        assert_eq!(svg.matches("class=\"series\"").count(), 2);
        assert!(svg.contains("class=\"legend\""));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
