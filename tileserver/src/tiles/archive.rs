//! Tile archives as sources: PMTiles (a file of the archives folder, or an http(s) URL read
//! with range requests, through the `pmtiles` crate) and MBTiles (an SQLite file, read-only),
//! vector or raster, served as they are: basemaps and reference tiles made elsewhere
//! (Protomaps, OpenMapTiles, tippecanoe, GDAL, `martin-cp`), and vigie's own offline packs.
//!
//! An archive is opened when its workspace starts; one that cannot be (a remote archive out of
//! reach, a file not there yet) is tried again at most every [`RETRY`] while its tiles answer
//! 503 naming why, so one missing basemap never keeps a workspace from starting. Vector tiles
//! are handed on decompressed (a composite tile concatenates MVT layers); raster tiles as
//! stored. A tile outside the archive's zoom range or bounds, or absent from it, is empty
//! (204).

use super::{Features, LayerTile, RenderError, TileSource};
use async_trait::async_trait;
use bytes::Bytes;
use geo::Rect;
use pmtiles::{AsyncBackend, AsyncPmTilesReader, BackendResponse, DirEntry, Directory, PmtError, PmtResult, TileId};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tilejson::VectorLayer;
use vigie_layers::catalog::LayerKind;
use vigie_layers::feature::Schema;
use vigie_layers::tile::{MAX_LATITUDE, lonlat_to_mercator};
use vigie_layers::{Budget, Filter, Layer, TileCoord};

/// How long an archive that could not be opened waits before it is tried again.
pub const RETRY: Duration = Duration::from_secs(10);
/// Time a remote archive has to answer one range request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// Most bytes of directories kept in memory per archive (a planet basemap has thousands of leaf
/// directories; they are read again when evicted).
const DIRECTORY_CACHE_BYTES: u64 = 32 * 1024 * 1024;
/// Most bytes of one tile read from an archive (a larger one is refused as damaged).
const MAX_TILE_BYTES: usize = 64 * 1024 * 1024;
/// Most MBTiles connections kept open per archive.
const MBTILES_CONNECTIONS: usize = 4;

/// The encoding of an archive's tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TileFormat {
    /// Mapbox Vector Tiles.
    Mvt,
    /// PNG images.
    Png,
    /// JPEG images.
    Jpeg,
    /// WebP images.
    Webp,
    /// AVIF images.
    Avif,
}

impl TileFormat {
    /// The media type of its tiles.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Mvt => super::super::http::tiles::MVT_CONTENT_TYPE,
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Avif => "image/avif",
        }
    }

    /// The file extension of its tile URLs.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Mvt => "mvt",
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
            Self::Avif => "avif",
        }
    }

    /// Whether its tiles are vector tiles (concatenated in composite tiles, gzipped on the wire).
    pub fn is_vector(self) -> bool {
        self == Self::Mvt
    }

    /// Its PMTiles tile type (written into the header of an archive of such tiles).
    pub fn pmtiles_type(self) -> pmtiles::TileType {
        match self {
            Self::Mvt => pmtiles::TileType::Mvt,
            Self::Png => pmtiles::TileType::Png,
            Self::Jpeg => pmtiles::TileType::Jpeg,
            Self::Webp => pmtiles::TileType::Webp,
            Self::Avif => pmtiles::TileType::Avif,
        }
    }

    fn of_pmtiles(t: pmtiles::TileType) -> Result<Self, String> {
        Ok(match t {
            pmtiles::TileType::Mvt => Self::Mvt,
            pmtiles::TileType::Png => Self::Png,
            pmtiles::TileType::Jpeg => Self::Jpeg,
            pmtiles::TileType::Webp => Self::Webp,
            pmtiles::TileType::Avif => Self::Avif,
            other => return Err(format!("tile type {other:?} is not served (MVT, PNG, JPEG, WebP and AVIF are)")),
        })
    }

    fn of_mbtiles(format: &str) -> Result<Self, String> {
        Ok(match format.to_ascii_lowercase().as_str() {
            "pbf" | "mvt" => Self::Mvt,
            "png" => Self::Png,
            "jpg" | "jpeg" => Self::Jpeg,
            "webp" => Self::Webp,
            "avif" => Self::Avif,
            other => return Err(format!("metadata format '{other}' is not served (pbf, png, jpg, webp and avif are)")),
        })
    }
}

