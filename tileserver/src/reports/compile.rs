//! The compiled parts of a report, computed from the store for its period and the workspace's
//! territory (live while it is a draft or in review, frozen into it at validation):
//!
//! - **Key figures**: the log's entries of the period in the report's area, by theme,
//!   severity, qualification (every qualification, refuted included) and département, each
//!   with the figure of the previous report (its frozen figures when it was validated, else
//!   recomputed for its period). Each table links to the region query (`GET /api/query`) whose
//!   summary gives it: the same code counts both.
//! - **Significant events**: confirmed entries at or above the significant severity (3) in
//!   the period, oldest first, with time, place, links and first photo.
//! - **New hotspots**: H3 cells (resolution 8) whose count `k` in the period is far above
//!   their trailing average. The expected count is `λ = b · T / B`, `b` the cell's entries in
//!   the `B` = 7 days before the period and `T` the period's length, floored at 0.1 (a cell
//!   quiet all week is not infinitely surprising). A cell with `k ≥ 3` is a hotspot when the
//!   Poisson upper tail `P(X ≥ k | λ)`, times the number of cells tested (Bonferroni), is at
//!   most α = 0.01: fewer than one false alarm per hundred reports over quiet data.
//! - **Sources** that failed (last run failed or rejected, or the entry is invalid) or went
//!   stale (no run for twice their refresh interval).
//! - **Maps**: the settings' maps, drawn by the static map renderer with the period as
//!   filter (PNG, frozen into the attachments store at validation).
//!
//! Entries count in the period `[start, end)`: the queries' `to` is `end` less 1 ms.

use super::Settings;
use super::schedule::{DAY_MS, utc_ms};
use crate::http::error::ApiError;
use crate::http::{AppState, query};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use vigie_layers::scope::Scope;

/// Most significant events listed (the rest is counted, with the query listing them all).
pub const MAX_SIGNIFICANT: usize = 200;
/// Most hotspots listed.
pub const MAX_HOTSPOTS: usize = 20;
/// Smallest expected count of the hotspot test.
pub const MIN_EXPECTED: f64 = 0.1;
/// The layer whose areas break figures down by département.
pub const DEPARTEMENTS: &str = "departements";

/// One line of a table of figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// What is counted (a theme id, a severity, a qualification, a département code).
    pub key: String,
    /// How people read it.
    pub label: String,
    /// Entries in the period.
    pub count: usize,
    /// Entries in the previous report's period (`None` without one).
    pub previous: Option<usize>,
    /// The query giving this figure.
    pub query: String,
}

/// The key figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Figures {
    /// Entries of the period.
    pub total: usize,
    /// Entries of the previous period.
    pub previous_total: Option<usize>,
    /// The query whose summary gives the total and the theme, severity and qualification
    /// tables.
    pub query: String,
    /// By theme (an entry with two themes counts in both).
    pub by_theme: Vec<Row>,
    /// By severity.
    pub by_severity: Vec<Row>,
    /// By qualification.
    pub by_qualification: Vec<Row>,
    /// By département meeting the area (each its own query: the whole département).
    pub by_departement: Vec<Row>,
}

/// A significant event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Significant {
    /// Entry id.
    pub id: u64,
    /// When it happened (RFC 3339).
    pub time: String,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: u8,
    /// Themes and tags.
    pub tags: Vec<String>,
    /// Place: the entry's location text, else its coordinates.
    pub place: String,
    /// Longitude, latitude of its position (a point, or its box's centre).
    pub lonlat: [f64; 2],
    /// Its links (URL, title).
    pub links: Vec<(String, String)>,
    /// Its first photo's SHA-256 and media type.
    pub photo: Option<(String, String)>,
}

/// A new hotspot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hotspot {
    /// H3 cell.
    pub cell: String,
    /// Its centre, lon/lat.
    pub lonlat: [f64; 2],
    /// Entries in the period.
    pub count: usize,
    /// Entries in the baseline days before.
    pub baseline: usize,
    /// Expected count in the period.
    pub expected: f64,
    /// Poisson upper tail `P(X ≥ count | expected)`.
    pub p_value: f64,
    /// The query listing its entries.
    pub query: String,
}

