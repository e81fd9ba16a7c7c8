//! The in-memory spatial index of one collection: its points in quadkey order
//! ([`crate::order`]), an R-tree over the Web Mercator envelopes of its other features, and an
//! id map for updates.

use crate::feature::{Brief, Feature, FeatureId, Schema, Text};
use crate::ids::IdMap;
use crate::order::{CellRect, PointOrder, Slot, point_code};
use crate::tile::union;
use geo::{Coord, Rect};
use hashbrown::HashMap;
use rstar::{AABB, Envelope, ParentNode, RTree, RTreeNode, RTreeObject};
use std::sync::Arc;

/// A feature with its brief: an R-tree entry (lines, polygons, multipoints) or a point's in
/// the point order ([`crate::order::Slot`]), 48 bytes.
///
/// The tree's node type (`RTreeNode<Item>`: an entry or an inner node of 56 bytes) must stay
/// larger than the entry: were they the same size, rstar's bulk load would build each leaf's
/// child list in place in a buffer split off a larger one, keeping that buffer's whole
/// capacity (measured over 1M points: ~850 MiB more resident memory). A test checks.
#[derive(Debug, Clone)]
pub struct Item {
    /// The feature.
    pub feature: Arc<Feature>,
    brief: Brief,
}

impl Item {
    /// The entry of a feature.
    pub fn new(feature: Arc<Feature>) -> Self {
        Self { brief: Brief::of(&feature), feature }
    }

    /// What region queries read of the feature, stored beside it.
    #[inline]
    pub fn brief(&self) -> &Brief {
        &self.brief
    }
}

/// A feature [`Collection::for_each_item`] found: a point's slot in the point order, or another
/// feature's R-tree entry.
#[derive(Debug, Clone, Copy)]
pub enum Found<'a> {
    /// A point.
    Point(&'a Slot),
    /// A line, a polygon or a multipoint.
    Other(&'a Item),
}

impl<'a> Found<'a> {
    /// The feature and its brief.
    #[inline]
    pub fn item(self) -> &'a Item {
        match self {
            Self::Point(s) => &s.item,
            Self::Other(i) => i,
        }
    }

    /// Whether the feature's envelope meets a rectangle (Web Mercator metres, its cells made
    /// once by [`CellRect::of`] for many tests), as [`Collection::for_each_item`] tests it: a
    /// point from its cell, its position read only within 2 cm of the rectangle's edges (no
    /// visit to the feature, scattered over the heap).
    #[inline]
    pub fn meets(self, rect: &CellRect) -> bool {
        match self {
            Self::Point(s) => s.within(rect),
            Self::Other(i) => {
                let r = rect.rect();
                i.envelope().intersects(&AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]))
            }
        }
    }
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.feature.id == other.feature.id
    }
}

impl RTreeObject for Item {
    type Envelope = AABB<[f64; 2]>;
    #[inline]
    fn envelope(&self) -> Self::Envelope {
        let b = self.feature.bbox();
        AABB::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y])
    }
}

/// Feature counts per theme bit and per kind.
#[derive(Debug)]
struct Counts {
    themes: [usize; 64],
    kinds: HashMap<Text, usize>,
}

impl Default for Counts {
    fn default() -> Self {
        Self { themes: [0; 64], kinds: HashMap::new() }
    }
}

impl Counts {
    fn count(&mut self, f: &Feature, add: bool) {
        let mut m = f.attrs.themes.0;
        while m != 0 {
            let bit = m.trailing_zeros() as usize;
            if add {
                self.themes[bit] += 1;
            } else {
                self.themes[bit] -= 1;
            }
            m &= m - 1;
        }
        if let Some(k) = f.attrs.kind() {
            let n = self.kinds.entry(k.clone()).or_default();
            if add {
                *n += 1;
            } else {
                *n -= 1;
            }
        }
    }
}

