//! Coordinate reference systems of source files, and reprojection to WGS84 longitude/latitude.
//!
//! A CRS is named by an EPSG code (`EPSG:2154`, `urn:ogc:def:crs:EPSG::2154`,
//! `http://www.opengis.net/def/crs/EPSG/0/2154`, or the bare number), by WKT (a Shapefile's
//! `.prj`, a GeoPackage `gpkg_spatial_ref_sys` definition) or by a PROJ string. EPSG codes take
//! their PROJ definition from `crs-definitions` (the EPSG registry as PROJ strings); WKT with an
//! EPSG authority uses that code, ESRI WKT (no authority, as GDAL writes `.prj` files) is
//! matched by name for the common French systems, and anything else is converted by `proj4wkt`.
//! The maths is `proj4rs` (pure Rust PROJ.4). Axis order is always x = easting/longitude,
//! y = northing/latitude, as GeoJSON, Shapefile, GeoPackage and FlatGeobuf store them.

use geo::{Coord, Geometry, MapCoordsInPlace};
use proj4rs::proj::Proj;
use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

/// Why a CRS cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CrsError(pub String);

/// Geographic CRSs whose datum is WGS84 to within a metre (no shift applied): WGS84, CRS84,
/// RGF93 (France), ETRS89 (Europe), NAD83.
const WGS84_LIKE: &[u32] = &[4326, 4171, 4258, 4269];

/// ESRI names (GDAL writes ESRI WKT in `.prj` files, with no EPSG authority) of the systems
/// French sources use, with their EPSG code. Matched on the PROJCS/GEOGCS name, ignoring case.
const ESRI_NAMES: &[(&str, u32)] = &[
    ("RGF_1993_Lambert_93", 2154),
    ("RGF93_Lambert_93", 2154),
    ("RGF93_v1_Lambert_93", 2154),
    ("WGS_1984_Web_Mercator_Auxiliary_Sphere", 3857),
    ("WGS_84_Pseudo_Mercator", 3857),
    ("WGS_1984_Web_Mercator", 3857),
    ("NTF_Paris_Lambert_II_etendu", 27572),
    ("NTF_Paris_Lambert_Zone_II", 27572),
    ("WGS_1984_UTM_Zone_30N", 32630),
    ("WGS_1984_UTM_Zone_31N", 32631),
    ("WGS_1984_UTM_Zone_32N", 32632),
    ("RGF93_CC42", 3942),
    ("RGF93_CC43", 3943),
    ("RGF93_CC44", 3944),
    ("RGF93_CC45", 3945),
    ("RGF93_CC46", 3946),
    ("RGF93_CC47", 3947),
    ("RGF93_CC48", 3948),
    ("RGF93_CC49", 3949),
    ("RGF93_CC50", 3950),
    ("GCS_WGS_1984", 4326),
    ("GCS_RGF_1993", 4171),
    ("GCS_RGF93_v1", 4171),
    ("GCS_ETRS_1989", 4258),
];

/// The projections of a non-WGS84 CRS (shared: readers clone it per file).
struct Projection {
    from: Proj,
    to: Proj,
}

/// A coordinate reference system of a source file.
#[derive(Clone)]
pub struct Crs {
    label: String,
    projection: Option<Arc<Projection>>,
}

impl fmt::Debug for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl PartialEq for Crs {
    fn eq(&self, other: &Self) -> bool {
        self.label == other.label
    }
}

impl Default for Crs {
    fn default() -> Self {
        Self::wgs84()
    }
}

