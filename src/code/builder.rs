//! Lines and indentation, the one thing every generated program is made of (as Kong's
//! httpsnippet does it): each language's generator says what each line is, and this says
//! how far in.

/// A program being written.
#[derive(Debug)]
pub struct Code {
    lines: Vec<String>,
    depth: usize,
    unit: &'static str,
}

impl Code {
    /// An empty program indented by `unit` per level.
    pub fn new(unit: &'static str) -> Self {
        Self {
            lines: Vec::new(),
            depth: 0,
            unit,
        }
    }

    /// A line at the current depth.
    pub fn line(&mut self, s: impl AsRef<str>) -> &mut Self {
        let s = s.as_ref();
        if s.is_empty() {
            self.lines.push(String::new());
        } else {
            self.lines
                .push(format!("{}{s}", self.unit.repeat(self.depth)));
        }
        self
    }

    /// Several lines at the current depth.
    pub fn lines<I, S>(&mut self, lines: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for l in lines {
            self.line(l);
        }
        self
    }

    /// An empty line.
    pub fn blank(&mut self) -> &mut Self {
        self.lines.push(String::new());
        self
    }

    /// A line, then one level deeper.
    pub fn open(&mut self, s: impl AsRef<str>) -> &mut Self {
        self.line(s);
        self.depth += 1;
        self
    }

    /// One level shallower, then a line (a closing brace), if any.
    pub fn close(&mut self, s: Option<&str>) -> &mut Self {
        self.depth = self.depth.saturating_sub(1);
        if let Some(s) = s {
            self.line(s);
        }
        self
    }

    /// One level shallower, a line (`} else {`), then one level deeper again.
    pub fn reopen(&mut self, s: &str) -> &mut Self {
        self.depth = self.depth.saturating_sub(1);
        self.open(s)
    }

    /// The program, one newline after each line.
    pub fn finish(&self) -> String {
        let mut out = self.lines.join("\n");
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_by_level_and_leaves_blank_lines_bare() {
        let mut c = Code::new("    ");
        c.open("while True:")
            .line("x = 1")
            .blank()
            .open("if x:")
            .line("break")
            .close(None)
            .close(None)
            .line("done()");
        assert_eq!(
            c.finish(),
            "while True:\n    x = 1\n\n    if x:\n        break\ndone()\n"
        );
        let mut t = Code::new("  ");
        t.open("proc f {} {").line("puts hi").close(Some("}"));
        assert_eq!(t.finish(), "proc f {} {\n  puts hi\n}\n");
    }
}
