//! Region query results: hits in a stable order (newest first), keyset paging, and a summary
//! (counts by layer, theme, severity and qualification, and a time histogram).

use crate::engine::Layer;
use crate::model::ThemeVocabulary;
use crate::region::Hit;
use geo::{Buffer, Coord, MapCoords, MultiPolygon};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Time histogram bucket widths the summary picks from (milliseconds, name).
const INTERVALS: [(i64, &str); 6] = [
    (15 * 60_000, "15m"),
    (3_600_000, "1h"),
    (6 * 3_600_000, "6h"),
    (86_400_000, "1d"),
    (7 * 86_400_000, "7d"),
    (30 * 86_400_000, "30d"),
];
/// Most buckets an automatic histogram has.
const MAX_BUCKETS: i64 = 100;

/// The position of a hit in the result order, used as a paging cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// `i64::MIN` for features without a time (last).
    newest: std::cmp::Reverse<i64>,
    layer: usize,
    id: u64,
}

impl Key {
    /// The key of a hit.
    pub fn of(h: &Hit) -> Self {
        Self {
            newest: std::cmp::Reverse(h.feature.attrs.time_ms.unwrap_or(i64::MIN)),
            layer: h.layer,
            id: h.feature.id,
        }
    }

    /// Cursor text.
    pub fn encode(self) -> String {
        format!("{}_{}_{}", self.newest.0, self.layer, self.id)
    }

    /// Parses cursor text.
    pub fn decode(s: &str) -> Option<Self> {
        let mut it = s.split('_');
        let t = it.next()?.parse().ok()?;
        let layer = it.next()?.parse().ok()?;
        let id = it.next()?.parse().ok()?;
        it.next().is_none().then_some(Self { newest: std::cmp::Reverse(t), layer, id })
    }
}

/// Sorts hits newest first (then by layer and id: a total, stable order).
pub fn sort(hits: &mut [Hit]) {
    hits.sort_unstable_by_key(Key::of);
}

/// The page after `cursor` (hits must be sorted), at most `limit` long, and the cursor of the
/// next page if any.
pub fn page(hits: &[Hit], cursor: Option<Key>, limit: usize) -> (&[Hit], Option<Key>) {
    let start = cursor.map_or(0, |c| hits.partition_point(|h| Key::of(h) <= c));
    let end = (start + limit).min(hits.len());
    let next = (end < hits.len() && end > start).then(|| Key::of(&hits[end - 1]));
    (&hits[start..end], next)
}

/// One histogram bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Start (epoch ms).
    #[serde(skip)]
    pub start_ms: i64,
    /// Start, RFC 3339.
    pub start: String,
    /// Hits in [start, start + interval).
    pub count: usize,
}

/// Counts of a query's hits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Every hit (not only the page).
    pub total: usize,
    /// Hits per layer id.
    pub by_layer: BTreeMap<String, usize>,
    /// Hits per theme (an entry with two themes counts in both; `none` for no theme).
    pub by_theme: BTreeMap<String, usize>,
    /// Hits per severity (features with one).
    pub by_severity: BTreeMap<u8, usize>,
    /// Hits per qualification (log entries).
    pub by_qualification: BTreeMap<String, usize>,
    /// Bucket width of the histogram.
    pub interval: Option<String>,
    /// Hits per time bucket, oldest first (features with a time).
    pub histogram: Vec<Bucket>,
}

/// Parses a histogram interval name (`15m`, `1h`, `6h`, `1d`, `7d`, `30d`).
pub fn interval_ms(name: &str) -> Option<i64> {
    INTERVALS.iter().find(|(_, n)| *n == name).map(|(ms, _)| *ms)
}

