//! A hit of a region query: one feature of one of the query's layers. Its own module because
//! both the engine (which finds hits) and the query results (which order, page and count them)
//! name it, and neither should import the other for it.

use crate::feature::Feature;
use std::sync::Arc;

/// One feature matching a region.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Index of the layer in the query's layer list.
    pub layer: usize,
    /// The feature.
    pub feature: Arc<Feature>,
}
