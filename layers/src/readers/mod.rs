//! Readers: source files to [`Record`](crate::dataset::Record)s fed to a
//! [`DatasetBuilder`](crate::dataset::DatasetBuilder). One module per format; each reports
//! problems with the file and the line, row or feature number.

pub mod geojson;

use crate::feature::Value;

/// Why a file could not be read at all (as opposed to a bad record, which is a problem in the
/// import report).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file cannot be opened or read.
    #[error("{file}: {source}")]
    Io {
        /// File name.
        file: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The format is not recognised or not supported.
    #[error("{file}: {reason}")]
    Format {
        /// File name.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

/// A property value from JSON: numbers stay numbers, nested values become JSON text.
pub fn json_value(v: &serde_json::Value, cache: &mut crate::dataset::TextCache) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            n.as_i64().map_or_else(|| n.as_f64().map_or(Value::Null, Value::Float), Value::Int)
        }
        serde_json::Value::String(s) => cache.text(s),
        other => Value::text(other.to_string()),
    }
}