impl std::str::FromStr for Crs {
    type Err = CrsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Crs {
    /// WGS84 longitude/latitude (EPSG:4326, OGC CRS84): no reprojection.
    pub fn wgs84() -> Self {
        Self { label: "EPSG:4326".into(), projection: None }
    }

    /// Whether coordinates are used as they are.
    pub fn is_wgs84(&self) -> bool {
        self.projection.is_none()
    }

    /// A short name: `EPSG:2154`, or `WKT` / `PROJ` for definitions without a code.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// A CRS by EPSG code.
    ///
    /// # Errors
    /// When the code is not in the EPSG registry or its projection is not supported.
    pub fn from_epsg(code: u32) -> Result<Self, CrsError> {
        if WGS84_LIKE.contains(&code) {
            return Ok(Self { label: format!("EPSG:{code}"), projection: None });
        }
        let def = u16::try_from(code)
            .ok()
            .and_then(crs_definitions::from_code)
            .ok_or_else(|| CrsError(format!("EPSG:{code} is not a known EPSG code")))?;
        Self::from_proj_string(format!("EPSG:{code}"), def.proj4)
    }

    /// A CRS from a PROJ string (`+proj=lcc +lat_1=49 …`).
    ///
    /// # Errors
    /// When PROJ.4 syntax or the projection is not supported.
    pub fn from_proj_string(label: String, proj: &str) -> Result<Self, CrsError> {
        let from = Proj::from_proj_string(proj)
            .map_err(|e| CrsError(format!("{label}: projection '{proj}' is not supported: {e}")))?;
        let to = Proj::from_proj_string("+proj=longlat +datum=WGS84 +no_defs")
            .map_err(|e| CrsError(format!("WGS84: {e}")))?;
        Ok(Self { label, projection: Some(Arc::new(Projection { from, to })) })
    }

    /// Parses a CRS as a user or a file names it: `EPSG:2154`, `epsg:3857`, `2154`,
    /// `urn:ogc:def:crs:EPSG::2154`, `urn:ogc:def:crs:OGC:1.3:CRS84`,
    /// `http://www.opengis.net/def/crs/EPSG/0/2154`, a PROJ string or WKT.
    ///
    /// # Errors
    /// When the text names no CRS this module can use, with what is accepted.
    pub fn parse(text: &str) -> Result<Self, CrsError> {
        let s = text.trim();
        let upper = s.to_ascii_uppercase();
        if upper.ends_with("CRS84") || upper == "WGS84" || upper == "WGS 84" {
            return Ok(Self::wgs84());
        }
        if s.starts_with('+') {
            return Self::from_proj_string("PROJ".into(), s);
        }
        if upper.starts_with("PROJCS")
            || upper.starts_with("GEOGCS")
            || upper.starts_with("PROJCRS")
            || upper.starts_with("GEOGCRS")
            || upper.starts_with("GEODCRS")
        {
            return Self::from_wkt(s);
        }
        let code = upper
            .strip_prefix("EPSG:")
            .or_else(|| upper.strip_prefix("URN:OGC:DEF:CRS:EPSG:").map(|r| r.rsplit(':').next().unwrap_or(r)))
            .or_else(|| {
                upper
                    .strip_prefix("HTTP://WWW.OPENGIS.NET/DEF/CRS/EPSG/")
                    .or_else(|| upper.strip_prefix("HTTPS://WWW.OPENGIS.NET/DEF/CRS/EPSG/"))
                    .map(|r| r.rsplit('/').next().unwrap_or(r))
            })
            .unwrap_or(&upper);
        match code.trim().parse::<u32>() {
            Ok(code) => Self::from_epsg(code),
            Err(_) => Err(CrsError(format!(
                "'{text}' is not a CRS: give an EPSG code (EPSG:2154, EPSG:3857), an OGC URN, a PROJ string or WKT"
            ))),
        }
    }

    /// A CRS from WKT (WKT1, ESRI WKT as in `.prj` files, or WKT2).
    ///
    /// # Errors
    /// When the WKT names no supported projection.
    pub fn from_wkt(wkt: &str) -> Result<Self, CrsError> {
        if let Some(code) = root_authority(wkt) {
            return Self::from_epsg(code);
        }
        if let Some(name) = root_name(wkt) {
            let folded = name.replace([' ', '-'], "_");
            if let Some((_, code)) = ESRI_NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(&folded)) {
                return Self::from_epsg(*code);
            }
        }
        let upper = wkt.trim_start().to_ascii_uppercase();
        if upper.starts_with("GEOGCS") && wkt.contains("WGS") && wkt.contains("1984") {
            return Ok(Self::wgs84());
        }
        let proj = proj4wkt::wkt_to_projstring(wkt)
            .map_err(|e| CrsError(format!("the WKT CRS cannot be read ({e}); give the CRS with --crs EPSG:…")))?;
        Self::from_proj_string("WKT".into(), &proj)
    }

