//! `runsc-rs`: the OCI runtime command line and `do`.

mod cmd_do;
mod cmd_gofer;
mod confine;
mod logging;
mod network;
mod oci;
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
#[command(name = "runsc-rs", about, disable_version_flag = true)]
pub struct Cli {
    /// Print the version (runc's format).
    #[arg(long, short = 'v')]
    pub version: bool,
    /// Directory for the containers' state (default /run/runsc-rs).
    #[arg(long, global = true)]
    pub root: Option<std::path::PathBuf>,
    /// Where errors go (besides stderr), as runc's --log.
    #[arg(long, global = true)]
    pub log: Option<std::path::PathBuf>,
    /// Format of --log: text or json.
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    /// cgroupsPath is in systemd's slice:prefix:name form.
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
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
    /// Network: sandbox (the network namespace's interfaces, taken over
    /// by the sandbox's own stack; the default for containers) or none
    /// (loopback only; the default for `do`). host is not supported.
    #[arg(long, global = true, value_enum)]
    pub network: Option<network::NetworkArg>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a command in a fresh sandbox (like `runsc do`).
    Do(cmd_do::DoArgs),
    /// Serve a root filesystem to a sandbox (internal).
    #[command(hide = true)]
    Gofer(cmd_gofer::GoferArgs),
    /// The sandbox process of one container (internal).
    #[command(hide = true)]
    Boot(oci::sandbox::BootArgs),
    /// Wait for a detached exec'd process (internal).
    #[command(hide = true, name = "exec-wait")]
    ExecWait(oci::ExecWaitArgs),
    /// Create a container: the sandbox is ready, its process not started.
    Create(oci::CreateArgs),
    /// Start a created container's process.
    Start(oci::IdArg),
    /// Create, start and wait for a container.
    Run(oci::CreateArgs),
    /// Print a container's OCI state (JSON).
    State(oci::IdArg),
    /// Send a signal to a container's init (or every process with --all).
    Kill(oci::KillArgs),
    /// Delete a stopped container (--force: kill it first).
    Delete(oci::DeleteArgs),
    /// Run a new process in a running container.
    Exec(oci::ExecArgs),
    /// List a container's processes.
    Ps(oci::PsArgs),
    /// List the containers under --root.
    List(oci::ListArgs),
    /// Write a default config.json.
    Spec(oci::SpecArgs),
    /// Resource use of a container (--stats: once).
    Events(oci::EventsArgs),
    /// Freeze every process of a container.
    Pause(oci::IdArg),
    /// Thaw a paused container.
    Resume(oci::IdArg),
    /// The runtime's features (JSON).
    Features,
    /// Register runsc-rs as a docker runtime in daemon.json.
    Install(oci::install::InstallArgs),
    /// Remove runsc-rs from daemon.json's runtimes.
    Uninstall(oci::install::UninstallArgs),
}

/// Write an error to --log as runc does (containerd reads the json form).
fn log_error(cli: &Cli, msg: &str) {
    let Some(path) = &cli.log else { return };
    let line = if cli.log_format == "json" {
        serde_json::json!({"level": "error", "msg": msg, "time": oci::state::now_rfc3339()}).to_string()
    } else {
        format!("time=\"{}\" level=error msg={:?}", oci::state::now_rfc3339(), msg)
    };
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        use std::io::Write;
        let _ = writeln!(f, "{line}");
    }
}

fn main() {
    let cli = Cli::parse();
    let _guard = logging::init(&cli);
    if cli.version {
        println!("runsc-rs version {}\nspec: {}", env!("CARGO_PKG_VERSION"), oci::state::OCI_VERSION);
        std::process::exit(0);
    }
    let Some(command) = &cli.command else {
        eprintln!("runsc-rs: a command is required (see --help)");
        std::process::exit(2);
    };
    use oci::cmds;
    let r: Result<i32> = match command {
        Command::Do(a) => cmd_do::run(&cli, a),
        Command::Gofer(a) => cmd_gofer::run(&cli, a).map(|_| 0),
        Command::Boot(a) => oci::sandbox::run(&cli, a),
        Command::ExecWait(a) => cmds::exec_wait(&cli, a),
        Command::Create(a) => cmds::create(&cli, a),
        Command::Start(a) => cmds::start(&cli, a),
        Command::Run(a) => cmds::run(&cli, a),
        Command::State(a) => cmds::state(&cli, a),
        Command::Kill(a) => cmds::kill(&cli, a),
        Command::Delete(a) => cmds::delete(&cli, a),
        Command::Exec(a) => cmds::exec(&cli, a),
        Command::Ps(a) => cmds::ps(&cli, a),
        Command::List(a) => cmds::list(&cli, a),
        Command::Spec(a) => cmds::spec_cmd(&cli, a),
        Command::Events(a) => cmds::events(&cli, a),
        Command::Pause(a) => cmds::pause(&cli, a, true),
        Command::Resume(a) => cmds::pause(&cli, a, false),
        Command::Features => cmds::features(),
        Command::Install(a) => oci::install::install(a),
        Command::Uninstall(a) => oci::install::uninstall(a),
    };
    match r {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = format!("{e:#}");
            log_error(&cli, &msg);
            eprintln!("runsc-rs: {msg}");
            std::process::exit(if matches!(command, Command::Do(_)) { 125 } else { 1 });
        }
    }
}
