//! `vigie backup` and `vigie restore`: an online copy of the embedded store's data directory.
//!
//! The database is copied with SQLite's `VACUUM INTO`, which reads one snapshot (a read
//! transaction: writers go on, and the copy holds exactly what was committed when it began,
//! attachments included, since they are rows). The data directory's other files (the sources'
//! refresh state, the workspaces' sources files) are copied beside it. A manifest, written
//! last, names every file with its size and SHA-256: a backup without one is incomplete.
//! `restore` checks the manifest and the database (`PRAGMA integrity_check`) before it writes
//! anything, and only into a data directory that holds no database.
//!
//! A PostgreSQL store is backed up with `pg_dump` (README, "Backups").

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::identity::secret::hex;
use crate::store::sqlite::DB_FILE;

/// The manifest's file name in a backup.
pub const MANIFEST: &str = "manifest.json";

/// What a backup holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// The vigie version that made it.
    pub vigie: String,
    /// When the copy of the database began (RFC 3339, UTC).
    pub started_at: String,
    /// Log entries in the copy, deleted ones included.
    pub entries: u64,
    /// The last event number of each workspace in the copy.
    pub last_events: Vec<(String, i64)>,
    /// Every file, by path relative to the backup, the database first.
    pub files: Vec<FileSum>,
}

/// A file of a backup.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct FileSum {
    /// Path relative to the backup (and to the data directory), `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// Files of a data directory that are never copied: SQLite's own side files (the copy of the
/// database is whole without them).
fn skipped(name: &str) -> bool {
    [DB_FILE, "vigie.db-wal", "vigie.db-shm", "vigie.db-journal"].contains(&name)
}