/// Summarises hits; `interval_ms` fixes the histogram bucket width, otherwise the finest
/// giving at most 100 buckets is chosen.
pub fn summarize(hits: &[Hit], layers: &[Arc<Layer>], vocab: &ThemeVocabulary, interval_ms: Option<i64>) -> Summary {
    let mut s = Summary {
        total: hits.len(),
        by_layer: BTreeMap::new(),
        by_theme: BTreeMap::new(),
        by_severity: BTreeMap::new(),
        by_qualification: BTreeMap::new(),
        interval: None,
        histogram: Vec::new(),
    };
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for h in hits {
        let a = &h.feature.attrs;
        *s.by_layer.entry(layers[h.layer].def.id.clone()).or_default() += 1;
        if a.tags.is_some() {
            let mut any = false;
            for (i, t) in vocab.ids().iter().enumerate() {
                if a.themes.0 & (1 << i) != 0 {
                    *s.by_theme.entry(t.clone()).or_default() += 1;
                    any = true;
                }
            }
            if !any {
                *s.by_theme.entry("none".to_owned()).or_default() += 1;
            }
        }
        if let Some(sev) = a.severity {
            *s.by_severity.entry(sev).or_default() += 1;
        }
        if let Some(q) = a.qualification {
            *s.by_qualification.entry(q.as_str().to_owned()).or_default() += 1;
        }
        if let Some(t) = a.time_ms {
            lo = lo.min(t);
            hi = hi.max(t);
        }
    }
    if lo <= hi {
        let (width, name) = match interval_ms {
            Some(w) => (w, INTERVALS.iter().find(|(ms, _)| *ms == w).map_or("custom", |(_, n)| n)),
            None => {
                *INTERVALS.iter().find(|(w, _)| (hi - lo) / w < MAX_BUCKETS).unwrap_or(&INTERVALS[INTERVALS.len() - 1])
            }
        };
        let first = lo.div_euclid(width) * width;
        let n = ((hi - first) / width + 1) as usize;
        let mut counts = vec![0usize; n];
        for t in hits.iter().filter_map(|h| h.feature.attrs.time_ms) {
            counts[((t - first) / width) as usize] += 1;
        }
        s.interval = Some(name.to_owned());
        s.histogram = counts
            .into_iter()
            .enumerate()
            .map(|(i, count)| {
                let start_ms = first + i as i64 * width;
                Bucket { start_ms, start: crate::feature::format_time_ms(start_ms), count }
            })
            .collect();
    }
    s
}

/// Grows WGS84 polygons by `metres` on the ground (a local equirectangular frame around their
/// centre: exact enough for the buffers of a city-scale perimeter).
pub fn buffer_m(mp: &MultiPolygon<f64>, metres: f64) -> MultiPolygon<f64> {
    use geo::BoundingRect;
    let Some(b) = mp.bounding_rect() else { return mp.clone() };
    let c = b.center();
    let kx = 111_320.0 * c.y.to_radians().cos().max(1e-6);
    let ky = 110_574.0;
    let local = mp.map_coords(|p| Coord { x: (p.x - c.x) * kx, y: (p.y - c.y) * ky });
    local.buffer(metres).map_coords(|p| Coord { x: c.x + p.x / kx, y: (c.y + p.y / ky).clamp(-90.0, 90.0) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feature::{Attrs, Feature};
    use geo::{Area, Geometry, Point, polygon};

    fn hit(id: u64, t: Option<i64>) -> Hit {
        let attrs = Attrs { time_ms: t, ..Attrs::default() };
        let f = Feature::from_lonlat(id, &Geometry::Point(Point::new(2.0, 48.0)), attrs, Box::new([])).unwrap();
        Hit { layer: 0, feature: Arc::new(f) }
    }

    #[test]
    fn paging_visits_every_hit_once_newest_first() {
        let mut hits: Vec<Hit> =
            (0..25).map(|i| hit(i, if i % 5 == 0 { None } else { Some(1000 + (i as i64 % 7)) })).collect();
        sort(&mut hits);
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (p, next) = page(&hits, cursor, 4);
            seen.extend(p.iter().map(|h| h.feature.id));
            match next {
                Some(k) => cursor = Some(Key::decode(&k.encode()).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 25);
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 25);
        assert!(hits.last().unwrap().feature.attrs.time_ms.is_none(), "untimed last");
    }

    #[test]
    fn buffer_grows_by_metres() {
        let square = polygon![(x: 2.0, y: 48.0), (x: 2.01, y: 48.0), (x: 2.01, y: 48.01), (x: 2.0, y: 48.01)];
        let mp = MultiPolygon(vec![square]);
        let grown = buffer_m(&mp, 100.0);
        let (kx, ky) = (111_320.0 * 48.005f64.to_radians().cos(), 110_574.0);
        let area = |m: &MultiPolygon<f64>| m.unsigned_area() * kx * ky;
        let (w, h) = (0.01 * kx, 0.01 * ky);
        let expected = w * h + 2.0 * 100.0 * (w + h) + std::f64::consts::PI * 100.0 * 100.0;
        assert!((area(&grown) - expected).abs() / expected < 0.01, "{} vs {expected}", area(&grown));
    }
}
