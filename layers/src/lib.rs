//! vigie's geospatial engine.
//!
//! No HTTP and no SQL here: the feature model, the layer catalog, the in-memory spatial index
//! (R-tree over Web Mercator metres), tile maths, clipping and simplification per zoom, MVT
//! encoding, and the bundled demo data. The service crate (`vigie-tileserver`) puts it behind
//! HTTP and a store.

pub mod catalog;
pub mod clip;
pub mod dataset;
pub mod demo;
pub mod engine;
pub mod feature;
pub mod filter;
pub mod h3;
pub mod index;
pub mod journal;
pub mod model;
pub mod mvt;
pub mod query;
pub mod readers;
pub mod region;
pub mod text;
pub mod tile;
pub mod validity;

pub use catalog::{Catalog, LayerDef, LayerKind, Theme};
pub use engine::{Engine, Layer, RenderedTile};
pub use feature::{Feature, FeatureId, Qualification, QualificationSet, Value};
pub use filter::Filter;
pub use tile::TileCoord;