/// What an archive says of itself (its header and metadata).
#[derive(Debug, Clone)]
pub struct ArchiveInfo {
    /// Its tiles' encoding.
    pub format: TileFormat,
    /// Lowest zoom it holds.
    pub minzoom: u8,
    /// Highest zoom it holds.
    pub maxzoom: u8,
    /// West, south, east, north, degrees.
    pub bounds: [f64; 4],
    /// Its attribution (HTML as the archive gives it), if any.
    pub attribution: Option<String>,
    /// Its name, if any.
    pub name: Option<String>,
    /// Its vector layers (TileJSON `vector_layers`), empty for raster archives.
    pub vector_layers: Vec<VectorLayer>,
}

impl ArchiveInfo {
    /// Whether it can hold `coord`: within its zoom range and bounds.
    pub fn covers(&self, coord: TileCoord) -> bool {
        let z = coord.z();
        if z < self.minzoom || z > self.maxzoom {
            return false;
        }
        let (tile, extent) = (coord.bounds(), self.extent());
        tile.min().x < extent.max().x
            && tile.max().x > extent.min().x
            && tile.min().y < extent.max().y
            && tile.max().y > extent.min().y
    }

    /// Its bounds in Web Mercator metres.
    pub fn extent(&self) -> Rect<f64> {
        mercator_box(self.bounds)
    }

    /// Reads `attribution`, `name` and `vector_layers` from a metadata JSON object.
    fn with_metadata(mut self, metadata: &serde_json::Value) -> Self {
        let text = |k: &str| metadata.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
        self.attribution = text("attribution");
        self.name = text("name");
        if let Some(layers) = metadata.get("vector_layers") {
            self.vector_layers = serde_json::from_value(layers.clone()).unwrap_or_default();
        }
        self
    }
}

/// A west, south, east, north box in degrees as Web Mercator metres (latitudes clamped to the
/// projection's).
pub fn mercator_box([w, s, e, n]: [f64; 4]) -> Rect<f64> {
    Rect::new(lonlat_to_mercator(w, s), lonlat_to_mercator(e, n))
}

/// Where a workspace's archives may be: files under `dir` (links checked), and URLs of public
/// addresses unless `private_urls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveReach {
    /// The archives folder (`archives.dir`).
    pub dir: PathBuf,
    /// Whether remote archives may be on loopback, private and link-local addresses.
    pub private_urls: bool,
}

impl ArchiveReach {
    /// The file of a relative archive path, once links are followed, if it stays in the folder.
    ///
    /// # Errors
    /// Why not, naming the path.
    pub fn file(&self, relative: &str) -> Result<PathBuf, String> {
        let p = Path::new(relative);
        if relative.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(format!("'{relative}' must be relative to the archives folder and stay in it"));
        }
        // The folder itself is not named: these reasons reach clients (503 details).
        let missing = |e: std::io::Error, what: &str| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("'{relative}' is not in the archives folder{what}")
            } else {
                format!("'{relative}' in the archives folder: {e}")
            }
        };
        let root = self.dir.canonicalize().map_err(|e| missing(e, " (archives.dir, which does not exist yet)"))?;
        let real = root.join(p).canonicalize().map_err(|e| missing(e, ""))?;
        if !real.starts_with(&root) {
            return Err(format!("'{relative}' leads outside the archives folder (through a link)"));
        }
        Ok(real)
    }
}

/// A PMTiles archive's bytes: a local file (read with `pread` on a blocking thread: a file
/// replaced while served gives a read error, never a crash as a memory map would) or a URL (one
/// range request per read).
#[derive(Clone)]
enum Backend {
    File(Arc<std::fs::File>),
    Http { agent: ureq::Agent, url: Arc<str> },
}

fn io_error(message: String) -> PmtError {
    PmtError::Reading(std::io::Error::other(message))
}

