//! Importing source files into datasets: read (any supported format), check, then replace the
//! dataset in one transaction. A file with any invalid record is rejected whole unless invalid
//! records are skipped on request; a rejected or interrupted import leaves the previous
//! version in place.

use crate::store::{DatasetInfo, Store, StoreError};
use std::path::Path;
use vigie_layers::catalog::{LayerDef, LayerKind};
use vigie_layers::dataset::{DatasetBuilder, Mapping, Report};
use vigie_layers::readers::{self, ReadError};

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
    let name = path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let mut builder = DatasetBuilder::new(dataset, mapping);
    match ext.as_str() {
        "geojson" | "json" => {
            let file = std::fs::File::open(path).map_err(|source| ReadError::Io { file: name.clone(), source })?;
            readers::geojson::read(file, &name, &mut builder)?;
        }
        other => {
            return Err(ReadError::Format {
                file: name,
                reason: format!("unsupported file type '.{other}': expected .geojson or .json"),
            });
        }
    }
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
    let dataset = dataset_of(layer)?.to_owned();
    let owned = path.to_path_buf();
    let built =
        tokio::task::spawn_blocking(move || read_path(&owned, &dataset, mapping).map(|b| b.finish(skip_invalid)))
            .await
            .map_err(|e| StoreError::Corrupt { what: "import task", id: layer.id.clone(), reason: e.to_string() })??;
    let (dataset, report) = built.map_err(ImportError::Rejected)?;
    let info = store.replace_dataset(&dataset, &path.display().to_string()).await?;
    Ok((info, report))
}
