//! Region query results: hits in a stable order (newest first), keyset paging, and a summary
//! (counts by layer, theme, severity and qualification, and a time histogram).

use crate::feature::{Brief, Feature, Qualification};
use crate::hit::Hit;
use crate::model::ThemeVocabulary;
/// Kept at its former path for the service crate; the function lives with regions.
use serde::Serialize;
use std::collections::{BTreeMap, BinaryHeap};
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
/// Most buckets any histogram has: an interval asked for that would make more over the hits'
/// time span is widened (and the summary says so). One entry dated 1900 and `interval=15m`
/// once asked for 4.4 million buckets (3.4 GB resident, a 188 MB answer).
pub const MAX_HISTOGRAM_BUCKETS: i64 = 2_000;

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
            newest: std::cmp::Reverse(h.feature.attrs.time_ms.get().unwrap_or(i64::MIN)),
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

/// Which page of the hits to return: the hits after `cursor` in the result order, at most
/// `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// The `next` key of the previous page (`None`: the first page).
    pub cursor: Option<Key>,
    /// Most hits in the page.
    pub limit: usize,
}

/// A region query's answer: the summary of every hit and one page of them.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Counts of every hit (not only the page); `summary.total` is the number of hits.
    pub summary: Summary,
    /// The page, newest first.
    pub page: Vec<Hit>,
    /// The cursor of the next page, when hits remain after this one.
    pub next: Option<Key>,
}

/// A hit held for the page, ordered by its key.
#[derive(Debug)]
struct Ranked {
    key: Key,
    hit: Hit,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// The summary and page of a region query, taken hit by hit from the hits' briefs: flat
/// counters (turned into the [`Summary`] maps once, at the end), the hits' times for the
/// histogram, and the first `limit` hits after the cursor in a bounded heap — so neither every
/// hit is sorted nor every feature visited; only the page's features are shared out.
#[derive(Debug)]
pub struct Tally {
    total: usize,
    by_layer: Vec<usize>,
    /// Mask of the vocabulary's themes: other bits count as no theme, as in the summary.
    vocab_mask: u64,
    by_theme: [usize; 64],
    no_theme: usize,
    by_severity: [usize; 256],
    by_qualification: [usize; Qualification::ALL.len()],
    times: Vec<i64>,
    paging: Paging,
    after_cursor: usize,
    best: BinaryHeap<Ranked>,
}

impl Tally {
    /// An empty tally for a query over `layers` layers.
    pub fn new(layers: usize, vocab: &ThemeVocabulary, paging: Paging) -> Self {
        let themes = vocab.ids().len();
        Self {
            total: 0,
            by_layer: vec![0; layers],
            vocab_mask: if themes >= 64 { u64::MAX } else { (1 << themes) - 1 },
            by_theme: [0; 64],
            no_theme: 0,
            by_severity: [0; 256],
            by_qualification: [0; Qualification::ALL.len()],
            times: Vec::new(),
            paging,
            after_cursor: 0,
            // A limit is a page size, but not one to reserve blindly.
            best: BinaryHeap::with_capacity(paging.limit.min(1024) + 1),
        }
    }

