//! The persisted sources state: what was last imported from each source ([`Seen`]), kept in a
//! file per workspace (`<data_dir>/sources-state.json` for the one served at the root) so a
//! restart does not import unchanged sources again.
//!
//! Owns that file and the lock over its map ([`SeenFile`]). Imports nothing of the crate.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// What was last imported from a source (persisted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Modification time of the local file (ms) and its size.
    #[serde(default)]
    pub modified_ms: Option<i64>,
    /// Size in bytes.
    #[serde(default)]
    pub len: Option<u64>,
    /// HTTP `ETag`.
    #[serde(default)]
    pub etag: Option<String>,
    /// HTTP `Last-Modified`.
    #[serde(default)]
    pub last_modified: Option<String>,
    /// SHA-256 of the last body.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Dataset version it made.
    #[serde(default)]
    pub version: u64,
}

/// The state file and what it holds.
///
/// Its mutex is a leaf: held to read or update the map and nothing else (no download, import,
/// file write or `await` under it).
#[derive(Debug)]
pub struct SeenFile {
    seen: Mutex<BTreeMap<String, Seen>>,
    state_file: PathBuf,
}

impl SeenFile {
    /// Reads the state file; a missing or unreadable file holds nothing.
    pub fn open(state_file: &Path) -> Self {
        let state_file = state_file.to_path_buf();
        let seen: BTreeMap<String, Seen> =
            std::fs::read_to_string(&state_file).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        Self { seen: Mutex::new(seen), state_file }
    }

    /// What was last imported from source `id` (nothing yet: the default).
    pub fn seen(&self, id: &str) -> Seen {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).get(id).cloned().unwrap_or_default()
    }

    /// Records what was imported from source `id` and saves the file (a failed save is logged:
    /// the source is then imported again after a restart).
    pub fn remember(&self, id: &str, seen: Seen) {
        let text = {
            let mut all = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            all.insert(id.to_owned(), seen);
            serde_json::to_string_pretty(&*all).unwrap_or_default()
        };
        // Written to a temporary file then renamed: a crash leaves the old state or the new.
        let tmp = self.state_file.with_extension("json.tmp");
        let written = std::fs::create_dir_all(self.state_file.parent().unwrap_or(Path::new(".")))
            .and_then(|()| std::fs::File::create(&tmp))
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, &self.state_file));
        if let Err(e) = written {
            tracing::warn!(file = %self.state_file.display(), error = %e, "cannot save the sources state");
        }
    }
}
