//! Importing source files into datasets: read (any supported format, reprojected to WGS84),
//! check, then replace the dataset in one transaction. A file with any invalid record is
//! rejected whole unless invalid records are skipped on request; a rejected or interrupted
//! import leaves the previous version in place.
//!
//! Writes to the store only; swapping the new version into a running engine is
//! the job of `apply_dataset` (the parent module). Imports the store and the engine's readers,
//! nothing else of the crate.

use crate::store::{DatasetInfo, Store, StoreError};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use vigie_layers::catalog::{LayerDef, LayerKind};
use vigie_layers::dataset::{DatasetBuilder, Mapping, Report};
use vigie_layers::readers::{self, Format, ReadError, ReadOptions};

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The target is not a dataset layer of the catalog.
    #[error("layer '{0}' is not a dataset layer of the catalog (kind = \"dataset\")")]
    NotADataset(String),
    /// The file cannot be read at all.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Records are invalid: nothing was imported.
    #[error("import rejected, nothing was changed:\n{0}")]
    Rejected(Report),
    /// The store failed: nothing was imported.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to import a file.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The format, when the file name does not tell it.
    pub format: Option<Format>,
    /// CRS, CSV columns, GeoPackage table.
    pub read: ReadOptions,
    /// Which source fields feed ids, titles, times, tags and severities.
    pub mapping: Mapping,
    /// Import the valid records and report the others (default: reject the whole file).
    pub skip_invalid: bool,
    /// Counts records as they are read (progress display).
    pub progress: Option<Arc<AtomicU64>>,
}

/// The dataset a catalog layer reads.
///
/// # Errors
/// [`ImportError::NotADataset`] for any other kind of layer.
pub fn dataset_of(layer: &LayerDef) -> Result<&str, ImportError> {
    match (&layer.kind, &layer.dataset) {
        (LayerKind::Dataset, Some(d)) => Ok(d),
        _ => Err(ImportError::NotADataset(layer.id.clone())),
    }
}

/// Reads a file into a builder, choosing the reader by the file's extension.
///
/// # Errors
/// [`ReadError`] when the file cannot be opened or its format is not supported.
pub fn read_path(path: &Path, dataset: &str, mapping: Mapping) -> Result<DatasetBuilder, ReadError> {
    read_with(path, dataset, &ImportOptions { mapping, ..ImportOptions::default() })
}

/// Reads a file or a folder into a builder with the given options.
///
/// # Errors
/// [`ReadError`] when the file cannot be opened, its format is not supported or it is
/// unusable as a whole.
pub fn read_with(path: &Path, dataset: &str, options: &ImportOptions) -> Result<DatasetBuilder, ReadError> {
    let mut builder = DatasetBuilder::new(dataset, options.mapping.clone());
    if let Some(p) = &options.progress {
        builder = builder.with_progress(p.clone());
    }
    readers::read_path(path, options.format, &options.read, &mut builder)?;
    Ok(builder)
}

/// Imports a file into a dataset layer.
///
/// # Errors
/// See [`ImportError`]; in every error case the store is unchanged.
pub async fn import_path(
    store: &dyn Store,
    layer: &LayerDef,
    path: &Path,
    mapping: Mapping,
    skip_invalid: bool,
) -> Result<(DatasetInfo, Report), ImportError> {
    let options = ImportOptions { mapping, skip_invalid, ..ImportOptions::default() };
    import(store, layer, path, &path.display().to_string(), &options).await
}

/// Imports a file (or folder) into a dataset layer; `source` is recorded with the version.
///
/// # Errors
/// See [`ImportError`]; in every error case the store is unchanged.
pub async fn import(
    store: &dyn Store,
    layer: &LayerDef,
    path: &Path,
    source: &str,
    options: &ImportOptions,
) -> Result<(DatasetInfo, Report), ImportError> {
    let dataset = dataset_of(layer)?.to_owned();
    let owned = path.to_path_buf();
    let opts = options.clone();
    let built =
        tokio::task::spawn_blocking(move || read_with(&owned, &dataset, &opts).map(|b| b.finish(opts.skip_invalid)))
            .await
            .map_err(StoreError::task("import"))??;
    let (dataset, report) = built.map_err(ImportError::Rejected)?;
    let info = store.replace_dataset(&dataset, source).await?;
    Ok((info, report))
}