impl Backend {
    fn read_blocking(&self, offset: u64, length: usize) -> PmtResult<Bytes> {
        let length = length.min(MAX_TILE_BYTES);
        match self {
            Self::File(file) => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; length];
                let mut read = 0;
                while read < length {
                    match file.read_at(&mut buf[read..], offset + read as u64)? {
                        0 => break,
                        n => read += n,
                    }
                }
                buf.truncate(read);
                Ok(Bytes::from(buf))
            }
            Self::Http { agent, url } => {
                let shown = shown(url);
                let last = offset + length as u64 - 1;
                let response = agent
                    .get(&**url)
                    .header("Range", &format!("bytes={offset}-{last}"))
                    .call()
                    .map_err(|e| io_error(format!("{shown}: {e}")))?;
                match response.status().as_u16() {
                    206 => {}
                    200 => {
                        return Err(io_error(format!("{shown}: the server ignores range requests (it answered 200)")));
                    }
                    416 => return Ok(Bytes::new()),
                    s => return Err(io_error(format!("{shown}: HTTP {s}"))),
                }
                let mut body = Vec::with_capacity(length);
                response
                    .into_body()
                    .into_reader()
                    .take(length as u64)
                    .read_to_end(&mut body)
                    .map_err(|e| io_error(format!("{shown}: {e}")))?;
                Ok(Bytes::from(body))
            }
        }
    }
}

impl AsyncBackend for Backend {
    async fn read(&self, offset: u64, length: usize) -> PmtResult<BackendResponse> {
        let this = self.clone();
        let bytes = tokio::task::spawn_blocking(move || this.read_blocking(offset, length))
            .await
            .map_err(|e| io_error(format!("archive read: {e}")))??;
        Ok(BackendResponse::new(bytes))
    }
}

/// Leaf directories read from an archive, kept up to [`DIRECTORY_CACHE_BYTES`].
struct Directories(moka::sync::Cache<u64, Arc<Directory>>);

impl Directories {
    fn new() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(DIRECTORY_CACHE_BYTES)
                .weigher(|_, d: &Arc<Directory>| d.get_approx_byte_size().min(u32::MAX as usize) as u32)
                .build(),
        )
    }
}

impl pmtiles::DirectoryCache for Directories {
    async fn get_dir_entry_or_insert(
        &self,
        offset: u64,
        tile_id: TileId,
        fetcher: impl Future<Output = PmtResult<Directory>> + Send,
    ) -> PmtResult<Option<DirEntry>> {
        if let Some(dir) = self.0.get(&offset) {
            return Ok(dir.find_tile_id(tile_id).copied());
        }
        let dir = fetcher.await?;
        let entry = dir.find_tile_id(tile_id).copied();
        self.0.insert(offset, Arc::new(dir));
        Ok(entry)
    }
}

/// An MBTiles file: read-only connections, reused.
struct Mbtiles {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl Mbtiles {
    fn connect(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        rusqlite::Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
    }

    /// Runs `f` on a connection (blocking).
    fn with<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>) -> Result<T, String> {
        let taken = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match taken {
            Some(c) => c,
            None => Self::connect(&self.path).map_err(|e| e.to_string())?,
        };
        let out = f(&conn).map_err(|e| e.to_string());
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MBTILES_CONNECTIONS {
            idle.push(conn);
        }
        out
    }

    /// The `metadata` table as name → value.
    fn metadata(&self) -> Result<Vec<(String, String)>, String> {
        self.with(|c| {
            let mut st = c.prepare("SELECT name, value FROM metadata")?;
            st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?.collect()
        })
    }

    fn tile(&self, coord: TileCoord) -> Result<Option<Vec<u8>>, String> {
        // MBTiles rows count from the south (TMS).
        let row = (1u64 << coord.z()) - 1 - u64::from(coord.y());
        self.with(|c| {
            use rusqlite::OptionalExtension;
            c.prepare_cached(
                "SELECT tile_data FROM tiles WHERE zoom_level = ?1 AND tile_column = ?2 AND tile_row = ?3",
            )?
            .query_row((coord.z(), coord.x(), row), |r| r.get::<_, Vec<u8>>(0))
            .optional()
        })
    }

