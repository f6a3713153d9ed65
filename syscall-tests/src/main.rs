//! syscall-tests: a differential Linux syscall conformance suite.
//!
//! The cases are static C programs (one per area, built by build.rs from
//! `cases/<area>.c`); this runner runs them natively, in any OCI runtime, or
//! under `runsc-rs do`, and scores and compares the results.

mod report;
mod runner;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use report::{CaseResult, Report};
use runner::{Bundle, Killer};

#[derive(Parser)]
#[command(name = "syscall-tests", about = "Differential Linux syscall conformance suite")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the cases (area.case), one per line.
    List {
        /// Only cases whose "area.case" name contains this.
        #[arg(long)]
        filter: Option<String>,
        /// Directory of area binaries (default: the ones this build made).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
    },
    /// Run the cases under a runtime and score them.
    Run(RunArgs),
    /// Compare JSON reports of `run --json` as a Markdown table.
    Compare {
        /// Also list every case whose status differs between the reports.
        #[arg(long)]
        cases: bool,
        /// The reports; the first one is the reference (usually native).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// native, runsc-rs, or oci:PATH (an OCI runtime CLI such as runc or runsc).
    #[arg(long, default_value = "native")]
    runtime: String,
    /// Platform passed to the runtime as --platform (runsc-rs, gVisor).
    #[arg(long)]
    platform: Option<String>,
    /// Only cases whose "area.case" name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Per-case timeout in seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The runsc-rs binary (default: $PATH, then the workspace's target/).
    #[arg(long)]
    runsc_rs: Option<PathBuf>,
    /// Directory of area binaries (default: the ones this build made).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Extra runtime flags, given before the runtime's subcommand.
    #[arg(last = true)]
    extra: Vec<String>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::List { filter, bin_dir } => list(filter.as_deref(), bin_dir),
        Cmd::Run(args) => {
            let failed = run(args)?;
            if failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Compare { cases, files } => {
            let mut reports = Vec::new();
            for f in &files {
                let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
                let r: Report = serde_json::from_str(&text).with_context(|| format!("parsing {}", f.display()))?;
                reports.push(r);
            }
            print!("{}", report::compare(&reports, cases));
            Ok(())
        }
    }
}

fn list(filter: Option<&str>, bin_dir: Option<PathBuf>) -> Result<()> {
    let areas = runner::areas(&bin_dir.unwrap_or_else(runner::default_bin_dir))?;
    let mut n = 0;
    for a in &areas {
        for c in runner::list_cases(a, filter)? {
            println!("{}.{}", a.name, c);
            n += 1;
        }
    }
    eprintln!("{n} cases in {} areas", areas.len());
    Ok(())
}

enum Runtime {
    Native,
    RunscRs(std::result::Result<PathBuf, String>),
    Oci(PathBuf),
}

