//! Results: the per-case record, the JSON report and the Markdown comparison.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The outcome of one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
    Timeout,
    Crash,
}

impl Status {
    /// Parses the status word of a `RESULT` line.
    pub fn parse(word: &str) -> Option<Status> {
        Some(match word {
            "PASS" => Status::Pass,
            "FAIL" => Status::Fail,
            "SKIP" => Status::Skip,
            "TIMEOUT" => Status::Timeout,
            "CRASH" => Status::Crash,
            _ => return None,
        })
    }

    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
            Status::Timeout => "TIMEOUT",
            Status::Crash => "CRASH",
        }
    }

    /// Timeouts and crashes count as failures.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Fail | Status::Timeout | Status::Crash)
    }
}

/// One case's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseResult {
    pub area: String,
    pub name: String,
    pub status: Status,
    #[serde(default)]
    pub message: String,
}

impl CaseResult {
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.area, self.name)
    }
}

/// A whole run against one runtime, as written by `run --json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub runtime: String,
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_args: Vec<String>,
    pub date: String,
    pub kernel: String,
    pub cases: Vec<CaseResult>,
}

impl Report {
    /// The column title of this report in a comparison: the runtime's short
    /// name (the basename of an OCI runtime's path) and its platform.
    pub fn column(&self) -> String {
        let base = match self.runtime.strip_prefix("oci:") {
            Some(path) => path.rsplit('/').next().unwrap_or(path).to_string(),
            None => self.runtime.clone(),
        };
        match &self.platform {
            Some(p) => format!("{base} ({p})"),
            None => base,
        }
    }
}

/// Counts of a list of results: (passed, failed, skipped).
pub fn tally<'a>(cases: impl IntoIterator<Item = &'a CaseResult>) -> (usize, usize, usize) {
    let (mut p, mut f, mut s) = (0, 0, 0);
    for c in cases {
        if c.status.is_failure() {
            f += 1;
        } else if c.status == Status::Skip {
            s += 1;
        } else {
            p += 1;
        }
    }
    (p, f, s)
}

/// Parses one line of a case binary's output:
/// `RESULT <area>.<case> PASS|FAIL|SKIP|TIMEOUT|CRASH <message>`.
pub fn parse_result_line(line: &str) -> Option<CaseResult> {
    let rest = line.strip_prefix("RESULT ")?;
    let mut parts = rest.splitn(3, ' ');
    let full = parts.next()?;
    let status = Status::parse(parts.next()?.trim_end())?;
    let message = parts.next().unwrap_or("").trim().to_string();
    let (area, name) = full.split_once('.')?;
    if area.is_empty() || name.is_empty() {
        return None;
    }
    Some(CaseResult { area: area.to_string(), name: name.to_string(), status, message })
}