/// The features of one source (entries, venues, perimeters, an imported dataset), indexed:
/// the point order of its points ([`crate::order`]) and an R-tree of the others.
#[derive(Debug)]
pub struct Collection {
    schema: Arc<Schema>,
    tree: RTree<Item>,
    by_id: IdMap<Arc<Feature>>,
    counts: Counts,
    points: PointOrder,
}

impl Collection {
    /// An empty collection.
    pub fn new(schema: Schema) -> Self {
        Self::bulk_load(schema, Vec::new())
    }

    /// Builds the index in one pass (R-tree bulk load, much faster and better packed than
    /// inserting one by one). When ids repeat, the last feature wins.
    pub fn bulk_load(schema: Schema, features: Vec<Feature>) -> Self {
        Self::from_map(schema, IdMap::from_pairs(features.into_iter().map(|f| (f.id, Arc::new(f))).collect()))
    }

    /// [`Collection::bulk_load`] of features already shared: a loader holding many features
    /// wraps each in its `Arc` as it makes it, so they are never in memory twice (a
    /// `Vec<Feature>` and the `Arc`s made from it).
    pub fn bulk_load_shared(schema: Schema, features: Vec<Arc<Feature>>) -> Self {
        Self::from_map(schema, IdMap::from_pairs(features.into_iter().map(|f| (f.id, f)).collect()))
    }

    fn from_map(schema: Schema, by_id: IdMap<Arc<Feature>>) -> Self {
        let mut counts = Counts::default();
        for f in by_id.values() {
            counts.count(f, true);
        }
        let points = PointOrder::from_slots(by_id.values().filter_map(Slot::of).collect());
        let others: Vec<Item> = by_id.values().filter(|f| !f.is_point()).cloned().map(Item::new).collect();
        Self { schema: Arc::new(schema), tree: RTree::bulk_load(others), by_id, counts, points }
    }

    /// Inserts or replaces a feature; returns the one it replaced.
    pub fn upsert(&mut self, feature: Feature) -> Option<Arc<Feature>> {
        let old = self.remove(feature.id);
        let f = Arc::new(feature);
        self.counts.count(&f, true);
        self.by_id.insert(f.id, f.clone());
        match Slot::of(&f) {
            Some(slot) => self.points.insert(slot),
            None => self.tree.insert(Item::new(f)),
        }
        old
    }

    /// Removes a feature by id; returns it.
    pub fn remove(&mut self, id: FeatureId) -> Option<Arc<Feature>> {
        let old = self.by_id.remove(id)?;
        self.counts.count(&old, false);
        if old.is_point() {
            self.points.remove(point_code(old.bbox().min()), id);
        } else {
            self.tree.remove(&Item::new(old.clone()));
        }
        Some(old)
    }

    /// A feature by id.
    pub fn get(&self, id: FeatureId) -> Option<&Arc<Feature>> {
        self.by_id.get(id)
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the collection has no feature.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Property schema of the features.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Features whose envelope meets `rect` (Web Mercator metres): the points, in the point
    /// order, then the other features.
    pub fn query(&self, rect: Rect<f64>) -> impl Iterator<Item = &Arc<Feature>> {
        let env = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
        let others = (self.tree.size() > 0).then(|| self.tree.locate_in_envelope_intersecting(&env));
        self.points.within(rect).map(|s| &s.item.feature).chain(others.into_iter().flatten().map(|i| &i.feature))
    }

    /// Calls `f` with the entry of each feature whose envelope meets `rect` (Web Mercator
    /// metres), the features of [`Collection::query`]: their briefs are read without visiting
    /// the features. The R-tree's nodes are walked depth first, each node's children in memory
    /// order, without rstar's iterator's stack of every child of a node it enters.
    pub fn for_each_item<'a>(&'a self, rect: Rect<f64>, mut f: impl FnMut(Found<'a>)) {
        for s in self.points.within(rect) {
            f(Found::Point(s));
        }
        self.for_each_non_point(rect, |i| f(Found::Other(i)));
    }

    /// [`Collection::for_each_item`] of the features that are not points (those of the R-tree).
    pub fn for_each_non_point<'a>(&'a self, rect: Rect<f64>, mut f: impl FnMut(&'a Item)) {
        fn walk<'a>(node: &'a ParentNode<Item>, env: &AABB<[f64; 2]>, f: &mut impl FnMut(&'a Item)) {
            for child in node.children() {
                match child {
                    RTreeNode::Leaf(item) => {
                        if item.envelope().intersects(env) {
                            f(item);
                        }
                    }
                    RTreeNode::Parent(p) => {
                        if p.envelope().intersects(env) {
                            walk(p, env, f);
                        }
                    }
                }
            }
        }
        let env = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
        if self.tree.size() > 0 && self.tree.root().envelope().intersects(&env) {
            walk(self.tree.root(), &env, &mut f);
        }
    }

    /// The point order of the collection's point features.
    pub fn points(&self) -> &PointOrder {
        &self.points
    }

    /// Number of features that are not points (lines, polygons, multipoints): the ones the
    /// point order leaves out.
    pub fn non_points(&self) -> usize {
        self.len() - self.points.len()
    }

    /// Every feature, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Feature>> {
        self.by_id.values()
    }