    fn open(path: PathBuf) -> Result<(Self, ArchiveInfo), String> {
        let archive = Self { path, idle: Mutex::new(Vec::new()) };
        let meta = archive.metadata()?;
        let get = |k: &str| meta.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let format = TileFormat::of_mbtiles(get("format").ok_or("the metadata table has no 'format'")?)?;
        let (minzoom, maxzoom) = match (get("minzoom"), get("maxzoom")) {
            (Some(lo), Some(hi)) => (
                lo.trim().parse().map_err(|_| format!("metadata minzoom '{lo}' is not a zoom"))?,
                hi.trim().parse().map_err(|_| format!("metadata maxzoom '{hi}' is not a zoom"))?,
            ),
            // Not in the metadata: what the tiles table holds.
            _ => archive.with(|c| {
                c.query_row("SELECT COALESCE(MIN(zoom_level), 0), COALESCE(MAX(zoom_level), 0) FROM tiles", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
            })?,
        };
        let bounds = match get("bounds") {
            Some(b) => {
                let v: Vec<f64> = b.split(',').filter_map(|p| p.trim().parse().ok()).collect();
                <[f64; 4]>::try_from(v).map_err(|_| format!("metadata bounds '{b}' is not west,south,east,north"))?
            }
            None => [-180.0, -MAX_LATITUDE, 180.0, MAX_LATITUDE],
        };
        let mut info =
            ArchiveInfo { format, minzoom, maxzoom, bounds, attribution: None, name: None, vector_layers: Vec::new() };
        // Vector layers are in the `json` row, as tippecanoe and GDAL write them.
        let mut doc = get("json").and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()).unwrap_or_default();
        if let serde_json::Value::Object(o) = &mut doc {
            for key in ["attribution", "name"] {
                if let Some(v) = get(key) {
                    o.insert(key.to_owned(), v.into());
                }
            }
        }
        info = info.with_metadata(&doc);
        Ok((archive, info))
    }
}

enum Reader {
    Pmtiles(Box<AsyncPmTilesReader<Backend, Directories>>),
    Mbtiles(Arc<Mbtiles>),
}

/// An open archive.
pub struct Archive {
    /// What it says of itself.
    pub info: ArchiveInfo,
    reader: Reader,
    gzip: bool,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive").field("info", &self.info).finish_non_exhaustive()
    }
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(bytes.len() * 3);
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_TILE_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("a gzip tile cannot be read: {e}"))?;
    if out.len() > MAX_TILE_BYTES {
        return Err(format!("a tile is larger than {MAX_TILE_BYTES} bytes once decompressed"));
    }
    Ok(out)
}

impl Archive {
    /// Opens the archive `location` (a path in the archives folder, or an http(s) URL) of a
    /// layer of `kind`, reading its header and metadata.
    ///
    /// # Errors
    /// Why it cannot be served, naming it (the URL without its credentials).
    pub async fn open(kind: LayerKind, location: &str, reach: &ArchiveReach) -> Result<Self, String> {
        let remote = location.starts_with("http://") || location.starts_with("https://");
        let shown = shown(location);
        // Every failure below is named after the archive.
        let opened = async {
            match kind {
                LayerKind::Mbtiles if remote => Err("an MBTiles archive must be a local file".to_owned()),
                LayerKind::Mbtiles => {
                    let path = reach.file(location)?;
                    let (archive, info) =
                        tokio::task::spawn_blocking(move || Mbtiles::open(path)).await.map_err(|e| e.to_string())??;
                    Ok(Self { info, reader: Reader::Mbtiles(Arc::new(archive)), gzip: false })
                }
                LayerKind::Pmtiles => {
                    let backend = if remote {
                        let agent = crate::ingest::sources::fetch::agent(HTTP_TIMEOUT, reach.private_urls);
                        Backend::Http { agent, url: location.into() }
                    } else {
                        let file = std::fs::File::open(reach.file(location)?).map_err(|e| e.to_string())?;
                        Backend::File(Arc::new(file))
                    };
                    Self::open_pmtiles(backend).await
                }
                other => Err(format!("kind {other:?} is not an archive")),
            }
        }
        .await;
        opened.map_err(|e| format!("archive {shown}: {e}"))
    }

