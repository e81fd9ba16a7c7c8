//! The `vigie` command line.

use crate::config::{Config, ServeArgs};
use crate::ingest::import::{ImportError, ImportOptions};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vigie_layers::dataset::Report;
use vigie_layers::readers::{Crs, CsvOptions, Format, ReadOptions};

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
    /// Import a file or folder into a dataset layer of the catalog (replacing its previous
    /// version): GeoJSON, CSV, FlatGeobuf, GeoPackage, Shapefile (.shp, folder or .zip), KML.
    Import(ImportArgs),
    /// Sources files (scheduled imports).
    #[command(subcommand)]
    Sources(SourcesCommand),
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
    /// Write the report of invalid records (JSON) there [default with --skip-invalid:
    /// ./LAYER-import-report.json].
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Format, when the extension does not tell it: geojson, csv, flatgeobuf, gpkg, shapefile,
    /// kml, kmz.
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// CRS of the coordinates when the file does not say it (or says it wrong): EPSG:2154,
    /// EPSG:3857, an OGC URN, a PROJ string.
    #[arg(long, value_parser = parse_crs)]
    pub crs: Option<Crs>,
    /// GeoPackage feature table, when the file holds several.
    #[arg(long)]
    pub table: Option<String>,
    /// CSV latitude column (default: recognised by name).
    #[arg(long)]
    pub lat: Option<String>,
    /// CSV longitude column (default: recognised by name).
    #[arg(long)]
    pub lon: Option<String>,
    /// CSV column of WKT (or GeoJSON) geometries.
    #[arg(long)]
    pub geometry: Option<String>,
    /// The file, or a folder (a Shapefile's folder, or several files of one dataset).
    pub file: PathBuf,
    /// Store and catalog settings, as for `vigie serve`.
    #[command(flatten)]
    pub store: ServeArgs,
}

/// `vigie sources …`.
#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Check every entry of a sources file against the catalog and say what is wrong with each.
    Check(SourcesCheckArgs),
}

/// Arguments of `vigie sources check`.
#[derive(Debug, Args)]
pub struct SourcesCheckArgs {
    /// The sources file [default: `sources` of the configuration file].
    #[arg(long)]
    pub sources: Option<PathBuf>,
    /// Catalog and configuration, as for `vigie serve`.
    #[command(flatten)]
    pub store: ServeArgs,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!("unsupported format '{s}': expected one of {}", names.join(", "))
    })
}

fn parse_crs(s: &str) -> Result<Crs, String> {
    Crs::parse(s).map_err(|e| e.to_string())
}

/// Runs the parsed command.
///
/// # Errors
/// Whatever the command fails with.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => crate::serve(Config::load(&args)?).await,
        Command::Import(args) => import(args).await,
        Command::Sources(SourcesCommand::Check(args)) => sources_check(&args),
    }
}