    /// Counts a hit of layer `layer` (an index into the query's layers); `feature` is shared
    /// only if the hit makes the page.
    #[inline]
    pub fn add(&mut self, layer: usize, b: &Brief, feature: &Arc<Feature>) {
        let b = b.facts();
        self.total += 1;
        self.by_layer[layer] += 1;
        if b.has_tags() {
            let mut m = b.themes().0 & self.vocab_mask;
            if m == 0 {
                self.no_theme += 1;
            }
            while m != 0 {
                self.by_theme[m.trailing_zeros() as usize] += 1;
                m &= m - 1;
            }
        }
        if let Some(s) = b.severity() {
            self.by_severity[usize::from(s)] += 1;
        }
        if let Some(q) = b.qualification() {
            self.by_qualification[q as usize] += 1;
        }
        if let Some(t) = b.time_ms() {
            self.times.push(t);
        }
        let newest = std::cmp::Reverse(b.time_ms().unwrap_or(i64::MIN));
        // The hit's key against another, the id (in the feature, a cache miss away) read only
        // to break a tie of time and layer.
        let order = |k: &Key| (newest, layer).cmp(&(k.newest, k.layer)).then_with(|| feature.id.cmp(&k.id));
        if self.paging.cursor.is_some_and(|c| order(&c).is_le()) {
            return;
        }
        self.after_cursor += 1;
        let ranked =
            || Ranked { key: Key { newest, layer, id: feature.id }, hit: Hit { layer, feature: feature.clone() } };
        if self.best.len() < self.paging.limit {
            self.best.push(ranked());
        } else if let Some(mut last) = self.best.peek_mut()
            && order(&last.key).is_lt()
        {
            *last = ranked();
        }
    }

    /// The answer: the summary in the same maps and histogram as [`Summary`] always had, and
    /// the page in the result order. `layer_ids` are the ids of the query's layers, in the
    /// order [`Tally::add`] indexed them. `interval_ms` fixes the histogram bucket width,
    /// otherwise the finest giving at most 100 buckets is chosen.
    pub fn finish<'a>(
        self,
        layer_ids: impl IntoIterator<Item = &'a str>,
        vocab: &ThemeVocabulary,
        interval_ms: Option<i64>,
    ) -> Answer {
        let mut s = Summary { total: self.total, ..Summary::default() };
        // `+=` rather than insert: two layers (or themes) of one id share an entry.
        for (id, &n) in layer_ids.into_iter().zip(&self.by_layer).filter(|(_, n)| **n > 0) {
            *s.by_layer.entry(id.to_owned()).or_default() += n;
        }
        for (t, &n) in vocab.ids().iter().zip(&self.by_theme).filter(|(_, n)| **n > 0) {
            *s.by_theme.entry(t.clone()).or_default() += n;
        }
        if self.no_theme > 0 {
            *s.by_theme.entry("none".to_owned()).or_default() += self.no_theme;
        }
        for (sev, &n) in self.by_severity.iter().enumerate().filter(|(_, n)| **n > 0) {
            s.by_severity.insert(sev as u8, n);
        }
        for (q, &n) in Qualification::ALL.iter().zip(&self.by_qualification).filter(|(_, n)| **n > 0) {
            s.by_qualification.insert(q.as_str().to_owned(), n);
        }
        if let Some((name, buckets, note)) = histogram(&self.times, interval_ms) {
            s.interval = Some(name.to_owned());
            s.histogram = buckets;
            s.interval_note = note;
        }
        let page: Vec<Hit> = self.best.into_sorted_vec().into_iter().map(|r| r.hit).collect();
        // Hits remain after the page when more than it holds follow the cursor.
        let next = (self.after_cursor > page.len()).then(|| page.last().map(Key::of)).flatten();
        Answer { summary: s, page, next }
    }
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
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
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
    /// Why the histogram's interval is not the one asked for (it would have made more than
    /// [`MAX_HISTOGRAM_BUCKETS`] buckets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_note: Option<String>,
    /// Hits per time bucket, oldest first (features with a time).
    pub histogram: Vec<Bucket>,
}

/// Parses a histogram interval name (`15m`, `1h`, `6h`, `1d`, `7d`, `30d`).
pub fn interval_ms(name: &str) -> Option<i64> {
    INTERVALS.iter().find(|(_, n)| *n == name).map(|(ms, _)| *ms)
}