    /// Reprojects a geometry to WGS84 longitude/latitude in place.
    ///
    /// # Errors
    /// The first coordinate that cannot be projected.
    pub fn to_wgs84(&self, geometry: &mut Geometry<f64>) -> Result<(), String> {
        let Some(p) = &self.projection else { return Ok(()) };
        let failed: Cell<Option<Coord<f64>>> = Cell::new(None);
        let first_failure = &failed;
        let src_latlong = p.from.is_latlong();
        geometry.map_coords_in_place(|c| {
            let mut pt = if src_latlong { (c.x.to_radians(), c.y.to_radians(), 0.0) } else { (c.x, c.y, 0.0) };
            match proj4rs::transform::transform(&p.from, &p.to, &mut pt) {
                Ok(()) if pt.0.is_finite() && pt.1.is_finite() => Coord { x: pt.0.to_degrees(), y: pt.1.to_degrees() },
                _ => {
                    if first_failure.get().is_none() {
                        first_failure.set(Some(c));
                    }
                    Coord { x: f64::NAN, y: f64::NAN }
                }
            }
        });
        match failed.get() {
            Some(c) => Err(format!("coordinate ({}, {}) cannot be projected from {} to WGS84", c.x, c.y, self.label)),
            None => Ok(()),
        }
    }
}