/// Copies the data directory `data_dir` into `dest`, a directory that does not exist or is
/// empty, while the server may be running.
///
/// # Errors
/// When `dest` is not empty, the data directory has no database, or a copy fails.
pub fn backup(data_dir: &Path, dest: &Path) -> anyhow::Result<Manifest> {
    let db = data_dir.join(DB_FILE);
    if !db.is_file() {
        bail!("{}: no vigie database here (give the server's --data-dir)", db.display());
    }
    if dest.exists() && std::fs::read_dir(dest).with_context(|| dest.display().to_string())?.next().is_some() {
        bail!("{}: not empty; back up into a new or empty directory", dest.display());
    }
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let started_at = now_rfc3339();
    let source = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", db.display()))?;
    source.busy_timeout(std::time::Duration::from_secs(30))?;
    let copy = dest.join(DB_FILE);
    source
        .execute("VACUUM INTO ?1", [copy.to_str().context("the backup path is not UTF-8")?])
        .with_context(|| format!("cannot copy {} into {}", db.display(), copy.display()))?;
    drop(source);
    let (entries, last_events) = check_database(&copy)?;
    let mut files = vec![sum(dest, DB_FILE)?];
    for rel in other_files(data_dir, Path::new(""))? {
        let to = dest.join(&rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(data_dir.join(&rel), &to)
            .with_context(|| format!("cannot copy {}", data_dir.join(&rel).display()))?;
        files.push(sum(dest, &slashed(&rel))?);
    }
    for f in &files {
        sync(&dest.join(&f.path))?;
    }
    let manifest = Manifest { vigie: env!("CARGO_PKG_VERSION").to_owned(), started_at, entries, last_events, files };
    let path = dest.join(MANIFEST);
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    sync(&path)?;
    sync(dest)?;
    Ok(manifest)
}

/// Restores the backup `from` into `data_dir`, which must hold no database: checks every
/// file against the manifest and the database's integrity first, then copies (each file under
/// a temporary name, renamed when whole; the database last).
///
/// # Errors
/// Naming the file when the manifest is missing or unreadable, a file is missing, differs
/// from the manifest or the database is damaged; when `data_dir` already holds a database.
pub fn restore(from: &Path, data_dir: &Path) -> anyhow::Result<Manifest> {
    let path = from.join(MANIFEST);
    let text = std::fs::read(&path)
        .with_context(|| format!("{}: no manifest, so not a whole backup (made by `vigie backup`)", path.display()))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).with_context(|| format!("{}: not a vigie backup manifest", path.display()))?;
    if manifest.files.first().map(|f| f.path.as_str()) != Some(DB_FILE) {
        bail!("{}: the manifest names no database", path.display());
    }
    for f in &manifest.files {
        if f.path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            bail!("{}: file path {:?} leaves the backup", path.display(), f.path);
        }
        let found = sum(from, &f.path).with_context(|| format!("{}: listed in the manifest", f.path))?;
        if found != *f {
            bail!(
                "{}: {} bytes, SHA-256 {}; the manifest says {} bytes, {}: the backup is damaged",
                from.join(&f.path).display(),
                found.bytes,
                found.sha256,
                f.bytes,
                f.sha256
            );
        }
    }
    check_database(&from.join(DB_FILE))?;
    let db = data_dir.join(DB_FILE);
    if db.exists() {
        bail!("{}: a database is already here; restore into a new data directory, or move it away", db.display());
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    for f in manifest.files.iter().rev() {
        let to = data_dir.join(&f.path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let part = to.with_file_name(format!(".{}.restoring", to.file_name().unwrap_or_default().to_string_lossy()));
        let copied = std::fs::copy(from.join(&f.path), &part)
            .with_context(|| format!("cannot write {}", part.display()))
            .and_then(|_| sync(&part))
            .and_then(|()| std::fs::rename(&part, &to).with_context(|| format!("cannot write {}", to.display())));
        if copied.is_err() {
            // A disk that filled up gets its room back; the data directory still holds no database.
            let _ = std::fs::remove_file(&part);
        }
        copied?;
    }
    sync(data_dir)?;
    Ok(manifest)
}

/// `PRAGMA integrity_check` of a database copy, then its entries and last events.
fn check_database(db: &Path) -> anyhow::Result<(u64, Vec<(String, i64)>)> {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", db.display()))?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .with_context(|| format!("{}: not a readable SQLite database", db.display()))?;
    if check != "ok" {
        bail!("{}: integrity check failed: {check}", db.display());
    }
    let entries: i64 = conn.query_row("SELECT count(*) FROM entries", [], |r| r.get(0))?;
    let mut last = conn.prepare(
        "SELECT w.id, coalesce((SELECT max(seq) FROM events WHERE workspace = w.id), 0) FROM workspaces w ORDER BY w.id",
    )?;
    let last_events = last.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    Ok((entries.unsigned_abs(), last_events))
}

/// Regular files under `dir/rel`, relative to `dir`, but the database's own.
fn other_files(dir: &Path, rel: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let here = dir.join(rel);
    let mut names: Vec<_> = std::fs::read_dir(&here)
        .with_context(|| format!("cannot read {}", here.display()))?
        .collect::<Result<_, _>>()?;
    names.sort_by_key(std::fs::DirEntry::file_name);
    for e in names {
        let name = e.file_name();
        let kind = e.file_type()?;
        if rel.as_os_str().is_empty() && skipped(&name.to_string_lossy()) {
            continue;
        }
        if kind.is_dir() {
            out.extend(other_files(dir, &rel.join(&name))?);
        } else if kind.is_file() {
            out.push(rel.join(&name));
        }
    }
    Ok(out)
}

fn slashed(rel: &Path) -> String {
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Size and SHA-256 of `dir/rel`.
fn sum(dir: &Path, rel: &str) -> anyhow::Result<FileSum> {
    let path = dir.join(rel);
    let mut file = std::fs::File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut bytes = 0;
    loop {
        let n = file.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(FileSum { path: rel.to_owned(), bytes, sha256: hex(&hasher.finalize()) })
}

/// Flushes a file or directory to disk.
fn sync(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).with_context(|| format!("cannot sync {}", path.display()))
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