/// Runs the suite; returns the number of failed cases.
fn run(args: RunArgs) -> Result<usize> {
    let bin_dir = args.bin_dir.clone().unwrap_or_else(runner::default_bin_dir);
    let areas = runner::areas(&bin_dir)?;
    let runtime = match args.runtime.as_str() {
        "native" => Runtime::Native,
        "runsc-rs" => Runtime::RunscRs(runner::find_runsc_rs(args.runsc_rs.as_deref()).map_err(|e| e.to_string())),
        s => match s.strip_prefix("oci:") {
            Some(p) if !p.is_empty() => {
                let path = PathBuf::from(p);
                if !path.is_file() {
                    bail!("OCI runtime {p} not found");
                }
                Runtime::Oci(path)
            }
            _ => bail!("unknown runtime {s:?}: use native, runsc-rs or oci:PATH"),
        },
    };
    if matches!(runtime, Runtime::Native) && (args.platform.is_some() || !args.extra.is_empty()) {
        bail!("--platform and extra runtime flags make no sense with the native runtime");
    }
    let bundle = match runtime {
        Runtime::Native => None,
        _ => Some(Bundle::new(&areas)?),
    };
    // Natively, every run gets a fresh TMPDIR for the cases' scratch dirs.
    let native_tmp = tempfile::Builder::new().prefix("syscall-tests-tmp-").tempdir()?;

    let started = Instant::now();
    let mut all: Vec<CaseResult> = Vec::new();
    let mut print = |r: &CaseResult| {
        if r.message.is_empty() {
            println!("{:<7} {}", r.status.word(), r.full_name());
        } else {
            println!("{:<7} {}  {}", r.status.word(), r.full_name(), r.message);
        }
    };
    for (i, area) in areas.iter().enumerate() {
        let expected = runner::list_cases(area, args.filter.as_deref())?;
        if expected.is_empty() {
            continue;
        }
        let deadline = Duration::from_secs(expected.len() as u64 * args.timeout + 30);
        let results = match &runtime {
            Runtime::Native => {
                let mut cmd = Command::new(&area.binary);
                cmd.args(&runner::area_args(&area.name, args.timeout, args.filter.as_deref())[1..]);
                cmd.env("TMPDIR", native_tmp.path()).current_dir(native_tmp.path());
                runner::run_area(&area.name, cmd, &expected, deadline, Killer::Group, &mut print)
            }
            Runtime::RunscRs(Err(e)) => {
                let msg = format!("runtime error: {e}");
                expected
                    .iter()
                    .map(|n| {
                        let r = CaseResult {
                            area: area.name.clone(),
                            name: n.clone(),
                            status: report::Status::Fail,
                            message: msg.clone(),
                        };
                        print(&r);
                        r
                    })
                    .collect()
            }
            Runtime::RunscRs(Ok(bin)) => {
                let bundle = bundle.as_ref().context("bundle")?;
                let mut cmd = Command::new(bin);
                if let Some(p) = &args.platform {
                    cmd.args(["--platform", p]);
                }
                cmd.args(&args.extra).arg("do").arg("--rootfs").arg(bundle.rootfs());
                cmd.args(["--env", "TMPDIR=/tmp", "--"]);
                cmd.args(runner::area_args(&area.name, args.timeout, args.filter.as_deref()));
                cmd.env("TMPDIR", "/tmp");
                runner::run_area(&area.name, cmd, &expected, deadline, Killer::Group, &mut print)
            }
            Runtime::Oci(path) => {
                let bundle = bundle.as_ref().context("bundle")?;
                bundle.write_config(&runner::area_args(&area.name, args.timeout, args.filter.as_deref()))?;
                let id = format!("syscall-tests-{}-{}-{}", std::process::id(), i, area.name);
                let mut global: Vec<String> = Vec::new();
                if let Some(p) = &args.platform {
                    global.push(format!("--platform={p}"));
                }
                global.extend(args.extra.iter().cloned());
                let mut cmd = Command::new(path);
                cmd.args(&global).arg("run").arg("--bundle").arg(bundle.dir.path()).arg(&id);
                let mut kill_container = || {
                    oci_quiet(path, &global, &["kill", &id, "KILL"]);
                };
                let results = runner::run_area(
                    &area.name,
                    cmd,
                    &expected,
                    deadline,
                    Killer::Command(&mut kill_container),
                    &mut print,
                );
                oci_quiet(path, &global, &["delete", "-force", &id]);
                results
            }
        };
        all.extend(results);
    }
    let (passed, failed, skipped) = report::tally(&all);
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    eprintln!("({} cases in {:.0?})", all.len(), started.elapsed());

    if let Some(path) = &args.json {
        let report = Report {
            runtime: args.runtime.clone(),
            platform: args.platform.clone(),
            runtime_args: args.extra.clone(),
            date: report::today(),
            kernel: kernel_release(),
            cases: all,
        };
        write_json(path, &report)?;
    }
    Ok(failed)
}

/// Runs an OCI runtime subcommand, ignoring its output and result (used for
/// cleanup, where the container may already be gone).
fn oci_quiet(path: &Path, global: &[String], args: &[&str]) {
    let _ = Command::new(path)
        .args(global)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn write_json(path: &Path, report: &Report) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}
