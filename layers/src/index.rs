//! The in-memory spatial index of one collection: an R-tree over Web Mercator envelopes plus
//! an id map for updates.

use crate::feature::{Feature, FeatureId, Schema};
use geo::{Coord, Rect};
use rstar::{AABB, RTree, RTreeObject};
use std::collections::HashMap;
use std::sync::Arc;

/// An R-tree entry: a feature's envelope and the feature.
#[derive(Debug, Clone)]
pub struct Item {
    env: AABB<[f64; 2]>,
    /// The feature.
    pub feature: Arc<Feature>,
}

impl Item {
    fn new(feature: Arc<Feature>) -> Self {
        let b = feature.bbox;
        Self { env: AABB::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]), feature }
    }
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.feature.id == other.feature.id
    }
}

impl RTreeObject for Item {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.env
    }
}

/// The features of one source (entries, venues, perimeters, an imported dataset), indexed.
#[derive(Debug)]
pub struct Collection {
    schema: Arc<Schema>,
    tree: RTree<Item>,
    by_id: HashMap<FeatureId, Arc<Feature>>,
    theme_counts: [usize; 64],
    kind_counts: HashMap<Arc<str>, usize>,
}

impl Collection {
    /// An empty collection.
    pub fn new(schema: Schema) -> Self {
        Self::bulk_load(schema, Vec::new())
    }

    /// Builds the index in one pass (R-tree bulk load, much faster and better packed than
    /// inserting one by one). When ids repeat, the last feature wins.
    pub fn bulk_load(schema: Schema, features: Vec<Feature>) -> Self {
        let mut by_id = HashMap::with_capacity(features.len());
        for f in features {
            by_id.insert(f.id, Arc::new(f));
        }
        let items: Vec<Item> = by_id.values().cloned().map(Item::new).collect();
        let mut c = Self {
            schema: Arc::new(schema),
            tree: RTree::bulk_load(items),
            by_id,
            theme_counts: [0; 64],
            kind_counts: HashMap::new(),
        };
        let all: Vec<Arc<Feature>> = c.by_id.values().cloned().collect();
        for f in &all {
            c.count(f, true);
        }
        c
    }

    fn count(&mut self, f: &Feature, add: bool) {
        let mut m = f.attrs.themes.0;
        while m != 0 {
            let bit = m.trailing_zeros() as usize;
            if add {
                self.theme_counts[bit] += 1;
            } else {
                self.theme_counts[bit] -= 1;
            }
            m &= m - 1;
        }
        if let Some(k) = &f.attrs.kind {
            let n = self.kind_counts.entry(k.clone()).or_default();
            if add {
                *n += 1;
            } else {
                *n -= 1;
            }
        }
    }

    /// Inserts or replaces a feature; returns the one it replaced.
    pub fn upsert(&mut self, feature: Feature) -> Option<Arc<Feature>> {
        let old = self.remove(feature.id);
        let f = Arc::new(feature);
        self.count(&f, true);
        self.by_id.insert(f.id, f.clone());
        self.tree.insert(Item::new(f));
        old
    }

    /// Removes a feature by id; returns it.
    pub fn remove(&mut self, id: FeatureId) -> Option<Arc<Feature>> {
        let old = self.by_id.remove(&id)?;
        self.tree.remove(&Item::new(old.clone()));
        self.count(&old, false);
        Some(old)
    }

    /// A feature by id.
    pub fn get(&self, id: FeatureId) -> Option<&Arc<Feature>> {
        self.by_id.get(&id)
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

    /// Features whose envelope meets `rect` (Web Mercator metres).
    pub fn query(&self, rect: Rect<f64>) -> impl Iterator<Item = &Arc<Feature>> {
        let env = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
        self.tree.locate_in_envelope_intersecting(&env).map(|i| &i.feature)
    }

    /// Every feature, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Feature>> {
        self.by_id.values()
    }

    /// Envelope of all features (Web Mercator metres), `None` when empty.
    pub fn extent(&self) -> Option<Rect<f64>> {
        if self.is_empty() {
            return None;
        }
        let e = self.tree.root().envelope();
        Some(Rect::new(Coord { x: e.lower()[0], y: e.lower()[1] }, Coord { x: e.upper()[0], y: e.upper()[1] }))
    }

    /// Number of features carrying the theme of bit index `bit`.
    pub fn theme_count(&self, bit: u32) -> usize {
        self.theme_counts.get(bit as usize).copied().unwrap_or(0)
    }

    /// Number of features of a kind (perimeter kinds, venue kinds).
    pub fn kind_count(&self, kind: &str) -> usize {
        self.kind_counts.get(kind).copied().unwrap_or(0)
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
        assert!(old.bbox.min().y < 6_000_000.0);
        let mut ids: Vec<u64> = c.query(paris()).map(|f| f.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!((c.theme_count(0), c.theme_count(1)), (2, 1));

        assert!(c.remove(1).is_some());
        assert!(c.remove(1).is_none());
        assert_eq!(c.query(paris()).count(), 2);
        assert_eq!(c.len(), 2);
        assert!(c.extent().unwrap().min().x > 200_000.0);
    }
}