/// A source in trouble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceIssue {
    /// Source id.
    pub id: String,
    /// Title.
    pub title: String,
    /// `failed`, `rejected`, `invalid` or `stale`.
    pub problem: String,
    /// Its last run's start (RFC 3339), if any.
    pub last_run: Option<String>,
    /// What went wrong.
    pub detail: String,
}

/// A map of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapPart {
    /// Caption.
    pub title: String,
    /// The static map query drawing it (`/api/staticmap?…`).
    pub query: String,
    /// The frozen image's SHA-256 (attachments store), once validated.
    pub sha256: Option<String>,
    /// Why it could not be drawn (an area missing, too many features…).
    pub error: Option<String>,
}

/// Everything compiled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compiled {
    /// When (epoch ms).
    pub computed_at: i64,
    /// The period, epoch ms `[start, end)`.
    pub period: [i64; 2],
    /// The area's region parameters (`null`: the whole workspace).
    pub area: Option<Map<String, Value>>,
    /// The previous period compared with, and the report it comes from.
    pub previous: Option<Previous>,
    /// Key figures.
    pub figures: Figures,
    /// Significant events, oldest first.
    pub significant: Vec<Significant>,
    /// Significant events beyond [`MAX_SIGNIFICANT`].
    pub significant_more: usize,
    /// The query listing them.
    pub significant_query: String,
    /// New hotspots, most surprising first.
    pub hotspots: Vec<Hotspot>,
    /// How hotspots were decided, in words.
    pub hotspot_method: String,
    /// Cells tested.
    pub hotspot_cells_tested: usize,
    /// Sources in trouble.
    pub sources: Vec<SourceIssue>,
    /// Maps.
    pub maps: Vec<MapPart>,
    /// Staffing: the alert level, its changes, the gaps of the next 24 hours (none in reports
    /// frozen before staffing existed, or for a workspace without positions).
    #[serde(default)]
    pub staffing: Option<crate::staffing::ReportPart>,
}

/// The period compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Previous {
    /// Epoch ms `[start, end)`.
    pub period: [i64; 2],
    /// The report of that period, when there is one.
    pub report: Option<u64>,
    /// Whether its figures are those frozen in that report.
    pub frozen: bool,
}

/// What a compilation needs besides the engine.
#[derive(Debug, Clone)]
pub struct Input {
    /// The report's settings.
    pub settings: Settings,
    /// `[start, end)`, epoch ms.
    pub period: [i64; 2],
    /// The workspace's territory (narrows every count).
    pub scope: Option<Arc<Scope>>,
    /// The previous report's period and frozen figures.
    pub previous: Option<(Previous, Option<Figures>)>,
    /// Sources in trouble now.
    pub sources: Vec<SourceIssue>,
    /// The staffing part, read from the roster.
    pub staffing: Option<crate::staffing::ReportPart>,
}

fn text(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// The region parameters of the area (a box over the whole world for the whole workspace:
/// its territory then bounds every count).
fn area_params(settings: &Settings) -> Map<String, Value> {
    settings.area.clone().unwrap_or_else(|| {
        let mut m = Map::new();
        m.insert("bbox".into(), text("-180,-90,180,90"));
        m
    })
}

/// String values only, as in a URL.
fn stringly(p: Map<String, Value>) -> Map<String, Value> {
    p.into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                Value::Array(a) if a.iter().all(Value::is_number) => {
                    a.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
                }
                other => other.to_string(),
            };
            (k, Value::String(s))
        })
        .collect()
}

fn with_period(mut p: Map<String, Value>, [start, end]: [i64; 2]) -> Map<String, Value> {
    p.insert("from".into(), text(utc_ms(start)));
    p.insert("to".into(), text(utc_ms(end - 1)));
    p.insert("layers".into(), text("entries"));
    p
}

/// The query counting every entry of the period in region `p` (every qualification; its
/// summary is the figure).
fn count_query(p: Map<String, Value>, period: [i64; 2]) -> Map<String, Value> {
    let mut q = with_period(p, period);
    q.insert("qualification".into(), text("all"));
    q.insert("limit".into(), text("1"));
    q
}

/// The query counting a département's entries of the period.
fn departement_query(code: &str, period: [i64; 2]) -> Map<String, Value> {
    let mut q = Map::new();
    q.insert("area".into(), text(format!("{DEPARTEMENTS}:{code}")));
    count_query(q, period)
}

