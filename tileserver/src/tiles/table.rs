//! Table layers: PostGIS tables or views served with `ST_AsMVT(ST_AsMVTGeom(…))`, for
//! reference data too big to keep in memory — the way Martin serves tables.
//!
//! Each layer's SQL is built once at start, with every identifier quoted; z/x/y and filters are
//! bound as parameters. Start-up checks that the table and columns exist, reads the geometry's
//! SRID and warns when no GiST index covers the geometry column. The pool is the PostgreSQL
//! store's ([`crate::store::Store::postgis_pool`]).

use super::{Features, LayerTile, RenderError, TileSource};
use crate::store::StoreError;
use async_trait::async_trait;
use geo::Rect;
use sqlx::{PgPool, Row};
use std::sync::Arc;
use vigie_layers::catalog::{LayerKind, TableSource as PostgisTable};
use vigie_layers::feature::{Field, FieldType, Schema};
use vigie_layers::tile::{BUFFER_PX, EXTENT};
use vigie_layers::{Budget, Engine, Filter, Layer, TileCoord};

/// Why a table layer cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The catalog has table layers but the store is not PostgreSQL.
    #[error("layer '{0}' is a PostGIS table layer: it needs the PostgreSQL store (--database-url or DATABASE_URL)")]
    NeedsPostgres(String),
    /// A table or column is missing.
    #[error("layer '{layer}': {reason}")]
    Invalid {
        /// Layer id.
        layer: String,
        /// What is wrong.
        reason: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TableError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// A filter value bound after z, x, y and the layer name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    From,
    To,
    Severity,
}

/// A table layer ready to serve: its SQL built once, bound per tile.
#[derive(Debug)]
pub struct TableSource {
    layer: Arc<Layer>,
    pool: PgPool,
    sql: String,
    schema: Arc<Schema>,
    params: Vec<Param>,
}

/// A quoted SQL identifier: `"name"` with inner quotes doubled; `schema.table` is quoted part by
/// part.
pub fn quote_ident(name: &str) -> String {
    name.split('.').map(|part| format!("\"{}\"", part.replace('"', "\"\""))).collect::<Vec<_>>().join(".")
}

fn field_type(pg: &str) -> FieldType {
    match pg {
        "smallint" | "integer" | "bigint" => FieldType::Integer,
        "real" | "double precision" | "numeric" => FieldType::Number,
        "boolean" => FieldType::Boolean,
        t if t.starts_with("timestamp") || t == "date" => FieldType::Datetime,
        _ => FieldType::String,
    }
}

impl TableSource {
    /// Checks every table layer of the engine's catalog against the database and builds its
    /// SQL.
    ///
    /// # Errors
    /// [`TableError`] naming the layer and what is missing.
    pub async fn prepare_all(engine: &Engine, pool: Option<&PgPool>) -> Result<Vec<Self>, TableError> {
        let mut sources = Vec::new();
        for layer in engine.layers().iter().filter(|l| l.def.kind == LayerKind::Table) {
            let Some(pool) = pool else { return Err(TableError::NeedsPostgres(layer.def.id.clone())) };
            let Some(src) = &layer.def.postgis else { continue };
            let (sql, schema, params) = Self::prepare_one(pool, &layer.def.id, src).await?;
            sources.push(Self { layer: layer.clone(), pool: pool.clone(), sql, schema: Arc::new(schema), params });
        }
        Ok(sources)
    }