fn md_escape(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown comparison of several reports: passes per area and runtime,
/// a totals row and, with `per_case`, the cases whose status differs.
pub fn compare(reports: &[Report], per_case: bool) -> String {
    let mut areas: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in reports {
        for c in &r.cases {
            areas.entry(&c.area).or_default().insert(&c.name);
        }
    }
    let lookup: Vec<BTreeMap<(&str, &str), &CaseResult>> = reports
        .iter()
        .map(|r| r.cases.iter().map(|c| ((c.area.as_str(), c.name.as_str()), c)).collect())
        .collect();

    let mut out = String::new();
    let _ = write!(out, "| area | cases |");
    for r in reports {
        let _ = write!(out, " {} |", md_escape(&r.column(), 60));
    }
    out.push('\n');
    out.push_str("|---|---:|");
    for _ in reports {
        out.push_str("---:|");
    }
    out.push('\n');
    let mut totals = vec![0usize; reports.len()];
    let mut total_cases = 0;
    for (area, names) in &areas {
        total_cases += names.len();
        let _ = write!(out, "| {area} | {} |", names.len());
        for (i, l) in lookup.iter().enumerate() {
            let passed = names
                .iter()
                .filter(|n| l.get(&(*area, **n)).is_some_and(|c| c.status == Status::Pass))
                .count();
            totals[i] += passed;
            let _ = write!(out, " {passed} |");
        }
        out.push('\n');
    }
    let _ = write!(out, "| **total** | **{total_cases}** |");
    for t in &totals {
        let pct = if total_cases == 0 { 0.0 } else { 100.0 * *t as f64 / total_cases as f64 };
        let _ = write!(out, " **{t}** ({pct:.0}%) |");
    }
    out.push('\n');

    if per_case {
        out.push_str("\nCases whose result differs between runtimes:\n\n| case |");
        for r in reports {
            let _ = write!(out, " {} |", md_escape(&r.column(), 60));
        }
        out.push_str("\n|---|");
        for _ in reports {
            out.push_str("---|");
        }
        out.push('\n');
        let mut differing = 0;
        for (area, names) in &areas {
            for name in names {
                let got: Vec<Option<&CaseResult>> = lookup.iter().map(|l| l.get(&(*area, *name)).copied()).collect();
                let first = got[0].map(|c| c.status);
                if got.iter().all(|c| c.map(|c| c.status) == first) {
                    continue;
                }
                differing += 1;
                let _ = write!(out, "| {area}.{name} |");
                for c in got {
                    match c {
                        None => out.push_str(" (absent) |"),
                        Some(c) if c.status == Status::Pass => out.push_str(" pass |"),
                        Some(c) => {
                            let _ = write!(
                                out,
                                " {}: {} |",
                                c.status.word().to_lowercase(),
                                md_escape(&c.message, 100)
                            );
                        }
                    }
                }
                out.push('\n');
            }
        }
        if differing == 0 {
            out.push_str("| (none) |");
            for _ in reports {
                out.push_str(" |");
            }
            out.push('\n');
        }
    }
    out
}

/// Today's UTC date as YYYY-MM-DD.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_result_lines() {
        let r = parse_result_line("RESULT files.read_eof FAIL files.c:12: n: expected 0 got 3").unwrap();
        assert_eq!(r.area, "files");
        assert_eq!(r.name, "read_eof");
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.message, "files.c:12: n: expected 0 got 3");
        let r = parse_result_line("RESULT open.o_path PASS").unwrap();
        assert_eq!((r.status, r.message.as_str()), (Status::Pass, ""));
        assert!(parse_result_line("RESULT open.x MAYBE").is_none());
        assert!(parse_result_line("noise RESULT a.b PASS").is_none());
        assert!(parse_result_line("RESULT nodot PASS").is_none());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    fn case(area: &str, name: &str, status: Status, msg: &str) -> CaseResult {
        CaseResult { area: area.into(), name: name.into(), status, message: msg.into() }
    }

    #[test]
    fn compare_counts_and_differences() {
        let a = Report {
            runtime: "native".into(),
            platform: None,
            runtime_args: vec![],
            date: "2024-01-01".into(),
            kernel: "6".into(),
            cases: vec![case("files", "a", Status::Pass, ""), case("files", "b", Status::Pass, ""), case("open", "c", Status::Pass, "")],
        };
        let b = Report {
            runtime: "oci:/usr/bin/runsc".into(),
            platform: Some("ptrace".into()),
            cases: vec![case("files", "a", Status::Pass, ""), case("files", "b", Status::Fail, "expected 1 | got 2")],
            ..a.clone()
        };
        let md = compare(&[a, b], true);
        assert!(md.contains("| area | cases | native | runsc (ptrace) |"), "{md}");
        assert!(md.contains("| files | 2 | 2 | 1 |"), "{md}");
        assert!(md.contains("| open | 1 | 1 | 0 |"), "{md}");
        assert!(md.contains("| **total** | **3** | **3** (100%) | **1** (33%) |"), "{md}");
        assert!(md.contains("| files.b | pass | fail: expected 1 \\| got 2 |"), "{md}");
        assert!(md.contains("| open.c | pass | (absent) |"), "{md}");
        assert!(!md.contains("| files.a |"), "{md}");
    }
}