fn figures_of(
    state: &AppState,
    area: &Map<String, Value>,
    period: [i64; 2],
    scope: Option<&Arc<Scope>>,
) -> Result<Figures, ApiError> {
    let p = count_query(area.clone(), period);
    let answer = query::summary(state, &p, scope.cloned())?;
    let link = query::link(state, &p);
    let s = answer.summary;
    let vocab = state.engine.catalog();
    let row = |key: String, label: String, count: usize| Row { key, label, count, previous: None, query: link.clone() };
    let by_theme = s
        .by_theme
        .iter()
        .map(|(k, n)| {
            let label = vocab.themes.iter().find(|t| t.id == *k).map_or_else(|| k.clone(), |t| t.title.clone());
            row(k.clone(), label, *n)
        })
        .collect();
    let by_severity = s.by_severity.iter().rev().map(|(k, n)| row(k.to_string(), format!("Gravité {k}"), *n)).collect();
    let by_qualification = s.by_qualification.iter().map(|(k, n)| row(k.clone(), qualification_fr(k), *n)).collect();
    // Départements meeting the area: each counted by its own query (the whole département).
    let mut by_departement = Vec::new();
    if let Some(layer) = state.engine.layer(DEPARTEMENTS) {
        let key = layer.def.key.clone().unwrap_or_else(|| "code".into());
        let region = query::region(state, area)?;
        let schema = state.engine.schema(layer);
        let areas = state.engine.region_hits(std::slice::from_ref(layer), &region, &vigie_layers::Filter::default());
        let prop = |f: &vigie_layers::Feature, name: &str| {
            schema.position(name).and_then(|i| f.props.get(i)).map(|v| match v {
                vigie_layers::Value::Text(t) => t.to_string(),
                vigie_layers::Value::Int(i) => i.to_string(),
                other => format!("{other:?}"),
            })
        };
        let mut codes: Vec<(String, String)> = areas
            .iter()
            .filter_map(|h| {
                let code = prop(&h.feature, &key)?;
                let name = prop(&h.feature, "nom").or_else(|| prop(&h.feature, "name")).unwrap_or_else(|| code.clone());
                Some((code, name))
            })
            .collect();
        codes.sort();
        codes.dedup();
        for (code, name) in codes {
            let q = departement_query(&code, period);
            let n = query::summary(state, &q, scope.cloned())?.summary.total;
            if n > 0 {
                by_departement.push(Row {
                    key: code.clone(),
                    label: format!("{name} ({code})"),
                    count: n,
                    previous: None,
                    query: query::link(state, &q),
                });
            }
        }
    }
    Ok(Figures {
        total: s.total,
        previous_total: None,
        query: link,
        by_theme,
        by_severity,
        by_qualification,
        by_departement,
    })
}

/// A qualification as the report prints it (the web view's French labels).
fn qualification_fr(key: &str) -> String {
    match key {
        "raw" => "Brut",
        "in_review" => "En examen",
        "confirmed" => "Confirmé",
        "refuted" => "Réfuté",
        "closed" => "Clos",
        other => other,
    }
    .to_owned()
}

/// The order a table's rows are printed in: severities from the worst, qualifications in
/// their flow, the rest by key.
fn order(table: &str, rows: &mut [Row]) {
    const FLOW: [&str; 5] = ["raw", "in_review", "confirmed", "refuted", "closed"];
    match table {
        "severity" => rows.sort_by(|a, b| b.key.cmp(&a.key)),
        "qualification" => rows.sort_by_key(|r| FLOW.iter().position(|q| *q == r.key).unwrap_or(FLOW.len())),
        _ => rows.sort_by(|a, b| a.key.cmp(&b.key)),
    }
}

/// Sets each row's `previous` from the previous period's table.
fn compare(now: &mut [Row], before: &[Row]) {
    for r in now {
        r.previous = Some(before.iter().find(|b| b.key == r.key).map_or(0, |b| b.count));
    }
}

/// Adds the rows only the previous period had (count 0 now).
fn vanished(now: &mut Vec<Row>, before: &[Row], link: &str) {
    for b in before {
        if !now.iter().any(|r| r.key == b.key) {
            now.push(Row {
                key: b.key.clone(),
                label: b.label.clone(),
                count: 0,
                previous: Some(b.count),
                query: link.to_owned(),
            });
        }
    }
}

