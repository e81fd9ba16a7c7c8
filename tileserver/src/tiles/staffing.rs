//! The staffing layer as a tile source: one point per place with positions (a venue, a point,
//! the crisis room), coloured by coverage for the shift under way, or the one under way at
//! the filter's `at`: `closed` (no position open at the level then), `full` (every open
//! position has its people confirmed) or `short`. Properties: `place`, `label`, `coverage`,
//! `level`, `shift`, `day`, `positions` (open ones), `needed`, `confirmed`, `proposed`,
//! `short`. A member narrowed to a territory sees the places inside it.

use super::{Features, LayerTile, RenderError, TileSource};
use crate::staffing::Staffing;
use async_trait::async_trait;
use geo::Rect;
use std::collections::BTreeMap;
use std::sync::Arc;
use vigie_layers::clip::{ClipBox, TileGeometry};
use vigie_layers::feature::{Field, FieldType, Schema, Value};
use vigie_layers::mvt::LayerEncoder;
use vigie_layers::tile::{BUFFER_PX, EXTENT, lonlat_to_mercator};
use vigie_layers::{Budget, Filter, Layer, TileCoord};

/// The properties of a staffing feature, in order.
pub const PROPERTIES: [&str; 11] =
    ["place", "label", "coverage", "level", "shift", "day", "positions", "needed", "confirmed", "proposed", "short"];

/// The staffing layer of a catalog.
#[derive(Debug)]
pub struct StaffingSource {
    layer: Arc<Layer>,
    staffing: Arc<Staffing>,
}

impl StaffingSource {
    /// The source of `layer` over a workspace's staffing.
    pub fn new(layer: Arc<Layer>, staffing: Arc<Staffing>) -> Self {
        Self { layer, staffing }
    }
}

/// One place's counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PlaceCoverage {
    /// Positions open at the level.
    pub positions: u64,
    /// People needed, confirmed, proposed, short.
    pub totals: vigie_staffing::gaps::Totals,
}

impl PlaceCoverage {
    /// `closed`, `full` or `short`.
    pub fn coverage(&self) -> &'static str {
        if self.positions == 0 {
            "closed"
        } else if self.totals.short == 0 {
            "full"
        } else {
            "short"
        }
    }
}

/// Every place's coverage for the shift under way at `at` and the level then, with that
/// level's name and the shift.
pub fn coverage(
    loaded: &crate::staffing::Loaded,
    at: i64,
) -> (String, Option<vigie_staffing::Shift>, BTreeMap<String, PlaceCoverage>) {
    let r = &loaded.roster;
    let level = r.level_at(at);
    let shift = r.pattern.shift_at(at);
    let mut places: BTreeMap<String, PlaceCoverage> = BTreeMap::new();
    for (i, p) in r.plan.positions.iter().enumerate() {
        let c = places.entry(p.place.key()).or_default();
        let need = p.needs.get(level).copied().unwrap_or(0);
        if let (Some(s), true) = (&shift, need > 0) {
            c.positions += 1;
            let (t, _) = r.slot(i, s, need);
            c.totals.needed += t.needed;
            c.totals.confirmed += t.confirmed;
            c.totals.proposed += t.proposed;
            c.totals.short += t.short;
            c.totals.uncovered += t.uncovered;
        }
    }
    (r.plan.levels[level].clone(), shift, places)
}

#[async_trait]
impl TileSource for StaffingSource {
    fn layer(&self) -> &Arc<Layer> {
        &self.layer
    }

    fn schema(&self) -> Arc<Schema> {
        let d = [
            "the place's key: venue:CODE, point:LON,LAT or room",
            "the place's name",
            "closed, full or short",
            "the alert level in effect",
            "the shift",
            "the local day the shift starts on",
            "positions open at the level",
            "people needed on the shift",
            "confirmed",
            "proposed, not confirmed yet",
            "needed but not confirmed",
        ];
        let fields = PROPERTIES
            .iter()
            .zip(d)
            .enumerate()
            .map(|(i, (name, what))| Field::new(name, if i < 6 { FieldType::String } else { FieldType::Integer }, what))
            .collect();
        Arc::new(Schema { fields })
    }

    fn feature_count(&self) -> usize {
        0
    }

    fn extent(&self) -> Option<Rect<f64>> {
        None
    }

    fn features(&self) -> Features {
        Features::TilesOnly
    }

    async fn tile(&self, coord: TileCoord, filter: &Filter, _budget: Budget) -> Result<LayerTile, RenderError> {
        let def = &self.layer.def;
        if coord.z() < def.minzoom {
            return Ok(LayerTile::default());
        }
        let loaded = self.staffing.roster().await?;
        let at = filter.at_ms.unwrap_or_else(crate::now_ms);
        let (level, shift, places) = coverage(&loaded, at);
        let plan = &loaded.roster.plan;
        let (tr, clip) = (coord.transform(), ClipBox::for_tile(coord, BUFFER_PX));
        let mut enc = LayerEncoder::new(&def.id, EXTENT);
        enc.set_properties(PROPERTIES);
        for (n, (key, c)) in places.iter().enumerate() {
            let Some(place) = plan.positions.iter().find(|p| p.place.key() == *key).map(|p| &p.place) else {
                continue;
            };
            let Some(([lon, lat], label)) = loaded.place(place) else { continue };
            if let Some(scope) = &filter.scope
                && !scope.admits(&geo::Geometry::Point(geo::Point::new(lon, lat)))
            {
                continue;
            }
            let m = lonlat_to_mercator(lon, lat);
            let Some(p) = clip.snap_point(m, tr.apply(m)) else { continue };
            let text = |s: &str| Value::text(s);
            let count = |v: u64| Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
            let values = [
                text(key),
                text(&label),
                text(c.coverage()),
                text(&level),
                shift.as_ref().map_or(Value::Null, |s| text(&s.name)),
                shift.as_ref().map_or(Value::Null, |s| text(&s.day)),
                count(c.positions),
                count(c.totals.needed),
                count(c.totals.confirmed),
                count(c.totals.proposed),
                count(c.totals.short),
            ];
            enc.add_feature(n as u64 + 1, &TileGeometry::Point(p), &values);
        }
        let features = enc.len();
        let mut bytes = Vec::new();
        if features > 0 {
            let mut tile = vigie_layers::mvt::TileEncoder::new();
            tile.push(&enc);
            bytes = tile.finish();
        }
        Ok(LayerTile { bytes, features, thinned: false })
    }
}
