//! The `vigie` command line.

use crate::config::{Config, ServeArgs};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Instant;

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
    /// Import a file into a dataset layer of the catalog (replacing its previous version).
    Import(ImportArgs),
}

/// Arguments of `vigie import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Catalog layer to import into (a layer of kind "dataset").
    #[arg(long)]
    pub layer: String,
    /// Import the valid records and report the invalid ones (default: reject the whole file).
    #[arg(long)]
    pub skip_invalid: bool,
    /// The file.
    pub file: PathBuf,
    /// Store and catalog settings, as for `vigie serve`.
    #[command(flatten)]
    pub store: ServeArgs,
}

/// Runs the parsed command.
///
/// # Errors
/// Whatever the command fails with.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => crate::serve(Config::load(&args)?).await,
        Command::Import(args) => import(args).await,
    }
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.store)?;
    let catalog = crate::load_catalog(&config)?;
    let layer = catalog.layer(&args.layer).with_context(|| format!("no layer '{}' in the catalog", args.layer))?;
    let store = crate::store::sqlite::SqliteStore::open(&config.data_dir, &config.workspace, config.sqlite_synchronous)
        .await
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
    let started = Instant::now();
    let (info, report) = crate::import::import_path(
        &store,
        layer,
        &args.file,
        vigie_layers::dataset::Mapping::default(),
        args.skip_invalid,
    )
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}: {} feature(s) imported into layer '{}' (dataset '{}' version {}) in {seconds:.1} s ({:.0} features/s)",
        args.file.display(),
        info.feature_count,
        layer.id,
        info.id,
        info.version,
        info.feature_count as f64 / seconds.max(1e-9)
    );
    if report.problem_count > 0 {
        print!("skipped {report}");
    }
    Ok(())
}