/// A histogram: its interval's name, its buckets (oldest first) and, when the interval asked
/// for was widened, why.
type Histogram = (&'static str, Vec<Bucket>, Option<String>);

/// The histogram of times (epoch ms); `None` without times. `interval_ms` fixes the bucket
/// width, otherwise the finest giving at most 100 buckets is chosen; either way at most
/// [`MAX_HISTOGRAM_BUCKETS`] buckets (the finest wider interval that fits, else 30-day
/// multiples).
fn histogram(times: &[i64], interval_ms: Option<i64>) -> Option<Histogram> {
    let (&lo, &hi) = (times.iter().min()?, times.iter().max()?);
    let fits = |w: i64| (hi - lo.div_euclid(w) * w) / w < MAX_HISTOGRAM_BUCKETS;
    let (mut width, mut name) = match interval_ms {
        Some(w) => (w, INTERVALS.iter().find(|(ms, _)| *ms == w).map_or("custom", |(_, n)| n)),
        None => *INTERVALS.iter().find(|(w, _)| (hi - lo) / w < MAX_BUCKETS).unwrap_or(&INTERVALS[INTERVALS.len() - 1]),
    };
    let mut note = None;
    if !fits(width) {
        let asked = name;
        (width, name) = INTERVALS.iter().copied().find(|&(w, _)| w > width && fits(w)).unwrap_or_else(|| {
            let month = INTERVALS[INTERVALS.len() - 1].0;
            (month * ((hi - lo) / month / MAX_HISTOGRAM_BUCKETS + 1), "custom")
        });
        note = Some(format!(
            "{asked} buckets from {} to {} would be more than {MAX_HISTOGRAM_BUCKETS}: {} used; narrow the time window (from, to) for finer buckets",
            crate::feature::format_time_ms(lo),
            crate::feature::format_time_ms(hi),
            if name == "custom" { format!("{} days", width / 86_400_000) } else { name.to_owned() }
        ));
    }
    let first = lo.div_euclid(width) * width;
    let n = ((hi - first) / width + 1) as usize;
    let mut counts = vec![0usize; n];
    for t in times {
        counts[((t - first) / width) as usize] += 1;
    }
    let buckets = counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| {
            let start_ms = first + i as i64 * width;
            Bucket { start_ms, start: crate::feature::format_time_ms(start_ms), count }
        })
        .collect();
    Some((name, buckets, note))
}

