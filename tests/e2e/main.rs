//! End-to-end tests: the router driven in-process, the real `vigie` binary, and tiles checked
//! by decoders we did not write (GDAL, Python `mapbox-vector-tile`, PostGIS `ST_AsMVT`).
//!
//! Run them all with `tests/run` (it prepares the Python venv, npm tools and PostGIS). A test
//! whose external tool is missing fails with what to install: it is never skipped.

mod archives;
mod backups;
mod basemap;
mod binary;
mod browser;
mod budgets;
mod catalog;
mod contract;
mod decoders;
mod disk_full;
mod durability;
mod escalation;
mod exports_dialog;
mod faults;
mod herd;
mod identity;
mod ingest;
mod journal;
mod light_basemap;
mod limits;
mod mutations;
mod oidc;
mod operability;
mod package;
mod packs_in_browser;
mod parsers;
mod postgis_mvt;
mod regions;
mod replicas;
mod reports;
mod router;
mod staffing;
mod staticmap;
mod store_suite;
mod styles;
mod support;
mod table_layers;
mod territories;
mod territory_leaks;
mod upgrades;
mod workspace_settings;
mod workspaces;
