//! The `vigie` binary: parse the command line, start the log, run.

use clap::Parser;
use std::io::IsTerminal;
use std::time::Duration;
use tracing_subscriber::EnvFilter;
use vigie_tileserver::cli::{Cli, LogFormat};

/// How long blocking work still running (a stuck render, a store call) may delay the exit once
/// the command is done: the process does not wait for it past this.
const EXIT_WAIT: Duration = Duration::from_secs(1);

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = match EnvFilter::try_new(&cli.log) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("vigie: --log / VIGIE_LOG '{}' is not a log filter: {e}", cli.log);
            return std::process::ExitCode::FAILURE;
        }
    };
    let log = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => log.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => log.json().flatten_event(true).with_current_span(false).init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vigie: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(vigie_tileserver::cli::run(cli));
    // Dropping the runtime would wait for every blocking task, stuck ones included.
    runtime.shutdown_timeout(EXIT_WAIT);
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigie: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
