//! Terminal styling: ANSI colours only when asked for (a TTY and no
//! `--no-color`).

/// Applies ANSI styles, or nothing when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    pub on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.wrap("31", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    pub fn magenta(&self, s: &str) -> String {
        self.wrap("35", s)
    }
    pub fn cyan(&self, s: &str) -> String {
        self.wrap("36", s)
    }
    /// A section heading.
    pub fn heading(&self, s: &str) -> String {
        let line = format!("── {s} ");
        let pad = 78usize.saturating_sub(line.chars().count());
        self.wrap("1;34", &format!("{line}{}", "─".repeat(pad)))
    }
}

/// Pads `s` to `width` display columns (ASCII and box-drawing characters
/// are one column each).
pub fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n >= width {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(width - n))
    }
}

/// Right-aligns `s` in `width` columns.
pub fn rpad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n >= width {
        s.to_string()
    } else {
        format!("{}{s}", " ".repeat(width - n))
    }
}

/// Groups digits by thousands: 2000000 → 2,000,000.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string().into_bytes();
    let head = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        k => k,
    };
    let (first, rest) = digits.split_at(head);
    let mut groups = vec![String::from_utf8_lossy(first).into_owned()];
    groups.extend(
        rest.chunks(3)
            .map(|g| String::from_utf8_lossy(g).into_owned()),
    );
    groups.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(thousands(2_000_000), "2,000,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(123_456), "123,456");
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(rpad("ab", 4), "  ab");
        let p = Paint { on: false };
        assert_eq!(p.red("x"), "x");
        assert_eq!(Paint { on: true }.red("x"), "\x1b[31mx\x1b[0m");
    }
}