    async fn prepare_one(
        pool: &PgPool,
        id: &str,
        src: &PostgisTable,
    ) -> Result<(String, Schema, Vec<Param>), TableError> {
        let invalid = |reason: String| TableError::Invalid { layer: id.to_owned(), reason };
        let (schema_name, table) = src.table.split_once('.').unwrap_or(("public", &src.table));
        let columns: Vec<(String, String)> = sqlx::query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
        )
        .bind(schema_name)
        .bind(table)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, _>>()?;
        if columns.is_empty() {
            return Err(invalid(format!("table or view '{}' not found (or has no column)", src.table)));
        }
        let column = |name: &str| columns.iter().find(|(c, _)| c == name).map(|(_, t)| t.as_str());
        for needed in std::iter::once(&src.geometry_column)
            .chain(std::iter::once(&src.id_column))
            .chain(&src.properties)
            .chain(src.time_column.iter())
            .chain(src.severity_column.iter())
        {
            if column(needed).is_none() {
                return Err(invalid(format!("column '{needed}' not found in '{}'", src.table)));
            }
        }
        let srid: i32 = sqlx::query_scalar(&format!(
            "SELECT COALESCE((SELECT ST_SRID({g}) FROM {t} WHERE {g} IS NOT NULL LIMIT 1), 4326)",
            g = quote_ident(&src.geometry_column),
            t = quote_ident(&src.table)
        ))
        .fetch_one(pool)
        .await?;
        let indexed: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 \
             AND indexdef ILIKE '%USING gist%' AND indexdef LIKE '%' || $3 || '%')",
        )
        .bind(schema_name)
        .bind(table)
        .bind(quote_ident(&src.geometry_column))
        .fetch_one(pool)
        .await?;
        let indexed = indexed
            || sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 \
                 AND indexdef ILIKE '%USING gist%' AND indexdef LIKE '%(' || $3 || ')%')",
            )
            .bind(schema_name)
            .bind(table)
            .bind(&src.geometry_column)
            .fetch_one(pool)
            .await?;
        if !indexed {
            tracing::warn!(
                layer = id,
                table = %src.table,
                column = %src.geometry_column,
                "no GiST index on the geometry column: every tile scans the whole table \
                 (CREATE INDEX ON <table> USING gist (<geometry column>))"
            );
        }
        let g = quote_ident(&src.geometry_column);
        let geom_3857 = if srid == 3857 { g.clone() } else { format!("ST_Transform({g}, 3857)") };
        let envelope = if srid == 3857 {
            format!("ST_TileEnvelope($1, $2, $3, margin => {})", f64::from(BUFFER_PX) / f64::from(EXTENT))
        } else {
            format!(
                "ST_Transform(ST_TileEnvelope($1, $2, $3, margin => {}), {srid})",
                f64::from(BUFFER_PX) / f64::from(EXTENT)
            )
        };
        let props: Vec<String> = src.properties.iter().map(|p| quote_ident(p)).collect();
        let mut conditions = vec![format!("{g} && {envelope}")];
        let mut params = Vec::new();
        if let Some(t) = &src.time_column {
            let t = quote_ident(t);
            conditions.push(format!(
                "($5::float8 IS NULL OR {t} >= to_timestamp($5)) AND ($6::float8 IS NULL OR {t} <= to_timestamp($6))"
            ));
            params.extend([Param::From, Param::To]);
        }
        if let Some(s) = &src.severity_column {
            let n = 5 + params.len();
            conditions.push(format!("(${n}::int IS NULL OR {} >= ${n})", quote_ident(s)));
            params.push(Param::Severity);
        }
        let sql = format!(
            "SELECT ST_AsMVT(q, $4, {EXTENT}, 'geom', 'id') FROM (\
               SELECT {id} AS id{comma}{props}, \
                 ST_AsMVTGeom({geom_3857}, ST_TileEnvelope($1, $2, $3), {EXTENT}, {BUFFER_PX}, true) AS geom \
               FROM {table} WHERE {conditions}\
             ) q WHERE geom IS NOT NULL",
            id = quote_ident(&src.id_column),
            comma = if props.is_empty() { "" } else { ", " },
            props = props.join(", "),
            table = quote_ident(&src.table),
            conditions = conditions.join(" AND "),
        );
        let schema = Schema {
            fields: src
                .properties
                .iter()
                .map(|p| Field::new(p, field_type(column(p).unwrap_or("text")), &format!("column {p}")))
                .collect(),
        };
        tracing::info!(layer = id, table = %src.table, srid, indexed, "table layer ready");
        Ok((sql, schema, params))
    }
}

#[async_trait]
impl TileSource for TableSource {
    fn layer(&self) -> &Arc<Layer> {
        &self.layer
    }

    fn schema(&self) -> Arc<Schema> {
        self.schema.clone()
    }

    fn feature_count(&self) -> usize {
        // Not counted: a table may hold millions of rows and change behind vigie's back.
        0
    }

    fn extent(&self) -> Option<Rect<f64>> {
        None
    }

    fn features(&self) -> Features {
        Features::TilesOnly
    }

    async fn tile(&self, coord: TileCoord, filter: &Filter, _budget: Budget) -> Result<LayerTile, RenderError> {
        let mut q = sqlx::query_scalar::<_, Option<Vec<u8>>>(&self.sql)
            .bind(i32::from(coord.z()))
            .bind(coord.x() as i32)
            .bind(coord.y() as i32)
            .bind(self.layer.def.id.as_str());
        for param in &self.params {
            q = match param {
                Param::From => q.bind(filter.from_ms.map(|t| t as f64 / 1000.0)),
                Param::To => q.bind(filter.to_ms.map(|t| t as f64 / 1000.0)),
                Param::Severity => q.bind(filter.min_severity.map(i32::from)),
            };
        }
        let bytes = q.fetch_one(&self.pool).await.map_err(StoreError::from)?.unwrap_or_default();
        // ST_AsMVT does not say how many features it wrote: one or none is what is known.
        Ok(LayerTile { features: usize::from(!bytes.is_empty()), bytes, thinned: false })
    }
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("points"), "\"points\"");
        assert_eq!(quote_ident("ref.points"), "\"ref\".\"points\"");
        assert_eq!(quote_ident("a\"; DROP TABLE x; --"), "\"a\"\"; DROP TABLE x; --\"");
    }
}