fn centre(g: &geo::Geometry<f64>) -> [f64; 2] {
    use geo::BoundingRect as _;
    g.bounding_rect().map_or([0.0, 0.0], |r| [r.center().x, r.center().y])
}

/// `ln(k!)`, exact sum below 64, Stirling's series above.
fn ln_factorial(k: u64) -> f64 {
    if k < 64 {
        return (2..=k).map(|i| (i as f64).ln()).sum();
    }
    let n = k as f64;
    n * n.ln() - n + 0.5 * (2.0 * std::f64::consts::PI * n).ln() + 1.0 / (12.0 * n) - 1.0 / (360.0 * n * n * n)
}

/// `P(X ≥ k)` for `X ~ Poisson(λ)`, summed from `k` up (accurate when it is tiny).
pub fn poisson_upper_tail(k: u64, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if (k as f64) <= lambda {
        // Not in the upper tail: at least about a half.
        let mut cdf = 0.0;
        let mut term = (-lambda).exp();
        for i in 0..k {
            cdf += term;
            term *= lambda / (i + 1) as f64;
        }
        return (1.0 - cdf).clamp(0.0, 1.0);
    }
    let mut term = (-lambda + k as f64 * lambda.ln() - ln_factorial(k)).exp();
    let mut sum = 0.0;
    let mut i = k;
    while term > sum * 1e-17 && i < k + 100_000 {
        sum += term;
        i += 1;
        term *= lambda / i as f64;
    }
    sum.min(1.0)
}

fn hotspots(
    state: &AppState,
    input: &Input,
    area: &Map<String, Value>,
) -> Result<(Vec<Hotspot>, usize, String), ApiError> {
    let rule = &input.settings.hotspots;
    let [start, end] = input.period;
    let res = h3o::Resolution::try_from(rule.resolution).unwrap_or(h3o::Resolution::Eight);
    let baseline_ms = i64::from(rule.baseline_days) * DAY_MS;
    let count = |period: [i64; 2]| -> Result<HashMap<h3o::CellIndex, usize>, ApiError> {
        let hits = query::hits(state, &with_period(area.clone(), period), input.scope.clone())?;
        let mut cells: HashMap<h3o::CellIndex, usize> = HashMap::new();
        for h in &hits {
            let [lon, lat] = centre(&h.feature.lonlat());
            if let Ok(ll) = h3o::LatLng::new(lat, lon) {
                *cells.entry(ll.to_cell(res)).or_default() += 1;
            }
        }
        Ok(cells)
    };
    let now = count(input.period)?;
    let before = count([start - baseline_ms, start])?;
    let scale = (end - start) as f64 / baseline_ms as f64;
    let tested: Vec<(&h3o::CellIndex, &usize)> = now.iter().filter(|(_, k)| **k >= rule.min_count as usize).collect();
    let m = tested.len().max(1) as f64;
    let mut found: Vec<Hotspot> = tested
        .iter()
        .filter_map(|(cell, k)| {
            let baseline = before.get(cell).copied().unwrap_or(0);
            let expected = (baseline as f64 * scale).max(MIN_EXPECTED);
            let p = poisson_upper_tail(**k as u64, expected);
            (p * m <= rule.alpha).then(|| {
                let c = h3o::LatLng::from(**cell);
                let mut q = Map::new();
                q.insert("h3".into(), text(cell.to_string()));
                let q = with_period(q, input.period);
                Hotspot {
                    cell: cell.to_string(),
                    lonlat: [c.lng(), c.lat()],
                    count: **k,
                    baseline,
                    expected,
                    p_value: p,
                    query: query::link(state, &q),
                }
            })
        })
        .collect();
    found.sort_by(|a, b| a.p_value.total_cmp(&b.p_value).then(b.count.cmp(&a.count)).then(a.cell.cmp(&b.cell)));
    found.truncate(MAX_HOTSPOTS);
    let method = format!(
        "Méthode : cellules H3 de résolution {} comptant au moins {} entrées sur la période ; nombre attendu = entrées de la cellule sur les {} jours précédents × durée de la période / {} jours (au moins {MIN_EXPECTED}) ; point chaud quand la queue de Poisson P(X ≥ nombre) × {} cellules testées ≤ {} (Bonferroni).",
        rule.resolution,
        rule.min_count,
        rule.baseline_days,
        rule.baseline_days,
        tested.len(),
        rule.alpha
    );
    Ok((found, tested.len(), method))
}