    /// Envelope of all features (Web Mercator metres), `None` when empty.
    pub fn extent(&self) -> Option<Rect<f64>> {
        let others = (self.tree.size() > 0).then(|| {
            let e = self.tree.root().envelope();
            Rect::new(Coord { x: e.lower()[0], y: e.lower()[1] }, Coord { x: e.upper()[0], y: e.upper()[1] })
        });
        match (self.points.bounds(), others) {
            (Some(a), Some(b)) => Some(union(a, b)),
            (a, b) => a.or(b),
        }
    }

    /// Number of features carrying the theme of bit index `bit`.
    pub fn theme_count(&self, bit: u32) -> usize {
        self.counts.themes.get(bit as usize).copied().unwrap_or(0)
    }

    /// Number of features of a kind (perimeter kinds, venue kinds).
    pub fn kind_count(&self, kind: &str) -> usize {
        self.counts.kinds.get(kind).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feature::{Attrs, ThemeMask};
    use geo::{Geometry, Point};

    fn feature(id: u64, lon: f64, lat: f64, themes: u64) -> Feature {
        let attrs = Attrs { themes: ThemeMask(themes), ..Attrs::default() };
        Feature::from_lonlat(id, &Geometry::Point(Point::new(lon, lat)), attrs, Box::new([])).unwrap()
    }

    fn paris() -> Rect<f64> {
        let a = crate::tile::lonlat_to_mercator(2.2, 48.8);
        let b = crate::tile::lonlat_to_mercator(2.5, 48.9);
        Rect::new(a, b)
    }

    #[test]
    fn shared_bulk_load_equals_bulk_load_and_the_last_of_an_id_wins() {
        let features =
            || vec![feature(1, 2.35, 48.85, 0b1), feature(2, 5.37, 43.29, 0b11), feature(1, 2.30, 48.86, 0b10)];
        let plain = Collection::bulk_load(Schema::default(), features());
        let shared = Collection::bulk_load_shared(Schema::default(), features().into_iter().map(Arc::new).collect());
        for c in [&plain, &shared] {
            assert_eq!(c.len(), 2);
            assert!(c.get(1).unwrap().bbox().min().x < 257_000.0, "the second feature 1 (lon 2.30) wins");
            assert_eq!((c.theme_count(0), c.theme_count(1)), (1, 2));
            assert_eq!(c.query(paris()).count(), 1);
        }
    }

    #[test]
    fn query_update_remove() {
        let mut c = Collection::bulk_load(
            Schema::default(),
            vec![feature(1, 2.35, 48.85, 0b1), feature(2, 5.37, 43.29, 0b11), feature(3, 2.30, 48.86, 0b10)],
        );
        let mut ids: Vec<u64> = c.query(paris()).map(|f| f.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 3]);
        assert_eq!((c.theme_count(0), c.theme_count(1)), (2, 2));

        // Moving entry 2 to Paris makes it show up there, and only once.
        let old = c.upsert(feature(2, 2.40, 48.87, 0b1)).unwrap();
        assert!(old.bbox().min().y < 6_000_000.0);
        let mut ids: Vec<u64> = c.query(paris()).map(|f| f.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!((c.theme_count(0), c.theme_count(1)), (2, 1));

        assert_eq!((c.points().len(), c.non_points()), (3, 0));
        assert!(c.remove(1).is_some());
        assert!(c.remove(1).is_none());
        assert_eq!(c.points().len(), 2);
        assert_eq!(c.query(paris()).count(), 2);
        assert_eq!(c.len(), 2);
        assert!(c.extent().unwrap().min().x > 200_000.0);
    }

    #[test]
    fn an_entry_stays_small_and_its_node_larger() {
        // One per indexed feature: a point's slot is its code and its item (56 bytes).
        assert_eq!(size_of::<Item>(), 48);
        assert_eq!(size_of::<Slot>(), 56);
        assert!(size_of::<RTreeNode<Item>>() > size_of::<Item>(), "see `Item`: bulk loads would keep large buffers");
    }

    /// Querying and walking find what a scan of every feature finds: points (from the point
    /// order) and lines (from the R-tree), after writes, over any rectangle (the world, a
    /// point on the antimeridian, random boxes).
    #[test]
    fn querying_and_walking_find_what_a_scan_finds() {
        let mut rng = crate::demo::Rng::new(8);
        let line = |id: u64, rng: &mut crate::demo::Rng| {
            let (x, y) = (rng.range(-10.0, 10.0), rng.range(40.0, 50.0));
            let g = Geometry::LineString(geo::LineString::from(vec![(x, y), (x + rng.range(0.0, 0.5), y + 0.1)]));
            Feature::from_lonlat(id, &g, Attrs::default(), Box::new([])).unwrap()
        };
        let mut features: Vec<Feature> =
            (0..20_000).map(|i| feature(i, rng.range(-10.0, 10.0), rng.range(40.0, 50.0), 0)).collect();
        features.extend((20_000..21_000).map(|i| line(i, &mut rng)));
        features.push(feature(30_000, 180.0, 0.0, 0));
        let mut c = Collection::bulk_load(Schema::default(), features);
        c.upsert(feature(30_001, 0.0, 45.0, 0));
        c.upsert(line(30_002, &mut rng));
        c.upsert(feature(20_005, 1.0, 45.0, 0)); // a line becomes a point
        c.upsert(line(5, &mut rng)); // and a point a line
        c.remove(3);
        c.remove(20_010);
        let m = |lon: f64, lat: f64| crate::tile::lonlat_to_mercator(lon, lat);
        let mut rects = vec![Rect::new(m(-180.0, -85.0), m(180.0, 85.0)), Rect::new(m(180.0, 0.0), m(180.0, 0.0))];
        for _ in 0..50 {
            let (x, y) = (rng.range(-12.0, 12.0), rng.range(38.0, 52.0));
            rects.push(Rect::new(m(x, y), m(x + rng.range(0.0, 3.0), y + rng.range(0.0, 3.0))));
        }
        let meets = |a: Rect<f64>, b: Rect<f64>| {
            a.min().x <= b.max().x && b.min().x <= a.max().x && a.min().y <= b.max().y && b.min().y <= a.max().y
        };
        for r in rects {
            let mut queried: Vec<u64> = c.query(r).map(|f| f.id).collect();
            let mut walked = Vec::new();
            c.for_each_item(r, |found| {
                assert!(found.meets(&CellRect::of(r)));
                walked.push(found.item().feature.id);
            });
            let mut scanned: Vec<u64> = c.iter().filter(|f| meets(f.bbox(), r)).map(|f| f.id).collect();
            queried.sort_unstable();
            walked.sort_unstable();
            scanned.sort_unstable();
            assert_eq!(queried, scanned, "{r:?}");
            assert_eq!(walked, scanned, "{r:?}");
        }
        assert_eq!((c.points().len(), c.non_points()), (20_001, 1_000));
    }
}