/// Also the references of the engine's region query tests.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::demo::Rng;
    use crate::feature::{Attrs, Feature, Text};
    use geo::{Geometry, LineString, Point, polygon};

    /// The theme vocabulary the engine builds from the bundled catalog.
    fn bundled_vocabulary() -> ThemeVocabulary {
        ThemeVocabulary::new(Catalog::bundled().entry_themes().map(|t| t.id.clone()))
    }

    /// The page after `cursor` of sorted hits and the next cursor, by slicing: what
    /// [`Tally`] must give without sorting.
    pub(crate) fn reference_page(hits: &[Hit], cursor: Option<Key>, limit: usize) -> (&[Hit], Option<Key>) {
        let start = cursor.map_or(0, |c| hits.partition_point(|h| Key::of(h) <= c));
        let end = (start + limit).min(hits.len());
        let next = (end < hits.len() && end > start).then(|| Key::of(&hits[end - 1]));
        (&hits[start..end], next)
    }

    /// The summary counted straight from the features, into maps (the former `summarize`).
    pub(crate) fn reference_summary(
        hits: &[Hit],
        layer_ids: &[&str],
        vocab: &ThemeVocabulary,
        interval_ms: Option<i64>,
    ) -> Summary {
        let mut s = Summary { total: hits.len(), ..Summary::default() };
        for h in hits {
            let a = &h.feature.attrs;
            *s.by_layer.entry(layer_ids[h.layer].to_owned()).or_default() += 1;
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
        }
        // The histogram's binning is not what the tally changes: the times it bins are.
        let times: Vec<i64> = hits.iter().filter_map(|h| h.feature.attrs.time_ms.get()).collect();
        if let Some((name, buckets, note)) = histogram(&times, interval_ms) {
            s.interval = Some(name.to_owned());
            s.histogram = buckets;
            s.interval_note = note;
        }
        s
    }

    /// The answer of [`Tally`] for hits given in any order.
    fn tally(
        hits: &[Hit],
        layer_ids: &[&str],
        vocab: &ThemeVocabulary,
        paging: Paging,
        interval: Option<i64>,
    ) -> Answer {
        let mut t = Tally::new(layer_ids.len(), vocab, paging);
        for h in hits {
            t.add(h.layer, &Brief::of(&h.feature), &h.feature);
        }
        t.finish(layer_ids.iter().copied(), vocab, interval)
    }

    pub(crate) fn keys(hits: &[Hit]) -> Vec<Key> {
        hits.iter().map(Key::of).collect()
    }

    /// Checks a tally against sorting everything, summarising and slicing a page.
    fn check(hits: &[Hit], layer_ids: &[&str], vocab: &ThemeVocabulary, paging: Paging, interval: Option<i64>) {
        let answer = tally(hits, layer_ids, vocab, paging, interval);
        let mut sorted = hits.to_vec();
        sort(&mut sorted);
        let (page, next) = reference_page(&sorted, paging.cursor, paging.limit);
        assert_eq!(keys(&answer.page), keys(page), "{paging:?}");
        assert!(answer.page.iter().zip(page).all(|(a, b)| Arc::ptr_eq(&a.feature, &b.feature)));
        assert_eq!(answer.next, next, "{paging:?}");
        assert_eq!(answer.summary, reference_summary(hits, layer_ids, vocab, interval));
    }

    /// Random entries: times with ties (and some missing), themes, tags that are not themes,
    /// severities and qualifications, some missing; ids shared between layers.
    fn random_hits(rng: &mut Rng, n: usize, layers: usize, vocab: &ThemeVocabulary) -> Vec<Hit> {
        let themes = vocab.ids().len();
        (0..n)
            .map(|i| {
                let mut tags: Vec<String> = (0..rng.below(3)).map(|_| vocab.ids()[rng.below(themes)].clone()).collect();
                if rng.below(4) == 0 {
                    tags.push("vip".into());
                }
                let attrs = Attrs {
                    time_ms: (rng.below(10) > 0).then(|| 1_720_000_000_000 + rng.below(50) as i64 * 3_600_000).into(),
                    severity: (rng.below(8) > 0).then(|| rng.below(5) as u8),
                    qualification: (rng.below(8) > 0).then(|| Qualification::ALL[rng.below(5)]),
                    themes: vocab.mask(&tags),
                    tags: (rng.below(6) > 0).then(|| tags.iter().map(|t| Text::from(t.as_str())).collect()),
                    ..Attrs::default()
                };
                let g = Geometry::Point(Point::new(2.0, 48.0));
                let f = Feature::from_lonlat((i / 2) as u64, &g, attrs, Box::new([])).unwrap();
                Hit { layer: i % layers, feature: Arc::new(f) }
            })
            .collect()
    }

    #[test]
    fn a_histogram_never_has_more_than_its_limit_of_buckets() {
        let at = |s: &str| crate::feature::parse_time_ms(s).unwrap();
        let times = [at("1900-01-01T00:00:00Z"), at("2026-12-04T10:00:00Z"), at("2026-12-04T10:20:00Z")];
        // 15-minute buckets over 127 years: 4.4 million asked, the finest interval that fits used.
        let (name, buckets, note) = histogram(&times, interval_ms("15m")).unwrap();
        assert_eq!(name, "30d");
        assert!(buckets.len() as i64 <= MAX_HISTOGRAM_BUCKETS, "{}", buckets.len());
        assert_eq!(buckets.iter().map(|b| b.count).sum::<usize>(), 3);
        let note = note.unwrap();
        assert!(note.contains("15m") && note.contains("2000") && note.contains("1900-01-01"), "{note}");
        // Wider than any interval: 30-day multiples.
        let times = [at("1600-01-01T00:00:00Z"), at("2026-12-04T10:00:00Z")];
        let (name, buckets, _) = histogram(&times, None).unwrap();
        assert_eq!(name, "custom");
        assert!(buckets.len() as i64 <= MAX_HISTOGRAM_BUCKETS && buckets.len() > 1000, "{}", buckets.len());
        // What fits is left alone.
        let (name, buckets, note) = histogram(&times[1..], interval_ms("15m")).unwrap();
        assert_eq!((name, buckets.len(), note), ("15m", 1, None));
    }

    #[test]
    fn the_tally_pages_and_counts_as_sorting_everything() {
        let vocab = &bundled_vocabulary();
        let layers = ["entries", "health", "entries"];
        let mut rng = Rng::new(42);
        for n in [0, 1, 2, 7, 100, 1000] {
            let hits = random_hits(&mut rng, n, layers.len(), vocab);
            for _ in 0..40 {
                let cursor = match rng.below(3) {
                    0 => None,
                    1 if n > 0 => Some(Key::of(&hits[rng.below(n)])),
                    _ => Some(Key {
                        newest: std::cmp::Reverse(1_720_000_000_000 + rng.below(60) as i64 * 3_000_000),
                        layer: rng.below(3),
                        id: rng.below(n + 1) as u64,
                    }),
                };
                let limit = [0, 1, 3, 100, n, n + 1][rng.below(6)];
                let interval = [None, Some(3_600_000), Some(86_400_000)][rng.below(3)];
                check(&hits, &layers, vocab, Paging { cursor, limit }, interval);
            }
        }
    }

    #[test]
    fn paging_visits_every_hit_once_newest_first() {
        let vocab = bundled_vocabulary();
        let layers = ["entries"];
        let hits: Vec<Hit> = (0..25)
            .map(|i| {
                let attrs = Attrs { time_ms: (i % 5 != 0).then_some(1000 + (i as i64 % 7)).into(), ..Attrs::default() };
                let f = Feature::from_lonlat(i, &Geometry::Point(Point::new(2.0, 48.0)), attrs, Box::new([])).unwrap();
                Hit { layer: 0, feature: Arc::new(f) }
            })
            .collect();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let a = tally(&hits, &layers, &vocab, Paging { cursor, limit: 4 }, None);
            assert_eq!(a.summary.total, 25);
            seen.extend(a.page.iter().map(|h| h.feature.id));
            match a.next {
                Some(k) => cursor = Some(Key::decode(&k.encode()).unwrap()),
                None => break,
            }
        }
        assert!(seen[20..].iter().all(|id| id % 5 == 0), "untimed last: {seen:?}");
        assert_eq!(seen.len(), 25);
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 25);
    }

    /// Random features over France and near the antimeridian: mostly points, some lines and
    /// polygons; entries with the fields of [`random_hits`], some with activation windows.
    pub(crate) fn random_features(rng: &mut Rng, n: usize, vocab: &ThemeVocabulary) -> Vec<Feature> {
        let hits = random_hits(rng, n, 1, vocab);
        hits.into_iter()
            .enumerate()
            .map(|(i, h)| {
                let (x, y) = if rng.below(10) == 0 {
                    (rng.range(179.0, 180.0) * [1.0, -1.0][rng.below(2)], rng.range(-16.0, -14.0))
                } else {
                    (rng.range(2.2, 2.5), rng.range(48.8, 48.95))
                };
                // Lines and polygons reach towards the prime meridian, never past ±180.
                let (dx, dy) = (-x.signum() * 0.01, 0.005);
                let g = match rng.below(20) {
                    0 => Geometry::LineString(LineString::from(vec![(x, y), (x + dx, y + dy)])),
                    1 => Geometry::Polygon(polygon![(x: x, y: y), (x: x + dx, y: y), (x: x, y: y + dy)]),
                    _ => Geometry::Point(Point::new(x, y)),
                };
                let mut attrs = h.feature.attrs.clone();
                if rng.below(10) == 0 {
                    attrs = attrs.with_windows([(1_720_000_000_000, 1_720_050_000_000)]);
                }
                Feature::from_lonlat(i as u64, &g, attrs, Box::new([])).unwrap()
            })
            .collect()
    }
}