/// Sources in trouble at `now` (epoch ms), from the scheduler's statuses.
pub fn source_issues(state: &AppState, now: i64) -> Vec<SourceIssue> {
    use crate::ingest::sources::{Outcome, SourceState};
    state
        .scheduler()
        .statuses()
        .into_iter()
        .filter_map(|s| {
            let last = s.last_run.as_ref();
            let started = last.and_then(|r| vigie_layers::feature::parse_time_ms(&r.started_at).ok());
            let (problem, detail) = if s.state == SourceState::Invalid {
                ("invalid", s.invalid.join("; "))
            } else if let Some(r) = last.filter(|r| r.outcome == Outcome::Failed) {
                ("failed", r.error.clone().unwrap_or_default())
            } else if let Some(r) = last.filter(|r| r.outcome == Outcome::Rejected) {
                ("rejected", format!("{} invalid records", r.problem_count))
            } else if s.refresh_s > 0
                && s.state != SourceState::Elsewhere
                && started.is_some_and(|t| now - t > 2 * i64::try_from(s.refresh_s).unwrap_or(i64::MAX / 4) * 1000)
            {
                ("stale", format!("no run for more than twice its refresh interval ({} s)", s.refresh_s))
            } else {
                return None;
            };
            Some(SourceIssue {
                id: s.id,
                title: s.title,
                problem: problem.into(),
                last_run: last.map(|r| r.started_at.clone()),
                detail,
            })
        })
        .collect()
}

/// Compiles a report's parts (blocking: the engine; the significant events' details are
/// read from the store by [`details`] afterwards).
///
/// # Errors
/// 400/404 for an area or a map region that no longer resolves.
pub fn compile(state: &AppState, input: &Input) -> Result<Compiled, ApiError> {
    let area = stringly(area_params(&input.settings));
    let mut figures = figures_of(state, &area, input.period, input.scope.as_ref())?;
    let previous = match &input.previous {
        Some((prev, Some(frozen))) => Some((prev.clone(), frozen.clone())),
        Some((prev, None)) => Some((prev.clone(), figures_of(state, &area, prev.period, input.scope.as_ref())?)),
        None => None,
    };
    if let Some((_, before)) = &previous {
        figures.previous_total = Some(before.total);
        let link = figures.query.clone();
        for (table, now, then) in [
            ("theme", &mut figures.by_theme, &before.by_theme),
            ("severity", &mut figures.by_severity, &before.by_severity),
            ("qualification", &mut figures.by_qualification, &before.by_qualification),
        ] {
            compare(now, then);
            vanished(now, then, &link);
            order(table, now);
        }
        compare(&mut figures.by_departement, &before.by_departement);
        for b in &before.by_departement {
            if !figures.by_departement.iter().any(|r| r.key == b.key) {
                let q = departement_query(&b.key, input.period);
                figures.by_departement.push(Row {
                    key: b.key.clone(),
                    label: b.label.clone(),
                    count: 0,
                    previous: Some(b.count),
                    query: query::link(state, &q),
                });
            }
        }
    }
    // Significant events: confirmed, severity at or above the threshold.
    let mut sp = with_period(area.clone(), input.period);
    sp.insert("severity".into(), text(input.settings.significant_severity.to_string()));
    sp.insert("qualification".into(), text("confirmed"));
    sp.insert("limit".into(), text(MAX_SIGNIFICANT.to_string()));
    let answer = query::summary(state, &sp, input.scope.clone())?;
    let mut significant: Vec<Significant> = answer
        .page
        .iter()
        .map(|h| Significant {
            id: h.feature.id,
            time: String::new(),
            title: String::new(),
            severity: 0,
            tags: Vec::new(),
            place: String::new(),
            lonlat: centre(&h.feature.lonlat()),
            links: Vec::new(),
            photo: None,
        })
        .collect();
    significant.reverse();
    let significant_more = answer.summary.total.saturating_sub(significant.len());
    let (hotspots, hotspot_cells_tested, hotspot_method) = hotspots(state, input, &area)?;
    let maps = input
        .settings
        .maps
        .iter()
        .map(|m| {
            let mut p = match &m.region {
                Some(r) => stringly(r.clone()),
                None => area.clone(),
            };
            p = with_period(p, input.period);
            p.remove("layers");
            if let Some(l) = &m.layers {
                p.insert("layers".into(), text(l.clone()));
            }
            p.insert("width".into(), text(m.width.to_string()));
            p.insert("height".into(), text(m.height.to_string()));
            let pairs: Vec<(&str, &str)> = p.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))).collect();
            MapPart {
                title: m.title.clone(),
                query: format!(
                    "{}/api/staticmap?{}",
                    state.url_prefix,
                    serde_urlencoded::to_string(pairs).unwrap_or_default()
                ),
                sha256: None,
                error: None,
            }
        })
        .collect();
    Ok(Compiled {
        computed_at: crate::now_ms(),
        period: input.period,
        area: input.settings.area.clone(),
        previous: previous.map(|(p, _)| p),
        figures,
        significant,
        significant_more,
        significant_query: query::link(state, &sp),
        hotspots,
        hotspot_method,
        hotspot_cells_tested,
        sources: input.sources.clone(),
        maps,
        staffing: input.staffing.clone(),
    })
}