    async fn open_pmtiles(backend: Backend) -> Result<Self, String> {
        let reader = AsyncPmTilesReader::try_from_cached_source(backend, Directories::new())
            .await
            .map_err(|e| format!("not a PMTiles v3 archive, or unreadable: {e}"))?;
        let h = reader.get_header();
        let gzip = match h.tile_compression {
            pmtiles::Compression::None | pmtiles::Compression::Unknown => false,
            pmtiles::Compression::Gzip => true,
            other => return Err(format!("tile compression {other:?} is not read (none and gzip are)")),
        };
        let format = TileFormat::of_pmtiles(h.tile_type)?;
        if h.internal_compression() != pmtiles::Compression::Gzip
            && h.internal_compression() != pmtiles::Compression::None
        {
            return Err(format!(
                "directory compression {:?} is not read (none and gzip are)",
                h.internal_compression()
            ));
        }
        let info = ArchiveInfo {
            format,
            minzoom: h.min_zoom,
            maxzoom: h.max_zoom,
            bounds: [h.min_longitude, h.min_latitude, h.max_longitude, h.max_latitude],
            attribution: None,
            name: None,
            vector_layers: Vec::new(),
        };
        let metadata = reader.get_metadata().await.map_err(|e| format!("its metadata cannot be read: {e}"))?;
        let metadata: serde_json::Value = serde_json::from_str(&metadata).unwrap_or_default();
        Ok(Self { info: info.with_metadata(&metadata), reader: Reader::Pmtiles(Box::new(reader)), gzip })
    }

    /// The tile at `coord` (vector tiles decompressed), `None` when the archive does not hold it.
    ///
    /// # Errors
    /// When the archive cannot be read.
    pub async fn tile(&self, coord: TileCoord) -> Result<Option<Bytes>, String> {
        if !self.info.covers(coord) {
            return Ok(None);
        }
        let stored: Option<Vec<u8>> = match &self.reader {
            Reader::Pmtiles(r) => {
                let id = pmtiles::TileCoord::new(coord.z(), coord.x(), coord.y()).map_err(|e| e.to_string())?;
                r.get_tile(id).await.map_err(|e| e.to_string())?.map(|b| b.to_vec())
            }
            Reader::Mbtiles(m) => {
                let m = m.clone();
                tokio::task::spawn_blocking(move || m.tile(coord)).await.map_err(|e| e.to_string())??
            }
        };
        let Some(stored) = stored.filter(|b| !b.is_empty()) else { return Ok(None) };
        // MBTiles do not say whether their vector tiles are gzipped (most are): the magic does.
        let gzipped = self.gzip || stored.starts_with(&[0x1f, 0x8b]);
        let tile = if self.info.format.is_vector() && gzipped { gunzip(&stored)? } else { stored };
        Ok(Some(Bytes::from(tile)))
    }
}

/// A catalog layer served from a tile archive.
pub struct ArchiveSource {
    layer: Arc<Layer>,
    reach: ArchiveReach,
    /// The archive once open.
    ready: std::sync::OnceLock<Arc<Archive>>,
    /// Until then, why the last attempt failed, and when.
    failed: Mutex<(String, Instant)>,
    /// Held by the one attempt at opening it under way.
    opening: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ArchiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveSource").field("layer", &self.layer.def.id).finish_non_exhaustive()
    }
}

impl ArchiveSource {
    /// Opens the archive of an archive layer; one that cannot be opened is logged and tried
    /// again later.
    pub async fn open(layer: Arc<Layer>, reach: ArchiveReach) -> Self {
        let location = layer.def.archive.clone().unwrap_or_default();
        let (ready, reason) = match Archive::open(layer.def.kind, &location, &reach).await {
            Ok(a) => (std::sync::OnceLock::from(Arc::new(a)), String::new()),
            Err(reason) => {
                tracing::warn!(layer = %layer.def.id, %reason, "tile archive not available: its tiles answer 503 until it is");
                (std::sync::OnceLock::new(), reason)
            }
        };
        Self { layer, reach, ready, failed: Mutex::new((reason, Instant::now())), opening: tokio::sync::Mutex::new(()) }
    }