/// The EPSG code of the root `AUTHORITY["EPSG","2154"]` (WKT1) or `ID["EPSG",2154]` (WKT2):
/// the last one at nesting depth 1.
fn root_authority(wkt: &str) -> Option<u32> {
    let mut depth = 0usize;
    let mut found = None;
    let bytes = wkt.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'[' | b'(' => depth += 1,
            b']' | b')' => depth = depth.saturating_sub(1),
            b'"' => {
                // Skip quoted text (names may hold brackets).
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += 1;
                }
            }
            _ if depth == 1 => {
                // Compared as bytes: `i` may be inside a character (AFL++ found the panic of
                // slicing text there). The keys and `]` are ASCII, so once a key matches the
                // slices below fall on character boundaries.
                let rest = &bytes[i..];
                let key = if rest.len() >= 10 && rest[..10].eq_ignore_ascii_case(b"AUTHORITY[") {
                    Some(10)
                } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"ID[") {
                    Some(3)
                } else {
                    None
                };
                if let Some(k) = key {
                    let rest = &wkt[i..];
                    let inner = &rest[k..rest.find(']').unwrap_or(rest.len())];
                    let mut parts = inner.split(',').map(|p| p.trim().trim_matches('"'));
                    if parts.next().is_some_and(|a| a.eq_ignore_ascii_case("EPSG")) {
                        found = parts.next().and_then(|c| c.parse::<u32>().ok()).or(found);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// The name of the root element: `PROJCS["RGF93_Lambert_93", …` → `RGF93_Lambert_93`.
fn root_name(wkt: &str) -> Option<&str> {
    let start = wkt.find('"')? + 1;
    let len = wkt[start..].find('"')?;
    Some(&wkt[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::point;

    /// GDAL 3.6's `.prj` for EPSG:2154 (ESRI WKT, no authority).
    const ESRI_L93: &str = r#"PROJCS["RGF_1993_Lambert_93",GEOGCS["GCS_RGF_1993",DATUM["D_RGF_1993",SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic"],PARAMETER["False_Easting",700000.0],PARAMETER["False_Northing",6600000.0],PARAMETER["Central_Meridian",3.0],PARAMETER["Standard_Parallel_1",49.0],PARAMETER["Standard_Parallel_2",44.0],PARAMETER["Latitude_Of_Origin",46.5],UNIT["Meter",1.0]]"#;

    fn lonlat(crs: &Crs, x: f64, y: f64) -> (f64, f64) {
        let mut g: Geometry<f64> = point!(x: x, y: y).into();
        crs.to_wgs84(&mut g).unwrap();
        let Geometry::Point(p) = g else { unreachable!() };
        (p.x(), p.y())
    }

    /// Reference values from PROJ 9 through GDAL 3.6:
    /// `echo X Y | gdaltransform -s_srs EPSG:2154 -t_srs EPSG:4326 -output_xy`.
    #[test]
    fn lambert_93_matches_proj() {
        for name in ["EPSG:2154", "2154", "urn:ogc:def:crs:EPSG::2154", "http://www.opengis.net/def/crs/EPSG/0/2154"] {
            let crs = Crs::parse(name).unwrap();
            assert_eq!(crs.label(), "EPSG:2154");
            let (lon, lat) = lonlat(&crs, 652_469.02, 6_862_035.26);
            assert!(
                (lon - 2.352_199_963_013_98).abs() < 1e-8 && (lat - 48.856_600_005_015_3).abs() < 1e-8,
                "{name}: {lon} {lat}"
            );
            let (lon, lat) = lonlat(&crs, 1_000_000.0, 7_000_000.0);
            assert!(
                (lon - 7.184_615_122_623_17).abs() < 1e-8 && (lat - 50.026_890_819_450_5).abs() < 1e-8,
                "{lon} {lat}"
            );
        }
        let esri = Crs::from_wkt(ESRI_L93).unwrap();
        assert_eq!(esri.label(), "EPSG:2154");
        // Without the name table, proj4wkt reads the parameters: same place to a millimetre.
        let generic = Crs::from_wkt(&ESRI_L93.replace("RGF_1993_Lambert_93", "Unnamed")).unwrap();
        let (a, b) = (lonlat(&esri, 700_000.0, 6_600_000.0), lonlat(&generic, 700_000.0, 6_600_000.0));
        assert!((a.0 - 3.0).abs() < 1e-9 && (a.1 - 46.5).abs() < 1e-9, "{a:?}");
        assert!((a.0 - b.0).abs() < 1e-8 && (a.1 - b.1).abs() < 1e-8, "{a:?} {b:?}");
        // NTF Lambert II étendu (Paris meridian, Clarke 1880, datum shift): within 10 m of PROJ.
        let (lon, lat) = lonlat(&Crs::parse("EPSG:27572").unwrap(), 600_000.0, 2_428_000.0);
        assert!((lon - 2.336_505_662_635_83).abs() < 1e-4 && (lat - 48.850_346_592_724_9).abs() < 1e-4, "{lon} {lat}");
    }

    #[test]
    fn web_mercator_and_wgs84() {
        let crs = Crs::parse("EPSG:3857").unwrap();
        let (lon, lat) = lonlat(&crs, 261_848.15, 6_250_566.72);
        assert!((lon - 2.352_221_952_634_21).abs() < 1e-9 && (lat - 48.856_614_010_413_3).abs() < 1e-9, "{lon} {lat}");
        assert!(Crs::parse("urn:ogc:def:crs:OGC:1.3:CRS84").unwrap().is_wgs84());
        assert!(Crs::parse("EPSG:4326").unwrap().is_wgs84());
        let wgs84 = r#"GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]"#;
        assert!(Crs::from_wkt(wgs84).unwrap().is_wgs84());
    }

    #[test]
    fn authority_is_read_from_the_root_only() {
        let wkt = r#"PROJCS["RGF93 / Lambert-93",GEOGCS["RGF93",AUTHORITY["EPSG","4171"]],AUTHORITY["EPSG","2154"]]"#;
        assert_eq!(root_authority(wkt), Some(2154));
        assert_eq!(root_authority(r#"GEOGCS["x",DATUM["d",AUTHORITY["EPSG","6326"]]]"#), None);
        // Characters of several bytes outside quotes (a damaged file's): read past, not a panic.
        assert_eq!(root_authority("PROJCS[Lambert-93 é,ݴ﫫,AUTHORITY[\"EPSG\",\"2154\"]]"), Some(2154));
        assert!(Crs::from_wkt("GEOGCS[é,DATUM[MАX]]").is_err());
    }

    #[test]
    fn unknown_names_say_what_is_accepted() {
        let err = Crs::parse("Lambert").unwrap_err().to_string();
        assert!(err.contains("EPSG:2154"), "{err}");
        assert!(Crs::parse("EPSG:99999").unwrap_err().to_string().contains("EPSG:99999"));
    }
}