/// Fills the significant events' details from the store (title, time, tags, place, links,
/// first photo); events whose entry went meanwhile are dropped.
///
/// # Errors
/// The store's.
pub async fn details(state: &AppState, compiled: &mut Compiled) -> Result<(), ApiError> {
    let mut kept = Vec::with_capacity(compiled.significant.len());
    for mut s in std::mem::take(&mut compiled.significant) {
        let Some(e) = state.store.entry(s.id).await?.filter(|e| !e.deleted) else { continue };
        s.time = vigie_layers::feature::format_time_ms(e.occurred_at);
        s.title.clone_from(&e.title);
        s.severity = e.severity;
        s.tags.clone_from(&e.tags);
        s.place = e.location.clone().unwrap_or_else(|| format!("{:.5}, {:.5}", s.lonlat[1], s.lonlat[0]));
        s.links = e.links.iter().map(|l| (l.url.clone(), l.title.clone())).collect();
        s.photo = e.attachments.first().map(|a| (a.sha256.clone(), a.media_type.clone()));
        kept.push(s);
    }
    compiled.significant = kept;
    Ok(())
}

/// The map's PNG drawn now.
///
/// # Errors
/// As the static map's.
pub fn draw_map(state: &AppState, part: &MapPart, scope: Option<Arc<Scope>>) -> Result<Vec<u8>, ApiError> {
    let q = part.query.split_once('?').map_or("", |(_, q)| q);
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).unwrap_or_default();
    let p: Map<String, Value> = pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    Ok(crate::http::staticmap::draw(state, &p, scope)?.png)
}

/// Counts by key of a figures table (for diffs).
pub fn table(rows: &[Row]) -> BTreeMap<String, usize> {
    rows.iter().map(|r| (r.label.clone(), r.count)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poisson_tail_matches_known_values() {
        // P(X ≥ 3 | 0.1) = 1 − e^−0.1 (1 + 0.1 + 0.005) = 1.5465e-4.
        assert!((poisson_upper_tail(3, 0.1) - 1.546_5e-4).abs() < 1e-7);
        // P(X ≥ 1 | 2) = 1 − e^−2.
        assert!((poisson_upper_tail(1, 2.0) - (1.0 - (-2.0f64).exp())).abs() < 1e-12);
        // Far in the tail, still positive and tiny: P(X ≥ 200 | 5).
        let p = poisson_upper_tail(200, 5.0);
        assert!(p > 0.0 && p < 1e-200, "{p}");
        // Below the mean: about a half or more.
        assert!(poisson_upper_tail(10, 12.0) > 0.7);
        assert!((poisson_upper_tail(0, 3.0) - 1.0).abs() < f64::EPSILON);
        // Stirling agrees with the exact sum where both apply.
        let exact: f64 = (2..=80u64).map(|i| (i as f64).ln()).sum();
        assert!((ln_factorial(80) - exact).abs() < 1e-9);
    }
}