    /// The archive, opening it again when the last attempt failed more than [`RETRY`] ago.
    ///
    /// # Errors
    /// Why it is not available.
    pub async fn archive(&self) -> Result<Arc<Archive>, String> {
        if let Some(a) = self.ready.get() {
            return Ok(a.clone());
        }
        let last = || self.failed.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let (reason, at) = last();
        // One attempt at a time: the others answer at once with the last reason rather than
        // wait (holding their render turns) for a remote server that may take its time.
        let Ok(_attempt) = self.opening.try_lock() else { return Err(reason) };
        if at.elapsed() < RETRY || self.ready.get().is_some() {
            return self.ready.get().cloned().ok_or(reason);
        }
        let location = self.layer.def.archive.clone().unwrap_or_default();
        match Archive::open(self.layer.def.kind, &location, &self.reach).await {
            Ok(a) => {
                tracing::info!(layer = %self.layer.def.id, "tile archive available");
                Ok(self.ready.get_or_init(|| Arc::new(a)).clone())
            }
            Err(reason) => {
                // Logged once per attempt, not per request.
                tracing::warn!(layer = %self.layer.def.id, %reason, "tile archive still not available");
                *self.failed.lock().unwrap_or_else(PoisonError::into_inner) = (reason.clone(), Instant::now());
                Err(reason)
            }
        }
    }

    /// The archive if it is open now (no attempt to open it).
    pub fn opened(&self) -> Option<&Arc<Archive>> {
        self.ready.get()
    }
}

#[async_trait]
impl TileSource for ArchiveSource {
    fn layer(&self) -> &Arc<Layer> {
        &self.layer
    }

    fn schema(&self) -> Arc<Schema> {
        Arc::new(Schema::default())
    }

    fn feature_count(&self) -> usize {
        0
    }

    fn extent(&self) -> Option<Rect<f64>> {
        self.opened().map(|a| a.info.extent())
    }

    fn features(&self) -> Features {
        Features::TilesOnly
    }

    fn format(&self) -> TileFormat {
        self.opened().map_or(TileFormat::Mvt, |a| a.info.format)
    }

    fn archive(&self) -> Option<ArchiveInfo> {
        self.opened().map(|a| a.info.clone())
    }

    async fn available(&self) -> Result<(), String> {
        self.archive().await.map(|_| ())
    }

    async fn tile(&self, coord: TileCoord, _filter: &Filter, _budget: Budget) -> Result<LayerTile, RenderError> {
        if !self.layer.in_zoom(coord.z()) {
            return Ok(LayerTile::default());
        }
        let unavailable =
            |reason: String| RenderError::Archive(format!("layer '{}': {reason}", self.layer.def.id).into());
        let archive = self.archive().await.map_err(unavailable)?;
        let bytes = archive.tile(coord).await.map_err(unavailable)?;
        Ok(bytes.map_or_else(LayerTile::default, |b| LayerTile { features: 1, bytes: b.to_vec(), thinned: false }))
    }
}

