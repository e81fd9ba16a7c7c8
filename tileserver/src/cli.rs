//! The `vigie` command line.

use crate::config::{Config, ServeArgs};
use clap::{Parser, Subcommand};

/// vigie — crisis-room map service: thematic vector-tile layers from an operations log,
/// venues and source data.
#[derive(Debug, Parser)]
#[command(name = "vigie", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve(ServeArgs),
}

/// Runs the parsed command.
///
/// # Errors
/// Whatever the command fails with.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => crate::serve(Config::load(&args)?).await,
    }
}
