//! Offline packs: the tiles of an area, zoom range, layer set and filters written into one
//! PMTiles archive, as the server serves them at export time (each tile is the composite tile
//! `GET /tiles/{layers}/{z}/{x}/{y}?{filters}` answers, clusters included), with the style
//! the web view draws them with and what the pack is (what, when, who, which filters) in its
//! metadata. A pack opens in MapLibre with the `pmtiles://` protocol and no server.
//!
//! A pack is planned first ([`Pack::plan`]: layers, area, zooms and filters checked, tiles
//! counted against the limit, so a request too large is refused before any work), then
//! written ([`Pack::write`]) into `OUT.part`, renamed to `OUT` once complete: a failed or
//! cancelled export leaves no archive.

use crate::Shared;
use crate::http::error::ApiError;
use crate::tiles::{self, TileSource};
use geo::{Intersects, MultiPolygon, Rect};
use pmtiles::PmTilesWriter;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use vigie_layers::catalog::LayerKind;
use vigie_layers::scope::Scope;
use vigie_layers::tile::{MAX_ZOOM, mercator_to_lonlat};
use vigie_layers::{Filter, TileCoord};

/// Most tiles of one pack unless the caller says otherwise.
pub const DEFAULT_MAX_TILES: usize = 100_000;
/// Tiles rendered at once while writing a pack.
pub(crate) const CONCURRENCY: usize = 4;

/// What to export.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PackRequest {
    /// Layer ids, comma-separated, as in tile URLs.
    pub layers: String,
    /// `west,south,east,north` in degrees.
    #[serde(default)]
    pub bbox: Option<String>,
    /// An area of a dataset layer, `layer:code` (e.g. `departements:93`).
    #[serde(default)]
    pub area: Option<String>,
    /// Lowest zoom.
    pub minzoom: u8,
    /// Highest zoom.
    pub maxzoom: u8,
    /// The tile filters, as a query string (`severity=3&since=6h`).
    #[serde(default)]
    pub filters: Option<String>,
    /// Whether the workspace's basemap (the catalog's `basemap`) comes with the pack [default:
    /// true]: a vector archive's tiles in the pack's tiles, under the layers; a raster
    /// archive's in a second archive beside the pack ([`basemap_path`]).
    #[serde(default = "yes")]
    pub basemap: bool,
}

fn yes() -> bool {
    true
}

/// A pack ready to be written.
#[derive(Debug)]
pub struct Pack {
    sources: Vec<Arc<dyn TileSource>>,
    /// The workspace's basemap when it is a raster archive: written to a second archive.
    raster: Option<Arc<dyn TileSource>>,
    filter: Filter,
    coords: Vec<TileCoord>,
    bounds: [f64; 4],
    minzoom: u8,
    maxzoom: u8,
    metadata: Value,
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    /// Tiles of the area and zooms.
    pub tiles: usize,
    /// Tiles holding something (the others are left out: an absent tile is an empty one).
    pub stored: usize,
    /// Bytes of the archive.
    pub bytes: u64,
    /// The raster basemap's archive written beside the pack, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basemap: Option<Box<Written>>,
}

/// Where the raster basemap of the pack `out` (`NAME.pmtiles`) is written: `NAME.basemap.pmtiles`
/// beside it.
pub fn basemap_path(out: &Path) -> PathBuf {
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("pack.pmtiles");
    out.with_file_name(format!("{}.basemap.pmtiles", name.strip_suffix(".pmtiles").unwrap_or(name)))
}

/// What an archive's header says.
#[derive(Debug, Clone)]
pub struct Header {
    /// Its tiles' encoding.
    pub format: tiles::TileFormat,
    /// West, south, east, north, degrees.
    pub bounds: [f64; 4],
    /// Lowest zoom.
    pub minzoom: u8,
    /// Highest zoom.
    pub maxzoom: u8,
    /// Its JSON metadata (TileJSON fields and more).
    pub metadata: Value,
}