/// An archive's location as logs and errors show it: a URL without its credentials or query.
fn shown(location: &str) -> String {
    crate::ingest::sources::config::redact(location.split(['?', '#']).next().unwrap_or(location))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// An MBTiles made with SQL, as the specification lays it out.
    fn mbtiles(dir: &Path, name: &str, format: &str, tiles: &[(u8, u32, u32, Vec<u8>)]) {
        let c = rusqlite::Connection::open(dir.join(name)).unwrap();
        c.execute_batch(
            "CREATE TABLE metadata (name TEXT, value TEXT);
             CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);",
        )
        .unwrap();
        for (k, v) in [
            ("format", format),
            ("minzoom", "0"),
            ("maxzoom", "2"),
            ("bounds", "-10,-40,10,55"),
            ("attribution", "© SQL"),
            ("json", r#"{"vector_layers": [{"id": "water", "fields": {}}]}"#),
        ] {
            c.execute("INSERT INTO metadata VALUES (?1, ?2)", (k, v)).unwrap();
        }
        for (z, x, row, data) in tiles {
            c.execute("INSERT INTO tiles VALUES (?1, ?2, ?3, ?4)", (z, x, row, data)).unwrap();
        }
    }

    fn coord(z: u32, x: u64, y: u64) -> TileCoord {
        TileCoord::new(z, x, y).unwrap()
    }

    #[tokio::test]
    async fn an_mbtiles_made_with_sql_is_read_rows_from_the_south() {
        let tmp = tempfile::tempdir().unwrap();
        // z1, column 1, TMS row 1 is XYZ row 0: the north-east quarter (bounds reach 55°N).
        mbtiles(tmp.path(), "v.mbtiles", "pbf", &[(1, 1, 1, gzip(b"north")), (1, 1, 0, b"south".to_vec())]);
        let reach = ArchiveReach { dir: tmp.path().to_owned(), private_urls: false };
        let a = Archive::open(LayerKind::Mbtiles, "v.mbtiles", &reach).await.unwrap();
        assert_eq!(a.info.format, TileFormat::Mvt);
        assert_eq!((a.info.minzoom, a.info.maxzoom), (0, 2));
        assert_eq!(a.info.attribution.as_deref(), Some("© SQL"));
        assert_eq!(a.info.vector_layers.len(), 1);
        assert_eq!(a.tile(coord(1, 1, 0)).await.unwrap().as_deref(), Some(&b"north"[..]), "gunzipped");
        assert_eq!(a.tile(coord(1, 1, 1)).await.unwrap().as_deref(), Some(&b"south"[..]), "stored plain");
        assert_eq!(a.tile(coord(1, 0, 0)).await.unwrap(), None, "absent");
        assert_eq!(a.tile(coord(3, 4, 2)).await.unwrap(), None, "above maxzoom");
        assert_eq!(a.tile(coord(2, 0, 0)).await.unwrap(), None, "outside the bounds");
    }

    #[tokio::test]
    async fn raster_archives_are_served_as_stored_and_unknown_ones_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let png = b"\x89PNG\r\n\x1a\n....".to_vec();
        mbtiles(tmp.path(), "r.mbtiles", "png", &[(0, 0, 0, png.clone())]);
        mbtiles(tmp.path(), "g.mbtiles", "gif", &[]);
        let reach = ArchiveReach { dir: tmp.path().to_owned(), private_urls: false };
        let r = Archive::open(LayerKind::Mbtiles, "r.mbtiles", &reach).await.unwrap();
        assert_eq!(r.info.format, TileFormat::Png);
        assert_eq!(r.tile(coord(0, 0, 0)).await.unwrap().as_deref(), Some(&png[..]));
        let e = Archive::open(LayerKind::Mbtiles, "g.mbtiles", &reach).await.unwrap_err();
        assert!(e.contains("g.mbtiles") && e.contains("'gif'"), "{e}");
        let e = Archive::open(LayerKind::Pmtiles, "r.mbtiles", &reach).await.unwrap_err();
        assert!(e.contains("not a PMTiles"), "{e}");
    }

    #[tokio::test]
    async fn archives_stay_in_their_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let inside = tmp.path().join("archives");
        std::fs::create_dir_all(&inside).unwrap();
        mbtiles(tmp.path(), "outside.mbtiles", "png", &[]);
        std::os::unix::fs::symlink(tmp.path().join("outside.mbtiles"), inside.join("link.mbtiles")).unwrap();
        let reach = ArchiveReach { dir: inside, private_urls: false };
        let e = Archive::open(LayerKind::Mbtiles, "link.mbtiles", &reach).await.unwrap_err();
        assert!(e.contains("outside the archives folder"), "{e}");
        let e = Archive::open(LayerKind::Mbtiles, "../outside.mbtiles", &reach).await.unwrap_err();
        assert!(e.contains("stay in it"), "{e}");
        // A remote archive on this machine is refused unless private addresses are allowed.
        let e = Archive::open(LayerKind::Pmtiles, "http://127.0.0.1:9/a.pmtiles", &reach).await.unwrap_err();
        assert!(e.contains("no public address"), "{e}");
    }
}
