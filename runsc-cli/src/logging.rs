//! Logs: off by default; `--debug` to stderr; `--debug-log FILE`;
//! `--strace` adds the syscall trace (target "strace").

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::EnvFilter;

use crate::Cli;

pub struct Guard;

pub fn init(cli: &Cli) -> Guard {
    let level = if cli.debug { "debug" } else if cli.strace || cli.debug_log.is_some() { "info" } else { "error" };
    let filter = EnvFilter::try_from_env("RUNSC_RS_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let writer = match &cli.debug_log {
        Some(path) => match std::fs::OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => BoxMakeWriter::new(std::sync::Mutex::new(f)),
            Err(e) => {
                eprintln!("runsc-rs: cannot open debug log {}: {e}", path.display());
                BoxMakeWriter::new(std::io::stderr)
            }
        },
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_target(true).with_thread_names(true).try_init();
    Guard
}