/// A progress line on stderr (only when it is a terminal): records read, rate, elapsed.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    fn start(counter: Arc<AtomicU64>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { bar: None, ticker: None };
        }
        let bar = indicatif::ProgressBar::new_spinner();
        let style = indicatif::ProgressStyle::with_template("{spinner} {msg}: {human_pos} records, {rate}, {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
            .with_key("rate", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} records/s", s.per_sec());
            });
        bar.set_style(style);
        bar.set_message("reading");
        let b = bar.clone();
        let ticker = tokio::spawn(async move {
            loop {
                b.set_position(counter.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { bar: Some(bar), ticker: Some(ticker) }
    }

    fn message(&self, m: &'static str) {
        if let Some(b) = &self.bar {
            b.set_message(m);
        }
    }

    fn finish(self) {
        if let Some(t) = self.ticker {
            t.abort();
        }
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

fn write_report(path: &std::path::Path, layer: &str, file: &std::path::Path, report: &Report) -> anyhow::Result<()> {
    let body = serde_json::json!({
        "layer": layer,
        "file": file.display().to_string(),
        "read": report.read,
        "kept": report.kept,
        "problem_count": report.problem_count,
        "problems": report.problems,
    });
    std::fs::write(path, serde_json::to_string_pretty(&body)?)
        .with_context(|| format!("cannot write the report {}", path.display()))
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.store)?;
    let catalog = crate::load_catalog(&config)?;
    let layer = catalog.layer(&args.layer).with_context(|| format!("no layer '{}' in the catalog", args.layer))?;
    let dataset = crate::ingest::import::dataset_of(layer)?.to_owned();
    let store = crate::open_store(&config).await?;
    let counter = Arc::new(AtomicU64::new(0));
    let options = ImportOptions {
        format: args.format,
        read: ReadOptions {
            crs: args.crs.clone(),
            csv: CsvOptions {
                lat: args.lat.clone(),
                lon: args.lon.clone(),
                geometry: args.geometry.clone(),
                ..CsvOptions::default()
            },
            layer: args.table.clone(),
        },
        mapping: vigie_layers::dataset::Mapping::default(),
        skip_invalid: args.skip_invalid,
        progress: Some(counter.clone()),
    };
    let started = Instant::now();
    let progress = Progress::start(counter);
    let file = args.file.clone();
    let read = tokio::task::spawn_blocking(move || {
        crate::ingest::import::read_with(&file, &dataset, &options).map(|b| b.finish(options.skip_invalid))
    })
    .await
    .context("the import task failed")?;
    let read_s = started.elapsed().as_secs_f64();
    let built = match read {
        Ok(b) => b,
        Err(e) => {
            progress.finish();
            return Err(ImportError::Read(e).into());
        }
    };
    let (dataset, report) = match built {
        Ok(d) => d,
        Err(report) => {
            progress.finish();
            if let Some(path) = &args.report {
                write_report(path, &layer.id, &args.file, &report)?;
                eprintln!("report written to {}", path.display());
            }
            return Err(ImportError::Rejected(report).into());
        }
    };
    progress.message("writing to the store");
    let info = store.replace_dataset(&dataset, &args.file.display().to_string()).await.map_err(ImportError::Store)?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}: {} feature(s) imported into layer '{}' (dataset '{}' version {}) in {seconds:.1} s \
         (read and check {read_s:.1} s, store {:.1} s; {:.0} features/s)",
        args.file.display(),
        info.feature_count,
        layer.id,
        info.id,
        info.version,
        seconds - read_s,
        info.feature_count as f64 / seconds.max(1e-9)
    );
    if report.problem_count > 0 {
        print!("skipped {report}");
        let path = args.report.clone().unwrap_or_else(|| PathBuf::from(format!("{}-import-report.json", layer.id)));
        write_report(&path, &layer.id, &args.file, &report)?;
        println!("report written to {}", path.display());
    }
    Ok(())
}

fn sources_check(args: &SourcesCheckArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.store)?;
    let catalog = crate::load_catalog(&config)?;
    let path = args
        .sources
        .clone()
        .or(config.sources)
        .context("no sources file: give --sources FILE, or `sources = \"…\"` in the configuration file")?;
    let checked = crate::ingest::sources::config::load(&path, &catalog, true)?;
    for p in &checked.file {
        println!("{}: {p}", path.display());
    }
    for s in &checked.sources {
        println!(
            "ok       {}: layer '{}' <- {} ({}, every {})",
            s.def.id,
            s.def.layer,
            s.location.shown(),
            s.format.map_or("format from the Content-Type", Format::name),
            if s.refresh_s == 0 { "start only".to_owned() } else { format!("{} s", s.refresh_s) }
        );
    }
    for (id, problems) in &checked.invalid {
        println!("invalid  {id}:");
        for p in problems {
            println!("           - {p}");
        }
    }
    println!(
        "{} source(s): {} valid, {} invalid{}",
        checked.sources.len() + checked.invalid.len(),
        checked.sources.len(),
        checked.invalid.len(),
        if checked.file.is_empty() { String::new() } else { format!(", {} file problem(s)", checked.file.len()) }
    );
    anyhow::ensure!(!checked.has_problems(), "{} has problems (see above)", path.display());
    Ok(())
}
