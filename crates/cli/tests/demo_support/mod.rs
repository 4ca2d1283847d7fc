//! Shared by the `demo` and `plot` tests: a minimal XML well-formedness
//! checker for the SVGs, and tshark discovery.
#![allow(dead_code)]
use std::process::Command;

/// One element of a parsed document.
#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.'
}

struct P<'a> {
    s: &'a str,
    i: usize,
}

impl P<'_> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }
    fn err(&self, what: &str) -> String {
        let line = self.s[..self.i].matches('\n').count() + 1;
        format!(
            "line {line}: {what} near {:?}",
            self.rest().chars().take(30).collect::<String>()
        )
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += c.len_utf8();
        Some(c)
    }
    fn eat(&mut self, lit: &str) -> bool {
        if self.rest().starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }
    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }
    fn name(&mut self) -> Result<String, String> {
        let start = self.i;
        match self.peek() {
            Some(c) if is_name_start(c) => {
                self.bump();
            }
            _ => return Err(self.err("expected a name")),
        }
        while self.peek().is_some_and(is_name_char) {
            self.bump();
        }
        Ok(self.s[start..self.i].to_string())
    }
    fn until(&mut self, end: &str) -> Result<(), String> {
        match self.rest().find(end) {
            Some(k) => {
                self.i += k + end.len();
                Ok(())
            }
            None => Err(self.err(&format!("unterminated, expected {end:?}"))),
        }
    }
    /// Checks text (content or attribute value) for bad '<' and entities.
    fn text(&self, t: &str, in_attr: bool) -> Result<(), String> {
        let mut rest = t;
        while let Some(k) = rest.find(['&', '<']) {
            if rest[k..].starts_with('<') {
                if in_attr {
                    return Err(self.err("'<' in an attribute value"));
                }
                unreachable!("content is split at '<'");
            }
            let after = &rest[k + 1..];
            let end = after
                .find(';')
                .ok_or_else(|| self.err("unterminated entity"))?;
            let ent = &after[..end];
            let ok = matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos")
                || ent
                    .strip_prefix("#x")
                    .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
                || ent
                    .strip_prefix('#')
                    .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
            if !ok {
                return Err(self.err(&format!("unknown entity &{ent};")));
            }
            rest = &after[end + 1..];
        }
        Ok(())
    }
}

/// Parses `doc` and returns its elements in document order, or why it is
/// not well-formed XML.
pub fn check_xml(doc: &str) -> Result<Vec<Element>, String> {
    let mut p = P { s: doc, i: 0 };
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut roots = 0;
    if p.eat("<?xml") {
        p.until("?>")?;
    }
    loop {
        // Text up to the next markup.
        let next = p.rest().find('<').unwrap_or(p.rest().len());
        let text = &p.rest()[..next];
        if stack.is_empty() && !text.trim().is_empty() {
            return Err(p.err("text outside the root element"));
        }
        p.text(text, false)?;
        p.i += next;
        if p.i >= doc.len() {
            break;
        }
        if p.eat("<!--") {
            p.until("-->")?;
        } else if p.eat("<?") {
            p.until("?>")?;
        } else if p.eat("<![CDATA[") {
            if stack.is_empty() {
                return Err(p.err("CDATA outside the root element"));
            }
            p.until("]]>")?;
        } else if p.eat("<!DOCTYPE") {
            p.until(">")?;
        } else if p.eat("</") {
            let name = p.name()?;
            p.ws();
            if !p.eat(">") {
                return Err(p.err("expected '>'"));
            }
            match stack.pop() {
                Some(open) if open == name => {}
                Some(open) => return Err(p.err(&format!("</{name}> closes <{open}>"))),
                None => return Err(p.err(&format!("</{name}> without an open element"))),
            }
        } else if p.eat("<") {
            let name = p.name()?;
            if stack.is_empty() {
                roots += 1;
                if roots > 1 {
                    return Err(p.err("more than one root element"));
                }
            }
            let mut attrs: Vec<(String, String)> = Vec::new();
            loop {
                let had_ws = p.peek().is_some_and(char::is_whitespace);
                p.ws();
                if p.eat("/>") {
                    break;
                }
                if p.eat(">") {
                    stack.push(name.clone());
                    break;
                }
                if !had_ws {
                    return Err(p.err("expected whitespace before an attribute"));
                }
                let an = p.name()?;
                p.ws();
                if !p.eat("=") {
                    return Err(p.err("expected '=' after an attribute name"));
                }
                p.ws();
                let q = p.bump().ok_or_else(|| p.err("unexpected end"))?;
                if q != '"' && q != '\'' {
                    return Err(p.err("attribute value must be quoted"));
                }
                let end = p
                    .rest()
                    .find(q)
                    .ok_or_else(|| p.err("unterminated attribute value"))?;
                let v = p.rest()[..end].to_string();
                p.text(&v, true)?;
                p.i += end + 1;
                if attrs.iter().any(|(k, _)| *k == an) {
                    return Err(p.err(&format!("duplicate attribute {an}")));
                }
                attrs.push((an, v));
            }
            out.push(Element { name, attrs });
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!("unclosed element <{open}>"));
    }
    if roots == 0 {
        return Err("no root element".into());
    }
    Ok(out)
}

/// Checks an SVG graph: well-formed, an <svg> root, a title, axes, a
/// legend and data series named `series`.
pub fn check_svg(path: &std::path::Path, series: &[&str]) {
    let doc =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let els = check_xml(&doc)
        .unwrap_or_else(|e| panic!("{} is not well-formed XML: {e}", path.display()));
    assert_eq!(els[0].name, "svg", "{}: root", path.display());
    let class = |c: &str| els.iter().any(|e| e.attr("class") == Some(c));
    for c in ["title", "axes", "ticks", "xlabel", "ylabel", "legend"] {
        assert!(class(c), "{}: no element of class {c}", path.display());
    }
    assert!(
        els.iter().any(|e| e.name == "title"),
        "{}: no <title>",
        path.display()
    );
    for name in series {
        let found = els.iter().any(|e| {
            e.name == "path"
                && e.attr("data-name") == Some(name)
                && e.attr("d").is_some_and(|d| d.len() > 10)
        });
        assert!(found, "{}: no data series {name:?}", path.display());
    }
}

/// The tshark binary, if installed. Without it the caller skips, except
/// under CI (env `CI` set), where its absence is a failure.
pub fn tshark() -> Option<&'static str> {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some("tshark");
    }
    if std::env::var_os("CI").is_some() {
        panic!("tshark is not installed, and CI is set: install it (apt-get install tshark)");
    }
    eprintln!("SKIPPED: tshark is not installed; the pcap is not checked with it");
    None
}

/// Runs tshark with `args`; returns stdout (panics on failure).
pub fn run_tshark(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_checker_accepts_and_rejects() {
        assert!(
            check_xml(r#"<?xml version="1.0"?><a x="1"><b/>t &amp; &#x41;<!-- c --></a>"#).is_ok()
        );
        for bad in [
            "<a><b></a></b>",
            "<a>",
            "<a x=1/>",
            "<a/><b/>",
            "<a>&nope;</a>",
            "<a x='<'/>",
            r#"<a x="1" x="2"/>"#,
            "text<a/>",
            "",
        ] {
            assert!(check_xml(bad).is_err(), "accepted {bad:?}");
        }
    }
}
