//! A map keyed by feature id, laid out for a log's ids.
//!
//! A log numbers its entries 1, 2, 3…: an [`IdMap`] keeps those in a vector indexed by id, a
//! value's own size a feature (8 bytes for an `Arc`), where a hash map takes a bucket of key and
//! value at a load of 44–88 % (34 bytes a feature for an `Arc` over a million: 2²¹ buckets of
//! 17; `benches/examples/memory.rs` measured the index 27.7 bytes an entry smaller). An id far beyond the count (a dataset's ids, which can be anything up to `u64::MAX`)
//! goes to a hash map instead, so no id makes the vector grow past a few times the count.

use crate::feature::FeatureId;
use hashbrown::HashMap;

/// Values by feature id: ids up to a few times the count in a vector, the others in a map.
#[derive(Debug, Clone)]
pub struct IdMap<V> {
    dense: Vec<Option<V>>,
    sparse: HashMap<FeatureId, V>,
    len: usize,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        Self { dense: Vec::new(), sparse: HashMap::new(), len: 0 }
    }
}

impl<V> IdMap<V> {
    /// Ids below this many times the count, plus [`IdMap::MARGIN`], go to the vector.
    pub const SPREAD: usize = 4;
    /// See [`IdMap::SPREAD`].
    pub const MARGIN: usize = 4096;

    /// The map of these pairs; when an id repeats, the last value wins.
    pub fn from_pairs(pairs: Vec<(FeatureId, V)>) -> Self {
        let mut out = Self::default();
        let bound = Self::SPREAD * pairs.len() + Self::MARGIN;
        let top = pairs.iter().filter_map(|(id, _)| usize::try_from(*id).ok()).filter(|i| *i < bound).max();
        out.dense.resize_with(top.map_or(0, |t| t + 1), || None);
        for (id, v) in pairs {
            out.insert(id, v);
        }
        out
    }

    fn dense_index(&self, id: FeatureId) -> Option<usize> {
        usize::try_from(id).ok().filter(|i| *i < self.dense.len())
    }

    // An id put in the map while it was far may have been passed by the vector since: a miss
    // in the vector looks in the map.

    /// The value of `id`.
    pub fn get(&self, id: FeatureId) -> Option<&V> {
        self.dense_index(id).and_then(|i| self.dense[i].as_ref()).or_else(|| self.sparse.get(&id))
    }

    /// Removes `id`; returns its value.
    pub fn remove(&mut self, id: FeatureId) -> Option<V> {
        let old = self.dense_index(id).and_then(|i| self.dense[i].take()).or_else(|| self.sparse.remove(&id));
        self.len -= usize::from(old.is_some());
        old
    }

    /// Sets the value of `id`; returns the one it replaced.
    pub fn insert(&mut self, id: FeatureId, v: V) -> Option<V> {
        let old = self.remove(id);
        let bound = Self::SPREAD * (self.len + 1) + Self::MARGIN;
        match usize::try_from(id) {
            Ok(i) if i < self.dense.len() => self.dense[i] = Some(v),
            Ok(i) if i < bound => {
                self.dense.resize_with(i + 1, || None);
                self.dense[i] = Some(v);
            }
            _ => {
                self.sparse.insert(id, v);
            }
        }
        self.len += 1;
        old
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every value: those in the vector by id, then those in the map in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.dense.iter().flatten().chain(self.sparse.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap as Model;

    proptest::proptest! {
        /// The map answers as a hash map would, whatever the ids: a log's (1, 2, 3…, some
        /// deleted), a dataset's (anything up to u64::MAX), built at once or written one by one.
        #[test]
        fn behaves_as_a_hash_map(
            built in proptest::collection::vec((0u64..3000, 0u32..5), 0..300),
            ops in proptest::collection::vec((proptest::prop_oneof![0u64..6000, proptest::prelude::any::<u64>()], proptest::option::of(0u32..5)), 0..400),
        ) {
            let mut model: Model<FeatureId, u32> = Model::new();
            for (id, v) in &built {
                model.insert(*id, *v);
            }
            let mut map = IdMap::from_pairs(built.clone());
            proptest::prop_assert_eq!(map.len(), model.len());
            for (id, op) in ops {
                if let Some(v) = op {
                    proptest::prop_assert_eq!(map.insert(id, v), model.insert(id, v));
                } else {
                    proptest::prop_assert_eq!(map.remove(id), model.remove(&id));
                }
                proptest::prop_assert_eq!(map.get(id), model.get(&id));
                proptest::prop_assert_eq!(map.len(), model.len());
            }
            let mut seen: Vec<u32> = map.values().copied().collect();
            let mut want: Vec<u32> = model.values().copied().collect();
            seen.sort_unstable();
            want.sort_unstable();
            proptest::prop_assert_eq!(seen, want);
            proptest::prop_assert!(map.dense.len() <= IdMap::<u32>::SPREAD * 700 + IdMap::<u32>::MARGIN);
        }
    }

    #[test]
    fn a_log_s_ids_are_kept_in_the_vector_and_far_ids_in_the_map() {
        // Built in any order (a collection's iteration order was a hash map's).
        let mut map = IdMap::from_pairs((1..=10_000u64).rev().map(|id| (id, id)).collect());
        assert_eq!((map.dense.len(), map.sparse.len(), map.len()), (10_001, 0, 10_000));
        map.insert(10_001, 1);
        map.insert(u64::MAX, 2);
        map.insert(1 << 40, 3);
        assert_eq!((map.dense.len(), map.sparse.len(), map.len()), (10_002, 2, 10_003));
        assert_eq!(map.get(u64::MAX), Some(&2));

        // An id put in the map while it was far, then passed by the vector (the first failure
        // the property test found): still found, and removed from where it is.
        let mut map = IdMap::default();
        map.insert(5000, 0);
        assert_eq!(map.sparse.len(), 1);
        for id in (1..=300).chain([5001]) {
            map.insert(id, 1);
        }
        assert!(map.dense.len() > 5000);
        assert_eq!(map.get(5000), Some(&0));
        assert_eq!(map.insert(5000, 7), Some(0));
        assert_eq!((map.get(5000), map.len(), map.sparse.len()), (Some(&7), 302, 0));
        // The last value of a repeated id wins.
        let map = IdMap::from_pairs(vec![(3, 'a'), (3, 'b')]);
        assert_eq!((map.get(3), map.len()), (Some(&'b'), 1));
    }
}