/// Writes the tiles `tiles` gives (in the archive's order, Hilbert within each zoom; empty
/// ones left out) into a PMTiles archive at `out`, through `out.part` renamed once complete,
/// counting tiles in `done` and stopping when `cancel` is set. `tiles` is how many it gives.
///
/// # Errors
/// [`WriteError`] (the first error `tiles` gives, a cancel, a write error); nothing is left
/// at `out` then.
pub async fn write_archive<S>(
    mut tiles: S,
    total: usize,
    header: &Header,
    out: &Path,
    done: &AtomicU64,
    cancel: &AtomicBool,
) -> Result<Written, WriteError>
where
    S: futures_util::Stream<Item = Result<(TileCoord, Vec<u8>), WriteError>> + Unpin,
{
    use futures_util::StreamExt;
    let part = PathBuf::from(format!("{}.part", out.display()));
    let failed =
        |e: &dyn std::fmt::Display| WriteError::Write { path: out.display().to_string(), message: e.to_string() };
    let file = std::fs::File::create(&part).map_err(|e| failed(&e))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(TileCoord, Vec<u8>)>(64);
    let [w, s, e, n] = header.bounds;
    let writer = PmTilesWriter::new(header.format.pmtiles_type())
        .min_zoom(header.minzoom)
        .max_zoom(header.maxzoom)
        .bounds(w, s, e, n)
        .center_zoom(header.minzoom)
        .center(f64::midpoint(w, e), f64::midpoint(s, n))
        .metadata(header.metadata.to_string());
    // The archive is written on a blocking thread, in the order the tiles come.
    let writing = tokio::task::spawn_blocking(move || -> Result<usize, String> {
        let mut writer = writer.create(std::io::BufWriter::new(file)).map_err(|e| e.to_string())?;
        let mut stored = 0;
        while let Some((c, bytes)) = rx.blocking_recv() {
            let coord = pmtiles::TileCoord::new(c.z(), c.x(), c.y()).map_err(|e| e.to_string())?;
            writer.add_tile(coord, &bytes).map_err(|e| e.to_string())?;
            stored += 1;
        }
        writer.finalize().map_err(|e| e.to_string())?;
        Ok(stored)
    });
    let mut outcome = Ok(());
    while let Some(next) = tiles.next().await {
        if cancel.load(Ordering::Relaxed) {
            outcome = Err(WriteError::Cancelled);
            break;
        }
        match next {
            Ok((coord, tile)) => {
                done.fetch_add(1, Ordering::Relaxed);
                if !tile.is_empty() && tx.send((coord, tile)).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    drop(tiles);
    drop(tx);
    let written = writing.await.map_err(|e| failed(&e)).and_then(|r| r.map_err(|e| failed(&e)));
    let result = outcome.and(written).and_then(|stored| {
        std::fs::rename(&part, out).map_err(|e| failed(&e))?;
        let bytes = std::fs::metadata(out).map_err(|e| failed(&e))?.len();
        Ok(Written { tiles: total, stored, bytes, basemap: None })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

/// Why a pack could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Cancelled before it was complete.
    #[error("the export was cancelled")]
    Cancelled,
    /// A tile could not be rendered.
    #[error("tile {coord}: {source}")]
    Render {
        /// The tile.
        coord: TileCoord,
        /// Why.
        source: tiles::RenderError,
    },
    /// The archive could not be written.
    #[error("{path}: {message}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

fn bad(title: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::bad_request(title, detail.into())
}

/// Tiles of zoom `z` meeting the box (lon/lat degrees): first and last column, first and last
/// row.
fn range(bounds: [f64; 4], z: u8) -> (u32, u32, u32, u32) {
    let (x0, y0, x1, y1) = vigie_layers::tile::tiles_covering(tiles::archive::mercator_box(bounds), z, 0);
    (x0, x1, y0, y1)
}

/// The tiles of zooms `lo..=hi` meeting the box (lon/lat degrees), in the archive's order
/// (Hilbert curve within each zoom: a clustered archive).
///
/// # Errors
/// 400 for a zoom beyond [`MAX_ZOOM`].
pub fn covering(bounds: [f64; 4], lo: u8, hi: u8) -> Result<Vec<TileCoord>, ApiError> {
    let mut coords = Vec::new();
    for z in lo..=hi {
        let (x0, x1, y0, y1) = range(bounds, z);
        for x in x0..=x1 {
            for y in y0..=y1 {
                coords.push(
                    TileCoord::new(u32::from(z), u64::from(x), u64::from(y))
                        .map_err(|e| bad("Invalid tile", e.to_string()))?,
                );
            }
        }
    }
    coords.sort_by_key(|c| {
        pmtiles::TileCoord::new(c.z(), c.x(), c.y()).map_or(u64::MAX, |t| pmtiles::TileId::from(t).value())
    });
    Ok(coords)
}

fn parse_bbox(text: &str) -> Result<[f64; 4], ApiError> {
    let v: Vec<f64> = text.split(',').map(|p| p.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| {
        bad("Invalid bbox", format!("bbox '{text}' must be west,south,east,north in degrees, e.g. 2.2,48.8,2.5,48.95"))
    })?;
    let [w, s, e, n] = <[f64; 4]>::try_from(v)
        .map_err(|_| bad("Invalid bbox", format!("bbox '{text}' must have four numbers: west,south,east,north")))?;
    if !(-180.0..=180.0).contains(&w)
        || !(-180.0..=180.0).contains(&e)
        || !(-90.0..=90.0).contains(&s)
        || !(-90.0..=90.0).contains(&n)
        || w >= e
        || s >= n
    {
        return Err(bad(
            "Invalid bbox",
            format!("bbox '{text}': longitudes within ±180 and latitudes within ±90, west < east and south < north"),
        ));
    }
    Ok([w, s, e, n])
}

impl Pack {
    /// Checks a request and lists its tiles, for an asker narrowed to `scope` (their
    /// territory) and named `who`.
    ///
    /// # Errors
    /// 400 naming what to fix (layers, area, zooms, filters), 404 for an unknown layer or
    /// area, 413 when the pack would hold more than `max_tiles` tiles.
    pub async fn plan(
        state: &Shared,
        request: &PackRequest,
        scope: Option<Arc<Scope>>,
        who: &str,
        max_tiles: usize,
    ) -> Result<Self, ApiError> {
        let mut sources = crate::http::tiles::resolve_layers(state, &request.layers)?;
        if let Some(raster) = sources.iter().find(|s| !s.format().is_vector()) {
            return Err(bad(
                "Raster layer in a pack",
                format!(
                    "layer '{}' is a raster archive: a pack's tiles are vector tiles (a raster basemap comes with \
                     the pack as the workspace's basemap, in an archive of its own)",
                    raster.id()
                ),
            ));
        }
        // The workspace's basemap comes along: a vector archive under the rest, in the same
        // tiles; a raster one in a second archive.
        // An archive that cannot be read now is left out, and the metadata says why.
        let (mut raster, mut left_out) = (None, None);
        if request.basemap
            && let Some(base) = state.engine.catalog().basemap.as_deref().and_then(|id| state.tiles.get(id))
            && !sources.iter().any(|s| s.id() == base.id())
        {
            if let Err(reason) = base.available().await {
                left_out = Some(json!({"layer": base.id(), "left_out": reason}));
            } else if base.format().is_vector() {
                sources.insert(0, base.clone());
            } else {
                raster = Some(base.clone());
            }
        }
        let (lo, hi) = (request.minzoom, request.maxzoom);
        if lo > hi || hi > MAX_ZOOM {
            return Err(bad(
                "Invalid zoom range",
                format!("minzoom {lo} and maxzoom {hi}: 0 <= minzoom <= maxzoom <= {MAX_ZOOM}"),
            ));
        }
        let now = crate::now_ms();
        let filter = crate::http::filters::parse_filter(request.filters.as_deref(), state.engine.vocabulary(), now)?
            .with_scope(scope);
        let (bounds, shape, area_label) = match (&request.bbox, &request.area) {
            (Some(b), None) => (parse_bbox(b)?, None, format!("bbox {b}")),
            (None, Some(a)) => {
                let (shape, label) = area(state, a)?;
                let r = geo::BoundingRect::bounding_rect(&shape)
                    .ok_or_else(|| bad("Invalid area", format!("area '{a}' has no extent")))?;
                ([r.min().x, r.min().y, r.max().x, r.max().y], Some(shape), label)
            }
            _ => {
                return Err(bad(
                    "Invalid area",
                    "give exactly one of bbox (west,south,east,north) and area (layer:code)",
                ));
            }
        };
        // Counted on the box first: a request far over the limit is refused before listing.
        let boxed: u64 = (lo..=hi)
            .map(|z| {
                let (x0, x1, y0, y1) = range(bounds, z);
                u64::from(x1 - x0 + 1) * u64::from(y1 - y0 + 1)
            })
            .sum();
        let too_many = |n: u64| {
            ApiError::TooLarge(format!(
                "the pack would hold {n} tiles, more than the limit of {max_tiles}: narrow the area, lower maxzoom \
                 or raise minzoom"
            ))
        };
        if boxed > 4 * max_tiles as u64 {
            return Err(too_many(boxed));
        }
        let mut coords = covering(bounds, lo, hi)?;
        if let Some(s) = &shape {
            coords.retain(|c| {
                let b = c.bounds();
                s.intersects(&Rect::new(mercator_to_lonlat(b.min()), mercator_to_lonlat(b.max())))
            });
        }
        if coords.len() > max_tiles {
            return Err(too_many(coords.len() as u64));
        }
        let doc = crate::http::tilejson::document(state, &sources, "pmtiles://", "", filter.scope.as_deref());
        let ids: Vec<&str> = sources.iter().map(|s| s.id()).collect();
        let mut metadata = json!({
            "name": format!("{} — {}", state.engine.catalog().name, area_label),
            "description": format!("vigie offline pack: {} over {area_label}, zoom {lo} to {hi}", ids.join(", ")),
            "attribution": doc.attribution,
            "type": "overlay",
            "format": "pbf",
            "vector_layers": doc.vector_layers,
            "vigie": {
                "workspace": state.config.workspace,
                "layers": ids,
                "area": area_label,
                "bounds": bounds,
                "minzoom": lo,
                "maxzoom": hi,
                "filters": crate::http::filters::to_query(&filter),
                "exported_at": vigie_layers::feature::format_time_ms(now),
                "exported_by": who,
                "territory": filter.scope.is_some(),
                "tiles": coords.len(),
                "version": env!("CARGO_PKG_VERSION"),
            },
        });
        if let Some(r) = &raster {
            metadata["vigie"]["basemap"] = json!({"layer": r.id(), "format": r.format().extension()});
        } else if let Some(l) = left_out {
            metadata["vigie"]["basemap"] = l;
        }
        Ok(Self { sources, raster, filter, coords, bounds, minzoom: lo, maxzoom: hi, metadata })
    }

    /// Tiles to write before empty ones are left out (the raster basemap's included).
    pub fn tiles(&self) -> usize {
        self.coords.len() * (1 + usize::from(self.raster.is_some()))
    }

    /// Whether a raster basemap is written beside the pack ([`basemap_path`]).
    pub fn has_raster_basemap(&self) -> bool {
        self.raster.is_some()
    }

    /// Its metadata (TileJSON fields, and `vigie`: what, when, who, filters).
    pub fn metadata(&self) -> &Value {
        &self.metadata
    }

    /// The style of a pack written as `file_name`: the workspace's `hypervision` style with its
    /// source read from the pack (`pmtiles://file_name`, resolved by the `pmtiles` protocol
    /// against the page that opens it) and only the style layers of the pack's layers, all
    /// visible.
    pub fn style(&self, state: &Shared, file_name: &str) -> Value {
        let styles = state.styles.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let mut style = styles.resolved("hypervision", "").unwrap_or_else(|| json!({"version": 8, "layers": []}));
        let ids: Vec<&str> = self.sources.iter().map(|s| s.id()).collect();
        if let Some(o) = style.as_object_mut() {
            let mut sources = json!({"vigie": {"type": "vector", "url": format!("pmtiles://{file_name}"),
                                               "attribution": self.metadata["attribution"]}});
            if let Some(r) = &self.raster {
                let name = basemap_path(Path::new(file_name));
                sources["basemap"] = json!({"type": "raster", "url": format!("pmtiles://{}", name.display()),
                                            "tileSize": 256,
                                            "attribution": r.archive().and_then(|a| a.attribution)});
            }
            o.insert("sources".into(), sources);
            o.remove("sprite");
            o.remove("glyphs");
            o.insert(
                "center".into(),
                json!([f64::midpoint(self.bounds[0], self.bounds[2]), f64::midpoint(self.bounds[1], self.bounds[3])]),
            );
            o.insert("zoom".into(), json!(self.minzoom));
            if let Some(Value::Array(layers)) = o.get_mut("layers") {
                layers.retain(|l| match l.get("source-layer").and_then(Value::as_str) {
                    Some(sl) => ids.contains(&sl),
                    None => l.get("source").is_none(),
                });
                // An archive's own layers (a basemap's) in greys, right above the background.
                let archived: Vec<Value> = self
                    .sources
                    .iter()
                    .filter_map(|s| s.archive())
                    .flat_map(|a| a.vector_layers)
                    .flat_map(|v| greys(&v.id))
                    .collect();
                let at = usize::from(layers.first().is_some_and(|l| l["type"] == "background"));
                layers.splice(at..at, archived);
                // A raster basemap in greys, as the web view's greyscale option draws it.
                if self.raster.is_some() {
                    layers.insert(
                        at,
                        json!({"id": "basemap-raster", "type": "raster", "source": "basemap",
                               "paint": {"raster-saturation": -1}}),
                    );
                }
                for l in layers.iter_mut().filter(|l| l.get("source").is_some_and(|s| s != "basemap")) {
                    l["source"] = json!("vigie");
                    // The pack's layers were chosen: drawn, even those the web page shows
                    // through other style layers (the log's `entries-*`, hidden in the style).
                    if let Some(Value::Object(layout)) = l.get_mut("layout") {
                        layout.remove("visibility");
                    }
                }
            }
        }
        style
    }

    /// Writes the pack into `out` (through `out.part`), and its raster basemap, if any, into
    /// [`basemap_path`]`(out)`, counting tiles done in `done`, stopping when `cancel` is set.
    ///
    /// # Errors
    /// [`WriteError`]; nothing is left at `out` (nor beside it) then.
    pub async fn write(
        &self,
        state: &Arc<Shared>,
        out: &Path,
        done: &AtomicU64,
        cancel: &AtomicBool,
    ) -> Result<Written, WriteError> {
        use futures_util::StreamExt;
        let budget = state.renders.budget();
        let rendered = futures_util::stream::iter(self.coords.iter().copied())
            .map(|coord| async move {
                let _turn = state.renders.turn().await.map_err(|source| WriteError::Render { coord, source })?;
                let tile = tiles::render(&self.sources, coord, &self.filter, budget)
                    .await
                    .map_err(|source| WriteError::Render { coord, source })?;
                Ok::<_, WriteError>((coord, tile.raw.to_vec()))
            })
            .buffered(CONCURRENCY);
        let header = Header {
            format: tiles::TileFormat::Mvt,
            bounds: self.bounds,
            minzoom: self.minzoom,
            maxzoom: self.maxzoom,
            metadata: self.metadata.clone(),
        };
        let mut written = write_archive(Box::pin(rendered), self.coords.len(), &header, out, done, cancel).await?;
        let Some(raster) = &self.raster else { return Ok(written) };
        // The raster basemap's tiles as its archive holds them, over the same tiles.
        let copied = futures_util::stream::iter(self.coords.iter().copied())
            .map(|coord| async move {
                let tile = raster
                    .tile(coord, &self.filter, vigie_layers::Budget::UNBOUNDED)
                    .await
                    .map_err(|source| WriteError::Render { coord, source })?;
                Ok::<_, WriteError>((coord, tile.bytes))
            })
            .buffered(CONCURRENCY);
        let info = raster.archive();
        let header = Header {
            format: raster.format(),
            metadata: json!({
                "name": format!("{} — {}", raster.layer().def.title, self.metadata["vigie"]["area"].as_str().unwrap_or("")),
                "attribution": info.and_then(|a| a.attribution),
                "type": "baselayer",
                "format": raster.format().extension(),
                "vigie": {"basemap_of": self.metadata["vigie"].clone()},
            }),
            ..header
        };
        let path = basemap_path(out);
        match write_archive(Box::pin(copied), self.coords.len(), &header, &path, done, cancel).await {
            Ok(b) => {
                written.basemap = Some(Box::new(b));
                Ok(written)
            }
            Err(e) => {
                let _ = std::fs::remove_file(out);
                Err(e)
            }
        }
    }
}

/// How long a finished export's pack is kept for download.
pub const KEEP_MS: i64 = 24 * 3600 * 1000;
/// Most exports of a workspace running at once.
pub const MAX_RUNNING: usize = 2;
/// Most exports a workspace keeps (finished ones beyond it are removed, oldest first).
pub const MAX_KEPT: usize = 50;

/// Where an export is.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum JobState {
    /// Tiles being written.
    Running,
    /// The pack is ready.
    Done {
        /// What was written.
        written: Written,
    },
    /// It failed: why.
    Failed {
        /// Why.
        error: String,
    },
    /// Cancelled by its owner.
    Cancelled,
}

/// One export of the API.
#[derive(Debug)]
pub struct Job {
    /// Its id in the workspace.
    pub id: u64,
    /// Who asked (the audit trail's actor).
    pub owner: String,
    /// What was asked.
    pub request: PackRequest,
    /// Tiles to write.
    pub total: usize,
    /// Tiles done.
    pub done: AtomicU64,
    /// Set to stop it.
    pub cancel: AtomicBool,
    /// When it was asked, ms since the epoch.
    pub created_ms: i64,
    /// The pack's file (`.part` while written).
    pub path: PathBuf,
    /// The raster basemap's archive beside it, if the pack has one.
    pub basemap: Option<PathBuf>,
    /// The pack's style.
    pub style: Value,
    state: std::sync::Mutex<(JobState, Option<i64>)>,
}

impl Job {
    /// Where it is, and when it finished.
    pub fn state(&self) -> (JobState, Option<i64>) {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn finish(&self, state: JobState) {
        *self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = (state, Some(crate::now_ms()));
    }

    /// Whether it is still running.
    pub fn running(&self) -> bool {
        matches!(self.state().0, JobState::Running)
    }

    /// Removes its files.
    fn remove_files(&self) {
        for path in std::iter::once(&self.path).chain(&self.basemap) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A workspace's exports (kept across the workspace's reloads), their packs under `dir`.
#[derive(Debug)]
pub struct Jobs {
    dir: PathBuf,
    next: AtomicU64,
    by_id: std::sync::Mutex<std::collections::BTreeMap<u64, Arc<Job>>>,
}

impl Jobs {
    /// No export yet; packs go to `dir`, where packs older than [`KEEP_MS`] (left by an
    /// earlier process: jobs live in memory) are removed. Newer ones may be another process's
    /// on the same data directory (`vigie export` beside a server): they stay.
    pub fn new(dir: PathBuf) -> Arc<Self> {
        let stale = std::time::Duration::from_millis(KEEP_MS as u64);
        for entry in std::fs::read_dir(&dir).into_iter().flatten().filter_map(Result::ok) {
            let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|e| e > stale));
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        // Ids start from the clock, so a restarted process does not hand out a pack's name again.
        let next = u64::try_from(crate::now_ms()).unwrap_or(1);
        Arc::new(Self { dir, next: AtomicU64::new(next), by_id: std::sync::Mutex::default() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<u64, Arc<Job>>> {
        self.by_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Removes the exports finished more than [`KEEP_MS`] ago, and the oldest finished ones
    /// beyond [`MAX_KEPT`], with their packs.
    fn sweep(&self, now: i64) {
        let mut jobs = self.lock();
        let finished: Vec<(u64, i64)> = jobs.values().filter_map(|j| j.state().1.map(|at| (j.id, at))).collect();
        let over = jobs.len().saturating_sub(MAX_KEPT);
        for (n, (id, at)) in finished.into_iter().enumerate() {
            if (now - at > KEEP_MS || n < over)
                && let Some(j) = jobs.remove(&id)
            {
                j.remove_files();
            }
        }
    }

    /// Starts writing a planned pack for `owner`.
    ///
    /// # Errors
    /// 429 when [`MAX_RUNNING`] exports of the workspace are running.
    pub fn start(
        self: &Arc<Self>,
        state: &Arc<Shared>,
        pack: Pack,
        request: PackRequest,
        owner: String,
    ) -> Result<Arc<Job>, ApiError> {
        let now = crate::now_ms();
        self.sweep(now);
        let running = self.lock().values().filter(|j| j.running()).count();
        if running >= MAX_RUNNING {
            return Err(ApiError::TooManyRequests {
                detail: format!(
                    "{running} exports of this workspace are running (at most {MAX_RUNNING} at once): wait for one to \
                     finish, or cancel one"
                ),
                retry_after_s: 30,
            });
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("{}: {e}", self.dir.display())))?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("vigie-{}-{id}.pmtiles", state.config.workspace);
        let job = Arc::new(Job {
            id,
            owner,
            total: pack.tiles(),
            done: AtomicU64::new(0),
            cancel: AtomicBool::new(false),
            created_ms: now,
            path: self.dir.join(&name),
            basemap: pack.has_raster_basemap().then(|| basemap_path(&self.dir.join(&name))),
            style: pack.style(state, &name),
            request,
            state: std::sync::Mutex::new((JobState::Running, None)),
        });
        self.lock().insert(id, job.clone());
        let (state, running, jobs) = (state.clone(), job.clone(), self.clone());
        tokio::spawn(async move {
            let result = pack.write(&state, &running.path, &running.done, &running.cancel).await;
            running.finish(match result {
                Ok(written) => JobState::Done { written },
                Err(WriteError::Cancelled) => JobState::Cancelled,
                Err(e) => {
                    tracing::warn!(export = running.id, error = %e, "export failed");
                    JobState::Failed { error: e.to_string() }
                }
            });
            // Removed while it was written: its pack goes too.
            if jobs.get(running.id).is_none() {
                running.remove_files();
            }
        });
        Ok(job)
    }

    /// An export by id.
    pub fn get(&self, id: u64) -> Option<Arc<Job>> {
        self.lock().get(&id).cloned()
    }

    /// Every export, newest first.
    pub fn list(&self) -> Vec<Arc<Job>> {
        self.sweep(crate::now_ms());
        self.lock().values().rev().cloned().collect()
    }

    /// Forgets an export and removes its pack (a running one is cancelled first).
    pub fn remove(&self, id: u64) -> Option<Arc<Job>> {
        let job = self.lock().remove(&id)?;
        job.cancel.store(true, Ordering::Relaxed);
        job.remove_files();
        Some(job)
    }
}

/// Style layers drawing an archive's vector layer `name` in greys (fills, outlines, lines,
/// points), as the web view draws a vector basemap.
fn greys(name: &str) -> Vec<Value> {
    let kind = |types: [&str; 2]| json!(["match", ["geometry-type"], [types[0], types[1]], true, false]);
    let layer = |suffix: &str, kind: Value, ty: &str, paint: Value| {
        json!({"id": format!("{name}-{suffix}"), "type": ty, "source": "vigie", "source-layer": name,
               "filter": kind, "paint": paint})
    };
    vec![
        layer("fill", kind(["Polygon", "MultiPolygon"]), "fill", json!({"fill-color": "#eceff1"})),
        layer(
            "outline",
            kind(["Polygon", "MultiPolygon"]),
            "line",
            json!({"line-color": "#b0bec5", "line-width": 0.5}),
        ),
        layer(
            "line",
            kind(["LineString", "MultiLineString"]),
            "line",
            json!({"line-color": "#9e9e9e", "line-width": 1}),
        ),
        layer(
            "point",
            kind(["Point", "MultiPoint"]),
            "circle",
            json!({"circle-color": "#616161", "circle-radius": 2.5}),
        ),
    ]
}

/// The polygons of `layer:code` (WGS84) and how the pack names it.
fn area(state: &Shared, text: &str) -> Result<(MultiPolygon<f64>, String), ApiError> {
    let (layer_id, code) = text
        .split_once(':')
        .ok_or_else(|| bad("Invalid area", format!("area '{text}': expected layer:code, e.g. departements:93")))?;
    let layer = state
        .engine
        .layer(layer_id)
        .filter(|l| l.def.kind == LayerKind::Dataset)
        .ok_or_else(|| ApiError::NotFound(format!("no dataset layer '{layer_id}' (area '{text}')")))?;
    let key = layer.def.key.as_deref().unwrap_or("code");
    let g = state
        .engine
        .find_by_properties(layer, &[(key, code)])
        .ok_or_else(|| ApiError::NotFound(format!("no area with {key} = '{code}' in layer '{layer_id}'")))?;
    let shape = match g {
        geo::Geometry::Polygon(p) => MultiPolygon(vec![p]),
        geo::Geometry::MultiPolygon(mp) => mp,
        _ => return Err(bad("Invalid area", format!("area '{text}' is not a polygon"))),
    };
    Ok((shape, format!("{layer_id}:{code}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_ranges_cover_the_box() {
        // Paris at z10: one or two tiles each way.
        let (x0, x1, y0, y1) = range([2.25, 48.81, 2.42, 48.90], 10);
        assert_eq!((x0, x1), (518, 518));
        assert_eq!((y0, y1), (352, 352));
        // The whole world at z2.
        assert_eq!(range([-180.0, -90.0, 180.0, 90.0], 2), (0, 3, 0, 3));
    }

    #[test]
    fn boxes_are_checked() {
        assert!(parse_bbox("2.2,48.8,2.5,48.95").is_ok());
        for wrong in ["2.2,48.8,2.5", "a,b,c,d", "2.5,48.8,2.2,48.95", "2.2,95,2.5,96", "200,0,201,1"] {
            assert!(parse_bbox(wrong).is_err(), "{wrong}");
        }
    }
}
