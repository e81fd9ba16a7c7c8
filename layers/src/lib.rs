//! vigie's geospatial engine.
//!
//! No HTTP and no store here: the feature model, the layer catalog, the in-memory spatial index
//! (points in quadkey order, an R-tree of the other geometries, in Web Mercator metres), tile maths, clipping and simplification per zoom, MVT
//! encoding, region queries, H3 aggregation and the bundled demo data. The service crate
//! (`vigie-tileserver`) puts it behind HTTP and a store.
//!
//! Where to start: [`tile`] (tile coordinates and envelopes), [`mvt`] (the encoder),
//! [`region`] (regions ready to test features), [`h3`] (hexagon aggregates), and [`Engine`],
//! which binds them to the catalog's layers.
//!
//! # Features
//!
//! - `readers` (default): the `readers` module, which reads source files (GeoJSON, CSV,
//!   FlatGeobuf, GeoPackage, Shapefile, KML/KMZ, with CRS reprojection) into a
//!   [`dataset::DatasetBuilder`]. Without it (`default-features = false`) none of the format
//!   libraries is built; datasets can still be built from records in memory.

pub mod budget;
pub mod catalog;
pub mod clip;
pub mod dataset;
pub mod demo;
pub mod engine;
pub mod feature;
pub mod filter;
pub mod h3;
pub mod hit;
pub mod ids;
pub mod index;
pub mod journal;
pub mod model;
pub mod mvt;
pub mod order;
pub mod query;
#[cfg(feature = "readers")]
pub mod readers;
pub mod region;
pub mod scope;
pub mod text;
pub mod tile;
pub mod validity;

pub use budget::{Budget, OverCeiling};
pub use catalog::{Catalog, LayerDef, LayerKind, Theme};
pub use engine::{Engine, Layer, RenderedTile};
pub use feature::{Feature, FeatureId, Qualification, QualificationSet, Value};
pub use filter::Filter;
pub use tile::TileCoord;
