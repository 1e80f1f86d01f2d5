//! The results as Markdown: one section per part, its tables and its targets with pass/fail.

/// A target and what was measured against it.
pub struct Check {
    what: String,
    target: String,
    measured: String,
    pass: bool,
}

impl Check {
    pub fn new(what: &str, target: &str, measured: String, pass: bool) -> Check {
        Check {
            what: what.into(),
            target: target.into(),
            measured,
            pass,
        }
    }
}

/// A Markdown table.
pub struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(head: &[&str]) -> Table {
        Table {
            head: head.iter().map(|h| h.to_string()).collect(),
            rows: vec![],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut out = line(&self.head);
        out.push_str(&format!("|{}\n", "---|".repeat(self.head.len())));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// One part's results.
pub struct Section {
    title: String,
    body: String,
    checks: Vec<Check>,
}

impl Section {
    pub fn new(title: &str) -> Section {
        Section {
            title: title.into(),
            body: String::new(),
            checks: vec![],
        }
    }

    pub fn para(&mut self, text: impl AsRef<str>) {
        self.body.push_str(text.as_ref());
        self.body.push_str("\n\n");
    }

    pub fn table(&mut self, t: Table) {
        self.body.push_str(&t.markdown());
        self.body.push('\n');
    }

    pub fn check(&mut self, c: Check) {
        self.checks.push(c);
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("### {}\n\n{}", self.title, self.body);
        if !self.checks.is_empty() {
            let mut t = Table::new(&["target", "wanted", "measured", "result"]);
            for c in &self.checks {
                t.row(vec![
                    c.what.clone(),
                    c.target.clone(),
                    c.measured.clone(),
                    if c.pass { "pass" } else { "FAIL" }.into(),
                ]);
            }
            out.push_str(&t.markdown());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_renders_its_table_and_targets() {
        let mut s = Section::new("P0 demo");
        s.para("Some words.");
        let mut t = Table::new(&["a", "b"]);
        t.row(vec!["1".into(), "x|y".into()]);
        s.table(t);
        s.check(Check::new("speed", "≥ 1/s", "2/s".into(), true));
        s.check(Check::new("p99", "≤ 1 ms", "3 ms".into(), false));
        let md = s.markdown();
        assert!(
            md.starts_with("### P0 demo\n\nSome words.\n\n| a | b |\n|---|---|\n| 1 | x\\|y |\n")
        );
        assert!(md.contains("| speed | ≥ 1/s | 2/s | pass |"));
        assert!(md.contains("| p99 | ≤ 1 ms | 3 ms | FAIL |"));
    }
}
