//! `runsc-rs`: the OCI runtime command line and `do`.

mod cmd_do;
mod cmd_gofer;
mod logging;
mod spawn;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

/// The workload platform.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum PlatformArg {
    Ptrace,
    Kvm,
}

/// A userspace-kernel sandbox: an OCI runtime in the style of gVisor's runsc.
#[derive(Parser, Debug)]
#[command(name = "runsc-rs", version, about)]
pub struct Cli {
    /// Platform that runs the workload.
    #[arg(long, global = true, value_enum, default_value = "ptrace")]
    pub platform: PlatformArg,
    /// Log every syscall of the workload with its arguments and result.
    #[arg(long, global = true)]
    pub strace: bool,
    /// Enable debug logging (to stderr, or to --debug-log).
    #[arg(long, global = true)]
    pub debug: bool,
    /// Write the Sentry's logs to this file.
    #[arg(long = "debug-log", global = true)]
    pub debug_log: Option<std::path::PathBuf>,
    /// Network: none (loopback only) is the only mode so far.
    #[arg(long, global = true, default_value = "none")]
    pub network: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a command in a fresh sandbox (like `runsc do`).
    Do(cmd_do::DoArgs),
    /// Serve a root filesystem to a sandbox (internal).
    #[command(hide = true)]
    Gofer(cmd_gofer::GoferArgs),
}

fn main() {
    let cli = Cli::parse();
    let _guard = logging::init(&cli);
    let r: Result<i32> = match &cli.command {
        Command::Do(a) => cmd_do::run(&cli, a),
        Command::Gofer(a) => cmd_gofer::run(a).map(|_| 0),
    };
    match r {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("runsc-rs: {e:#}");
            std::process::exit(125);
        }
    }
}
